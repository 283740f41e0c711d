"""Data-parallel training over ``torch.distributed``: one process per device, each with a
full replica of the model and its own share of every step's seed rows.

A fit is data-parallel when the default process group is initialised with more than one
process, or when it is not and ``torchrun`` started this process (``WORLD_SIZE`` > 1 in the
environment, and no Python parent process such as a joblib worker's), in which case the fit
initialises the group from torchrun's ``env://`` variables: gloo on CPU, NCCL for CUDA
tensors (and gloo for CPU ones). A single process never enters the code paths of this
module, so its fits are bitwise what they were.

What each rank does in a data-parallel fit:

- it builds the same model: the seed is rank 0's, and ``check_inputs`` refuses to train when
  the ranks' rows, targets or initial weights differ;
- it trains on its own share of each step's seed rows: the rows a single process with a
  batch of ``world_size * batch_size`` draws at that step (type-balanced draws in
  pretraining, a shuffled pass over the rows in fine-tuning), drawn from torch's global
  generator as that process draws them (it is in the same state on every rank), and dealt
  out round-robin (``RankShard``). ``batch_size`` is per
  rank; ranks never share a row of a step; an epoch is one pass over the rows in all;
- it samples subgraphs and corrupts cells with its own generator, seeded by (seed, rank);
- after ``backward``, one all-reduce averages the gradients and the step's losses over the
  ranks and gives every rank rank 0's floating-point buffers (the running loss
  normalisation), as ``DistributedDataParallel`` would; the optimizers then take the same
  step everywhere, so the replicas stay bitwise identical;
- it evaluates the whole validation split itself (same weights, same evaluation generator),
  and rank 0's history row is broadcast at the end of every epoch (``SyncHistory``), so
  early stopping and the learning-rate schedule decide alike on every rank (a rank that
  stopped alone would leave the others waiting in an all-reduce).

Rank 0 alone prints, logs and writes checkpoints; a checkpoint holds every rank's
generators (gathered), and rank 0 reads it and broadcasts it, so the ranks need no shared
file system.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
from skorch.callbacks import Callback
from torch.utils.data import Sampler

from relcontrast.estimators._common import digest, resolve_device, seeded


class DataParallel:
    """The process group a fit trains over: this process's rank, the world size, and the
    device this rank trains on. Built by :func:`data_parallel`."""

    def __init__(self, rank: int, world_size: int, device: torch.device):
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.device = torch.device(device)

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, world_size={self.world_size}, {self.device})"

    @property
    def is_main(self) -> bool:
        """Rank 0: the rank that prints, logs and writes checkpoints."""
        return self.rank == 0

    # -- collectives on Python objects ---------------------------------------------------
    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        objects = [obj if self.is_main else None]
        dist.broadcast_object_list(objects, src=0)
        return objects[0]

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` in rank order on rank 0; None on the other ranks."""
        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    # -- seeds ---------------------------------------------------------------------------
    def shared_seed(self, seed: int) -> int:
        """Rank 0's seed; torch's global generator is reseeded with it where it differs
        (``random_state=None`` draws a seed per process), so every rank initialises the
        same weights."""
        shared = int(self.broadcast(int(seed)))
        if shared != seed:
            torch.manual_seed(shared)
        return shared

    def rank_seed(self, seed: int) -> int:
        """A seed of this rank's own generators, distinct for every (seed, rank)."""
        state = np.random.SeedSequence(int(seed), spawn_key=(self.rank,)).generate_state(
            1, np.uint64)
        return int(state[0] % 2**63)

    # -- consistency -----------------------------------------------------------------------
    def check_inputs(self, X, y, module) -> None:
        """Raise ``ValueError`` on every rank unless all ranks train on the same rows X,
        targets y and initial weights (the seed rows are dealt out from the common rows;
        rows that differ between ranks would silently train on neither set)."""
        digests = [None] * self.world_size
        dist.all_gather_object(digests, (digest(X, y), digest(module)))
        if any(d[0] != digests[0][0] for d in digests):
            raise ValueError(
                "The ranks of this data-parallel fit got different rows X or targets y; pass "
                "every rank the same rows (each trains on its own share of them).")
        if any(d[1] != digests[0][1] for d in digests):
            raise ValueError(
                "The ranks of this data-parallel fit start from different weights; give every "
                "rank the same parameters and the same (fitted) encoder.")

    # -- the training step ---------------------------------------------------------------
    @torch.no_grad()
    def synchronize_step(self, module: torch.nn.Module,
                         values: Sequence[torch.Tensor | float]) -> list[torch.Tensor]:
        """After ``backward``: average the gradients and ``values`` (the step's losses) over
        the ranks and copy rank 0's floating-point and boolean buffers, in one all-reduce.

        A parameter keeps ``grad=None`` when no rank computed a gradient for it (as in a
        single process, where an unused parameter is not updated); otherwise its gradient is
        the mean over ranks, a rank that did not use it contributing zeros (the gradient of
        the mean loss of the global batch when the ranks' batches have equal sizes).

        Returns
        -------
        list of Tensor of shape []
            ``values`` averaged over the ranks.
        """
        params = [p for p in module.parameters() if p.requires_grad]
        buffers = [b for b in module.buffers()
                   if b.dtype.is_floating_point or b.dtype == torch.bool]
        device = next(module.parameters(), torch.empty(0, device=self.device)).device
        grads = [p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel())
                 for p in params]
        has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.float32,
                                device=device)
        vals = torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device).detach()
                            .reshape(()) for v in values]) if len(values) else \
            torch.zeros(0, device=device)
        # a sum of rank 0's values and zeros: rank 0's values exactly
        bufs = [(b if b.dtype.is_floating_point else b.float()).reshape(-1) if self.is_main
                else torch.zeros(b.numel(), device=b.device,
                                 dtype=b.dtype if b.dtype.is_floating_point else torch.float32)
                for b in buffers]
        flat = torch.cat([*grads, has_grad, vals, *bufs])  # [total]
        dist.all_reduce(flat)
        n_grad = sum(g.numel() for g in grads)
        flat[:n_grad + len(params) + len(vals)] /= self.world_size  # means; buffers: sums
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).to(p.dtype, copy=True)
            offset += n
        used = flat[offset:offset + len(params)] > 0
        offset += len(params)
        for p, u in zip(params, used.tolist(), strict=True):
            if not u:
                p.grad = None
        averaged = list(flat[offset:offset + len(vals)].clone())
        offset += len(vals)
        for b in buffers:
            n = b.numel()
            b.copy_(flat[offset:offset + n].view_as(b))
            offset += n
        return averaged


