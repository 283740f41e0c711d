"""Rows X of a database -> seed rows: the database layer's reading of what estimators get.

A row of X names an entity of a target table by its primary key (every column of a
composite key) and, for a temporal database, a cutoff time. :func:`rows_to_seeds` finds the
target table and the cutoff column and turns the rows into node indices and the latest time
each row may read, under one of the two time rules (:data:`TIME_BOUNDARIES`); the encoder,
the supervised estimators and the aggregator all read X through it, once per call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relcontrast._validation import describe_input, did_you_mean
from relcontrast.database import RelationalDatabase, parse_times

__all__ = [
    "TIME_BOUNDARIES",
    "check_entities_exist",
    "cutoff_times_ns",
    "entity_index",
    "latest_visible_ns",
    "latest_visible_time",
    "resolve_target_table",
    "resolve_time_column",
    "rows_to_seeds",
    "seed_rows",
]


def _x_key(columns: tuple) -> str:
    """How messages name the key columns of X: ``X['uid']`` or ``X[['year', 'team']]``."""
    return f"X[{columns[0]!r}]" if len(columns) == 1 else f"X[{list(columns)!r}]"


def resolve_target_table(db: RelationalDatabase, X: pd.DataFrame, target_table: str | None) -> str:
    """The table whose rows X identifies: the parameter, or the one table whose primary-key
    column(s) all appear in X. When several do and one's key columns include all the
    others' (``(year, team)`` beside ``year``), that one."""
    if target_table is not None:
        if target_table not in db.schema:
            raise ValueError(
                f"target_table={target_table!r} is not a table of the database; tables are "
                f"{list(db.table_names)}.{did_you_mean(target_table, db.table_names)}"
            )
        if db.schema[target_table].primary_key is None:
            raise ValueError(
                f"target_table={target_table!r} has no primary key, so its rows cannot be "
                f"identified in X; choose a table with a primary key."
            )
        return target_table
    keys = {t: s.primary_key_columns for t, s in db.schema.items()
            if s.primary_key is not None}
    candidates = [t for t, cols in keys.items() if all(c in X.columns for c in cols)]
    widest = [t for t in candidates
              if all(set(keys[o]) <= set(keys[t]) for o in candidates)]
    if len(candidates) == 1 or len(widest) == 1:
        return widest[0]
    if not candidates:
        shown = {t: cols[0] if len(cols) == 1 else list(cols) for t, cols in keys.items()}
        raise ValueError(
            f"X has none of the primary-key columns {shown} in its columns "
            f"{list(X.columns)}; "
            f"X must hold the target table's primary-key column(s) (and a cutoff time "
            f"column). Add them, or set target_table."
        )
    raise ValueError(
        f"X holds the primary-key columns of several tables {candidates}; set target_table."
    )


def resolve_time_column(db: RelationalDatabase, X: pd.DataFrame, target_table: str,
                        time_column: str | None) -> str | None:
    """The cutoff-time column of X: the parameter, or X's single datetime column that is
    not part of the target table's primary key."""
    if time_column is not None:
        if time_column not in X.columns:
            raise ValueError(
                f"time_column={time_column!r} is not a column of X (columns "
                f"{list(X.columns)}).{did_you_mean(time_column, X.columns)}"
            )
        return time_column
    key = db.schema[target_table].primary_key_columns
    dt = [c for c in X.columns if c not in key and pd.api.types.is_datetime64_any_dtype(X[c])]
    if len(dt) == 1:
        return dt[0]
    if not db.is_temporal:
        return None
    if not dt:
        others = [c for c in X.columns if c not in key]
        hint = (f" If {others[0]!r} holds the cutoff times, convert it: X[{others[0]!r}] = "
                f"pd.to_datetime(X[{others[0]!r}]), or set time_column={others[0]!r}."
                if len(others) == 1 else "")
        raise ValueError(
            f"X has no datetime column to use as the cutoff time of each row (columns "
            f"{list(X.columns)}); the database is temporal, so every row needs one: add it "
            f"(e.g. X['date'] = pd.Timestamp('2005-01-01')), convert a column of X with "
            f"pd.to_datetime, or set time_column.{hint}"
        )
    raise ValueError(f"X has several datetime columns {dt}; set time_column to the cutoff one.")


