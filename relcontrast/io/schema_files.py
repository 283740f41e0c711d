"""Schemas as dicts or YAML / JSON files: read, check and write them."""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

import yaml

from relcontrast._validation import did_you_mean
from relcontrast.database import TableSchema, key_tuple

__all__ = ["TIME_UNITS", "read_schema", "schema_to_yaml"]

#: Units :func:`read_database` converts numeric time columns with: calendar years, days, or
#: seconds / milliseconds / microseconds / nanoseconds since 1970-01-01.
TIME_UNITS = ("year", "D", "s", "ms", "us", "ns")

SCHEMA_KEYS = ("primary_key", "foreign_keys", "time_column")
_SCHEMA_FILE_KEYS = (*SCHEMA_KEYS, "time_unit")
_FK_ENTRY_KEYS = ("columns", "references")
_QUOTE_HINT = (" In YAML, quote names it would read as numbers or booleans, e.g. \"on\" or "
               "\"2020\".")


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


def parse_schema(raw, origin: str) -> dict[str, dict]:
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
        return parse_schema(source, "schema")
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
    return parse_schema(raw, origin)


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


def schema_summary(schema) -> str:
    lines = []
    for table, spec in schema.items():
        fks = ", ".join(f"{c}->{r}" for c, r in spec["foreign_keys"].items())
        lines.append(f"  {table}: primary_key={spec['primary_key']!r}"
                     f"{', foreign_keys ' + fks if fks else ''}"
                     f", time_column={spec['time_column']!r}")
    return "\n".join(lines)
