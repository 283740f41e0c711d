from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
import torch_frame

from relcontrast.database import RelationalDatabase
from relcontrast.graph import (
    CONST_COLUMN,
    HashingTextEncoder,
    RelationalGraph,
    build_graph,
    infer_column_types,
)
from relcontrast.testing import make_synthetic_database


def _tiny_tables():
    users = pd.DataFrame({
        "uid": ["a", "b", "c"],
        "age": [31.5, 45.0, np.nan],
        "country": ["de", "fr", "de"],
        "joined": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]),
    })
    orders = pd.DataFrame({
        "oid": [10, 20, 30, 40],
        "uid": ["b", "a", "b", None],
        "amount": [1.0, 2.5, 3.0, 4.0],
        "ts": pd.to_datetime(["2020-02-03", "2020-02-01", "2020-02-02", "2020-02-04"]),
    })
    links = pd.DataFrame({"uid": ["a", "c"], "oid": [20, 10]})  # keys only
    schema = {
        "users": {"primary_key": "uid", "time_column": "joined"},
        "orders": {"primary_key": "oid", "foreign_keys": {"uid": "users"}, "time_column": "ts"},
        "links": {"foreign_keys": {"uid": "users", "oid": "orders"}},
    }
    return {"users": users, "orders": orders, "links": links}, schema


@pytest.fixture(scope="module")
def tiny():
    tables, schema = _tiny_tables()
    db = RelationalDatabase(tables, schema)
    return db, build_graph(db)


@pytest.fixture(scope="module")
def synthetic():
    db = RelationalDatabase(*make_synthetic_database())
    return db, build_graph(db)


def _columns(tf) -> set[str]:
    return {c for cols in tf.col_names_dict.values() for c in cols}


def test_key_columns_never_features(tiny, synthetic):
    for db, graph in (tiny, synthetic):
        for name in db.table_names:
            keys = set(db.schema[name].key_columns)
            assert not keys & _columns(graph.tf_dict[name])
            assert not keys & set(graph.col_types[name])


def test_tiny_graph_structure(tiny):
    db, graph = tiny
    assert isinstance(graph, RelationalGraph)
    assert graph.node_types == ("users", "orders", "links")
    assert graph.num_nodes == {"users": 3, "orders": 4, "links": 2}
    assert set(graph.edge_types) == {
        ("orders", "f2p_uid", "users"), ("users", "rev_f2p_uid", "orders"),
        ("links", "f2p_uid", "users"), ("users", "rev_f2p_uid", "links"),
        ("links", "f2p_oid", "orders"), ("orders", "rev_f2p_oid", "links"),
    }
    assert set(graph.neighbors) == set(graph.edge_types)
    # The time column is no feature by default; times are seconds since the epoch.
    assert graph.col_types["orders"] == {"amount": torch_frame.numerical}
    assert graph.time_dict["orders"].tolist() == [
        int(pd.Timestamp(d).timestamp()) for d in
        ["2020-02-03", "2020-02-01", "2020-02-02", "2020-02-04"]]
    assert "links" not in graph.time_dict
    # Rows are in node order.
    feat = graph.tf_dict["orders"].feat_dict[torch_frame.numerical][:, 0]
    assert feat.tolist() == [1.0, 2.5, 3.0, 4.0]
    assert graph.reverse_edge_type(("orders", "f2p_uid", "users")) == (
        "users", "rev_f2p_uid", "orders")
    assert "RelationalGraph(users=3" in repr(graph)


def test_constant_column_for_featureless_table(tiny):
    _, graph = tiny
    tf = graph.tf_dict["links"]
    assert tf.col_names_dict == {torch_frame.numerical: [CONST_COLUMN]}
    assert torch.equal(tf.feat_dict[torch_frame.numerical], torch.ones(2, 1))
    assert CONST_COLUMN in graph.col_stats_dict["links"]


