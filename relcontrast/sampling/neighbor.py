"""Temporal neighbour sampling with a per-hop fan-out, one disjoint subgraph per seed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from relcontrast.graph import RelationalGraph
from relcontrast.sampling._common import (
    NO_TIME_BOUND,
    assemble_batch,
    check_generator,
    check_seed_tables,
    check_seeds,
    lookup,
    segment_offsets,
)
from relcontrast.sampling.index import neighbor_index, rows_by_rank

__all__ = ["TEMPORAL_STRATEGIES", "NeighborSampler"]

#: Which eligible neighbours a NeighborSampler takes: a uniform sample or the most recent.
TEMPORAL_STRATEGIES = ("uniform", "last")
# A node with more than this many times the fan-out eligible neighbours is sampled by drawing
# with replacement (then deduplicating) instead of ranking all its neighbours.
_DENSE_FACTOR = 4


def _choose_uniform(cnt: Tensor, k: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``k`` distinct offsets in ``[0, cnt[r])`` per row ``r`` (every ``cnt[r] > k``),
    uniformly without replacement. Returns ``(row, offset)``."""
    rows_c, offs_c = [], []
    dense = torch.nonzero(cnt <= _DENSE_FACTOR * k).flatten()
    if dense.numel():  # rank all neighbours by a random key
        seg, off = segment_offsets(cnt[dense])
        rows_c.append(dense[seg])
        offs_c.append(off)
    pending = torch.nonzero(cnt > _DENSE_FACTOR * k).flatten()
    draws = 2 * k
    while pending.numel():  # distinct values among i.i.d. draws: a uniform random subset
        c = cnt[pending]
        width = int(c.max())
        row = torch.arange(pending.numel()).repeat_interleave(draws)  # [num_pending * draws]
        u = torch.rand(row.numel(), generator=generator, dtype=torch.float64)
        off = torch.minimum((u * c[row]).long(), c[row] - 1)
        key = torch.unique(row * width + off)
        row, off = key // width, key % width
        ok = torch.bincount(row, minlength=pending.numel()) >= k
        keep = ok[row]
        rows_c.append(pending[row[keep]])
        offs_c.append(off[keep])
        pending = pending[~ok]
        draws *= 2
    row, off = torch.cat(rows_c), torch.cat(offs_c)
    rand = torch.rand(row.numel(), generator=generator, dtype=torch.float64)
    order = torch.argsort(row.double() + rand)
    row, off = row[order], off[order]
    counts = torch.bincount(row, minlength=cnt.numel())
    rank = torch.arange(row.numel()) - (torch.cumsum(counts, 0) - counts)[row]
    keep = rank < k
    return row[keep], off[keep]


