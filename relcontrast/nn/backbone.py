"""The relational backbone: attribute encoders, temporal encoding, heterogeneous GraphSAGE."""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch_frame import TensorFrame
from torch_geometric.data import HeteroData

from relcontrast.nn.counts import HeteroCountEncoder
from relcontrast.nn.encoders import HeteroAttributeEncoder
from relcontrast.nn.gnn import AGGREGATIONS, HeteroGraphSAGE
from relcontrast.nn.tabular import TABULAR_MODELS
from relcontrast.nn.temporal import HeteroTemporalEncoder
from relcontrast.sampling.counts import count_channels, mean_dims


def _graph_attr(graph: Any, name: str) -> Any:
    if not hasattr(graph, name):
        raise TypeError(f"graph must provide `{name}` (a relcontrast graph from build_graph); "
                        f"got {type(graph).__name__} without it.")
    return getattr(graph, name)


class RelationalBackbone(nn.Module):
    """Embeds every node of a sampled subgraph of a relational database.

    Per table, torch-frame stype encoders and a tabular model turn each row into a vector;
    timed tables add an encoding of the row's age relative to its time bound; optionally,
    a projection of how many rows reference each row (count inputs) is added too; a
    heterogeneous GraphSAGE then mixes each row with its sampled neighbourhood.

    Parameters
    ----------
    graph : relcontrast graph
        Supplies ``node_types``, ``edge_types``, ``tf_dict`` (column names per table),
        ``col_stats_dict`` and ``time_dict`` (which tables are timed). Only these schema
        facts are kept; the module holds no data.
    hidden_channels : int, default=128
        Size of every embedding.
    num_layers : int, default=2
        Message-passing layers.
    tabular_model : {"linear", "resnet"}, default="linear"
        Row model over the cell encodings (see :class:`~relcontrast.nn.TableEncoder`).
    aggregation : {"mean", "sum"}, default="mean"
        Neighbour aggregation within an edge type.
    temporal_encoding : bool, default=True
        Add the relative-time encoding to the rows of timed tables.
    dropout : float, default=0.0
        Dropout inside the ``"resnet"`` tabular model.
    count_windows : dict of edge type to sequence of int, or None, default=None
        Count inputs: per foreign-key edge type ``(A, "f2p_c", B)``, the window lengths in
        nanoseconds over which the rows of ``A`` referencing a row of ``B`` are counted
        besides all time (:func:`relcontrast.sampling.counts.fit_count_windows`, fitted on
        the data like column statistics). Batches must then carry ``counts`` per node type
        (:class:`relcontrast.sampling.counts.CountingSampler`). None: no count inputs.
    mean_inputs : bool, default=False
        The count inputs also hold, per foreign key, the means of the referencing rows'
        values over all time and over the longest window
        (:func:`relcontrast.sampling.counts.node_counts`); needs ``count_windows``.

    Attributes
    ----------
    encoder : HeteroAttributeEncoder
    temporal_encoder : HeteroTemporalEncoder or None
        None without ``temporal_encoding`` or without timed tables.
    count_encoder : HeteroCountEncoder or None
        None without ``count_windows`` (or when no table is referenced).
    gnn : HeteroGraphSAGE
    out_channels : int
        Size of the returned embeddings (``hidden_channels``).
    """

    def __init__(self, graph: Any, hidden_channels: int = 128, num_layers: int = 2,
                 tabular_model: str = "linear", aggregation: str = "mean",
                 temporal_encoding: bool = True, dropout: float = 0.0,
                 count_windows: Mapping[tuple[str, str, str], Sequence[int]] | None = None,
                 mean_inputs: bool = False):
        super().__init__()
        if (isinstance(hidden_channels, bool) or int(hidden_channels) != hidden_channels
                or hidden_channels < 1):
            raise ValueError(
                f"hidden_channels must be a positive integer, got {hidden_channels!r}.")
        if tabular_model not in TABULAR_MODELS:
            raise ValueError(f"tabular_model must be one of {sorted(TABULAR_MODELS)}, got "
                             f"{tabular_model!r}.")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got "
                             f"{aggregation!r}.")
        self.node_types = tuple(_graph_attr(graph, "node_types"))
        if not self.node_types:
            raise ValueError("graph has no tables; there is nothing to embed.")
        self.edge_types = tuple(tuple(et) for et in _graph_attr(graph, "edge_types"))
        tf_dict = _graph_attr(graph, "tf_dict")
        col_stats_dict = _graph_attr(graph, "col_stats_dict")
        time_dict = _graph_attr(graph, "time_dict")
        self.hidden_channels = int(hidden_channels)
        self.num_layers = int(num_layers)
        self.tabular_model = tabular_model
        self.aggregation = aggregation
        self.temporal_encoding = bool(temporal_encoding)
        self.timed_node_types = tuple(nt for nt in self.node_types if nt in time_dict)

        self.encoder = HeteroAttributeEncoder(
            {nt: col_stats_dict[nt] for nt in self.node_types},
            {nt: tf_dict[nt].col_names_dict for nt in self.node_types},
            self.hidden_channels, tabular_model=tabular_model, dropout=dropout,
        )
        self.temporal_encoder = (
            HeteroTemporalEncoder(self.timed_node_types, self.hidden_channels)
            if self.temporal_encoding and self.timed_node_types else None)
        self.gnn = HeteroGraphSAGE(self.node_types, self.edge_types, self.hidden_channels,
                                   num_layers=self.num_layers, aggregation=aggregation)
        self.count_windows = _check_count_windows(count_windows, self.edge_types)
        if mean_inputs and self.count_windows is None:
            raise ValueError("mean_inputs=True needs count_windows: the means are count "
                             "inputs over the same windows; pass both or neither.")
        self.mean_inputs = bool(mean_inputs)
        channels = {} if self.count_windows is None else count_channels(
            self.count_windows, mean_dims(graph, self.count_windows) if mean_inputs else None)
        self.count_encoder = (HeteroCountEncoder(channels, self.hidden_channels)
                              if any(channels.values()) else None)
        self.reset_parameters()

    @property
    def out_channels(self) -> int:
        """Size of the embeddings :meth:`forward` returns."""
        return self.hidden_channels

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        if self.temporal_encoder is not None:
            self.temporal_encoder.reset_parameters()
        self.gnn.reset_parameters()
        if self.count_encoder is not None:
            self.count_encoder.reset_parameters()

    def encode(self, batch: HeteroData, tf_dict: Mapping[str, TensorFrame] | None = None
               ) -> dict[str, Tensor]:
        """Embeddings before message passing: attributes plus relative-time encoding (plus
        the projected count inputs, with ``count_windows``).

        Parameters
        ----------
        batch : HeteroData
            Sampled subgraph: ``batch[nt].tf`` per node type, and for timed types
            ``batch[nt].time`` and ``batch[nt].ref_time`` (nanoseconds); with
            ``count_windows``, ``batch[nt].counts`` for every type with count inputs.
        tf_dict : dict of str to TensorFrame, default=None
            Replaces ``batch[nt].tf`` for the types it holds (same rows, e.g. corrupted
            cells).

        Returns
        -------
        dict of str to Tensor
            ``[num_nodes, hidden_channels]`` for every node type of the graph (0 rows for a
            type absent from the batch).
        """
        present = set(batch.node_types)
        frames = {}
        for nt in self.node_types:
            tf = None
            if nt in present:
                tf = batch[nt].get("tf")
                if tf is None:
                    raise ValueError(f"batch[{nt!r}] has no TensorFrame `tf`; samplers must "
                                     f"attach the rows' features to every node type.")
            if tf_dict is not None and nt in tf_dict:
                if tf is not None and tf_dict[nt].num_rows != tf.num_rows:
                    raise ValueError(
                        f"tf_dict[{nt!r}] has {tf_dict[nt].num_rows} rows but the batch has "
                        f"{tf.num_rows} {nt!r} nodes; it must hold the batch's rows.")
                tf = tf_dict[nt]
            if tf is not None:
                frames[nt] = tf
        x_dict = self.encoder(frames)
        device = self._device()
        for nt in self.node_types:
            if nt not in x_dict:
                x_dict[nt] = torch.zeros(0, self.hidden_channels, device=device)  # [0, channels]
        if self.temporal_encoder is not None:
            times, ref_times = {}, {}
            for nt in self.timed_node_types:
                if x_dict[nt].size(0) == 0:
                    continue
                store = batch[nt]
                if store.get("time") is None or store.get("ref_time") is None:
                    raise ValueError(
                        f"batch[{nt!r}] needs `time` and `ref_time` (nanoseconds) for the "
                        f"temporal encoding; sample with a temporal sampler or build the "
                        f"backbone with temporal_encoding=False.")
                times[nt], ref_times[nt] = store.time, store.ref_time
            for nt, rel in self.temporal_encoder(times, ref_times).items():
                x_dict[nt] = x_dict[nt] + rel  # [num_nodes, channels]
        if self.count_encoder is not None:
            counts = {}
            for nt in self.count_encoder.node_types:
                if x_dict[nt].size(0) == 0:
                    continue
                if batch[nt].get("counts") is None:
                    raise ValueError(
                        f"batch[{nt!r}] has no `counts`, which a backbone with count_windows "
                        f"reads; sample with CountingSampler(sampler, backbone.count_windows, "
                        f"backbone.mean_inputs) "
                        f"(relcontrast.sampling.counts).")
                counts[nt] = batch[nt].counts
            for nt, c in self.count_encoder(counts).items():
                x_dict[nt] = x_dict[nt] + c  # [num_nodes, channels]
        return x_dict

    def forward(self, batch: HeteroData, tf_dict: Mapping[str, TensorFrame] | None = None,
                seeds_only: bool = False) -> dict[str, Tensor]:
        """Embeddings of all nodes of ``batch`` after message passing.

        Parameters
        ----------
        batch : HeteroData
            See :meth:`encode`; ``batch[et].edge_index`` ``[2, E]`` per edge type (messages
            source -> destination). Missing edge types count as having no edges.
        tf_dict : dict of str to TensorFrame, default=None
            Replaces ``batch[nt].tf`` (see :meth:`encode`).
        seeds_only : bool, default=False
            Return the seeds' embeddings only (the first ``batch[nt].batch_size`` rows of
            each type). For a batch of :class:`~relcontrast.sampling.NeighborSampler`, which
            records its hops (``num_hop_nodes``, ``num_hop_edges``), message passing then
            computes only what the seeds read.

        Returns
        -------
        dict of str to Tensor
            ``[num_nodes, hidden_channels]`` (``[batch_size, hidden_channels]`` with
            ``seeds_only``) for every node type of the graph; rows follow the batch's node
            order, so the seeds are the first ``batch[nt].batch_size``.
        """
        x_dict = self.encode(batch, tf_dict)
        present = set(batch.edge_types)
        edge_index_dict, hop_edges = {}, {}
        for et in self.edge_types:
            if et in present:
                edge_index = batch[et].get("edge_index")
                if edge_index is not None:
                    edge_index_dict[et] = edge_index
                    hop_edges[et] = batch[et].get("num_hop_edges")
        if not seeds_only:
            return self.gnn(x_dict, edge_index_dict)
        hop_nodes = {nt: batch[nt].get("num_hop_nodes") if nt in batch.node_types else None
                     for nt in self.node_types}
        if all(h is not None for h in [*hop_nodes.values(), *hop_edges.values()]):
            z = self.gnn(x_dict, edge_index_dict, num_hop_nodes=hop_nodes,
                         num_hop_edges=hop_edges)
        else:
            z = self.gnn(x_dict, edge_index_dict)
        return {nt: x[:_batch_size(batch, nt)] for nt, x in z.items()}

    def _device(self) -> torch.device:
        """The device of the module's parameters."""
        return next(self.parameters()).device

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(node_types={len(self.node_types)}, "
                f"edge_types={len(self.edge_types)}, hidden_channels={self.hidden_channels}, "
                f"num_layers={self.num_layers}, tabular_model={self.tabular_model!r}, "
                f"aggregation={self.aggregation!r}, "
                f"temporal_encoding={self.temporal_encoding}"
                f"{'' if self.count_windows is None else ', count_inputs=True'}"
                f"{', mean_inputs=True' if getattr(self, 'mean_inputs', False) else ''})")