def data_parallel(device: torch.device) -> DataParallel | None:
    """The data-parallel group of this fit, or None for an ordinary single-process fit.

    Uses the default process group when it is initialised with more than one process;
    otherwise, in a process started by ``torchrun`` with ``WORLD_SIZE`` > 1, initialises it
    (``env://``: gloo on CPU, ``cpu:gloo,cuda:nccl`` on CUDA) and leaves it initialised for
    later fits. On CUDA, a device without an index becomes this rank's GPU (``LOCAL_RANK``),
    made the current device so that ``device="cuda"`` means it after fit too.
    """
    if not dist.is_available():
        return None
    if not dist.is_initialized():
        launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 and "MASTER_ADDR" in os.environ
        if not launched or multiprocessing.parent_process() is not None:
            return None  # joblib / multiprocessing workers inherit torchrun's environment
        if device.type == "cuda" and device.index is None:
            torch.cuda.set_device(_local_gpu())
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if device.type == "cuda"
                                else "gloo")
    world_size = dist.get_world_size()
    if world_size == 1:
        return None
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", _local_gpu())
        torch.cuda.set_device(device)
    if device.type == "cpu" and dist.get_backend() == "nccl":
        raise ValueError(
            "The default process group uses NCCL, which reduces CUDA tensors only, and "
            "device='cpu'; initialise it with backend='gloo' (or 'cpu:gloo,cuda:nccl') or "
            "train on CUDA.")
    return DataParallel(dist.get_rank(), world_size, device)


@contextlib.contextmanager
def training_run(device, random_state):
    """``(device, data-parallel group or None, seed)`` of one fit, inside
    ``seeded(random_state)``: a data-parallel rank trains on its own device with rank 0's
    seed; a single process on ``resolve_device(device)`` with its own seed."""
    device = resolve_device(device)
    ddp = data_parallel(device)  # None unless launched data-parallel (torchrun)
    with seeded(random_state) as seed:
        if ddp is not None:
            device, seed = ddp.device, ddp.shared_seed(seed)
        yield device, ddp, seed


def _local_gpu() -> int:
    local = os.environ.get("LOCAL_RANK")
    rank = int(local) if local is not None else dist.get_rank()
    return rank % max(torch.cuda.device_count(), 1)


def main_only(sink, ddp: DataParallel | None):
    """``sink`` on rank 0 (or without data parallelism), a no-op on the other ranks."""
    if ddp is None or ddp.is_main:
        return sink
    return _discard


def _discard(*args, **kwargs) -> None:
    return None


class RankShard(Sampler):
    """This rank's positions ``rank, rank + world_size, ...`` of another sampler's indices.

    Every rank iterates ``order`` in the same state, so the ranks' shares are disjoint and
    batch ``k`` of all ranks together holds the indices a single process with a batch of
    ``world_size * batch_size`` takes at step ``k``. The indices are padded with their first
    ones to a multiple of ``world_size`` (as ``DistributedSampler`` does), so every rank runs
    the same number of steps of the same sizes.
    """

    def __init__(self, order, rank: int, world_size: int):
        self.order = order
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return -(-len(self.order) // self.world_size)

    def __iter__(self):
        indices = list(self.order)
        pad = -len(indices) % self.world_size
        indices += (indices * (pad // max(len(indices), 1) + 1))[:pad]
        return iter(indices[self.rank::self.world_size])


class SyncHistory(Callback):
    """At the end of every epoch, every rank's history row and torch's global generator
    become rank 0's.

    The training losses are already averaged over the ranks step by step, and every rank
    computes the same validation losses; copying rank 0's row keeps the decisions made from
    the history (early stopping, best epoch, learning-rate schedule) identical even where
    floating point differs between ranks (CUDA, unseeded fits). Every rank draws the next
    epoch's rows from the global generator (``RankShard``); it is in the same state on every
    rank unless the module drew from it during the epoch (dropout), which the copy undoes.
    Put it after the scoring callbacks and before early stopping. A no-op outside a
    data-parallel fit.
    """

    def on_epoch_end(self, net, **kwargs):
        ddp = getattr(net, "distributed", None)
        if ddp is None:
            return
        row, rng = ddp.broadcast((dict(net.history[-1]), torch.get_rng_state()))
        net.history[-1].clear()
        net.history[-1].update(row)
        torch.set_rng_state(rng)


__all__ = ["DataParallel", "RankShard", "SyncHistory", "data_parallel", "main_only",
           "training_run"]
