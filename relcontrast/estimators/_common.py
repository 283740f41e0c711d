"""Shared plumbing of the estimators: rows X -> seed nodes, devices, seeding."""

from __future__ import annotations

import contextlib
import hashlib
import sys

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from skorch.callbacks import ProgressBar

from relcontrast._validation import did_you_mean
from relcontrast.database import RelationalDatabase, parse_times


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def deterministic(enabled: bool = True):
    """Run a block with ``torch.use_deterministic_algorithms`` on (when ``enabled``) and the
    caller's setting restored after.

    Multi-threaded CPU scatter / index_add reductions (GraphSAGE's neighbour aggregation,
    the link objective) otherwise reorder floating-point sums between runs, so two seeded
    fits on two threads end with different weights. ``warn_only`` keeps a CUDA run working
    where an op has no deterministic kernel (it is tagged non-deterministic there).
    """
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


@contextlib.contextmanager
def seeded(random_state):
    """Run a block with torch's global RNG seeded from ``random_state`` and restored after,
    so module initialisation is reproducible without touching the caller's random state;
    with a ``random_state``, deterministic algorithms too (bitwise-identical fits at any
    thread count)."""
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(2**31))
    else:
        seed = int(np.random.SeedSequence(int(random_state)).generate_state(1)[0])
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    if devices and torch.distributed.is_available() and torch.distributed.is_initialized():
        devices = [torch.cuda.current_device()]  # a rank touches its own GPU only
    with torch.random.fork_rng(devices=devices), deterministic(random_state is not None):
        torch.manual_seed(seed)
        yield seed


def make_generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed) % 2**63)
    return gen


def eval_generator(seed: int, gen: torch.Generator | None = None) -> torch.Generator:
    """The generator of every evaluation pass (validation, ``transform``, ``predict``) of a
    model seeded with ``seed``: seeded with ``seed + 1`` (apart from training's), and
    restarted for each pass, so the same rows always sample the same neighbours. Reseeds
    ``gen`` when given."""
    if gen is None:
        return make_generator(int(seed) + 1)
    gen.manual_seed((int(seed) + 1) % 2**63)
    return gen


def describe_input(X) -> str:
    """The type of an unsupported input X, for error messages; sparse inputs say so."""
    if sparse.issparse(X):
        return f"sparse {type(X).__name__} (sparse input is not supported)"
    return type(X).__name__


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
    and, for a temporal database, a cutoff time column. The seed time is the latest time a
    row may carry to be read for that row of X: its cutoff (``time_boundary="inclusive"``)
    or one nanosecond before (``"strict"``); every sampler bounds neighbours by it. Seeds
    without a time (non-temporal databases) get the largest int64, i.e. no bound.
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"X must be a pandas DataFrame with the target table's primary-key column(s) and "
            f"a cutoff time column, got {describe_input(X)}. Build one, e.g. "
            f"pd.DataFrame({{'user_id': ids, 'date': times}})."
        )
    table = resolve_target_table(db, X, target_table)
    tcol = resolve_time_column(db, X, table, time_column)
    index = entity_index(db, X, table)
    if tcol is None:
        times = np.full(len(X), np.iinfo(np.int64).max, dtype=np.int64)
    else:
        times = cutoff_times_ns(X, tcol, time_boundary)
        check_entities_exist(db, X, table, tcol, index, times, time_boundary)
    return table, tcol, index.astype(np.int64), times.astype(np.int64)


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


def relational_input_tags(tags, random_state, device="cpu"):
    """Tags shared by every relcontrast estimator: X is a DataFrame of entity keys (any
    dtype) and cutoff times. ``two_d_array`` keeps its default True: X is 2-D, and
    scikit-learn's common checks run only for two_d_array estimators. Seeded fits are
    deterministic on CPU; CUDA's scatter reductions are not."""
    tags.input_tags.string = True
    tags.input_tags.categorical = True
    tags.non_deterministic = random_state is None or resolve_device(device).type != "cpu"
    return tags


def net_on_device(net, device: torch.device) -> None:
    """Move a fitted skorch net's module and criterion to ``device`` (a no-op when they are
    there), e.g. a model fitted on CPU then used with ``device="auto"`` on a CUDA host, or
    after ``set_params(device=...)``."""
    net.device = str(device)
    net.module_.to(device)
    if hasattr(net, "criterion_"):
        net.criterion_.to(device)


def progress_bar(verbose, **kwargs) -> list:
    """skorch's ``ProgressBar`` callback when ``verbose`` and stderr is a terminal; in logs
    that are not one, skorch's per-epoch table (``verbose``) is the only progress output,
    one line per epoch instead of one per batch."""
    if not verbose or not sys.stderr.isatty():
        return []
    return [("progress", ProgressBar(**kwargs))]


def digest(*parts) -> str:
    """SHA-256 of ``parts`` in order: strings, arrays (their bytes) and modules (the bytes of
    their state dict's tensors); None parts are skipped. What checkpoints and data-parallel
    ranks compare to tell runs, rows and weights apart."""
    h = hashlib.sha256()
    for part in parts:
        if part is None:
            continue
        if isinstance(part, str):
            h.update(part.encode())
        elif isinstance(part, torch.nn.Module):
            for tensor in part.state_dict().values():
                h.update(tensor.detach().cpu().numpy().tobytes())
        else:
            h.update(np.ascontiguousarray(np.asarray(part)).tobytes())
    return h.hexdigest()


# Layout of a fitted estimator's state. 1: node and seed times in whole seconds (relcontrast
# 0.1.0); 2: in nanoseconds; 3: the graph holds foreign-key links, the samplers build the
# neighbour index; 4: GraphSAGE's weights stacked per destination table (no SAGEConv
# modules). Bump when a pickled fitted estimator would read differently.
STATE_FORMAT = 4
_STATE_FORMAT_KEY = "_relcontrast_state_format"
# Parameters added within a state format, with the value that reads as an estimator saved
# before them did: filled in when such an estimator is loaded.
_ADDED_PARAMETERS = {"time_boundary": "inclusive"}


class SavedStateFormat:
    """Mixin: a pickled estimator records :data:`STATE_FORMAT`; loading a *fitted* one of
    another format raises instead of reading it wrongly (scikit-learn only warns on another
    version, as its estimators stay readable; here an old graph's times in seconds would let
    every row read up to a second past its cutoff)."""

    def __getstate__(self):
        return {**super().__getstate__(), _STATE_FORMAT_KEY: STATE_FORMAT}

    def __setstate__(self, state):
        state = dict(state)
        found = state.pop(_STATE_FORMAT_KEY, 1)
        fitted = any(k.endswith("_") and not k.startswith("__") for k in state)
        if fitted and found != STATE_FORMAT:
            raise ValueError(
                f"This fitted {type(self).__name__} was saved with state format {found}; this "
                f"relcontrast reads format {STATE_FORMAT} (node times in nanoseconds, the "
                f"graph's foreign-key links, GraphSAGE weights per table). Refit it with this "
                f"version, or load it with the "
                f"relcontrast version that saved it.")
        for name, value in _ADDED_PARAMETERS.items():
            state.setdefault(name, value)
        super().__setstate__(state)
