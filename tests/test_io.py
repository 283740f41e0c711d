from __future__ import annotations

import copy
import datetime
import json
import logging
import sqlite3

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

import relcontrast
from relcontrast import RelationalDatabase
from relcontrast.datasets import load_f1
from relcontrast.io import (
    MIN_INCLUSION,
    infer_schema,
    read_database,
    read_schema,
    read_table,
    read_tables,
    schema_to_yaml,
)
from relcontrast.testing import make_synthetic_database


def full(schema):
    """A schema with all three keys per table, as read_schema / infer_schema return it."""
    return {t: {"primary_key": s.get("primary_key"),
                "foreign_keys": dict(s.get("foreign_keys") or {}),
                "time_column": s.get("time_column")} for t, s in schema.items()}


def write_folder(tables, folder, fmt):
    folder.mkdir(exist_ok=True)
    for name, df in tables.items():
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def write_sqlite(tables, path):
    con = sqlite3.connect(path)
    for name, df in tables.items():
        df = df.assign(tags=df["tags"].astype(str)) if "tags" in df else df
        df.to_sql(name, con, index=False)
    con.close()
    return path


def write_duckdb(tables, path):
    con = duckdb.connect(str(path))
    for name, df in tables.items():
        con.register("frame", df)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame')
        con.unregister("frame")
    con.close()
    return path


def assert_tables_equal(got, want, tags_as_text):
    """Tables equal; items.tags holds lists, or their text in CSV and SQLite."""
    assert sorted(got) == sorted(want)
    for name, df in want.items():
        g = got[name]
        if "tags" in df:
            if tags_as_text:
                assert g["tags"].tolist() == [str(v) for v in df["tags"]]
            else:
                assert [[str(x) for x in v] for v in g["tags"]] == [
                    [str(x) for x in v] for v in df["tags"]]
            g, df = g.drop(columns="tags"), df.drop(columns="tags")
        pd.testing.assert_frame_equal(g, df)


# -- reading ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_folder_round_trip_keeps_types(tmp_path, fmt):
    tables, _ = make_synthetic_database()
    got = read_tables(write_folder(tables, tmp_path / "db", fmt))
    # parquet keeps the list column; CSV holds its text
    assert_tables_equal(got, tables, tags_as_text=fmt == "csv")
    assert got["users"]["signup"].dtype == "datetime64[us]"
    assert got["items"]["item_id"].dtype == np.int64
    assert got["items"]["item_id"].iloc[0] == tables["items"]["item_id"].iloc[0] > 10**12


def test_sqlite_file_restores_dates_and_nullable_ints(tmp_path):
    tables, _ = make_synthetic_database()
    extra = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"), "r": [0.5, None, 2.0]})
    path = write_sqlite({**tables, "extra": extra}, tmp_path / "shop.sqlite")
    got = read_tables(path)
    assert list(got) == [*tables, "extra"]  # the file's table order
    assert_tables_equal({k: v for k, v in got.items() if k != "extra"}, tables, True)
    pd.testing.assert_frame_equal(got["extra"], extra)


def test_duckdb_file_round_trip(tmp_path):
    tables, _ = make_synthetic_database()
    got = read_tables(write_duckdb(tables, tmp_path / "shop.duckdb"))
    assert_tables_equal(got, tables, False)


@pytest.mark.parametrize("writer", [write_sqlite, write_duckdb])
def test_db_extension_is_recognised_by_content(tmp_path, writer):
    tables, _ = make_synthetic_database()
    got = read_tables(writer({"categories": tables["categories"]}, tmp_path / "shop.db"))
    pd.testing.assert_frame_equal(got["categories"], tables["categories"])


