"""Tables -> per-table TensorFrames, node times and foreign-key links.

:func:`build_graph` turns a :class:`~relcontrast.database.RelationalDatabase` into a
:class:`RelationalGraph`: one torch-frame :class:`~torch_frame.TensorFrame` of feature columns
per table (row ``i`` is node ``i``), node times in nanoseconds, and for every foreign key two edge
types (``(A, "f2p_<col>", B)`` from a row to the row it references, and the reverse
``(B, "rev_f2p_<col>", A)``), stored once as the links of the foreign key (the samplers build
their time-sorted neighbour index from them, :func:`relcontrast.sampling.neighbor_index`).
:func:`infer_column_types` proposes the torch-frame semantic type of each column;
:class:`HashingTextEncoder` is the default text embedder (no download).

The package holds one concern per module: ``edges`` (edge types), ``column_types`` (type
inference), ``text`` (the hashing text embedder), ``ranks`` (row ranks), ``stats`` (column
conversion and statistics, computed with whole-array NumPy calls rather than torch-frame's
per-value ones), ``container`` (:class:`RelationalGraph`) and ``build``
(:func:`build_graph`; ``build_graph(db, stats_until=cutoff)`` takes the statistics from the
rows up to ``cutoff`` and encodes every row in one pass).
"""

from __future__ import annotations

from relcontrast.graph.build import build_graph
from relcontrast.graph.column_types import CONST_COLUMN, infer_column_types
from relcontrast.graph.container import RelationalGraph
from relcontrast.graph.edges import (
    EdgeType,
    foreign_key_edge_types,
    is_foreign_key_edge_type,
    reverse_edge_type,
)
from relcontrast.graph.ranks import row_rank
from relcontrast.graph.text import HashingTextEncoder

__all__ = [
    "CONST_COLUMN",
    "EdgeType",
    "HashingTextEncoder",
    "RelationalGraph",
    "build_graph",
    "foreign_key_edge_types",
    "infer_column_types",
    "is_foreign_key_edge_type",
    "reverse_edge_type",
    "row_rank",
]


class _FormerNeighborStore:
    """What ``relcontrast.graph.NeighborStore`` reads back as: estimators pickled with state
    format 2 hold graphs with ``neighbors``, a dict of that class, which is now the sampling
    layer's (:class:`relcontrast.sampling.NeighborStore`). Loading such a pickle reaches the
    estimator's "saved with state format 2 ... Refit it" error instead of an
    AttributeError; nothing reads the stores it holds."""


def __getattr__(name: str):
    if name == "NeighborStore":
        return _FormerNeighborStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
