"""Bring your own database: read tables from files, read or infer their schema.

- :func:`read_database` reads a folder of CSV or parquet files, a SQLite or DuckDB file, a
  PostgreSQL server or a dict of DataFrames, with a schema given as a dict or a YAML / JSON
  file (or declared by the database), into a :class:`~relcontrast.RelationalDatabase`.
- :func:`infer_schema` proposes primary keys, foreign keys and time columns from the data,
  with the reason for every choice, for the user to check and edit.
- :func:`read_tables`, :func:`read_table`, :func:`read_schema`,
  :func:`read_declared_schema` and :func:`schema_to_yaml` are the steps on their own.

Modules: :mod:`~relcontrast.io.readers` (files to DataFrames),
:mod:`~relcontrast.io.schema_files` (schemas as dicts or YAML / JSON),
:mod:`~relcontrast.io.inference` (schema inference), :mod:`~relcontrast.io.servers`
(PostgreSQL), :mod:`~relcontrast.io.catalog` (declared keys) and
:mod:`~relcontrast.io.load` (:func:`read_database`). Their loggers are children of the
``relcontrast.io`` logger.
"""

from __future__ import annotations

from relcontrast.io.catalog import read_declared_schema
from relcontrast.io.inference import MIN_INCLUSION, infer_schema
from relcontrast.io.load import read_database
from relcontrast.io.readers import read_table, read_tables
from relcontrast.io.schema_files import TIME_UNITS, read_schema, schema_to_yaml

__all__ = [
    "MIN_INCLUSION",
    "TIME_UNITS",
    "infer_schema",
    "read_database",
    "read_declared_schema",
    "read_schema",
    "read_table",
    "read_tables",
    "schema_to_yaml",
]
