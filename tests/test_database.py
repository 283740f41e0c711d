from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone

from relcontrast import RelationalDatabase
from relcontrast.testing import make_synthetic_database


def tiny():
    users = pd.DataFrame({"uid": ["b", "a", "c"], "age": [30, 40, 50]})
    orders = pd.DataFrame({
        "oid": [10**15, 7, 3, 99],
        "uid": ["a", "a", "c", "b"],
        "ts": pd.to_datetime(["2020-01-03", "2020-01-01", "2020-01-02", "2020-02-01"]),
        "amount": [1.0, 2.0, 3.0, 4.0],
    })
    schema = {"users": {"primary_key": "uid"},
              "orders": {"primary_key": "oid", "foreign_keys": {"uid": "users"},
                         "time_column": "ts"}}
    return {"users": users, "orders": orders}, schema


def test_keys_of_any_dtype_map_to_row_positions():
    tables, schema = tiny()
    db = RelationalDatabase(tables, schema)
    (fk,) = db.foreign_keys
    assert (fk.table, fk.column, fk.referenced_table) == ("orders", "uid", "users")
    # orders rows 0..3 reference users a, a, c, b -> rows 1, 1, 2, 0
    np.testing.assert_array_equal(fk.src_index, [0, 1, 2, 3])
    np.testing.assert_array_equal(fk.dst_index, [1, 1, 2, 0])
    np.testing.assert_array_equal(db.key_to_index("orders", [7, 10**15, 99]), [1, 0, 3])
    assert db.time_ns("users") is None
    assert pd.Timestamp(db.time_ns("orders")[1]) == pd.Timestamp("2020-01-01")


def test_callers_frames_are_never_modified():
    tables, schema = make_synthetic_database()
    before = {k: v.copy(deep=True) for k, v in tables.items()}
    schema_before = copy.deepcopy(schema)
    db = RelationalDatabase(tables, schema)
    db.upto("2020-06-01")
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], before[name])
    assert schema == schema_before
    # ... and later changes to the caller's frames do not reach the database
    tables["users"].loc[0, "age"] = -1.0
    assert db.frame("users").loc[0, "age"] != -1.0
    # a returned table is a copy
    t = db.table("users")
    t.loc[0, "age"] = -5.0
    assert db.frame("users").loc[0, "age"] != -5.0


def test_immutable_and_never_copied():
    db = RelationalDatabase(*tiny())
    assert copy.deepcopy(db) is db
    assert copy.copy(db) is db
    with pytest.raises(AttributeError, match="immutable"):
        db.foo = 1

    class Holder(BaseEstimator):
        def __init__(self, database=None):
            self.database = database

    assert clone(Holder(database=db)).database is db


def test_pickle_round_trip():
    db = RelationalDatabase(*make_synthetic_database())
    db2 = pickle.loads(pickle.dumps(db))
    assert db2.table_names == db.table_names
    for a, b in zip(db.foreign_keys, db2.foreign_keys, strict=True):
        np.testing.assert_array_equal(a.dst_index, b.dst_index)


def test_upto_keeps_untimed_tables_whole():
    db = RelationalDatabase(*tiny())
    sub = db.upto("2020-01-02")
    assert sub.num_rows("users") == 3
    assert sub.num_rows("orders") == 2
    assert list(sub.frame("orders")["oid"]) == [7, 3]
    np.testing.assert_array_equal(sub.foreign_keys[0].dst_index, [1, 2])


def test_self_reference_and_cycles_work():
    a = pd.DataFrame({"id": [1, 2, 3], "parent": [np.nan, 1, 2], "b_id": [5, 6, 5]})
    b = pd.DataFrame({"id": [5, 6], "a_id": [3, 1]})
    db = RelationalDatabase({"a": a, "b": b}, {
        "a": {"primary_key": "id", "foreign_keys": {"parent": "a", "b_id": "b"}},
        "b": {"primary_key": "id", "foreign_keys": {"a_id": "a"}},
    })
    parent = db.foreign_keys[0]
    np.testing.assert_array_equal(parent.src_index, [1, 2])  # the null parent has no edge
    np.testing.assert_array_equal(parent.dst_index, [0, 1])


