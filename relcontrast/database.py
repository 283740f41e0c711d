"""The immutable relational database: tables, keys, foreign keys and time.

:class:`RelationalDatabase` validates a dict of DataFrames against a schema, maps key values of
any hashable dtype to node indices (row positions), and resolves every foreign key into an
edge list. It never modifies the caller's frames and is never copied: ``copy.deepcopy`` and
``sklearn.base.clone`` return the same object, so estimators can hold it as a parameter.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from relcontrast._validation import did_you_mean

__all__ = ["ForeignKey", "RelationalDatabase", "TableSchema", "as_database"]

_SCHEMA_KEYS = ("primary_key", "foreign_keys", "time_column")
_ON_DANGLING = ("warn", "raise", "ignore")


@dataclass(frozen=True)
class TableSchema:
    """Relational metadata of one table.

    Parameters
    ----------
    primary_key : str or None, default=None
        Column whose values identify rows. Optional (event tables often have none).
    foreign_keys : mapping of str to str, default={}
        ``{column: referenced table}``; the referenced table must have a primary key.
    time_column : str or None, default=None
        Column holding the time at which a row came to exist.
    """

    primary_key: str | None = None
    foreign_keys: Mapping[str, str] = field(default_factory=dict)
    time_column: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "foreign_keys", MappingProxyType(dict(self.foreign_keys)))

    @property
    def key_columns(self) -> tuple[str, ...]:
        """Primary and foreign key columns: never used as features."""
        pk = (self.primary_key,) if self.primary_key is not None else ()
        return pk + tuple(self.foreign_keys)

    def to_dict(self) -> dict:
        return {
            "primary_key": self.primary_key,
            "foreign_keys": dict(self.foreign_keys),
            "time_column": self.time_column,
        }

    def __reduce__(self):
        return (TableSchema, (self.primary_key, dict(self.foreign_keys), self.time_column))


class ForeignKey(NamedTuple):
    """One resolved foreign key: row ``src_index[i]`` of ``table`` references row
    ``dst_index[i]`` of ``referenced_table``. Null and dangling references have no edge."""

    table: str
    column: str
    referenced_table: str
    src_index: np.ndarray
    dst_index: np.ndarray



def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _parse_time(name: str, col: str, series: pd.Series) -> np.ndarray:
    """Time column -> int64 nanoseconds since the epoch (UTC, naive)."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise TypeError(
            f"Table {name!r}: time column {col!r} has numeric dtype {series.dtype}; "
            f"relcontrast needs datetimes. Convert it first, e.g. "
            f"pd.to_datetime(df[{col!r}], unit='s') for Unix seconds."
        )
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        parsed = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
    else:
        try:
            parsed = pd.to_datetime(series, errors="raise", format="mixed")
        except (ValueError, TypeError) as exc:
            bad = next(
                (v for v in series.dropna() if pd.to_datetime(v, errors="coerce") is pd.NaT),
                None,
            )
            raise ValueError(
                f"Table {name!r}: time column {col!r} cannot be parsed as datetimes "
                f"(offending value {bad!r}). Convert it with pd.to_datetime and fix or drop "
                f"the rows that do not parse."
            ) from exc
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if parsed.isna().any():
        n = int(parsed.isna().sum())
        raise ValueError(
            f"Table {name!r}: time column {col!r} has {n} null value(s) (first at row "
            f"{int(np.flatnonzero(parsed.isna().to_numpy())[0])}). Every row of a temporal "
            f"table needs a time: fill them or drop those rows."
        )
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _key_kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    values = series.dropna()
    if len(values) == 0:
        return "empty"
    kinds = {"string" if isinstance(v, str) else type(v).__name__ for v in values.iloc[:1000]}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _normalize_schema(tables: Mapping[str, pd.DataFrame], schema) -> dict[str, TableSchema]:
    if not isinstance(schema, Mapping):
        raise TypeError(
            f"schema must be a dict {{table: {{'primary_key': ..., 'foreign_keys': ..., "
            f"'time_column': ...}}}}, got {type(schema).__name__}."
        )
    if not schema:
        raise ValueError(
            "schema is empty: give one entry per table, e.g. {'users': {'primary_key': "
            "'user_id'}, 'orders': {'foreign_keys': {'user_id': 'users'}, "
            "'time_column': 'ts'}}."
        )
    out = {}
    for name, spec in schema.items():
        if name not in tables:
            raise ValueError(
                f"schema names table {name!r}, which is not in tables "
                f"{sorted(tables)}.{did_you_mean(name, tables)}"
            )
        if isinstance(spec, TableSchema):
            out[name] = spec
            continue
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise TypeError(
                f"schema[{name!r}] must be a dict with keys {_SCHEMA_KEYS}, "
                f"got {type(spec).__name__}."
            )
        for key in spec:
            if key not in _SCHEMA_KEYS:
                raise ValueError(
                    f"schema[{name!r}] has unknown key {key!r}; allowed keys are "
                    f"{_SCHEMA_KEYS}.{did_you_mean(key, _SCHEMA_KEYS)}"
                )
        fks = spec.get("foreign_keys") or {}
        if not isinstance(fks, Mapping):
            raise TypeError(
                f"schema[{name!r}]['foreign_keys'] must be a dict {{column: referenced "
                f"table}}, got {type(fks).__name__}."
            )
        out[name] = TableSchema(spec.get("primary_key"), fks, spec.get("time_column"))
    missing = [t for t in tables if t not in out]
    if missing:
        raise ValueError(
            f"tables {missing} have no schema entry; add e.g. schema[{missing[0]!r}] = {{}} "
            f"for a table without keys or time."
        )
    return out


