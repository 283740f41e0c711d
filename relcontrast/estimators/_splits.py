"""skorch ``train_split`` policies: the rows that validate early stopping."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Subset

__all__ = ["HoldOut", "TimeOrderedSplit"]


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
