"""Composite primary and foreign keys: ``"primary_key": ["order_id", "line_no"]`` and
``"foreign_keys": {("order_id", "line_no"): "order_lines"}``, from validation to the
estimators, on tiny hand-built databases with exact expected values."""

from __future__ import annotations

import copy
import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from relcontrast import (
    RelationalAggregator,
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
)
from relcontrast.database import TableSchema
from relcontrast.graph import build_graph
from relcontrast.io import read_database, read_schema, schema_to_yaml
from relcontrast.rows import rows_to_seeds

# the classifiers' inner validation split of a dozen rows may hold one class
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")

TINY = dict(hidden_channels=16, max_steps=4, batch_size=32, random_state=0)
T = pd.Timestamp


def shop():
    """orders <- order_lines (key (order_id, line_no)) <- returns, rows deliberately not in
    key order."""
    orders = pd.DataFrame({
        "order_id": [30, 10, 20],
        "customer": ["c1", "c1", "c2"],
        "placed": pd.to_datetime(["2021-03-01", "2021-01-01", "2021-02-01"]),
    })
    lines = pd.DataFrame({
        "order_id": [10, 30, 10, 20, 30, 30],
        "line_no": [2, 1, 1, 1, 3, 2],
        "price": [5.0, 7.0, 3.0, 11.0, 2.0, 4.0],
        "product": ["b", "a", "a", "c", "b", "a"],
        "placed": pd.to_datetime(["2021-01-01", "2021-03-01", "2021-01-01", "2021-02-01",
                                  "2021-03-01", "2021-03-01"]),
    })
    returns = pd.DataFrame({
        "return_id": ["r1", "r2", "r3", "r4"],
        "order_id": [30, 10, 30, 10],
        "line_no": [2, 1, 2, 2],
        "refund": [4.0, 3.0, 2.0, 5.0],
        "returned": pd.to_datetime(["2021-03-05", "2021-01-10", "2021-04-01", "2021-01-20"]),
    })
    schema = {
        "orders": {"primary_key": "order_id", "time_column": "placed"},
        "order_lines": {"primary_key": ["order_id", "line_no"],
                        "foreign_keys": {"order_id": "orders"}, "time_column": "placed"},
        "returns": {"primary_key": "return_id",
                    "foreign_keys": {("order_id", "line_no"): "order_lines"},
                    "time_column": "returned"},
    }
    return {"orders": orders, "order_lines": lines, "returns": returns}, schema


def baseball(n_players=48, seed=0):
    """teams keyed by (yearID, teamID), referenced by players; a label per team."""
    rng = np.random.default_rng(seed)
    years = np.repeat([1999, 2001, 2004], 4)
    codes = np.tile(["BOS", "NYA", "SEA", "OAK"], 3)
    teams = pd.DataFrame({"yearID": years, "teamID": codes,
                          "wins": rng.integers(60, 100, len(years)),
                          "season": pd.to_datetime([f"{y}-04-01" for y in years])})
    team = rng.integers(0, len(years), n_players)
    players = pd.DataFrame({"playerID": [f"p{i:03d}" for i in range(n_players)],
                            "yearID": years[team], "teamID": codes[team],
                            "hr": rng.integers(0, 40, n_players).astype(float),
                            "debut": pd.to_datetime([f"{y}-05-01" for y in years[team]])})
    schema = {"teams": {"primary_key": ("yearID", "teamID"), "time_column": "season"},
              "players": {"primary_key": "playerID",
                          "foreign_keys": {("yearID", "teamID"): "teams"},
                          "time_column": "debut"}}
    return {"teams": teams, "players": players}, schema


@pytest.fixture(scope="module")
def shop_db():
    return RelationalDatabase(*shop())


