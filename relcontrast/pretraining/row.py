"""Row-level objective: a row's corrupted embedding against its clean embedding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from relcontrast.pretraining.infonce import InfoNCEResult, ProjectionHead, info_nce, spread_index

__all__ = ["RowObjective", "node_identities"]


def node_identities(batch: HeteroData, node_type: str) -> list[Tensor]:
    """What makes two nodes of a type the same for contrastive masking: their global row id
    (``n_id``) and, when the batcher attached it, the fingerprint of their inputs
    (``input_id``); each ``[num_nodes]``, absent ones left out."""
    if node_type not in batch.node_types:
        return []
    store = batch[node_type]
    return [store[key] for key in ("n_id", "input_id") if key in store]


class RowObjective(nn.Module):
    r"""Row-level InfoNCE: corrupted view of a row versus its clean view, per node type.

    The corrupted view is computed for the first :math:`M \le N` nodes of a type only (the
    batch's seeds: :class:`PretrainingModule` runs the corrupted backbone pass with
    ``seeds_only=True``, whose cost is a fraction of a full pass). For each of them, the
    anchor of node :math:`i` is :math:`g_t(z^{corrupt}_i)`, its positive
    :math:`g_t(z^{clean}_i)` and its negatives :math:`g_t(z^{clean}_j)` for the other
    :math:`N - 1` nodes :math:`j` of the type in the batch, except false negatives: copies
    of the same database row, with the same ``n_id``, and nodes whose inputs are identical,
    with the same ``input_id``, whose clean embeddings cannot differ from the positive.
    :math:`g_t` is one :class:`ProjectionHead` per node type, shared by both views: tables
    live in different regions of the embedding space, and a head per table lets each
    discard what its own invariance does not need.

    Parameters
    ----------
    node_types : sequence of str
    channels : int
        Embedding size of the backbone.
    temperature : float, default=0.1
    max_anchors : int, default=1024
        At most this many anchors per node type (evenly spread over the rows with a
        corrupted view), bounding the ``[anchors, N]`` logit matrix; every node still
        serves as a negative.
    """

    def __init__(self, node_types: Sequence[str], channels: int, *, temperature: float = 0.1,
                 max_anchors: int | None = 1024):
        super().__init__()
        self.node_types = list(node_types)
        self.temperature = float(temperature)
        self.max_anchors = max_anchors
        self.heads = nn.ModuleList(ProjectionHead(channels) for _ in self.node_types)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for head in self.heads:
            head.reset_parameters()

    def forward(self, z_clean: Mapping[str, Tensor], z_corrupt: Mapping[str, Tensor],
                batch: HeteroData) -> dict[str, InfoNCEResult]:
        """Per node type: the InfoNCE of every anchor.

        Parameters
        ----------
        z_clean : dict of str to Tensor of shape [num_nodes, channels]
            Backbone embeddings of the batch.
        z_corrupt : dict of str to Tensor of shape [num_anchors, channels]
            Backbone embeddings with corrupted features of the first ``num_anchors`` nodes
            of each type (the seeds; all nodes works too).
        batch : HeteroData
            The batch (its ``n_id`` and ``input_id`` mask false negatives).

        Returns
        -------
        dict of str to InfoNCEResult
            Node types with fewer than 2 nodes or no corrupted row are left out.
        """
        out = {}
        for nt, head in zip(self.node_types, self.heads, strict=True):
            if (nt not in z_clean or nt not in z_corrupt or z_clean[nt].size(0) < 2
                    or z_corrupt[nt].size(0) == 0):
                continue
            anchors = spread_index(z_corrupt[nt].size(0), self.max_anchors, z_clean[nt].device)
            out[nt] = info_nce(head(z_corrupt[nt][anchors]), head(z_clean[nt]), anchors,
                               temperature=self.temperature, key_ids=node_identities(batch, nt))
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_node_types={len(self.node_types)})"
