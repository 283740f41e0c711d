"""Keys a database declares: primary keys, foreign keys and NOT NULL columns from its catalog.

SQLite files (``PRAGMA table_info`` / ``PRAGMA foreign_key_list``), DuckDB files
(``duckdb_constraints()``) and PostgreSQL servers (``pg_catalog``) declare keys with
``PRIMARY KEY`` and ``REFERENCES``; :func:`read_declared_schema` reads them into the
schema format of :func:`~relcontrast.io.read_schema`, for :func:`~relcontrast.io.infer_schema`
to keep as declared and complete.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from relcontrast.io import servers
from relcontrast.io.readers import file_kind, file_suffix

__all__ = ["read_declared_schema"]

logger = logging.getLogger(__name__)


def _sqlite_constraints(path: Path) -> list[tuple]:
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid")]
        records = []
        pks = {}
        for name in names:
            quoted = servers.quote(name)
            info = con.execute(f"PRAGMA table_info({quoted})").fetchall()
            # (cid, name, type, notnull, default, pk position, 1-based; 0 outside the key)
            pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            pks[name] = pk
            if pk:
                records.append((name, "primary_key", pk, None, ()))
            records += [(name, "not_null", (r[1],), None, ()) for r in info if r[3]]
        for name in names:
            rows = con.execute(f"PRAGMA foreign_key_list({servers.quote(name)})").fetchall()
            # (id, seq, referenced table, from, to, on_update, on_delete, match)
            by_id: dict[int, list] = {}
            for row in sorted(rows, key=lambda r: (r[0], r[1])):
                by_id.setdefault(row[0], []).append(row)
            for fk in by_id.values():
                ref = fk[0][2]
                cols = tuple(r[3] for r in fk)
                # REFERENCES t without columns references t's primary key (to is NULL)
                ref_cols = tuple(r[4] for r in fk) if all(r[4] for r in fk) else pks.get(
                    ref, ())
                records.append((name, "foreign_key", cols, ref, ref_cols))
    finally:
        con.close()
    return records


def _duckdb_constraints(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT schema_name, table_name, constraint_type, constraint_column_names, "
            "referenced_table, referenced_column_names FROM duckdb_constraints() "
            "WHERE database_name = current_database() AND constraint_type IN "
            "('PRIMARY KEY', 'FOREIGN KEY', 'NOT NULL') "
            "ORDER BY schema_name <> 'main', schema_name, table_name, constraint_index"
        ).fetchall()
    finally:
        con.close()
    kinds = {"PRIMARY KEY": "primary_key", "FOREIGN KEY": "foreign_key", "NOT NULL": "not_null"}

    def key(schema, table):  # named as readers._read_duckdb names the tables
        return table if schema == "main" else f"{schema}.{table}"

    return [(key(schema, table), kinds[kind], tuple(cols),
             key(schema, ref) if ref else None, tuple(ref_cols or ()))
            for schema, table, kind, cols, ref, ref_cols in rows]


def _key(cols: tuple):
    return cols[0] if len(cols) == 1 else cols


def declared_from_constraints(records, tables: Sequence[str] | None = None) -> dict[str, dict]:
    """Constraint records -> ``{table: {"primary_key": ..., "foreign_keys": {...},
    "not_null": [...]}}`` for every table with a declared constraint, and log the
    foreign keys relcontrast cannot use (to a table not read, or not to a primary key)."""
    names = None if tables is None else set(tables)
    pks = {t: cols for t, kind, cols, _, _ in records if kind == "primary_key"}
    out: dict[str, dict] = {}

    def entry(table):
        return out.setdefault(table, {"primary_key": None, "foreign_keys": {},
                                      "not_null": []})

    for table, kind, cols, ref, ref_cols in records:
        if names is not None and table not in names:
            continue
        if kind == "primary_key":
            entry(table)["primary_key"] = _key(cols)
        elif kind == "not_null":
            if cols[0] not in entry(table)["not_null"]:
                entry(table)["not_null"].append(cols[0])
        else:
            fk = f"{table}({', '.join(cols)}) REFERENCES {ref}({', '.join(ref_cols)})"
            if names is not None and ref not in names:
                logger.warning("Declared foreign key %s skipped: table %r is not read.",
                               fk, ref)
                continue
            ref_pk = pks.get(ref, ())
            if not ref_pk or set(ref_cols) != set(ref_pk) or len(ref_cols) != len(ref_pk):
                logger.warning(
                    "Declared foreign key %s skipped: it does not reference %s's primary key "
                    "%s, and relcontrast links rows through primary keys only.",
                    fk, ref, list(ref_pk) or "(none declared)")
                continue
            by_ref = dict(zip(ref_cols, cols, strict=True))
            ordered = _key(tuple(by_ref[c] for c in ref_pk))  # in the primary key's order
            fks = entry(table)["foreign_keys"]
            if ordered in fks:
                logger.warning("Declared foreign key %s skipped: column(s) %r already "
                               "reference %r.", fk, ordered, fks[ordered])
                continue
            fks[ordered] = ref
    return out


def declared_keys(declared: Mapping[str, dict]) -> dict[str, dict]:
    """The primary and foreign keys of :func:`read_declared_schema`'s result, in the
    partial-schema form ``infer_schema(..., declared=...)`` takes (NOT NULL left out)."""
    return {t: {"primary_key": s["primary_key"], "foreign_keys": dict(s["foreign_keys"])}
            for t, s in declared.items() if s["primary_key"] is not None or s["foreign_keys"]}


def read_declared_schema(source, *, db_schema: str | None = None,
                         tables: Sequence[str] | None = None) -> dict[str, dict]:
    """Read the keys a database declares in its catalog.

    Parameters
    ----------
    source : str, path-like, SQLAlchemy Engine or Connection
        A SQLite or DuckDB file, or a PostgreSQL server
        (``postgresql://user:password@host:port/database``). Folders of CSV or parquet files
        and dicts of DataFrames declare nothing: the result is empty.
    db_schema : str, default=None
        For a server, the schema (namespace) whose tables are read; None reads the
        connection's current schema (``public`` unless the server says otherwise).
    tables : list of str, default=None
        For a server, the tables to read; None reads all tables of the schema.

    Returns
    -------
    dict
        ``{table: {"primary_key": ..., "foreign_keys": {...}, "not_null": [...]}}`` for the
        tables with at least one declared constraint: the primary key (a column name or a
        tuple of them, None when not declared), foreign keys to other tables' primary keys
        (tuple keys for composite ones, ordered as the referenced primary key) and the
        NOT NULL columns. Foreign keys that relcontrast cannot use (to a table not read, or
        to columns other than a primary key) are left out with a warning on the
        ``relcontrast.io`` logger.
    """
    if isinstance(source, Mapping):
        return {}
    if servers.is_server_source(source):
        records, names = servers.server_constraints(source, db_schema=db_schema,
                                                    tables=tables)
        return declared_from_constraints(records, names)
    if db_schema is not None or tables is not None:
        raise ValueError(
            "db_schema= and tables= select the tables of a database server; they do not "
            f"apply to {str(source)!r}. Remove them."
        )
    if not isinstance(source, (str, os.PathLike)):
        return {}
    path = Path(source)
    if not path.is_file() or file_suffix(path) not in (".sqlite", ".sqlite3", ".db", ".duckdb",
                                                   ".ddb"):
        return {}
    kind = file_kind(path)
    if kind == "sqlite":
        return declared_from_constraints(_sqlite_constraints(path))
    if kind == "duckdb":
        return declared_from_constraints(_duckdb_constraints(path))
    return {}
