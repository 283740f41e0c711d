"""Tests of relcontrast.nn on a tiny hand-built four-table graph.

drivers (untimed: numerical, categorical, text, multicategorical), races (timed: timestamp,
numerical), results (timed; FKs to drivers and races) and circuits (a single constant
column; referenced by races). Every FK gives two edge types, messages src -> dst.
"""

from __future__ import annotations

import io
import pickle
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import torch_frame
from torch_frame import TensorFrame
from torch_frame.config.text_embedder import TextEmbedderConfig
from torch_frame.data import Dataset
from torch_frame.nn import LinearEncoder
from torch_geometric.data import HeteroData

from relcontrast.nn import (
    HeteroAttributeEncoder,
    HeteroGraphSAGE,
    HeteroTemporalEncoder,
    LinearTabularModel,
    MLPHead,
    RelationalBackbone,
    ResNetTabularModel,
    TableEncoder,
    batch_to_device,
)

DAY = 86_400 * 10**9  # times are nanoseconds
REF_TIME = 1_700_000_000 * 10**9  # nanoseconds; after every row
EDGES = {  # FK column per child row -> referenced row
    ("results", "drivers"): [0, 1, 2, 3, 0, 1],
    ("results", "races"): [0, 0, 1, 1, 2, 2],
    ("races", "circuits"): [0, 1, 1],
}


def _toy_text_embedder(texts: list[str]) -> torch.Tensor:
    return torch.tensor([[len(t), t.count("a"), 1.0] for t in texts], dtype=torch.float)


def _materialize(df: pd.DataFrame, stypes: dict) -> tuple[TensorFrame, dict]:
    cfg = TextEmbedderConfig(text_embedder=_toy_text_embedder, batch_size=None)
    ds = Dataset(df, stypes, col_to_text_embedder_cfg=cfg).materialize()
    return ds.tensor_frame, ds.col_stats


@pytest.fixture(scope="module")
def graph():
    drivers = pd.DataFrame({
        "age": [30.0, np.nan, 25.0, 41.0],
        "nationality": ["FR", "DE", None, "FR"],
        "bio": ["a fast driver", "", "banana", "calm"],
        "tags": [["rookie", "wet"], ["wet"], [], ["veteran"]],
    })
    races = pd.DataFrame({
        "date": pd.to_datetime(["2001-03-04", "2001-05-06", "2002-03-03"]),
        "round": [1.0, 2.0, 1.0],
    })
    results = pd.DataFrame({"points": [10.0, 6.0, 0.0, 4.0, 8.0, np.nan],
                            "status": ["ok", "ok", "dnf", "ok", "dnf", "ok"]})
    circuits = pd.DataFrame({"__const__": [1.0, 1.0]})
    tf_dict, col_stats_dict = {}, {}
    for name, df, stypes in [
        ("drivers", drivers, {"age": torch_frame.numerical,
                              "nationality": torch_frame.categorical,
                              "bio": torch_frame.text_embedded,
                              "tags": torch_frame.multicategorical}),
        ("races", races, {"date": torch_frame.timestamp, "round": torch_frame.numerical}),
        ("results", results, {"points": torch_frame.numerical,
                              "status": torch_frame.categorical}),
        ("circuits", circuits, {"__const__": torch_frame.numerical}),
    ]:
        tf_dict[name], col_stats_dict[name] = _materialize(df, stypes)
    edge_types = []
    for (child, parent) in EDGES:
        edge_types += [(child, f"f2p_{parent}", parent), (parent, f"rev_f2p_{parent}", child)]
    race_time = torch.as_tensor(races["date"].astype("datetime64[ns]").astype("int64").to_numpy())
    return SimpleNamespace(
        node_types=("drivers", "races", "results", "circuits"),
        edge_types=tuple(edge_types),
        tf_dict=tf_dict,
        col_stats_dict=col_stats_dict,
        time_dict={"races": race_time, "results": race_time[torch.tensor(EDGES[
            ("results", "races")])] + DAY},
    )


