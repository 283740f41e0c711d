"""RelationalAggregator: time-correct window aggregates and recency of related rows.

The classic hand-made baseline for predictive tasks on relational data: for each row
``(entity, cutoff time)`` of X, count and summarise the rows that link to the entity (and the
rows those link to, or that link to them) within time windows ending at the cutoff, and how
recent and how regular they are. Hop-1 paths and their parent paths are computed with numpy
over each path's rows sorted by (entity, time); hop-2 child paths with one duckdb query
each. No Python loop runs over rows.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data
from torch_frame import stype

from relcontrast._validation import describe_input, relational_input_tags
from relcontrast.database import RelationalDatabase, as_database, key_tuple
from relcontrast.graph import infer_column_types
from relcontrast.rows import TIME_BOUNDARIES, rows_to_seeds, seed_rows

__all__ = ["RelationalAggregator"]

_INT64_MIN = np.iinfo(np.int64).min
_NUMERIC_AGGREGATES = ("mean", "min", "max", "last")
_DAY_NS = 86_400 * 10**9
# time since the latest / earliest row (need a cutoff), mean and last gap between rows
_RECENCY = ("days_since_last", "days_since_first", "mean_gap_days", "last_gap_days")
_WINDOW_HELP = (
    "use 'all', a positive pandas Timedelta string with a unit such as '365D' or '12h', or "
    "a positive int k (the k most recent rows)"
)


# -- fitted plan ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Window:
    label: str  # as in feature names: "all", "365D", "last3"
    kind: str  # "all" | "delta" | "last"
    value: int = 0  # nanoseconds (delta) or k (last)


@dataclass(frozen=True)
class _Column:
    """One aggregated column of a source table, decided at fit."""

    name: str
    numeric: bool  # mean / min / max / last
    categories: tuple = ()  # values whose share is reported


@dataclass(frozen=True)
class _Path:
    """How rows of ``source`` reach an entity of the target table.

    ``child``: rows of ``table`` whose ``fk`` is the entity. ``parent``: for those rows, the
    row of ``other`` their ``other_fk`` references. ``grandchild``: rows of ``other`` whose
    ``other_fk`` references one of those rows.
    """

    kind: str
    table: str
    fk: str | tuple
    other: str | None = None
    other_fk: str | tuple | None = None

    @property
    def source(self) -> str:
        return self.table if self.kind == "child" else self.other

    @property
    def name(self) -> str:
        base = f"{self.table}.{_fk_label(self.fk)}"
        if self.kind == "parent":
            return f"{base}>{self.other}({_fk_label(self.other_fk)})"
        if self.kind == "grandchild":
            return f"{base}>{self.other}.{_fk_label(self.other_fk)}"
        return base


def _fk_label(fk) -> str:
    """A foreign key in feature names: ``user_id``, or ``(order_id,line_no)`` for a
    composite one."""
    return "(" + ",".join(map(str, fk)) + ")" if isinstance(fk, tuple) else str(fk)


def _parse_windows(windows) -> tuple[_Window, ...]:
    if len(windows) == 0:
        raise ValueError(f"windows is empty; {_WINDOW_HELP}, e.g. windows=('all', '365D', 3).")
    parsed, seen = [], {}
    for i, w in enumerate(windows):
        if isinstance(w, str) and w == "all":
            win = _Window("all", "all")
        elif isinstance(w, numbers.Integral) and not isinstance(w, (bool, np.bool_)):
            if w < 1:
                raise ValueError(f"windows[{i}]={w!r}: a row-count window needs k >= 1; "
                                 f"{_WINDOW_HELP}.")
            win = _Window(f"last{int(w)}", "last", int(w))
        elif isinstance(w, str):
            try:
                delta = pd.Timedelta(w)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"windows[{i}]={w!r} is not a window: {_WINDOW_HELP}.") from exc
            if w.strip().lstrip("+-").replace(".", "", 1).isdigit():
                raise ValueError(f"windows[{i}]={w!r} has no unit (pandas would read "
                                 f"nanoseconds); write e.g. '{w.strip()}D' for days.")
            if delta is pd.NaT or delta <= pd.Timedelta(0):
                raise ValueError(f"windows[{i}]={w!r} is not a positive duration; "
                                 f"{_WINDOW_HELP}.")
            win = _Window(w, "delta", int(delta.value))
        else:
            raise ValueError(f"windows[{i}]={w!r} is not a window: {_WINDOW_HELP}.")
        key = (win.kind, win.value)
        if key in seen:
            raise ValueError(f"windows[{i}]={w!r} repeats windows[{seen[key]}]="
                             f"{windows[seen[key]]!r}; list each window once.")
        seen[key] = i
        parsed.append(win)
    return tuple(parsed)


def _enumerate_paths(db: RelationalDatabase, target: str, max_hops: int) -> list[_Path]:
    paths = []
    for table, spec in db.schema.items():
        for fk, ref in spec.foreign_keys.items():
            if ref != target:
                continue
            child = _Path("child", table, fk)
            paths.append(child)
            if max_hops < 2:
                continue
            paths.extend(_Path("parent", table, fk, other, g)
                         for g, other in spec.foreign_keys.items() if g != fk)
            paths.extend(_Path("grandchild", table, fk, other, h)
                         for other, other_spec in db.schema.items()
                         for h, ref2 in other_spec.foreign_keys.items() if ref2 == table)
    return paths


def _value_sort_key(value):
    if isinstance(value, (numbers.Number, np.bool_)):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _top_values(values: pd.Series, k: int) -> tuple[list, int]:
    """The k most frequent non-null values (ties by value) and the count of non-null rows."""
    counts = values.value_counts(dropna=True)
    counts = counts[counts > 0]  # a category dtype lists unused categories too
    pairs = [(v.item() if isinstance(v, np.generic) else v, int(c)) for v, c in counts.items()]
    pairs.sort(key=lambda vc: (-vc[1], _value_sort_key(vc[0])))
    return pairs[:k], int(counts.sum())


def _column_specs(db: RelationalDatabase, table: str, max_categories: int) -> tuple:
    """Which columns of ``table`` are aggregated, and how; from ``db`` (the fit database)."""
    spec = db.schema[table]
    df = db.frame(table)
    skip = set(spec.key_columns) | {spec.time_column}
    stypes = infer_column_types(df, exclude=[c for c in df.columns if c in skip])
    out = []
    for col in df.columns:
        if col in skip or col not in stypes:  # keys, time, all-null or constant columns
            continue
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or (
                not pd.api.types.is_numeric_dtype(s) and stypes[col] == stype.categorical):
            top, _ = _top_values(s, max_categories)
            out.append(_Column(col, False, tuple(v for v, _ in top)))
        elif pd.api.types.is_numeric_dtype(s):
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            x = x[~np.isnan(x)]
            categories = ()
            if len(x) and np.isfinite(x).all() and (x == np.round(x)).all():
                top, n = _top_values(pd.Series(x), max_categories)
                if top and sum(c for _, c in top) >= 0.5 * n:
                    categories = tuple(float(v) for v, _ in top)
            out.append(_Column(col, True, categories))
    return tuple(out)


def _format_value(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class _Feature:
    """One output column of a path: ``aggregate`` of column ``j`` (category ``m``) over
    window ``w`` (an index into the windows)."""

    w: int
    suffix: str
    aggregate: str
    j: int = -1
    m: int = -1


def _plan(windows: tuple[_Window, ...], columns: tuple[_Column, ...], windowed: bool,
          recency: tuple[str, ...], parent: bool) -> tuple[_Feature, ...]:
    """The features of one path, in output order.

    ``windowed``: the path's rows have a time, so Timedelta windows select among them.
    ``recency``: the recency features of the path (in the ``"all"`` window). ``parent``: a
    hop-2 parent path. With an ``"all"`` window, features that repeat one of its features
    exactly are left out: the Timedelta windows of an untimed path (the same rows), and in
    the ``last{k}`` windows of other than parent paths ``last`` (the latest row is the same)
    and, for k = 1, mean / min / max (its value again).
    """
    has_all = any(w.kind == "all" for w in windows)
    out = []
    for i, w in enumerate(windows):
        if has_all and w.kind == "delta" and not windowed:
            continue
        out.append(_Feature(i, "count", "count"))
        if w.kind == "all":
            out.extend(_Feature(i, name, name) for name in recency)
        repeats = has_all and not parent and w.kind == "last"
        for j, col in enumerate(columns):
            if col.numeric:
                out.extend(_Feature(i, f"{col.name}|{agg}", agg, j) for agg in _NUMERIC_AGGREGATES
                           if not (repeats and (agg == "last" or w.value == 1)))
            out.extend(_Feature(i, f"{col.name}={_format_value(v)}|share", "share", j, m)
                       for m, v in enumerate(col.categories))
    return tuple(out)


def _window_time(db: RelationalDatabase, path: _Path) -> str | None:
    """The alias (``c`` or ``d``) whose time windows the rows of ``path``; None: untimed."""
    if path.kind == "grandchild" and db.time_ns(path.other) is not None:
        return "d"
    return "c" if db.time_ns(path.table) is not None else None


def _recency_names(db: RelationalDatabase, path: _Path, with_cutoff: bool) -> tuple[str, ...]:
    """The recency features of ``path``: for rows with their own time (hop-1 rows, hop-2
    child rows); the time since the latest / earliest row only when X has cutoff times."""
    own = path.table if path.kind == "child" else path.other
    if path.kind == "parent" or db.time_ns(own) is None:
        return ()
    return _RECENCY if with_cutoff else _RECENCY[2:]


# readable window lengths that "auto" rounds to (nearest on a log scale)
_READABLE = ("1min", "5min", "15min", "30min", "1h", "2h", "3h", "6h", "12h", "1D", "2D",
             "3D", "7D", "14D", "30D", "60D", "90D", "180D", "365D", "730D", "1095D", "1825D",
             "3650D")
_AUTO_ROWS = (1, 4, 16)  # rows that the "auto" windows hold on median


def _auto_windows(db: RelationalDatabase, paths: list[_Path], entity: np.ndarray,
                  cutoff_ns: int) -> tuple:
    """``windows="auto"``: "all", Timedelta windows that hold on median about 1, 4 and 16 rows
    of the most frequent hop-1 path, and the 3 latest rows. Only rows with time <=
    ``cutoff_ns`` are read.

    The typical gap between an entity's rows is the median, over the entities of ``entity``
    with at least two rows (all entities if none has), of (latest - earliest time) / (rows
    - 1). Windows of k typical gaps are rounded to the nearest readable length; those not
    shorter than the entities' median time span are left out (the "all" window holds their
    rows).
    """
    edges = {(fk.table, fk.column): fk for fk in db.foreign_keys}
    best = None
    for path in paths:
        times = db.time_ns(path.table)
        if path.kind != "child" or times is None:
            continue
        edge = edges[(path.table, path.fk)]
        keep = times[edge.src_index] <= cutoff_ns
        if best is None or keep.sum() > best[0].sum():
            best = (keep, times[edge.src_index], edge.dst_index)
    if best is None:
        return ("all", 3)
    keep, times, owner = best
    times, owner = times[keep], owner[keep]
    frame = pd.DataFrame({"owner": owner, "t": times})
    stats = frame.groupby("owner")["t"].agg(["min", "max", "count"])
    stats = stats[stats["count"] >= 2]
    mine = stats[stats.index.isin(np.unique(entity))]
    stats = mine if len(mine) else stats
    if stats.empty:
        return ("all", 3)
    span = (stats["max"] - stats["min"]).astype(np.float64)
    gap = float(np.median(span / (stats["count"] - 1)))
    typical_span = float(np.median(span))
    ladder = np.array([pd.Timedelta(w).value for w in _READABLE], dtype=np.float64)
    out = []
    for k in _AUTO_ROWS:
        if gap <= 0:
            break
        i = int(np.argmin(np.abs(np.log(ladder) - np.log(k * gap))))
        if ladder[i] >= typical_span:
            break
        if _READABLE[i] not in out:
            out.append(_READABLE[i])
    return ("all", *out, 3)


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}#{n + 1}")
    return out


# -- transform-time helpers -------------------------------------------------------------------
def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _nullable(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    return pa.array(values, mask=missing)


def _codes(values: pd.Series, categories: tuple, numeric: bool) -> np.ndarray:
    """Index of each value in ``categories``; -1 for other values and nulls."""
    if numeric:
        index = pd.Index(np.asarray(categories, dtype=np.float64))
        codes = index.get_indexer(values.to_numpy(dtype=np.float64, na_value=np.nan))
    else:
        index = pd.Index(list(categories), dtype=object)
        codes = index.get_indexer(pd.Index(values.to_numpy(dtype=object), dtype=object))
    return codes.astype(np.int32)


def _visible_counts(sorted_owner: np.ndarray, sorted_times: np.ndarray, entity: np.ndarray,
                    cutoff: np.ndarray) -> np.ndarray:
    """How many rows each ``(entity, cutoff)`` owns with time <= cutoff; ``sorted_*``: the
    rows by owner. One sort of rows and queries together."""
    query = np.concatenate([np.zeros(len(sorted_owner), bool), np.ones(len(entity), bool)])
    merged = np.lexsort((query, np.concatenate([sorted_times, cutoff]),
                         np.concatenate([sorted_owner, entity])))  # rows before queries on ties
    is_query = query[merged]
    rows_before = np.cumsum(~is_query) - ~is_query
    out = np.empty(len(entity), dtype=np.int64)
    out[merged[is_query] - len(sorted_owner)] = rows_before[is_query]
    return out - np.searchsorted(sorted_owner, entity, side="left")


_CHUNK_CELLS = 1 << 24  # values (expanded rows x columns) reduced at once: 128 MB of float64


def _chunks(length: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive ranges of rows whose ``length`` adds up to about ``size`` (at least one
    row each)."""
    ends = np.cumsum(length)
    out, a = [], 0
    while a < len(length):
        b = max(a + 1, int(np.searchsorted(ends, (ends[a - 1] if a else 0) + size, "right")))
        out.append((a, b))
        a = b
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _window_stats(mask: np.ndarray | None, values: np.ndarray, bounds: np.ndarray) -> dict:
    """count, and mean / min / max / last of each column of ``values`` [columns, rows], over
    the rows where ``mask`` holds (None: all rows), per segment starting at ``bounds`` (rows
    of a segment in recency order); nulls (NaN) skipped, NaN where a segment has no value."""
    n = values.shape[1]
    count = (np.diff(np.append(bounds, n)) if mask is None
             else np.add.reduceat(mask.astype(np.int64), bounds))
    out = {"mask": np.ones(n, bool) if mask is None else mask, "count": count}
    if values.shape[0]:
        masked = values if mask is None else np.where(mask, values, np.nan)  # [columns, rows]
        valid = ~np.isnan(masked)
        total = np.add.reduceat(np.where(valid, masked, 0.0), bounds, axis=1)
        out["mean"] = _ratio(total, np.add.reduceat(valid.astype(np.int64), bounds, axis=1))
        out["min"] = np.fmin.reduceat(masked, bounds, axis=1)
        out["max"] = np.fmax.reduceat(masked, bounds, axis=1)
        if mask is None:
            latest = np.append(bounds[1:], n) - 1
        else:
            latest = np.maximum.reduceat(np.where(mask, np.arange(n), -1), bounds)
        out["last"] = np.where(latest >= 0, values[:, np.maximum(latest, 0)], np.nan)
    return out