def test_dangling_foreign_keys_warn_drop_or_raise():
    tables, schema = tiny()
    tables["orders"].loc[2, "uid"] = "zzz"
    with pytest.warns(UserWarning, match=r"'orders'.*'uid'.*1 value\(s\) not present.*'zzz'"):
        db = RelationalDatabase(tables, schema)
    np.testing.assert_array_equal(db.foreign_keys[0].src_index, [0, 1, 3])
    with pytest.raises(ValueError, match="not present in 'users'.'uid'"):
        RelationalDatabase(tables, schema, on_dangling="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RelationalDatabase(tables, schema, on_dangling="ignore")


@pytest.mark.parametrize("mutate, error, match", [
    (lambda t, s: s["orders"]["foreign_keys"].update(uid="customers"), ValueError,
     r"Table 'orders': foreign key 'uid' references unknown table 'customers'"),
    (lambda t, s: s["orders"].update(time_column="when"), ValueError,
     r"Table 'orders' has no column 'when'"),
    (lambda t, s: t["users"].__setitem__("uid", ["a", "a", "c"]), ValueError,
     r"Table 'users': primary key 'uid' has duplicate values .*'a'"),
    (lambda t, s: t["users"].__setitem__("uid", ["a", None, "c"]), ValueError,
     r"Table 'users': primary key 'uid' has 1 null"),
    (lambda t, s: t["orders"].__setitem__("uid", [1, 1, 2, 3]), TypeError,
     r"Table 'orders': foreign key 'uid' holds number values .*'users'.'uid' holds string"),
    (lambda t, s: t["orders"].__setitem__("ts", ["2020-01-01", "yesterday", "x", "y"]),
     ValueError, r"Table 'orders': time column 'ts' cannot be parsed .*'yesterday'"),
    (lambda t, s: t["orders"].__setitem__("ts", [1, 2, 3, 4]), TypeError,
     r"time column 'ts' has numeric dtype"),
    (lambda t, s: s["users"].update(primary_kee="uid"), ValueError,
     r"schema\['users'\] has unknown key 'primary_kee'.*Did you mean 'primary_key'"),
    (lambda t, s: s.pop("users"), ValueError, r"tables \['users'\] have no schema entry"),
    (lambda t, s: s.update(payments={}), ValueError, r"schema names table 'payments'"),
])
def test_validation_errors_name_table_column_and_fix(mutate, error, match):
    tables, schema = tiny()
    mutate(tables, schema)
    with pytest.raises(error, match=match):
        RelationalDatabase(tables, schema)


def test_empty_schema_and_wrong_types():
    tables, _ = tiny()
    with pytest.raises(ValueError, match="schema is empty"):
        RelationalDatabase(tables, {})
    with pytest.raises(TypeError, match="Table 'users' must be a pandas DataFrame"):
        RelationalDatabase({"users": [1, 2]}, {"users": {}})
    with pytest.raises(ValueError, match="which has no primary key"):
        RelationalDatabase(*tiny()[:1], {"users": {}, "orders": {
            "foreign_keys": {"uid": "users"}}})


def test_unknown_entity_ids_raise():
    db = RelationalDatabase(*tiny())
    with pytest.raises(ValueError, match=r"1 keys not found in table 'users'.*'zz'"):
        db.key_to_index("users", ["a", "zz"])


def test_string_times_and_timezones_are_parsed():
    tables, schema = tiny()
    tables["orders"]["ts"] = ["2020-01-03", "2020-01-01", "2020-01-02", "2020-02-01"]
    db = RelationalDatabase(tables, schema)
    assert db.max_time == pd.Timestamp("2020-02-01")
    tables["orders"]["ts"] = pd.to_datetime(tables["orders"]["ts"]).dt.tz_localize("Europe/Prague")
    db = RelationalDatabase(tables, schema)
    assert db.max_time == pd.Timestamp("2020-01-31 23:00")


def test_from_relbench_database():
    from relbench.base import Database, Table

    tables, _ = tiny()
    rb = Database({
        "users": Table(tables["users"], {}, pkey_col="uid"),
        "orders": Table(tables["orders"], {"uid": "users"}, pkey_col="oid", time_col="ts"),
    })
    db = RelationalDatabase.from_relbench(rb)
    assert db.schema["orders"].foreign_keys == {"uid": "users"}
    assert db.schema["orders"].time_column == "ts"
    with pytest.raises(TypeError, match="expects a relbench Database"):
        RelationalDatabase.from_relbench(42)


def test_summary_mentions_every_table():
    db = RelationalDatabase(*make_synthetic_database())
    text = db.summary()
    for name in db.table_names:
        assert f"  {name}:" in text


@pytest.mark.parametrize("cutoff, match", [
    ("1066-01-01", r"The cutoff '1066-01-01' is not a time relcontrast can represent .*between "
                   r"1677-09-21 and 2262-04-11"),
    ("soon", r"The cutoff 'soon' is not a time relcontrast can represent"),
    (None, r"The cutoff None is not a time"),
])
def test_upto_rejects_cutoffs_that_are_not_times(cutoff, match):
    with pytest.raises(ValueError, match=match):
        RelationalDatabase(*tiny()).upto(cutoff)


def test_upto_converts_an_aware_cutoff_to_utc():
    db = RelationalDatabase(*tiny())
    # 2020-01-02 00:30 in Prague is 2020-01-01 23:30 UTC: the order of 01-02 is not yet in
    assert db.upto(pd.Timestamp("2020-01-02 00:30", tz="Europe/Prague")).num_rows("orders") == 1
    assert db.upto(pd.Timestamp("2020-01-02 01:30", tz="Europe/Prague")).num_rows("orders") == 2