def make_batch(graph, n_id: dict | None = None, drop_edge_types: tuple = ()) -> HeteroData:
    """The subgraph induced by ``n_id`` (all nodes by default), nodes in ``n_id`` order."""
    if n_id is None:
        n_id = {nt: torch.arange(graph.tf_dict[nt].num_rows) for nt in graph.node_types}
    batch = HeteroData()
    for nt in graph.node_types:
        ids = torch.as_tensor(n_id[nt], dtype=torch.long)
        batch[nt].n_id = ids
        batch[nt].tf = graph.tf_dict[nt][ids]
        batch[nt].ref_time = torch.full((len(ids),), REF_TIME, dtype=torch.long)
        batch[nt].batch_size = len(ids)
        if nt in graph.time_dict:
            batch[nt].time = graph.time_dict[nt][ids]
    for (child, parent), target in EDGES.items():
        local = {nt: {int(g): i for i, g in enumerate(n_id[nt])} for nt in (child, parent)}
        pairs = [(local[child][c], local[parent][p]) for c, p in enumerate(target)
                 if c in local[child] and p in local[parent]]
        ei = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t()  # [2, num_edges]
        for et, e in [((child, f"f2p_{parent}", parent), ei),
                      ((parent, f"rev_f2p_{parent}", child), ei.flip(0))]:
            if et not in drop_edge_types:
                batch[et].edge_index = e.contiguous()
    return batch


def make_backbone(graph, seed: int = 0, **kwargs) -> RelationalBackbone:
    kwargs.setdefault("hidden_channels", 16)
    with torch.random.fork_rng():  # seeded initialisation without touching the global RNG
        torch.manual_seed(seed)
        return RelationalBackbone(graph, **kwargs).eval()


