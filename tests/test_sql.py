"""Database servers (a real PostgreSQL server, started by the tests) and the keys that
databases declare in their catalogs (PostgreSQL, SQLite and DuckDB files)."""

from __future__ import annotations

import datetime
import logging
import sqlite3

import duckdb
import numpy as np
import pandas as pd
import pytest

from relcontrast.database import naive_utc
from relcontrast.io import (
    infer_schema,
    read_database,
    read_declared_schema,
    read_tables,
    schema_to_yaml,
)
from relcontrast.io.servers import arrow_to_pandas, describe_server

pytest.importorskip("adbc_driver_postgresql")

# A shop whose keys are declared: a composite primary key ("OrderLines"), a composite foreign
# key given in another column order than the key it references, quoted mixed-case names, a
# timestamptz column with several offsets, NULLs of every type, a second schema (namespace).
DDL = [
    "CREATE TABLE customers (customer_id integer PRIMARY KEY, name text NOT NULL, "
    "vip boolean, signup date)",
    'CREATE TABLE "Orders" ("OrderId" bigint PRIMARY KEY, '
    "customer_id integer REFERENCES customers, placed_at timestamptz NOT NULL, "
    "total numeric(10, 2))",
    "CREATE TABLE products (sku text PRIMARY KEY, price double precision)",
    'CREATE TABLE "OrderLines" ("OrderId" bigint REFERENCES "Orders", line smallint, '
    'sku text REFERENCES products, qty integer, shipped timestamp, PRIMARY KEY ("OrderId", line))',
    "CREATE TABLE returns (return_id integer PRIMARY KEY, line smallint, order_ref bigint, "
    "reason text, returned_at timestamptz, "
    'FOREIGN KEY (line, order_ref) REFERENCES "OrderLines" (line, "OrderId"))',
    "CREATE SCHEMA archive",
    "CREATE TABLE archive.notes (note_id integer PRIMARY KEY, body text)",
]

DECLARED = {
    "customers": {"primary_key": "customer_id", "foreign_keys": {},
                  "not_null": ["customer_id", "name"]},
    "Orders": {"primary_key": "OrderId", "foreign_keys": {"customer_id": "customers"},
               "not_null": ["OrderId", "placed_at"]},
    "products": {"primary_key": "sku", "foreign_keys": {}, "not_null": ["sku"]},
    "OrderLines": {"primary_key": ("OrderId", "line"),
                   "foreign_keys": {"OrderId": "Orders", "sku": "products"},
                   "not_null": ["OrderId", "line"]},
    "returns": {"primary_key": "return_id",
                "foreign_keys": {("order_ref", "line"): "OrderLines"},
                "not_null": ["return_id"]},
}


def shop_frames() -> dict[str, pd.DataFrame]:
    """The shop's rows, typed as the server's columns come back."""
    utc = pd.to_datetime(["2024-01-05 10:00:00+01:00", "2024-01-06 23:30:00-05:00",
                          "2024-02-01 00:00:00.123456+00:00", "2024-02-03 12:00:00+09:30"],
                         utc=True, format="ISO8601")
    return {
        "customers": pd.DataFrame({
            "customer_id": np.array([1, 2, 3], dtype=np.int32),
            "name": ["Ann", "Bo", "Ça va"],
            "vip": pd.array([True, None, False], dtype="boolean"),
            "signup": [datetime.date(2023, 12, 1), None, datetime.date(2024, 1, 2)],
        }),
        "Orders": pd.DataFrame({
            "OrderId": np.array([10, 11, 12, 13], dtype=np.int64),
            "customer_id": pd.array([1, 1, None, 3], dtype="Int32"),
            "placed_at": utc,
            "total": [12.5, None, 3.25, 100.0],
        }),
        "products": pd.DataFrame({"sku": ["A-1", "B-2", "c 3"], "price": [1.5, np.nan, 2.0]}),
        "OrderLines": pd.DataFrame({
            "OrderId": np.array([10, 10, 11, 13], dtype=np.int64),
            "line": np.array([1, 2, 1, 1], dtype=np.int16),
            "sku": ["A-1", "B-2", None, "c 3"],
            "qty": pd.array([2, None, 1, 5], dtype="Int32"),
            "shipped": pd.to_datetime(["2024-01-06 08:00", None, "2024-01-08 00:00", None]),
        }),
        "returns": pd.DataFrame({
            "return_id": np.array([1, 2], dtype=np.int32),
            "line": np.array([2, 1], dtype=np.int16),
            "order_ref": np.array([10, 13], dtype=np.int64),
            "reason": ["broken", None],
            "returned_at": [pd.Timestamp("2024-01-20 09:00", tz="UTC"), pd.NaT],
        }),
    }


def _literal(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or (
            value is pd.NaT):
        return "NULL"
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return repr(value.item() if isinstance(value, np.generic) else value)
    if isinstance(value, pd.Timestamp):
        return "'" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def _execute(url: str, statements) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as con:
        with con.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
        con.commit()


@pytest.fixture(scope="module")
def shop_url(postgres_url):
    """The shop in a database of its own on the session's server."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(postgres_url, autocommit=True) as con, con.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS shop")
        cur.execute("CREATE DATABASE shop")
    url = postgres_url.rsplit("/", 1)[0] + "/shop"
    inserts = []
    for name, df in shop_frames().items():
        quoted = '"' + name + '"'
        for row in df.astype(object).itertuples(index=False):
            inserts.append(f"INSERT INTO {quoted} VALUES ({', '.join(map(_literal, row))})")
    _execute(url, [*DDL, *inserts, "INSERT INTO archive.notes VALUES (1, 'kept apart')"])
    return url


def normalised(tables):
    """Time-zone aware columns as naive UTC, as RelationalDatabase stores them."""
    out = {}
    for name, df in tables.items():
        out[name] = df.assign(**{c: naive_utc(df[c]) for c in df.columns
                                 if isinstance(df[c].dtype, pd.DatetimeTZDtype)})
    return out


def test_server_tables_equal_the_same_data_read_from_parquet(shop_url, tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    for name, df in shop_frames().items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    got, want = normalised(read_tables(shop_url)), normalised(read_tables(folder))
    assert set(got) == set(want) == set(DECLARED)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_dtype=True)
    orders = read_tables(shop_url)["Orders"]
    assert str(orders["placed_at"].dtype) == "datetime64[us, UTC]"
    assert orders["placed_at"].iloc[1] == pd.Timestamp("2024-01-07 04:30", tz="UTC")
    assert orders["customer_id"].isna().tolist() == [False, False, True, False]


def test_a_table_of_many_batches(shop_url, monkeypatch):
    from relcontrast.io import servers

    _execute(shop_url, [
        "CREATE SCHEMA big",
        "CREATE TABLE big.many AS SELECT i AS id, CASE WHEN i % 3 = 0 THEN NULL ELSE i END "
        "AS maybe, 'row ' || i AS label, TIMESTAMPTZ '2024-01-01 00:00+00' + i * INTERVAL "
        "'1 minute' AS at FROM generate_series(1, 5000) AS i"])
    monkeypatch.setattr(servers, "_BATCH_BYTES", 1024)  # 200 batches of 26 rows
    got = read_tables(shop_url, db_schema="big")["many"]
    ids = np.arange(1, 5001, dtype=np.int32)
    want = pd.DataFrame({
        "id": ids, "maybe": pd.array(np.where(ids % 3 == 0, None, ids), dtype="Int32"),
        "label": pd.Series([f"row {i}" for i in ids], dtype="str"),
        "at": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(ids, unit="min")})
    pd.testing.assert_frame_equal(got, want.assign(at=want["at"].astype("datetime64[us, UTC]")))


def test_tables_and_namespace_are_selectable(shop_url):
    got = read_tables(shop_url, tables=["OrderLines", "products"])
    assert list(got) == ["OrderLines", "products"]
    notes = read_tables(shop_url, db_schema="archive")
    assert list(notes) == ["notes"]
    assert notes["notes"]["body"].tolist() == ["kept apart"]
    with pytest.raises(ValueError, match=r"has no table 'orderlines' in schema 'public'; its "
                                         r"tables are .*Did you mean 'OrderLines'\?"):
        read_tables(shop_url, tables=["orderlines"])
    with pytest.raises(ValueError, match=r"has no tables in schema 'nowhere'; schemas with "
                                         r"tables: \['archive', .*'public'\]"):
        read_tables(shop_url, db_schema="nowhere")
    with pytest.raises(ValueError, match=r"db_schema= and tables= select the tables of a "
                                         r"database server"):
        read_tables(shop_frames(), tables=["customers"])


def test_declared_keys_come_from_the_catalog(shop_url):
    assert read_declared_schema(shop_url) == DECLARED
    assert read_declared_schema(shop_url, db_schema="archive") == {
        "notes": {"primary_key": "note_id", "foreign_keys": {}, "not_null": ["note_id"]}}


def test_read_database_from_a_server_keeps_declared_keys(shop_url):
    with pytest.warns(UserWarning, match=r"using the keys its catalog declares, the rest "
                                         r"inferred from 'postgresql://postgres@"):
        db = read_database(shop_url)
    schema = {t: s.to_dict() for t, s in db.schema.items()}
    for table, spec in DECLARED.items():
        assert schema[table]["primary_key"] == spec["primary_key"]
        assert schema[table]["foreign_keys"] == spec["foreign_keys"]
    assert schema["Orders"]["time_column"] == "placed_at"  # inferred: no catalog says it
    _, reasons = infer_schema(read_tables(shop_url), return_reasons=True, declared={
        t: {k: s[k] for k in ("primary_key", "foreign_keys")} for t, s in DECLARED.items()})
    yaml_text = schema_to_yaml(schema, reasons)
    assert "# (OrderId, line): primary key: declared." in yaml_text
    assert "# (order_ref, line): foreign key to 'OrderLines': declared." in yaml_text


def test_keys_to_tables_not_read_are_left_out(shop_url, caplog):
    with caplog.at_level(logging.WARNING, logger="relcontrast.io"):
        declared = read_declared_schema(shop_url, tables=["OrderLines", "products"])
    assert declared == {t: DECLARED[t] for t in ("products", "OrderLines")} | {
        "OrderLines": {**DECLARED["OrderLines"], "foreign_keys": {"sku": "products"}}}
    assert caplog.messages == ["Declared foreign key OrderLines(OrderId) REFERENCES "
                               "Orders(OrderId) skipped: table 'Orders' is not read."]
    with pytest.warns(UserWarning, match="the keys its catalog declares"):
        db = read_database(shop_url, tables=["OrderLines", "products"])
    assert db.schema["OrderLines"].foreign_keys == {"sku": "products"}


def test_an_explicit_schema_wins_over_the_catalog(shop_url):
    schema = {t: {} for t in DECLARED}
    schema["products"] = {"primary_key": "sku"}
    db = read_database(shop_url, schema)
    assert db.schema["customers"].primary_key is None
    assert db.schema["OrderLines"].foreign_keys == {}
    with pytest.raises(ValueError, match=r"has table\(s\) \['returns'\] that the schema does "
                                         r"not mention.*or name the tables to read with "
                                         r"tables="):
        read_database(shop_url, {t: {} for t in DECLARED if t != "returns"})
    db = read_database(shop_url, {"products": {"primary_key": "sku"}}, tables=["products"])
    assert db.keys("products").tolist() == ["A-1", "B-2", "c 3"]


def test_sqlalchemy_engine_and_connection(shop_url):
    sa = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    engine = sa.create_engine(shop_url.replace("postgresql://", "postgresql+psycopg://"))
    want = read_tables(shop_url)
    for source in (engine, shop_url.replace("postgresql://", "postgresql+psycopg://")):
        got = read_tables(source)
        for name in want:
            pd.testing.assert_frame_equal(got[name], want[name])
    with engine.connect() as con:
        assert read_declared_schema(con) == DECLARED
    engine.dispose()


def test_server_errors_name_the_fix(postgres_url):
    with pytest.raises(ValueError, match=r"relcontrast reads PostgreSQL servers .* Export the "
                                         r"tables to parquet"):
        read_tables("mysql://root:pw@localhost/shop")
    closed = postgres_url.rsplit(":", 1)[0] + ":1/postgres"
    with pytest.raises(ValueError, match=r"Cannot connect to 'postgresql://postgres@127.0.0.1:1"
                                         r"/postgres': .* Check the host, port"):
        read_tables(closed)
    with pytest.raises(ValueError, match=r"Cannot connect to 'postgresql://ann:\*\*\*@"):
        read_tables("postgresql://ann:s3cret@127.0.0.1:1/shop")
    assert "s3cret" not in describe_server("postgresql+psycopg://ann:s3cret@db.example/shop")


def test_arrow_columns_become_the_file_readers_types():
    pa = pytest.importorskip("pyarrow")
    table = pa.table({
        "i": pa.array([1, None], pa.int32()), "j": pa.array([1, 2], pa.int64()),
        "u": pa.array([3, None], pa.uint8()), "b": pa.array([True, None]),
        "d": pa.array([datetime.date(2024, 1, 2), None], pa.date32()),
        "n": pa.array([None, None], pa.int64())})
    df = arrow_to_pandas(table)
    assert df.dtypes.astype(str).to_dict() == {
        "i": "Int32", "j": "int64", "u": "UInt8", "b": "boolean", "d": "datetime64[us]",
        "n": "Int64"}
    assert df["d"].iloc[0] == pd.Timestamp("2024-01-02")


# -- SQLite and DuckDB files declare keys too ---------------------------------------------------
FILE_DDL = [
    "CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE baskets (user_id INTEGER REFERENCES users (user_id), n INTEGER, "
    "PRIMARY KEY (user_id, n))",
    "CREATE TABLE picks (pick INTEGER PRIMARY KEY, owner INTEGER, k INTEGER, "
    "FOREIGN KEY (owner, k) REFERENCES baskets (user_id, n))",
]
FILE_ROWS = ["INSERT INTO users VALUES (1, 'a'), (2, 'b')",
             "INSERT INTO baskets VALUES (1, 1), (1, 2), (2, 1)",
             "INSERT INTO picks VALUES (7, 1, 2), (8, 2, 1)"]
FILE_DECLARED = {
    "users": {"primary_key": "user_id", "foreign_keys": {}, "not_null": ["name", "user_id"]},
    "baskets": {"primary_key": ("user_id", "n"), "foreign_keys": {"user_id": "users"},
                "not_null": ["n", "user_id"]},
    "picks": {"primary_key": "pick", "foreign_keys": {("owner", "k"): "baskets"},
              "not_null": ["pick"]},
}


def _sqlite_file(path):
    con = sqlite3.connect(path)
    for sql in [*FILE_DDL, *FILE_ROWS]:
        con.execute(sql)
    con.commit()
    con.close()
    return path


def _duckdb_file(path):
    con = duckdb.connect(str(path))
    for sql in [*FILE_DDL, *FILE_ROWS]:
        con.execute(sql)
    con.close()
    return path


@pytest.mark.parametrize("make, name", [(_sqlite_file, "shop.sqlite"),
                                        (_duckdb_file, "shop.duckdb")])
def test_database_files_declare_their_keys(make, name, tmp_path):
    path = make(tmp_path / name)
    declared = read_declared_schema(path)
    for spec in declared.values():
        spec["not_null"] = sorted(spec["not_null"])
    if name.endswith(".sqlite"):  # SQLite reports a NOT NULL only where it is written
        assert declared == {
            "users": {**FILE_DECLARED["users"], "not_null": ["name"]},
            "baskets": {**FILE_DECLARED["baskets"], "not_null": []},
            "picks": {**FILE_DECLARED["picks"], "not_null": []}}
    else:
        assert declared == FILE_DECLARED
    with pytest.warns(UserWarning, match=r"the keys its catalog declares"):
        db = read_database(path)
    assert db.schema["picks"].foreign_keys == {("owner", "k"): "baskets"}
    assert db.schema["baskets"].primary_key == ("user_id", "n")
    assert read_declared_schema(tmp_path) == {}


def test_foreign_keys_relcontrast_cannot_use_are_reported(tmp_path, caplog):
    path = tmp_path / "odd.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, code TEXT UNIQUE)")
    con.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, a_code TEXT REFERENCES a (code))")
    con.commit()
    con.close()
    with caplog.at_level(logging.WARNING, logger="relcontrast.io"):
        declared = read_declared_schema(path)
    assert declared["b"]["foreign_keys"] == {}
    assert ("Declared foreign key b(a_code) REFERENCES a(code) skipped: it does not reference "
            "a's primary key ['id']") in caplog.text
    with pytest.raises(ValueError, match=r"db_schema= and tables= select the tables of a "
                                         r"database server; they do not apply to"):
        read_declared_schema(path, db_schema="main")
