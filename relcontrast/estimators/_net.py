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

import itertools
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.history import History
from torch.utils.data import (
    DataLoader,
    RandomSampler,
    SequentialSampler,
    Subset,
    WeightedRandomSampler,
)

from relcontrast._random import GeneratorPair
from relcontrast.estimators._common import digest, progress_bar
from relcontrast.estimators._distributed import DataParallel, RankShard, SyncHistory, main_only
from relcontrast.estimators._params import fingerprint
from relcontrast.nn import batch_to_device

logger = logging.getLogger("relcontrast")


class NeighborBatcher:
    """Seed rows ``[B, 2]`` (node index, time in ns) of one table -> temporal neighbour batch."""

    def __init__(self, sampler, seed_type: str, seed: int, temporal: bool = True,
                 train_seed: int | None = None):
        self.sampler = sampler
        self.seed_type = seed_type
        self.temporal = temporal
        self.generators = GeneratorPair(seed, train_seed)

    def __call__(self, x: torch.Tensor, training: bool):
        x = torch.as_tensor(x).cpu()
        time = {self.seed_type: x[:, 1]} if self.temporal else None
        batch = self.sampler.sample({self.seed_type: x[:, 0]}, time,
                                    self.generators.get(training))
        return batch, {}


def fused_optimizer(device) -> dict:
    """``{"optimizer__fused": True}`` where torch has a fused Adam / AdamW kernel (CPU and
    CUDA): one pass over every parameter per step instead of one small op per tensor."""
    return {"optimizer__fused": True} if torch.device(device).type in ("cpu", "cuda") else {}


def fit_callbacks(estimator, scores: list, decisions: list = (), *, early_stopping: bool,
                  ddp: DataParallel | None, **progress) -> tuple[list, int]:
    """The callbacks of a fit and its verbosity, in the order their effects need.

    ``scores`` first; with data parallelism, the history sync (after the scores, before the
    decisions made from them); early stopping on ``valid_loss`` with the best epoch restored
    (when ``early_stopping`` and ``estimator.patience`` is set; logged on rank 0 only);
    ``decisions`` (learning-rate schedule, freezing); the progress bar (rank 0); and last the
    checkpoint of ``estimator.checkpoint_dir``, which restores the other callbacks' state.
    """
    callbacks = list(scores)
    if ddp is not None:
        callbacks.append(("sync_history", SyncHistory()))
    if early_stopping and estimator.patience is not None:
        callbacks.append(("early_stopping", EarlyStopping(
            monitor="valid_loss", patience=estimator.patience, load_best=True,
            sink=main_only(logger.info, ddp))))
    callbacks += decisions
    verbose = estimator.verbose if ddp is None or ddp.is_main else 0
    callbacks += progress_bar(verbose, **progress)
    if estimator.checkpoint_dir is not None:
        callbacks.append(("checkpoint", ResumableCheckpoint(estimator.checkpoint_dir,
                                                            fingerprint(estimator))))
    return callbacks, verbose


