"""Edge types: the two directions of every foreign key."""

from __future__ import annotations

from collections.abc import Sequence

EdgeType = tuple[str, str, str]

_FORWARD, _REVERSE = "f2p_", "rev_"


def foreign_key_edge_types(table: str, columns: Sequence[str], referenced_table: str
                           ) -> tuple[EdgeType, EdgeType]:
    """The two edge types of a foreign key: ``(A, "f2p_<c>", B)`` from a row of ``A`` to
    the row of ``B`` it references, and the reverse ``(B, "rev_f2p_<c>", A)``; the columns
    of a composite key are joined by ``","`` (``"f2p_order_id,line_no"``)."""
    rel = _FORWARD + ",".join(columns)
    return (table, rel, referenced_table), (referenced_table, _REVERSE + rel, table)


def is_foreign_key_edge_type(edge_type: EdgeType) -> bool:
    """Whether an edge type runs from a row to the row it references (``(A, "f2p_c", B)``),
    not the reverse."""
    return edge_type[1].startswith(_FORWARD)


def reverse_edge_type(edge_type: EdgeType) -> EdgeType:
    """The edge type with the same links in the opposite direction."""
    src, rel, dst = edge_type
    return dst, rel.removeprefix(_REVERSE) if rel.startswith(_REVERSE) else _REVERSE + rel, src
