"""RelationalAggregator: time-correct window aggregates of related rows, computed with duckdb.

The classic hand-made baseline for predictive tasks on relational data: for each row
``(entity, cutoff time)`` of X, count and summarise the rows that link to the entity (and the
rows those link to, or that link to them) within time windows ending at the cutoff. Every
``(path, window)`` is one SQL query over all rows of X; no Python loop runs over rows.
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

from relcontrast.database import RelationalDatabase, as_database, key_tuple
from relcontrast.estimators._common import (
    TIME_BOUNDARIES,
    check_entities_exist,
    cutoff_times_ns,
    describe_input,
    entity_index,
    relational_input_tags,
    resolve_target_table,
    resolve_time_column,
)
from relcontrast.graph import infer_column_types

__all__ = ["RelationalAggregator"]

_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max
_NUMERIC_AGGREGATES = ("mean", "min", "max", "last")
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


def _aggregates(columns: tuple[_Column, ...]) -> list[tuple[str, str, int, int]]:
    """``(name suffix, aggregate, column index, category index)`` of one path and window, in
    output order. Registered columns are named ``n{j}`` (numeric) and ``c{j}`` (codes)."""
    out = [("count", "count", -1, -1)]
    for j, col in enumerate(columns):
        if col.numeric:
            out.extend((f"{col.name}|{agg}", agg, j, -1) for agg in _NUMERIC_AGGREGATES)
        out.extend((f"{col.name}={_format_value(v)}|share", "share", j, m)
                   for m, v in enumerate(col.categories))
    return out


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


def _rows_to_entities(db: RelationalDatabase, X, table: str, tcol: str | None,
                      time_boundary: str):
    """Rows X -> (entity row index [n], latest visible time in int64 nanoseconds [n]): the
    cutoff, or one nanosecond before it with ``time_boundary="strict"``, so every window
    compares ``time <= x.__cut``."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"X must be a pandas DataFrame with the target table's primary-key column(s) and "
            f"a cutoff time column, got {describe_input(X)}."
        )
    if tcol is not None and tcol not in X.columns:
        raise ValueError(f"X has no column {tcol!r}, the cutoff time column seen in fit "
                         f"(columns {list(X.columns)}).")
    entity = entity_index(db, X, table)
    if tcol is None:
        return entity, np.full(len(X), _INT64_MAX, dtype=np.int64)
    cutoff = cutoff_times_ns(X, tcol, time_boundary)
    check_entities_exist(db, X, table, tcol, entity, cutoff, time_boundary)
    return entity, cutoff


