"""RelationalGraph: a database as a heterogeneous graph of TensorFrames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from relcontrast.graph.edges import EdgeType, reverse_edge_type


class RelationalGraph:
    """A relational database as a heterogeneous graph with TensorFrame node features.

    Built by :func:`build_graph`; read-only by convention.

    Attributes
    ----------
    node_types : tuple of str
        Table names.
    edge_types : tuple of (str, str, str)
        For foreign key column ``c`` of table ``A`` referencing ``B``: ``(A, "f2p_c", B)``
        (messages from a row to the row it references) and ``(B, "rev_f2p_c", A)``.
    num_nodes : dict of str to int
    tf_dict : dict of str to TensorFrame
        Feature columns per table; row ``i`` is node ``i``.
    col_stats_dict : dict of str to dict
        torch-frame column statistics per table (``{column: {StatType: value}}``).
    col_types : dict of str to dict of str to torch_frame.stype
        The semantic type used for every feature column.
    time_dict : dict of str to LongTensor
        Node times in nanoseconds since the epoch (``RelationalDatabase.time_ns``), for
        timed tables only.
    row_rank : dict of str to LongTensor
        Per table, the position of every row in an order that does not depend on the order
        of the table's rows: by primary key, or for tables without one by a hash of the
        row's cells (rows that tie are identical, so interchangeable). Samplers break ties
        between rows of equal time with it, so a permutation of a table's rows samples the
        same rows in the same order (:func:`row_rank`).
    links : dict of edge type to (ndarray, ndarray)
        For every foreign-key edge type ``(A, "f2p_c", B)``, the referencing row of ``A`` and
        the referenced row of ``B`` of each link (int64 positions); the reverse edge type
        carries the same links. Samplers index them by destination and time
        (:func:`relcontrast.sampling.neighbor_index`, built once per graph).
    text_encoder : callable
        The text embedder the text columns went through.
    """

    def __init__(self, *, node_types, edge_types, num_nodes, tf_dict, col_stats_dict,
                 col_types, time_dict, links, text_encoder=None, row_rank=None):
        self.node_types = tuple(node_types)
        self.edge_types = tuple(edge_types)
        self.num_nodes = dict(num_nodes)
        self.tf_dict = dict(tf_dict)
        self.col_stats_dict = dict(col_stats_dict)
        self.col_types = dict(col_types)
        self.time_dict = dict(time_dict)
        self.links = dict(links)
        self.text_encoder = text_encoder
        if row_rank is None:  # the row order itself
            row_rank = {nt: torch.arange(n) for nt, n in self.num_nodes.items()}
        self.row_rank = dict(row_rank)

    def metadata(self) -> tuple[list[str], list[EdgeType]]:
        """``(node_types, edge_types)`` as PyG's ``HeteroData.metadata()`` gives them."""
        return list(self.node_types), list(self.edge_types)

    def reverse_edge_type(self, edge_type: EdgeType) -> EdgeType:
        """The edge type with the same links in the opposite direction."""
        return reverse_edge_type(edge_type)

    def cached(self, name: str, build: Callable[[RelationalGraph], Any], *,
               pickled: bool = True) -> Any:
        """``build(self)``, computed on the first call with ``name`` and kept with the graph.

        For structures derived from the graph alone, such as the samplers' neighbour index
        (:func:`relcontrast.sampling.neighbor_index`): the graph is read-only, so they stay
        valid, and every sampler of the graph shares them. They travel with the graph when
        it is pickled, unless ``pickled=False`` (large ones that are quick to rebuild).
        """
        key = f"_{name}" if pickled else f"_transient_{name}"
        value = self.__dict__.get(key)
        if value is None:
            value = build(self)
            self.__dict__[key] = value
        return value

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_transient_")}

    def __repr__(self) -> str:
        nodes = ", ".join(f"{nt}={n}" for nt, n in self.num_nodes.items())
        num_edges = 2 * sum(len(src) for src, _ in self.links.values())
        return (f"RelationalGraph({nodes}; {len(self.edge_types)} edge types, "
                f"{num_edges} edges)")
