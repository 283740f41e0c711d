"""skorch nets whose rows are seed nodes.

The estimators drive training through skorch: X is an integer array of seed rows, skorch's
dataset / iterator / callbacks run the loop, and the ``infer`` hook turns a batch of seed
rows into a sampled subgraph (a ``HeteroData``) before calling the module. Randomness of the
sampler and of the corruption comes from generators owned by the batcher, seeded from the
estimator's ``random_state``; evaluation passes (validation, predict, transform) restart
their generator so they are deterministic. In a data-parallel fit (``_distributed``) the nets
deal each step's seed rows out to the ranks and average the gradients after ``backward``.
"""

from __future__ import annotations

import importlib
import itertools
import time

import numpy as np
import torch
from skorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor
from torch.profiler import record_function
from torch.utils.data import (
    DataLoader,
    RandomSampler,
    SequentialSampler,
    Subset,
    WeightedRandomSampler,
)

from relcontrast._random import GeneratorPair
from relcontrast.estimators._distributed import DataParallel, RankShard
from relcontrast.estimators._prefetch import Prepared, prefetch
from relcontrast.nn import batch_to_device

#: Device types whose training batches are prepared ahead in a worker thread.
PREFETCH_DEVICES = ("cuda",)


def fused_optimizer(device) -> dict:
    """``{"optimizer__fused": True}`` where torch has a fused Adam / AdamW kernel (CPU and
    CUDA): one pass over every parameter per step instead of one small op per tensor."""
    return {"optimizer__fused": True} if torch.device(device).type in ("cpu", "cuda") else {}