# -- backbone ---------------------------------------------------------------------------
@pytest.mark.parametrize("tabular_model", ["linear", "resnet"])
@pytest.mark.parametrize("aggregation", ["mean", "sum"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("temporal_encoding", [True, False])
def test_backbone_output_shapes(graph, tabular_model, aggregation, num_layers,
                                temporal_encoding):
    model = make_backbone(graph, tabular_model=tabular_model, aggregation=aggregation,
                          num_layers=num_layers, temporal_encoding=temporal_encoding)
    out = model(make_batch(graph))
    assert set(out) == set(graph.node_types)
    for nt, z in out.items():
        assert z.shape == (graph.tf_dict[nt].num_rows, 16)
        assert torch.isfinite(z).all()
    assert model.out_channels == 16
    x = model.encode(make_batch(graph))
    assert all(x[nt].shape == out[nt].shape for nt in graph.node_types)
    assert (model.temporal_encoder is not None) == temporal_encoding


def test_odd_hidden_channels_and_zero_layers(graph):
    assert make_backbone(graph, hidden_channels=7)(make_batch(graph))["races"].shape == (3, 7)
    model = make_backbone(graph, num_layers=0)
    batch = make_batch(graph)
    out, x = model(batch), model.encode(batch)
    assert all(torch.equal(out[nt], x[nt]) for nt in graph.node_types)


@pytest.mark.parametrize("empty", ["circuits", "results", "drivers"])
def test_node_type_with_zero_rows(graph, empty):
    n_id = {nt: torch.arange(graph.tf_dict[nt].num_rows) for nt in graph.node_types}
    n_id[empty] = torch.empty(0, dtype=torch.long)
    batch = make_batch(graph, n_id)
    model = make_backbone(graph, tabular_model="resnet")
    out = model(batch)
    assert out[empty].shape == (0, 16)
    for nt in graph.node_types:
        assert out[nt].shape == (len(n_id[nt]), 16)
        assert torch.isfinite(out[nt]).all()


def test_missing_edge_types_count_as_empty(graph):
    """A sampler may omit an edge type with no edges or store it empty: same embeddings."""
    n_id = {nt: torch.arange(graph.tf_dict[nt].num_rows) for nt in graph.node_types}
    n_id["circuits"] = torch.empty(0, dtype=torch.long)
    dropped = (("races", "f2p_circuits", "circuits"), ("circuits", "rev_f2p_circuits", "races"))
    model = make_backbone(graph)
    a = model(make_batch(graph, n_id))
    b = model(make_batch(graph, n_id, drop_edge_types=dropped))
    for nt in graph.node_types:
        torch.testing.assert_close(a[nt], b[nt], rtol=0, atol=0)


@pytest.mark.parametrize("aggregation", ["mean", "sum"])
@pytest.mark.parametrize("tabular_model", ["linear", "resnet"])
def test_permuting_rows_permutes_embeddings(graph, aggregation, tabular_model):
    gen = torch.Generator().manual_seed(0)
    model = make_backbone(graph, aggregation=aggregation, tabular_model=tabular_model)
    base = {nt: torch.arange(graph.tf_dict[nt].num_rows) for nt in graph.node_types}
    perm = {nt: torch.randperm(len(ids), generator=gen) for nt, ids in base.items()}
    out = model(make_batch(graph, base))
    out_perm = model(make_batch(graph, {nt: base[nt][perm[nt]] for nt in base}))
    for nt in graph.node_types:
        torch.testing.assert_close(out_perm[nt], out[nt][perm[nt]], rtol=0, atol=1e-5)


def _append_result(batch: HeteroData, graph, driver: int, both_directions: bool) -> HeteroData:
    """A copy of the full batch with one more results node (row 0's features) linked to
    ``driver``: driver -> new node, and new node -> driver if ``both_directions``."""
    out = batch.clone()
    ids = torch.cat([batch["results"].n_id, torch.tensor([0])])
    new = len(batch["results"].n_id)
    out["results"].n_id = ids
    out["results"].tf = graph.tf_dict["results"][ids]
    out["results"].time = graph.time_dict["results"][ids]
    out["results"].ref_time = torch.full((len(ids),), REF_TIME, dtype=torch.long)
    rev = ("drivers", "rev_f2p_drivers", "results")
    out[rev].edge_index = torch.cat(
        [batch[rev].edge_index, torch.tensor([[driver], [new]])], 1)  # [2, num_edges + 1]
    if both_directions:
        fwd = ("results", "f2p_drivers", "drivers")
        out[fwd].edge_index = torch.cat(
            [batch[fwd].edge_index, torch.tensor([[new], [driver]])], 1)  # [2, num_edges + 1]
    return out


@pytest.mark.parametrize("aggregation", ["mean", "sum"])
def test_node_without_edge_into_v_does_not_change_v(graph, aggregation):
    model = make_backbone(graph, aggregation=aggregation, num_layers=3)
    batch = make_batch(graph)
    out = model(batch)
    extended = model(_append_result(batch, graph, driver=2, both_directions=False))
    for nt in graph.node_types:  # the new node only receives: nobody else sees it
        n = out[nt].size(0)
        torch.testing.assert_close(extended[nt][:n], out[nt], rtol=0, atol=1e-6)


def test_receptive_field_is_num_layers_hops(graph):
    """A new results node sending to driver 2 reaches driver 2 after one layer, driver 2's
    results after two, and never (in two layers) the races or the other drivers."""
    model = make_backbone(graph, num_layers=2)
    batch = make_batch(graph)
    out = model(batch)
    extended = model(_append_result(batch, graph, driver=2, both_directions=True))
    assert not torch.allclose(extended["drivers"][2], out["drivers"][2], atol=1e-4)
    assert not torch.allclose(extended["results"][2], out["results"][2], atol=1e-4)
    for nt, rows in [("drivers", [0, 1, 3]), ("races", [0, 1, 2]), ("circuits", [0, 1]),
                     ("results", [0, 1, 3, 4, 5])]:
        torch.testing.assert_close(extended[nt][rows], out[nt][rows], rtol=0, atol=1e-6)


def test_eval_is_deterministic_and_tf_dict_overrides_features(graph):
    model = make_backbone(graph, tabular_model="resnet", dropout=0.2)
    batch = make_batch(graph)
    a, b = model(batch), model(batch)
    assert all(torch.equal(a[nt], b[nt]) for nt in graph.node_types)
    same = model(batch, tf_dict={nt: batch[nt].tf for nt in graph.node_types})
    assert all(torch.equal(a[nt], same[nt]) for nt in graph.node_types)
    swapped = batch["drivers"].tf[torch.tensor([1, 0, 2, 3])]  # drivers 0 and 1 swap cells
    corrupted = model(batch, tf_dict={"drivers": swapped})
    assert not torch.allclose(corrupted["drivers"][0], a["drivers"][0])
    torch.testing.assert_close(corrupted["drivers"][2:], a["drivers"][2:])  # 2 hops away
    with pytest.raises(ValueError, match="tf_dict\\['drivers'\\] has 2 rows"):
        model(batch, tf_dict={"drivers": swapped[:2]})


def test_temporal_encoding_sees_relative_time(graph):
    batch = make_batch(graph)
    later = make_batch(graph)
    later["races"].ref_time = later["races"].ref_time + 365 * DAY
    with_time = make_backbone(graph, temporal_encoding=True)
    assert not torch.allclose(with_time(batch)["races"], with_time(later)["races"])
    without = make_backbone(graph, temporal_encoding=False)
    torch.testing.assert_close(without(batch)["races"], without(later)["races"])
    del later["races"].ref_time
    with pytest.raises(ValueError, match="needs `time` and `ref_time`"):
        with_time(later)


def test_gradients_reach_every_encoder(graph):
    model = make_backbone(graph, tabular_model="resnet").train()
    out = model(make_batch(graph))
    gen = torch.Generator().manual_seed(1)
    loss = sum((z * torch.randn(z.shape, generator=gen)).sum() for z in out.values())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    for nt in graph.node_types:
        grads = [p.grad.abs().sum() for p in model.encoder.encoders[nt].parameters()]
        assert sum(grads) > 0, nt
    for nt in graph.time_dict:
        assert model.temporal_encoder.lins[nt].weight.grad.abs().sum() > 0, nt
    first_layer = [*model.gnn.weight_l[0].values(), *model.gnn.bias_l[0].values(),
                   *model.gnn.weight_r[0].values()]
    assert all(p.grad.abs().sum() > 0 for p in first_layer)


def test_pickle_round_trip_gives_identical_outputs(graph):
    model = make_backbone(graph, tabular_model="resnet")
    batch = make_batch(graph)
    expected = model(batch)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for restored in (pickle.loads(pickle.dumps(model)), torch.load(buffer, weights_only=False)):
        got = restored(batch)
        assert all(torch.equal(got[nt], expected[nt]) for nt in graph.node_types)
    assert repr(model).count("\n") == 0


def test_batch_to_device_copies_and_keeps_input(graph):
    batch = make_batch(graph)
    tf_before = batch["drivers"].tf
    moved = batch_to_device(batch, "cpu")
    assert moved is not batch and batch["drivers"].tf is tf_before
    assert moved["drivers"].tf.num_rows == 4
    et = ("results", "f2p_drivers", "drivers")
    assert torch.equal(moved[et].edge_index, batch[et].edge_index)
    model = make_backbone(graph)
    assert torch.equal(model(moved)["results"], model(batch)["results"])
    meta = batch_to_device(batch, "meta")  # a real move (no GPU needed): every tensor goes
    for store in meta.stores:
        for key, value in store.items():
            if isinstance(value, torch.Tensor):
                assert value.device.type == "meta", key
    feats = [t for nt in meta.node_types for t in meta[nt].tf.feat_dict.values()]
    assert feats and all(getattr(t, "device", None) == torch.device("meta") for t in feats)
    assert batch["drivers"].tf.feat_dict == tf_before.feat_dict  # the input stays on the CPU
    assert all(t.device.type == "cpu" for t in batch["drivers"].tf.feat_dict.values())


def test_backbone_rejects_bad_hyper_parameters(graph):
    with pytest.raises(ValueError, match="tabular_model must be one of"):
        RelationalBackbone(graph, tabular_model="mlp")
    with pytest.raises(ValueError, match="aggregation must be one of"):
        RelationalBackbone(graph, aggregation="max")
    with pytest.raises(ValueError, match="hidden_channels must be a positive integer"):
        RelationalBackbone(graph, hidden_channels=0)
    with pytest.raises(ValueError, match="num_layers must be a non-negative integer"):
        RelationalBackbone(graph, num_layers=-1)
    with pytest.raises(TypeError, match="graph must provide `tf_dict`"):
        RelationalBackbone(SimpleNamespace(node_types=("a",), edge_types=()))


# -- components -------------------------------------------------------------------------
def test_attribute_encoder_with_subsets_of_stypes_and_zero_rows(graph):
    enc = HeteroAttributeEncoder(graph.col_stats_dict,
                                 {nt: tf.col_names_dict for nt, tf in graph.tf_dict.items()},
                                 channels=8, tabular_model="resnet")
    empty = {nt: tf[torch.empty(0, dtype=torch.long)] for nt, tf in graph.tf_dict.items()}
    out = enc({**empty, "drivers": graph.tf_dict["drivers"]})
    assert out["drivers"].shape == (4, 8)
    assert all(out[nt].shape == (0, 8) for nt in ("races", "results", "circuits"))
    cells = enc.encoders["drivers"].encode_columns(graph.tf_dict["drivers"])
    assert cells.shape == (4, 4, 8)  # [rows, columns, channels]
    with pytest.raises(ValueError, match="No attribute encoder for tables \\['users'\\]"):
        enc({"users": graph.tf_dict["drivers"]})


def test_table_encoder_checks_columns_and_handles_featureless_tables(graph):
    enc = TableEncoder(graph.col_stats_dict["races"], graph.tf_dict["races"].col_names_dict, 8)
    with pytest.raises(ValueError, match="has columns .* but the encoder was built for"):
        enc(graph.tf_dict["results"])
    bare = TableEncoder({}, {}, 8, name="bare")
    assert bare(TensorFrame({}, {}, num_rows=3)).shape == (3, 8)
    with pytest.raises(ValueError, match="cannot encode"):
        TableEncoder({"s": {}}, {torch_frame.sequence_numerical: ["s"]}, 8, name="t")
    with pytest.raises(ValueError, match="no statistics for columns \\['round'\\]"):
        TableEncoder({}, {torch_frame.numerical: ["round"]}, 8, name="races")
    with pytest.raises(ValueError, match="tabular_model must be one of"):
        TableEncoder({}, {}, 8, tabular_model="tree")


def test_missing_cells_encode_to_zero_with_finite_gradients(graph):
    """torch-frame's LinearEncoder gives NaN weight gradients for a NaN cell; ours do not,
    and encode the cell as the same zero vector."""
    stats, cols = graph.col_stats_dict["drivers"], graph.tf_dict["drivers"].col_names_dict
    ours = TableEncoder(stats, cols, 8)
    tf = graph.tf_dict["drivers"]  # age of driver 1 is NaN
    cells = ours.encode_columns(tf)  # [4, 4, 8]; columns: age, nationality, tags, bio
    assert torch.equal(cells[1, 0], torch.zeros(8)) and cells[0, 0].abs().sum() > 0
    reference = LinearEncoder(8, [stats["age"]], torch_frame.numerical)
    reference.load_state_dict(ours.feature_encoder.encoder_dict["numerical"].state_dict())
    torch.testing.assert_close(cells[:, :1], reference(tf.feat_dict[torch_frame.numerical]))
    cells.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in ours.parameters() if p.grad is not None)
    # a NaN inside a text embedding: zero vector, finite gradients
    emb = tf.feat_dict[torch_frame.embedding].clone()
    emb.values[2, 0] = float("nan")
    feat_dict = {**tf.feat_dict, torch_frame.embedding: emb}
    nan_tf = TensorFrame(feat_dict, tf.col_names_dict)
    ours.zero_grad()
    cells = ours.encode_columns(nan_tf)
    assert torch.equal(cells[2, 3], torch.zeros(8)) and cells[1, 3].abs().sum() > 0
    ours(nan_tf).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in ours.parameters() if p.grad is not None)
    # columns declared as text_embedded are matched with torch-frame's `embedding` group
    text = TableEncoder(stats, {torch_frame.text_embedded: ["bio"]}, 8)
    bio = TensorFrame({torch_frame.embedding: emb}, {torch_frame.embedding: ["bio"]})
    assert text(bio).shape == (4, 8)


