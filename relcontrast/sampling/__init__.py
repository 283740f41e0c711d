"""Subgraph samplers over a :class:`~relcontrast.graph.RelationalGraph`.

:class:`NeighborSampler` (temporal, per-hop fan-out, one disjoint subgraph per seed) serves
fine-tuning, transform and by default pretraining; :class:`HGSampler` (type-balanced,
time-aware HGSampling) serves pretraining with ``sampler="hgsampling"``. Both return a
:class:`~torch_geometric.data.HeteroData` batch with every node and edge type of the graph,
and draw randomness only from the ``torch.Generator`` they are given. Their neighbour index
(:func:`neighbor_index`) is built from the graph's foreign-key links once per graph.
:func:`make_sampler` builds the sampler of every fit, ``transform`` and ``predict``;
:class:`NeighborBatcher` turns a supervised training step's seed rows into its batch.
"""

from __future__ import annotations

from relcontrast.sampling._common import NO_TIME_BOUND
from relcontrast.sampling.batcher import NeighborBatcher
from relcontrast.sampling.build import SAMPLERS, count_inputs_of, make_sampler
from relcontrast.sampling.hgsampling import HGSampler
from relcontrast.sampling.index import NeighborStore, neighbor_index
from relcontrast.sampling.neighbor import TEMPORAL_STRATEGIES, NeighborSampler

__all__ = ["NO_TIME_BOUND", "SAMPLERS", "TEMPORAL_STRATEGIES", "HGSampler", "NeighborBatcher",
           "NeighborSampler", "NeighborStore", "count_inputs_of", "make_sampler",
           "neighbor_index"]