# -- the database ---------------------------------------------------------------------------
def test_composite_keys_map_to_row_positions(shop_db):
    db = shop_db
    assert db.schema["order_lines"].primary_key == ("order_id", "line_no")
    assert isinstance(db.keys("order_lines"), pd.MultiIndex)
    lines_fk, returns_fk = db.foreign_keys
    # order_lines.order_id -> orders: 10, 30, 10, 20, 30, 30 -> rows 1, 0, 1, 2, 0, 0
    assert lines_fk.column == "order_id" and lines_fk.columns == ("order_id",)
    np.testing.assert_array_equal(lines_fk.dst_index, [1, 0, 1, 2, 0, 0])
    # returns (30, 2), (10, 1), (30, 2), (10, 2) -> order_lines rows 5, 2, 5, 0
    assert returns_fk.column == ("order_id", "line_no")
    assert returns_fk.columns == ("order_id", "line_no")
    assert returns_fk.referenced_table == "order_lines"
    np.testing.assert_array_equal(returns_fk.src_index, [0, 1, 2, 3])
    np.testing.assert_array_equal(returns_fk.dst_index, [5, 2, 5, 0])
    np.testing.assert_array_equal(
        db.key_to_index("order_lines", [(20, 1), (30, 3), (10, 2)]), [3, 4, 0])


def test_key_to_index_accepts_frames_multiindex_and_tuples(shop_db):
    frame = pd.DataFrame({"line_no": [1, 2], "extra": ["x", "y"], "order_id": [30, 10]})
    np.testing.assert_array_equal(shop_db.key_to_index("order_lines", frame), [1, 0])
    mi = pd.MultiIndex.from_tuples([(30, 1), (10, 2)])
    np.testing.assert_array_equal(shop_db.key_to_index("order_lines", mi), [1, 0])
    np.testing.assert_array_equal(shop_db.key_to_index("order_lines", np.array([[30, 1]])),
                                  [1])
    assert shop_db.key_to_index("order_lines", []).shape == (0,)
    with pytest.raises(ValueError, match=r"2 keys not found in table 'order_lines' primary key "
                                         r"\('order_id', 'line_no'\): \[\(10, 9\), \(99, 1\)\]"):
        shop_db.key_to_index("order_lines", [(10, 9), (99, 1), (10, 1), (10, 9)])
    with pytest.raises(ValueError, match=r"composite primary key \('order_id', 'line_no'\): "
                                         r"give its keys as a DataFrame .* got 10"):
        shop_db.key_to_index("order_lines", [10, 20])
    with pytest.raises(ValueError, match=r"lack the primary-key column\(s\) \['line_no'\]"):
        shop_db.key_to_index("order_lines", pd.DataFrame({"order_id": [10]}))
    with pytest.raises(TypeError, match=r"column 'line_no' holds string values .*'order_lines' "
                                        r"primary-key column 'line_no' holds number values"):
        shop_db.key_to_index("order_lines", [(10, "1")])


def test_key_columns_are_flat_unique_and_never_features(shop_db):
    spec = shop_db.schema["order_lines"]
    assert spec.primary_key_columns == ("order_id", "line_no")
    assert spec.key_columns == ("order_id", "line_no")  # order_id is key and FK: once
    assert shop_db.schema["returns"].key_columns == ("return_id", "order_id", "line_no")
    graph = build_graph(shop_db)
    assert set(graph.col_types["order_lines"]) == {"price", "product"}
    assert set(graph.col_types["returns"]) == {"refund"}
    assert list(graph.edge_types) == [  # a composite foreign key: one relation, columns joined
        ("order_lines", "f2p_order_id", "orders"), ("orders", "rev_f2p_order_id", "order_lines"),
        ("returns", "f2p_order_id,line_no", "order_lines"),
        ("order_lines", "rev_f2p_order_id,line_no", "returns")]
    assert graph.reverse_edge_type(graph.edge_types[2]) == graph.edge_types[3]
    with pytest.raises(ValueError, match=r"'line_no' is a primary or foreign key"):
        build_graph(shop_db, column_types={"returns": {"line_no": "numerical"}})
    assert "order_lines: 6 rows, pk=('order_id', 'line_no'), fk order_id->orders" in (
        shop_db.summary())
    assert "returns: 4 rows, pk='return_id', fk (order_id, line_no)->order_lines" in (
        shop_db.summary())