def entity_index(db: RelationalDatabase, X: pd.DataFrame, table: str) -> np.ndarray:
    """Node indices of the entities that the rows of X name, by the target table's primary
    key (every column of a composite key)."""
    cols = db.schema[table].primary_key_columns
    missing = [c for c in cols if c not in X.columns]
    if missing:
        raise ValueError(
            f"X has no column {missing[0]!r}, "
            f"{'the primary key' if len(cols) == 1 else 'a column of the primary key'} of "
            f"target table {table!r} (columns {list(X.columns)}). Add it to X."
            f"{did_you_mean(missing[0], X.columns)}"
        )
    return db.key_to_index(table, X.loc[:, list(cols)], what=f"entity ids of {_x_key(cols)}")


#: The two time rules (``time_boundary``): which database rows a row of X with cutoff time
#: t may read. "inclusive": rows with time <= t (RelBench's samplers and task SQL);
#: "strict": rows with time < t (the RelBench 3 leaderboard's rule).
TIME_BOUNDARIES = ("inclusive", "strict")


def latest_visible_ns(times_ns: np.ndarray, time_boundary: str) -> np.ndarray:
    """The latest time a row may carry to be visible at each cutoff (int64 nanoseconds):
    the cutoff itself (``"inclusive"``), or one nanosecond before it (``"strict"``: times
    are whole nanoseconds, so ``time < t`` is ``time <= t - 1``). Every reader of the
    database (neighbour sampling, window aggregates, the rows pretraining and column
    statistics read) compares ``time <= bound``, so the rule lives here alone."""
    if time_boundary not in TIME_BOUNDARIES:
        raise ValueError(f"time_boundary must be one of {TIME_BOUNDARIES}, got "
                         f"{time_boundary!r}.")
    times_ns = np.asarray(times_ns, dtype=np.int64)
    return times_ns - 1 if time_boundary == "strict" else times_ns


def latest_visible_time(cutoff, time_boundary: str):
    """:func:`latest_visible_ns` for one cutoff given as a time (``cutoff_time``): a
    ``pandas.Timestamp`` one nanosecond before it under ``"strict"``; unchanged under
    ``"inclusive"``, for None, and for a value that is not a time (the reader of the
    database refuses it with its own message)."""
    if time_boundary not in TIME_BOUNDARIES:
        raise ValueError(f"time_boundary must be one of {TIME_BOUNDARIES}, got "
                         f"{time_boundary!r}.")
    if cutoff is None or time_boundary == "inclusive":
        return cutoff
    try:
        stamp = pd.Timestamp(cutoff)
    except (ValueError, TypeError, OverflowError):
        return cutoff
    return cutoff if stamp is pd.NaT else stamp - pd.Timedelta(1, "ns")


def cutoff_times_ns(X: pd.DataFrame, tcol: str, time_boundary: str = "inclusive") -> np.ndarray:
    """The latest visible time of each row of X (int64 nanoseconds, UTC, naive): X's cutoff
    time column under ``"inclusive"``, one nanosecond before it under ``"strict"``
    (:func:`latest_visible_ns`); clear errors for values that are not times."""
    parsed = parse_times(X[tcol], f"X[{tcol!r}], the cutoff time of each row,", f"X[{tcol!r}]")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise ValueError(
            f"X[{tcol!r}] has null cutoff times ({int(parsed.isna().sum())}, first at row "
            f"{row}); every row needs one. Fill or drop them."
        )
    return latest_visible_ns(parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64),
                             time_boundary)


