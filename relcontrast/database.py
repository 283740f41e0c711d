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


Key = str | tuple[str, ...]


def _format_key(key) -> str:
    """A key for messages and names: ``'uid'`` or ``('year', 'team')``."""
    return repr(tuple(key)) if isinstance(key, tuple) else repr(key)


def key_tuple(key) -> tuple:
    """The columns of a key: ``'uid'`` -> ``('uid',)``, ``('a', 'b')`` unchanged."""
    if key is None:
        return ()
    return tuple(key) if isinstance(key, tuple) else (key,)


def _as_key(value, where: str):
    """A key given as a column name or a list / tuple of names -> a name, a tuple of two or
    more names, or None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ValueError(f"{where} is an empty list; name at least one column, or use "
                             f"None for no key.")
        for col in value:
            if isinstance(col, (list, tuple, set, dict)) or col is None:
                raise TypeError(f"{where} must be a column name or a flat list of column "
                                f"names, got {value!r}.")
        dup = [c for i, c in enumerate(value) if c in value[:i]]
        if dup:
            raise ValueError(f"{where} lists column {dup[0]!r} twice ({list(value)!r}); "
                             f"name each key column once.")
        return value[0] if len(value) == 1 else tuple(value)
    if isinstance(value, (set, frozenset, dict)):
        raise TypeError(f"{where} must be a column name or a list of column names (a list "
                        f"keeps their order), got {type(value).__name__} {value!r}.")
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"{where} must be a column name or a list of column names, got "
                        f"{type(value).__name__} {value!r}.") from None
    return value


@dataclass(frozen=True)
class TableSchema:
    """Relational metadata of one table.

    Parameters
    ----------
    primary_key : str, tuple of str or None, default=None
        Column whose values identify rows, or a list / tuple of columns whose combined
        values do (a composite key such as ``("order_id", "line_no")``). Optional (event
        tables often have none).
    foreign_keys : mapping of str or tuple of str to str, default={}
        ``{column: referenced table}``; the referenced table must have a primary key. A
        composite foreign key is a tuple of columns, ``{("order_id", "line_no"):
        "order_lines"}``, one per column of the referenced primary key and in its order.
    time_column : str or None, default=None
        Column holding the time at which a row came to exist.
    """

    primary_key: Key | None = None
    foreign_keys: Mapping[Key, str] = field(default_factory=dict)
    time_column: str | None = None

    def __post_init__(self):
        pk = _as_key(self.primary_key, "primary_key")
        object.__setattr__(self, "primary_key", pk)
        if self.foreign_keys is None:
            fks = {}
        elif isinstance(self.foreign_keys, Mapping):
            fks = {_as_key(c, f"foreign key {c!r}"): r for c, r in self.foreign_keys.items()}
        else:
            raise TypeError(
                f"foreign_keys must be a dict {{column: referenced table}}, got "
                f"{type(self.foreign_keys).__name__}."
            )
        object.__setattr__(self, "foreign_keys", MappingProxyType(fks))

    @property
    def primary_key_columns(self) -> tuple[str, ...]:
        """The primary-key columns (one for a single-column key, none without a key)."""
        return key_tuple(self.primary_key)

    @property
    def key_columns(self) -> tuple[str, ...]:
        """Primary and foreign key columns, each once: never used as features."""
        cols = [*self.primary_key_columns]
        for fk in self.foreign_keys:
            cols.extend(key_tuple(fk))
        return tuple(dict.fromkeys(cols))

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
    ``dst_index[i]`` of ``referenced_table``. Null and dangling references have no edge.

    ``column`` is the key as the schema gives it: a column name, or a tuple of names for a
    composite foreign key (``columns`` is always a tuple)."""

    table: str
    column: Key
    referenced_table: str
    src_index: np.ndarray
    dst_index: np.ndarray

    @property
    def columns(self) -> tuple[str, ...]:
        """The foreign-key columns, as a tuple."""
        return key_tuple(self.column)


