"""The bad-input matrix: each case is a database, rows X or targets y that a user may well
hand over. It either works (the documented behaviour, asserted on the real pipeline: a
RelationalDatabase, a tiny RelationalContrastiveEncoder fit / transform and, where y matters,
a RelationalClassifier) or raises ValueError / TypeError naming the table, the column and the
fix. Never an AssertionError, a bare KeyError / IndexError, or an error from deep inside
torch, PyG or torch-frame; and the caller's frames, schema dict, X and y are unchanged
afterwards in every case. docs/troubleshooting.md explains every error listed here.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from torch_frame.data.stats import StatType

from relcontrast import RelationalClassifier, RelationalContrastiveEncoder, RelationalDatabase

TINY = dict(hidden_channels=16, max_steps=4, batch_size=32, num_layers=1, num_neighbors=(4,),
            random_state=0)
CLF = dict(max_epochs=1, batch_size=32, num_neighbors=TINY["num_neighbors"], random_state=0)
LATE = pd.Timestamp("2021-01-01")

# the classifiers' inner validation split of a few rows may hold one class
# and huge floats overflow float32 when torch-frame casts them (they become missing)
pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning"),
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]


def base():
    """users <- orders: twelve users with non-consecutive integer ids, eighteen orders."""
    users = pd.DataFrame({
        "user_id": [101, 205, 37, 4000, 52, 66, 7, 8, 9000, 10, 11, 12],
        "age": [31.0, 45.0, np.nan, 23.0, 52.0, 38.0, 61.0, 19.0, 27.0, np.nan, 33.0, 48.0],
        "country": ["de", "fr", "cz", None, "de", "fr", "us", "us", "cz", "de", None, "fr"],
        "bio": ["likes tea", "runs marathons", "cooks", None, "reads books", "plays chess",
                "sails", "paints", None, "sings", "hikes", "codes"],
        "signup": pd.date_range("2020-01-03", periods=12, freq="6D"),
    })
    orders = pd.DataFrame({
        "order_id": np.arange(18) * 7 + 3,
        "user_id": [101, 205, 37, 101, 4000, 52, 66, 205, 101, 37, 52, 66, 7, 8, 9000, 10,
                    11, 12],
        "amount": np.round(np.linspace(1.0, 30.0, 18), 2),
        "status": ["paid", "shipped", "returned"] * 6,
        "ts": pd.date_range("2020-03-02", periods=18, freq="9D"),
    })
    schema = {"users": {"primary_key": "user_id", "time_column": "signup"},
              "orders": {"primary_key": "order_id", "foreign_keys": {"user_id": "users"},
                         "time_column": "ts"}}
    return {"users": users, "orders": orders}, schema


def users_x(tables, time=LATE):
    """Every user as of ``time``."""
    return pd.DataFrame({"user_id": tables["users"]["user_id"].to_numpy(), "date": time})


Y = np.array([0, 1] * 6)


@dataclass
class Case:
    """One row of the matrix.

    ``make(tables, schema)`` edits fresh copies of :func:`base` (or returns new ones);
    ``stage`` says how far the case runs: ``"database"`` (RelationalDatabase only;
    ``"database-raise"`` with ``on_dangling="raise"``, ``"database-list"`` given the
    tables as a list), ``"fit"`` (encoder fit and transform of ``x``, and a classifier when
    ``y`` is given; ``"fit-early"`` pretrains up to 2020-05-01 only), ``"x"`` (the shared
    fitted encoder transforms ``x``; ``"x-time_column"`` an encoder with
    ``time_column="date"``), ``"y"`` (a classifier on the shared encoder fits ``x``,
    ``y``, and ``check`` gets its probabilities). ``raises`` = (exception types, regex) for an error
    case, None for a case that works; ``warns`` a regex of an expected UserWarning;
    ``check(Z)`` asserts on the embeddings of a working case, ``db_check(db)`` on the
    database it fitted (every foreign-key value that is not null must have become a link
    unless the case warns), ``enc_check(encoder)`` on the fitted encoder, fitted with
    ``enc_params`` on top of the tiny settings.
    """

    id: str
    make: Callable
    stage: str = "fit"
    raises: tuple | None = None
    warns: str | None = None
    x: Callable | None = None
    y: object = None
    check: Callable | None = None
    db_check: Callable | None = None
    enc_check: Callable | None = None
    enc_params: dict | None = None


def edit(fn):
    """A ``make`` from a function that edits the copies in place."""
    def make(tables, schema):
        fn(tables, schema)
        return tables, schema
    return make


keep = edit(lambda t, s: None)


def setcol(table, col, values):
    return edit(lambda t, s: t[table].__setitem__(col, values))


def at(table, col, changes):
    """Set ``{row position: value}`` in one column (an object column if the values need)."""
    def fn(t, s):
        values = t[table][col].astype(object).to_numpy().copy()
        for row, value in changes.items():
            values[row] = value
        t[table][col] = pd.Series(values).infer_objects()
    return edit(fn)


def schema_edit(table, **spec):
    return edit(lambda t, s: s[table].update(spec))


def finite(n=12):
    def check(Z):
        assert Z.shape == (n, 16) and np.isfinite(Z).all()
    return check


def rename_everything(t, s):
    t["usërs tablé"] = t.pop("users").rename(columns={"user_id": "usër id", "age": "âge 🎂",
                                                      "signup": "signed up"})
    t["orders"] = t["orders"].rename(columns={"user_id": "usër id", "amount": "amount €"})
    s["usërs tablé"] = {"primary_key": "usër id", "time_column": "signed up"}
    del s["users"]
    s["orders"]["foreign_keys"] = {"usër id": "usërs tablé"}


def empty_orders(t, s):
    t["orders"] = t["orders"].iloc[:0]


def only_keys(t, s):
    t["follows"] = pd.DataFrame({"follower": [101, 205, 37, 66], "followee": [205, 37, 101, 4000]})
    s["follows"] = {"foreign_keys": {"follower": "users", "followee": "users"}}


def self_reference(t, s):
    t["users"]["referrer"] = [np.nan, 101, 101, 205, np.nan, 37, 37, 7, 7, 8, np.nan, 101]
    s["users"]["foreign_keys"] = {"referrer": "users"}


def cycle(t, s):
    t["users"]["fav_order"] = [3, 10, np.nan, 17, 24, 3, 10, 10, np.nan, 31, 38, 3]
    s["users"]["foreign_keys"] = {"fav_order": "orders"}


def two_fks_same_table(t, s):
    t["orders"]["seller_id"] = t["orders"]["user_id"].to_numpy()[::-1]
    s["orders"]["foreign_keys"] = {"user_id": "users", "seller_id": "users"}


def composite(t, s):
    t["users"]["region"] = ["eu", "us"] * 6
    t["orders"]["region"] = t["orders"]["user_id"].map(
        dict(zip(t["users"]["user_id"], t["users"]["region"], strict=True)))
    s["users"]["primary_key"] = ["region", "user_id"]
    s["orders"]["foreign_keys"] = {("region", "user_id"): "users"}


def huge_ids(t, s):
    ids = np.array([2**64 - 1, 2**63 + 5, 2**63, 12, 2**62, 7, 2**64 - 2, 2**63 + 1, 3, 4,
                    2**62 + 1, 0], dtype=np.uint64)
    mapping = dict(zip(t["users"]["user_id"], ids, strict=True))
    t["users"]["user_id"] = ids
    t["orders"]["user_id"] = t["orders"]["user_id"].map(mapping).astype(np.uint64)


def one_table(t, s):
    del t["orders"], s["orders"]


def int_vs_float_nan(t, s):
    ids = t["orders"]["user_id"].astype(float)
    ids[[2, 5]] = np.nan
    t["orders"]["user_id"] = ids


def duplicate_columns(t, s):
    t["orders"] = pd.concat([t["orders"], t["orders"][["amount"]]], axis=1)


def mixed_timezones(t, s):
    t["orders"]["ts"] = [f"2020-03-{d:02d}T10:00:00{'+01:00' if d % 2 else '-05:00'}"
                         for d in range(2, 20)]


def late_new_category(t, s):
    t["orders"].loc[[16, 17], "status"] = "refunded"  # the last two orders, after the cutoff


def tiny_database(t, s):
    t["users"] = t["users"].iloc[:5]
    del t["orders"], s["orders"]


def int_column_names(t, s):
    t["users"] = t["users"].rename(columns={"age": 0, "country": 1})


def born_long_ago(t, s):
    t["users"]["born"] = pd.Series(["1066-10-14", "1990-01-01"] * 6, dtype="datetime64[s]")


def datetime_primary_key(t, s):
    t["days"] = pd.DataFrame({"day": pd.date_range("2020-03-01", periods=200, freq="D"),
                              "temperature": np.linspace(-3.0, 20.0, 200)})
    t["orders"]["day"] = t["orders"]["ts"].dt.floor("D")
    s["days"] = {"primary_key": "day"}
    s["orders"]["foreign_keys"] = {"user_id": "users", "day": "days"}


def mixed_type_keys(t, s):
    ids = np.array([101, "b", 37, "d", 52, "f", 7, "h", 9000, "j", 11, "l"], dtype=object)
    mapping = dict(zip(t["users"]["user_id"], ids, strict=True))
    t["users"]["user_id"] = ids
    t["orders"]["user_id"] = t["orders"]["user_id"].map(mapping).astype(object)


def fk_list_form(t, s):
    s["orders"]["foreign_keys"] = [{"columns": ["user_id"], "references": "users"}]


def is_unchanged(before, after):
    """Deep equality of tables / schema / X / y, frames compared with dtypes."""
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(after, before)
    elif isinstance(before, dict):
        assert list(after) == list(before)
        for k in before:
            is_unchanged(before[k], after[k])
    elif isinstance(before, (tuple, list)):
        assert type(after) is type(before) and len(after) == len(before)
        for b, a in zip(before, after, strict=True):
            is_unchanged(b, a)
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(after, before)
        assert after.dtype == before.dtype
    else:
        assert after == before or (after is not None and pd.isna(after) and pd.isna(before))


CASES = [
    # -- schema ---------------------------------------------------------------------------
    Case("fk-to-missing-table", schema_edit("orders", foreign_keys={"user_id": "customers"}),
         "database", (ValueError, r"Table 'orders': foreign key 'user_id' references unknown "
                                  r"table 'customers'.*Fix the name, or add the table")),
    Case("fk-column-missing", schema_edit("orders", foreign_keys={"uid": "users"}), "database",
         (ValueError, r"Table 'orders' has no column 'uid' named in its schema; its columns are "
                      r"\['order_id', 'user_id'.*Did you mean 'user_id'")),
    Case("key-column-missing", schema_edit("users", primary_key="id"), "database",
         (ValueError, r"Table 'users' has no column 'id' named in its schema")),
    Case("time-column-missing", schema_edit("orders", time_column="timestamp"), "database",
         (ValueError, r"Table 'orders' has no column 'timestamp' named in its schema")),
    Case("fk-to-table-without-key", schema_edit("users", primary_key=None), "database",
         (ValueError, r"Table 'orders': foreign key 'user_id' references table 'users', which "
                      r"has no primary key\. Set schema\['users'\]\['primary_key'\]")),
    Case("table-without-schema-entry", edit(lambda t, s: s.pop("orders")), "database",
         (ValueError, r"tables \['orders'\] have no schema entry; add e\.g\. "
                      r"schema\['orders'\] = \{\}")),
    Case("self-referencing-fk", edit(self_reference),
         db_check=lambda db: np.testing.assert_array_equal(db.foreign_keys[0].dst_index[:3],
                                                           [0, 0, 1])),
    Case("cyclic-fks", edit(cycle)),
    Case("two-fks-to-one-table", edit(two_fks_same_table)),
    Case("one-table-no-fks", edit(one_table), y=Y),
    Case("table-with-only-key-columns", edit(only_keys)),
    Case("empty-table", edit(empty_orders),
         db_check=lambda db: np.testing.assert_array_equal(
             [db.num_rows("orders"), db.num_rows("users")], [0, 12])),
    Case("unicode-and-space-names", edit(rename_everything),
         x=lambda t: pd.DataFrame({"usër id": t["usërs tablé"]["usër id"], "date": LATE})),
    Case("duplicate-column-names", edit(duplicate_columns), "database",
         (ValueError, r"Table 'orders' has duplicate column names \['amount'\]; .*Rename them")),
    # -- keys -----------------------------------------------------------------------------
    Case("duplicate-primary-key", at("users", "user_id", {3: 101}),
         "database", (ValueError, r"Table 'users': primary key 'user_id' has duplicate values "
                                  r"\(2 rows share a key, e\.g\. 101\)\. Deduplicate")),
    Case("null-primary-key", at("users", "user_id", {2: None}),
         "database", (ValueError, r"Table 'users': primary key 'user_id' has 1 null value\(s\) "
                                  r"in column 'user_id' \(first at row 2\)")),
    Case("dangling-fk-warns-and-drops",
         at("orders", "user_id", {10: 999}),
         warns=r"Table 'orders': foreign key 'user_id' has 1 value\(s\) not present in "
               r"'users'\.'user_id' \(e\.g\. 999 in row 10\); dropped those 1 link"),
    Case("dangling-fk-raise",
         at("orders", "user_id", {10: 999}), "database-raise",
         (ValueError, r"Table 'orders': foreign key 'user_id' has 1 value\(s\) not present in "
                      r"'users'\.'user_id'.*fix them, or pass on_dangling='warn'")),
    Case("fk-int-vs-str-key", setcol("orders", "user_id", [str(i) for i in
                                                           base()[0]["orders"]["user_id"]]),
         "database", (TypeError, r"Table 'orders': foreign key 'user_id' holds string values "
                                 r"\(e\.g\. '101'.*'users'\.'user_id' holds number values "
                                 r"\(dtype int64\)\. Cast .*astype\('int64'\)")),
    Case("fk-float-with-nan-vs-int-key", edit(int_vs_float_nan)),
    Case("fk-categorical-vs-int-key",
         edit(lambda t, s: t["orders"].__setitem__("user_id",
                                                   pd.Categorical(t["orders"]["user_id"])))),
    Case("fk-categorical-vs-categorical-str-key",
         edit(lambda t, s: [t[n].__setitem__("user_id", pd.Categorical(
             t[n]["user_id"].map(lambda v: f"u{v}"))) for n in ("users", "orders")]),
         x=lambda t: pd.DataFrame({"user_id": t["users"]["user_id"].astype(str),
                                   "date": LATE})),
    Case("composite-keys", edit(composite),
         x=lambda t: t["users"][["user_id", "region"]].assign(date=LATE), y=Y),
    Case("huge-integer-ids", edit(huge_ids),
         db_check=lambda db: np.testing.assert_array_equal(
             db.key_to_index("users", np.array([2**64 - 1, 0], dtype=np.uint64)), [0, 11])),
    # -- times ----------------------------------------------------------------------------
    Case("timezone-aware-times",
         edit(lambda t, s: t["orders"].__setitem__("ts", t["orders"]["ts"].dt.tz_localize(
             "Asia/Tokyo"))),  # to UTC
         db_check=lambda db: np.testing.assert_array_equal(
             db.time_ns("orders")[:1], [pd.Timestamp("2020-03-01 15:00").value])),
    Case("mixed-timezone-strings", edit(mixed_timezones),  # to UTC
         db_check=lambda db: np.testing.assert_array_equal(
             db.time_ns("orders")[:2], [pd.Timestamp("2020-03-02 15:00").value,
                                        pd.Timestamp("2020-03-03 09:00").value])),
    Case("unparseable-times", at("users", "signup", {1: "soon"}),
         "database", (ValueError, r"Table 'users': time column 'signup' cannot be parsed as "
                                  r"datetimes \(offending value 'soon'\)")),
    Case("out-of-range-time-strings", at("users", "signup", {1: "1066-10-14"}),
         "database", (ValueError, r"Table 'users': time column 'signup' holds 1 time\(s\) "
                                  r"outside the range relcontrast can represent \(1677-09-21 to "
                                  r"2262-04-11.*'1066-10-14' in row 1\. Fix or drop")),
    Case("out-of-range-datetime64",
         setcol("orders", "ts", np.array(["3000-01-01"] * 18, dtype="datetime64[s]")),
         "database", (ValueError, r"Table 'orders': time column 'ts' holds 18 time\(s\) "
                                  r"outside the range.*'3000-01-01 00:00:00' in row 0")),
    Case("null-times", at("users", "signup", {1: None}), "database",
         (ValueError, r"Table 'users': time column 'signup' has 1 null value\(s\) \(first at "
                      r"row 1\).*fill them or drop those rows")),
    Case("numeric-times", setcol("orders", "ts", np.arange(18) * 86400 + 1.6e9), "database",
         (TypeError, r"Table 'orders': time column 'ts' has numeric dtype float64.*"
                     r"pd\.to_datetime\(df\['ts'\], unit='s'\)")),
    # -- values ---------------------------------------------------------------------------
    Case("all-null-column", setcol("users", "age", np.nan)),
    Case("constant-column", setcol("orders", "status", "paid")),
    Case("inf-values", at("orders", "amount", {0: np.inf, 2: -np.inf, 7: np.inf})),
    Case("huge-floats", at("orders", "amount", {0: 1e300, 5: -1e300})),
    Case("huge-floats-keep-the-other-values", at("orders", "amount", {0: 1e300, 5: -1e300}),
         enc_check=lambda enc: np.testing.assert_array_less(
             enc.graph_.col_stats_dict["orders"]["amount"][StatType.STD], 1e3)),
    Case("sparse-column", edit(lambda t, s: t["orders"].__setitem__(
        "discount", pd.arrays.SparseArray([0.0, 0.0, 0.5] * 6)))),
    Case("list-valued-column", edit(lambda t, s: t["orders"].__setitem__(
        "tags", [["gift", "sale"][: i % 3] for i in range(18)]))),
    Case("boolean-column", setcol("orders", "amount", [True, False] * 9)),
    Case("nullable-dtypes", edit(lambda t, s: t["orders"].assign(
        flag=pd.array([True, None] * 9, dtype="boolean"),
        n=pd.array([1, None, 3] * 6, dtype="Int64")).pipe(
        lambda df: t.__setitem__("orders", df)))),
    Case("object-column-mixing-numbers-and-strings",
         at("orders", "status", {1: 3, 3: 2.5, 5: None, 6: 1, 9: 7})),
    Case("empty-and-very-long-strings",
         at("users", "bio", {0: "", 1: "x" * 100_000, 2: "", 4: "word " * 5000}),
         enc_params={"column_types": {"users": {"bio": "text_embedded"}}},
         enc_check=lambda enc: enc.graph_.col_types["users"]["bio"].value == "text_embedded"
         or pytest.fail("bio is not a text column")),
    Case("categories-unseen-at-fit", edit(late_new_category), "fit-early",
         enc_check=lambda enc: enc.graph_.col_types["orders"]["status"].value == "categorical"
         or pytest.fail("status is not categorical")),
    Case("tables-not-a-dict", edit(lambda t, s: None), "database-list",
         (TypeError, r"tables must be a dict \{name: DataFrame\}, got list")),
    Case("table-not-a-dataframe",
         edit(lambda t, s: t.__setitem__("users", t["users"].to_dict("list"))), "database",
         (TypeError, r"Table 'users' must be a pandas DataFrame, got dict")),
    Case("fk-in-list-form-in-python", edit(fk_list_form), "database",
         (TypeError, r"schema\['orders'\]\['foreign_keys'\] must be a dict \{column: "
                     r"referenced table\} .*got list")),
    Case("encoder-without-validation-split", keep, enc_params={"valid_fraction": 0}),
    Case("tiny-database", edit(tiny_database), x=lambda t: users_x(t).iloc[:5],
         check=finite(5)),
    Case("integer-column-names", edit(int_column_names), "database",
         (TypeError, r"Table 'users' has column names that are not strings: \[0, 1\]\. Name "
                     r"every column with a string, e\.g\. df\.columns = df\.columns\.map\(str\)")),
    Case("datetime-feature-out-of-range", edit(born_long_ago)),
    Case("datetime-primary-key", edit(datetime_primary_key)),
    Case("keys-mixing-numbers-and-strings", edit(mixed_type_keys),
         x=lambda t: pd.DataFrame({"user_id": t["users"]["user_id"], "date": LATE})),
    # -- rows X ---------------------------------------------------------------------------
    Case("x-unknown-entity-ids", keep, "x",
         (ValueError, r"2 entity ids of X\['user_id'\] not found in table 'users' primary key "
                      r"'user_id': \[999, 1000\].*drop those rows or add the entities"),
         x=lambda t: pd.DataFrame({"user_id": [101, 999, 1000], "date": LATE})),
    Case("x-missing-key-column", keep, "x",
         (ValueError, r"X has none of the primary-key columns \{'users': 'user_id', 'orders': "
                      r"'order_id'\} in its columns \['uid', 'date'\]"),
         x=lambda t: pd.DataFrame({"uid": [101], "date": LATE})),
    Case("x-missing-time-column", keep, "x",
         (ValueError, r"X has no datetime column to use as the cutoff time of each row.*"
                      r"the database is temporal"),
         x=lambda t: pd.DataFrame({"user_id": [101, 205]})),
    Case("x-string-times", keep, "x",
         (ValueError, r"X has no datetime column .* If 'date' holds the cutoff times, convert "
                      r"it: X\['date'\] = pd\.to_datetime\(X\['date'\]\), or set "
                      r"time_column='date'"),
         x=lambda t: pd.DataFrame({"user_id": [101, 205],
                                   "date": ["2021-01-01", "2020-06-01 12:00"]})),
    Case("x-numeric-times", keep, "x-time_column",
         (TypeError, r"X\['date'\], the cutoff time of each row, has numeric dtype int64.*"
                     r"pd\.to_datetime\(X\['date'\], unit='s'\)"),
         x=lambda t: pd.DataFrame({"user_id": [101], "date": [1_600_000_000]})),
    Case("x-string-times-with-time-column", keep, "x-time_column",
         x=lambda t: pd.DataFrame({"user_id": [101, 205],
                                   "date": ["2021-01-01", "2020-06-01T12:00:00+02:00"]}),
         check=finite(2)),
    Case("x-null-times", keep, "x",
         (ValueError, r"X\['date'\] has null cutoff times \(1, first at row 1\)"),
         x=lambda t: pd.DataFrame({"user_id": [101, 205], "date": [LATE, pd.NaT]})),
    Case("x-cutoff-before-the-entity-exists", keep, "x",
         (ValueError, r"12 rows of X have a cutoff before their 'users' row's own time "
                      r"\(column 'signup'\); first: row 0, \{'user_id': 101\}, dated "
                      r"2020-01-03 00:00:00, cutoff X\['date'\] = 1999-01-01 00:00:00\..*"
                      r"Drop these rows of X or move their cutoff"),
         x=lambda t: users_x(t, pd.Timestamp("1999-01-01"))),
    Case("x-cutoff-1ns-before-the-entity-exists", keep, "x",
         (ValueError, r"^1 rows of X have a cutoff before their 'users' row's own time"),
         x=lambda t: pd.DataFrame({"user_id": [101, 205], "date": [
             pd.Timestamp("2020-01-03") - pd.Timedelta(1, "ns"), pd.Timestamp("2020-01-09")]})),
    Case("x-timezone-aware-times", keep, "x",
         x=lambda t: users_x(t, pd.Timestamp("2021-01-01", tz="America/Lima")),
         check=finite()),
    Case("x-numpy-array", keep, "x",
         (TypeError, r"X must be a pandas DataFrame with the target table's primary-key "
                     r"column\(s\) and a cutoff time column, got ndarray"),
         x=lambda t: users_x(t).to_numpy()),
    Case("x-key-of-wrong-dtype", keep, "x",
         (TypeError, r"entity ids of X\['user_id'\]: column 'user_id' holds string values "
                     r"\(e\.g\. '101'.*primary-key column 'user_id' holds number values"),
         x=lambda t: pd.DataFrame({"user_id": ["101"], "date": LATE})),
    Case("x-null-entity-ids", keep, "x",
         (ValueError, r"entity ids of X\['user_id'\]: column 'user_id' of the key of table "
                      r"'users' has 1 null value"),
         x=lambda t: pd.DataFrame({"user_id": [101, None], "date": LATE})),
    Case("x-empty", keep, "x", x=lambda t: users_x(t).iloc[:0], check=finite(0)),
    Case("x-extra-columns-and-duplicate-rows", keep, "x",
         x=lambda t: pd.concat([users_x(t)] * 2).assign(note="x"), check=finite(24)),
    # -- targets y ------------------------------------------------------------------------
    Case("y-with-nan", keep, "y", (ValueError, r"y has 2 missing value\(s\)"),
         y=np.array([0, 1, np.nan, 1, 0, 1] * 2)),
    Case("y-wrong-length", keep, "y",
         (ValueError, r"Found input variables with inconsistent numbers of samples: \[12, 11\]"),
         y=np.array([0, 1] * 5 + [0])),
    Case("y-single-class", keep, "y", (ValueError, r"y has a single class \(1\)"),
         y=np.ones(12, dtype=int)),
    Case("y-four-rows", keep, "y", x=lambda t: users_x(t).iloc[:4], y=Y[:4],
         check=lambda P: np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)),
]


@pytest.fixture(scope="module")
def fitted():
    """One tiny encoder on the base database, shared by the X and y cases."""
    tables, schema = base()
    return RelationalContrastiveEncoder(**TINY).fit(tables, schema)


def test_the_matrix_is_large_and_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 30


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_bad_input(case, request):
    tables, schema = base()
    tables, schema = case.make(tables, schema)
    x = (case.x or users_x)(tables) if case.stage != "database" else None
    y = case.y
    before = copy.deepcopy((tables, schema, x, y))

    def run():
        if case.stage in ("database", "database-raise"):
            on_dangling = "raise" if case.stage == "database-raise" else "warn"
            return RelationalDatabase(tables, schema, on_dangling=on_dangling)
        if case.stage == "database-list":
            return RelationalDatabase(list(tables.values()), schema)
        if case.stage in ("x", "x-time_column", "y"):
            enc = request.getfixturevalue("fitted")
            if case.stage == "x":
                return enc.transform(x), None
            if case.stage == "x-time_column":  # time_column names X's cutoff column
                enc = RelationalContrastiveEncoder(time_column="date", **TINY)
                return enc.fit(*base()).transform(x), None
            clf = RelationalClassifier(encoder=enc, **CLF).fit(x, y)
            return clf.predict_proba(x), None
        if case.stage == "fit-early":  # pretraining sees the database up to 2020-05-01 only
            db = RelationalDatabase(tables, schema)
            enc = RelationalContrastiveEncoder(database=db, cutoff_time="2020-05-01",
                                               **TINY, **(case.enc_params or {}))
            return enc.fit(x).transform(x), enc
        enc = RelationalContrastiveEncoder(**TINY, **(case.enc_params or {}))
        Z = enc.fit(tables, schema).transform(x)
        if y is not None:
            clf = RelationalClassifier(encoder=enc, **CLF).fit(x, y)
            assert clf.predict(x).shape == (len(x),)
        return Z, enc

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # only the expected warning
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if case.raises is not None:
            with pytest.raises(case.raises[0], match=case.raises[1]) as info:
                run()
            # raised by relcontrast itself or by scikit-learn's input checks (e.g.
            # check_consistent_length), as a plain ValueError / TypeError
            assert info.type in (ValueError, TypeError)
            where = str(info.traceback[-1].path)
            assert "/relcontrast/" in where or where.endswith(
                ("sklearn/utils/validation.py", "sklearn/utils/multiclass.py")), where
        elif case.warns is not None:
            with pytest.warns(UserWarning, match=case.warns):
                out = run()
        else:
            out = run()
    if case.raises is None and not case.stage.startswith("database"):
        Z, enc = out
        (case.check or finite(len(x)))(Z)
        if enc is not None and case.warns is None:
            for fk in enc.database_.foreign_keys:
                values = enc.database_.frame(fk.table)[list(fk.columns)]
                assert len(fk.src_index) == int(values.notna().all(axis=1).sum()), fk.column
        if case.db_check is not None:
            case.db_check(enc.database_)
        if case.enc_check is not None:
            case.enc_check(enc)
    is_unchanged(before, (tables, schema, x, y))

