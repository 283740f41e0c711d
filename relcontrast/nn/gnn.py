"""Heterogeneous GraphSAGE over the sampled subgraph of a relational database."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate

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
        # as PyG's HeteroConv: sources of messages that never receive any
        silent = sorted({et[0] for et in self.edge_types} - {et[2] for et in self.edge_types})
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
        self._incoming: dict[str, list[int]] = {}
        for i, et in enumerate(self.edge_types):
            self._incoming.setdefault(et[2], []).append(i)
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
                edge_index_dict: Mapping[tuple[str, str, str], Tensor],
                num_hop_nodes: Mapping[str, Sequence[int]] | None = None,
                num_hop_edges: Mapping[tuple[str, str, str], Sequence[int]] | None = None,
                ) -> dict[str, Tensor]:
        """Node embeddings after ``num_layers`` rounds of message passing.

        Parameters
        ----------
        x_dict : dict of str to Tensor
            ``[num_nodes, channels]`` per node type. Edge types whose source or destination
            type is missing are skipped.
        edge_index_dict : dict of (str, str, str) to LongTensor
            ``[2, num_edges]`` local indices (row 0 source, row 1 destination) per edge type.
        num_hop_nodes, num_hop_edges : dict, default=None
            For a batch sampled hop by hop around seeds, per node type the number of nodes
            within ``h`` hops of a seed for ``h = 0, 1, ...`` (they come first) and per edge
            type the number of edges into them (first too). Given both, with at least
            ``num_layers`` hops, each layer computes only the nodes later layers read, and
            only the seeds (the first ``num_hop_nodes[t][0]`` nodes of type ``t``) are
            returned, with the embeddings they get without the trimming.

        Returns
        -------
        dict of str to Tensor
            ``[num_nodes, channels]`` for every node type of ``x_dict`` (the seeds only when
            trimmed).
        """
        if not x_dict or self.num_layers == 0:
            return dict(x_dict)
        trim = (num_hop_nodes is not None and num_hop_edges is not None
                and all(len(num_hop_nodes.get(nt, ())) > self.num_layers for nt in x_dict))
        x_dict = dict(x_dict)
        plan = None
        for layer in range(self.num_layers):
            if trim:  # outputs of the nodes within `hops - 1` hops, over the first hops' edges
                hops = self.num_layers - layer
                keep = {nt: num_hop_nodes[nt][hops - 1] for nt in x_dict}
                edges = {et: ei[:, :num_hop_edges[et][hops - 1]]
                         for et, ei in edge_index_dict.items() if et in num_hop_edges}
                plan = self._plan(x_dict, keep, edges)
            elif plan is None:  # the same nodes and edges in every layer
                plan = self._plan(x_dict, {nt: x.size(0) for nt, x in x_dict.items()},
                                  edge_index_dict)
            x_dict = self._layer(layer, x_dict, plan)
        return x_dict

    def _plan(self, x_dict: Mapping[str, Tensor], keep: Mapping[str, int],
              edge_index_dict: Mapping[tuple[str, str, str], Tensor]) -> dict:
        """Where one layer's messages go: the first ``keep[t]`` nodes of each type ``t``
        receive them. A message of the ``s``-th of the ``k`` edge types into ``t`` for node
        ``i`` is added to row ``base[t] + i * k + s`` of the aggregation buffer, so the
        buffer's rows of ``t`` read as ``[keep[t], k * channels]``: the ``k`` aggregates
        side by side."""
        types = list(x_dict)
        device = x_dict[types[0]].device
        sizes = [x_dict[nt].size(0) for nt in types]
        offset = dict(zip(types, accumulate([0, *sizes[:-1]]), strict=True))
        incoming = {dst: [i for i in self._incoming.get(dst, ())
                          if self.edge_types[i][0] in x_dict] for dst in types}
        incoming = {nt: ids for nt, ids in incoming.items() if ids}
        rows = [keep[nt] * len(ids) for nt, ids in incoming.items()]
        base = dict(zip(incoming, accumulate([0, *rows[:-1]]), strict=False))  # none: {}
        sources, targets = [], []
        for dst, ids in incoming.items():
            for slot, i in enumerate(ids):
                edge_index = edge_index_dict.get(self.edge_types[i])
                if edge_index is None or edge_index.numel() == 0:
                    continue
                sources.append(edge_index[0] + offset[self.edge_types[i][0]])  # [E]
                targets.append(base[dst] + edge_index[1] * len(ids) + slot)  # [E]
        empty = torch.zeros(0, dtype=torch.long, device=device)
        target = torch.cat(targets) if targets else empty  # [E_all]
        count = None
        if self.aggregation == "mean":
            count = torch.bincount(target, minlength=sum(rows)).clamp_(min=1)
            count = count.unsqueeze(1).to(x_dict[types[0]].dtype)  # [rows_total, 1]
        return {"types": types, "keep": keep, "incoming": incoming, "rows": rows,
                "source": torch.cat(sources) if sources else empty, "target": target,
                "count": count}

    def _layer(self, layer: int, x_dict: dict[str, Tensor], plan: dict) -> dict[str, Tensor]:
        c, keep, incoming = self.channels, plan["keep"], plan["incoming"]
        x_all = torch.cat([x_dict[nt] for nt in plan["types"]])  # [num_nodes_all, channels]
        agg = x_all.new_zeros(sum(plan["rows"]), c).index_add_(
            0, plan["target"], x_all.index_select(0, plan["source"]))  # [rows_total, channels]
        if plan["count"] is not None:
            agg = agg / plan["count"]
        aggs = dict(zip(incoming, agg.split(plan["rows"], dim=0), strict=True))
        out = {}
        for nt, ids in incoming.items():
            n, k = keep[nt], len(ids)
            weight_l, bias_l, weight_r = (self.weight_l[layer][nt], self.bias_l[layer][nt],
                                          self.weight_r[layer][nt])
            if k < weight_l.size(0):  # a source type missing from x_dict
                slots = [self._incoming[nt].index(i) for i in ids]
                weight_l, bias_l, weight_r = weight_l[slots], bias_l[slots], weight_r[slots]
            weight = torch.cat([
                weight_l.permute(1, 0, 2).reshape(c, k * c),  # [channels, k * channels]
                weight_r.sum(0),  # [channels, channels]
            ], dim=1)  # [channels, (k + 1) * channels]
            h = torch.cat([aggs[nt].view(n, k * c), x_dict[nt][:n]],
                          dim=1)  # [n, (k + 1) * channels]
            out[nt] = self.norms[layer][nt](
                F.linear(h, weight, bias_l.sum(0))).relu()  # [n, channels]
        return {nt: out[nt] if nt in out else x[:keep[nt]] for nt, x in x_dict.items()}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(node_types={len(self.node_types)}, "
                f"edge_types={len(self.edge_types)}, channels={self.channels}, "
                f"num_layers={self.num_layers}, aggregation={self.aggregation!r})")


__all__ = ["AGGREGATIONS", "HeteroGraphSAGE"]
