"""The callbacks of a fit, in order, and the checkpoint that resumes it."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.history import History

from relcontrast.estimators._common import digest, progress_bar
from relcontrast.estimators._distributed import DataParallel, SyncHistory, main_only
from relcontrast.estimators._params import fingerprint

__all__ = ["ResumableCheckpoint", "fit_callbacks"]

logger = logging.getLogger("relcontrast")


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
