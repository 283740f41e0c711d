"""The predictive objective: label-free statistics of a row's history and near future.

The contrastive levels reward telling rows apart, not keeping what a data scientist's
aggregates hold (how many rows an entity has, what their values were, what comes next). The
predictive level regresses, from the embedding of each seed row ``v`` of table ``B`` at its
time ``t``, statistics of the rows of every timed table ``A`` that reference it through a
foreign key, computed from the database itself:

- past counts: ``log1p`` of the rows with ``t - w < time <= t``, per window ``w``;
- future counts: ``log1p`` of the rows with ``t < time <= t + w``, per window ``w``;
- the mean of every numerical column of ``A`` (standardised with the pretraining
  statistics) and the share of each of its most frequent categories, over the rows of the
  longest past window and over the rows of the middle future window;
- recency: the time since the latest referencing row and the mean gap between the
  referencing rows (both up to ``t``), and the time until the next one, capped at the
  longest window; each ``log1p`` in units of the shortest window.

The windows are the count inputs' (:func:`~relcontrast.sampling.counts.fit_count_windows`:
1, 4 and 16 median gaps between rows referencing one row). A future window is a target only
where it ends at or before the pretraining cutoff, so no target reads a row after it (the
time until the next row only where the longest window does); a mean, the time since the
latest row and the mean gap only where there are rows to take them over. The neighbour index
holds every row's referencing rows sorted by time, so each window is one binary search per
seed, and each mean a difference of two prefix sums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from relcontrast.graph import EdgeType, RelationalGraph, is_foreign_key_edge_type
from relcontrast.sampling._common import NO_TIME_BOUND
from relcontrast.sampling.counts import window_values
from relcontrast.sampling.index import neighbor_index

__all__ = ["PredictiveObjective", "TargetingSampler", "WindowTargets"]

_INT64_MAX = torch.iinfo(torch.int64).max
_INT64_MIN = torch.iinfo(torch.int64).min
_MAX_FIT_SEEDS = 100_000  # seeds per table the target scale is fitted on


class _KeyTargets:
    """The targets contributed by one foreign key ``(A, "f2p_c", B)`` to seeds of ``B``."""

    def __init__(self, graph: RelationalGraph, edge_type: EdgeType, windows: Sequence[int]):
        self.store = neighbor_index(graph)[edge_type]
        self.windows = tuple(int(w) for w in windows)
        self.values = window_values(graph, edge_type)
        self.num_values = self.values.num_values

    @property
    def num_targets(self) -> int:
        return 2 * len(self.windows) + 2 * self.num_values + 3

    def _end(self, n_id: Tensor, bound: Tensor) -> Tensor:
        return self.store.eligible_end(n_id, bound)

    def __call__(self, n_id: Tensor, t: Tensor, cutoff: int) -> tuple[Tensor, Tensor]:
        """``(values [n, num_targets] float64, valid [n, num_targets] bool)``."""
        ws = self.windows
        timed = t != NO_TIME_BOUND  # [n]
        end = self._end(n_id, t)
        past_lo, future_hi, future_ok = [], [], []
        for w in ws:
            past_lo.append(self._end(n_id, t.clamp(min=_INT64_MIN + w) - w))
            future_hi.append(self._end(n_id, t.clamp(max=_INT64_MAX - w) + w))
            future_ok.append(timed & (t <= cutoff - w))  # the window ends by the cutoff
        values = [(end - lo).double().log1p() for lo in past_lo]
        values += [(hi - end).double().log1p() for hi in future_hi]
        valid = [timed] * len(ws) + future_ok
        past_mean, past_any = self.values.mean(past_lo[-1], end)
        mid = len(ws) // 2
        future_mean, future_any = self.values.mean(end, future_hi[mid])
        recency, recency_ok = self._recency(n_id, t, end, timed, future_ok[-1])
        out = torch.cat([torch.stack(values, 1), past_mean, future_mean, recency], 1)
        ok = torch.cat([torch.stack(valid, 1), past_any & timed[:, None],
                        future_any & future_ok[mid][:, None], recency_ok], 1)
        return out, ok

    def _recency(self, n_id: Tensor, t: Tensor, end: Tensor, timed: Tensor,
                 until_ok: Tensor) -> tuple[Tensor, Tensor]:
        """Time since the latest row, mean gap between the rows up to ``t`` (rows
        ``start:end``) and time until the next one (capped at the longest window), each
        ``log1p`` in shortest windows: ``([n, 3] float64, [n, 3] bool)``."""
        store, unit, longest = self.store, float(self.windows[0]), self.windows[-1]
        start, stop = store.rowptr[n_id], store.rowptr[n_id + 1]
        count = end - start
        last, first = store.time_at(end - 1), store.time_at(start)
        since = (t - last).double() / unit
        gap = (last - first).double() / unit / (count - 1).clamp(min=1)
        after = torch.where(end < stop, store.time_at(end) - t, torch.full_like(t, longest))
        until = after.clamp(max=longest).double() / unit
        values = torch.stack([since, gap, until], 1).clamp(min=0).log1p()
        valid = torch.stack([timed & (count > 0), timed & (count > 1), until_ok], 1)
        return values.where(valid, torch.zeros_like(values)), valid


class WindowTargets:
    """The predictive objective's targets per seed row, standardised.

    Parameters
    ----------
    graph : RelationalGraph
    windows : dict of edge type to sequence of int
        Window lengths in nanoseconds per foreign key, as
        :func:`~relcontrast.sampling.counts.fit_count_windows` returns; a foreign key with
        no windows (an untimed referencing table) gives no targets.
    cutoff : int or None
        The latest time in nanoseconds a target may read (the pretraining cutoff); None: the
        latest time of the graph.
    seeds : ndarray [num_seeds, 3] or None, default=None
        Pretraining seeds ``(type id, node index, time in ns)``: each target's mean and
        standard deviation over them (at most 100,000 evenly spread per table) scale it, so
        that predicting the mean scores 1. None: unscaled.

    Attributes
    ----------
    dims : dict of str to int
        Number of targets per table that has any.
    """

    def __init__(self, graph: RelationalGraph, windows: Mapping[EdgeType, Sequence[int]],
                 cutoff: int | None, seeds: np.ndarray | None = None):
        if cutoff is None:
            times = [int(t.max()) for t in graph.time_dict.values() if t.numel()]
            cutoff = max(times) if times else _INT64_MIN
        self.cutoff = int(cutoff)
        self.graph = graph
        self.keys: dict[str, list[_KeyTargets]] = {}
        for et, ws in windows.items():
            if ws and is_foreign_key_edge_type(et):
                self.keys.setdefault(et[2], []).append(_KeyTargets(graph, et, ws))
        self.dims = {nt: sum(k.num_targets for k in keys) for nt, keys in self.keys.items()}
        self.mean = {nt: torch.zeros(d, dtype=torch.float64) for nt, d in self.dims.items()}
        self.std = {nt: torch.ones(d, dtype=torch.float64) for nt, d in self.dims.items()}
        if seeds is not None:
            self._fit_scale(np.asarray(seeds, dtype=np.int64))

    def _fit_scale(self, seeds: np.ndarray) -> None:
        for i, nt in enumerate(self.graph.node_types):
            if nt not in self.dims:
                continue
            rows = seeds[seeds[:, 0] == i]
            if len(rows) > _MAX_FIT_SEEDS:
                rows = rows[np.linspace(0, len(rows) - 1, _MAX_FIT_SEEDS).astype(np.int64)]
            rows = np.ascontiguousarray(rows)
            y, ok = self.raw(nt, torch.from_numpy(rows[:, 1].copy()),
                             torch.from_numpy(rows[:, 2].copy()))
            n = ok.sum(0).clamp_min(1)
            mean = (y * ok).sum(0) / n
            var = ((y - mean).square() * ok).sum(0) / n
            self.mean[nt] = mean
            self.std[nt] = var.sqrt().where(var > 1e-12, torch.ones_like(var))

    def raw(self, node_type: str, n_id: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Unscaled targets ``[n, dims[node_type]]`` (float64) and their validity mask of
        rows ``n_id`` of ``node_type`` at times ``t`` (``NO_TIME_BOUND``: no target)."""
        parts = [k(n_id, t, self.cutoff) for k in self.keys[node_type]]
        return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)

    def __call__(self, batch: HeteroData) -> HeteroData:
        """Set ``target`` and ``target_mask`` ``[batch_size, dims]`` on every table of
        ``batch`` with targets, for its seeds (the first ``batch_size`` nodes, at
        ``ref_time``); returns ``batch``, edited in place."""
        for nt in self.dims:
            store = batch[nt]
            size = int(store.get("batch_size", 0))
            y, ok = self.raw(nt, store.n_id[:size], store.ref_time[:size])
            y = ((y - self.mean[nt]) / self.std[nt]).where(ok, torch.zeros_like(y))
            store.target = y.to(torch.float32)
            store.target_mask = ok
        return batch