class RelationalAggregator(TransformerMixin, BaseEstimator):
    """Time-correct window aggregates of related rows, one feature vector per row of X.

    For each row ``(entity, cutoff time)`` of X, the rows of the database that link to the
    entity are counted and summarised within time windows that end at the cutoff; no row
    dated after the cutoff is ever read. Computed by duckdb: one SQL query per path and
    window handles all rows of X.

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
    their own time (by their parent's when they have none).

    **Features** per path and window, named ``{path}|{window}|...``: ``count``; for numeric
    columns (numeric dtype, not bool) ``{column}|mean``, ``|min``, ``|max`` and ``|last``
    (the value in the most recent row, null if it is null); for categorical and bool
    columns ``{column}={value}|share``, the fraction of rows holding each of the
    ``max_categories`` most frequent values of the column's table (counted at fit, up to
    ``cutoff_time_``; ties by value); also for integer-valued numeric columns whose most
    frequent values cover at least half of the non-null rows (a status code). Keys, time
    columns, text, lists and datetimes are not aggregated. A hop-2 parent path counts the
    rows whose referenced row exists by the cutoff. An entity with no rows in a window gets
    count 0 and NaN elsewhere.

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
    windows : tuple of {"all", str, int}, default=("all", "365D", 3)
        The time windows, see above.
    max_hops : {1, 2}, default=2
        1 aggregates the tables that reference the target only.
    max_categories : int, default=5
        How many most frequent values of a column get a share feature (0: none).

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
        The window labels, in output order.
    feature_names_out_ : ndarray of str
        One name per output column.
    feature_names_in_ : ndarray of str
        The columns of X seen in ``fit``.
    n_features_in_ : int
        Their number.
    path_specs_, window_specs_, column_specs_ : tuple, tuple, dict
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
    >>> agg.paths_[4:6]
    ('orders.user_id', 'orders.user_id>items(item_id)')
    >>> Z = agg.transform(X)
    >>> Z.shape
    (60, 216)
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
        "windows": [list, tuple],
        "max_hops": [Interval(numbers.Integral, 1, 2, closed="both")],
        "max_categories": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    def __init__(self, *, database=None, target_table=None, time_column=None,
                 time_boundary="inclusive", windows=("all", "365D", 3), max_hops=2,
                 max_categories=5):
        self.database = database
        self.target_table = target_table
        self.time_column = time_column
        self.time_boundary = time_boundary
        self.windows = windows
        self.max_hops = max_hops
        self.max_categories = max_categories

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
        windows = _parse_windows(self.windows)
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
        table = resolve_target_table(db, X, self.target_table)
        tcol = resolve_time_column(db, X, table, self.time_column)
        _, cut = _rows_to_entities(db, X, table, tcol, self.time_boundary)

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

        names = [f"{p.name}|{w.label}|{suffix}" for p in paths for w in windows
                 for suffix, *_ in _aggregates(self.column_specs_[p.source])]
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
        entity, cut = _rows_to_entities(db, X, self.target_table_, self.time_column_,
                                        self.time_boundary)
        # each distinct (entity, cutoff) is computed once
        pairs, inverse = np.unique(np.stack([entity, cut], axis=1).reshape(-1, 2), axis=0,
                                   return_inverse=True)
        inverse = inverse.reshape(-1)
        n_features = len(self.feature_names_out_)
        out = np.full((len(pairs), n_features), np.nan)
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
            frames, fk_names = self._frames()
            for k, (table, arrow) in enumerate(frames.items()):
                aliases[table] = f"t{k}"
                con.register(aliases[table], arrow)
            start = 0
            for path in self.path_specs_:
                aggs = _aggregates(self.column_specs_[path.source])
                for i, window in enumerate(self.window_specs_):
                    sql = self._sql(path, window, i, aggs, aliases, fk_names)
                    result = con.execute(sql).fetchnumpy()  # NULL -> masked
                    rows = np.asarray(result["__row"])
                    block = out[:, start:start + len(aggs)]
                    block[:, 0] = 0.0  # count: 0 for entities without rows
                    for j in range(len(aggs)):
                        column = np.ma.asarray(result[f"f{j}"], dtype=np.float64)
                        block[rows, j] = column.filled(np.nan)
                    start += len(aggs)
        finally:
            con.close()
        return pd.DataFrame(out[inverse], index=X.index,
                            columns=list(self.feature_names_out_))

    def _frames(self) -> tuple[dict[str, pa.Table], dict[str, dict[str, str]]]:
        """The needed columns of every table a path reads, as arrow tables: row position,
        time (int64 ns), rank in recency order, foreign keys as referenced row positions
        (named ``k{i}``; the second return value maps them), numeric values (float64,
        ``n{j}``) and category codes (``c{j}``)."""
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
        frames = {}
        for table, fks in needed_fks.items():
            df, spec = db.frame(table), db.schema[table]
            n = len(df)
            cols = {"__pos": np.arange(n, dtype=np.int64)}
            for k, fk in enumerate(fks):
                target = np.full(n, -1, dtype=np.int64)
                edge = edges[(table, fk)]
                target[edge.src_index] = edge.dst_index
                cols[f"k{k}"] = _nullable(target, target < 0)
            columns = self.column_specs_.get(table, ())
            for j, col in enumerate(columns):
                if col.numeric:
                    values = df[col.name].to_numpy(dtype=np.float64, na_value=np.nan)
                    cols[f"n{j}"] = _nullable(values, np.isnan(values))
                if col.categories:
                    cols[f"c{j}"] = _codes(df[col.name], col.categories, col.numeric)
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
            frames[table] = pa.table(cols)
        fk_names = {t: {fk: f"k{k}" for k, fk in enumerate(fks)}
                    for t, fks in needed_fks.items()}
        return frames, fk_names

    def _sql(self, path: _Path, window: _Window, i: int, aggs, aliases, fk_names) -> str:
        """One query: every aggregate of ``path`` over ``window`` for every row of x."""
        db = self.database_
        timed = {t: db.time_ns(t) is not None for t in (path.table, path.other) if t}
        c_fk = fk_names[path.table][path.fk]
        joins = [f"FROM x JOIN {_q(aliases[path.table])} AS c ON c.{_q(c_fk)} = x.__ent"]
        where = ["c.__t <= x.__cut"] if timed[path.table] else []
        ok, order, src = "TRUE", "c.__ord", "c"
        time = "c.__t" if timed[path.table] else None
        if path.kind == "parent":
            g = fk_names[path.table][path.other_fk]
            joins.append(f"LEFT JOIN {_q(aliases[path.other])} AS p ON p.__pos = c.{_q(g)}")
            ok = "p.__pos IS NOT NULL" + (" AND p.__t <= x.__cut" if timed[path.other] else "")
            ok = f"coalesce({ok}, FALSE)"
            src = "p"
        elif path.kind == "grandchild":
            h = fk_names[path.other][path.other_fk]
            joins.append(f"JOIN {_q(aliases[path.other])} AS d ON d.{_q(h)} = c.__pos")
            if timed[path.other]:
                where.append("d.__t <= x.__cut")
                time, order = "d.__t", "d.__ord"
            else:
                order = "(c.__ord, d.__ord)"
            src = "d"
        if window.kind == "delta" and time is not None:
            where.append(f"{time} > x.__lo{i}")
        qualify = ""
        if window.kind == "last":
            qualify = (f"QUALIFY row_number() OVER (PARTITION BY x.__row ORDER BY {order} "
                       f"DESC) <= {window.value}")
        columns = self.column_specs_[path.source]
        values = [f"{src}.{_q(f'n{j}')} AS {_q(f'n{j}')}"
                  for j, col in enumerate(columns) if col.numeric]
        values += [f"{src}.{_q(f'c{j}')} AS {_q(f'c{j}')}"
                   for j, col in enumerate(columns) if col.categories]
        flt = " FILTER (WHERE __ok)" if path.kind == "parent" else ""
        selects = []
        for k, (_, agg, j, m) in enumerate(aggs):
            expr = {
                "count": "count(*)",
                "mean": f"avg({_q(f'n{j}')})",
                "min": f"min({_q(f'n{j}')})",
                "max": f"max({_q(f'n{j}')})",
                "last": f"arg_max_null({_q(f'n{j}')}, __ord)",
                "share": f"avg(CAST({_q(f'c{j}')} = {m} AS DOUBLE))",
            }[agg]
            selects.append(f"CAST({expr}{flt} AS DOUBLE) AS {_q(f'f{k}')}")
        return (
            f"WITH j AS (SELECT x.__row AS __row, {ok} AS __ok, {order} AS __ord"
            f"{''.join(', ' + v for v in values)} {' '.join(joins)}"
            f"{' WHERE ' + ' AND '.join(where) if where else ''} {qualify}) "
            f"SELECT __row, {', '.join(selects)} FROM j GROUP BY __row"
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
        tags = relational_input_tags(super().__sklearn_tags__(), random_state=None)
        tags.non_deterministic = False
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags
