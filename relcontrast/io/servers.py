"""Read tables and their declared keys from a database server (PostgreSQL).

Rows travel as Arrow record batches through ADBC (``adbc-driver-postgresql``, the
``postgres`` extra); the batches of a table are joined without a copy, and each Arrow column
is released as soon as it is a pandas column, so at most one column is held twice. Types
come out as the file readers give them (see :mod:`relcontrast.io.readers`): integers as
integers (nullable ``Int64`` and the like when a column has nulls), booleans, strings,
``numeric`` as floats, dates and timestamps as datetimes, ``timestamptz`` as UTC datetimes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["is_server_source"]

logger = logging.getLogger(__name__)

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9]*)(?:\+[A-Za-z0-9_]+)?://")
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_BATCH_BYTES = 16 * 2**20  # the size of the Arrow record batches the server sends
_INSTALL_HINT = "pip install 'relcontrast[postgres]' (or: pip install adbc-driver-postgresql)"


def _is_sqlalchemy(source) -> bool:
    """A SQLAlchemy Engine or Connection (checked without importing SQLAlchemy)."""
    module = type(source).__module__ or ""
    return module.startswith("sqlalchemy.") and hasattr(source, "dialect")


def is_server_source(source) -> bool:
    """Whether ``source`` names a database server: a URL with a scheme (``postgresql://``),
    or a SQLAlchemy Engine or Connection."""
    if isinstance(source, str):
        return _URL.match(source) is not None and not source.lower().startswith("file://")
    return _is_sqlalchemy(source)


def hide_password(source) -> str:
    """The server's URL without its password: ``postgresql://ann:***@host/shop``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", _url_string(source))


def describe_server(source) -> str:
    """The source for messages, quoted, without its password."""
    return repr(hide_password(source))


def _url_string(source) -> str:
    if isinstance(source, str):
        return source
    engine = getattr(source, "engine", source)  # a Connection has .engine
    return engine.url.render_as_string(hide_password=False)


def _postgres_uri(source) -> str:
    """A libpq URI for ADBC: ``postgresql+psycopg://...`` -> ``postgresql://...``."""
    url = _url_string(source)
    match = _URL.match(url)
    scheme = match.group("scheme").lower() if match else ""
    if scheme not in _POSTGRES_SCHEMES:
        shown = describe_server(source)
        raise ValueError(
            f"Cannot read {shown}: relcontrast reads PostgreSQL servers "
            f"(postgresql://user:password@host:port/database); other servers are not "
            f"supported yet. Export the tables to parquet files, or to a DuckDB / SQLite "
            f"file, and read that."
        )
    return "postgresql://" + url[match.end():]


def connect(source):
    """An ADBC DB-API connection to the PostgreSQL server ``source`` names."""
    uri = _postgres_uri(source)
    try:
        import adbc_driver_postgresql.dbapi as adbc
    except ImportError as exc:
        raise ImportError(
            f"Reading a PostgreSQL server needs the ADBC driver: {_INSTALL_HINT}."
        ) from exc
    try:
        return adbc.connect(uri)
    except Exception as exc:  # adbc raises its own DB-API hierarchy; keep the first line
        raise ValueError(
            f"Cannot connect to {describe_server(source)}: {str(exc).splitlines()[0]} Check "
            f"the host, port, user, password and database name in the URL."
        ) from exc


def quote(name: str) -> str:
    """A SQL identifier, quoted: ``OrderLines`` -> ``"OrderLines"``."""
    return '"' + name.replace('"', '""') + '"'


def fetch_rows(cur, sql: str, params: Sequence | None = None) -> list[tuple]:
    """All rows of a (small, catalog) query as tuples."""
    cur.execute(sql, params)
    table = cur.fetch_arrow_table()
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True))


def namespace_of(cur, db_schema: str | None) -> str:
    """The namespace to read: ``db_schema``, or the connection's current schema."""
    if db_schema is not None:
        if not isinstance(db_schema, str):
            raise TypeError(f"db_schema must be a schema name (str), got {db_schema!r}.")
        return db_schema
    return fetch_rows(cur, "SELECT current_schema()::text")[0][0]


def table_names(cur, namespace: str, tables: Sequence[str] | None, where: str) -> list[str]:
    """The tables to read: all base tables of ``namespace``, or ``tables``, checked."""
    present = [r[0] for r in fetch_rows(
        cur,
        "SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') "
        "AND NOT c.relispartition ORDER BY c.relname", (namespace,))]
    if tables is None:
        if not present:
            namespaces = [r[0] for r in fetch_rows(
                cur, "SELECT DISTINCT table_schema::text FROM information_schema.tables WHERE "
                "table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")]
            raise ValueError(
                f"{where} has no tables in schema {namespace!r}; schemas with tables: "
                f"{namespaces}. Pass db_schema= (--db-schema in the CLI) to read another."
            )
        return present
    if isinstance(tables, str) or not all(isinstance(t, str) for t in tables):
        raise TypeError(f"tables must be a list of table names, got {tables!r}.")
    from relcontrast._validation import did_you_mean

    for name in tables:
        if name not in present:
            raise ValueError(
                f"{where} has no table {name!r} in schema {namespace!r}; its tables are "
                f"{present}.{did_you_mean(name, present)} Names are case-sensitive."
            )
    if not tables:
        raise ValueError("tables is empty; name at least one table, or pass None for all.")
    return list(dict.fromkeys(tables))