class RelationalDatabase:
    """A validated, immutable relational database.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        One DataFrame per table. They are copied; the caller's frames are never modified.
    schema : dict of str to dict
        Per table: ``primary_key`` (optional), ``foreign_keys`` (``{column: referenced
        table}``) and ``time_column`` (optional). Keys may have any hashable dtype.
    on_dangling : {"warn", "raise", "ignore"}, default="warn"
        What to do with foreign-key values absent from the referenced table: drop those
        edges and warn with counts, raise, or drop silently.

    Attributes
    ----------
    table_names : tuple of str
    schema : mapping of str to TableSchema

    Examples
    --------
    >>> import pandas as pd
    >>> from relcontrast import RelationalDatabase
    >>> users = pd.DataFrame({"uid": ["a", "b"], "age": [31, 45]})
    >>> orders = pd.DataFrame({"uid": ["a", "a", "b"], "amount": [3.0, 5.5, 1.0],
    ...                        "ts": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"])})
    >>> db = RelationalDatabase(
    ...     {"users": users, "orders": orders},
    ...     {"users": {"primary_key": "uid"},
    ...      "orders": {"foreign_keys": {"uid": "users"}, "time_column": "ts"}})
    >>> db
    RelationalDatabase(users=2, orders=3)
    >>> db.upto("2020-01-15").num_rows("orders")
    1
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame], schema, *, on_dangling="warn"):
        if not isinstance(tables, Mapping):
            raise TypeError(
                f"tables must be a dict {{name: DataFrame}}, got {type(tables).__name__}."
            )
        for name, df in tables.items():
            if not isinstance(name, str):
                raise TypeError(f"Table names must be strings, got {name!r}.")
            if not isinstance(df, pd.DataFrame):
                raise TypeError(
                    f"Table {name!r} must be a pandas DataFrame, got {type(df).__name__}."
                )
        if on_dangling not in _ON_DANGLING:
            raise ValueError(f"on_dangling must be one of {_ON_DANGLING}, got {on_dangling!r}.")
        specs = _normalize_schema(tables, schema)
        frames = {name: tables[name].reset_index(drop=True).copy(deep=True) for name in specs}
        self._init(frames, specs, on_dangling)

    def _init(self, frames, specs, on_dangling):
        d = self.__dict__
        d["_frames"] = frames
        d["_schema"] = MappingProxyType(specs)
        d["_key_index"] = {}
        d["_time_ns"] = {}
        for name, spec in specs.items():
            df = frames[name]
            for col in (spec.primary_key, spec.time_column, *spec.foreign_keys):
                if col is not None and col not in df.columns:
                    raise ValueError(
                        f"Table {name!r} has no column {col!r} named in its schema; its "
                        f"columns are {list(df.columns)}.{did_you_mean(col, df.columns)}"
                    )
            if spec.primary_key is not None:
                d["_key_index"][name] = self._build_key_index(name, df[spec.primary_key])
            if spec.time_column is not None:
                d["_time_ns"][name] = _readonly(_parse_time(name, spec.time_column,
                                                            df[spec.time_column]))
        d["_foreign_keys"] = tuple(self._resolve_foreign_keys(on_dangling))

    @staticmethod
    def _build_key_index(name: str, keys: pd.Series) -> pd.Index:
        col = keys.name
        if keys.isna().any():
            row = int(np.flatnonzero(keys.isna().to_numpy())[0])
            raise ValueError(
                f"Table {name!r}: primary key {col!r} has {int(keys.isna().sum())} null "
                f"value(s) (first at row {row}). Primary keys must identify every row: drop "
                f"or fill those rows, or declare no primary key."
            )
        index = pd.Index(keys.to_numpy())
        if not index.is_unique:
            dup = keys[keys.duplicated()].iloc[0]
            n = int(keys.duplicated(keep=False).sum())
            raise ValueError(
                f"Table {name!r}: primary key {col!r} has duplicate values ({n} rows share a "
                f"key, e.g. {dup!r}). Deduplicate the table or choose a unique column."
            )
        return index

    def _resolve_foreign_keys(self, on_dangling):
        for name, spec in self._schema.items():
            df = self._frames[name]
            for col, ref in spec.foreign_keys.items():
                if ref not in self._schema:
                    raise ValueError(
                        f"Table {name!r}: foreign key {col!r} references unknown table "
                        f"{ref!r}; tables are {sorted(self._schema)}."
                        f"{did_you_mean(ref, self._schema)}"
                    )
                ref_pk = self._schema[ref].primary_key
                if ref_pk is None:
                    raise ValueError(
                        f"Table {name!r}: foreign key {col!r} references table {ref!r}, "
                        f"which has no primary key. Set schema[{ref!r}]['primary_key']."
                    )
                values = df[col]
                fk_kind, pk_kind = _key_kind(values), _key_kind(self._frames[ref][ref_pk])
                if fk_kind not in ("empty", pk_kind):
                    example = values.dropna().iloc[0]
                    raise TypeError(
                        f"Table {name!r}: foreign key {col!r} holds {fk_kind} values (e.g. "
                        f"{example!r}, dtype {values.dtype}) but {ref!r}.{ref_pk!r} holds "
                        f"{pk_kind} values (dtype {self._frames[ref][ref_pk].dtype}). Cast "
                        f"one to the other's type, e.g. df[{col!r}].astype("
                        f"{str(self._frames[ref][ref_pk].dtype)!r})."
                    )
                present = values.notna().to_numpy()
                src = np.flatnonzero(present)
                dst = self._key_index[ref].get_indexer(values.to_numpy()[present])
                dangling = dst < 0
                if dangling.any():
                    n = int(dangling.sum())
                    bad = values.to_numpy()[present][dangling]
                    msg = (
                        f"Table {name!r}: foreign key {col!r} has {n} value(s) not present in "
                        f"{ref!r}.{ref_pk!r} (e.g. {bad[0]!r}); "
                    )
                    if on_dangling == "raise":
                        raise ValueError(msg + "fix them, or pass on_dangling='warn' to drop "
                                               "those links.")
                    if on_dangling == "warn":
                        warnings.warn(msg + f"dropped those {n} link(s).", stacklevel=4)
                    src, dst = src[~dangling], dst[~dangling]
                yield ForeignKey(name, col, ref, _readonly(src.astype(np.int64)),
                                 _readonly(dst.astype(np.int64)))

    # -- immutability -------------------------------------------------------------------
    def __setattr__(self, name, value):
        raise AttributeError("RelationalDatabase is immutable.")

    def __delattr__(self, name):
        raise AttributeError("RelationalDatabase is immutable.")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __getstate__(self):
        return {"frames": self._frames, "schema": dict(self._schema)}

    def __setstate__(self, state):
        self._init(state["frames"], state["schema"], "ignore")

    # -- accessors ----------------------------------------------------------------------
    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(self._schema)

    @property
    def schema(self) -> Mapping[str, TableSchema]:
        return self._schema

    @property
    def foreign_keys(self) -> tuple[ForeignKey, ...]:
        """Every resolved foreign key, with its edge arrays (read-only)."""
        return self._foreign_keys

    def _check_table(self, name: str) -> None:
        if name not in self._schema:
            raise ValueError(
                f"Unknown table {name!r}; tables are {list(self._schema)}."
                f"{did_you_mean(name, self._schema)}"
            )

    def table(self, name: str) -> pd.DataFrame:
        """A copy of table ``name`` (rows in node-index order)."""
        self._check_table(name)
        return self._frames[name].copy()

    def frame(self, name: str) -> pd.DataFrame:
        """Table ``name`` without copying, for internal read-only use."""
        self._check_table(name)
        return self._frames[name]

    def num_rows(self, name: str) -> int:
        self._check_table(name)
        return len(self._frames[name])

    def time_ns(self, name: str) -> np.ndarray | None:
        """Row times of ``name`` as int64 nanoseconds (read-only), or None if untimed."""
        self._check_table(name)
        return self._time_ns.get(name)

    @property
    def is_temporal(self) -> bool:
        return bool(self._time_ns)

    @property
    def min_time(self) -> pd.Timestamp | None:
        times = [t.min() for t in self._time_ns.values() if len(t)]
        return pd.Timestamp(min(times)) if times else None

    @property
    def max_time(self) -> pd.Timestamp | None:
        times = [t.max() for t in self._time_ns.values() if len(t)]
        return pd.Timestamp(max(times)) if times else None

    def keys(self, name: str) -> pd.Index:
        """Primary-key values of ``name`` in node-index order."""
        self._check_table(name)
        if name not in self._key_index:
            raise ValueError(f"Table {name!r} has no primary key.")
        return self._key_index[name]

    def key_to_index(self, name: str, keys, *, what: str = "keys") -> np.ndarray:
        """Map primary-key values of ``name`` to node indices; unknown keys raise."""
        index = self.keys(name)
        keys = np.asarray(keys)
        idx = index.get_indexer(keys)
        if (idx < 0).any():
            missing = pd.unique(keys[idx < 0])
            raise ValueError(
                f"{len(missing)} {what} not found in table {name!r} primary key "
                f"{self._schema[name].primary_key!r}: {list(missing[:5])!r}"
                f"{' ...' if len(missing) > 5 else ''}. Only entities present in the "
                f"database can be embedded or predicted."
            )
        return idx.astype(np.int64)

    # -- derived databases --------------------------------------------------------------
    def upto(self, cutoff) -> RelationalDatabase:
        """The database restricted to rows with time <= ``cutoff``.

        Tables without a time column are kept whole; links to removed rows disappear.
        """
        cutoff_ns = pd.Timestamp(cutoff).as_unit("ns").value
        frames = {}
        for name, df in self._frames.items():
            times = self._time_ns.get(name)
            frames[name] = df if times is None else df[times <= cutoff_ns].reset_index(drop=True)
        new = object.__new__(RelationalDatabase)
        new._init(frames, dict(self._schema), "ignore")
        return new

    @classmethod
    def from_relbench(cls, db_or_dataset, *, on_dangling="warn") -> RelationalDatabase:
        """Build from a relbench ``Database`` or ``Dataset`` (its ``get_db()``)."""
        db = db_or_dataset
        if not hasattr(db, "table_dict") and hasattr(db, "get_db"):
            db = db.get_db()
        if not hasattr(db, "table_dict"):
            raise TypeError(
                f"from_relbench expects a relbench Database or Dataset, got "
                f"{type(db_or_dataset).__name__}."
            )
        tables, schema = {}, {}
        for name, table in db.table_dict.items():
            tables[name] = table.df
            schema[name] = {
                "primary_key": table.pkey_col,
                "foreign_keys": dict(table.fkey_col_to_pkey_table),
                "time_column": table.time_col,
            }
        return cls(tables, schema, on_dangling=on_dangling)

    # -- display ------------------------------------------------------------------------
    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(df)}" for n, df in self._frames.items())
        return f"RelationalDatabase({sizes})"

    def summary(self) -> str:
        """A human-readable schema summary: rows, keys, time span and feature columns."""
        lines = [repr(self)]
        for name, spec in self._schema.items():
            df = self._frames[name]
            feats = [c for c in df.columns if c not in spec.key_columns
                     and c != spec.time_column]
            time = ""
            if spec.time_column is not None and len(df):
                t = self._time_ns[name]
                time = (f", time {spec.time_column!r} "
                        f"{pd.Timestamp(t.min()).date()}..{pd.Timestamp(t.max()).date()}")
            fks = ", ".join(f"{c}->{r}" for c, r in spec.foreign_keys.items())
            lines.append(
                f"  {name}: {len(df)} rows, pk={spec.primary_key!r}"
                f"{', fk ' + fks if fks else ''}{time}, {len(feats)} feature columns"
            )
        return "\n".join(lines)


def as_database(tables_or_db: Any, schema=None) -> RelationalDatabase:
    """Accept a RelationalDatabase, a relbench Database/Dataset, or ``(tables, schema)``."""
    if isinstance(tables_or_db, RelationalDatabase):
        if schema is not None:
            raise ValueError("schema must be None when a RelationalDatabase is given.")
        return tables_or_db
    if hasattr(tables_or_db, "table_dict") or hasattr(tables_or_db, "get_db"):
        return RelationalDatabase.from_relbench(tables_or_db)
    if isinstance(tables_or_db, Mapping):
        if schema is None:
            raise ValueError(
                "A dict of tables needs a schema: fit(tables, schema) with schema "
                "{table: {'primary_key': ..., 'foreign_keys': {...}, 'time_column': ...}}."
            )
        return RelationalDatabase(tables_or_db, schema)
    raise TypeError(
        f"Expected a RelationalDatabase, a relbench Database or a dict of DataFrames, "
        f"got {type(tables_or_db).__name__}."
    )