def test_neighbor_store_sorted_by_time_with_prefix_search(tiny):
    _, graph = tiny
    store = graph.neighbors[("orders", "f2p_uid", "users")]  # orders of each user
    # user "b" (node 1) has orders 20 (t=Feb 1, node 1)? no: orders 10 (node 0, Feb 3) and
    # 30 (node 2, Feb 2): sorted by time -> [2, 0]. User "a" (node 0): order 20 (node 1).
    assert store.rowptr.tolist() == [0, 1, 3, 3]
    assert store.col.tolist() == [1, 2, 0]
    feb = {d: int(pd.Timestamp(f"2020-02-0{d}").timestamp()) for d in range(1, 5)}
    dst = torch.tensor([1, 1, 1, 0, 2])
    bound = torch.tensor([feb[1], feb[2], feb[4], feb[1] - 1, feb[4]])
    assert store.eligible_end(dst, bound).tolist() == [1, 2, 3, 0, 3]
    assert store.eligible_end(dst, None).tolist() == [3, 3, 3, 1, 3]
    # Untimed source (links): always eligible.
    links = graph.neighbors[("links", "f2p_uid", "users")]
    assert links.eligible_end(torch.tensor([0]), torch.tensor([0])).tolist() == [1]
    edge_index = graph.edge_index(("orders", "f2p_uid", "users"))
    assert edge_index.tolist() == [[1, 2, 0], [0, 1, 1]]


def test_synthetic_edge_types_both_directions(synthetic):
    db, graph = synthetic
    expected = set()
    for fk in db.foreign_keys:
        expected |= {(fk.table, f"f2p_{fk.column}", fk.referenced_table),
                     (fk.referenced_table, f"rev_f2p_{fk.column}", fk.table)}
        fwd = graph.edge_index((fk.table, f"f2p_{fk.column}", fk.referenced_table))
        rev = graph.edge_index((fk.referenced_table, f"rev_f2p_{fk.column}", fk.table))
        pairs = set(zip(fk.src_index.tolist(), fk.dst_index.tolist(), strict=True))
        assert set(zip(*fwd.tolist(), strict=True)) == pairs
        assert set(zip(*rev.flip(0).tolist(), strict=True)) == pairs
    assert set(graph.edge_types) == expected


def test_synthetic_column_types(synthetic):
    _, graph = synthetic
    assert graph.col_types["orders"]["comment"] == torch_frame.text_embedded
    assert graph.tf_dict["orders"].col_names_dict[torch_frame.embedding] == ["comment"]
    assert graph.col_types["items"]["tags"] == torch_frame.multicategorical
    assert "signup" not in graph.col_types["users"]  # the time column
    assert graph.col_types["users"]["birthday"] == torch_frame.timestamp
    assert graph.col_types["users"]["country"] == torch_frame.categorical
    assert graph.col_types["categories"] == {"label": torch_frame.categorical,
                                             "margin": torch_frame.numerical}


def test_infer_column_types_rules():
    n = 40
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "id": np.arange(n),
        "price": rng.random(n),
        "stars": rng.integers(1, 6, n),
        "flag": np.arange(n) % 2 == 0,
        "day": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n), unit="D"),
        "iso": [f"2021-03-{1 + i % 28:02d}" for i in range(n)],
        "color": ["red", "blue", "green", None] * (n // 4),
        "name": [f"person number {i} of the list" for i in range(n)],
        "tags": [["x", "y"][: i % 3] for i in range(n)],
        "boxed": pd.Series(list(rng.random(n - 1)) + [None], dtype=object),
        "empty": [None] * n,
        "constant": ["same"] * n,
    })
    before = df.copy(deep=True)
    types = infer_column_types(df, exclude=["id"])
    assert types == {
        "price": torch_frame.numerical,
        "stars": torch_frame.categorical,
        "flag": torch_frame.categorical,
        "day": torch_frame.timestamp,
        "iso": torch_frame.timestamp,
        "color": torch_frame.categorical,
        "name": torch_frame.text_embedded,
        "tags": torch_frame.multicategorical,
        "boxed": torch_frame.numerical,
    }
    pd.testing.assert_frame_equal(df, before)


def test_infer_column_types_deterministic_on_sampled_rows():
    rng = np.random.default_rng(1)
    n = 25_000
    df = pd.DataFrame({"x": rng.random(n), "code": rng.choice([f"c{i}" for i in range(300)], n)})
    first = infer_column_types(df, random_state=3)
    assert first == infer_column_types(df, random_state=3)
    assert first == {"x": torch_frame.numerical, "code": torch_frame.categorical}


