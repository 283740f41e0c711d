"""Which nodes of a batch the backbone cannot tell apart: fingerprints of their inputs.

Contrastive negatives that are indistinguishable from the positive are false negatives: two
``constructor_results`` rows with the same points and status, at the same age and with the
same sampled neighbours, have bit-identical clean embeddings, so no encoder can rank the
positive above them. Masking them by comparing the *embeddings* would let a collapsed
(constant) encoder mask every negative and score a perfect loss; the fingerprints here come
from the inputs alone, so masking with them never depends on what is being learned.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from relcontrast.pretraining.corruption import _GOLDEN, _column_keys, _row_hash

__all__ = ["FALSE_NEGATIVES", "input_fingerprints", "mix"]

#: Which InfoNCE candidates pretraining masks as false negatives: copies of the positive's
#: database row only, or also every node whose inputs equal the positive's.
FALSE_NEGATIVES = ("same_row", "same_input")


def _salt(k: int) -> int:
    """The ``k``-th salt (edge types, rounds): an odd multiple as a signed 64-bit integer."""
    s = (0x2545F4914F6CDD1D * k) % (1 << 64)
    return s - (1 << 64) if s >= 1 << 63 else s


def mix(h: Tensor, x: Tensor | int) -> Tensor:
    """A 64-bit hash of the pair ``(h, x)`` element-wise (int64 arithmetic wraps around)."""
    h = (h ^ x) * _GOLDEN
    return h ^ (h >> 29)


def _row_fingerprints(batch: HeteroData, nt: str, type_id: int) -> Tensor:
    """One int64 per node of type ``nt`` from its table, its attribute values and its age."""
    store = batch[nt]
    n = int(store.num_nodes or 0)
    device = store.n_id.device if "n_id" in store else torch.device("cpu")
    h = torch.full((n,), type_id, dtype=torch.int64, device=device)
    tf = store.get("tf")
    if tf is not None and n > 0:
        for st, names in tf.col_names_dict.items():
            feat = tf.feat_dict[st]
            for j in range(len(names)):
                h = mix(h, _row_hash(_column_keys(feat, j)).to(device))
    if store.get("time") is not None and store.get("ref_time") is not None:
        h = mix(h, (store.ref_time - store.time).to(device))  # the age the backbone encodes
    return h


def input_fingerprints(batch: HeteroData, node_types: Sequence[str],
                       num_rounds: int) -> dict[str, Tensor]:
    """Weisfeiler-Lehman fingerprints of every node's input to a ``num_rounds``-layer GNN.

    Round 0 hashes the node's table, attribute values (NaN and -0.0 canonicalised) and
    relative age ``ref_time - time``; each further round hashes the previous fingerprint with
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
    types = [nt for nt in node_types if nt in batch.node_types]
    h = {nt: _row_fingerprints(batch, nt, node_types.index(nt)) for nt in types}
    edge_types = [et for et in batch.edge_types
                  if et[0] in h and et[2] in h and batch[et].get("edge_index") is not None]
    for r in range(num_rounds):
        total = {nt: torch.zeros_like(h[nt]) for nt in types}
        for i, et in enumerate(edge_types):
            src, dst = batch[et].edge_index.to(h[et[0]].device)  # [E] each
            message = mix(h[et[0]][src], _salt(i + 1))  # [E], salted by edge type
            total[et[2]] = total[et[2]].index_add(0, dst, message)
        h = {nt: mix(mix(h[nt], total[nt]), _salt(r + 1)) for nt in types}
    return h
