"""Heterogeneous GraphSAGE over the sampled subgraph of a relational database."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.module_dict import ModuleDict
from torch_geometric.nn.parameter_dict import ParameterDict

AGGREGATIONS = ("mean", "sum")


class HeteroGraphSAGE(nn.Module):
    """Heterogeneous GraphSAGE: per layer one SAGE convolution per edge type, then LayerNorm +
    ReLU.

    In every layer a node ``i`` of type ``t`` receives, over each edge type ``e`` into ``t``,
    ``W_l[e] @ agg_e(x_j) + b[e] + W_r[e] @ x_i`` (PyG's ``SAGEConv`` with its root weight,
    ``agg`` the mean or sum of the messages of ``e``; no messages give 0); the edge types'
    results are summed, and each node type gets its own LayerNorm followed by ReLU. Messages
    flow ``src -> dst`` along ``edge_index``.

    The sum over edge types is computed as one product per destination type: the
    aggregated messages of its edge types side by side, times their weights side by side,
    plus the node itself times the sum of the root weights. One gather and one scatter per
    layer carry the messages of every edge type, so the cost of a layer grows with the
    number of node types, not of edge types.

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
        silent = [nt for nt in self.node_types if all(et[2] != nt for et in self.edge_types)]
        if silent and num_layers:
            warnings.warn(f"Node types {silent} are the destination of no edge type; they do "
                          f"not get updated by message passing and keep their input.",
                          UserWarning, stacklevel=2)
        self.channels = int(channels)
        self.num_layers = int(num_layers)
        self.aggregation = aggregation
        c = self.channels
        # incoming edge types per destination type, in edge-type order (a message of the
        # s-th of them into node i lands in column block s of i's row of aggregates)
        self._incoming = {nt: [i for i, et in enumerate(self.edge_types) if et[2] == nt]
                          for nt in self.node_types}
        self._incoming = {nt: ids for nt, ids in self._incoming.items() if ids}
        # per layer and destination type, PyG SAGEConv's lin_l (weight, bias) and lin_r
        # (weight) of each incoming edge type, stacked: [k, channels, channels] / [k, channels]
        self.weight_l, self.bias_l, self.weight_r = (
            nn.ModuleList(ParameterDict({
                nt: nn.Parameter(torch.empty(len(ids), *shape))
                for nt, ids in self._incoming.items()}) for _ in range(self.num_layers))
            for shape in ((c, c), (c,), (c, c)))
        self.norms = nn.ModuleList(ModuleDict({nt: nn.LayerNorm(c) for nt in self.node_types})
                                   for _ in range(self.num_layers))
        # the random draws of PyG's SAGEConv at construction (its Linear layers, then its
        # reset), so that a seed gives the weights it gave with one SAGEConv per edge type
        for layer in range(self.num_layers):
            for i in range(len(self.edge_types)):
                self._reset_edge_type(layer, i)
                self._reset_edge_type(layer, i)
        self.reset_parameters()

    def _reset_edge_type(self, layer: int, i: int) -> None:
        # PyG Linear's default: kaiming_uniform(a=sqrt(5)) weights, uniform(1/sqrt(fan_in)) bias
        bound = 1.0 / math.sqrt(self.channels)  # = sqrt(6 / ((1 + a^2) * fan_in)), a = sqrt(5)
        dst = self.edge_types[i][2]
        slot = self._incoming[dst].index(i)
        with torch.no_grad():
            self.weight_l[layer][dst][slot].uniform_(-bound, bound)
            self.bias_l[layer][dst][slot].uniform_(-bound, bound)
            self.weight_r[layer][dst][slot].uniform_(-bound, bound)

    def reset_parameters(self) -> None:
        for layer in range(self.num_layers):
            for i in range(len(self.edge_types)):
                self._reset_edge_type(layer, i)
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
        if not x_dict or self.num_layers == 0:
            return dict(x_dict)
        types = list(x_dict)
        sizes = [x_dict[nt].size(0) for nt in types]
        device = x_dict[types[0]].device
        offset = dict(zip(types, [0, *torch.tensor(sizes).cumsum(0).tolist()[:-1]],
                          strict=True))
        # incoming edge types per destination type; a message of edge type slot s into node
        # i of type t is added to row base[t] + i * k[t] + s of the aggregation buffer, so the
        # buffer's rows of t read as [num_nodes, k * channels]: the k aggregates side by side
        incoming = {dst: [i for i in ids if self.edge_types[i][0] in x_dict]
                    for dst, ids in self._incoming.items() if dst in x_dict}
        incoming = {nt: incoming[nt] for nt in types if incoming.get(nt)}  # buffer order
        rows = [x_dict[nt].size(0) * len(ids) for nt, ids in incoming.items()]
        base = dict(zip(incoming, [0, *torch.tensor(rows).cumsum(0).tolist()[:-1]],
                        strict=True))
        rows_total = sum(rows)
        sources, targets = [], []
        for dst, ids in incoming.items():
            for slot, i in enumerate(ids):
                src = self.edge_types[i][0]
                edge_index = edge_index_dict.get(self.edge_types[i])
                if edge_index is None or edge_index.numel() == 0:
                    continue
                sources.append(edge_index[0] + offset[src])  # [E]
                targets.append(base[dst] + edge_index[1] * len(ids) + slot)  # [E]
        source = (torch.cat(sources) if sources
                  else torch.zeros(0, dtype=torch.long, device=device))  # [E_all]
        target = (torch.cat(targets) if targets
                  else torch.zeros(0, dtype=torch.long, device=device))  # [E_all]
        count = None
        if self.aggregation == "mean":
            count = torch.bincount(target, minlength=rows_total).clamp_(min=1)
            count = count.unsqueeze(1).to(x_dict[types[0]].dtype)  # [rows_total, 1]

        x_dict = dict(x_dict)
        c = self.channels
        for layer in range(self.num_layers):
            x_all = torch.cat([x_dict[nt] for nt in types])  # [num_nodes_all, channels]
            agg = x_all.new_zeros(rows_total, c).index_add_(
                0, target, x_all.index_select(0, source))  # [rows_total, channels]
            if count is not None:
                agg = agg / count
            aggs = dict(zip(incoming, agg.split(rows, dim=0), strict=True))
            out = {}
            for nt, ids in incoming.items():
                n, k = x_dict[nt].size(0), len(ids)
                weight_l, bias_l, weight_r = (self.weight_l[layer][nt], self.bias_l[layer][nt],
                                              self.weight_r[layer][nt])
                if k < weight_l.size(0):  # a source type missing from x_dict
                    keep = [self._incoming[nt].index(i) for i in ids]
                    weight_l, bias_l, weight_r = weight_l[keep], bias_l[keep], weight_r[keep]
                weight = torch.cat([
                    weight_l.permute(1, 0, 2).reshape(c, k * c),  # [channels, k * channels]
                    weight_r.sum(0),  # [channels, channels]
                ], dim=1)  # [channels, (k + 1) * channels]
                h = torch.cat([aggs[nt].view(n, k * c), x_dict[nt]],
                              dim=1)  # [num_nodes, (k + 1) * channels]
                out[nt] = self.norms[layer][nt](
                    F.linear(h, weight, bias_l.sum(0))).relu()  # [num_nodes, channels]
            x_dict = {nt: out.get(nt, x) for nt, x in x_dict.items()}
        return x_dict

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(node_types={len(self.node_types)}, "
                f"edge_types={len(self.edge_types)}, channels={self.channels}, "
                f"num_layers={self.num_layers}, aggregation={self.aggregation!r})")


__all__ = ["AGGREGATIONS", "HeteroGraphSAGE"]