def test_iso_date_strings_become_datetimes(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(
        "id,mixed,offset,clock,bad\n"
        "1,2020-01-01,2020-01-01T10:00:00+02:00,06:00:00,2020-13-45\n"
        "2,2020-02-01 10:30:00,2020-01-01T10:00:00Z,07:00:00,2020-01-01\n"
        "3,,,08:00:00,2020-01-02\n"
    )
    df = read_table(path)
    assert df["mixed"].tolist()[:2] == [pd.Timestamp("2020-01-01"),
                                        pd.Timestamp("2020-02-01 10:30")]
    assert df["mixed"].isna().tolist() == [False, False, True]
    assert df["offset"].tolist()[:2] == [pd.Timestamp("2020-01-01 08:00", tz="UTC"),
                                         pd.Timestamp("2020-01-01 10:00", tz="UTC")]
    # times of day stay times of day (duckdb's TIME), impossible dates stay text
    assert df["clock"].tolist() == [datetime.time(6), datetime.time(7), datetime.time(8)]
    assert df["bad"].tolist() == ["2020-13-45", "2020-01-01", "2020-01-02"]


def test_read_database_from_folder_with_schema_dict(tmp_path):
    tables, schema = make_synthetic_database()
    db = read_database(write_folder(tables, tmp_path / "db", "parquet"), schema)
    assert isinstance(db, RelationalDatabase)
    assert {t: s.to_dict() for t, s in db.schema.items()} == full(schema)
    assert repr(db) == ("RelationalDatabase(categories=4, users=60, items=40, orders=300, "
                        "reviews=150)")
    np.testing.assert_array_equal(db.keys("items"), tables["items"]["item_id"])


def test_read_database_from_dict_leaves_callers_data_alone():
    tables, schema = make_synthetic_database()
    tables["orders"] = tables["orders"].assign(ts=tables["orders"]["ts"].dt.year)  # numeric
    before = {k: v.copy(deep=True) for k, v in tables.items()}
    schema_before = copy.deepcopy(schema)
    db = read_database(tables, schema, time_unit="year")
    assert db.frame("orders")["ts"].tolist() == [pd.Timestamp(f"{y}-01-01")
                                                 for y in before["orders"]["ts"]]
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], before[name])
    assert schema == schema_before


def test_lazy_exports():
    assert relcontrast.read_database is read_database
    assert relcontrast.infer_schema is infer_schema
    assert {"read_database", "infer_schema"} <= set(dir(relcontrast))


# -- reading errors ---------------------------------------------------------------------------
def test_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file or folder: '.*nowhere'"):
        read_tables(tmp_path / "nowhere")


def test_empty_folder_and_folder_without_tables(tmp_path):
    with pytest.raises(ValueError, match=r"has no CSV or parquet files \(it is empty\)"):
        read_tables(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"no CSV or parquet files \(it holds \['notes.txt'\]\)"):
        read_tables(tmp_path)


def test_mixed_formats(tmp_path):
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"b": [1]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"mixes CSV \(a.csv, ...\) and parquet \(b.parquet"):
        read_tables(tmp_path)


def test_two_files_for_one_table(tmp_path):
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv.gz", index=False)
    with pytest.raises(ValueError, match=r"two files for table 'a'"):
        read_tables(tmp_path)


def test_other_files_are_ignored_with_a_warning(tmp_path, caplog):
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "schema.yaml").write_text("a: {}")
    (tmp_path / "b.xlsx").write_text("not read")
    with caplog.at_level(logging.WARNING, logger="relcontrast.io"):
        assert list(read_tables(tmp_path)) == ["a"]
    assert [r.getMessage() for r in caplog.records] == [
        f"Folder {str(tmp_path)!r}: ignored ['b.xlsx'] (not CSV or parquet files)."]


