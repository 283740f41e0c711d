"""Bring your own database: read tables from files, read or infer their schema.

- :func:`read_database` reads a folder of CSV or parquet files, a SQLite or DuckDB file, or a
  dict of DataFrames, with a schema given as a dict or a YAML / JSON file, into a
  :class:`~relcontrast.RelationalDatabase`.
- :func:`infer_schema` proposes primary keys, foreign keys and time columns from the data,
  with the reason for every choice, for the user to check and edit.
- :func:`read_tables`, :func:`read_table`, :func:`read_schema` and :func:`schema_to_yaml`
  are the steps on their own.

duckdb reads every file format, so types come through as the files hold them: dates as
datetimes, integer keys as integers (nullable ``Int64`` when a column has nulls), string keys
as strings. Columns of ISO 8601 date strings that a reader left as text (a CSV column mixing
dates and timestamps, SQLite's TEXT dates) become datetimes too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import textwrap
import warnings
from collections.abc import Mapping
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from relcontrast._validation import did_you_mean
from relcontrast.database import RelationalDatabase, TableSchema, key_tuple

__all__ = [
    "MIN_INCLUSION",
    "TIME_UNITS",
    "infer_schema",
    "read_database",
    "read_schema",
    "read_table",
    "read_tables",
    "schema_to_yaml",
]

logger = logging.getLogger("relcontrast.io")

#: Default share of a candidate foreign key's non-null values that must be present in the
#: referenced table's primary key for :func:`infer_schema` to propose it.
MIN_INCLUSION = 0.95
#: Share of sampled non-null strings that must parse as dates for a time column.
MIN_DATE_SHARE = 0.99
#: Units :func:`read_database` converts numeric time columns with: calendar years, days, or
#: seconds / milliseconds / microseconds / nanoseconds since 1970-01-01.
TIME_UNITS = ("year", "D", "s", "ms", "us", "ns")

_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
_QUIET_SUFFIXES = (".yaml", ".yml", ".json", ".md", ".txt")  # schema and notes beside data
_SCHEMA_KEYS = ("primary_key", "foreign_keys", "time_column")
_SCHEMA_FILE_KEYS = (*_SCHEMA_KEYS, "time_unit")
_FK_ENTRY_KEYS = ("columns", "references")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # at byte offset 8 of a DuckDB database file

_ISO_DATETIME = (r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
                 r"(?:Z|[+-]\d{2}:?\d{2})?")
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
_GENERIC_KEY_NAMES = ("id", "key", "pk", "uid", "uuid", "guid")
_ID_TOKENS = ("id", "key", "uuid", "guid")
_TIME_NAME_TOKENS = frozenset({
    "ts", "timestamp", "time", "date", "datetime", "created", "creation", "added", "signup",
    "registered", "joined", "posted", "published", "opened", "start", "started", "at", "on",
    "when", "event"})
_LATE_TIME_TOKENS = frozenset({"updated", "modified", "changed", "last", "end", "ended",
                               "closed", "deleted", "expires", "expiry", "due"})
_BIRTH_TOKENS = frozenset({"dob", "birth", "birthday", "birthdate", "born"})
_YEAR_TOKENS = frozenset({"year", "season", "yr"})
_DATE_SAMPLE = 1000
_QUOTE_HINT = (" In YAML, quote names it would read as numbers or booleans, e.g. \"on\" or "
               "\"2020\".")


# -- small helpers ----------------------------------------------------------------------------

def _tokens(name: str) -> list[str]:
    """``"driverStandingsId"`` -> ``["driver", "standings", "id"]``; ``"user_ID"`` ->
    ``["user", "id"]``."""
    out = []
    for part in re.split(r"[^0-9A-Za-z]+", str(name)):
        out += re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", part)
    return [t.lower() for t in out]


def _norm(name: str) -> str:
    return "".join(_tokens(name))


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 1:
        return word[:-1]
    return word


def _table_stems(table: str) -> list[list[str]]:
    """Token lists a key named after ``table`` starts with: the name and its singular."""
    tokens = _tokens(table)
    if not tokens:
        return []
    stems = [tokens]
    singular = [*tokens[:-1], _singular(tokens[-1])]
    if singular != tokens:
        stems.append(singular)
    return stems


def _key_kind(series: pd.Series) -> str | None:
    """"number" (integral), "string", or None for a column that cannot be a key."""
    values = series.dropna()
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        if len(values) and pd.api.types.is_float_dtype(series):
            arr = values.to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                return None
        return "number"
    head = values.iloc[:_DATE_SAMPLE]
    if len(head) and all(isinstance(v, str) for v in head):
        return "string"
    return None


def _spread_sample(values: pd.Series, n: int = _DATE_SAMPLE) -> pd.Series:
    """Up to ``n`` evenly spaced values (deterministic, unlike ``Series.sample``)."""
    if len(values) <= n:
        return values
    return values.iloc[np.linspace(0, len(values) - 1, n).astype(np.int64)]


def _show(value) -> str:
    """repr of a value, numpy scalars as plain Python ones (``1``, not ``np.int64(1)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _fmt_share(share: float) -> str:
    return f"{100 * share:.1f}%"


def _describe_source(source) -> str:
    return "the tables given" if isinstance(source, Mapping) else repr(str(source))


# -- reading tables ---------------------------------------------------------------------------
def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*_CSV_SUFFIXES, *_PARQUET_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _stem(path: Path) -> str:
    return path.name[: len(path.name) - len(_suffix(path))]


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
        if not strings.iloc[:_DATE_SAMPLE].str.fullmatch(_ISO_DATETIME).all():
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
    suffix = _suffix(path)
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
        suffix = _suffix(path)
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


def _file_kind(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head[8:12] == _DUCKDB_MAGIC:
        return "duckdb"
    return None


def read_tables(source) -> dict[str, pd.DataFrame]:
    """Read the tables of a database, without a schema.

    Parameters
    ----------
    source : str, path-like or dict of str to DataFrame
        A folder with one CSV (``.csv``, ``.csv.gz``, ``.tsv``) or parquet (``.parquet``,
        ``.pq``) file per table, the table name being the file name without extension; a
        SQLite (``.sqlite``, ``.sqlite3``, ``.db``) or DuckDB (``.duckdb``, ``.db``) file,
        one table per database table; or a dict of DataFrames, returned as a new dict of the
        same (unmodified) frames.

    Returns
    -------
    dict of str to pandas.DataFrame
    """
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
            f"source must be a folder, a SQLite / DuckDB file or a dict of DataFrames, got "
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
    suffix = _suffix(path)
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
    kind = _file_kind(path)
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


# -- schemas ----------------------------------------------------------------------------------
def _columns(value, where: str):
    """A key given as a column name or a list of names -> a name, or a tuple of names."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return value[0] if len(value) == 1 else tuple(value)
    raise ValueError(f"{where} must be a column name or a list of column names, got "
                     f"{value!r}.{_QUOTE_HINT}")


def _parse_foreign_keys(table: str, fks, origin: str) -> dict:
    where = f"{origin}: table {table!r}, foreign_keys"
    if fks is None:
        return {}
    if isinstance(fks, Mapping):
        out = {}
        for col, ref in fks.items():
            if not isinstance(ref, str):
                raise ValueError(
                    f"{where}: column {col!r} must map to the referenced table's name, got "
                    f"{ref!r}."
                )
            out[col if isinstance(col, (str, tuple)) else _columns(col, where)] = ref
        return out
    if isinstance(fks, list):
        out = {}
        for i, entry in enumerate(fks):
            if not isinstance(entry, Mapping):
                raise ValueError(
                    f"{where}[{i}] must be {{columns: [...], references: table}}, got {entry!r}."
                )
            for key in entry:
                if key not in _FK_ENTRY_KEYS:
                    raise ValueError(
                        f"{where}[{i}] has unknown key {key!r}; allowed keys are "
                        f"{_FK_ENTRY_KEYS}.{did_you_mean(key, _FK_ENTRY_KEYS)}"
                    )
            if "columns" not in entry or "references" not in entry:
                raise ValueError(
                    f"{where}[{i}] needs both 'columns' and 'references', e.g. "
                    f"{{columns: [user_id], references: users}}; got {dict(entry)!r}."
                )
            cols = _columns(entry["columns"], f"{where}[{i}].columns")
            ref = entry["references"]
            if not isinstance(ref, str):
                raise ValueError(f"{where}[{i}].references must be a table name, got {ref!r}.")
            if cols in out:
                raise ValueError(f"{where}: column(s) {cols!r} are listed twice.")
            out[cols] = ref
        return out
    raise ValueError(
        f"{where} must be a mapping {{column: table}} or a list of {{columns: [...], "
        f"references: table}} entries, got {type(fks).__name__}."
    )


def _parse_schema(raw, origin: str) -> dict[str, dict]:
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{origin} must map each table to its keys, e.g. {{users: {{primary_key: user_id}}}}"
            f", got {type(raw).__name__}."
        )
    if not raw:
        raise ValueError(f"{origin} is empty; give one entry per table.")
    out = {}
    for table, spec in raw.items():
        if not isinstance(table, str):
            raise ValueError(f"{origin}: table names must be strings, got {table!r}.")
        if isinstance(spec, TableSchema):
            spec = spec.to_dict()
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise ValueError(
                f"{origin}: table {table!r} must map to {{primary_key: ..., foreign_keys: ..., "
                f"time_column: ...}}, got {spec!r}."
            )
        for key in spec:
            if key not in _SCHEMA_FILE_KEYS:
                raise ValueError(
                    f"{origin}: table {table!r} has unknown key {key!r}; allowed keys are "
                    f"{_SCHEMA_FILE_KEYS}.{did_you_mean(key, _SCHEMA_FILE_KEYS)}"
                )
        pk = spec.get("primary_key")
        time_column = spec.get("time_column")
        if time_column is not None and not isinstance(time_column, str):
            raise ValueError(
                f"{origin}: table {table!r}: time_column must be one column name, got "
                f"{time_column!r}.{_QUOTE_HINT}"
            )
        entry = {
            "primary_key": None if pk is None else _columns(
                pk, f"{origin}: table {table!r}, primary_key"),
            "foreign_keys": _parse_foreign_keys(table, spec.get("foreign_keys"), origin),
            "time_column": time_column,
        }
        unit = spec.get("time_unit")
        if unit is not None:
            if unit not in TIME_UNITS:
                raise ValueError(
                    f"{origin}: table {table!r}: unknown time_unit {unit!r}; use one of "
                    f"{TIME_UNITS}.{did_you_mean(unit, TIME_UNITS)}"
                )
            if time_column is None:
                raise ValueError(
                    f"{origin}: table {table!r} sets time_unit but no time_column; name the "
                    f"numeric column to convert in time_column."
                )
            entry["time_unit"] = unit
        out[table] = entry
    return out


def read_schema(source) -> dict[str, dict]:
    """Read a schema from a dict or a YAML / JSON file, in relcontrast's format.

    Parameters
    ----------
    source : dict, str or path-like
        ``{table: {"primary_key": col, "foreign_keys": {col: table}, "time_column": col}}``
        (every key optional), or a ``.yaml`` / ``.yml`` / ``.json`` file with the same
        content. ``foreign_keys`` may also be a list of ``{columns: [a], references:
        table}`` entries; entries with several columns (composite keys) become tuple keys
        ``{("a", "b"): table}``, referencing a table whose ``primary_key`` is a list of as
        many columns. A table may set ``time_unit`` (one of :data:`TIME_UNITS`)
        to convert a numeric time column, see :func:`read_database`.

    Returns
    -------
    dict
        A new dict, one entry per table with ``primary_key``, ``foreign_keys`` (a dict) and
        ``time_column``, plus ``time_unit`` where given. The input is not modified.
    """
    if isinstance(source, Mapping):
        return _parse_schema(source, "schema")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"schema must be a dict or the path of a YAML / JSON file, got "
            f"{type(source).__name__}."
        )
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"No such schema file: {str(path)!r}. Write one with `relcontrast schema DATA "
            f"--out {path.name}` and check it."
        )
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    origin = f"schema file {str(path)!r}"
    if suffix in (".yaml", ".yml"):
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"Cannot parse {origin} as YAML: {exc}") from exc
    elif suffix == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Cannot parse {origin} as JSON: {exc}") from exc
    else:
        raise ValueError(
            f"Cannot read {origin}: unknown extension {suffix!r}; use .yaml, .yml or .json."
        )
    return _parse_schema(raw, origin)


def _yaml_scalar(value) -> str:
    if value is None:
        return "null"
    text = str(value)
    if (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", text)
            and yaml.safe_load(text) == text):  # plain unless YAML reads it as bool / null
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def schema_to_yaml(schema, reasons: Mapping[str, list[str]] | None = None, *,
                   header: str | None = None) -> str:
    """Write a schema as YAML, optionally with reasons as comments.

    Parameters
    ----------
    schema : dict or RelationalDatabase schema
        ``{table: {"primary_key": ..., "foreign_keys": {...}, "time_column": ...}}``.
    reasons : dict of str to list of str, default=None
        Comment lines per table, e.g. from ``infer_schema(..., return_reasons=True)``.
    header : str, default=None
        Comment lines above everything.

    Returns
    -------
    str
        YAML that :func:`read_schema` reads back to the same schema.
    """
    schema = read_schema(schema)
    lines = [f"# {line}".rstrip() for line in (header or "").splitlines()]
    for table, spec in schema.items():
        if lines:
            lines.append("")
        lines.append(f"{_yaml_scalar(table)}:")
        for reason in (reasons or {}).get(table, ()):
            lines += textwrap.wrap(reason, width=96, initial_indent="  # ",
                                   subsequent_indent="  #   ", break_on_hyphens=False,
                                   break_long_words=False)
        lines.append(f"  primary_key: {_yaml_key(spec['primary_key'])}")
        fks = spec["foreign_keys"]
        if not fks:
            lines.append("  foreign_keys: {}")
        elif any(isinstance(col, tuple) for col in fks):
            lines.append("  foreign_keys:")
            for col, ref in fks.items():
                lines.append(f"    - columns: {_yaml_key(col, as_list=True)}")
                lines.append(f"      references: {_yaml_scalar(ref)}")
        else:
            lines.append("  foreign_keys:")
            lines += [f"    {_yaml_scalar(col)}: {_yaml_scalar(ref)}" for col, ref in fks.items()]
        lines.append(f"  time_column: {_yaml_scalar(spec['time_column'])}")
        if "time_unit" in spec:
            lines.append(f"  time_unit: {_yaml_scalar(spec['time_unit'])}")
    return "\n".join(lines) + "\n"


def _yaml_key(value, as_list: bool = False) -> str:
    if isinstance(value, tuple) or as_list:
        return "[" + ", ".join(_yaml_scalar(c) for c in key_tuple(value)) + "]"
    return _yaml_scalar(value)


def _convert_time(table: str, col: str, series: pd.Series, unit: str) -> pd.Series:
    values = series.dropna()
    if unit == "year":
        arr = values.to_numpy(dtype=np.float64)
        if not np.all(arr == np.round(arr)):
            bad = values[arr != np.round(arr)].iloc[0]
            raise ValueError(
                f"Table {table!r}: time column {col!r} has time_unit 'year' but holds "
                f"non-integer value {_show(bad)}; years must be whole numbers."
            )
        years = series.astype("Int64").astype("string")
        return pd.to_datetime(years, format="%Y", errors="raise")
    return pd.to_datetime(series, unit=unit)


def _apply_time_units(tables, schema, default_unit):
    out = dict(tables)
    for table, spec in schema.items():
        col, unit = spec["time_column"], spec.get("time_unit", default_unit)
        if col is None or unit is None or table not in out or col not in out[table].columns:
            continue
        series = out[table][col]
        numeric = (pd.api.types.is_numeric_dtype(series)
                   and not pd.api.types.is_bool_dtype(series))
        if not numeric:
            if "time_unit" in spec:
                raise ValueError(
                    f"Table {table!r}: time_unit {unit!r} is set but time column {col!r} is "
                    f"not numeric (dtype {series.dtype}); remove time_unit, it only converts "
                    f"numbers (years, Unix seconds, ...) to datetimes."
                )
            continue
        out[table] = out[table].assign(**{col: _convert_time(table, col, series, unit)})
    return out


def read_database(source, schema=None, *, time_unit: str | None = None,
                  on_dangling: str = "warn") -> RelationalDatabase:
    """Read a database from files (or a dict of DataFrames) and its schema.

    Parameters
    ----------
    source : str, path-like or dict of str to DataFrame
        A folder of CSV or parquet files (one per table, named after it), a SQLite or
        DuckDB file, or a dict of DataFrames; see :func:`read_tables`. The caller's frames
        are never modified.
    schema : dict, str, path-like or None, default=None
        The schema as a dict or a YAML / JSON file (see :func:`read_schema`). None infers it
        with :func:`infer_schema` and warns with the schema used: check it (``relcontrast
        schema DATA`` prints it with the reason for each choice) and pass it explicitly.
    time_unit : {"year", "D", "s", "ms", "us", "ns"} or None, default=None
        Unit of numeric time columns (years, or days / seconds / ... since 1970-01-01),
        converted to datetimes because relcontrast needs datetime times. A table's
        ``time_unit`` in the schema takes precedence. None leaves numeric time columns as
        they are, which :class:`~relcontrast.RelationalDatabase` refuses.
    on_dangling : {"warn", "raise", "ignore"}, default="warn"
        Foreign-key values absent from the referenced table, see
        :class:`~relcontrast.RelationalDatabase`.

    Returns
    -------
    RelationalDatabase

    Examples
    --------
    >>> import tempfile
    >>> from relcontrast.io import read_database
    >>> from relcontrast.testing import make_synthetic_database
    >>> tables, schema = make_synthetic_database()
    >>> folder = tempfile.TemporaryDirectory()
    >>> for name, df in tables.items():
    ...     df.to_parquet(f"{folder.name}/{name}.parquet")
    >>> read_database(folder.name, schema)
    RelationalDatabase(categories=4, users=60, items=40, orders=300, reviews=150)
    >>> folder.cleanup()
    """
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise ValueError(
            f"Unknown time_unit {time_unit!r}; use one of {TIME_UNITS}."
            f"{did_you_mean(time_unit, TIME_UNITS)}"
        )
    tables = read_tables(source)
    where = _describe_source(source)
    if schema is None:
        spec = infer_schema(tables)
        warnings.warn(
            f"No schema given: using the schema inferred from {where}:\n"
            f"{_schema_summary(spec)}\nCheck it (`relcontrast schema DATA` or "
            f"infer_schema(tables, return_reasons=True) explain each choice) and pass it as "
            f"schema= to silence this warning.",
            UserWarning, stacklevel=2,
        )
    else:
        spec = read_schema(schema)
    missing = [t for t in spec if t not in tables]
    if missing:
        raise ValueError(
            f"The schema names table {missing[0]!r}, but {where} has no such table; its "
            f"tables are {sorted(tables)}.{did_you_mean(missing[0], tables)} Fix the name in "
            f"the schema or add the table (a file {missing[0]}.csv / .parquet in a folder)."
        )
    extra = [t for t in tables if t not in spec]
    if extra:
        raise ValueError(
            f"{where} has table(s) {extra} that the schema does not mention; add "
            f"`{extra[0]}: {{}}` to the schema for a table without keys or time, or remove it "
            f"from the source."
        )
    tables = _apply_time_units(tables, spec, time_unit)
    db_schema = {t: {k: s[k] for k in _SCHEMA_KEYS} for t, s in spec.items()}
    return RelationalDatabase(tables, db_schema, on_dangling=on_dangling)


def _schema_summary(schema) -> str:
    lines = []
    for table, spec in schema.items():
        fks = ", ".join(f"{c}->{r}" for c, r in spec["foreign_keys"].items())
        lines.append(f"  {table}: primary_key={spec['primary_key']!r}"
                     f"{', foreign_keys ' + fks if fks else ''}"
                     f", time_column={spec['time_column']!r}")
    return "\n".join(lines)


# -- schema inference -------------------------------------------------------------------------
def _pk_rank(table: str, col: str, tables: Mapping[str, pd.DataFrame]) -> tuple[int, str] | None:
    """How well ``col``'s name fits a primary key of ``table`` (lower is better)."""
    tokens = _tokens(col)
    if not tokens:
        return None
    norm = "".join(tokens)
    if any(norm == "".join(stem) + tok for stem in _table_stems(table) for tok in _ID_TOKENS):
        return 0, "named after the table"
    if norm in _GENERIC_KEY_NAMES:
        return 1, f"a generic key name ({col!r})"
    if tokens[-1] not in _ID_TOKENS:
        return None
    others = [t for t in tables if t != table and any(
        norm == "".join(stem) + tok for stem in _table_stems(t) for tok in _ID_TOKENS)]
    if others:
        return 3, f"an id-like name, though it is named after table {others[0]!r}"
    return 2, "an id-like name"


def _infer_primary_key(table, df, tables, reasons) -> str | None:
    candidates = []
    for col in df.columns:
        rank = _pk_rank(table, col, tables)
        if rank is None:
            continue
        series = df[col]
        kind = _key_kind(series)
        problem = None
        if kind is None:
            problem = f"its dtype {series.dtype} cannot hold keys (integers or strings)"
        elif series.isna().any():
            problem = f"{int(series.isna().sum())} null value(s)"
        elif not series.is_unique:
            dup = series[series.duplicated()].iloc[0]
            problem = (f"{int(series.duplicated(keep=False).sum())} rows share a value "
                       f"(e.g. {_show(dup)})")
        if problem is None:
            candidates.append((rank[0], col, rank[1]))
        elif rank[0] <= 1:
            reasons.append(f"{col}: not the primary key: {problem}.")
    if not candidates:
        reasons.append(
            "no primary key: no unique, non-null column with an id-like name (id, "
            f"{_singular(table)}_id, {_singular(table)}Id, ...). Its rows cannot be referenced "
            "or be the target of predictions; set primary_key by hand if a column identifies "
            "rows.")
        return None
    candidates.sort(key=lambda c: c[0])
    rank, col, why = candidates[0]
    others = [c[1] for c in candidates[1:]]
    also = f" Other unique id-like columns: {others}." if others else ""
    reasons.append(f"{col}: primary key: unique and non-null, {why}.{also}")
    return col


def _fk_match(table: str, col: str, ref: str, ref_pk: str, pk: str | None) -> str | None:
    """Why ``table.col`` looks like a foreign key to ``ref`` by name, or None."""
    if ref == table and col == ref_pk:
        return None
    tokens = _tokens(col)
    norm = "".join(tokens)
    pk_tokens = _tokens(ref_pk)
    if norm == "".join(pk_tokens) and norm not in _GENERIC_KEY_NAMES:
        return f"same name as {ref}.{ref_pk}"
    if any(norm == "".join(stem) + tok for stem in _table_stems(ref) for tok in _ID_TOKENS):
        return f"named after table {ref!r}"
    if col == pk:  # a primary key references another table only if named exactly so
        return None
    suffixes = [stem + ["id"] for stem in _table_stems(ref)]
    if "".join(pk_tokens) not in _GENERIC_KEY_NAMES:
        suffixes.append(pk_tokens)
    for suffix in suffixes:
        if len(tokens) > len(suffix) and tokens[-len(suffix):] == suffix:
            return f"ends with {''.join(suffix)!r} (a role of table {ref!r})"
    return None


def _infer_foreign_keys(table, df, tables, pks, min_inclusion, reasons) -> dict[str, str]:
    out = {}
    for col in df.columns:
        kind = _key_kind(df[col])
        matches = []
        for ref, ref_pk in pks.items():
            if ref_pk is None:
                continue
            why = _fk_match(table, col, ref, ref_pk, pks[table])
            if why is None:
                continue
            values = df[col].dropna()
            ref_values = tables[ref][ref_pk]
            ref_kind = _key_kind(ref_values)
            if not len(values):
                reasons.append(f"{col}: not a foreign key to {ref!r} ({why}): every value is "
                               f"null.")
                continue
            if kind != ref_kind:
                reasons.append(
                    f"{col}: not a foreign key to {ref!r} ({why}): it holds {kind or 'other'} "
                    f"values (dtype {df[col].dtype}) and {ref}.{ref_pk} holds {ref_kind} "
                    f"values (dtype {ref_values.dtype}); cast one to the other's type.")
                continue
            share = float(values.isin(pd.Index(ref_values.dropna().unique())).mean())
            strength = 0 if why.startswith("same name") else 1 if why.startswith("named") else 2
            matches.append((strength, -share, ref, ref_pk, why, share, len(values)))
        if not matches:
            continue
        matches.sort(key=lambda m: m[:2])
        accepted = [m for m in matches if m[5] >= min_inclusion]
        for _, _, ref, ref_pk, why, share, n in matches:
            if accepted and ref == accepted[0][2]:
                continue
            found = f"{_fmt_share(share)} of its {n} non-null values are in {ref}.{ref_pk}"
            if share < min_inclusion:
                reasons.append(f"{col}: not a foreign key to {ref!r} ({why}): {found}, below "
                               f"the {_fmt_share(min_inclusion)} threshold.")
            else:
                reasons.append(f"{col}: not a foreign key to {ref!r} ({why}; {found}): the "
                               f"name points more clearly at {accepted[0][2]!r}.")
        if accepted:
            _, _, ref, ref_pk, why, share, n = accepted[0]
            out[col] = ref
            nulls = int(df[col].isna().sum())
            reasons.append(
                f"{col}: foreign key to {ref!r}: {why}; {_fmt_share(share)} of its {n} non-null "
                f"values are in {ref}.{ref_pk} (threshold {_fmt_share(min_inclusion)})"
                + (f", {nulls} null(s)." if nulls else "."))
    return out


def _time_candidate(col: str, series: pd.Series):
    """``(kind, detail)`` for a column that may hold row times, or None."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime", f"datetime values (dtype {series.dtype})"
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        tokens = _tokens(col)
        values = series.dropna()
        if (tokens and tokens[-1] in _YEAR_TOKENS and len(values)
                and pd.api.types.is_integer_dtype(series)
                and values.between(1000, 3000).all()):
            return "year", "integer years"
        return None
    values = series.dropna()
    if not len(values):
        return None
    sample = _spread_sample(values)
    if not all(isinstance(v, str) for v in sample):
        return None
    strings = sample.astype(str)
    date_like = strings.str.contains(_DATE_LIKE, regex=True)
    if date_like.mean() < MIN_DATE_SHARE:
        return None
    parsed = pd.to_datetime(strings.where(date_like), errors="coerce", format="mixed")
    share = float(parsed.notna().mean())
    if share < MIN_DATE_SHARE:
        return None
    detail = f"strings that parse as dates ({_fmt_share(share)} of {len(strings)} sampled)"
    if share < 1:
        bad = strings[parsed.isna()].iloc[0]
        detail += (f"; fix the others (e.g. {bad!r}) before use, relcontrast needs every "
                   f"time to parse")
    return "strings", detail


def _time_name_rank(col: str) -> int:
    tokens = set(_tokens(col))
    if tokens & _LATE_TIME_TOKENS:
        return 2
    return 0 if tokens & _TIME_NAME_TOKENS else 1


def _infer_time_column(table, df, keys, reasons) -> str | None:
    eligible = []
    for i, col in enumerate(df.columns):
        if col in keys:
            continue
        found = _time_candidate(col, df[col])
        if found is None:
            continue
        kind, detail = found
        if kind == "year":
            reasons.append(
                f"{col}: not the time column: {detail}, a candidate only with a time_unit "
                f"(relcontrast refuses numeric times). To use it set `time_column: {col}` and "
                f"`time_unit: year` in the schema.")
            continue
        if set(_tokens(col)) & _BIRTH_TOKENS:
            reasons.append(f"{col}: not the time column: named like a birth date, an "
                           f"attribute of the row rather than when it came to exist.")
            continue
        nulls = int(df[col].isna().sum())
        if nulls:
            reasons.append(f"{col}: not the time column: {detail}, but {nulls} null value(s); "
                           f"every row needs a time (fill or drop them to use it).")
            continue
        eligible.append((_time_name_rank(col), kind != "datetime", i, col, detail))
    if not eligible:
        reasons.append("no time column: no usable datetime column, so the table is static "
                       "(every row is visible at every time).")
        return None
    eligible.sort()
    rank, *_, col, detail = eligible[0]
    others = [e[3] for e in eligible[1:]]
    if rank == 0:
        why = "its name suggests when the row came to exist"
    elif rank == 2:
        why = "but named like a later change (updated, end, ...): check it"
    else:
        why = "the first candidate in column order" if others else "the only candidate"
    also = f" Other candidates: {others}." if others else ""
    reasons.append(f"{col}: time column: {detail}, no nulls, {why}.{also}")
    return col


def infer_schema(tables, *, min_inclusion: float = MIN_INCLUSION,
                 return_reasons: bool = False):
    """Propose a schema for a database from its data, explaining every choice.

    The proposal is a starting point to check and edit, not a ground truth:

    - **primary key**: a unique, non-null integer or string column with an id-like name
      (``id``, ``key``, ``*_id``, ``*Id``, ``*ID``), preferring one named after the table
      (``user_id``, ``userId``, ``users_id`` for ``users``), then a generic ``id``.
    - **foreign keys**, found by name: a column named like another table's primary key
      (``circuitId`` -> ``circuits.circuitId``), after that table (``user_id`` ->
      ``users``), or ending so (``winner_user_id``), whose non-null values lie in that
      primary key for at least ``min_inclusion`` of them (95% by default; the share is
      reported). Columns whose name does not point at the table they reference (e.g. a
      self-reference ``referrer``) are not found.
    - **time column**, at most one per table: a datetime column, or strings of which at
      least 99% of a sample parse as dates, without nulls; names such as ``date``, ``ts``,
      ``created`` come first, ``updated``/``end`` last, birth dates are never chosen.
      Integer year columns (``year``, ``season``, ``*_year``) are reported as candidates
      that need ``time_unit: year``, but not set: relcontrast refuses numeric times.

    Parameters
    ----------
    tables : dict of str to DataFrame, str or path-like
        The tables, or a source :func:`read_tables` reads.
    min_inclusion : float, default=0.95
        Share of a candidate foreign key's non-null values that must be present in the
        referenced primary key.
    return_reasons : bool, default=False
        Also return the reasons.

    Returns
    -------
    schema : dict
        ``{table: {"primary_key": ..., "foreign_keys": {...}, "time_column": ...}}`` for
        every table, ready for :class:`~relcontrast.RelationalDatabase`.
    reasons : dict of str to list of str
        Only with ``return_reasons=True``: per table, one line per decision
        (``"column: what was decided: why"``). The same lines are logged at INFO level on
        the ``relcontrast.io`` logger.

    Examples
    --------
    >>> import pandas as pd
    >>> from relcontrast.io import infer_schema
    >>> users = pd.DataFrame({"user_id": [1, 2], "age": [31, 45]})
    >>> orders = pd.DataFrame({"order_id": [7, 8], "user_id": [2, 2],
    ...                        "ts": pd.to_datetime(["2020-01-01", "2020-02-01"])})
    >>> schema, reasons = infer_schema({"users": users, "orders": orders},
    ...                                return_reasons=True)
    >>> schema["orders"]
    {'primary_key': 'order_id', 'foreign_keys': {'user_id': 'users'}, 'time_column': 'ts'}
    >>> print(reasons["orders"][1])  # doctest: +NORMALIZE_WHITESPACE
    user_id: foreign key to 'users': same name as users.user_id; 100.0% of its 2 non-null
    values are in users.user_id (threshold 95.0%).
    """
    if not 0 < min_inclusion <= 1:
        raise ValueError(f"min_inclusion must be in (0, 1], got {min_inclusion!r}.")
    tables = read_tables(tables)
    reasons = {t: [] for t in tables}
    pks = {t: _infer_primary_key(t, df, tables, reasons[t]) for t, df in tables.items()}
    schema = {}
    for t, df in tables.items():
        fks = _infer_foreign_keys(t, df, tables, pks, min_inclusion, reasons[t])
        keys = {pks[t], *fks} - {None}
        schema[t] = {"primary_key": pks[t], "foreign_keys": fks,
                     "time_column": _infer_time_column(t, df, keys, reasons[t])}
    for t, lines in reasons.items():
        for line in lines:
            logger.info("infer_schema: %s.%s", t, line)
    return (schema, reasons) if return_reasons else schema
