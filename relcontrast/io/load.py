"""Read a database and its schema into a :class:`~relcontrast.RelationalDatabase`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from relcontrast._validation import did_you_mean
from relcontrast.database import RelationalDatabase
from relcontrast.io import servers
from relcontrast.io._common import describe_source, show
from relcontrast.io.catalog import declared_keys, read_declared_schema
from relcontrast.io.inference import infer_schema
from relcontrast.io.readers import read_tables
from relcontrast.io.schema_files import SCHEMA_KEYS, TIME_UNITS, read_schema, schema_summary

__all__ = ["read_database"]


def _convert_time(table: str, col: str, series: pd.Series, unit: str) -> pd.Series:
    values = series.dropna()
    if unit == "year":
        arr = values.to_numpy(dtype=np.float64)
        if not np.all(arr == np.round(arr)):
            bad = values[arr != np.round(arr)].iloc[0]
            raise ValueError(
                f"Table {table!r}: time column {col!r} has time_unit 'year' but holds "
                f"non-integer value {show(bad)}; years must be whole numbers."
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


def read_database(source, schema=None, *, db_schema: str | None = None,
                  tables: Sequence[str] | None = None, time_unit: str | None = None,
                  on_dangling: str = "warn") -> RelationalDatabase:
    """Read a database from files, a database server or a dict of DataFrames, and its schema.

    Parameters
    ----------
    source : str, path-like, dict of str to DataFrame, SQLAlchemy Engine or Connection
        A folder of CSV or parquet files (one per table, named after it), a SQLite or
        DuckDB file, a PostgreSQL server (a URL such as
        ``postgresql://user:password@host:5432/shop``, or a SQLAlchemy Engine or Connection
        to one), or a dict of DataFrames; see :func:`read_tables`. The caller's frames are
        never modified.
    schema : dict, str, path-like or None, default=None
        The schema as a dict or a YAML / JSON file (see :func:`read_schema`); it wins over
        anything declared or inferred. None takes the primary and foreign keys a SQLite /
        DuckDB file or a server declares (see :func:`read_declared_schema`), infers the rest
        with :func:`infer_schema`, and warns with the schema used: check it (``relcontrast
        schema DATA`` prints it with the reason for each choice) and pass it explicitly.
    db_schema : str, default=None
        For a server, the schema (namespace) whose tables are read; None reads the
        connection's current schema (``public`` unless the server says otherwise).
    tables : list of str, default=None
        For a server, the tables to read; None reads all tables of the schema.
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
    selection = {"db_schema": db_schema, "tables": tables}
    frames = read_tables(source, **selection)
    where = describe_source(source)
    if schema is None:
        declared = declared_keys(read_declared_schema(source, **selection))
        spec = infer_schema(frames, declared=declared)
        what = ("the keys its catalog declares, the rest inferred" if declared else
                "the schema inferred")
        warnings.warn(
            f"No schema given: using {what} from {where}:\n"
            f"{schema_summary(spec)}\nCheck it (`relcontrast schema DATA` or "
            f"infer_schema(tables, return_reasons=True) explain each choice) and pass it as "
            f"schema= to silence this warning.",
            UserWarning, stacklevel=2,
        )
    else:
        spec = read_schema(schema)
    tables = frames
    missing = [t for t in spec if t not in tables]
    if missing:
        raise ValueError(
            f"The schema names table {missing[0]!r}, but {where} has no such table; its "
            f"tables are {sorted(tables)}.{did_you_mean(missing[0], tables)} Fix the name in "
            f"the schema or add the table (a file {missing[0]}.csv / .parquet in a folder)."
        )
    extra = [t for t in tables if t not in spec]
    is_server = servers.is_server_source(source)
    if extra:
        raise ValueError(
            f"{where} has table(s) {extra} that the schema does not mention; add "
            f"`{extra[0]}: {{}}` to the schema for a table without keys or time, or remove it "
            f"from the source{' (or name the tables to read with tables=)' if is_server else ''}."
        )
    tables = _apply_time_units(tables, spec, time_unit)
    db_schema = {t: {k: s[k] for k in SCHEMA_KEYS} for t, s in spec.items()}
    return RelationalDatabase(tables, db_schema, on_dangling=on_dangling)