def test_timestamp_features_stored_as_int16_encode_as_torch_frame_int64():
    """build_graph stores timestamp features as int16; TableEncoder widens a batch before
    torch-frame's missing-value fill (which writes int64) and gives torch-frame's output."""
    from torch_frame.data.mapper import TimestampTensorMapper
    from torch_frame.data.stats import compute_col_stats
    from torch_frame.nn import TimestampEncoder

    ser = pd.Series(pd.to_datetime(["2001-03-04 05:06:07", None, "1999-12-31",
                                    "2030-01-01 23:59"], format="ISO8601"))
    stats = compute_col_stats(ser, torch_frame.timestamp)
    feat = TimestampTensorMapper.to_tensor(ser).unsqueeze(1)  # [4, 1, 7] int64; row 1: -1
    assert feat.dtype == torch.int64 and (feat[1] == -1).all()
    cols = {torch_frame.timestamp: ["when"]}
    ours = TableEncoder({"when": stats}, cols, 8)
    reference = TimestampEncoder(8, [stats], torch_frame.timestamp)
    reference.load_state_dict(ours.feature_encoder.encoder_dict["timestamp"].state_dict())
    with pytest.raises(RuntimeError, match="dtypes match"):  # why the widening is needed
        reference(feat.to(torch.int16))
    expected = reference(feat)  # [4, 1, 8]
    for dtype in (torch.int16, torch.int64):
        cells = ours.encode_columns(TensorFrame({torch_frame.timestamp: feat.to(dtype)}, cols))
        assert torch.equal(cells, expected)