def test_table_schema_normalises_lists_and_pickles():
    spec = TableSchema(["a", "b"], {("c", "d"): "t", "e": "u"}, "ts")
    assert spec.primary_key == ("a", "b")
    assert TableSchema(["a"]).primary_key == "a"
    assert spec.key_columns == ("a", "b", "c", "d", "e")
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert spec.to_dict() == {"primary_key": ("a", "b"), "foreign_keys": {("c", "d"): "t",
                                                                           "e": "u"},
                              "time_column": "ts"}


def test_upto_and_pickle_keep_composite_links(shop_db):
    sub = shop_db.upto("2021-02-15")
    assert sub.num_rows("order_lines") == 3 and sub.num_rows("returns") == 2
    # returns r2 (10, 1) and r4 (10, 2) -> rows of (10, 2), (10, 1), (20, 1): 1 and 0
    np.testing.assert_array_equal(sub.foreign_keys[1].dst_index, [1, 0])
    again = pickle.loads(pickle.dumps(shop_db))
    np.testing.assert_array_equal(again.foreign_keys[1].dst_index, [5, 2, 5, 0])
    assert again.schema["returns"].foreign_keys == {("order_id", "line_no"): "order_lines"}


def test_nulls_in_a_composite_foreign_key_mean_no_link_and_no_warning():
    tables, schema = shop()
    tables["returns"]["line_no"] = pd.array([2, None, 2, 2], dtype="Int64")
    tables["returns"].loc[2, "order_id"] = 999  # dangling, and this one is counted
    with pytest.warns(UserWarning, match=r"composite foreign key \('order_id', 'line_no'\) has "
                                         r"1 value\(s\) not present in the key "
                                         r"\('order_id', 'line_no'\) of 'order_lines' \(e.g. "
                                         r"\(999, 2\) in row 2\); "
                                         r"dropped those 1 link"):
        db = RelationalDatabase(tables, schema)
    fk = db.foreign_keys[1]
    np.testing.assert_array_equal(fk.src_index, [0, 3])
    np.testing.assert_array_equal(fk.dst_index, [5, 0])
    with pytest.raises(ValueError, match=r"of 'order_lines' .* fix them, or pass "
                                         r"on_dangling='warn'"):
        RelationalDatabase(tables, schema, on_dangling="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        db = RelationalDatabase(tables, schema, on_dangling="ignore")
    np.testing.assert_array_equal(db.foreign_keys[1].src_index, [0, 3])


def test_float_and_categorical_key_columns_match_integer_keys():
    tables, schema = shop()
    returns = tables["returns"]
    returns["order_id"] = returns["order_id"].astype(float)
    returns["line_no"] = pd.Categorical(returns["line_no"])
    db = RelationalDatabase(tables, schema)
    np.testing.assert_array_equal(db.foreign_keys[1].dst_index, [5, 2, 5, 0])


def set_(table, col, values):
    return lambda t, s: t[table].__setitem__(col, values)


@pytest.mark.parametrize("mutate, error, match", [
    (set_("order_lines", "line_no", [2, 1, 1, 1, 3, 1]), ValueError,
     r"Table 'order_lines': composite primary key \('order_id', 'line_no'\) has duplicate "
     r"values \(2 rows share a key, e.g. \(30, 1\)\)\. Deduplicate .*unique together"),
    (set_("order_lines", "line_no", [2, 1, 1, None, 3, 2]), ValueError,
     r"Table 'order_lines': composite primary key \('order_id', 'line_no'\) has 1 null "
     r"value\(s\) in column 'line_no' \(first at row 3\)"),
    (set_("returns", "line_no", ["2", "1", "2", "2"]), TypeError,
     r"Table 'returns': composite foreign key \('order_id', 'line_no'\) column 'line_no' holds "
     r"string values \(e.g. '2'.*'order_lines'.'line_no' holds number values.*astype\('int64'\)"),
    (lambda t, s: s["returns"].update(foreign_keys={"order_id": "order_lines"}), ValueError,
     r"Table 'returns': foreign key 'order_id' has 1 column\(s\) but the primary key "
     r"\('order_id', 'line_no'\) of 'order_lines' has 2\. A foreign key names one column per "
     r"primary-key column.*\{\('order_id', 'line_no'\): 'order_lines'\}"),
    (lambda t, s: s["order_lines"].update(foreign_keys={("order_id", "line_no"): "orders"}),
     ValueError, r"composite foreign key \('order_id', 'line_no'\) has 2 column\(s\) but the "
                 r"primary key 'order_id' of 'orders' has 1.*\{'order_id': 'orders'\}"),
    (lambda t, s: s["order_lines"].update(primary_key=["order_id", "line"]), ValueError,
     r"Table 'order_lines' has no column 'line' named in its schema.*Did you mean 'line_no'"),
    (lambda t, s: s["returns"].update(foreign_keys={("order_id", "line"): "order_lines"}),
     ValueError, r"Table 'returns' has no column 'line' named in its schema"),
    (lambda t, s: s["order_lines"].update(primary_key=[]), ValueError,
     r"schema\['order_lines'\]\['primary_key'\] is an empty list"),
    (lambda t, s: s["order_lines"].update(primary_key=["order_id", "order_id"]), ValueError,
     r"schema\['order_lines'\]\['primary_key'\] lists column 'order_id' twice"),
    (lambda t, s: s["order_lines"].update(primary_key={"order_id", "line_no"}), TypeError,
     r"schema\['order_lines'\]\['primary_key'\] must be a column name or a list of column "
     r"names \(a list keeps their order\)"),
    (lambda t, s: s["order_lines"].update(primary_key=[["order_id", "line_no"]]), TypeError,
     r"must be a column name or a flat list of column names"),
    (lambda t, s: s["returns"].update(foreign_keys={("order_id", "line_no"): ["order_lines"]}),
     TypeError, r"schema\['returns'\]\['foreign_keys'\]\[\('order_id', 'line_no'\)\] must be "
                r"the name of the referenced table"),
    (lambda t, s: s["returns"].update(foreign_keys={("order_id", "line_no"): "lines"}),
     ValueError, r"Table 'returns': composite foreign key \('order_id', 'line_no'\) references "
                 r"unknown table 'lines'"),
    (lambda t, s: s["returns"].update(time_column=["returned"]), TypeError,
     r"schema\['returns'\]\['time_column'\] must be one column name"),
])
def test_composite_key_errors_name_table_column_and_fix(mutate, error, match):
    tables, schema = shop()
    mutate(tables, schema)
    with pytest.raises(error, match=match):
        RelationalDatabase(tables, schema)


def test_callers_frames_and_schema_are_unchanged():
    tables, schema = shop()
    before, schema_before = copy.deepcopy(tables), copy.deepcopy(schema)
    db = RelationalDatabase(tables, schema)
    db.upto("2021-02-01")
    for name, df in tables.items():
        pd.testing.assert_frame_equal(df, before[name])
    assert schema == schema_before


# -- rows X ---------------------------------------------------------------------------------
def test_rows_carry_every_key_column(shop_db):
    X = pd.DataFrame({"line_no": [3, 1], "order_id": [30, 10],
                      "cutoff": pd.to_datetime(["2021-05-01", "2021-06-01"])})
    table, tcol, index, times = rows_to_seeds(shop_db, X, None, None)
    assert (table, tcol) == ("order_lines", "cutoff")  # not orders, whose key it includes
    np.testing.assert_array_equal(index, [4, 2])
    np.testing.assert_array_equal(times, [T("2021-05-01").value,
                                          T("2021-06-01").value])
    with pytest.raises(ValueError, match=r"X has no column 'line_no', a column of the primary "
                                         r"key of target table 'order_lines'"):
        rows_to_seeds(shop_db, X.drop(columns="line_no"), "order_lines", None)
    with pytest.raises(ValueError, match=r"1 entity ids of X\[\['order_id', 'line_no'\]\] not "
                                         r"found in table 'order_lines'.*\[\(30, 9\)\]"):
        rows_to_seeds(shop_db, X.assign(line_no=[9, 1]), None, None)
    with pytest.raises(ValueError, match=r"entity ids of X\[\['order_id', 'line_no'\]\]: column "
                                         r"'line_no' of the key of table 'order_lines' has 1 "
                                         r"null"):
        rows_to_seeds(shop_db, X.assign(line_no=[None, 1]), None, None)


def test_a_datetime_key_column_is_not_taken_as_the_cutoff():
    days = pd.to_datetime(["2021-01-01", "2021-01-02"])
    sales = pd.DataFrame({"store": ["s", "s"], "day": days, "units": [3.0, 4.0]})
    db = RelationalDatabase({"sales": sales}, {"sales": {"primary_key": ["store", "day"],
                                                         "time_column": "day"}})
    X = pd.DataFrame({"store": ["s"], "day": days[1:], "cutoff": [T("2021-02-01")]})
    assert rows_to_seeds(db, X, None, None)[1] == "cutoff"
    with pytest.raises(ValueError, match="X has no datetime column"):
        rows_to_seeds(db, X.drop(columns="cutoff"), None, None)
    assert rows_to_seeds(db, X.drop(columns="cutoff"), None, "day")[1] == "day"


# -- schema files ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_schema_file_with_composite_keys_end_to_end(tmp_path, fmt):
    tables, schema = shop()
    folder = tmp_path / "shop"
    folder.mkdir()
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    if fmt == "yaml":
        path = tmp_path / "schema.yaml"
        path.write_text(schema_to_yaml(schema))
        assert "- columns: [order_id, line_no]\n      references: order_lines" in (
            path.read_text())
    else:
        path = tmp_path / "schema.json"
        path.write_text(json.dumps({
            "orders": {"primary_key": "order_id", "time_column": "placed"},
            "order_lines": {"primary_key": ["order_id", "line_no"],
                            "foreign_keys": {"order_id": "orders"}, "time_column": "placed"},
            "returns": {"primary_key": "return_id", "time_column": "returned",
                        "foreign_keys": [{"columns": ["order_id", "line_no"],
                                          "references": "order_lines"}]}}))
    assert read_schema(path)["returns"]["foreign_keys"] == {
        ("order_id", "line_no"): "order_lines"}
    db = read_database(folder, path)
    assert db.schema["order_lines"].primary_key == ("order_id", "line_no")
    np.testing.assert_array_equal(db.foreign_keys[1].dst_index, [5, 2, 5, 0])


# -- estimators -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def baseball_encoder():
    tables, schema = baseball()
    return RelationalContrastiveEncoder(**TINY).fit(tables, schema), tables


def test_encoder_and_classifier_on_a_composite_target(baseball_encoder):
    enc, tables = baseball_encoder
    teams = tables["teams"]
    X = teams[["teamID", "yearID"]].assign(date=T("2005-01-01"))
    Z = enc.transform(X)
    assert Z.shape == (12, 16) and np.isfinite(Z).all()
    # rows name entities, not positions: reordering X reorders the embeddings
    np.testing.assert_allclose(enc.transform(X.iloc[::-1]), Z[::-1], rtol=1e-5, atol=1e-6)
    # a team does not exist before its season: embedding it then would read its future
    with pytest.raises(ValueError, match=r"12 rows of X have a cutoff before their 'teams' "
                                         r"row's own time \(column 'season'\); first: row 0, "
                                         r"\{'yearID': 1999, 'teamID': 'BOS'\}"):
        enc.transform(X.assign(date=T("1990-01-01")))
    y = np.where(teams["wins"] > 80, "good", "bad")
    clf = RelationalClassifier(encoder=enc, max_epochs=1, batch_size=32, random_state=0)
    clf.fit(X, y)
    assert set(clf.predict(X)) <= {"bad", "good"}
    assert clf.predict_proba(X).shape == (12, 2)
    with pytest.raises(ValueError, match=r"X has no column 'yearID', a column of the primary "
                                         r"key of target table 'teams'"):
        clf.predict(X.drop(columns="yearID"))


def test_encoder_and_classifier_on_rows_referencing_a_composite_key():
    tables, schema = shop()
    enc = RelationalContrastiveEncoder(**TINY).fit(tables, schema)
    X = tables["returns"][["return_id"]].assign(cutoff=T("2021-12-31"))
    Z = enc.transform(X)
    assert Z.shape == (4, 16) and np.isfinite(Z).all()
    lines = tables["order_lines"][["order_id", "line_no"]].assign(cutoff=T("2021-12-31"))
    assert enc.transform(lines).shape == (6, 16)
    clf = RelationalClassifier(encoder=enc, max_epochs=1, batch_size=32, random_state=0)
    clf.fit(lines, [0, 1, 0, 1, 0, 1])
    assert clf.predict(lines).shape == (6,)


# -- the aggregator -------------------------------------------------------------------------
def test_aggregator_over_a_composite_foreign_key_into_a_composite_target(shop_db):
    X = pd.DataFrame({"order_id": [30, 10, 10, 20],
                      "line_no": [2, 1, 2, 1],
                      "cutoff": pd.to_datetime(["2021-03-31", "2021-12-31", "2021-01-15",
                                                "2021-12-31"])})
    agg = RelationalAggregator(database=shop_db, windows=("all",), max_hops=1,
                               recency=False).fit(X)
    assert agg.target_table_ == "order_lines"
    assert agg.paths_ == ("returns.(order_id,line_no)",)
    # key columns are never aggregated: the count, then refund's aggregates and shares
    names = [n.removeprefix("returns.(order_id,line_no)|all|")
             for n in agg.get_feature_names_out()]
    assert names[:5] == ["count", "refund|mean", "refund|min", "refund|max", "refund|last"]
    assert all(n.startswith("refund=") for n in names[5:])
    Z = agg.transform(X)
    # (30, 2): r1 (4.0) by 2021-03-31, r3 comes later; (10, 1): r2 (3.0);
    # (10, 2): r4 is dated after the cutoff; (20, 1): never returned
    assert Z["returns.(order_id,line_no)|all|count"].tolist() == [1.0, 1.0, 0.0, 0.0]
    np.testing.assert_array_equal(Z["returns.(order_id,line_no)|all|refund|mean"],
                                  [4.0, 3.0, np.nan, np.nan])


def test_aggregator_two_hops_through_a_composite_foreign_key(shop_db):
    X = pd.DataFrame({"order_id": [10, 30, 20], "cutoff": [T("2021-12-31")] * 3})
    agg = RelationalAggregator(database=shop_db, windows=("all",)).fit(X)
    assert agg.paths_ == ("order_lines.order_id",
                          "order_lines.order_id>returns.(order_id,line_no)")
    Z = agg.transform(X)
    path = "order_lines.order_id>returns.(order_id,line_no)|all|"
    assert Z["order_lines.order_id|all|count"].tolist() == [2.0, 3.0, 1.0]
    assert Z[path + "count"].tolist() == [2.0, 2.0, 0.0]
    np.testing.assert_array_equal(Z[path + "refund|max"], [5.0, 4.0, np.nan])
    # the parent path from returns over its composite key reaches order_lines' columns
    X_returns = pd.DataFrame({"order_id": [30], "cutoff": [T("2021-12-31")]})
    assert agg.transform(X_returns)[path + "refund|mean"].tolist() == [3.0]
