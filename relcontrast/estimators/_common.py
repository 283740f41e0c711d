"""Shared plumbing of the estimators: devices, seeding, digests, the saved state format."""

from __future__ import annotations

import contextlib
import hashlib
import sys

import numpy as np
import torch
from skorch.callbacks import ProgressBar

from relcontrast._validation import relational_input_tags as input_tags


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def deterministic(enabled: bool = True):
    """Run a block with ``torch.use_deterministic_algorithms`` on (when ``enabled``) and the
    caller's setting restored after.

    Multi-threaded CPU scatter / index_add reductions (GraphSAGE's neighbour aggregation,
    the link objective) otherwise reorder floating-point sums between runs, so two seeded
    fits on two threads end with different weights. ``warn_only`` keeps a CUDA run working
    where an op has no deterministic kernel (it is tagged non-deterministic there).
    Uninitialised memory is not filled (``torch.utils.deterministic.
    fill_uninitialized_memory``): no relcontrast op reads memory it did not write, and the
    filling issued a fill for every allocation, a few percent of a step on CPU.
    """
    flags = torch.utils.deterministic
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              flags.fill_uninitialized_memory)
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
        flags.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        flags.fill_uninitialized_memory = before[2]


@contextlib.contextmanager
def seeded(random_state):
    """Run a block with torch's global RNG seeded from ``random_state`` and restored after,
    so module initialisation is reproducible without touching the caller's random state;
    with a ``random_state``, deterministic algorithms too (bitwise-identical fits at any
    thread count)."""
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(2**31))
    else:
        seed = int(np.random.SeedSequence(int(random_state)).generate_state(1)[0])
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    if devices and torch.distributed.is_available() and torch.distributed.is_initialized():
        devices = [torch.cuda.current_device()]  # a rank touches its own GPU only
    with torch.random.fork_rng(devices=devices), deterministic(random_state is not None):
        torch.manual_seed(seed)
        yield seed


def relational_input_tags(tags, random_state, device="cpu"):
    """Tags shared by every relcontrast estimator: the input tags of rows X, and seeded
    fits deterministic on CPU (CUDA's scatter reductions are not)."""
    tags = input_tags(tags)
    tags.non_deterministic = random_state is None or resolve_device(device).type != "cpu"
    return tags


def net_on_device(net, device: torch.device) -> None:
    """Move a fitted skorch net's module and criterion to ``device`` (a no-op when they are
    there), e.g. a model fitted on CPU then used with ``device="auto"`` on a CUDA host, or
    after ``set_params(device=...)``."""
    net.device = str(device)
    net.module_.to(device)
    if hasattr(net, "criterion_"):
        net.criterion_.to(device)


def progress_bar(verbose, **kwargs) -> list:
    """skorch's ``ProgressBar`` callback when ``verbose`` and stderr is a terminal; in logs
    that are not one, skorch's per-epoch table (``verbose``) is the only progress output,
    one line per epoch instead of one per batch."""
    if not verbose or not sys.stderr.isatty():
        return []
    return [("progress", ProgressBar(**kwargs))]


def digest(*parts) -> str:
    """SHA-256 of ``parts`` in order: strings, arrays (their bytes) and modules (the bytes of
    their state dict's tensors); None parts are skipped. What checkpoints and data-parallel
    ranks compare to tell runs, rows and weights apart."""
    h = hashlib.sha256()
    for part in parts:
        if part is None:
            continue
        if isinstance(part, str):
            h.update(part.encode())
        elif isinstance(part, torch.nn.Module):
            for tensor in part.state_dict().values():
                h.update(tensor.detach().cpu().numpy().tobytes())
        else:
            h.update(np.ascontiguousarray(np.asarray(part)).tobytes())
    return h.hexdigest()


# Layout of a fitted estimator's state. 1: node and seed times in whole seconds (relcontrast
# 0.1.0); 2: in nanoseconds; 3: the graph holds foreign-key links, the samplers build the
# neighbour index; 4: GraphSAGE's weights stacked per destination table (no SAGEConv
# modules). Bump when a pickled fitted estimator would read differently.
STATE_FORMAT = 4
_STATE_FORMAT_KEY = "_relcontrast_state_format"
# Parameters added within a state format, with the value that reads as an estimator saved
# before them did: filled in when such an estimator is loaded.
_ADDED_PARAMETERS = {"time_boundary": "inclusive", "pretrain": True}


class SavedStateFormat:
    """Mixin: a pickled estimator records :data:`STATE_FORMAT`; loading a *fitted* one of
    another format raises instead of reading it wrongly (scikit-learn only warns on another
    version, as its estimators stay readable; here an old graph's times in seconds would let
    every row read up to a second past its cutoff)."""

    def __getstate__(self):
        return {**super().__getstate__(), _STATE_FORMAT_KEY: STATE_FORMAT}

    def __setstate__(self, state):
        state = dict(state)
        found = state.pop(_STATE_FORMAT_KEY, 1)
        fitted = any(k.endswith("_") and not k.startswith("__") for k in state)
        if fitted and found != STATE_FORMAT:
            raise ValueError(
                f"This fitted {type(self).__name__} was saved with state format {found}; this "
                f"relcontrast reads format {STATE_FORMAT} (node times in nanoseconds, the "
                f"graph's foreign-key links, GraphSAGE weights per table). Refit it with this "
                f"version, or load it with the "
                f"relcontrast version that saved it.")
        for name, value in _ADDED_PARAMETERS.items():
            if name in self._get_param_names():
                state.setdefault(name, value)
        super().__setstate__(state)