def _show(value) -> str:
    """``repr`` of a key value without NumPy's type wrappers: ``5``, not ``np.int64(5)``."""
    if isinstance(value, tuple):
        return repr(tuple(v.item() if isinstance(v, np.generic) else v for v in value))
    return repr(value.item() if isinstance(value, np.generic) else value)


def _own_copy(df: pd.DataFrame) -> pd.DataFrame:
    """The database's own copy of a caller's frame: positional index, and sparse columns
    made dense (the graph's encoders and torch-frame read dense arrays only)."""
    df = df.reset_index(drop=True).copy(deep=True)
    for i, dtype in enumerate(df.dtypes):
        if isinstance(dtype, pd.SparseDtype):
            df.isetitem(i, df.iloc[:, i].sparse.to_dense())
    return df


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


_NS_MIN, _NS_MAX = pd.Timestamp.min.ceil("s"), pd.Timestamp.max.floor("s")


def naive_utc(times: pd.Series) -> pd.Series:
    """Time-zone aware datetimes converted to UTC and made naive; others unchanged."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        return times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times


def parse_times(series: pd.Series, where: str, ref: str) -> pd.Series:
    """Datetimes, or strings of them, -> a ``datetime64[ns]`` Series (UTC, naive; NaT kept).

    Time-zone aware values are converted to UTC; strings with different UTC offsets too
    (naive strings among them are read as UTC). ``where`` names the column in messages
    (``"Table 'orders': time column 'ts'"``), ``ref`` in the fix (``"df['ts']"``). Raises
    for numbers, unparseable strings and times outside the nanosecond range 1677..2262
    (which a conversion would otherwise silently wrap around).
    """
    if pd.api.types.is_bool_dtype(series) or (
            pd.api.types.is_numeric_dtype(series)
            and not pd.api.types.is_datetime64_any_dtype(series)):
        raise TypeError(
            f"{where} has numeric dtype {series.dtype}; relcontrast needs datetimes. Convert "
            f"it first, e.g. pd.to_datetime({ref}, unit='s') for Unix seconds, or "
            f"pd.to_datetime({ref}.astype(str), format='%Y') + pd.offsets.YearEnd(0) for "
            f"integer years (known at the end of the year; relcontrast.io.read_database does "
            f"this with time_unit='year')."
        )
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
                try:
                    parsed = pd.to_datetime(series, errors="raise", format="mixed")
                except ValueError as exc:
                    if "Mixed timezones" not in str(exc):
                        raise
                    parsed = pd.to_datetime(series, errors="raise", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError) as exc:
            bad = next(
                (v for v in series.dropna() if pd.to_datetime(v, errors="coerce") is pd.NaT),
                None,
            )
            shown = f"offending value {bad!r}" if bad is not None else str(exc)
            raise ValueError(
                f"{where} cannot be parsed as datetimes ({shown}). Convert it with "
                f"pd.to_datetime and fix or drop the rows that do not parse."
            ) from exc
    parsed = naive_utc(parsed)
    outside = ((parsed < _NS_MIN) | (parsed > _NS_MAX)).to_numpy()
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"{where} holds {int(outside.sum())} time(s) outside the range relcontrast can "
            f"represent ({_NS_MIN.date()} to {_NS_MAX.date()}, nanosecond timestamps), e.g. "
            f"{str(series.iloc[row])!r} in row {row}. Fix or drop those rows, e.g. "
            f"{ref}.where({ref}.between('1678-01-01', '2262-01-01'))."
        )
    return pd.Series(parsed.to_numpy(dtype="datetime64[ns]"), index=series.index,
                     name=series.name)


def _parse_time(name: str, col: str, series: pd.Series) -> np.ndarray:
    """Time column -> int64 nanoseconds since the epoch (UTC, naive)."""
    parsed = parse_times(series, f"Table {name!r}: time column {col!r}", f"df[{col!r}]")
    if parsed.isna().any():
        n = int(parsed.isna().sum())
        raise ValueError(
            f"Table {name!r}: time column {col!r} has {n} null value(s) (first at row "
            f"{int(np.flatnonzero(parsed.isna().to_numpy())[0])}). Every row of a temporal "
            f"table needs a time: fill them or drop those rows."
        )
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _key_kind(series: pd.Series) -> str:
    """What a key column holds, for comparing a foreign key with the key it references:
    "number", "string", "bool", "datetime", "empty" (all null), or a type name. A
    categorical column holds what its categories hold."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = pd.Series(series.cat.categories)
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    values = series.dropna()
    if len(values) == 0:
        return "empty"
    kinds = set()
    for v in values.iloc[:1000]:
        if isinstance(v, str):
            kinds.add("string")
        elif isinstance(v, (bool, np.bool_)):
            kinds.add("bool")
        elif isinstance(v, (int, float, np.integer, np.floating)):
            kinds.add("number")
        else:
            kinds.add(type(v).__name__)
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
        pk = _as_key(spec.get("primary_key"), f"schema[{name!r}]['primary_key']")
        fks = spec.get("foreign_keys") or {}
        if not isinstance(fks, Mapping):
            raise TypeError(
                f"schema[{name!r}]['foreign_keys'] must be a dict {{column: referenced "
                f"table}} (a composite key as a tuple of columns: {{('a', 'b'): 'table'}}), "
                f"got {type(fks).__name__}."
            )
        parsed = {}
        for cols, ref in fks.items():
            where = f"schema[{name!r}]['foreign_keys'] key {cols!r}"
            if isinstance(cols, frozenset):
                raise TypeError(f"{where} must be a column name or a tuple of column names "
                                f"(a tuple keeps their order).")
            cols = _as_key(cols, where)
            if not isinstance(ref, str):
                raise TypeError(
                    f"schema[{name!r}]['foreign_keys'][{cols!r}] must be the name of the "
                    f"referenced table (a str), got {type(ref).__name__} {ref!r}."
                )
            if cols in parsed:
                raise ValueError(f"schema[{name!r}]['foreign_keys'] lists {cols!r} twice.")
            parsed[cols] = ref
        time_column = spec.get("time_column")
        if isinstance(time_column, (list, tuple, set, dict)):
            raise TypeError(
                f"schema[{name!r}]['time_column'] must be one column name, got "
                f"{time_column!r}."
            )
        out[name] = TableSchema(pk, parsed, time_column)
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
        frames = {name: _own_copy(tables[name]) for name in specs}
        self._init(frames, specs, on_dangling)

    def _init(self, frames, specs, on_dangling):
        d = self.__dict__
        d["_frames"] = frames
        d["_schema"] = MappingProxyType(specs)
        d["_key_index"] = {}
        d["_time_ns"] = {}
        for name, spec in specs.items():
            df = frames[name]
            dup = df.columns[df.columns.duplicated()].unique()
            if len(dup):
                raise ValueError(
                    f"Table {name!r} has duplicate column names {list(dup)}; every column "
                    f"needs its own name. Rename them, e.g. df.columns = [...], or drop the "
                    f"copies with df.loc[:, ~df.columns.duplicated()]."
                )
            not_str = [c for c in df.columns if not isinstance(c, str)]
            if not_str:
                raise TypeError(
                    f"Table {name!r} has column names that are not strings: {not_str[:5]!r}. "
                    f"Name every column with a string, e.g. df.columns = "
                    f"df.columns.map(str), and use those names in the schema."
                )
            for col in (*spec.key_columns, spec.time_column):
                if col is not None and col not in df.columns:
                    raise ValueError(
                        f"Table {name!r} has no column {col!r} named in its schema; its "
                        f"columns are {list(df.columns)}.{did_you_mean(col, df.columns)} Fix "
                        f"the name in schema[{name!r}], or add the column to the table."
                    )
            if spec.primary_key is not None:
                d["_key_index"][name] = self._build_key_index(name, df, spec.primary_key)
            if spec.time_column is not None:
                d["_time_ns"][name] = _readonly(_parse_time(name, spec.time_column,
                                                            df[spec.time_column]))
        d["_foreign_keys"] = tuple(self._resolve_foreign_keys(on_dangling))

    @staticmethod
    def _build_key_index(name: str, df: pd.DataFrame, key) -> pd.Index:
        """Key values -> row positions: an Index, or a MultiIndex for a composite key."""
        cols = key_tuple(key)
        what = (f"primary key {key!r}" if len(cols) == 1
                else f"composite primary key {_format_key(key)}")
        for col in cols:
            null = df[col].isna().to_numpy()
            if null.any():
                raise ValueError(
                    f"Table {name!r}: {what} has {int(null.sum())} null value(s) in column "
                    f"{col!r} (first at row {int(np.flatnonzero(null)[0])}). Primary keys must "
                    f"identify every row: drop or fill those rows, or declare no primary key."
                )
        if len(cols) == 1:
            index = pd.Index(df[key].to_numpy())
        else:
            index = pd.MultiIndex.from_arrays([df[c].to_numpy() for c in cols], names=cols)
        if not index.is_unique:
            duplicated = index.duplicated(keep=False)
            dup = _show(index[np.flatnonzero(index.duplicated())[0]])
            raise ValueError(
                f"Table {name!r}: {what} has duplicate values ({int(duplicated.sum())} rows "
                f"share a key, e.g. {dup}). Deduplicate the table or choose "
                f"{'a unique column' if len(cols) == 1 else 'columns that are unique together'}."
            )
        return index

    def _resolve_foreign_keys(self, on_dangling):
        for name, spec in self._schema.items():
            df = self._frames[name]
            for key, ref in spec.foreign_keys.items():
                cols = key_tuple(key)
                what = (f"foreign key {key!r}" if len(cols) == 1
                        else f"composite foreign key {_format_key(key)}")
                if ref not in self._schema:
                    raise ValueError(
                        f"Table {name!r}: {what} references unknown table {ref!r}; tables "
                        f"are {sorted(self._schema)}.{did_you_mean(ref, self._schema)} Fix "
                        f"the name, or add the table to tables and schema."
                    )
                ref_pk = self._schema[ref].primary_key
                if ref_pk is None:
                    raise ValueError(
                        f"Table {name!r}: {what} references table {ref!r}, which has no "
                        f"primary key. Set schema[{ref!r}]['primary_key']."
                    )
                ref_cols = key_tuple(ref_pk)
                if len(cols) != len(ref_cols):
                    raise ValueError(
                        f"Table {name!r}: {what} has {len(cols)} column(s) but the primary key "
                        f"{_format_key(ref_pk)} of {ref!r} has {len(ref_cols)}. A foreign key "
                        f"names one column per primary-key column, in the key's order, e.g. "
                        f"{{{_format_key(ref_pk if len(ref_cols) > 1 else ref_cols[0])}: "
                        f"{ref!r}}}."
                    )
                ref_df = self._frames[ref]
                for col, ref_col in zip(cols, ref_cols, strict=True):
                    values, ref_values = df[col], ref_df[ref_col]
                    fk_kind, pk_kind = _key_kind(values), _key_kind(ref_values)
                    if fk_kind != pk_kind and "empty" not in (fk_kind, pk_kind):
                        example = _show(values.dropna().iloc[0])
                        raise TypeError(
                            f"Table {name!r}: {what}"
                            f"{f' column {col!r}' if len(cols) > 1 else ''} holds {fk_kind} values "
                            f"(e.g. {example}, dtype {values.dtype}) but {ref!r}.{ref_col!r} "
                            f"holds {pk_kind} values (dtype {ref_values.dtype}). Cast one to "
                            f"the other's type, e.g. df[{col!r}].astype("
                            f"{str(ref_values.dtype)!r})."
                        )
                present = np.logical_and.reduce([df[c].notna().to_numpy() for c in cols])
                src = np.flatnonzero(present)
                arrays = [df[c].to_numpy()[present] for c in cols]
                if len(cols) == 1:
                    dst = self._key_index[ref].get_indexer(arrays[0])
                else:
                    dst = self._key_index[ref].get_indexer(pd.MultiIndex.from_arrays(arrays))
                dangling = dst < 0
                if dangling.any():
                    n = int(dangling.sum())
                    row = int(src[np.flatnonzero(dangling)[0]])
                    bad = tuple(df[c].iloc[row] for c in cols)
                    target = (f"{ref!r}.{ref_pk!r}" if len(cols) == 1
                              else f"the key {_format_key(ref_pk)} of {ref!r}")
                    msg = (
                        f"Table {name!r}: {what} has {n} value(s) not present in {target} "
                        f"(e.g. {_show(bad[0] if len(bad) == 1 else bad)} in row {row}); "
                    )
                    if on_dangling == "raise":
                        raise ValueError(msg + "fix them, or pass on_dangling='warn' to drop "
                                               "those links.")
                    if on_dangling == "warn":
                        warnings.warn(msg + f"dropped those {n} link(s). Pass on_dangling="
                                            f"'ignore' to drop them silently.", stacklevel=4)
                    src, dst = src[~dangling], dst[~dangling]
                yield ForeignKey(name, key, ref, _readonly(src.astype(np.int64)),
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
        """Primary-key values of ``name`` in node-index order: an Index, or a MultiIndex
        (one level per column) for a composite key."""
        self._check_table(name)
        if name not in self._key_index:
            raise ValueError(f"Table {name!r} has no primary key.")
        return self._key_index[name]

    def key_frame(self, name: str, keys) -> pd.DataFrame:
        """Primary-key values of ``name`` given in any accepted form -> a DataFrame with one
        column per key column (in the key's order), for :meth:`key_to_index`."""
        cols = self._schema[name].primary_key_columns if name in self._schema else ()
        if not cols:
            self.keys(name)  # raises: unknown table or no primary key
        pk = _format_key(self._schema[name].primary_key)
        if isinstance(keys, pd.DataFrame):
            missing = [c for c in cols if c not in keys.columns]
            if missing:
                raise ValueError(
                    f"The keys of table {name!r} lack the primary-key column(s) {missing} "
                    f"(columns {list(keys.columns)}); give every column of the key {pk}."
                )
            return keys.loc[:, list(cols)].reset_index(drop=True)
        if len(cols) == 1:
            if isinstance(keys, pd.Series):
                series = keys.reset_index(drop=True)
            elif isinstance(keys, np.ndarray):
                series = pd.Series(keys.reshape(-1) if keys.ndim == 0 else keys)
            else:
                series = pd.Series(list(keys) if np.ndim(keys) else [keys], dtype=object)
                series = series.infer_objects()
            return pd.DataFrame({cols[0]: series})
        if isinstance(keys, pd.MultiIndex):
            rows = list(keys)
        elif isinstance(keys, np.ndarray) and keys.ndim == 2:
            rows = [tuple(r) for r in keys]
        else:
            rows = list(keys) if np.ndim(keys) or isinstance(keys, (list, tuple)) else [keys]
        bad = next((r for r in rows if not isinstance(r, (tuple, list)) or len(r) != len(cols)),
                   None)
        if bad is not None:
            raise ValueError(
                f"Table {name!r} has the composite primary key {pk}: give its keys as a "
                f"DataFrame with those columns, or as tuples of {len(cols)} values; got "
                f"{bad!r}."
            )
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(cols))
        return frame.infer_objects() if len(frame) else frame

    def key_to_index(self, name: str, keys, *, what: str = "keys") -> np.ndarray:
        """Map primary-key values of ``name`` to node indices; unknown keys raise.

        Parameters
        ----------
        name : str
            The table.
        keys : array-like, Series, DataFrame or sequence of tuples
            Key values. For a composite primary key: a DataFrame holding the key columns
            (other columns are ignored), a MultiIndex, or a sequence of tuples in the key's
            column order.
        what : str, default="keys"
            How error messages call the keys, e.g. ``"entity ids of X['uid']"``.

        Returns
        -------
        ndarray of int64
            The node index (row position) of every key.
        """
        index = self.keys(name)
        pk = self._schema[name].primary_key
        cols = self._schema[name].primary_key_columns
        frame = self.key_frame(name, keys)
        if len(frame) == 0:
            return np.empty(0, dtype=np.int64)
        ref = self._frames[name]
        for col in cols:
            values = frame[col]
            null = values.isna().to_numpy()
            if null.any():
                raise ValueError(
                    f"{what}: column {col!r} of the key of table {name!r} has "
                    f"{int(null.sum())} null value(s) (first at row "
                    f"{int(np.flatnonzero(null)[0])}); every row needs a key. Drop or fill "
                    f"those rows."
                )
            kind, pk_kind = _key_kind(values), _key_kind(ref[col])
            if kind != pk_kind and "empty" not in (kind, pk_kind):
                raise TypeError(
                    f"{what}: column {col!r} holds {kind} values (e.g. "
                    f"{_show(values.iloc[0])}, dtype {values.dtype}) but table {name!r} "
                    f"primary-key column {col!r} holds {pk_kind} values (dtype "
                    f"{ref[col].dtype}). Cast them, e.g. X[{col!r}].astype("
                    f"{str(ref[col].dtype)!r})."
                )
        if len(cols) == 1:
            idx = index.get_indexer(frame[cols[0]].to_numpy())
        else:
            idx = index.get_indexer(pd.MultiIndex.from_frame(frame))
        if (idx < 0).any():
            unknown = frame[idx < 0].drop_duplicates()
            shown = [_show(r[0] if len(cols) == 1 else tuple(r))
                     for r in unknown.head(5).itertuples(index=False)]
            raise ValueError(
                f"{len(unknown)} {what} not found in table {name!r} primary key "
                f"{_format_key(pk)}: [{', '.join(shown)}]"
                f"{' ...' if len(unknown) > 5 else ''}. Only entities present in the "
                f"database can be embedded or predicted; drop those rows or add the "
                f"entities to the table."
            )
        return idx.astype(np.int64)

    # -- derived databases --------------------------------------------------------------
    def rows_upto(self, cutoff) -> dict[str, np.ndarray | None]:
        """Per table, the positions of the rows with time <= ``cutoff``, in row order; the
        rows :meth:`upto` keeps. None where that is every row (always for a table without a
        time column), so callers take the table as it is."""
        try:
            stamp = pd.Timestamp(cutoff)
            cutoff_ns = stamp.as_unit("ns").value  # a time-zone aware stamp's UTC instant
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(
                f"The cutoff {cutoff!r} is not a time relcontrast can represent ({exc}); give "
                f"a datetime between {_NS_MIN.date()} and {_NS_MAX.date()}, e.g. "
                f"'2020-01-01'."
            ) from exc
        if stamp is pd.NaT:
            raise ValueError(f"The cutoff {cutoff!r} is not a time; give a datetime, e.g. "
                             f"'2020-01-01'.")
        out = {}
        for name in self._frames:
            times = self._time_ns.get(name)
            keep = None if times is None else np.flatnonzero(times <= cutoff_ns)
            out[name] = None if keep is None or len(keep) == len(times) else keep
        return out

    def upto(self, cutoff) -> RelationalDatabase:
        """The database restricted to rows with time <= ``cutoff``.

        Tables without a time column are kept whole; links to removed rows disappear.
        """
        frames = {}
        for name, rows in self.rows_upto(cutoff).items():
            df = self._frames[name]
            frames[name] = df if rows is None else df.iloc[rows].reset_index(drop=True)
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
            fks = ", ".join(f"{'(' + ', '.join(map(str, c)) + ')' if isinstance(c, tuple) else c}"
                            f"->{r}" for c, r in spec.foreign_keys.items())
            lines.append(
                f"  {name}: {len(df)} rows, pk={_format_key(spec.primary_key)}"
                f"{', fk ' + fks if fks else ''}{time}, {len(feats)} feature columns"
            )
        return "\n".join(lines)

    def leakage_report(self, **kwargs) -> pd.DataFrame:
        """Columns of undated tables that look written after the fact (their nulls or values
        follow each entity's last activity); see :func:`relcontrast.leakage.leakage_report`
        for the parameters and the method."""
        from relcontrast.leakage import leakage_report

        return leakage_report(self, **kwargs)


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