class TargetingSampler:
    """A sampler whose batches also carry the predictive objective's targets
    (:class:`WindowTargets`) for their seeds; wraps any sampler with a ``sample`` method."""

    def __init__(self, sampler, targets: WindowTargets):
        self.sampler = sampler
        self.targets = targets
        self.graph = sampler.graph

    def sample(self, seeds, seed_time, generator) -> HeteroData:
        return self.targets(self.sampler.sample(seeds, seed_time, generator))

    def __repr__(self) -> str:
        return f"TargetingSampler({self.sampler!r}, dims={self.targets.dims})"


class PredictiveObjective(nn.Module):
    """A linear head per table regressing its seeds' standardised targets from their
    embeddings; the loss is the mean squared error over the valid targets, averaged over
    tables (predicting every target's mean scores about 1, as chance does in the
    contrastive levels).

    Parameters
    ----------
    dims : dict of str to int
        Targets per table (:attr:`WindowTargets.dims`).
    channels : int
        Embedding size of the backbone.
    """

    def __init__(self, dims: Mapping[str, int], channels: int):
        super().__init__()
        self.node_types = [nt for nt, d in dims.items() if d > 0]
        self.heads = nn.ModuleList(nn.Linear(channels, dims[nt]) for nt in self.node_types)

    def reset_parameters(self) -> None:
        for head in self.heads:
            head.reset_parameters()

    def forward(self, z: Mapping[str, Tensor], batch: HeteroData) -> Tensor | None:
        """The loss, or None when no seed of the batch has a valid target."""
        losses = []
        for nt, head in zip(self.node_types, self.heads, strict=True):
            if nt not in batch.node_types or "target" not in batch[nt]:
                continue
            y, ok = batch[nt].target, batch[nt].target_mask
            if not bool(ok.any()):
                continue
            err = (head(z[nt][: len(y)]) - y).square()
            losses.append(err[ok].mean())
        return torch.stack(losses).mean() if losses else None
