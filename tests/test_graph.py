from __future__ import annotations

import pickle
from decimal import Decimal

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
from relcontrast.graph import build as graph_build
from relcontrast.graph.stats import column_stats, convert_column
from relcontrast.sampling import NeighborSampler, neighbor_index
from relcontrast.sampling.index import rows_by_rank
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
    assert set(neighbor_index(graph)) == set(graph.edge_types)
    assert list(graph.links) == [et for et in graph.edge_types if et[1].startswith("f2p_")]
    # The time column is no feature by default; times are nanoseconds since the epoch.
    assert graph.col_types["orders"] == {"amount": torch_frame.numerical}
    assert graph.time_dict["orders"].tolist() == [
        pd.Timestamp(d).value for d in
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
    store = neighbor_index(graph)[("orders", "f2p_uid", "users")]  # orders of each user
    # user "b" (node 1) has orders 20 (t=Feb 1, node 1)? no: orders 10 (node 0, Feb 3) and
    # 30 (node 2, Feb 2): sorted by time -> [2, 0]. User "a" (node 0): order 20 (node 1).
    assert store.rowptr.tolist() == [0, 1, 3, 3]
    assert store.col.tolist() == [1, 2, 0]
    feb = {d: pd.Timestamp(f"2020-02-0{d}").value for d in range(1, 5)}  # nanoseconds
    dst = torch.tensor([1, 1, 1, 0, 2])
    bound = torch.tensor([feb[1], feb[2], feb[4], feb[1] - 1, feb[4]])
    assert store.eligible_end(dst, bound).tolist() == [1, 2, 3, 0, 3]
    assert store.eligible_end(dst, None).tolist() == [3, 3, 3, 1, 3]
    # Untimed source (links): always eligible.
    links = neighbor_index(graph)[("links", "f2p_uid", "users")]
    assert links.eligible_end(torch.tensor([0]), torch.tensor([0])).tolist() == [1]
    edge_index = neighbor_index(graph)[("orders", "f2p_uid", "users")].edge_index()
    assert edge_index.tolist() == [[1, 2, 0], [0, 1, 1]]


def test_rows_by_rank_inverts_row_rank_once_per_graph(synthetic):
    _, graph = synthetic
    order = rows_by_rank(graph)
    for nt, rank in graph.row_rank.items():
        assert torch.equal(order[nt][rank], torch.arange(graph.num_nodes[nt]))
    # built once and shared: a sampler per fit / transform does not copy it
    samplers = [NeighborSampler(graph, num_neighbors=(2,)) for _ in range(2)]
    assert all(s._node_at is order for s in samplers) and rows_by_rank(graph) is order


def test_synthetic_edge_types_both_directions(synthetic):
    db, graph = synthetic
    expected = set()
    for fk in db.foreign_keys:
        expected |= {(fk.table, f"f2p_{fk.column}", fk.referenced_table),
                     (fk.referenced_table, f"rev_f2p_{fk.column}", fk.table)}
        index = neighbor_index(graph)
        fwd = index[(fk.table, f"f2p_{fk.column}", fk.referenced_table)].edge_index()
        rev = index[(fk.referenced_table, f"rev_f2p_{fk.column}", fk.table)].edge_index()
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
        "decimal": [Decimal(f"{i}.25") for i in range(n - 1)] + [None],  # pyarrow decimals
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
        "decimal": torch_frame.numerical,
    }
    pd.testing.assert_frame_equal(df, before)
    tf = build_graph(RelationalDatabase({"t": df[["id", "decimal"]]}, {"t": {
        "primary_key": "id"}})).tf_dict["t"]
    got = tf.feat_dict[torch_frame.numerical][:, 0]  # decimals as numbers, None missing
    expected = torch.tensor([i + 0.25 for i in range(n - 1)] + [float("nan")])
    torch.testing.assert_close(got, expected, equal_nan=True)


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
    for et, store in neighbor_index(graph).items():
        assert torch.equal(store.key, neighbor_index(restored)[et].key)