def test_build_graph_leaves_frames_unchanged():
    tables, schema = make_synthetic_database()
    copies = {name: df.copy(deep=True) for name, df in tables.items()}
    db = RelationalDatabase(tables, schema)
    db_copies = {name: db.frame(name).copy(deep=True) for name in db.table_names}
    graph_a = build_graph(db)
    graph_b = build_graph(db)
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], copies[name])
        pd.testing.assert_frame_equal(db.frame(name), db_copies[name])
        assert graph_a.col_types[name] == graph_b.col_types[name]


def test_column_types_override(tiny):
    db, _ = tiny
    graph = build_graph(db, column_types={
        "users": {"age": "categorical", "country": None},
        "orders": {"amount": torch_frame.categorical},
    })
    assert graph.col_types["users"] == {"age": torch_frame.categorical}
    opted_in = build_graph(db, column_types={"users": {"joined": "timestamp"}})
    assert opted_in.col_types["users"]["joined"] == torch_frame.timestamp
    assert graph.tf_dict["users"].col_names_dict[torch_frame.categorical] == ["age"]
    assert "country" not in _columns(graph.tf_dict["users"])
    assert graph.col_types["orders"]["amount"] == torch_frame.categorical


@pytest.mark.parametrize("column_types, match", [
    ({"userz": {"age": "numerical"}}, "unknown table 'userz'.*Did you mean 'users'"),
    ({"users": {"agee": "numerical"}}, "unknown column 'agee'.*Did you mean 'age'"),
    ({"users": {"uid": "categorical"}}, "'uid' is a primary or foreign key"),
    ({"orders": {"uid": "categorical"}}, "'uid' is a primary or foreign key"),
    ({"users": {"age": "numeric"}}, "'numeric' is not a supported stype"),
    ({"users": {"age": torch_frame.text_tokenized}}, "not a supported stype"),
])
def test_bad_column_types_raise(tiny, column_types, match):
    db, _ = tiny
    with pytest.raises(ValueError, match=match):
        build_graph(db, column_types=column_types)


def test_build_graph_type_errors():
    tables, schema = _tiny_tables()
    with pytest.raises(TypeError, match="expects a RelationalDatabase"):
        build_graph(tables)
    with pytest.raises(TypeError, match="column_types must be a dict"):
        build_graph(RelationalDatabase(tables, schema), column_types=["users"])


def test_custom_text_encoder_gets_strings(synthetic):
    db, _ = synthetic
    seen = []

    def encoder(texts):
        seen.extend(texts)
        return torch.zeros(len(texts), 3)

    graph = build_graph(db, text_encoder=encoder)
    assert len(seen) == db.num_rows("orders")
    assert all(isinstance(t, str) for t in seen)
    assert graph.col_stats_dict["orders"]["comment"][
        torch_frame.data.stats.StatType.EMB_DIM] == 3


def test_hashing_text_encoder():
    enc = HashingTextEncoder(n_features=32)
    out = enc(["red fast car", "Red fast car", "", None, "blue"])
    assert out.shape == (5, 32) and out.dtype == torch.float32
    assert torch.allclose(out[[0, 1, 4]].norm(dim=1), torch.ones(3))
    assert torch.equal(out[0], out[1])  # lowercased
    assert torch.equal(out[2], torch.zeros(32)) and torch.equal(out[3], torch.zeros(32))
    restored = pickle.loads(pickle.dumps(enc))
    assert restored == enc and torch.equal(restored(["blue"]), out[4:])
    assert repr(enc) == "HashingTextEncoder(n_features=32)"
    with pytest.raises(ValueError, match="n_features must be a positive int"):
        HashingTextEncoder(0)


def test_graph_pickle_roundtrip(synthetic):
    _, graph = synthetic
    restored = pickle.loads(pickle.dumps(graph))
    assert restored.edge_types == graph.edge_types
    assert restored.col_types == graph.col_types
    for nt in graph.node_types:
        for stype, feat in graph.tf_dict[nt].feat_dict.items():
            if isinstance(feat, torch.Tensor):
                torch.testing.assert_close(feat, restored.tf_dict[nt].feat_dict[stype],
                                           equal_nan=True, rtol=0, atol=0)
    for et, store in graph.neighbors.items():
        assert torch.equal(store.key, restored.neighbors[et].key)