def rows_to_seeds(db: RelationalDatabase, X, target_table: str | None,
                  time_column: str | None, time_boundary: str = "inclusive",
                  ) -> tuple[str, str | None, np.ndarray, np.ndarray]:
    """Rows X -> ``(table, time column, node index [n], seed time in nanoseconds [n])``.

    X holds every primary-key column of the target table (all of them for a composite key)
    and, for a temporal database, a cutoff time column; the target table and the time
    column are the parameters or found in X (:func:`resolve_target_table`,
    :func:`resolve_time_column`), then :func:`seed_rows` reads the rows.
    """
    _check_frame(X)
    table = resolve_target_table(db, X, target_table)
    tcol = resolve_time_column(db, X, table, time_column)
    return (table, tcol, *seed_rows(db, X, table, tcol, time_boundary))


def seed_rows(db: RelationalDatabase, X, table: str, time_column: str | None,
              time_boundary: str = "inclusive") -> tuple[np.ndarray, np.ndarray]:
    """Rows X of a known target ``table`` and cutoff ``time_column`` (None: no times) ->
    ``(node index [n], seed time in nanoseconds [n])``, both int64.

    The seed time is the latest time a row may carry to be read for that row of X: its
    cutoff (``time_boundary="inclusive"``) or one nanosecond before (``"strict"``); every
    reader of the database bounds rows by it. Seeds without a time (non-temporal databases)
    get the largest int64, i.e. no bound. Rows whose entity is dated after their cutoff are
    refused (:func:`check_entities_exist`).
    """
    _check_frame(X)
    if time_column is not None and time_column not in X.columns:
        raise ValueError(f"X has no column {time_column!r}, the cutoff time column seen in "
                         f"fit (columns {list(X.columns)}).")
    index = entity_index(db, X, table).astype(np.int64)
    if time_column is None:
        return index, np.full(len(X), np.iinfo(np.int64).max, dtype=np.int64)
    times = cutoff_times_ns(X, time_column, time_boundary)
    check_entities_exist(db, X, table, time_column, index, times, time_boundary)
    return index, times.astype(np.int64)


def _check_frame(X) -> None:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"X must be a pandas DataFrame with the target table's primary-key column(s) and "
            f"a cutoff time column, got {describe_input(X)}. Build one, e.g. "
            f"pd.DataFrame({{'user_id': ids, 'date': times}})."
        )


def check_entities_exist(db: RelationalDatabase, X: pd.DataFrame, table: str, tcol: str,
                         index: np.ndarray, times: np.ndarray,
                         time_boundary: str = "inclusive") -> None:
    """Refuse rows of X whose entity is not visible at the row's cutoff (``times``: the
    latest visible time of each row, :func:`cutoff_times_ns`): dated after the cutoff, or
    exactly at it under ``"strict"``. The entity did not exist yet, and its embedding would
    read its own future attributes."""
    own = db.time_ns(table)
    if own is None:
        return
    late = np.flatnonzero(own[index] > times)
    if len(late):
        i = int(late[0])
        key = X.iloc[i][list(db.schema[table].primary_key_columns)].to_dict()
        strict = time_boundary == "strict"
        cutoff = int(times[i]) + 1 if strict else int(times[i])
        rule = (" (time_boundary='strict': a row is visible only strictly before the cutoff)"
                if strict else "")
        fix = "after the row's time" if strict else "to the row's time or later"
        raise ValueError(
            f"{len(late)} rows of X have a cutoff before their {table!r} row's own time "
            f"(column {db.schema[table].time_column!r}){' or at it' if strict else ''}; "
            f"first: row {i}, {key}, dated {pd.Timestamp(int(own[index[i]]))}, cutoff "
            f"X[{tcol!r}] = {pd.Timestamp(cutoff)}{rule}. The row did not exist yet at its "
            f"cutoff, and embedding it would read its future attributes. Drop these rows of X "
            f"or move their cutoff {fix}."
        )