class _SubgraphMixin:
    """The hooks shared by every relcontrast net: ``infer`` samples the subgraph of the seed
    rows; evaluation passes restart the batcher's evaluation generator; ``fit`` runs only the
    epochs a resumed checkpoint has not (``ResumableCheckpoint``).

    With ``distributed`` (a ``DataParallel`` group; None in a single process, where none of
    the following runs): every rank validates on every validation row, in batches of
    ``world_size * batch_size`` rows (a single process's validation with that batch size:
    contrastive losses depend on the batch); every rank draws the rows of the training steps
    as a single process with that batch size draws them, from torch's global generator (in
    the same state on every rank: same seed, same draws, and ``SyncHistory`` gives every
    rank rank 0's state after each epoch), and iterates its ``RankShard`` of them;
    ``train_step_single`` averages gradients and losses over the ranks after ``backward``.
    """

    distributed: DataParallel | None = None  # nets pickled before it existed are single

    def partial_fit(self, X, y=None, **kwargs):
        if self.distributed is not None:
            if not self.initialized_:
                self.initialize()
            self.distributed.check_inputs(X, y, self.module_)
        return super().partial_fit(X, y, **kwargs)

    def get_iterator(self, dataset, training=False):
        ddp = self.distributed
        if ddp is None:
            return super().get_iterator(dataset, training=training)
        if not training:  # every rank validates on every row, in batches of the global size
            kwargs = self.get_params_for("iterator_valid")
            kwargs.setdefault("batch_size", self.batch_size * ddp.world_size)
            if kwargs["batch_size"] == -1:
                kwargs["batch_size"] = len(dataset)
            return self.iterator_valid(dataset, **kwargs)
        kwargs = self.get_params_for("iterator_train")
        shuffle = kwargs.pop("shuffle", False)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:  # a rank's whole share
            kwargs["batch_size"] = -(-len(dataset) // ddp.world_size)
        # the order of a single process (DataLoader shuffle=True), dealt out
        order = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        return self.iterator_train(dataset, sampler=RankShard(order, ddp.rank, ddp.world_size),
                                   **kwargs)

    def train_step_single(self, batch, **fit_params):
        step = super().train_step_single(batch, **fit_params)
        if self.distributed is None:
            return step
        levels = getattr(self, "_unsynced_levels", None) or {}
        self._unsynced_levels = {}
        averaged = self.distributed.synchronize_step(self.module_,
                                                     [step["loss"], *levels.values()])
        step["loss"] = averaged[0]
        for level, value in zip(levels, averaged[1:], strict=True):
            self.history.record_batch(f"train_{level}", float(value))
        return step

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        epochs = self.max_epochs if epochs is None else epochs
        remaining = max(epochs - getattr(self, "resumed_epochs_", 0), 0)
        if remaining == 0:  # skorch's loop would still run validation setup; nothing to do
            return self
        return super().fit_loop(X, y, epochs=int(remaining), **fit_params)

    def train_step(self, batch, **fit_params):
        with record_function("relcontrast.step"):  # forward, backward and optimizer
            return super().train_step(batch, **fit_params)

    def infer(self, x, **fit_params):
        if isinstance(x, Prepared):  # sampled ahead by the epoch's prefetching worker
            batch, extra = x.batch, x.extra
        else:
            start = time.perf_counter()
            batch, extra = self.batcher(x, training=self.module_.training)
            timing = getattr(self, "_sample_timing", None)
            if timing is not None:
                timing["seconds"] += time.perf_counter() - start
        async_copy = torch.device(self.device).type == "cuda"  # from pinned memory
        batch = batch_to_device(batch, self.device, non_blocking=async_copy)
        extra = {k: ({nt: tf.to(self.device, non_blocking=async_copy) for nt, tf in v.items()}
                     if isinstance(v, dict) else v) for k, v in extra.items()}
        with record_function("relcontrast.forward"):
            return self.module_(batch, **extra, **fit_params)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if not training:
            self.batcher.generators.reset_eval()
        if iterator is None:  # no validation split
            return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        timing = self._sample_timing = {"seconds": 0.0}
        # on a GPU the batches are prepared ahead in a worker thread; on the CPU the worker
        # would compete with the step for the same cores (1.5x slower F1 pretraining wall
        # time on 2 cores, benchmarks/speed.py), so they are prepared inline
        if torch.device(self.device).type in PREFETCH_DEVICES:
            iterator = prefetch(iterator, self.batcher, training=training, device=self.device,
                                timing=timing)
        try:
            out = super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        finally:
            self._sample_timing = None
        if training:  # seconds spent sampling, beside skorch's `dur` of the whole epoch
            self.history.record("sample_dur", timing["seconds"])
        return out

    def forward_iter(self, X, training=False, device="cpu"):
        self.batcher.generators.reset_eval()
        yield from super().forward_iter(X, training=training, device=device)


class PretrainingNet(_SubgraphMixin, NeuralNet):
    """Contrastive pretraining: the module returns ``(total loss, {level: value})``; the
    criterion is unused. Training batches draw seeds type-balanced (every table equally
    likely), ``steps_per_epoch`` batches an epoch, ``max_steps`` batches in all."""

    def __init__(self, module, *, batcher, seed_types: np.ndarray, steps_per_epoch: int,
                 max_steps: int | None = None, distributed: DataParallel | None = None,
                 **kwargs):
        self.batcher = batcher
        self.distributed = distributed
        self.seed_types = seed_types
        self.steps_per_epoch = steps_per_epoch
        self.max_steps = max_steps
        super().__init__(module, **kwargs)

    def get_iterator(self, dataset, training=False):
        if not training:
            return super().get_iterator(dataset, training=False)
        indices = dataset.indices if isinstance(dataset, Subset) else np.arange(len(dataset))
        types = self.seed_types[indices]
        counts = np.bincount(types, minlength=int(self.seed_types.max()) + 1)
        inverse = np.divide(1.0, counts, out=np.zeros(len(counts)), where=counts > 0)
        weights = torch.from_numpy(inverse[types])  # 1 / count of the row's type, float64
        draws = self.steps_per_epoch * self.batch_size
        ddp = self.distributed
        if ddp is None:
            sampler = WeightedRandomSampler(weights, draws, replacement=True)
        else:  # a single process's draws with a batch of world_size x batch_size, dealt out
            sampler = RankShard(WeightedRandomSampler(weights, draws * ddp.world_size,
                                                      replacement=True),
                                ddp.rank, ddp.world_size)
        return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if training and self.max_steps is not None:  # the last epoch stops at max_steps
            done = (len(self.history) - 1) * self.steps_per_epoch  # epochs before this one
            iterator = itertools.islice(iterator, max(self.max_steps - done, 0))
        return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        total, parts = y_pred
        if training and self.distributed is not None:
            self._unsynced_levels = parts  # recorded averaged over the ranks, after backward
            return total
        prefix = "train" if training else "valid"
        for level, value in parts.items():
            self.history.record_batch(f"{prefix}_{level}", float(value))
        return total


class SubgraphRegressor(_SubgraphMixin, NeuralNetRegressor):
    def __init__(self, module, *, batcher, distributed: DataParallel | None = None, **kwargs):
        self.batcher = batcher
        self.distributed = distributed
        super().__init__(module, **kwargs)


class SubgraphClassifier(_SubgraphMixin, NeuralNetClassifier):
    def __init__(self, module, *, batcher, distributed: DataParallel | None = None, **kwargs):
        self.batcher = batcher
        self.distributed = distributed
        super().__init__(module, **kwargs)


__all__ = ["PretrainingNet", "SubgraphClassifier", "SubgraphRegressor", "fused_optimizer"]

# Where the classes that fitted estimators pickled before they moved now live.
_MOVED = {
    "HoldOut": "relcontrast.estimators._splits",
    "NeighborBatcher": "relcontrast.sampling.batcher",
    "PretrainingBatcher": "relcontrast.pretraining.data",
    "ResumableCheckpoint": "relcontrast.estimators._callbacks",
    "TimeOrderedSplit": "relcontrast.estimators._splits",
}


def __getattr__(name: str):
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    if name == "_GeneratorPair":
        return GeneratorPair
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