class NeighborSampler:
    """Temporal neighbour sampler: per hop, up to a fan-out of neighbours per edge type.

    Every seed gets its own (disjoint) subgraph, as PyG's temporal ``NeighborLoader`` does:
    a database row appears once per seed tree that reaches it, and ``batch[nt].batch`` holds
    the seed each node belongs to. At hop ``h``, for every edge type into a frontier node,
    up to ``num_neighbors[h]`` of its in-neighbours with time <= the seed's time are sampled
    (rows of untimed tables are always eligible); a node reached again within its seed tree
    is not added twice (its edge is). Only sampled edges (neighbour -> frontier node) are
    returned. Seeds themselves are taken as given, whatever their own time.

    Neighbours of equal time, and the new nodes of a hop, are ordered by the graph's
    ``row_rank`` (primary key, or a hash of the row), not by row position: a database whose
    tables hold the same rows in another order gives the same batch up to ``n_id``, hence
    bitwise-identical embeddings, with either strategy.

    Parameters
    ----------
    graph : RelationalGraph
    num_neighbors : sequence of int, default=(128, 64)
        Fan-out per hop and edge type; -1 takes all eligible neighbours.
    strategy : {"uniform", "last"}, default="uniform"
        ``"uniform"``: uniformly without replacement among the eligible neighbours;
        ``"last"``: the most recent eligible neighbours.
    temporal : bool, default=True
        If False, seed times are recorded but never restrict the neighbours.

    Examples
    --------
    >>> import torch
    >>> from relcontrast import RelationalDatabase
    >>> from relcontrast.graph import build_graph
    >>> from relcontrast.sampling import NeighborSampler
    >>> from relcontrast.testing import make_synthetic_database
    >>> graph = build_graph(RelationalDatabase(*make_synthetic_database()))
    >>> sampler = NeighborSampler(graph, num_neighbors=(4, 2))
    >>> seed_time = graph.time_dict["users"][:8] + 100 * 86_400 * 10**9  # 100 days later
    >>> batch = sampler.sample({"users": torch.arange(8)}, {"users": seed_time},
    ...                        torch.Generator().manual_seed(0))
    >>> batch["users"].batch_size
    8
    """

    def __init__(
        self,
        graph: RelationalGraph,
        num_neighbors: Sequence[int] = (128, 64),
        strategy: str = "uniform",
        temporal: bool = True,
    ):
        if not isinstance(graph, RelationalGraph):
            raise TypeError(
                f"graph must be a RelationalGraph (see relcontrast.graph.build_graph), got "
                f"{type(graph).__name__}."
            )
        if isinstance(num_neighbors, int) or not all(
            isinstance(k, int) and k >= -1 for k in num_neighbors
        ):
            raise ValueError(
                f"num_neighbors must be a sequence of ints >= 0 (or -1 for all), one per hop, "
                f"e.g. (128, 64); got {num_neighbors!r}."
            )
        if strategy not in TEMPORAL_STRATEGIES:
            raise ValueError(f"strategy must be one of {TEMPORAL_STRATEGIES}, got {strategy!r}.")
        self.graph = graph
        self._index = neighbor_index(graph)
        self.num_neighbors = tuple(int(k) for k in num_neighbors)
        self.strategy = strategy
        self.temporal = bool(temporal)
        in_edges = defaultdict(list)
        for et in graph.edge_types:
            in_edges[et[2]].append(et)
        self._in_edges = dict(in_edges)
        # new nodes are keyed (seed, rank of the row): rank -> node and node -> rank
        self._rank = graph.row_rank
        self._node_at = rows_by_rank(graph)  # shared by every sampler of the graph

    def __repr__(self) -> str:
        return (f"NeighborSampler(num_neighbors={self.num_neighbors}, "
                f"strategy={self.strategy!r}, temporal={self.temporal})")

    def _choose(self, start: Tensor, end: Tensor, k: int,
                generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Sampled neighbours of every frontier node: ``(frontier row, position in col)``."""
        cnt = (end - start).clamp_(min=0)
        if k < 0:
            row, off = segment_offsets(cnt)
            return row, start[row] + off
        if k == 0:
            return cnt[:0], cnt[:0]
        take = cnt.clamp(max=k)
        if self.strategy == "last":
            row, off = segment_offsets(take)
            return row, end[row] - take[row] + off
        full = cnt <= k
        row, off = segment_offsets(torch.where(full, cnt, 0))
        big = torch.nonzero(~full).flatten()
        if big.numel():
            row_b, off_b = _choose_uniform(cnt[big], k, generator)
            row, off = torch.cat([row, big[row_b]]), torch.cat([off, off_b])
        return row, start[row] + off

    def sample(
        self,
        seeds: Mapping[str, Tensor],
        seed_time: Mapping[str, Tensor] | None,
        generator: torch.Generator | None,
    ) -> HeteroData:
        """Sample the subgraphs of seeds of one or several tables (the interface of
        :meth:`HGSampler.sample <relcontrast.sampling.HGSampler.sample>`).

        Parameters
        ----------
        seeds : dict of str to LongTensor
            Node indices of the seeds per table; repeats are separate seeds.
        seed_time : dict of str to LongTensor, or None
            Nanoseconds since the epoch per seed (same tables and shapes as ``seeds``).
            None: no time bound.
        generator : torch.Generator
            The only source of randomness (may be None for ``strategy="last"``).

        Returns
        -------
        HeteroData
            As :meth:`sample_table`; with seeds of several tables, their batches merged
            (drawn table by table in the graph's table order), the seeds of each table
            first among its nodes.
        """
        self._check_generator(generator)
        index, times = check_seed_tables(self.graph, seeds, seed_time)
        return self._sample({nt: (idx, None if times is None else times[nt])
                             for nt, idx in index.items()}, generator)

    def sample_table(
        self,
        seed_type: str,
        seed_index: Tensor,
        seed_time: Tensor | None,
        generator: torch.Generator | None,
    ) -> HeteroData:
        """Sample the subgraphs of a batch of seeds of one table.

        Parameters
        ----------
        seed_type : str
            Table of the seeds.
        seed_index : LongTensor [batch_size]
            Node indices (row positions) of the seeds; repeats are separate seeds.
        seed_time : LongTensor [batch_size] or None
            Nanoseconds since the epoch; neighbours later than their seed's time are never
            sampled. None: no time bound.
        generator : torch.Generator
            The only source of randomness (may be None for ``strategy="last"``).

        Returns
        -------
        HeteroData
            Per node type ``tf``, ``n_id``, ``batch``, ``time`` (timed tables),
            ``ref_time`` (the seed's time, or ``NO_TIME_BOUND``), ``batch_size`` and
            ``seed_time``; per edge type ``edge_index`` of local indices.
        """
        self._check_generator(generator)
        seed_index, seed_time = check_seeds(self.graph, seed_type, seed_index, seed_time)
        return self._sample({seed_type: (seed_index, seed_time)}, generator)

    def _check_generator(self, generator) -> None:
        if self.strategy == "uniform" or generator is not None:
            check_generator(generator)

    def _sample(self, seeds: Mapping[str, tuple[Tensor, Tensor | None]],
                generator: torch.Generator | None) -> HeteroData:
        """:meth:`sample` on checked seeds ``{table: (node index, time or None)}``: the
        subgraphs of the seeds of every table, drawn together (seed ids numbered table by
        table in the order of ``seeds``, the seeds of each table first among its nodes)."""
        graph = self.graph
        sizes = {nt: index.numel() for nt, (index, _) in seeds.items()}
        filter_time = self.temporal and all(t is not None for _, t in seeds.values())
        ref = torch.cat([torch.full((sizes[nt],), NO_TIME_BOUND, dtype=torch.long)
                         if t is None else t for nt, (_, t) in seeds.items()])  # [num_seeds]

        gid_chunks = defaultdict(list)
        seed_chunks = defaultdict(list)
        count = defaultdict(int)
        table = {}  # node type -> (sorted key seed * N + rank of gid, local index)
        edges = defaultdict(list)
        frontier = {}  # node type -> (local, global, seed id)
        seed_times, first = {}, 0
        for nt, (seed_index, _) in seeds.items():
            seed_ids = torch.arange(first, first + sizes[nt])
            seed_times[nt] = ref[first:first + sizes[nt]].clone()
            first += sizes[nt]
            gid_chunks[nt].append(seed_index)
            seed_chunks[nt].append(seed_ids)
            count[nt] = sizes[nt]
            key = seed_ids * graph.num_nodes[nt] + self._rank[nt][seed_index]
            key, perm = torch.sort(key)
            table[nt] = (key, perm)
            frontier[nt] = (torch.arange(sizes[nt]), seed_index, seed_ids)

        # nodes per type after each hop, edges per type added by each hop (cumulative): the
        # nodes within h hops of a seed are the first node_hops[h] of their type, and the
        # edges into them the first edge_hops[h] (hop h + 1 adds edges into hop h's nodes)
        node_hops = {nt: [count[nt]] for nt in graph.node_types}
        edge_hops = {et: [] for et in graph.edge_types}
        for k in self.num_neighbors:
            candidates = defaultdict(list)
            for dst_type, (f_local, f_gid, f_seed) in frontier.items():
                bound = ref[f_seed] if filter_time else None
                for et in self._in_edges.get(dst_type, ()):
                    store = self._index[et]
                    start = store.rowptr[f_gid]
                    end = store.eligible_end(f_gid, bound)
                    row, pos = self._choose(start, end, k, generator)
                    candidates[et[0]].append((et, store.col[pos], f_seed[row], f_local[row]))
            frontier = {}
            for src_type, parts in candidates.items():
                n = graph.num_nodes[src_type]
                gid = torch.cat([p[1] for p in parts])
                seed = torch.cat([p[2] for p in parts])
                key = seed * n + self._rank[src_type][gid]
                old_key, old_local = table.get(src_type, (key[:0], key[:0]))
                local = lookup(old_key, old_local, key)
                is_new = local < 0
                new_key, inverse = torch.unique(key[is_new], return_inverse=True)
                new_local = count[src_type] + torch.arange(new_key.numel())
                local[is_new] = new_local[inverse]
                count[src_type] += new_key.numel()
                new_gid, new_seed = self._node_at[src_type][new_key % n], new_key // n
                gid_chunks[src_type].append(new_gid)
                seed_chunks[src_type].append(new_seed)
                merged_key, order = torch.sort(torch.cat([old_key, new_key]))
                table[src_type] = (merged_key, torch.cat([old_local, new_local])[order])
                offset = 0
                for et, part_gid, _, dst_local in parts:
                    size = part_gid.numel()
                    edges[et].append(torch.stack([local[offset:offset + size], dst_local]))
                    offset += size
                if new_key.numel():
                    frontier[src_type] = (new_local, new_gid, new_seed)
            for nt in graph.node_types:
                node_hops[nt].append(count[nt])
            for et in graph.edge_types:
                edge_hops[et].append(sum(part.size(1) for part in edges.get(et, ())))

        n_id, batch_vec, ref_time = {}, {}, {}
        for nt in gid_chunks:
            n_id[nt] = torch.cat(gid_chunks[nt])
            batch_vec[nt] = torch.cat(seed_chunks[nt])
            ref_time[nt] = ref[batch_vec[nt]]
        empty = torch.empty(0, dtype=torch.long)
        extra = {nt: {"batch": batch_vec.get(nt, empty), "num_hop_nodes": node_hops[nt]}
                 for nt in graph.node_types}
        extra.update({et: {"num_hop_edges": edge_hops[et]} for et in graph.edge_types})
        edge_index = {et: torch.cat(parts, dim=1) for et, parts in edges.items()}  # [2, E]
        return assemble_batch(graph, n_id, ref_time, sizes, seed_times, edge_index, extra)
