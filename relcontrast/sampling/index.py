"""The samplers' neighbour index: in-neighbours of every row, per edge type, sorted by time.

As PyG builds its CSC index inside its samplers, the index is built here from the graph's
foreign-key links (:attr:`~relcontrast.graph.RelationalGraph.links`), node times and row
ranks. It is built once per graph and shared by every sampler of that graph (pretraining,
fine-tuning and ``transform`` each create their own sampler over the same graph).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from relcontrast.graph import EdgeType, RelationalGraph, reverse_edge_type

__all__ = ["NeighborStore", "neighbor_index", "rows_by_rank"]


class NeighborStore:
    """In-neighbours of every destination node of one edge type, sorted by time.

    For destination node ``v`` its in-neighbours (source nodes ``u`` with an edge ``u -> v``)
    are ``col[rowptr[v]:rowptr[v + 1]]``, in ascending order of ``u``'s time, then of
    ``src_rank[u]`` (``u`` itself when no ranks are given; :func:`neighbor_index` passes
    :attr:`~relcontrast.graph.RelationalGraph.row_rank`, so rows with equal times keep an
    order that does not depend on the order of the table's rows).
    ``key[e] = dst(e) * num_ranks + rank(time(src(e)))`` is sorted, so the neighbours of a
    batch of nodes with time <= a per-node bound are prefixes found by one
    :func:`torch.searchsorted` (:meth:`eligible_end`).

    Attributes
    ----------
    rowptr : LongTensor [num_dst + 1]
    col : LongTensor [num_edges]
        Source node of each edge.
    key : LongTensor [num_edges]
    src_times : LongTensor [num_distinct_times]
        Sorted distinct source times in nanoseconds; ``[0]`` for an untimed source table.
    """

    def __init__(self, src: np.ndarray, dst: np.ndarray, num_dst: int,
                 src_time: np.ndarray | None, src_rank: np.ndarray | None = None):
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        if src_time is None:
            times = np.zeros(1, dtype=np.int64)
            rank = np.zeros(len(src), dtype=np.int64)
        else:
            times = np.unique(src_time)
            rank = np.searchsorted(times, src_time[src]).astype(np.int64)
        num_ranks = len(times) + 1  # the largest rank is num_ranks - 2: no key collisions
        tie = src if src_rank is None else np.asarray(src_rank, dtype=np.int64)[src]
        order = np.lexsort((tie, rank, dst))
        self.col = torch.from_numpy(src[order].copy())
        self.key = torch.from_numpy(dst[order] * num_ranks + rank[order])
        counts = np.bincount(dst, minlength=num_dst)
        rowptr = np.zeros(num_dst + 1, dtype=np.int64)
        np.cumsum(counts, out=rowptr[1:])
        self.rowptr = torch.from_numpy(rowptr)
        self.src_times = torch.from_numpy(times)
        self.num_ranks = num_ranks
        self.timed = src_time is not None

    @property
    def num_edges(self) -> int:
        return int(self.col.numel())

    def degree(self, dst: Tensor) -> Tensor:
        """Number of in-neighbours of each node in ``dst``."""
        return self.rowptr[dst + 1] - self.rowptr[dst]

    def eligible_end(self, dst: Tensor, bound: Tensor | None) -> Tensor:
        """End (exclusive) in ``col`` of the in-neighbours of ``dst`` with time <= ``bound``.

        ``bound`` holds nanoseconds per node of ``dst`` (``None``: no bound). Untimed source
        nodes are always eligible. The start is ``rowptr[dst]``.
        """
        if bound is None or not self.timed:
            return self.rowptr[dst + 1]
        rank = torch.searchsorted(self.src_times, bound, right=True) - 1
        return torch.searchsorted(self.key, dst * self.num_ranks + rank, right=True)

    def time_at(self, pos: Tensor) -> Tensor:
        """Time in nanoseconds of the source of the edges at positions ``pos`` of ``col``
        (clamped into the edges; 0 where there are none or the source is untimed)."""
        if not self.num_edges:
            return torch.zeros_like(pos)
        key = self.key[pos.clamp(0, self.num_edges - 1)]
        return self.src_times[key % self.num_ranks]

    def edge_index(self) -> Tensor:
        """All edges as global ``[2, num_edges]`` (row 0 source, row 1 destination)."""
        dst = torch.repeat_interleave(torch.arange(len(self.rowptr) - 1),
                                      self.rowptr.diff())  # [num_edges]
        return torch.stack([self.col, dst])  # [2, num_edges]

    def __repr__(self) -> str:
        return f"NeighborStore(num_dst={len(self.rowptr) - 1}, num_edges={self.num_edges})"


def neighbor_index(graph: RelationalGraph) -> dict[EdgeType, NeighborStore]:
    """The :class:`NeighborStore` of every edge type of ``graph`` (both directions of each
    foreign key), built on first use and kept with the graph.

    Parameters
    ----------
    graph : RelationalGraph

    Returns
    -------
    dict of edge type to NeighborStore
    """
    return graph.cached("neighbor_index", _build_neighbor_index)


def _build_neighbor_index(graph: RelationalGraph) -> dict[EdgeType, NeighborStore]:
    times = {nt: t.numpy() for nt, t in graph.time_dict.items()}
    ranks = {nt: r.numpy() for nt, r in graph.row_rank.items()}
    index = {}
    for fwd, (src, dst) in graph.links.items():
        table, _, referenced = fwd
        index[fwd] = NeighborStore(src, dst, graph.num_nodes[referenced],
                                   times.get(table), ranks[table])
        index[reverse_edge_type(fwd)] = NeighborStore(
            dst, src, graph.num_nodes[table], times.get(referenced), ranks[referenced])
    return index


def rows_by_rank(graph: RelationalGraph) -> dict[str, Tensor]:
    """Per table, its rows in ascending :attr:`~relcontrast.graph.RelationalGraph.row_rank`
    (the inverse permutation: ``rows_by_rank(graph)[nt][graph.row_rank[nt]] == arange``),
    built on first use and kept with the graph like :func:`neighbor_index`.

    Parameters
    ----------
    graph : RelationalGraph

    Returns
    -------
    dict of str to LongTensor
    """
    return graph.cached("rows_by_rank", lambda g: {nt: torch.argsort(rank)
                                                   for nt, rank in g.row_rank.items()})