def _check_count_windows(count_windows, edge_types
                         ) -> dict[tuple[str, str, str], tuple[int, ...]] | None:
    """``count_windows`` as ``{edge type: tuple of positive ints}``, or None."""
    if count_windows is None:
        return None
    if not isinstance(count_windows, Mapping):
        raise TypeError(f"count_windows must be None or a dict {{edge type: window lengths in "
                        f"ns}}, got {type(count_windows).__name__}.")
    out = {}
    for et, ws in count_windows.items():
        et = tuple(et)
        if et not in edge_types:
            raise ValueError(f"count_windows names edge type {et}, which the graph does not "
                             f"have; fit them on this graph with fit_count_windows.")
        ws = tuple(ws)
        if not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) and w > 0
                   for w in ws):
            raise ValueError(f"count_windows[{et}] must hold positive integers (window "
                             f"lengths in nanoseconds), got {ws!r}.")
        out[et] = tuple(int(w) for w in ws)
    return out


def _batch_size(batch: HeteroData, nt: str) -> int:
    if nt not in batch.node_types:
        return 0
    size = batch[nt].get("batch_size")
    return 0 if size is None else int(size)


def batch_to_device(batch: HeteroData, device: torch.device | str, *,
                    non_blocking: bool = False) -> HeteroData:
    """A copy of ``batch`` whose tensors and TensorFrames live on ``device``.

    The input batch is not modified (its stores are shallow-copied, so tensors already on
    ``device`` are shared, not copied).

    Parameters
    ----------
    batch : HeteroData
    device : torch.device or str
    non_blocking : bool, default=False
        Asynchronous host-to-device copies (for a batch in pinned memory).

    Returns
    -------
    HeteroData
    """
    # PyG's to() moves TensorFrames too (their .to)
    return copy.copy(batch).to(device, non_blocking=non_blocking)


__all__ = ["RelationalBackbone", "batch_to_device"]
