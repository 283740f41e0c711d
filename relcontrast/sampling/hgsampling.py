"""Type-balanced, time-aware HGSampling (Hu et al., "Heterogeneous Graph Transformer", 2020)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from relcontrast.graph import RelationalGraph, is_foreign_key_edge_type
from relcontrast.sampling._common import (
    NO_TIME_BOUND,
    assemble_batch,
    check_generator,
    check_seed_tables,
    isin_sorted,
    lookup,
    segment_offsets,
)
from relcontrast.sampling.index import neighbor_index

__all__ = ["HGSampler"]

logger = logging.getLogger("relcontrast.sampling")


class HGSampler:
    """HGSampling: the same number of nodes of every table per layer, with time bounds.

    Algorithm 1 of Hu et al. (WWW 2020). Every node type has a budget; each newly sampled
    node ``s`` adds ``1 / |N_r(s)|`` to the budget of each of its not yet sampled neighbours
    ``t`` along relation ``r`` (both directions of every foreign key; ``N_r(s)`` counts the
    eligible neighbours). In each layer, every node type samples ``num_samples`` nodes of its
    budget without replacement with probability proportional to the squared budget (all of
    them if fewer); then the nodes sampled in that layer add their neighbours to the budget.
    (Layers are synchronous, so a node sampled in layer ``l`` is at most ``l`` hops from a
    seed; the reference implementation updates the budget after each type instead.) The
    output is the subgraph induced by the seeds and the sampled nodes.

    Time-aware (``temporal=True`` with seed times): every sampled node has a time bound. A
    seed's bound is its seed time; a neighbour ``t`` of a sampled node ``s`` is a candidate
    only if ``time(t) <= bound(s)`` (rows of untimed tables always are), and its bound is the
    minimum bound of the sampled nodes it was a candidate of. An induced edge ``u -> v`` is
    kept only if ``bound(u) <= bound(v)``, so along every kept path into a seed no node is
    later than the seed's time.

    Parameters
    ----------
    graph : RelationalGraph
    num_samples : int, default=64
        Nodes sampled per node type and layer.
    num_layers : int, default=3
        Sampling layers (depth).
    temporal : bool, default=True
        If False, seed times are recorded but never restrict the sample.

    Examples
    --------
    >>> import torch
    >>> from relcontrast import RelationalDatabase
    >>> from relcontrast.graph import build_graph
    >>> from relcontrast.sampling import HGSampler
    >>> from relcontrast.testing import make_synthetic_database
    >>> graph = build_graph(RelationalDatabase(*make_synthetic_database()))
    >>> sampler = HGSampler(graph, num_samples=8, num_layers=2)
    >>> batch = sampler.sample({"orders": torch.arange(4)}, None,
    ...                        torch.Generator().manual_seed(0))
    >>> {nt: batch[nt].num_nodes for nt in batch.node_types}
    {'categories': 3, 'users': 6, 'items': 3, 'orders': 12, 'reviews': 8}
    """

    def __init__(
        self,
        graph: RelationalGraph,
        num_samples: int = 64,
        num_layers: int = 3,
        temporal: bool = True,
    ):
        if not isinstance(graph, RelationalGraph):
            raise TypeError(
                f"graph must be a RelationalGraph (see relcontrast.graph.build_graph), got "
                f"{type(graph).__name__}."
            )
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int, got {num_samples!r}.")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"num_layers must be an int >= 0, got {num_layers!r}.")
        self.graph = graph
        self._index = neighbor_index(graph)
        self.num_samples = num_samples
        self.num_layers = num_layers
        self.temporal = bool(temporal)
        self._build_store(graph)
        self._fk_pairs = []
        for et in graph.edge_types:
            if is_foreign_key_edge_type(et):
                rev = graph.reverse_edge_type(et)
                if rev not in self._index:
                    raise ValueError(f"Edge type {et} has no reverse {rev} in the graph.")
                self._fk_pairs.append((et, rev))

    def _build_store(self, graph: RelationalGraph) -> None:
        """One neighbour store over all relations, with global node ids.

        Node ``v`` of type ``T`` has global id ``offset[T] + v``. Row
        ``row_offset[T] + v * m_T + j`` holds its in-neighbours along the ``j``-th of the
        ``m_T`` edge types into ``T``, sorted by a global time rank (0 for untimed tables),
        so one :func:`torch.searchsorted` finds the time-eligible prefix of every row.
        """
        types = graph.node_types
        sizes = np.array([graph.num_nodes[nt] for nt in types], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        in_edges = {nt: [et for et in graph.edge_types if et[2] == nt] for nt in types}
        m = np.array([len(in_edges[nt]) for nt in types], dtype=np.int64)
        row_offsets = np.concatenate([[0], np.cumsum(sizes * m)])
        timed = [graph.time_dict[nt].numpy() for nt in types if nt in graph.time_dict]
        times = np.unique(np.concatenate(timed)) if timed else np.zeros(0, dtype=np.int64)
        num_ranks = len(times) + 2  # ranks 0 (untimed) .. len(times): no key collisions
        rank_of = {nt: np.searchsorted(times, graph.time_dict[nt].numpy()) + 1
                   for nt in types if nt in graph.time_dict}

        rows, cols, ranks = [], [], []
        for ti, nt in enumerate(types):
            for j, et in enumerate(in_edges[nt]):
                store = self._index[et]
                src, dst = store.edge_index().numpy()
                rows.append(row_offsets[ti] + dst * m[ti] + j)
                cols.append(offsets[types.index(et[0])] + src)
                ranks.append(rank_of[et[0]][src] if et[0] in rank_of
                             else np.zeros(len(src), dtype=np.int64))
        # millions of edges: each edge-sized array is freed as soon as it is used
        row, col, rank = (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
                          for parts in (rows, cols, ranks))
        del rows, cols, ranks
        order = np.lexsort((col, rank, row))
        rowptr = np.zeros(row_offsets[-1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=row_offsets[-1]), out=rowptr[1:])
        col = col[order]
        key = row[order]
        del row
        key *= num_ranks
        key += rank[order]
        del rank, order

        self._offsets = torch.from_numpy(offsets)
        self._row_offsets = torch.from_numpy(row_offsets[:-1].copy())
        self._m = torch.from_numpy(m)
        self._times = torch.from_numpy(times)
        self._num_ranks = num_ranks
        self._rowptr = torch.from_numpy(rowptr)
        self._col = torch.from_numpy(col)
        self._key = torch.from_numpy(key)

    def __repr__(self) -> str:
        return (f"HGSampler(num_samples={self.num_samples}, num_layers={self.num_layers}, "
                f"temporal={self.temporal})")

    def _type_of(self, gid: Tensor) -> Tensor:
        return torch.searchsorted(self._offsets, gid, right=True) - 1

    def _check_inputs(self, seeds, seed_time):
        index, times = check_seed_tables(self.graph, seeds, seed_time)
        for nt, idx in index.items():
            if torch.unique(idx).numel() != idx.numel():
                raise ValueError(
                    f"Seeds of table {nt!r} contain repeated node indices; HGSampling returns "
                    f"one subgraph, so each node can be a seed once. Deduplicate them."
                )
        return index, times

    def _neighbors(self, gid: Tensor, bound: Tensor, temporal: bool):
        """Eligible neighbours of the nodes ``gid`` (global ids) along every relation:
        ``(neighbour, 1 / |N_r(s)|, bound(s))`` per (node ``s``, relation ``r``, neighbour)."""
        ntype = self._type_of(gid)
        m = self._m[ntype]
        base = self._row_offsets[ntype] + (gid - self._offsets[ntype]) * m
        node, j = segment_offsets(m)
        row = base[node] + j  # one row per (node, relation into its type)
        start = self._rowptr[row]
        if temporal:
            rank = torch.searchsorted(self._times, bound[node], right=True)
            end = torch.searchsorted(self._key, row * self._num_ranks + rank, right=True)
        else:
            end = self._rowptr[row + 1]
        cnt = end - start
        seg, off = segment_offsets(cnt)
        nbr = self._col[start[seg] + off]
        return nbr, 1.0 / cnt[seg].to(torch.float64), bound[node[seg]]

    def sample(
        self,
        seeds: Mapping[str, Tensor],
        seed_time: Mapping[str, Tensor] | None,
        generator: torch.Generator,
    ) -> HeteroData:
        """Sample one type-balanced subgraph around ``seeds``.

        Parameters
        ----------
        seeds : dict of str to LongTensor
            Node indices of the seeds per table (distinct within a table).
        seed_time : dict of str to LongTensor, or None
            Nanoseconds since the epoch per seed (same tables and shapes as ``seeds``).
            None: no time bound.
        generator : torch.Generator
            The only source of randomness.

        Returns
        -------
        HeteroData
            Per node type ``tf``, ``n_id``, ``time`` (timed tables), ``ref_time`` (each
            node's bound, or ``NO_TIME_BOUND``), ``batch_size`` (seeds come first),
            ``seed_time`` and ``num_nodes``; per edge type ``edge_index`` of the induced
            subgraph in local indices.
        """
        check_generator(generator)
        index, times = self._check_inputs(seeds, seed_time)
        temporal = self.temporal and times is not None
        graph, k = self.graph, self.num_samples
        type_ids = {nt: i for i, nt in enumerate(graph.node_types)}
        num_types = len(graph.node_types)

        seed_gid = torch.cat([idx + self._offsets[type_ids[nt]] for nt, idx in index.items()])
        if temporal:
            seed_bound = torch.cat([times[nt] for nt in index])
        else:
            seed_bound = torch.full_like(seed_gid, NO_TIME_BOUND)
        sampled_gid, sampled_bound = [seed_gid], [seed_bound]
        member = torch.sort(seed_gid)[0]
        b_gid = torch.empty(0, dtype=torch.long)  # budget: sorted global ids, weight, bound
        b_val = torch.empty(0, dtype=torch.float64)
        b_bound = torch.empty(0, dtype=torch.long)
        new_gid, new_bound = seed_gid, seed_bound

        for _ in range(self.num_layers):
            # Add the neighbours of the nodes sampled last to the budget.
            nbr, val, bnd = self._neighbors(new_gid, new_bound, temporal)
            fresh = torch.nonzero(~isin_sorted(member, nbr)).flatten()
            all_gid = torch.cat([b_gid, nbr[fresh]])
            all_val = torch.cat([b_val, val[fresh]])
            all_bound = torch.cat([b_bound, bnd[fresh]])
            b_gid, inverse = torch.unique(all_gid, return_inverse=True)
            b_val = torch.zeros(b_gid.numel(), dtype=torch.float64).index_add_(0, inverse, all_val)
            b_bound = torch.full_like(b_gid, NO_TIME_BOUND).scatter_reduce_(
                0, inverse, all_bound, reduce="amin")
            if b_gid.numel() == 0:
                break
            # Per type, the k smallest Exp(1) / budget^2 (Efraimidis-Spirakis): k nodes
            # without replacement with probability proportional to budget^2.
            # The budget is sorted by global id, so each type is one contiguous slice.
            u = torch.rand(b_gid.numel(), dtype=torch.float64, generator=generator)
            keys = torch.log1p(-u).neg_().div_(b_val.square())  # Exp(1) / budget^2
            bounds = torch.searchsorted(b_gid, self._offsets).tolist()
            picks = []
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                if hi - lo <= k:
                    picks.append(torch.arange(lo, hi))
                elif hi > lo:
                    picks.append(lo + torch.topk(keys[lo:hi], k, largest=False).indices)
            pick = torch.cat(picks)
            new_gid, new_bound = b_gid[pick], b_bound[pick]
            sampled_gid.append(new_gid)
            sampled_bound.append(new_bound)
            member = torch.sort(torch.cat([member, new_gid]))[0]
            keep = torch.ones(b_gid.numel(), dtype=torch.bool)
            keep[pick] = False
            keep = torch.nonzero(keep).flatten()
            b_gid, b_val, b_bound = b_gid[keep], b_val[keep], b_bound[keep]

        gid, bound = torch.cat(sampled_gid), torch.cat(sampled_bound)
        gtype = self._type_of(gid)
        order = torch.argsort(gtype, stable=True)  # by type; seeds, then layer by layer
        counts = torch.bincount(gtype, minlength=num_types).tolist()
        n_id, ref_time = {}, {}
        for nt, ids, bnd in zip(graph.node_types, torch.split(gid[order], counts),
                                torch.split(bound[order], counts), strict=True):
            n_id[nt] = ids - self._offsets[type_ids[nt]]
            ref_time[nt] = bnd
        edge_index = self._induced_edges(n_id, ref_time, temporal)
        per_type = dict(zip(graph.node_types, counts, strict=True))
        logger.debug("HGSampling: %d nodes per table %s, %d edges", sum(counts), per_type,
                     sum(int(e.shape[1]) for e in edge_index.values()))
        if times is not None:
            seed_time_out = {nt: times[nt].clone() for nt in index}
        else:
            seed_time_out = {nt: torch.full_like(idx, NO_TIME_BOUND) for nt, idx in index.items()}
        return assemble_batch(graph, n_id, ref_time, {nt: i.numel() for nt, i in index.items()},
                              seed_time_out, edge_index)

    def _induced_edges(self, n_id: Mapping[str, Tensor], ref_time: Mapping[str, Tensor],
                       temporal: bool) -> dict[tuple[str, str, str], Tensor]:
        """Every edge among the sampled nodes (``bound(src) <= bound(dst)`` if temporal).

        Each foreign key is enumerated from its referencing rows (at most one link each) and
        gives both edge directions.
        """
        index = {nt: torch.sort(ids) for nt, ids in n_id.items()}  # (sorted ids, local)
        out = {}
        for fwd, rev in self._fk_pairs:
            row_type, _, ref_type = fwd  # fwd: row -> referenced row
            store = self._index[rev]  # in-neighbours of a row: the referenced row
            rows = n_id[row_type]
            start = store.rowptr[rows]
            seg, off = segment_offsets(store.degree(rows))
            ref_local = lookup(*index[ref_type], store.col[start[seg] + off])
            found = ref_local >= 0
            row_local, ref_local = seg[found], ref_local[found]
            if temporal:
                row_bound, ref_bound = ref_time[row_type][row_local], ref_time[ref_type][ref_local]
                up, down = row_bound <= ref_bound, ref_bound <= row_bound
                out[fwd] = torch.stack([row_local[up], ref_local[up]])  # [2, num_edges]
                out[rev] = torch.stack([ref_local[down], row_local[down]])  # [2, num_edges]
            else:
                out[fwd] = torch.stack([row_local, ref_local])  # [2, num_edges]
                out[rev] = torch.stack([ref_local, row_local])  # [2, num_edges]
        return out