@pytest.mark.parametrize("name, content, match", [
    ("data.xlsx", b"x", r"unknown extension '.xlsx'"),
    ("data.csv", b"a\n1\n", r"is a single table; put the tables of the database in one folder"),
    ("data.sqlite", b"not a database at all", r"it is not a SQLite database file\."),
    ("data.duckdb", b"SQLite format 3\x00" + b"\x00" * 100,
     r"not a DuckDB database file \(it is a SQLite file\)"),
    ("data.db", b"random bytes here, no magic", r"not a SQLite or DuckDB database file"),
])
def test_unreadable_sources(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_tables(tmp_path / name)


@pytest.mark.parametrize("name, head", [("data.sqlite", b"SQLite format 3\x00"),
                                        ("data.duckdb", b"\x00" * 8 + b"DUCK")])
def test_damaged_database_files(tmp_path, name, head):
    (tmp_path / name).write_bytes(head + b"\x07" * 5000)
    kind = "SQLite" if name.endswith("sqlite") else "DuckDB"
    with pytest.raises(ValueError, match=rf"Cannot (open|read) '.*{name}' as a {kind} database"):
        read_tables(tmp_path / name)


def test_read_table_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file: '.*rows.csv'"):
        read_table(tmp_path / "rows.csv")
    with pytest.raises(ValueError, match=r"is a folder; read_table reads one CSV or parquet"):
        read_table(tmp_path)
    (tmp_path / "rows.json").write_text("[]")
    with pytest.raises(ValueError, match=r"unknown extension '.json'; use one of \('.csv'"):
        read_table(tmp_path / "rows.json")


def test_dict_source_errors():
    with pytest.raises(TypeError, match=r"Table 'a' must be a pandas DataFrame, got list"):
        read_tables({"a": [1, 2]})
    with pytest.raises(TypeError, match=r"Table names must be strings, got 1"):
        read_tables({1: pd.DataFrame()})
    with pytest.raises(ValueError, match=r"The dict of tables is empty"):
        read_tables({})
    with pytest.raises(TypeError, match=r"source must be a folder, a SQLite / DuckDB file, a "
                                        r"database URL or a dict of DataFrames, got "
                                        r"RelationalDatabase"):
        read_tables(RelationalDatabase(*make_synthetic_database()))


def test_unreadable_file_in_folder(tmp_path):
    (tmp_path / "broken.parquet").write_bytes(b"this is no parquet file")
    with pytest.raises(ValueError, match=r"Cannot read '.*broken.parquet' as parquet"):
        read_tables(tmp_path)


def test_empty_database_file(tmp_path):
    sqlite3.connect(tmp_path / "empty.sqlite").execute("CREATE TABLE t (a INT)").connection \
        .execute("DROP TABLE t").connection.close()
    with pytest.raises(ValueError, match=r"has no tables"):
        read_tables(tmp_path / "empty.sqlite")


def test_schema_and_files_must_name_the_same_tables(tmp_path):
    tables, schema = make_synthetic_database()
    folder = write_folder(tables, tmp_path / "db", "csv")
    wrong = {**schema, "order": schema["orders"]}
    del wrong["orders"]
    with pytest.raises(ValueError, match=r"names table 'order', but '.*db' has no such table; "
                                         r".* Did you mean 'orders'\?"):
        read_database(folder, wrong)
    (folder / "extra.csv").write_text("x\n1\n")
    with pytest.raises(ValueError, match=r"has table\(s\) \['extra'\] that the schema does not "
                                         r"mention; add `extra: \{\}`"):
        read_database(folder, schema)


def test_bad_column_in_schema_names_table_and_column(tmp_path):
    tables, schema = make_synthetic_database()
    schema = {**schema, "items": {**schema["items"], "time_column": "addded"}}
    with pytest.raises(ValueError, match=r"Table 'items' has no column 'addded'.*Did you mean "
                                         r"'added'\?"):
        read_database(write_folder(tables, tmp_path / "db", "csv"), schema)


# -- schema files -----------------------------------------------------------------------------
SCHEMA_YAML = """\
users:
  primary_key: user_id
  time_column: signup
orders:
  primary_key: [order_id]
  foreign_keys:
    - columns: user_id
      references: users
    - columns: [item_id]
      references: items
  time_column: ts
items: {primary_key: item_id, foreign_keys: {cat_id: categories}, time_column: added}
categories: {primary_key: cat_id}
reviews:
  foreign_keys: [{columns: [user_id], references: users}, {columns: [item_id], references: items}]
  time_column: ts
"""


def test_read_schema_yaml_and_json_with_list_foreign_keys(tmp_path):
    _, schema = make_synthetic_database()
    expected = full(schema)
    expected["users"]["foreign_keys"] = {}
    (tmp_path / "s.yaml").write_text(SCHEMA_YAML)
    assert read_schema(tmp_path / "s.yaml") == {t: expected[t] for t in
                                                ["users", "orders", "items", "categories",
                                                 "reviews"]}
    (tmp_path / "s.json").write_text(json.dumps(yaml.safe_load(SCHEMA_YAML)))
    assert read_schema(str(tmp_path / "s.json")) == read_schema(tmp_path / "s.yaml")


def test_read_database_with_yaml_schema_file(tmp_path):
    tables, _ = make_synthetic_database()
    (tmp_path / "s.yaml").write_text(SCHEMA_YAML)
    db = read_database(write_folder(tables, tmp_path / "db", "csv"), tmp_path / "s.yaml")
    assert db.schema["reviews"].foreign_keys == {"user_id": "users", "item_id": "items"}
    assert db.schema["users"].time_column == "signup"


def test_composite_keys_parse_to_tuples_and_build_the_database(tmp_path):
    text = ("games: {primary_key: [season, round]}\n"
            "bets:\n  foreign_keys:\n    - columns: [season, round]\n      references: games\n")
    (tmp_path / "s.yml").write_text(text)
    assert read_schema(tmp_path / "s.yml") == {
        "games": {"primary_key": ("season", "round"), "foreign_keys": {},
                  "time_column": None},
        "bets": {"primary_key": None, "foreign_keys": {("season", "round"): "games"},
                 "time_column": None}}
    tables = {"games": pd.DataFrame({"season": [2020, 2020, 2021], "round": [1, 2, 1]}),
              "bets": pd.DataFrame({"season": [2021, 2020, 2020], "round": [1, 2, 7],
                                    "stake": [5.0, 1.0, 2.0]})}
    with pytest.warns(UserWarning, match=r"Table 'bets': composite foreign key \('season', "
                                         r"'round'\) has 1 value\(s\) not present in the key "
                                         r"\('season', 'round'\) of 'games' \(e.g. \(2020, 7\)"):
        db = read_database(tables, tmp_path / "s.yml")
    assert db.schema["games"].primary_key == ("season", "round")
    np.testing.assert_array_equal(db.foreign_keys[0].src_index, [0, 1])
    np.testing.assert_array_equal(db.foreign_keys[0].dst_index, [2, 1])
    with pytest.raises(ValueError, match=r"Table 'bets': foreign key 'season' has 1 "
                                         r"column\(s\) but the primary key \('season', "
                                         r"'round'\) of 'games' has 2"):
        read_database(tables, {"games": {"primary_key": ["season", "round"]},
                               "bets": {"foreign_keys": [{"columns": ["season"],
                                                          "references": "games"}]}})


def test_schema_to_yaml_round_trips(tmp_path):
    _, schema = make_synthetic_database()
    composite = {"bets": {"foreign_keys": {("season", "round"): "games", "user": "users"}},
                 "odd names": {"primary_key": "yes", "time_column": "null"}}
    with_unit = {"races": {"primary_key": "race_id", "time_column": "year",
                           "time_unit": "year"}}
    for s in (schema, composite, with_unit):
        path = tmp_path / "s.yaml"
        path.write_text(schema_to_yaml(s, {"bets": ["a reason"]}, header="line 1\nline 2"))
        assert read_schema(path) == read_schema(s)
    text = schema_to_yaml(composite, {"bets": ["a reason"]}, header="line 1\nline 2")
    assert text == (
        "# line 1\n# line 2\n\nbets:\n  # a reason\n  primary_key: null\n  foreign_keys:\n"
        "    - columns: [season, round]\n      references: games\n"
        "    - columns: [user]\n      references: users\n  time_column: null\n\n"
        '"odd names":\n  primary_key: "yes"\n  foreign_keys: {}\n  time_column: "null"\n')


def test_schema_to_yaml_accepts_a_database_schema():
    tables, schema = make_synthetic_database()
    db = RelationalDatabase(tables, schema)
    assert yaml.safe_load(schema_to_yaml(db.schema)) == full(schema)


@pytest.mark.parametrize("content, match", [
    ("users: {primary_kye: user_id}", r"schema file '.*s.yaml': table 'users' has unknown key "
                                      r"'primary_kye'.*Did you mean 'primary_key'\?"),
    ("users: [user_id]", r"table 'users' must map to \{primary_key"),
    ("- users", r"must map each table to its keys"),
    ("users: {primary_key: user_id\n", r"Cannot parse schema file '.*s.yaml' as YAML"),
    ("orders: {foreign_keys: [{column: user_id, references: users}]}",
     r"foreign_keys\[0\] has unknown key 'column'.*Did you mean 'columns'\?"),
    ("orders: {foreign_keys: [{columns: [user_id]}]}",
     r"foreign_keys\[0\] needs both 'columns' and 'references'"),
    ("orders: {foreign_keys: {user_id: [users]}}",
     r"column 'user_id' must map to the referenced table's name"),
    ("orders: {time_column: ts, time_unit: years}",
     r"unknown time_unit 'years'.*Did you mean 'year'\?"),
    ("orders: {time_unit: s}", r"sets time_unit but no time_column"),
    ("", r"schema file '.*s.yaml' must map each table to its keys.*got NoneType"),
    ("{}", r"schema file '.*s.yaml' is empty; give one entry per table"),
    ("1: {}", r"table names must be strings, got 1"),
    ("orders: {foreign_keys: [user_id]}", r"foreign_keys\[0\] must be \{columns: \[...\], "
                                          r"references: table\}, got 'user_id'"),
    ("orders: {foreign_keys: [{columns: a, references: [users]}]}",
     r"foreign_keys\[0\].references must be a table name, got \['users'\]"),
    ("orders: {foreign_keys: [{columns: a, references: b}, {columns: [a], references: c}]}",
     r"foreign_keys: column\(s\) 'a' are listed twice"),
    ("orders: {foreign_keys: user_id}", r"must be a mapping \{column: table\} or a list"),
    ("orders: {foreign_keys: {on: users}}", r"foreign_keys must be a column name or a list of "
                                            r"column names, got True\. In YAML, quote names"),
    ("orders: {time_column: 2020}", r"time_column must be one column name, got 2020\. In YAML, "
                                    r"quote names it would read as numbers"),
])
def test_schema_file_errors(tmp_path, content, match):
    (tmp_path / "s.yaml").write_text(content)
    with pytest.raises(ValueError, match=match):
        read_schema(tmp_path / "s.yaml")


def test_schema_file_missing_or_unknown_extension(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such schema file: '.*s.yaml'.*relcontrast "
                                                r"schema DATA --out s.yaml"):
        read_schema(tmp_path / "s.yaml")
    (tmp_path / "s.json").write_text("{'users': {}}")
    with pytest.raises(ValueError, match=r"Cannot parse schema file '.*s.json' as JSON"):
        read_schema(tmp_path / "s.json")
    (tmp_path / "s.toml").write_text("")
    with pytest.raises(ValueError, match=r"unknown extension '.toml'; use .yaml, .yml or .json"):
        read_schema(tmp_path / "s.toml")
    with pytest.raises(TypeError, match=r"schema must be a dict or the path"):
        read_schema(3)


# -- time units -------------------------------------------------------------------------------
def test_time_unit_per_table_and_default():
    tables = {"races": pd.DataFrame({"race_id": [1, 2], "year": [1999, 2004]}),
              "laps": pd.DataFrame({"lap_id": [1, 2], "race_id": [2, 1],
                                    "t": [0, 86_400]})}
    schema = {"races": {"primary_key": "race_id", "time_column": "year", "time_unit": "year"},
              "laps": {"primary_key": "lap_id", "foreign_keys": {"race_id": "races"},
                       "time_column": "t"}}
    db = read_database(tables, schema, time_unit="s")
    assert db.frame("races")["year"].tolist() == [pd.Timestamp("1999-01-01"),
                                                  pd.Timestamp("2004-01-01")]
    assert db.frame("laps")["t"].tolist() == [pd.Timestamp("1970-01-01"),
                                              pd.Timestamp("1970-01-02")]
    assert tables["races"]["year"].tolist() == [1999, 2004]
    with pytest.raises(TypeError, match=r"time column 't' has numeric dtype"):
        read_database(tables, schema)  # no unit for laps.t


def test_time_unit_errors():
    tables = {"a": pd.DataFrame({"ts": pd.to_datetime(["2020-01-01"]), "y": [2020.5]})}
    with pytest.raises(ValueError, match=r"Table 'a': time_unit 's' is set but time column 'ts' "
                                         r"is not numeric"):
        read_database(tables, {"a": {"time_column": "ts", "time_unit": "s"}})
    with pytest.raises(ValueError, match=r"time column 'y' has time_unit 'year' but holds "
                                         r"non-integer value 2020.5"):
        read_database(tables, {"a": {"time_column": "y", "time_unit": "year"}})
    with pytest.raises(ValueError, match=r"Unknown time_unit 'sec'"):
        read_database(tables, {"a": {}}, time_unit="sec")
    # a default unit leaves datetime columns alone
    db = read_database(tables, {"a": {"time_column": "ts"}}, time_unit="s")
    assert db.frame("a")["ts"].tolist() == [pd.Timestamp("2020-01-01")]


def test_no_schema_infers_one_and_warns(tmp_path):
    tables, schema = make_synthetic_database()
    folder = write_folder(tables, tmp_path / "db", "parquet")
    with pytest.warns(UserWarning, match=r"No schema given: using the schema inferred from "
                                         r"'.*db':\n  categories: primary_key='cat_id', "
                                         r"time_column=None\n"):
        db = read_database(folder)
    expected = full(schema)
    expected["users"]["foreign_keys"] = {}  # the self-reference `referrer` is not found
    assert {t: s.to_dict() for t, s in db.schema.items()} == expected


# -- schema inference -------------------------------------------------------------------------
def hand_built():
    customers = pd.DataFrame({
        "customerId": [3, 1, 2],
        "name": ["ann", "bob", "cy"],
        "updated_at": pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-03"]),
        "created": ["2020-01-05", "2020/02/01", "2020-03-01 10:00"],
    })
    accounts = pd.DataFrame({
        "id": ["A", "B", "C", "D"],
        "customer_id": [1, 2, None, 3],  # floats with a null: still integer keys
        "opened": pd.to_datetime(["2020-02-01", None, "2020-03-01", "2020-04-01"]),
        "year": [2020, 2020, 2020, 2021],
        "dob": pd.to_datetime(["1990-01-01"] * 4),
    })
    transfers = pd.DataFrame({
        "transfer_id": [10, 11, 12, 13],
        "from_account_id": ["A", "B", "C", "A"],
        "to_account_id": ["B", "C", "D", "D"],
        "coupon_id": [1, 2, 8, 9],  # half of them dangle
        "amount": [1.0, 2.0, 3.0, 4.0],
        "booked": pd.to_datetime(["2020-05-01", "2020-05-02", "2020-05-03", "2020-05-04"]),
    })
    coupons = pd.DataFrame({"coupon_id": [1, 2, 3], "code": ["x", "y", "z"]})
    return {"customers": customers, "accounts": accounts, "transfers": transfers,
            "coupons": coupons}


def test_infer_schema_on_hand_built_tables():
    schema, reasons = infer_schema(hand_built(), return_reasons=True)
    assert schema == {
        "customers": {"primary_key": "customerId", "foreign_keys": {},
                      "time_column": "created"},
        "accounts": {"primary_key": "id", "foreign_keys": {"customer_id": "customers"},
                     "time_column": None},
        "transfers": {"primary_key": "transfer_id",
                      "foreign_keys": {"from_account_id": "accounts",
                                       "to_account_id": "accounts"},
                      "time_column": "booked"},
        "coupons": {"primary_key": "coupon_id", "foreign_keys": {}, "time_column": None},
    }
    assert reasons["customers"] == [
        "customerId: primary key: unique and non-null, named after the table.",
        "created: time column: strings that parse as dates (100.0% of 3 sampled), no nulls, "
        "its name suggests when the row came to exist. Other candidates: ['updated_at'].",
    ]
    assert reasons["accounts"] == [
        "id: primary key: unique and non-null, a generic key name ('id').",
        "customer_id: foreign key to 'customers': same name as customers.customerId; 100.0% of "
        "its 3 non-null values are in customers.customerId (threshold 95.0%), 1 null(s).",
        "opened: not the time column: datetime values (dtype datetime64[us]), but 1 null "
        "value(s); every row needs a time (fill or drop them to use it).",
        "year: not the time column: integer years, a candidate only with a time_unit "
        "(relcontrast refuses numeric times). To use it set `time_column: year` and "
        "`time_unit: year` in the schema.",
        "dob: not the time column: named like a birth date, an attribute of the row rather "
        "than when it came to exist.",
        "no time column: no usable datetime column, so the table is static (every row is "
        "visible at every time).",
    ]
    assert reasons["transfers"][1:4] == [
        "from_account_id: foreign key to 'accounts': ends with 'accountid' (a role of table "
        "'accounts'); 100.0% of its 4 non-null values are in accounts.id (threshold 95.0%).",
        "to_account_id: foreign key to 'accounts': ends with 'accountid' (a role of table "
        "'accounts'); 100.0% of its 4 non-null values are in accounts.id (threshold 95.0%).",
        "coupon_id: not a foreign key to 'coupons' (same name as coupons.coupon_id): 50.0% of "
        "its 4 non-null values are in coupons.coupon_id, below the 95.0% threshold.",
    ]


def test_infer_schema_threshold_and_type_mismatch():
    tables = hand_built()
    assert MIN_INCLUSION == 0.95
    schema = infer_schema(tables, min_inclusion=0.5)
    assert schema["transfers"]["foreign_keys"]["coupon_id"] == "coupons"
    tables["accounts"] = tables["accounts"].assign(
        customer_id=["1", "2", None, "3"])
    schema, reasons = infer_schema(tables, return_reasons=True)
    assert schema["accounts"]["foreign_keys"] == {}
    assert reasons["accounts"][1] == (
        "customer_id: not a foreign key to 'customers' (same name as customers.customerId): "
        "it holds string values (dtype str) and customers.customerId holds number values "
        "(dtype int64); cast one to the other's type.")
    with pytest.raises(ValueError, match=r"min_inclusion must be in \(0, 1\], got 0"):
        infer_schema(tables, min_inclusion=0)


def test_infer_schema_logs_reasons_and_leaves_tables_alone(caplog):
    tables = hand_built()
    before = {k: v.copy(deep=True) for k, v in tables.items()}
    with caplog.at_level(logging.INFO, logger="relcontrast.io"):
        schema = infer_schema(tables)
    assert schema["coupons"]["primary_key"] == "coupon_id"
    assert caplog.records[0].getMessage() == (
        "infer_schema: customers.customerId: primary key: unique and non-null, named after "
        "the table.")
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], before[name])


