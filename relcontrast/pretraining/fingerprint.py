"""Which nodes of a batch the backbone cannot tell apart: fingerprints of their inputs.

Contrastive negatives that are indistinguishable from the positive are false negatives: two
``constructor_results`` rows with the same points and status, at the same age and with the
same sampled neighbours, have bit-identical clean embeddings, so no encoder can rank the
positive above them. Masking them by comparing the *embeddings* would let a collapsed
(constant) encoder mask every negative and score a perfect loss; the fingerprints here come
from the inputs alone, so masking with them never depends on what is being learned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch_frame import TensorFrame
from torch_geometric.data import HeteroData

from relcontrast.graph import EdgeType
from relcontrast.pretraining.cell_keys import GOLDEN, KEY_ROWS, keys_reader, row_hash

__all__ = ["FALSE_NEGATIVES", "in_neighbor_sums", "input_fingerprints", "row_fingerprints"]

#: Which InfoNCE candidates pretraining masks as false negatives: copies of the positive's
#: database row only, or also every node whose inputs equal the positive's.
FALSE_NEGATIVES = ("same_row", "same_input")


def _salt(k: int) -> int:
    """The ``k``-th salt (edge types, rounds): an odd multiple as a signed 64-bit integer."""
    s = (0x2545F4914F6CDD1D * k) % (1 << 64)
    return s - (1 << 64) if s >= 1 << 63 else s


def mix(h: Tensor, x: Tensor | int) -> Tensor:
    """A 64-bit hash of the pair ``(h, x)`` element-wise (int64 arithmetic wraps around)."""
    h = (h ^ x) * GOLDEN
    return h ^ (h >> 29)


def row_fingerprints(tf: TensorFrame, type_id: int) -> Tensor:
    """One int64 per row of ``tf`` from its table (``type_id``) and its attribute values
    (NaN and -0.0 canonicalised), each column keyed in chunks of rows as the distinct-value
    pools key it (``cell_keys.keys_reader``), so a row hashes alike in any chunk.

    A database row has the same value in every batch, so a caller that samples many batches
    from one graph computes this once per table and gathers it by ``n_id``
    (``input_fingerprints(..., rows=...)``) instead of hashing every batch's attributes.
    """
    n = tf.num_rows
    h = torch.full((n,), type_id, dtype=torch.int64)
    for st, names in tf.col_names_dict.items():
        for j in range(len(names)):
            read = keys_reader(tf.feat_dict[st], j)
            for start in range(0, n, KEY_ROWS):  # bounded temporaries (wide text columns)
                rows = slice(start, start + KEY_ROWS)
                h[rows] = mix(h[rows], row_hash(read(rows)).cpu())
    return h


def in_neighbor_sums(batch: HeteroData, h: Mapping[str, Tensor],
                     edge_types: Sequence[EdgeType], salted: bool) -> dict[str, Tensor]:
    """Per destination type, the sum over each node's in-edges of ``mix(h[source], salt)``:
    an order-free hash of the multiset of its in-neighbours' ``h`` (exact in integers, so
    deterministic on any device). ``salted``: the salt is the edge type's position in
    ``edge_types``, so the same neighbour over two edge types counts as two inputs; else 0.
    Edge types whose ends have no ``h`` are skipped; types without in-edges are absent."""
    out = {}
    for i, et in enumerate(edge_types):
        src_type, _, dst_type = et
        if (src_type not in h or dst_type not in h or et not in batch.edge_types
                or batch[et].get("edge_index") is None):
            continue
        src, dst = batch[et].edge_index.to(h[src_type].device)  # [E] each
        message = mix(h[src_type][src], _salt(i + 1) if salted else 0)  # [E]
        total = out.get(dst_type, torch.zeros_like(h[dst_type]))
        out[dst_type] = total.index_add(0, dst, message)
    return out


def input_fingerprints(batch: HeteroData, node_types: Sequence[str], num_rounds: int,
                       rows: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
    """Weisfeiler-Lehman fingerprints of every node's input to a ``num_rounds``-layer GNN.

    Round 0 hashes the node's table, attribute values (NaN and -0.0 canonicalised),
    relative age ``ref_time - time`` and count inputs (``counts``, when the batch has them);
    each further round hashes the previous fingerprint with
    the multiset of ``(edge type, previous fingerprint)`` over the node's in-edges (a sum of
    hashes, order-free and exact in integers, so deterministic on any device). After as many
    rounds as the backbone has layers, nodes whose embeddings differ have different
    fingerprints; equal fingerprints mean identical inputs (barring a 64-bit collision,
    which only masks one more negative).

    Parameters
    ----------
    batch : HeteroData
        A sampled subgraph: ``tf`` (and ``time`` / ``ref_time`` for timed types) per node
        type, ``edge_index`` per edge type.
    node_types : sequence of str
        Every node type of the graph, in a fixed order (the table is part of the hash).
    num_rounds : int
        Message-passing layers of the backbone.
    rows : dict of str to LongTensor, default=None
        :func:`row_fingerprints` of every table of the graph the batch was sampled from,
        gathered by each node's ``n_id``; None: hashed from the batch's own ``tf``.

    Returns
    -------
    dict of str to LongTensor of shape [num_nodes]
        For each node type of ``batch``.

    Examples
    --------
    >>> import torch
    >>> from torch_geometric.data import HeteroData
    >>> batch = HeteroData()
    >>> batch["a"].num_nodes = 3
    >>> batch["b"].num_nodes = 2
    >>> batch["b", "f2p_a", "a"].edge_index = torch.tensor([[0, 1], [0, 1]])
    >>> fp = input_fingerprints(batch, ["a", "b"], num_rounds=1)
    >>> bool(fp["a"][0] == fp["a"][1]), bool(fp["a"][0] == fp["a"][2])
    (True, False)
    """
    h = {}
    for type_id, nt in enumerate(node_types):
        if nt not in batch.node_types:
            continue
        store = batch[nt]
        if rows is not None:
            h[nt] = rows[nt][store.n_id.cpu()].to(store.n_id.device)
        elif store.get("tf") is not None:
            h[nt] = row_fingerprints(store.tf, type_id)
        else:
            h[nt] = torch.full((int(store.num_nodes or 0),), type_id, dtype=torch.int64)
        if store.get("time") is not None and store.get("ref_time") is not None:
            h[nt] = mix(h[nt], (store.ref_time - store.time).to(h[nt].device))  # the age
        if store.get("counts") is not None:  # count inputs: their float32 bit patterns
            bits = store.counts.float().contiguous().view(torch.int32).long()  # [N, k]
            for j in range(bits.size(1)):
                h[nt] = mix(h[nt], bits[:, j].to(h[nt].device))
    edge_types = [et for et in batch.edge_types  # the salts number these
                  if et[0] in h and et[2] in h and batch[et].get("edge_index") is not None]
    for r in range(num_rounds):
        total = in_neighbor_sums(batch, h, edge_types, salted=True)
        h = {nt: mix(mix(v, total.get(nt, 0)), _salt(r + 1)) for nt, v in h.items()}
    return h
