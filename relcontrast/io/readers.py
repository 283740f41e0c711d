"""Read the tables of a database from files: CSV / parquet folders, SQLite / DuckDB files.

duckdb reads every file format, so types come through as the files hold them: dates as
datetimes, integer keys as integers (nullable ``Int64`` when a column has nulls), string keys
as strings. Columns of ISO 8601 date strings that a reader left as text (a CSV column mixing
dates and timestamps, SQLite's TEXT dates) become datetimes too.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from relcontrast.io import servers
from relcontrast.io._common import DATE_SAMPLE

__all__ = ["read_table", "read_tables"]

logger = logging.getLogger(__name__)

_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
_QUIET_SUFFIXES = (".yaml", ".yml", ".json", ".md", ".txt")  # schema and notes beside data
_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # at byte offset 8 of a DuckDB database file

_ISO_DATETIME = (r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
                 r"(?:Z|[+-]\d{2}:?\d{2})?")


def file_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*_CSV_SUFFIXES, *_PARQUET_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _stem(path: Path) -> str:
    return path.name[: len(path.name) - len(file_suffix(path))]


def _parse_iso_strings(df: pd.DataFrame) -> pd.DataFrame:
    """String columns whose every non-null value is an ISO 8601 date or timestamp ->
    datetimes (a new frame when any column changes)."""
    converted = {}
    for col in df.columns:
        series = df[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(
                series) or pd.api.types.is_bool_dtype(series):
            continue
        values = series.dropna()
        if not len(values) or not (isinstance(series.dtype, pd.StringDtype) or all(
                isinstance(v, str) for v in values)):
            continue
        strings = values.astype(str)
        if not strings.iloc[:DATE_SAMPLE].str.fullmatch(_ISO_DATETIME).all():
            continue  # cheap rejection of most text columns before scanning them whole
        if not strings.str.fullmatch(_ISO_DATETIME).all():
            continue
        with_offset = strings.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).any()
        try:
            parsed = pd.to_datetime(series, format="ISO8601", utc=bool(with_offset))
        except (ValueError, TypeError, OverflowError):
            continue  # e.g. 2020-13-45: leave it as text
        converted[col] = parsed
    return df.assign(**converted) if converted else df


def _to_pandas(relation) -> pd.DataFrame:
    with warnings.catch_warnings():
        # duckdb's conversion of TIMESTAMPTZ columns calls DataFrame.drop(inplace=True),
        # deprecated in pandas 3.1; nothing the user can act on
        warnings.filterwarnings("ignore", message="The inplace keyword")
        return relation.df()


def _duckdb_frame(relation_fn, path: Path, what: str) -> pd.DataFrame:
    try:
        return _to_pandas(relation_fn())
    except (duckdb.Error, OSError) as exc:
        raise ValueError(
            f"Cannot read {str(path)!r} as {what}: {str(exc).splitlines()[0]} Check that the "
            f"file is a valid {what} file (not truncated, right extension), or remove it from "
            f"the folder."
        ) from exc


def _read_csv(path: Path, con) -> pd.DataFrame:
    try:
        return _to_pandas(con.read_csv(str(path)))
    except (duckdb.Error, OSError):
        # duckdb guesses column types from the first rows; read the whole file to guess
        return _duckdb_frame(lambda: con.read_csv(str(path), sample_size=-1), path, "CSV")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read one CSV or parquet file into a DataFrame, typed as :func:`read_tables` types.

    Use it for files of rows ``(entity, cutoff time)`` so their key and time columns get
    the same types as the database's.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.csv.gz``, ``.tsv``, ``.parquet`` or ``.pq`` file.

    Returns
    -------
    pandas.DataFrame
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {str(path)!r}.")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; read_table reads one CSV or parquet file.")
    suffix = file_suffix(path)
    con = duckdb.connect(":memory:")
    try:
        if suffix in _CSV_SUFFIXES:
            df = _read_csv(path, con)
        elif suffix in _PARQUET_SUFFIXES:
            df = _duckdb_frame(lambda: con.read_parquet(str(path)), path, "parquet")
        else:
            raise ValueError(
                f"Cannot read {str(path)!r}: unknown extension {suffix!r}; use one of "
                f"{(*_CSV_SUFFIXES, *_PARQUET_SUFFIXES)}."
            )
    finally:
        con.close()
    return _parse_iso_strings(df)


def _read_folder(folder: Path) -> dict[str, pd.DataFrame]:
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    by_format: dict[str, list[Path]] = {"CSV": [], "parquet": []}
    ignored = []
    for path in files:
        suffix = file_suffix(path)
        if path.is_file() and suffix in _CSV_SUFFIXES:
            by_format["CSV"].append(path)
        elif path.is_file() and suffix in _PARQUET_SUFFIXES:
            by_format["parquet"].append(path)
        else:
            ignored.append(path.name)
    tables_files = by_format["CSV"] + by_format["parquet"]
    if not tables_files:
        found = f" (it holds {ignored})" if ignored else " (it is empty)"
        raise ValueError(
            f"Folder {str(folder)!r} has no CSV or parquet files{found}. Put one file per "
            f"table in it, named after the table, e.g. users.csv and orders.csv."
        )
    if by_format["CSV"] and by_format["parquet"]:
        raise ValueError(
            f"Folder {str(folder)!r} mixes CSV ({by_format['CSV'][0].name}, ...) and parquet "
            f"({by_format['parquet'][0].name}, ...) files; relcontrast reads one format per "
            f"folder. Convert the tables to one format or move the others out of the folder."
        )
    loud = [n for n in ignored if not n.lower().endswith(_QUIET_SUFFIXES)]
    if loud:
        logger.warning("Folder %r: ignored %s (not CSV or parquet files).", str(folder), loud)
    tables = {}
    for path in tables_files:
        name = _stem(path)
        if name in tables:
            raise ValueError(
                f"Folder {str(folder)!r} has two files for table {name!r} (e.g. "
                f"{path.name}); keep one file per table."
            )
        tables[name] = read_table(path)
    return tables


def _read_sqlite(path: Path) -> dict[str, pd.DataFrame]:
    # duckdb reads SQLite through its `sqlite` extension, which is not part of the duckdb
    # wheel: it is downloaded from extensions.duckdb.org on first use, which fails offline.
    # SQLite files are therefore read with the standard library's sqlite3, and the types
    # SQLite does not keep are restored from the declared column types below.
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ValueError(f"Cannot open {str(path)!r} as a SQLite database: {exc}.") from exc
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid")]
        tables = {}
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            declared = {r[1]: (r[2] or "").upper()
                        for r in con.execute(f"PRAGMA table_info({quoted})")}
            df = pd.read_sql_query(f"SELECT * FROM {quoted}", con)
            tables[name] = _parse_iso_strings(_restore_sqlite_types(df, declared))
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        raise ValueError(
            f"Cannot read {str(path)!r} as a SQLite database: {exc}. Check that it is a SQLite "
            f"file (a DuckDB file should end in .duckdb)."
        ) from exc
    finally:
        con.close()
    return tables


def _restore_sqlite_types(df: pd.DataFrame, declared: Mapping[str, str]) -> pd.DataFrame:
    """INTEGER columns with nulls come back as floats, BOOLEAN ones as 0/1: restore them as
    nullable ``Int64`` / ``boolean`` (what duckdb gives for the other formats)."""
    converted = {}
    for col, decl in declared.items():
        if col not in df.columns:
            continue
        series = df[col]
        values = series.dropna()
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        arr = values.to_numpy(dtype=np.float64)
        integral = bool(np.all(np.isfinite(arr) & (arr == np.round(arr))))
        if "BOOL" in decl and set(np.unique(arr)) <= {0.0, 1.0}:
            converted[col] = series.astype("boolean")
        elif "INT" in decl and integral and pd.api.types.is_float_dtype(series):
            converted[col] = series.astype("Int64")
    return df.assign(**converted) if converted else df


def _read_duckdb(path: Path) -> dict[str, pd.DataFrame]:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ValueError(
            f"Cannot open {str(path)!r} as a DuckDB database: {str(exc).splitlines()[0]}"
        ) from exc
    try:
        rows = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() "
            "ORDER BY table_schema <> 'main', table_schema, table_name").fetchall()
        tables = {}
        for schema, name in rows:
            qualified = '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'
            key = name if schema == "main" else f"{schema}.{name}"
            tables[key] = _parse_iso_strings(_to_pandas(con.sql(f"SELECT * FROM {qualified}")))
    finally:
        con.close()
    return tables


def file_kind(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head[8:12] == _DUCKDB_MAGIC:
        return "duckdb"
    return None


def read_tables(source, *, db_schema: str | None = None,
                tables: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Read the tables of a database, without a schema.

    Parameters
    ----------
    source : str, path-like, dict of str to DataFrame, SQLAlchemy Engine or Connection
        A folder with one CSV (``.csv``, ``.csv.gz``, ``.tsv``) or parquet (``.parquet``,
        ``.pq``) file per table, the table name being the file name without extension; a
        SQLite (``.sqlite``, ``.sqlite3``, ``.db``) or DuckDB (``.duckdb``, ``.db``) file,
        one table per database table; a PostgreSQL server, as a URL
        (``postgresql://user:password@host:port/database``, ``postgresql+psycopg://...``
        too) or a SQLAlchemy Engine or Connection to one; or a dict of DataFrames, returned
        as a new dict of the same (unmodified) frames.
    db_schema : str, default=None
        For a server, the schema (namespace) whose tables are read; None reads the
        connection's current schema (``public`` unless the server says otherwise).
    tables : list of str, default=None
        For a server, the tables to read (names are case-sensitive, as the server stores
        them); None reads all tables of the schema.

    Returns
    -------
    dict of str to pandas.DataFrame
    """
    if servers.is_server_source(source):
        read = servers.read_server_tables(source, db_schema=db_schema, tables=tables)
        return {name: _parse_iso_strings(df) for name, df in read.items()}
    if db_schema is not None or tables is not None:
        raise ValueError(
            "db_schema= and tables= select the tables of a database server; they do not "
            f"apply to {'a dict of tables' if isinstance(source, Mapping) else repr(str(source))}"
            ". Remove them."
        )
    if isinstance(source, Mapping):
        for name, df in source.items():
            if not isinstance(name, str):
                raise TypeError(f"Table names must be strings, got {name!r}.")
            if not isinstance(df, pd.DataFrame):
                raise TypeError(
                    f"Table {name!r} must be a pandas DataFrame, got {type(df).__name__}."
                )
        if not source:
            raise ValueError("The dict of tables is empty; give at least one DataFrame.")
        return dict(source)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a folder, a SQLite / DuckDB file, a database URL or a dict of "
            f"DataFrames, got "
            f"{type(source).__name__}."
        )
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(
            f"No such file or folder: {str(path)!r}. Give a folder of CSV or parquet files, "
            f"or a SQLite / DuckDB file."
        )
    if path.is_dir():
        return _read_folder(path)
    suffix = file_suffix(path)
    if suffix in _CSV_SUFFIXES or suffix in _PARQUET_SUFFIXES:
        raise ValueError(
            f"{str(path)!r} is a single table; put the tables of the database in one folder "
            f"(one file per table) and read the folder, e.g. read_database({str(path.parent)!r})."
        )
    if suffix not in (*_SQLITE_SUFFIXES, *_DUCKDB_SUFFIXES):
        raise ValueError(
            f"Cannot read {str(path)!r}: unknown extension {suffix!r}. relcontrast reads a "
            f"folder of CSV or parquet files, a SQLite file ({', '.join(_SQLITE_SUFFIXES)}) or "
            f"a DuckDB file (.duckdb)."
        )
    kind = file_kind(path)
    expected = "sqlite" if suffix in (".sqlite", ".sqlite3") else (
        "duckdb" if suffix in (".duckdb", ".ddb") else kind)  # .db: either
    if kind is None or kind != expected:
        what = {"sqlite": "a SQLite", "duckdb": "a DuckDB"}.get(expected, "a SQLite or DuckDB")
        found = {"sqlite": " (it is a SQLite file)", "duckdb": " (it is a DuckDB file)"}.get(
            kind, "")
        raise ValueError(
            f"Cannot read {str(path)!r}: it is not {what} database file{found}. Check the "
            f"file, or give it the extension of its format."
        )
    tables = _read_sqlite(path) if kind == "sqlite" else _read_duckdb(path)
    if not tables:
        raise ValueError(f"The database file {str(path)!r} has no tables.")
    return tables