def test_infer_schema_foreign_key_named_after_a_table_with_a_generic_key():
    tables = {"categories": pd.DataFrame({"id": [1, 2]}),
              "products": pd.DataFrame({"id": [5, 6, 7], "category_id": [2, 2, 1],
                                        "parent_product_id": [None, 5, 5]})}
    schema, reasons = infer_schema(tables, return_reasons=True)
    assert schema["products"] == {
        "primary_key": "id", "time_column": None,
        "foreign_keys": {"category_id": "categories", "parent_product_id": "products"}}
    assert reasons["products"][1] == (
        "category_id: foreign key to 'categories': named after table 'categories'; 100.0% of "
        "its 3 non-null values are in categories.id (threshold 95.0%).")
    assert reasons["products"][2] == (
        "parent_product_id: foreign key to 'products': ends with 'productid' (a role of table "
        "'products'); 100.0% of its 2 non-null values are in products.id (threshold 95.0%), "
        "1 null(s).")


def test_infer_schema_without_candidates():
    tables = {"events": pd.DataFrame({"user_id": [1, 1], "what": ["a", "b"]}),
              "users": pd.DataFrame({"user_id": [1, 1]})}
    schema, reasons = infer_schema(tables, return_reasons=True)
    assert schema == {t: {"primary_key": None, "foreign_keys": {}, "time_column": None}
                      for t in tables}
    assert reasons["users"][0] == "user_id: not the primary key: 2 rows share a value (e.g. 1)."


def test_infer_schema_finds_the_synthetic_schema_but_the_self_reference(tmp_path):
    tables, schema = make_synthetic_database()
    expected = full(schema)
    expected["users"]["foreign_keys"] = {}  # `referrer` does not say which table it references
    assert infer_schema(tables) == expected
    assert infer_schema(write_folder(tables, tmp_path / "db", "csv")) == expected


def test_infer_schema_finds_the_f1_schema():
    tables, schema = load_f1()
    inferred, reasons = infer_schema(tables, return_reasons=True)
    assert inferred == full(schema)  # all 9 primary keys, 13 foreign keys and time columns
    assert sum(len(s["foreign_keys"]) for s in inferred.values()) == 13
    assert reasons["drivers"][1] == (
        "dob: not the time column: named like a birth date, an attribute of the row rather "
        "than when it came to exist.")
    assert reasons["races"][2].startswith("year: not the time column: integer years")


def test_docstring_examples_run():
    import doctest

    import relcontrast.io.inference
    import relcontrast.io.load

    attempted = {}
    for module in (relcontrast.io.inference, relcontrast.io.load):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0
        attempted[module.__name__] = result.attempted
    assert attempted == {"relcontrast.io.inference": 7, "relcontrast.io.load": 8}