@pytest.mark.parametrize("cls", [LinearTabularModel, ResNetTabularModel])
def test_tabular_models(cls):
    model = cls(num_cols=3, channels=4, out_channels=6)
    assert model(torch.randn(5, 3, 4)).shape == (5, 6)
    assert model(torch.randn(0, 3, 4)).shape == (0, 6)


def test_graphsage_carries_over_types_that_receive_nothing():
    with pytest.warns(UserWarning, match="do not get updated"):
        gnn = HeteroGraphSAGE(["a", "b"], [("a", "to", "b")], channels=4, num_layers=2)
    x = {"a": torch.randn(3, 4), "b": torch.randn(2, 4)}
    out = gnn(x, {("a", "to", "b"): torch.tensor([[0, 1, 2], [0, 0, 1]])})
    assert torch.equal(out["a"], x["a"]) and out["b"].shape == (2, 4)
    empty = gnn({"a": torch.zeros(0, 4), "b": x["b"]}, {})
    assert empty["b"].shape == (2, 4)
    with pytest.raises(ValueError, match="node types \\['c'\\]"):
        HeteroGraphSAGE(["a"], [("a", "to", "c")], channels=4)


def test_temporal_encoder_shapes():
    enc = HeteroTemporalEncoder(["t"], channels=5)
    time = torch.tensor([0, DAY, 2 * DAY])
    out = enc({"t": time, "other": time}, {"t": time + DAY, "other": time})
    assert set(out) == {"t"} and out["t"].shape == (3, 5)