class ResumableCheckpoint(Callback):
    """Checkpoint the whole training state after every epoch; resume from it in ``fit``.

    skorch's ``Checkpoint`` / ``LoadInitState`` save parameters, optimizer and history; a run
    resumed from them continues with fresh random generators and fresh early-stopping and
    scheduler state, so it does not end where an uninterrupted run ends. This callback also
    keeps the batcher's generators, torch's global generator (the type-balanced seed draws,
    the shuffling), which parameters are frozen (warm-up), and the state of the other
    callbacks (early stopping with its best weights, learning-rate schedule, best scores).

    The file is written to a temporary name in ``dirname`` and renamed over
    ``checkpoint.pt`` (``os.replace``), so a process killed at any moment leaves the previous
    complete checkpoint. It is written after every epoch and once more when training ends
    (``done``: a later ``fit`` runs no epoch and ends with the same weights).
    ``on_train_begin`` loads it when present, after the other callbacks reset (put this
    callback last); a checkpoint of another configuration or other training rows
    (``fingerprint``) raises ``ValueError``.

    In a data-parallel fit (``net.distributed``), rank 0 alone reads and writes the file: it
    broadcasts what it read, so the other ranks need no shared file system, and each save
    gathers every rank's generators into the file. A checkpoint of another number of ranks
    is refused like one of another configuration.
    """

    FILE = "checkpoint.pt"
    _CALLBACK_STATE = ("best_score_", "misses_", "dynamic_threshold_", "best_model_weights_",
                       "best_epoch_", "batch_idx_")

    def __init__(self, dirname, fingerprint: str):
        self.dirname = dirname
        self.fingerprint = fingerprint

    @property
    def path(self) -> Path:
        return Path(self.dirname) / self.FILE

    def _key(self, X, y, world_size: int = 1) -> str:
        # a data-parallel checkpoint holds the ranks' generators and shares of the rows
        return digest(self.fingerprint, X, y,
                      f"world_size={world_size}" if world_size > 1 else None)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        ddp: DataParallel | None = getattr(net, "distributed", None)
        self.key_ = self._key(X, y, 1 if ddp is None else ddp.world_size)
        net.resumed_epochs_ = 0
        if ddp is None:
            state = self._load()
        else:  # rank 0 reads; what it read, or its error, reaches every rank
            state, error = None, None
            if ddp.is_main:
                try:
                    state = self._load()
                except ValueError as exc:
                    error = str(exc)
            state, error = ddp.broadcast((state, error))
            if error is not None:
                raise ValueError(error)
        if state is not None:
            self._restore(net, state, ddp)

    def _load(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:  # not written by this callback: ours are renamed complete
            raise ValueError(f"Cannot read the checkpoint {str(self.path)!r} ({exc}); delete "
                             f"it to start over.") from exc
        if state["key"] != self.key_:
            raise ValueError(
                f"checkpoint_dir={str(self.dirname)!r} holds a checkpoint of another "
                f"configuration or other training rows; pass a new checkpoint_dir, or delete "
                f"{str(self.path)!r} to start over.")
        return state

    def _restore(self, net, state: dict, ddp: DataParallel | None) -> None:
        net.module_.load_state_dict(state["module"])
        for name, param in net.module_.named_parameters():
            param.requires_grad_(state["requires_grad"][name])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history_ = History(state["history"])
        for name, cb in net.callbacks_:
            for attr, value in state["callbacks"].get(name, {}).items():
                if attr == "lr_scheduler_":
                    cb.lr_scheduler_.load_state_dict(value)
                else:
                    setattr(cb, attr, value)
        mine = state["ranks"][0 if ddp is None else ddp.rank]
        net.batcher.generators.__setstate__(mine["generators"])
        torch.set_rng_state(mine["torch_rng"])
        if mine["cuda_rng"] is not None and torch.cuda.is_available():
            if ddp is None:
                torch.cuda.set_rng_state_all(mine["cuda_rng"])
            else:
                torch.cuda.set_rng_state(mine["cuda_rng"], ddp.device)
        net.resumed_epochs_ = np.inf if state["done"] else len(net.history)

    def on_epoch_end(self, net, **kwargs):
        self._save(net, done=False)

    def on_train_end(self, net, **kwargs):
        self._save(net, done=True)

    def _save(self, net, done: bool) -> None:
        ddp: DataParallel | None = getattr(net, "distributed", None)
        if ddp is None:
            cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        else:
            cuda_rng = (torch.cuda.get_rng_state(ddp.device) if ddp.device.type == "cuda"
                        else None)
        mine = {"generators": net.batcher.generators.__getstate__(),
                "torch_rng": torch.get_rng_state(), "cuda_rng": cuda_rng}
        ranks = [mine] if ddp is None else ddp.gather(mine)  # rank 0 alone writes
        if ddp is not None and not ddp.is_main:
            return
        callbacks = {}
        for name, cb in net.callbacks_:
            if cb is self:
                continue
            attrs = {a: getattr(cb, a) for a in self._CALLBACK_STATE if hasattr(cb, a)}
            if isinstance(cb, LRScheduler) and getattr(cb, "lr_scheduler_", None) is not None:
                attrs["lr_scheduler_"] = cb.lr_scheduler_.state_dict()
            callbacks[name] = attrs
        state = {
            "key": self.key_, "done": done,
            "module": net.module_.state_dict(),
            "requires_grad": {n: p.requires_grad for n, p in net.module_.named_parameters()},
            "optimizer": net.optimizer_.state_dict(),
            "history": list(net.history), "callbacks": callbacks,
            "ranks": ranks,  # every rank's generators, in rank order
        }
        Path(self.dirname).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dirname, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)  # atomic: readers see the old or the new file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


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

    def infer(self, x, **fit_params):
        batch, extra = self.batcher(x, training=self.module_.training)
        batch = batch_to_device(batch, self.device)
        extra = {k: ({nt: tf.to(self.device) for nt, tf in v.items()} if isinstance(v, dict)
                     else v) for k, v in extra.items()}
        return self.module_(batch, **extra, **fit_params)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if not training:
            self.batcher.generators.reset_eval()
        return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)

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


class TimeOrderedSplit:
    """skorch ``train_split``: the latest ``fraction`` of rows (by cutoff time) validate.

    Rows sharing the boundary time all go to the same side, so no validation row is older
    than a training row at the boundary.
    """

    def __init__(self, times: np.ndarray, fraction: float):
        self.times = np.asarray(times)
        self.fraction = fraction

    def num_valid(self, n: int) -> int:
        """Rows that validate out of ``n``."""
        return int(round(n * self.fraction))

    def __call__(self, dataset, y=None, **fit_params):
        order = np.argsort(self.times, kind="stable")
        n_valid = self.num_valid(len(order))
        if n_valid == 0 or n_valid >= len(order):
            return dataset, None
        boundary = self.times[order[len(order) - n_valid]]
        valid = self.times >= boundary
        if valid.all():  # a single cutoff time: fall back to the last rows
            valid = np.zeros(len(order), bool)
            valid[order[-n_valid:]] = True
        return Subset(dataset, np.flatnonzero(~valid)), Subset(dataset, np.flatnonzero(valid))


class HoldOut:
    """skorch ``train_split`` for pretraining: a seeded random hold-out of seed rows, capped
    at ``max_size`` rows so the early-stopping pass stays cheap."""

    def __init__(self, fraction: float, max_size: int, seed: int):
        self.fraction = fraction
        self.max_size = max_size
        self.seed = seed

    def num_valid(self, n: int) -> int:
        """Rows held out of ``n`` seed rows."""
        return min(int(n * self.fraction), self.max_size)

    def __call__(self, dataset, y=None, **fit_params):
        n = len(dataset)
        n_valid = self.num_valid(n)
        if n_valid < 1:
            return dataset, None
        perm = np.random.default_rng(self.seed).permutation(n)
        return Subset(dataset, np.sort(perm[n_valid:])), Subset(dataset, np.sort(perm[:n_valid]))


__all__ = ["HoldOut", "NeighborBatcher", "PretrainingNet",
           "ResumableCheckpoint", "SubgraphClassifier", "SubgraphRegressor",
           "TimeOrderedSplit"]


def __getattr__(name: str):
    # estimators pickled before the pretraining data path moved to relcontrast.pretraining
    if name == "PretrainingBatcher":
        from relcontrast.pretraining.data import PretrainingBatcher

        return PretrainingBatcher
    if name == "_GeneratorPair":
        return GeneratorPair
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