def _days(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """(later - earlier) in days, from int64 nanoseconds without overflow."""
    whole = (later // _DAY_NS - earlier // _DAY_NS).astype(np.float64)
    return whole + (later % _DAY_NS - earlier % _DAY_NS) / _DAY_NS


def _recency_values(times: np.ndarray, seg: np.ndarray, hi: np.ndarray,
                    cut: np.ndarray) -> dict[str, np.ndarray]:
    """The recency features of each ``(entity, cut)`` whose rows are ``times[seg:hi]`` (in
    time order); NaN where there are too few rows."""
    n = hi - seg
    last = times[np.maximum(hi - 1, 0)] if len(times) else np.zeros(len(n), np.int64)
    first = times[np.minimum(seg, max(len(times) - 1, 0))] if len(times) else last
    second = times[np.maximum(hi - 2, 0)] if len(times) else last
    gap = _days(last, first)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = gap / (n - 1)
    return {
        "days_since_last": np.where(n > 0, _days(cut, last), np.nan),
        "days_since_first": np.where(n > 0, _days(cut, first), np.nan),
        "mean_gap_days": np.where(n > 1, mean_gap, np.nan),
        "last_gap_days": np.where(n > 1, _days(last, second), np.nan),
    }


def _arrow(arrays: dict) -> pa.Table:
    """A table's arrays (see ``RelationalAggregator._arrays``) as an arrow table for duckdb:
    ``__pos``, ``__t``, ``__ord``, ``k{i}``, ``n{j}`` and ``c{j}``; nulls as nulls."""
    n = len(arrays["__ord"])
    cols = {"__pos": np.arange(n, dtype=np.int64), "__ord": arrays["__ord"]}
    if "__t" in arrays:
        cols["__t"] = arrays["__t"]
    for name, values in arrays.items():
        if name.startswith("k"):
            cols[name] = _nullable(values, values < 0)
    for j, i in arrays["num_at"].items():
        values = arrays["num"][i]
        cols[f"n{j}"] = _nullable(values, np.isnan(values))
    for j, i in arrays["cat_at"].items():
        cols[f"c{j}"] = arrays["cat"][i]
    return pa.table(cols)


def _query_groups(paths: tuple[_Path, ...]) -> list[list[int]]:
    """Path indices per query: a hop-1 path with its parent paths (which read the same
    rows), each hop-2 child path alone."""
    groups, child = [], {}
    for i, path in enumerate(paths):
        if path.kind == "parent" and (path.table, path.fk) in child:
            groups[child[(path.table, path.fk)]].append(i)
            continue
        if path.kind == "child":
            child[(path.table, path.fk)] = len(groups)
        groups.append([i])
    return groups


def _expression(f: _Feature, cond: str | None) -> str:
    """SQL aggregate of feature ``f`` over the joined rows (values ``v_n{j}``, codes
    ``v_c{j}``) for which ``cond`` holds (None: all of them; the recency features read all
    of them). Rows are masked by CASE inside the aggregate: duckdb evaluates that faster
    than FILTER clauses."""
    n, c = f"v_n{f.j}", f"v_c{f.j}"
    if f.aggregate in _RECENCY:
        since = {"days_since_last": "max", "days_since_first": "min"}.get(f.aggregate)
        if since:
            return f"CAST(CAST(max(__cut) AS HUGEINT) - {since}(__t) AS DOUBLE) / {_DAY_NS}"
        if f.aggregate == "mean_gap_days":
            return (f"CAST(CAST(max(__t) AS HUGEINT) - min(__t) AS DOUBLE) / {_DAY_NS} "
                    f"/ nullif(count(*) - 1, 0)")
        return f"CAST(CAST(max(__t) AS HUGEINT) - max(__t, 2)[2] AS DOUBLE) / {_DAY_NS}"

    def masked(value: str) -> str:
        return value if cond is None else f"CASE WHEN {cond} THEN {value} END"

    return {
        "count": "count(*)" if cond is None else f"sum(CAST({cond} AS INTEGER))",
        "mean": f"avg({masked(n)})",
        "min": f"min({masked(n)})",
        "max": f"max({masked(n)})",
        "last": f"arg_max_null({n}, {masked('__ord')})",
        "share": f"avg({masked(f'CAST({c} = {f.m} AS DOUBLE)')})",
    }[f.aggregate]


def _list_expression(f: _Feature, rows: str) -> str:
    """SQL of feature ``f`` over ``rows``, a list of the latest rows' values, latest first."""
    values = f"list_transform({rows}, lambda s: s.n{f.j})"
    return {
        "count": f"coalesce(len({rows}), 0)",
        "mean": f"list_avg({values})",
        "min": f"list_min({values})",
        "max": f"list_max({values})",
        "last": f"{rows}[1].n{f.j}",
        "share": f"list_avg(list_transform({rows}, lambda s: CAST(s.c{f.j} = {f.m} AS DOUBLE)))",
    }[f.aggregate]


class RelationalAggregator(TransformerMixin, BaseEstimator):
    """Time-correct window aggregates of related rows, one feature vector per row of X.

    For each row ``(entity, cutoff time)`` of X, the rows of the database that link to the
    entity are counted and summarised within time windows that end at the cutoff; no row
    dated after the cutoff is ever read. A path's rows are sorted once by (entity, time), so
    that each window of each row of X is one contiguous range of them, reduced with numpy
    for all rows of X and windows at once; hop-2 child paths are one duckdb query each. No
    Python loop runs over rows.

    **Paths.** Hop 1: every table ``C`` with a foreign key ``f`` into the target table
    (``results.driverId``). Hop 2 (``max_hops=2``): through each other foreign key ``g`` of
    ``C``, the referenced table's row joined onto each of those rows
    (``results.driverId>races(raceId)``); and every table ``D`` with a foreign key ``h`` into
    ``C``, aggregated over all of the entity's ``C`` rows (``users.referrer>orders.user_id``).
    Composite keys work like single ones: X then holds every column of the target table's
    key, and a composite foreign key is named by its columns in parentheses
    (``returns.(order_id,line_no)``).

    **Windows.** ``"all"``: rows with time <= cutoff; a Timedelta string such as ``"365D"``:
    rows with cutoff - 365 days < time <= cutoff; an int ``k``: the k most recent rows with
    time <= cutoff (label ``last{k}``). Rows of equal time are ordered by a hash of their
    values, so the result does not depend on the order of a table's rows. A table without a
    time column has no time to exclude its rows by: they are in every window, and ordered by
    position. Hop-2 parent rows also need time <= cutoff; hop-2 child rows are windowed by
    their own time (by their parent's when they have none). ``windows="auto"`` chooses them
    at fit from the data's own event rate: ``"all"``, Timedelta windows that hold on median
    about 1, 4 and 16 rows of the hop-1 path with the most rows (from rows up to
    ``cutoff_time_``, rounded to a readable length such as ``"7D"`` or ``"90D"``; those not
    shorter than the entities' median time span left out), and the 3 most recent rows.

    **Features** per path and window, named ``{path}|{window}|...``: ``count``; for numeric
    columns (numeric dtype, not bool) ``{column}|mean``, ``|min``, ``|max`` and ``|last``
    (the value in the most recent row, null if it is null); for categorical and bool
    columns ``{column}={value}|share``, the fraction of rows holding each of the
    ``max_categories`` most frequent values of the column's table (counted at fit, up to
    ``cutoff_time_``; ties by value); also for integer-valued numeric columns whose most
    frequent values cover at least half of the non-null rows (a status code). Keys, time
    columns, text, lists and datetimes are not aggregated. A hop-2 parent path counts the
    rows whose referenced row exists by the cutoff. An entity with no rows in a window gets
    count 0 and NaN elsewhere. With an ``"all"`` window, features that repeat one of its
    own exactly are left out: Timedelta windows of untimed paths (the same rows), and
    ``last`` in ``last{k}`` windows of other than parent paths (the same row).

    **Recency** (``recency=True``), in the ``"all"`` window of each path whose rows have
    their own time (hop 1, hop-2 child): ``days_since_last`` and ``days_since_first`` (from
    the latest and the earliest row to the cutoff), ``mean_gap_days`` and ``last_gap_days``
    (between consecutive rows: (latest - earliest) / (count - 1), and latest - second
    latest), in days at nanosecond resolution; NaN with too few rows.

    Parameters
    ----------
    database : RelationalDatabase or relbench Database, default=None
        The database; required. It is held, never copied.
    target_table : str or None, default=None
        The table whose rows X identifies; None infers it from X's primary-key column.
    time_column : str or None, default=None
        The cutoff time column of X; None takes X's single datetime column.
    time_boundary : {"inclusive", "strict"}, default="inclusive"
        Which rows a row of X with cutoff time t reads: those with time <= t (RelBench's
        own samplers and task SQL), or those with time < t (the RelBench 3 leaderboard's
        rule). With ``"strict"`` every window ends just before t: ``"365D"`` holds the rows
        with t - 365 days <= time < t, ``k`` the k most recent rows before t, and
        ``cutoff_time_`` is one nanosecond before the latest cutoff. A row of X whose own
        row of the target table is dated exactly t then raises, as one dated after t
        always does.
    windows : "auto" or tuple of {"all", str, int}, default="auto"
        The time windows, see above: ``"auto"`` chooses them at fit; a tuple such as
        ``("all", "365D", 3)`` fixes them.
    max_hops : {1, 2}, default=2
        1 aggregates the tables that reference the target only.
    max_categories : int, default=5
        How many most frequent values of a column get a share feature (0: none).
    recency : bool, default=True
        Add the recency features of each timed path (see above).

    Attributes
    ----------
    database_ : RelationalDatabase
        The database that ``transform`` reads.
    target_table_ : str
        The target table.
    time_column_ : str or None
        The cutoff time column of X (None for a database without time).
    cutoff_time_ : pandas.Timestamp or None
        The latest cutoff in the rows fitted on. The feature list (which columns are
        numeric or categorical, the frequent values) was decided on the database up to it.
    paths_ : tuple of str
        The path names, in output order.
    windows_ : tuple of str
        The window labels, in output order (chosen at fit with ``windows="auto"``).
    feature_names_out_ : ndarray of str
        One name per output column.
    feature_names_in_ : ndarray of str
        The columns of X seen in ``fit``.
    n_features_in_ : int
        Their number.
    path_specs_, window_specs_, column_specs_, plan_ : tuple, tuple, dict, tuple
        The fitted plan that ``transform`` executes (internal).

    See Also
    --------
    relcontrast.RelationalContrastiveEncoder : learned embeddings of the same rows; the two
        combine with :func:`sklearn.pipeline.make_union`.

    Examples
    --------
    >>> import pandas as pd
    >>> from relcontrast import RelationalAggregator, RelationalDatabase
    >>> from relcontrast.testing import make_synthetic_database
    >>> db = RelationalDatabase(*make_synthetic_database())
    >>> users = db.table("users")
    >>> X = users[["user_id", "signup"]]  # every user as of 180 days after signing up:
    >>> X = X.assign(signup=X["signup"] + pd.Timedelta("180D"))
    >>> agg = RelationalAggregator(database=db).fit(X)
    >>> agg.windows_  # "auto": a user's orders are about 60 days apart
    ('all', '60D', 'last3')
    >>> agg.paths_[4:6]
    ('orders.user_id', 'orders.user_id>items(item_id)')
    >>> Z = agg.transform(X)
    >>> Z.shape
    (60, 234)
    >>> Z["orders.user_id|all|count"].head(3).tolist()
    [2.0, 1.0, 2.0]
    >>> Z.loc[0, ["orders.user_id|all|quantity|mean", "orders.user_id|all|status=paid|share",
    ...           "orders.user_id>items(item_id)|all|price|max"]].tolist()
    [3.5, 0.5, 6.72]
    """

    _parameter_constraints: dict = {
        "database": "no_validation",  # checked by as_database in fit
        "target_table": [str, None],
        "time_column": [str, None],
        "time_boundary": [StrOptions(set(TIME_BOUNDARIES))],
        "windows": [list, tuple, StrOptions({"auto"})],
        "max_hops": [Interval(numbers.Integral, 1, 2, closed="both")],
        "max_categories": [Interval(numbers.Integral, 0, None, closed="left")],
        "recency": ["boolean"],
    }

    def __init__(self, *, database=None, target_table=None, time_column=None,
                 time_boundary="inclusive", windows="auto", max_hops=2,
                 max_categories=5, recency=True):
        self.database = database
        self.target_table = target_table
        self.time_column = time_column
        self.time_boundary = time_boundary
        self.windows = windows
        self.max_hops = max_hops
        self.max_categories = max_categories
        self.recency = recency

    # -- fit --------------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Decide the features from the database up to the latest cutoff time in X.

        Parameters
        ----------
        X : DataFrame
            The target table's primary-key column and a cutoff time column.
        y : ignored

        Returns
        -------
        self : RelationalAggregator
        """
        auto = isinstance(self.windows, str)  # "auto", the only string allowed
        windows = None if auto else _parse_windows(self.windows)
        if self.database is None:
            raise ValueError(
                "RelationalAggregator needs the database to aggregate: pass "
                "RelationalAggregator(database=RelationalDatabase(tables, schema))."
            )
        if isinstance(self.database, Mapping):
            raise TypeError(
                "database is a dict; wrap the tables with their schema first: "
                "RelationalAggregator(database=RelationalDatabase(tables, schema))."
            )
        db = as_database(self.database)
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"X must be a pandas DataFrame with the target table's primary-key column and "
                f"a cutoff time column, got {describe_input(X)}."
            )
        if len(X) == 0:
            raise ValueError("X has no rows; fit needs at least one (entity, cutoff) row.")
        # cutoffs are latest visible times: every window compares ``time <= cutoff``
        table, tcol, entity, cut = rows_to_seeds(db, X, self.target_table, self.time_column,
                                                 self.time_boundary)

        paths = _enumerate_paths(db, table, self.max_hops)
        if not paths:
            raise ValueError(
                f"No table has a foreign key into target table {table!r}, so there is "
                f"nothing to aggregate. Choose a target table that other tables reference, "
                f"or declare the foreign keys in the schema."
            )
        self.cutoff_time_ = None if tcol is None else pd.Timestamp(int(cut.max()))
        fit_db = db if tcol is None else db.upto(self.cutoff_time_)
        sources = dict.fromkeys(p.source for p in paths)
        self.column_specs_ = {t: _column_specs(fit_db, t, self.max_categories)
                              for t in sources}

        if auto:
            windows = _parse_windows(_auto_windows(db, paths, entity, int(cut.max())))
        self.plan_ = tuple(
            _plan(windows, self.column_specs_[p.source], _window_time(db, p) is not None,
                  _recency_names(db, p, tcol is not None) if self.recency else (),
                  p.kind == "parent")
            for p in paths)
        names = [f"{p.name}|{windows[f.w].label}|{f.suffix}"
                 for p, plan in zip(paths, self.plan_, strict=True) for f in plan]
        self.database_ = db
        self.target_table_ = table
        self.time_column_ = tcol
        self.path_specs_ = tuple(paths)
        self.window_specs_ = windows
        self.paths_ = tuple(p.name for p in paths)
        self.windows_ = tuple(w.label for w in windows)
        self.feature_names_out_ = np.asarray(_dedupe(names), dtype=object)
        validate_data(self, X, skip_check_array=True)  # feature_names_in_ / n_features_in_
        return self

    # -- transform --------------------------------------------------------------------------
    def transform(self, X):
        """Aggregate features of rows ``(entity, cutoff time)``.

        Parameters
        ----------
        X : DataFrame
            The target table's primary-key column and the cutoff time column seen in fit.

        Returns
        -------
        Z : DataFrame of shape (n_rows, n_features), float64
            Index ``X.index``, columns ``get_feature_names_out()``.
        """
        check_is_fitted(self, "feature_names_out_")
        db = self.database_
        entity, cut = seed_rows(db, X, self.target_table_, self.time_column_,
                                self.time_boundary)
        # each distinct (entity, cutoff) is computed once
        pairs, inverse = np.unique(np.stack([entity, cut], axis=1).reshape(-1, 2), axis=0,
                                   return_inverse=True)
        inverse = inverse.reshape(-1)
        if len(pairs) == len(X):  # no repeats: computed in X's order, no copy at the end
            pairs, inverse = np.stack([entity, cut], axis=1).reshape(-1, 2), None
        starts = np.cumsum([0, *(len(plan) for plan in self.plan_)])
        # column-major, so that each feature is written once, contiguously, and the frame
        # below holds the array as it is; every cell is written by a path
        out = np.empty((len(pairs), starts[-1]), order="F")
        arrays, fk_names = self._arrays()
        grandchild = []
        for members in _query_groups(self.path_specs_):
            if self.path_specs_[members[0]].kind == "grandchild":
                grandchild.append(members[0])
            else:
                self._hop1(members, arrays, fk_names, pairs[:, 0], pairs[:, 1],
                           out[:, starts[members[0]]:starts[members[-1] + 1]])
        if grandchild:
            self._grandchildren(grandchild, arrays, fk_names, pairs, out, starts)
        return pd.DataFrame(out if inverse is None else out[inverse], index=X.index,
                            columns=list(self.feature_names_out_), copy=False)

    def _arrays(self) -> tuple[dict[str, dict], dict[str, dict]]:
        """What ``transform`` reads of every table a path reads, as numpy arrays: ``__t``
        (times in int64 ns; absent when untimed), ``__ord`` (rank in recency order), foreign
        keys as referenced row positions (``k{i}``, -1 for none; the second return value
        maps each foreign key to its name), ``num`` (float64 values of the numeric columns,
        NaN for nulls, column ``j`` of the table's specs at ``num_at[j]``) and ``cat``
        (category codes, -1 for other values and nulls, at ``cat_at[j]``)."""
        db = self.database_
        needed_fks: dict[str, dict] = {}
        for p in self.path_specs_:
            needed_fks.setdefault(p.table, {})[p.fk] = None
            if p.kind == "parent":
                needed_fks[p.table][p.other_fk] = None
                needed_fks.setdefault(p.other, {})
            elif p.kind == "grandchild":
                needed_fks.setdefault(p.other, {})[p.other_fk] = None
        edges = {(fk.table, fk.column): fk for fk in db.foreign_keys}
        arrays = {}
        for table, fks in needed_fks.items():
            df, spec = db.frame(table), db.schema[table]
            n = len(df)
            cols: dict = {}
            for k, fk in enumerate(fks):
                target = np.full(n, -1, dtype=np.int64)
                edge = edges[(table, fk)]
                target[edge.src_index] = edge.dst_index
                cols[f"k{k}"] = target
            columns = self.column_specs_.get(table, ())
            numeric = [j for j, col in enumerate(columns) if col.numeric]
            coded = [j for j, col in enumerate(columns) if col.categories]
            cols["num_at"] = {j: i for i, j in enumerate(numeric)}
            cols["cat_at"] = {j: i for i, j in enumerate(coded)}
            cols["num"] = np.empty((len(numeric), n))  # [columns, rows]
            for i, j in enumerate(numeric):
                cols["num"][i] = df[columns[j].name].to_numpy(dtype=np.float64,
                                                              na_value=np.nan)
            cols["cat"] = np.empty((len(coded), n), dtype=np.int32)
            for i, j in enumerate(coded):
                cols["cat"][i] = _codes(df[columns[j].name], columns[j].categories,
                                           columns[j].numeric)
            times = db.time_ns(table)
            if times is None:
                rank = np.arange(n, dtype=np.int64)  # untimed: position is the only order
            else:
                cols["__t"] = times
                # equal times: ordered by a hash of the row's values, not by position
                if spec.primary_key is not None:
                    hashed = list(spec.primary_key_columns)
                else:
                    hashed = [*(c for fk in fks for c in key_tuple(fk)),
                              *(c.name for c in columns)]
                hashed = list(dict.fromkeys(hashed))
                tie = pd.util.hash_pandas_object(df[hashed], index=False).to_numpy()
                order = np.lexsort((np.arange(n), tie, times))
                rank = np.empty(n, dtype=np.int64)
                rank[order] = np.arange(n)
            cols["__ord"] = rank
            arrays[table] = cols
        fk_names = {t: {fk: f"k{k}" for k, fk in enumerate(fks)}
                    for t, fks in needed_fks.items()}
        return arrays, fk_names

    def _hop1(self, members: list[int], arrays, fk_names, ent: np.ndarray, cut: np.ndarray,
              out: np.ndarray) -> None:
        """Every feature of a hop-1 path and its hop-2 parent paths (``members``) for each
        ``(ent, cut)``, written into ``out`` (their columns). The path's rows sorted by
        (entity, recency order) put each window's rows in one contiguous range that ends
        at the latest row with time <= cut; each window's ranges are expanded and reduced
        with ``ufunc.reduceat``, in chunks of about ``_CHUNK_CELLS`` values."""
        paths = [self.path_specs_[p] for p in members]
        first = paths[0]
        c = arrays[first.table]
        owner = c[fk_names[first.table][first.fk]]
        rows = np.flatnonzero(owner >= 0)
        rows = rows[np.lexsort((c["__ord"][rows], owner[rows]))]  # by (entity, recency)
        s_owner = owner[rows]
        s_time = c["__t"][rows] if "__t" in c else None
        seg = np.searchsorted(s_owner, ent, side="left")
        if s_time is None:
            hi = np.searchsorted(s_owner, ent, side="right")
        else:
            hi = seg + _visible_counts(s_owner, s_time, ent, cut)
        used = {f.w for p in members for f in self.plan_[p]}
        lows = {}
        for i in used:
            w = self.window_specs_[i]
            if w.kind == "delta" and s_time is not None:  # rows with time > cut - delta
                floor = cut < _INT64_MIN + w.value  # saturating at the smallest int64
                low = np.where(floor, _INT64_MIN, cut - np.where(floor, 0, w.value))
                lows[i] = seg + _visible_counts(s_owner, s_time, ent, low)
            elif w.kind == "last":
                lows[i] = np.maximum(seg, hi - w.value)
            else:
                lows[i] = seg
        recency = _recency_values(s_time, seg, hi, cut) if s_time is not None else {}
        widths = np.cumsum([0, *(len(self.plan_[p]) for p in members)])
        for m, p in enumerate(members):  # rows without related rows: count 0, NaN elsewhere
            for k, f in enumerate(self.plan_[p]):
                out[:, widths[m] + k] = recency[f.aggregate] if f.aggregate in _RECENCY else (
                    0.0 if f.aggregate == "count" else np.nan)
        width = max(arrays[t]["num"].shape[0] + arrays[t]["cat"].shape[0]
                    for t in {first.table, *(p.other for p in paths if p.kind == "parent")})
        for i in sorted(used):  # each window expands only its own ranges
            length = hi - lows[i]
            for a, b in _chunks(length, max(1, _CHUNK_CELLS // max(1, width))):
                n = length[a:b]
                nonempty = np.flatnonzero(n > 0)
                if not len(nonempty):
                    continue
                offsets = np.cumsum(n) - n
                owner_of = np.repeat(np.arange(b - a), n)  # chunk row of each expanded row
                position = np.arange(n.sum()) - offsets[owner_of] + lows[i][a:b][owner_of]
                crow = rows[position]
                bounds = offsets[nonempty]
                for m, (p, path) in enumerate(zip(members, paths, strict=True)):
                    features = [(k, f) for k, f in enumerate(self.plan_[p])
                                if f.w == i and f.aggregate not in _RECENCY]
                    if not features:
                        continue
                    if path.kind == "parent":
                        src = arrays[path.other]
                        parent = c[fk_names[path.table][path.other_fk]][crow]
                        ok = parent >= 0
                        srow = np.maximum(parent, 0)
                        if "__t" in src:
                            ok &= src["__t"][srow] <= cut[a:b][owner_of]
                    else:
                        src, srow, ok = c, crow, None
                    codes = src["cat"][:, srow]  # [columns, rows]
                    stats = _window_stats(ok, src["num"][:, srow], bounds)
                    for k, f in features:
                        column = out[:, widths[m] + k]  # contiguous: out is column-major
                        if f.aggregate == "count":
                            column[a + nonempty] = stats["count"]
                        elif f.aggregate == "share":
                            hits = stats["mask"] & (codes[src["cat_at"][f.j]] == f.m)
                            column[a + nonempty] = _ratio(
                                np.add.reduceat(hits.astype(np.int64), bounds), stats["count"])
                        else:
                            column[a + nonempty] = stats[f.aggregate][src["num_at"][f.j]]

    def _grandchildren(self, members: list[int], arrays, fk_names, pairs, out, starts):
        """The hop-2 child paths ``members``, one duckdb query each, into ``out``."""
        x_cols = {"__row": np.arange(len(pairs), dtype=np.int64), "__ent": pairs[:, 0],
                  "__cut": pairs[:, 1]}
        for i, w in enumerate(self.window_specs_):
            if w.kind == "delta":  # cutoff - delta, saturating at the smallest int64
                low = pairs[:, 1] < _INT64_MIN + w.value
                x_cols[f"__lo{i}"] = np.where(low, _INT64_MIN, pairs[:, 1] - np.where(
                    low, 0, w.value)).astype(np.int64)
        con = duckdb.connect(":memory:")
        try:
            con.register("x", pa.table(x_cols))
            aliases = {}
            for p in members:
                for table in (self.path_specs_[p].table, self.path_specs_[p].other):
                    if table not in aliases:
                        aliases[table] = f"t{len(aliases)}"
                        con.register(aliases[table], _arrow(arrays[table]))
            for p in members:
                result = con.execute(self._sql(p, aliases, fk_names)).fetchnumpy()
                rows = np.asarray(result["__row"])
                out[:, starts[p]:starts[p + 1]] = np.nan  # entities without rows
                out[:, [starts[p] + k for k, f in enumerate(self.plan_[p])
                        if f.aggregate == "count"]] = 0.0
                block = np.column_stack([
                    np.ma.asarray(result[f"f{k}"], dtype=np.float64).filled(np.nan)
                    for k in range(len(self.plan_[p]))])
                out[rows, starts[p]:starts[p + 1]] = block
        finally:
            con.close()

    def _sql(self, p: int, aliases, fk_names) -> str:
        """One query: every feature of hop-2 child path ``p``, every window, for every row
        of x. Timedelta windows mask the rows of one GROUP BY; ``last{k}`` windows are
        lists of the k latest rows' values (``arg_max(..., k)``)."""
        db = self.database_
        path = self.path_specs_[p]
        c_fk = fk_names[path.table][path.fk]
        h = fk_names[path.other][path.other_fk]
        joins = (f"FROM x JOIN {_q(aliases[path.table])} AS c ON c.{_q(c_fk)} = x.__ent "
                 f"JOIN {_q(aliases[path.other])} AS d ON d.{_q(h)} = c.__pos")
        where = ["c.__t <= x.__cut"] if db.time_ns(path.table) is not None else []
        if db.time_ns(path.other) is not None:
            where.append("d.__t <= x.__cut")
            order = "d.__ord"
        else:
            order = "(c.__ord, d.__ord)"
        wt = _window_time(db, path)
        used = {f.w for f in self.plan_[p]}
        cols = ["x.__row AS __row", f"{order} AS __ord"]
        if wt is not None:
            cols += ["x.__cut AS __cut", f"{wt}.__t AS __t"]
            cols += [f"{wt}.__t > x.__lo{i} AS __w{i}" for i, w in enumerate(self.window_specs_)
                     if w.kind == "delta" and i in used]
        fields = []
        for j, col in enumerate(self.column_specs_[path.source]):
            for kind in ("n" if col.numeric else "", "c" if col.categories else ""):
                if kind:
                    cols.append(f"d.{_q(f'{kind}{j}')} AS v_{kind}{j}")
                    fields.append(f"{kind}{j} := v_{kind}{j}")
        inner, outer, lists = ["__row"], [], {}
        for k, f in enumerate(self.plan_[p]):
            window = self.window_specs_[f.w]
            if window.kind == "last":
                name = f"__l{f.w}"
                lists.setdefault(name, f"arg_max(struct_pack({', '.join(fields)}), __ord, "
                                       f"{window.value}) AS {name}")
                outer.append(f"CAST({_list_expression(f, name)} AS DOUBLE) AS f{k}")
                continue
            cond = f"__w{f.w}" if window.kind == "delta" and wt is not None else None
            inner.append(f"CAST({_expression(f, cond)} AS DOUBLE) AS f{k}")
            outer.append(f"f{k}")
        return (
            f"WITH j AS (SELECT {', '.join(cols)} {joins}"
            f"{' WHERE ' + ' AND '.join(where) if where else ''}), "
            f"g AS (SELECT {', '.join(inner + list(lists.values()))} FROM j GROUP BY __row) "
            f"SELECT __row, {', '.join(outer)} FROM g"
        )

    # -- sklearn ----------------------------------------------------------------------------
    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``{path}|{window}|{column}|{aggregate}`` and so on.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored apart from validation against ``feature_names_in_``.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "feature_names_out_")
        _check_feature_names_in(self, input_features)
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = relational_input_tags(super().__sklearn_tags__())
        tags.non_deterministic = False
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags
