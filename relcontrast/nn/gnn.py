"""Heterogeneous GraphSAGE over the sampled subgraph of a relational database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, SAGEConv
from torch_geometric.nn.module_dict import ModuleDict

AGGREGATIONS = ("mean", "sum")


class HeteroGraphSAGE(nn.Module):
    """Heterogeneous GraphSAGE: per layer one SAGEConv per edge type, then LayerNorm + ReLU.

    In every layer the messages a node receives over each edge type are aggregated by its
    own ``SAGEConv`` (root weight included), the per-edge-type results are summed, and each
    node type gets its own LayerNorm followed by ReLU. Messages flow ``src -> dst`` along
    ``edge_index``.

    Edge types of the schema missing from ``edge_index_dict`` count as having no edges, so a
    batch's embeddings do not depend on whether the sampler stores empty edge types or omits
    them. A node type that is the destination of no edge type keeps its input.

    Parameters
    ----------
    node_types : iterable of str
    edge_types : iterable of (str, str, str)
        ``(src, relation, dst)`` triples.
    channels : int
        Input and output size of every layer.
    num_layers : int, default=2
        Number of message-passing layers (0 returns the input).
    aggregation : {"mean", "sum"}, default="mean"
        Neighbour aggregation within an edge type.
    """

    def __init__(self, node_types: Iterable[str], edge_types: Iterable[tuple[str, str, str]],
                 channels: int, num_layers: int = 2, aggregation: str = "mean"):
        super().__init__()
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got "
                             f"{aggregation!r}.")
        if isinstance(num_layers, bool) or int(num_layers) != num_layers or num_layers < 0:
            raise ValueError(f"num_layers must be a non-negative integer, got {num_layers!r}.")
        self.node_types = tuple(node_types)
        self.edge_types = tuple(tuple(et) for et in edge_types)
        unknown = sorted({t for et in self.edge_types for t in (et[0], et[2])}
                         - set(self.node_types))
        if unknown:
            raise ValueError(f"Edge types refer to node types {unknown} that are not in "
                             f"node_types {list(self.node_types)}.")
        self.channels = int(channels)
        self.num_layers = int(num_layers)
        self.aggregation = aggregation
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(self.num_layers):
            self.convs.append(HeteroConv({
                et: SAGEConv((self.channels, self.channels), self.channels, aggr=aggregation)
                for et in self.edge_types
            }, aggr="sum"))
            self.norms.append(ModuleDict({nt: nn.LayerNorm(self.channels)
                                          for nt in self.node_types}))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        for norms in self.norms:
            for norm in norms.values():
                norm.reset_parameters()

    def forward(self, x_dict: Mapping[str, Tensor],
                edge_index_dict: Mapping[tuple[str, str, str], Tensor]) -> dict[str, Tensor]:
        """Node embeddings after ``num_layers`` rounds of message passing.

        Parameters
        ----------
        x_dict : dict of str to Tensor
            ``[num_nodes, channels]`` per node type. Edge types whose source or destination
            type is missing are skipped.
        edge_index_dict : dict of (str, str, str) to LongTensor
            ``[2, num_edges]`` local indices (row 0 source, row 1 destination) per edge type.

        Returns
        -------
        dict of str to Tensor
            ``[num_nodes, channels]`` for every node type of ``x_dict``.
        """
        if not x_dict:
            return {}
        device = next(iter(x_dict.values())).device
        edges = {}
        for et in self.edge_types:
            if et[0] not in x_dict or et[2] not in x_dict:
                continue
            edge_index = edge_index_dict.get(et)
            if edge_index is None:
                edge_index = torch.empty(2, 0, dtype=torch.long, device=device)  # [2, 0]
            edges[et] = edge_index
        x_dict = dict(x_dict)
        for conv, norms in zip(self.convs, self.norms, strict=True):
            out = conv(x_dict, edges) if edges else {}
            x_dict = {nt: norms[nt](out[nt]).relu() if nt in out else x
                      for nt, x in x_dict.items()}
        return x_dict

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(node_types={len(self.node_types)}, "
                f"edge_types={len(self.edge_types)}, channels={self.channels}, "
                f"num_layers={self.num_layers}, aggregation={self.aggregation!r})")


__all__ = ["AGGREGATIONS", "HeteroGraphSAGE"]