def test_heads():
    assert MLPHead(8, 3)(torch.randn(4, 8)).shape == (4, 3)
    head = MLPHead(8, 3, hidden_channels=5, num_layers=3, dropout=0.1)
    assert head(torch.randn(4, 8)).shape == (4, 3)
    assert sum(isinstance(m, torch.nn.Linear) for m in head.modules()) == 3
    assert MLPHead(8, 2)(torch.randn(0, 8)).shape == (0, 2)
    with pytest.raises(ValueError, match="num_layers must be a positive integer"):
        MLPHead(8, 3, num_layers=0)


@pytest.mark.parametrize("num_neighbors", [(3, 2), (3, 2, 2)])  # as many hops as layers, more
@pytest.mark.parametrize("aggregation", ["mean", "sum"])
def test_seeds_only_gives_the_seeds_their_full_embeddings(num_neighbors, aggregation):
    """Message passing trimmed to what the seeds read (layer l computes only the nodes within
    num_layers - l hops) gives the seeds the embeddings of the full pass."""
    from relcontrast import RelationalDatabase
    from relcontrast.graph import build_graph
    from relcontrast.sampling import NeighborSampler
    from relcontrast.testing import make_synthetic_database

    graph = build_graph(RelationalDatabase(*make_synthetic_database()))
    backbone = make_backbone(graph, aggregation=aggregation)
    sampler = NeighborSampler(graph, num_neighbors=num_neighbors)
    users = torch.arange(10)
    batch = sampler.sample({"users": users}, {"users": graph.time_dict["users"][users]
                                             + 200 * 86_400 * 10**9}, torch.Generator())
    full = backbone(batch)
    seeds = backbone(batch, seeds_only=True)
    assert seeds["users"].shape == (10, 16)
    assert all(seeds[nt].size(0) == 0 for nt in graph.node_types if nt != "users")
    torch.testing.assert_close(seeds["users"], full["users"][:10], rtol=0, atol=1e-5)
    # the trimmed pass itself: each layer computes fewer nodes, the seeds come out alone
    x = backbone.encode(batch)
    edges = {et: batch[et].edge_index for et in graph.edge_types}
    hop_nodes = {nt: batch[nt].num_hop_nodes for nt in graph.node_types}
    assert sum(h[1] for h in hop_nodes.values()) < sum(h[-1] for h in hop_nodes.values())
    trimmed = backbone.gnn(x, edges, num_hop_nodes=hop_nodes,
                           num_hop_edges={et: batch[et].num_hop_edges for et in edges})
    assert {nt: z.size(0) for nt, z in trimmed.items()} == {nt: h[0]
                                                            for nt, h in hop_nodes.items()}
    torch.testing.assert_close(trimmed["users"], full["users"][:10], rtol=0, atol=1e-5)