# -- column statistics and stats_until -----------------------------------------------------
def _assert_same(a, b, where="") -> None:
    """``a`` and ``b`` equal in type and value, recursively; NaN equals NaN, floats exactly."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True, msg=where)
    elif isinstance(a, (float, np.floating)):
        assert (np.isnan(a) and np.isnan(b)) or a == b, f"{where}: {a!r} != {b!r}"
    elif hasattr(a, "values") and hasattr(a, "offset"):  # Multi{Nested,Embedding}Tensor
        assert (a.num_rows, a.num_cols) == (b.num_rows, b.num_cols), where
        _assert_same(a.values, b.values, f"{where}.values")
        _assert_same(a.offset, b.offset, f"{where}.offset")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _assert_graphs_equal(a: RelationalGraph, b: RelationalGraph) -> None:
    assert (a.node_types, a.edge_types, a.num_nodes) == (b.node_types, b.edge_types, b.num_nodes)
    _assert_same(a.col_types, b.col_types, "col_types")
    _assert_same(a.col_stats_dict, b.col_stats_dict, "col_stats_dict")
    _assert_same(a.time_dict, b.time_dict, "time_dict")
    for name in a.node_types:
        _assert_same(a.tf_dict[name].col_names_dict, b.tf_dict[name].col_names_dict, name)
        _assert_same(a.tf_dict[name].feat_dict, b.tf_dict[name].feat_dict, f"{name} feat_dict")
    for et, store in neighbor_index(a).items():
        for attr in ("rowptr", "col", "key", "src_times"):
            _assert_same(getattr(store, attr), getattr(neighbor_index(b)[et], attr),
                         f"{et}.{attr}")


def _every_kind_tables(n: int = 600):
    """A timed table with a column of every kind build_graph converts, rows out of order."""
    rng = np.random.default_rng(7)
    t0 = pd.Timestamp("2021-01-01")
    x = rng.lognormal(0, 2, n)
    x[rng.random(n) < 0.1] = np.nan
    x[:3] = [np.inf, -np.inf, np.nan]
    boxed = pd.Series(list(rng.integers(0, 1000, n - 1)) + [2.5], dtype=object)
    events = pd.DataFrame({
        "eid": np.arange(n),
        "uid": rng.integers(0, 20, n),
        "ts": t0 + pd.to_timedelta(rng.permutation(n) * 3_600, unit="s"),  # unsorted
        "x": x,
        "f32": rng.normal(size=n).astype(np.float32),
        "count": rng.integers(-50, 10**6, n),
        "level": rng.integers(1, 5, n),
        "flag": rng.random(n) < 0.3,
        "wait": pd.to_timedelta(rng.integers(0, 10**5, n), unit="s"),
        "boxed": boxed,
        "kind": pd.Series(rng.choice(["a", "b", "c", None], n), dtype="str"),
        "label": pd.Series(rng.choice([f"l{i}" for i in range(40)], n), dtype=object),
        "due": pd.Series(t0 + pd.to_timedelta(rng.integers(0, 900, n), unit="D")).where(
            rng.random(n) > 0.05).dt.tz_localize("Europe/Berlin"),
        "iso": [f"20{10 + i % 12}-0{1 + i % 9}-1{i % 10}" for i in range(n)],
        "text": [None if i % 7 == 0 else f"note {i} about item {i % 13} and more" for i in
                 range(n)],
        "tags": [list(rng.choice(["p", "q", "r"], rng.integers(0, 3), replace=False))
                 for _ in range(n)],
    })
    users = pd.DataFrame({"uid": np.arange(20), "age": rng.normal(40, 9, 20),
                          "one": np.ones(20)})
    schema = {"users": {"primary_key": "uid"},
              "events": {"primary_key": "eid", "foreign_keys": {"uid": "users"},
                         "time_column": "ts"}}
    return {"users": users, "events": events}, schema


@pytest.fixture(scope="module")
def every_kind():
    return RelationalDatabase(*_every_kind_tables())


@pytest.fixture(scope="module")
def f1():
    from relcontrast.datasets import load_f1

    return RelationalDatabase(*load_f1())


_rng = np.random.default_rng(3)
_TS = pd.Series(pd.to_datetime(["2001-03-04 05:06:07", None, "1999-12-31", "2030-01-01 23:59"],
                               format="ISO8601"))


@pytest.mark.parametrize("ser, stype", [
    (pd.Series(_rng.lognormal(0, 3, 5_000)), torch_frame.numerical),
    (pd.Series([1.5, np.nan, np.inf, -2.0, -np.inf, 7.0]), torch_frame.numerical),
    (pd.Series(_rng.normal(size=3_000).astype(np.float32)), torch_frame.numerical),
    (pd.Series(_rng.integers(-(10**12), 10**12, 4_000)), torch_frame.numerical),
    (pd.Series(np.arange(7, dtype=np.uint8)), torch_frame.numerical),
    (pd.Series([3.25] * 9), torch_frame.numerical),
    (pd.Series([np.nan, np.inf, -np.inf]), torch_frame.numerical),
    (pd.Series([], dtype=np.float64), torch_frame.numerical),
    (pd.Series([1.0, None, 2.0], dtype="Float64"), torch_frame.numerical),
    (pd.Series(["b", None, "a", "b", "c", "a", "b"], dtype=object), torch_frame.categorical),
    (pd.Series([3, 1, 3, 2, 1, 3]), torch_frame.categorical),
    (pd.Series([None, None], dtype=object), torch_frame.categorical),
    (_TS, torch_frame.timestamp),
    (pd.Series([["x", "y"], None, ["y"], []], dtype=object), torch_frame.multicategorical),
])
@pytest.mark.filterwarnings("ignore:Series.dt.dayofweek is deprecated")  # inside torch-frame
def test_column_stats_equal_torch_frame(ser, stype):
    from torch_frame.data.stats import compute_col_stats

    _assert_same(column_stats(ser, stype), compute_col_stats(ser, stype))


@pytest.mark.parametrize("dtype", ["str", pd.StringDtype("python", na_value=pd.NA)])
@pytest.mark.parametrize("stype", [torch_frame.categorical, torch_frame.text_embedded])
def test_convert_string_column_equals_per_value_conversion(dtype, stype):
    ser = pd.Series(["a", None, "b b", np.nan, ""], dtype=dtype, index=[4, 2, 9, 7, 1],
                    name="s")
    fast = convert_column(ser, stype)
    per_value = convert_column(ser.astype(object), stype)
    pd.testing.assert_series_equal(fast, per_value)
    assert [type(v) for v in fast] == [type(v) for v in per_value]


@pytest.mark.parametrize("name, cutoff", [
    ("every_kind", "2021-01-10"),
    ("every_kind", "2020-01-01"),  # before every row: constant columns, empty statistics
    ("synthetic", "2020-06-01"),
    ("synthetic", "2030-01-01"),  # after every row
    ("f1", "2005-01-01"),
])
def test_stats_until_equals_two_step_build(name, cutoff, request):
    db = request.getfixturevalue(name)
    db = db[0] if isinstance(db, tuple) else db
    one_pass = build_graph(db, stats_until=cutoff)
    stats_graph = build_graph(db.upto(cutoff))
    two_step = build_graph(db, reference=stats_graph)
    _assert_graphs_equal(one_pass, two_step)
    assert all(two_step.col_stats_dict[t] is not stats_graph.col_stats_dict[t]
               for t in db.table_names)  # the reference is copied, never written to
    # The rows up to the cutoff read through the one-pass graph: the statistics graph.
    _assert_graphs_equal(build_graph(db.upto(cutoff), reference=one_pass), stats_graph)


@pytest.mark.parametrize("name, cutoff", [("every_kind", None), ("every_kind", "2021-01-10"),
                                          ("synthetic", "2020-06-01")])
def test_materialising_in_row_chunks_equals_one_pass(name, cutoff, request, monkeypatch):
    """Tables above _MATERIALIZE_ROWS rows are converted and encoded chunk by chunk (to
    bound the memory of millions of rows); the tensors and statistics are those of one
    pass, also for chunks that do not divide the table and for a reference graph."""
    db = request.getfixturevalue(name)
    db = db[0] if isinstance(db, tuple) else db
    one_pass = build_graph(db, stats_until=cutoff)
    monkeypatch.setattr(graph_build, "_MATERIALIZE_ROWS", 7)
    assert max(db.num_rows(t) for t in db.table_names) % 7  # a short last chunk
    chunked = build_graph(db, stats_until=cutoff)
    _assert_graphs_equal(chunked, one_pass)
    _assert_graphs_equal(build_graph(db, reference=one_pass), one_pass)


@pytest.mark.parametrize("far_row", [None, 3, 20])  # none, first chunk, a later chunk
def test_timestamp_features_int16_unless_a_year_does_not_fit(far_row, monkeypatch):
    """Timestamp features (year, month, ..., second) are stored as int16, a quarter of
    torch-frame's int64, unless a year falls outside int16: then int64 for the whole table,
    also when only a later chunk of a table materialised in chunks holds it."""
    n = 25
    when = np.array([f"{1990 + i}-0{1 + i % 9}-1{i % 10}T0{i % 10}:1{i % 6}:0{i % 8}"
                     for i in range(n)], dtype="datetime64[s]")
    if far_row is not None:
        when[far_row] = np.datetime64("40000-01-01", "s")
    events = pd.DataFrame({"eid": np.arange(n), "ts": pd.date_range("2020-01-01", periods=n),
                           "when": when, "x": np.arange(n, dtype=np.float64)})
    db = RelationalDatabase({"events": events},
                            {"events": {"primary_key": "eid", "time_column": "ts"}})
    one_pass = build_graph(db)
    feat = one_pass.tf_dict["events"].feat_dict[torch_frame.timestamp]  # [n, 1, 7]
    assert feat.dtype == (torch.int16 if far_row is None else torch.int64)
    from torch_frame.data.mapper import TimestampTensorMapper
    expected = TimestampTensorMapper.to_tensor(events["when"]).unsqueeze(1)  # int64
    assert torch.equal(feat.long(), expected)
    monkeypatch.setattr(graph_build, "_MATERIALIZE_ROWS", 7)
    _assert_graphs_equal(build_graph(db), one_pass)


def test_stats_until_ignores_later_rows(every_kind):
    db = every_kind
    cutoff = pd.Timestamp("2021-01-10")
    full, early = build_graph(db), build_graph(db, stats_until=cutoff)
    assert early.num_nodes == full.num_nodes
    kept = int((db.time_ns("events") <= cutoff.value).sum())
    assert 0 < kept < db.num_rows("events")
    x_full = full.col_stats_dict["events"]["x"][torch_frame.data.stats.StatType.MEAN]
    x_early = early.col_stats_dict["events"]["x"][torch_frame.data.stats.StatType.MEAN]
    assert x_full != x_early
    # The untimed table's statistics come from all its rows.
    _assert_same(early.col_stats_dict["users"], full.col_stats_dict["users"])
    # Changing only rows after the cutoff changes no statistic.
    tables = {name: db.table(name) for name in db.table_names}
    late = db.time_ns("events") > cutoff.value
    tables["events"].loc[late, "x"] = 1e9
    tables["events"].loc[late, "kind"] = "unseen"
    changed = build_graph(RelationalDatabase(tables, dict(db.schema)), stats_until=cutoff)
    _assert_same(changed.col_stats_dict, early.col_stats_dict)
    feat = changed.tf_dict["events"].feat_dict[torch_frame.numerical]
    x_col = changed.tf_dict["events"].col_names_dict[torch_frame.numerical].index("x")
    assert torch.all(feat[torch.from_numpy(late), x_col] == 1e9)


@pytest.mark.parametrize("kwargs, match", [
    ({"stats_until": "not a date"}, "stats_until must be a timestamp.*'not a date'"),
    ({"stats_until": pd.NaT}, "stats_until must be a timestamp"),
    ({"stats_until": [2005]}, "stats_until must be a timestamp"),
])
def test_bad_stats_until_raises(tiny, kwargs, match):
    db, _ = tiny
    with pytest.raises(ValueError, match=match):
        build_graph(db, **kwargs)


def test_stats_until_with_reference_raises(tiny):
    db, graph = tiny
    with pytest.raises(ValueError, match="either reference or .*stats_until"):
        build_graph(db, reference=graph, stats_until="2020-01-02")


def test_reference_keeps_constant_column(tiny):
    db, graph = tiny  # "links" has no feature column
    again = build_graph(db, reference=graph)
    _assert_graphs_equal(again, graph)
    assert again.col_types["links"] == {CONST_COLUMN: torch_frame.numerical}
