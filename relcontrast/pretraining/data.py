"""The pretraining data path: which rows pretraining reads, its seed rows, and the batcher
that turns a step's seed rows into a sampled, corrupted subgraph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.profiler import record_function

from relcontrast._random import GeneratorPair
from relcontrast.database import RelationalDatabase
from relcontrast.graph import RelationalGraph
from relcontrast.pretraining.corruption import corrupt_tensor_frame
from relcontrast.pretraining.fingerprint import input_fingerprints, row_fingerprints
from relcontrast.pretraining.link import hold_out_links
from relcontrast.rows import latest_visible_ns

__all__ = ["SEED_TIMES", "PretrainingBatcher", "pretraining_rows", "pretraining_seeds"]

#: When rows of untimed tables are pretraining seeds (the encoder's ``seed_times``).
SEED_TIMES = ("events", "latest")


def pretraining_rows(db: RelationalDatabase, cutoff) -> dict[str, torch.Tensor]:
    """The rows pretraining reads: per timed table with rows after ``cutoff``, the ascending
    positions of those up to it; other tables (absent) are read whole (all of them when
    ``cutoff`` is None)."""
    if cutoff is None:
        return {}
    return {nt: torch.from_numpy(r) for nt, r in db.rows_upto(cutoff).items()
            if r is not None}


def pretraining_seeds(graph: RelationalGraph, rows: Mapping[str, Any] | None = None, *,
                      seed_times: str = "events", time_boundary: str = "inclusive"
                      ) -> np.ndarray:
    """Seed rows ``(type id, node index, time in ns)`` of every table of ``graph``, among
    the rows ``rows`` (ascending positions per table, :func:`pretraining_rows`; absent or
    None: all).

    A timed row is a seed at its own time. An untimed row (e.g. a customer) is a seed at
    the latest time of those rows (everything it holds is visible to it) and, with
    ``seed_times="events"``, also at the time of every timed row among them that
    references it, so pretraining sees it as ``transform`` does: at the times of its
    history, each bounded by ``time_boundary`` (with ``"strict"``, one nanosecond before
    the event, which it does not see). A timed row's own time bounds it under both rules:
    under ``"strict"``, ``transform`` can embed it only after that time.

    Parameters
    ----------
    graph : RelationalGraph
    rows : dict of str to array of int, or None, default=None
    seed_times : {"events", "latest"}, default="events"
    time_boundary : {"inclusive", "strict"}, default="inclusive"

    Returns
    -------
    ndarray of int64, shape (num_seeds, 3)
    """
    rows = {} if rows is None else {nt: np.asarray(r, np.int64)
                                    for nt, r in rows.items() if r is not None}
    node_times = {nt: t.numpy() if nt not in rows else t.numpy()[rows[nt]]
                  for nt, t in graph.time_dict.items()}
    is_read = {}  # per table of rows, a mask of the rows read
    for nt, r in rows.items():
        is_read[nt] = np.zeros(graph.num_nodes[nt], dtype=bool)
        is_read[nt][r] = True
    latest = [t.max() for t in node_times.values() if len(t)]
    latest_ns = max(latest) if latest else np.iinfo(np.int64).max
    parts = []
    for i, nt in enumerate(graph.node_types):
        if nt in node_times:
            index = rows.get(nt, np.arange(graph.num_nodes[nt]))
            t = node_times[nt]
        else:
            index = [np.arange(graph.num_nodes[nt])]
            t = [np.full(graph.num_nodes[nt], latest_ns, np.int64)]
            if seed_times == "events":
                for (src_type, _, dst_type), (src, dst) in graph.links.items():
                    if dst_type == nt and src_type in node_times:
                        if src_type in is_read:  # links from the rows read only
                            keep = is_read[src_type][src]
                            src, dst = src[keep], dst[keep]
                        index.append(dst)
                        t.append(latest_visible_ns(
                            graph.time_dict[src_type].numpy()[src], time_boundary))
            pairs = np.unique(np.stack([np.concatenate(index), np.concatenate(t)], 1),
                              axis=0)  # [num_seeds, 2]
            index, t = pairs[:, 0], pairs[:, 1]
        parts.append(np.stack([np.full(len(index), i, np.int64),
                               np.asarray(index, np.int64), np.asarray(t, np.int64)], 1))
    return np.concatenate(parts)  # [num_seeds, 3]


class PretrainingBatcher:
    """Seed rows ``[B, 3]`` (type id, node index, time in ns) of any tables -> a type-balanced
    subgraph, plus corrupted copies of its attribute frames for the row-level objective.
    With ``fingerprint_rounds``, every node also gets ``input_id``, the fingerprint of its
    input to a GNN of that many layers (false negatives for the objectives); the attribute
    part of it is hashed once per table here, not in every batch. ``donor_rows``: per
    table, the rows corruption may take values from (those up to the pretraining cutoff;
    absent: all)."""

    def __init__(self, graph, sampler, seed: int, *, corruption_rate: float, corruption: str,
                 donor_pools: dict | None, corrupt: bool,
                 link_holdout: float = 0.0, fingerprint_rounds: int | None = None,
                 train_seed: int | None = None, donor_rows: dict | None = None):
        self.graph = graph
        self.sampler = sampler
        self.corruption_rate = corruption_rate
        self.corruption = corruption
        self.donor_pools = donor_pools
        self.donor_rows = {} if donor_rows is None else donor_rows
        self.corrupt = corrupt
        self.link_holdout = link_holdout
        self.fingerprint_rounds = fingerprint_rounds
        self.row_fingerprints = None if fingerprint_rounds is None else {
            nt: row_fingerprints(graph.tf_dict[nt], i) for i, nt in enumerate(graph.node_types)}
        self.generators = GeneratorPair(seed, train_seed)

    def __call__(self, x: torch.Tensor, training: bool):
        # type-balanced draws repeat rows of small tables; a row is a seed once per batch
        # (at its earliest drawn time, when it was drawn at several)
        x = torch.unique(torch.as_tensor(x).cpu(), dim=0)  # [num_unique, 3], sorted
        first = torch.ones(len(x), dtype=torch.bool)
        first[1:] = (x[1:, :2] != x[:-1, :2]).any(1)
        x = x[first]  # [num_seeds, 3]
        gen = self.generators.get(training)
        seeds, times = {}, {}
        for i, nt in enumerate(self.graph.node_types):
            rows = x[:, 0] == i
            if rows.any():
                seeds[nt], times[nt] = x[rows, 1], x[rows, 2]
        with record_function("relcontrast.sample"):
            batch = self.sampler.sample(seeds, times, gen)
            if self.link_holdout > 0:
                batch = hold_out_links(batch, self.link_holdout, gen)
        if self.fingerprint_rounds is not None:  # after the hold-out: the inputs as passed
            with record_function("relcontrast.fingerprint"):
                fingerprints = input_fingerprints(batch, self.graph.node_types,
                                                  self.fingerprint_rounds,
                                                  self.row_fingerprints)
            for nt, fp in fingerprints.items():
                batch[nt].input_id = fp
        extra = {}
        if self.corrupt:
            with record_function("relcontrast.corrupt"):
                extra["tf_corrupt"] = self._corrupt(batch, gen)
        return batch, extra

    def _corrupt(self, batch, gen) -> dict:
        """Corrupted copies of the batch's attribute frames, per table."""
        return {
            nt: corrupt_tensor_frame(
                batch[nt].tf, self.graph.tf_dict[nt], self.corruption_rate, gen,
                mode=self.corruption,
                donor_pools=None if self.donor_pools is None else self.donor_pools[nt],
                donor_rows=self.donor_rows.get(nt),
            )[0]
            for nt in self.graph.node_types
        }
