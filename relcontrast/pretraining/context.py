"""Context-level objective: a node against the summary of its sampled neighbourhood."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from relcontrast.pretraining.fingerprint import in_neighbor_sums
from relcontrast.pretraining.infonce import InfoNCEResult, ProjectionHead, info_nce, spread_index

__all__ = ["ContextObjective"]

EdgeType = tuple[str, str, str]


class ContextObjective(nn.Module):
    r"""Context-level InfoNCE: a node's embedding versus the mean of its in-neighbours'.

    The context of node :math:`v` is :math:`c_v = \mathrm{mean}_{u \to v}\, h_{t(u)}(z_u)`,
    over its in-neighbours :math:`u` in the batch across all edge types, each projected by the
    :class:`ProjectionHead` of its own node type (neighbours come from different tables). The
    anchor :math:`g_t(z_v)` (a second head per node type) is contrasted with :math:`c_v` as
    positive and the contexts of the other nodes of type :math:`t` as negatives, except false
    negatives: nodes with the same ``n_id`` and, when the batch has ``input_id``, nodes whose
    in-neighbours have the same multiset of ``input_id`` (an identical context). Nodes without
    in-neighbours are skipped. The mean is a scatter-sum (``index_add``) divided by the
    in-degree: no adjacency matrix.

    Parameters
    ----------
    node_types : sequence of str
    edge_types : sequence of tuple of str
        Every edge type of the graph (both directions of each foreign key).
    channels : int
    temperature : float, default=0.1
    max_anchors : int, default=1024
        At most this many anchors per node type (evenly spread); every context of the type
        still serves as a negative.
    """

    def __init__(self, node_types: Sequence[str], edge_types: Sequence[EdgeType], channels: int,
                 *, temperature: float = 0.1, max_anchors: int | None = 1024):
        super().__init__()
        self.node_types = list(node_types)
        self.edge_types = [tuple(et) for et in edge_types]
        self.temperature = float(temperature)
        self.max_anchors = max_anchors
        self.node_heads = nn.ModuleList(ProjectionHead(channels) for _ in self.node_types)
        self.context_heads = nn.ModuleList(ProjectionHead(channels) for _ in self.node_types)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for head in [*self.node_heads, *self.context_heads]:
            head.reset_parameters()

    def contexts(self, z: Mapping[str, Tensor],
                 batch: HeteroData) -> dict[str, tuple[Tensor, Tensor]]:
        """Per node type: the nodes with in-neighbours and the mean of their projections.

        Returns
        -------
        dict of str to (LongTensor of shape [num_valid], Tensor of shape [num_valid, channels])
        """
        index = {nt: i for i, nt in enumerate(self.node_types)}
        projected, total, degree = {}, {}, {}
        for et in self.edge_types:
            src, _, dst = et
            if et not in batch.edge_types or src not in index or dst not in index:
                continue
            if src not in z or dst not in z:
                continue
            edge_index = batch[et].edge_index.to(z[src].device)  # [2, E]
            if edge_index.size(1) == 0:
                continue
            if src not in projected:
                projected[src] = self.context_heads[index[src]](z[src])  # [N_src, C]
            if dst not in total:
                total[dst] = z[dst].new_zeros(z[dst].size(0), projected[src].size(1))
                degree[dst] = z[dst].new_zeros(z[dst].size(0))
            total[dst] = total[dst].index_add(0, edge_index[1], projected[src][edge_index[0]])
            degree[dst] = degree[dst].index_add(
                0, edge_index[1], degree[dst].new_ones(edge_index.size(1)))
        out = {}
        for nt, deg in degree.items():
            valid = (deg > 0).nonzero().squeeze(1)  # [num_valid]
            out[nt] = (valid, total[nt][valid] / deg[valid].unsqueeze(1))  # [num_valid, C]
        return out

    def forward(self, z: Mapping[str, Tensor],
                batch: HeteroData) -> dict[str, InfoNCEResult]:
        """Per node type: the InfoNCE of every anchor with a neighbourhood.

        Parameters
        ----------
        z : dict of str to Tensor of shape [num_nodes, channels]
            Clean backbone embeddings.
        batch : HeteroData

        Returns
        -------
        dict of str to InfoNCEResult
            Node types with fewer than 2 nodes that have in-neighbours are left out.
        """
        out, context_ids = {}, self._context_fingerprints(batch)
        for nt, (valid, context) in self.contexts(z, batch).items():
            if valid.numel() < 2:
                continue
            anchors = spread_index(valid.numel(), self.max_anchors, valid.device)
            ids = [batch[nt].n_id] if "n_id" in batch[nt] else []  # copies of the row
            if nt in context_ids:  # and nodes with an identical context
                ids.append(context_ids[nt])
            ids = [i.to(valid.device)[valid] for i in ids]
            head = self.node_heads[self.node_types.index(nt)]
            out[nt] = info_nce(head(z[nt][valid[anchors]]), context, anchors,
                               temperature=self.temperature, key_ids=ids)
        return out

    def _context_fingerprints(self, batch: HeteroData) -> dict[str, Tensor]:
        """Per node type: a hash of the multiset of its in-neighbours' ``input_id`` (the
        inputs its context is computed from), for batches that carry ``input_id``."""
        ids = {nt: batch[nt].input_id for nt in batch.node_types if "input_id" in batch[nt]}
        return in_neighbor_sums(batch, ids, self.edge_types, salted=False)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_node_types={len(self.node_types)}, "
                f"num_edge_types={len(self.edge_types)})")
