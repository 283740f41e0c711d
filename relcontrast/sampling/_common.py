"""Shared pieces of the samplers: vectorised index helpers, input checks, batch assembly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from relcontrast.graph import RelationalGraph

__all__ = ["NO_TIME_BOUND", "assemble_batch", "check_generator", "check_seed_tables",
           "check_seeds", "isin_sorted", "lookup", "segment_offsets"]

#: ``ref_time`` / ``seed_time`` value meaning "no time bound" (non-temporal sampling).
NO_TIME_BOUND = torch.iinfo(torch.int64).max


def segment_offsets(counts: Tensor) -> tuple[Tensor, Tensor]:
    """For segments of the given sizes: the segment of each element and its offset in it.

    ``counts = [2, 0, 3]`` gives ``([0, 0, 2, 2, 2], [0, 1, 0, 1, 2])``.
    """
    device = counts.device
    seg = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts)
    starts = torch.cumsum(counts, 0) - counts  # [num_segments]
    return seg, torch.arange(seg.numel(), device=device) - starts[seg]  # [sum(counts)] each


def lookup(sorted_keys: Tensor, values: Tensor, query: Tensor) -> Tensor:
    """``values[i]`` where ``sorted_keys[i] == query``, else -1, for every query."""
    if sorted_keys.numel() == 0:
        return torch.full_like(query, -1)
    pos = torch.searchsorted(sorted_keys, query).clamp_(max=sorted_keys.numel() - 1)
    found = sorted_keys[pos] == query
    return torch.where(found, values[pos], torch.full_like(query, -1))


def isin_sorted(sorted_keys: Tensor, query: Tensor) -> Tensor:
    """Whether each query occurs in ``sorted_keys`` (ascending)."""
    if sorted_keys.numel() == 0:
        return torch.zeros_like(query, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, query).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == query


def check_generator(generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), "
            f"got {type(generator).__name__}."
        )


def check_seeds(graph: RelationalGraph, node_type: str, index, time) -> tuple[Tensor,
                                                                              Tensor | None]:
    """Validate one node type's seeds; return them (and their times) as int64 tensors."""
    if node_type not in graph.num_nodes:
        raise ValueError(
            f"Unknown seed table {node_type!r}; tables are {list(graph.node_types)}."
        )
    index = torch.as_tensor(index)
    if index.dim() != 1 or (index.numel() and index.dtype.is_floating_point):
        raise ValueError(
            f"Seeds of table {node_type!r} must be a 1-D integer tensor of node indices, got "
            f"shape {tuple(index.shape)} and dtype {index.dtype}."
        )
    index = index.long()
    n = graph.num_nodes[node_type]
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
        bad = index[(index < 0) | (index >= n)][0]
        raise ValueError(
            f"Seed index {int(bad)} is out of range for table {node_type!r} with {n} rows; "
            f"seeds are node indices (row positions), see RelationalDatabase.key_to_index."
        )
    if time is None:
        return index, None
    time = torch.as_tensor(time)
    if time.shape != index.shape or time.dtype.is_floating_point:
        raise ValueError(
            f"Seed times of table {node_type!r} must be an int64 tensor of nanoseconds with the "
            f"shape of the seeds {tuple(index.shape)}, got shape {tuple(time.shape)} and "
            f"dtype {time.dtype}."
        )
    return index, time.long()


def check_seed_tables(graph: RelationalGraph, seeds, seed_time
                      ) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
    """Seeds per table ``{table: node indices}`` and their times (None or a dict with the
    same tables) checked with :func:`check_seeds`, in the graph's table order."""
    if not isinstance(seeds, Mapping) or not seeds:
        raise ValueError(
            "seeds must be a non-empty dict {table: LongTensor of node indices}, got "
            f"{seeds!r}."
        )
    if seed_time is not None and (not isinstance(seed_time, Mapping)
                                  or set(seed_time) != set(seeds)):
        got = sorted(seed_time) if isinstance(seed_time, Mapping) else seed_time
        raise ValueError(
            f"seed_time must be None or a dict with the same tables as seeds "
            f"({sorted(seeds)}), got {got!r}."
        )
    for nt in seeds:
        if nt not in graph.num_nodes:
            raise ValueError(f"Unknown seed table {nt!r}; tables are {list(graph.node_types)}.")
    index, times = {}, {}
    for nt in graph.node_types:  # graph order: deterministic
        if nt in seeds:
            index[nt], times[nt] = check_seeds(graph, nt, seeds[nt],
                                               None if seed_time is None else seed_time[nt])
    return index, (times if seed_time is not None else None)


def assemble_batch(
    graph: RelationalGraph,
    n_id: Mapping[str, Tensor],
    ref_time: Mapping[str, Tensor],
    batch_size: Mapping[str, int],
    seed_time: Mapping[str, Tensor],
    edge_index: Mapping[tuple[str, str, str], Tensor],
    extra: Mapping[str | tuple[str, str, str], Mapping[str, Any]] | None = None,
) -> HeteroData:
    """A :class:`~torch_geometric.data.HeteroData` with every node and edge type of ``graph``
    (``extra``: further attributes per node or edge type).

    Node types missing from the mappings get zero nodes; edge types missing get no edges.
    """
    empty = torch.empty(0, dtype=torch.long)
    data = HeteroData()
    for nt in graph.node_types:
        ids = n_id.get(nt, empty)
        store = data[nt]
        store.tf = graph.tf_dict[nt][ids]
        store.n_id = ids
        if nt in graph.time_dict:
            store.time = graph.time_dict[nt][ids]
        store.ref_time = ref_time.get(nt, empty)
        store.batch_size = int(batch_size.get(nt, 0))
        store.seed_time = seed_time.get(nt, empty)
        store.num_nodes = int(ids.numel())
        for key, values in (extra or {}).get(nt, {}).items():
            store[key] = values
    for et in graph.edge_types:
        data[et].edge_index = edge_index.get(et, torch.empty(2, 0, dtype=torch.long))
        for key, values in (extra or {}).get(et, {}).items():
            data[et][key] = values
    return data
