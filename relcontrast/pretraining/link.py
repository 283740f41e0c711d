"""Link-level objective: a row against the row its foreign key references."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from relcontrast.graph import EdgeType, is_foreign_key_edge_type, reverse_edge_type
from relcontrast.pretraining.infonce import InfoNCEResult, ProjectionHead, info_nce, spread_index
from relcontrast.pretraining.row import node_identities

__all__ = ["LinkObjective", "hold_out_links"]


class LinkObjective(nn.Module):
    r"""Link-level InfoNCE over foreign keys, one group per edge type ``(A, "f2p_c", B)``.

    The anchor of edge :math:`(a, b)` is :math:`g^{src}_e(z_a)`, its positive
    :math:`g^{dst}_e(z_b)`; its negatives are other ``B`` rows of the batch,
    :math:`g^{dst}_e(z_{b'})`. One pair of :class:`ProjectionHead` per edge type, as each
    foreign key is its own relation. Reverse edge types (``rev_f2p_c``) carry the same pairs
    and are not used.

    **True links are never negatives, without any adjacency matrix.** A foreign key
    references exactly one row, so the only ``B`` nodes ``a`` links to are copies of ``b``
    itself: the same database row may occur several times in a batch (disjoint sampled
    subgraphs), and those copies share ``b``'s global id ``n_id``. Each positive gets
    ``K = min(num_negatives, N_B - 1)`` negative candidates, evenly spread over the ``B``
    nodes after ``b`` (deterministic, so the loss needs no random state; batches are random
    already), and every candidate whose ``n_id`` equals ``b``'s is masked out of the softmax,
    as is every candidate whose ``input_id`` (when the batch has one) equals ``b``'s: a row
    the backbone cannot tell from ``b``.
    Cost is ``O(E K)`` for the ``E <= max_edges`` positives, never ``O(N_A N_B)``; ``K`` in
    the loss normalisation is the number of unmasked negatives of each positive.

    Parameters
    ----------
    edge_types : sequence of tuple of str
        Every edge type of the graph; those that are not ``f2p_`` edge types are ignored.
    channels : int
    temperature : float, default=0.1
    num_negatives : int, default=64
        Negatives per positive; None: every other ``B`` node (``[E, N_B]`` logits).
    max_edges : int, default=1024
        At most this many positives per edge type (evenly spread over its edges).
    """

    def __init__(self, edge_types: Sequence[EdgeType], channels: int, *,
                 temperature: float = 0.1, num_negatives: int | None = 64,
                 max_edges: int | None = 1024):
        super().__init__()
        self.edge_types = [tuple(et) for et in edge_types if is_foreign_key_edge_type(et)]
        self.temperature = float(temperature)
        self.num_negatives = num_negatives
        self.max_edges = max_edges
        self.src_heads = nn.ModuleList(ProjectionHead(channels) for _ in self.edge_types)
        self.dst_heads = nn.ModuleList(ProjectionHead(channels) for _ in self.edge_types)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for head in [*self.src_heads, *self.dst_heads]:
            head.reset_parameters()

    def forward(self, z: Mapping[str, Tensor],
                batch: HeteroData) -> dict[EdgeType, InfoNCEResult]:
        """Per ``f2p`` edge type: the InfoNCE of every sampled positive edge.

        Parameters
        ----------
        z : dict of str to Tensor of shape [num_nodes, channels]
            Clean backbone embeddings.
        batch : HeteroData
            Its ``edge_index`` (local ids, row 0 the referencing row) gives the positives, its
            ``n_id`` and ``input_id`` the false negatives to mask.

        Returns
        -------
        dict of tuple to InfoNCEResult
            Edge types without edges, or whose referenced type has fewer than 2 nodes, are
            left out.
        """
        out = {}
        for et, src_head, dst_head in zip(self.edge_types, self.src_heads, self.dst_heads,
                                          strict=True):
            src, _, dst = et
            if et not in batch.edge_types or src not in z or dst not in z:
                continue
            store = batch[et]
            edge_index = store.target_edge_index if "target_edge_index" in store else (
                store.edge_index)
            if edge_index.size(1) == 0 or z[dst].size(0) < 2:
                continue
            keep = spread_index(edge_index.size(1), self.max_edges, edge_index.device)
            edge_index = edge_index[:, keep].to(z[src].device)  # [2, E]
            out[et] = info_nce(src_head(z[src][edge_index[0]]), dst_head(z[dst]), edge_index[1],
                               temperature=self.temperature, key_ids=node_identities(batch, dst),
                               num_negatives=self.num_negatives)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_edge_types={len(self.edge_types)})"


def hold_out_links(batch: HeteroData, rate: float, generator: torch.Generator) -> HeteroData:
    """Move a random ``rate`` of every ``f2p`` edge type's edges out of message passing.

    The held-out edges become ``batch[et].target_edge_index`` (the link objective's
    positives) and disappear, with their reverse edges, from ``edge_index``: a row and the row
    it references then cannot simply read each other's features through the GNN, so the
    objective has to predict the link from the rest of each row's neighbourhood. Edits
    ``batch`` in place (it is the sampler's fresh output) and returns it.
    """
    for et in batch.edge_types:
        if not is_foreign_key_edge_type(et):
            continue
        src, _, dst = et
        edge_index = batch[et].edge_index  # [2, E]
        held = torch.rand(edge_index.size(1), generator=generator) < rate
        batch[et].target_edge_index = edge_index[:, held]
        _keep_edges(batch[et], ~held)
        rev = reverse_edge_type(et)
        if rev in batch.edge_types and held.any():
            num_dst = max(int(batch[dst].num_nodes), 1)
            held_keys = edge_index[0, held] * num_dst + edge_index[1, held]  # [H]
            rev_index = batch[rev].edge_index  # [2, E_rev], row 0 in dst, row 1 in src
            rev_keys = rev_index[1] * num_dst + rev_index[0]
            _keep_edges(batch[rev], ~torch.isin(rev_keys, held_keys))
    return batch


def _keep_edges(store, keep: Tensor) -> None:
    """Keep the edges where ``keep`` holds; a sampler's per-hop edge counts (edges of the
    first hops come first) become the counts of the edges kept."""
    store.edge_index = store.edge_index[:, keep]
    hops = store.get("num_hop_edges")
    if hops is not None:
        kept = torch.cat([keep.new_zeros(1, dtype=torch.long), keep.long().cumsum(0)])
        store.num_hop_edges = kept[list(hops)].tolist()