# -- Arrow to pandas --------------------------------------------------------------------------
def _column_to_pandas(column) -> pd.Series | np.ndarray:
    """One Arrow column -> pandas, typed as duckdb types the file readers' columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = column.type
    if isinstance(typ, pa.BaseExtensionType):  # e.g. numeric, uuid
        storage = pa.chunked_array([c.storage for c in column.chunks], typ.storage_type)
        type_name = getattr(typ, "type_name", "")
        if type_name == "numeric":  # exact decimals, sent as text: floats, as duckdb gives
            return pc.cast(storage, pa.float64()).to_pandas()
        if pa.types.is_binary(storage.type) or pa.types.is_fixed_size_binary(storage.type):
            try:
                return pd.Series(column.to_pylist(), dtype=object).map(
                    lambda v: None if v is None else str(v))
            except (TypeError, ValueError, pa.ArrowException):
                return storage.to_pandas()
        return storage.to_pandas()
    nulls = column.null_count
    if pa.types.is_integer(typ) and nulls:
        return column.to_pandas(types_mapper={typ: pd.api.types.pandas_dtype(
            str(typ).replace("int", "Int").replace("uInt", "UInt"))}.get)
    if pa.types.is_boolean(typ) and nulls:
        return column.to_pandas(types_mapper={typ: pd.BooleanDtype()}.get)
    if pa.types.is_date(typ):
        return column.to_pandas(date_as_object=False).astype("datetime64[us]")
    if pa.types.is_timestamp(typ) and typ.unit == "ns":
        return column.to_pandas()
    if pa.types.is_decimal(typ):
        return pc.cast(column, pa.float64()).to_pandas()
    return column.to_pandas()


def arrow_to_pandas(table) -> pd.DataFrame:
    """An Arrow table -> a DataFrame, column by column, each Arrow column released once
    converted. The caller must not hold another reference to ``table``."""
    names = table.column_names
    columns = {}
    for name in names:
        column = table.column(0)
        table = table.remove_column(0)
        columns[name] = pd.Series(_column_to_pandas(column), name=name)
        del column
    return pd.DataFrame(columns, copy=False) if columns else pd.DataFrame(index=range(0))


def read_table(cur, namespace: str, name: str) -> pd.DataFrame:
    """All rows of one table, in batches of about ``_BATCH_BYTES``."""
    cur.adbc_statement.set_options(
        **{"adbc.postgresql.batch_size_hint_bytes": str(_BATCH_BYTES)})
    cur.execute(f"SELECT * FROM {quote(namespace)}.{quote(name)}")
    table = cur.fetch_record_batch().read_all()  # Arrow batches, concatenated without a copy
    return arrow_to_pandas(table)


def read_server_tables(source, *, db_schema: str | None = None,
                       tables: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Read the tables of one schema (namespace) of a PostgreSQL server, or those named."""
    where = describe_server(source)
    with connect(source) as con, con.cursor() as cur:
        namespace = namespace_of(cur, db_schema)
        names = table_names(cur, namespace, tables, where)
        out = {}
        for name in names:
            logger.info("Reading table %s.%s from %s", namespace, name, where)
            out[name] = read_table(cur, namespace, name)
    return out


def server_constraints(source, *, db_schema: str | None = None,
                       tables: Sequence[str] | None = None) -> tuple[list[tuple], list[str]]:
    """Declared primary keys, foreign keys and NOT NULL columns of a PostgreSQL schema, as
    ``(table, kind, columns, referenced table or None, referenced columns)`` records,
    ``kind`` one of ``"primary_key"``, ``"foreign_key"``, ``"not_null"``; and the names of
    the tables read."""
    where = describe_server(source)
    with connect(source) as con, con.cursor() as cur:
        namespace = namespace_of(cur, db_schema)
        read = table_names(cur, namespace, tables, where)
        names = set(read)
        keys = fetch_rows(cur, """
            SELECT cl.relname::text, con.contype::text,
                   (SELECT array_agg(a.attname::text ORDER BY k.ord)
                      FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
                   fn.nspname::text, fcl.relname::text,
                   (SELECT array_agg(a.attname::text ORDER BY k.ord)
                      FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                      JOIN pg_catalog.pg_attribute a
                        ON a.attrelid = con.confrelid AND a.attnum = k.attnum)
            FROM pg_catalog.pg_constraint con
            JOIN pg_catalog.pg_class cl ON cl.oid = con.conrelid
            JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
            LEFT JOIN pg_catalog.pg_class fcl ON fcl.oid = con.confrelid
            LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fcl.relnamespace
            WHERE n.nspname = $1 AND con.contype IN ('p', 'f')
            ORDER BY cl.relname, con.contype DESC, con.conname""", (namespace,))
        not_null = fetch_rows(cur, """
            SELECT c.relname::text, a.attname::text
            FROM pg_catalog.pg_attribute a
            JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
            ORDER BY c.relname, a.attnum""", (namespace,))
    records = []
    for table, kind, cols, ref_namespace, ref, ref_cols in keys:
        if table not in names:
            continue
        if kind == "p":
            records.append((table, "primary_key", tuple(cols), None, ()))
        else:
            ref_name = ref if ref_namespace == namespace else f"{ref_namespace}.{ref}"
            records.append((table, "foreign_key", tuple(cols), ref_name, tuple(ref_cols)))
    records += [(t, "not_null", (c,), None, ()) for t, c in not_null if t in names]
    return records, read