def test_held_out_links_keep_the_trimmed_pass_exact():
    """Holding out link targets keeps the sampler's per-hop edge counts true, so the
    corrupted pretraining pass (seeds_only) still trims, and still matches the full pass."""
    from relcontrast import RelationalDatabase
    from relcontrast.graph import build_graph
    from relcontrast.pretraining import hold_out_links
    from relcontrast.sampling import NeighborSampler
    from relcontrast.testing import make_synthetic_database

    graph = build_graph(RelationalDatabase(*make_synthetic_database()))
    backbone = make_backbone(graph)
    users = torch.arange(10)
    batch = NeighborSampler(graph, num_neighbors=(3, 2)).sample(
        {"users": users}, {"users": graph.time_dict["users"][users] + 200 * 86_400 * 10**9},
        torch.Generator())
    before = {et: (batch[et].edge_index.clone(), list(batch[et].num_hop_edges))
              for et in batch.edge_types}
    hold_out_links(batch, 0.5, torch.Generator().manual_seed(0))
    pairs = lambda ei: {tuple(p) for p in ei.t().tolist()}  # noqa: E731
    for et in batch.edge_types:
        (edges, hops), kept = before[et], batch[et].edge_index
        assert len(pairs(edges)) == edges.size(1)  # no repeated edge: pairs identify edges
        assert batch[et].num_hop_edges is not None
        for h_before, h_after in zip(hops, batch[et].num_hop_edges, strict=True):
            assert pairs(kept[:, :h_after]) == pairs(edges[:, :h_before]) & pairs(kept)
    assert sum(batch[et].edge_index.size(1) for et in batch.edge_types) < sum(
        e.size(1) for e, _ in before.values())
    full = backbone(batch)
    seeds = backbone(batch, seeds_only=True)
    torch.testing.assert_close(seeds["users"], full["users"][:10], rtol=0, atol=1e-5)
