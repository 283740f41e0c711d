"""Bundled Ergast Formula 1 data as RelBench's rel-f1, its three driver tasks, and an export.

The nine Ergast CSVs ship gzip-compressed in ``relcontrast/datasets/data`` (provenance and
licence in ``data/SOURCE.md``). :func:`load_f1` turns them into the nine rel-f1 tables exactly
as RelBench v1's ``F1Dataset.make_db`` does, but keeps the original Ergast ids.
:func:`load_f1_task` builds the label tables of ``driver-dnf``, ``driver-top3`` and
``driver-position`` with RelBench's timestamps and label definitions, in pandas.
:func:`export_relbench` writes the same data as a RelBench 3 dataset folder, so RelBench's own
loader, label SQL and metrics can be run against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "F1Task",
    "LEAKY_COLUMNS",
    "SPLITS",
    "TASK_NAMES",
    "TEST_TIMESTAMP",
    "VAL_TIMESTAMP",
    "export_relbench",
    "load_f1",
    "load_f1_task",
]

VAL_TIMESTAMP = pd.Timestamp("2005-01-01")
TEST_TIMESTAMP = pd.Timestamp("2010-01-01")
NUM_EVAL_TIMESTAMPS = 40
TASK_NAMES = ("driver-dnf", "driver-top3", "driver-position")
SPLITS = ("train", "val", "test")

# Table name -> bundled file, in RelBench's table order.
_FILES = {
    "races": "races.csv.gz",
    "circuits": "circuits.csv.gz",
    "drivers": "drivers.csv.gz",
    "results": "results.csv.gz",
    "standings": "driver_standings.csv.gz",
    "constructors": "constructors.csv.gz",
    "constructor_results": "constructor_results.csv.gz",
    "constructor_standings": "constructor_standings.csv.gz",
    "qualifying": "qualifying.csv.gz",
}

# Columns RelBench's builder drops (irrelevant, leaking time, or mostly missing).
_DROP = {
    "races": [
        "url",
        "fp1_date",
        "fp1_time",
        "fp2_date",
        "fp2_time",
        "fp3_date",
        "fp3_time",
        "quali_date",
        "quali_time",
        "sprint_date",
        "sprint_time",
    ],
    "circuits": ["url"],
    "drivers": ["number", "url"],
    "results": ["positionText", "time", "fastestLapTime", "fastestLapSpeed"],
    "standings": ["positionText"],
    "constructors": ["url"],
    "constructor_results": ["status"],
    "constructor_standings": ["positionText"],
    "qualifying": ["q1", "q2", "q3"],
}

_RESULTS_NUMERIC = ["rank", "number", "grid", "position", "points", "laps", "milliseconds",
                    "fastestLap"]

# Columns of untimed tables filled in after the fact; load_f1(relbench_compatible=False) drops
# them.
LEAKY_COLUMNS = {"drivers": ("code",)}

# (primary key, {foreign key: referenced table}, time column), as RelBench declares them.
_SCHEMA = {
    "races": ("raceId", {"circuitId": "circuits"}, "date"),
    "circuits": ("circuitId", {}, None),
    "drivers": ("driverId", {}, None),
    "results": (
        "resultId",
        {"raceId": "races", "driverId": "drivers", "constructorId": "constructors"},
        "date",
    ),
    "standings": ("driverStandingsId", {"raceId": "races", "driverId": "drivers"}, "date"),
    "constructors": ("constructorId", {}, None),
    "constructor_results": (
        "constructorResultsId",
        {"raceId": "races", "constructorId": "constructors"},
        "date",
    ),
    "constructor_standings": (
        "constructorStandingsId",
        {"raceId": "races", "constructorId": "constructors"},
        "date",
    ),
    "qualifying": (
        "qualifyId",
        {"raceId": "races", "driverId": "drivers", "constructorId": "constructors"},
        "date",
    ),
}


@dataclass(frozen=True)
class _TaskSpec:
    source: str  # table whose rows inside the window make the label
    target: str
    task_type: str
    metric: str
    days: int
    value: Callable[[pd.DataFrame], pd.Series]  # window rows -> per-row value to aggregate
    agg: str  # per (seed time, driver)
    description: str
    finish: Callable[[pd.Series], pd.Series] | None = None  # aggregate -> label


def _dnf_value(rows: pd.DataFrame) -> pd.Series:
    # SQL: CASE WHEN statusId != 1 THEN 1 ELSE 0 END (a NULL status counts as 0).
    status = rows["statusId"]
    return (status.notna() & (status != 1)).astype("int64")


_TASKS = {
    "driver-dnf": _TaskSpec(
        source="results",
        target="did_not_finish",
        task_type="binary_classification",
        metric="roc_auc",
        days=30,
        value=_dnf_value,
        agg="max",
        description="Predict whether a driver will fail to finish (DNF) a race in the next "
        "30 days.",
    ),
    "driver-top3": _TaskSpec(
        source="qualifying",
        target="qualifying",
        task_type="binary_classification",
        metric="roc_auc",
        days=30,
        value=lambda rows: rows["position"],
        agg="min",
        description="Predict whether a driver will qualify in the top 3 for a race in the "
        "next 30 days.",
        # SQL: CASE WHEN MIN(position) <= 3 THEN 1 ELSE 0 (a NULL minimum gives 0).
        finish=lambda best: (best <= 3).astype("int64"),
    ),
    "driver-position": _TaskSpec(
        source="results",
        target="position",
        task_type="regression",
        metric="mae",
        days=60,
        value=lambda rows: rows["positionOrder"].astype("float64"),
        agg="mean",
        description="Predict a driver's mean finishing position over the races of the next "
        "60 days.",
    ),
}


@dataclass(frozen=True, eq=False, repr=False)
class F1Task:
    """One split of a rel-f1 driver task: the rows to predict, their labels, and metadata.

    Returned by :func:`load_f1_task`; not meant to be built by hand.

    Parameters
    ----------
    name : str
        ``"driver-dnf"``, ``"driver-top3"`` or ``"driver-position"``.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    X : pandas.DataFrame
        Columns ``driverId`` (Ergast id, a key of ``tables["drivers"]``) and ``date`` (the
        cutoff time: a prediction for a row may use database rows with time <= ``date``),
        sorted by ``date`` then ``driverId``.
    y : pandas.Series
        The label of each row of ``X`` (same index), named by the target column.
    task_type : str
        ``"binary_classification"`` or ``"regression"``.
    metric : str
        The metric RelBench v1 reports for the task: ``"roc_auc"`` or ``"mae"``.
    timedelta : pandas.Timedelta
        Length of the label window: the label of ``(driver, t)`` is computed over the rows
        dated in ``(t, t + timedelta]``.
    description : str
        One sentence saying what is predicted.

    Attributes
    ----------
    entity_table : str
        ``"drivers"``.
    entity_column : str
        ``"driverId"``.
    time_column : str
        ``"date"``.
    target_column : str
        Name of ``y``: ``"did_not_finish"``, ``"qualifying"`` or ``"position"``.

    Examples
    --------
    >>> from relcontrast.datasets import load_f1_task
    >>> task = load_f1_task("driver-dnf", "val")
    >>> task.X.columns.tolist(), task.y.name, task.metric
    (['driverId', 'date'], 'did_not_finish', 'roc_auc')
    """

    name: str
    split: str
    X: pd.DataFrame
    y: pd.Series
    task_type: str
    metric: str
    timedelta: pd.Timedelta
    description: str
    entity_table: str = "drivers"
    entity_column: str = "driverId"
    time_column: str = "date"

    @property
    def target_column(self) -> str:
        return str(self.y.name)

    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        return f"F1Task({self.name!r}, split={self.split!r}, rows={len(self.X)})"


# --------------------------------------------------------------------------- #
# Tables
# --------------------------------------------------------------------------- #


def _read(table: str) -> pd.DataFrame:
    ref = resources.files("relcontrast.datasets") / "data" / _FILES[table]
    with ref.open("rb") as f:
        # `\N` is Ergast's null; pandas' default NA strings stay on, as in RelBench.
        return pd.read_csv(f, compression="gzip", na_values=[r"\N"])


def _build_tables() -> dict[str, pd.DataFrame]:
    raw = {name: _read(name) for name in _FILES}
    t = {name: df.drop(columns=_DROP[name]) for name, df in raw.items()}

    races = t["races"]
    races["time"] = races["time"].fillna("00:00:00")
    races["date"] = pd.to_datetime(races["date"] + " " + races["time"]).astype("datetime64[ns]")

    race_dates = races[["raceId", "date"]]
    for name in ("results", "standings", "constructor_results", "constructor_standings",
                 "qualifying"):
        t[name] = t[name].merge(race_dates, on="raceId", how="left")
    # Qualifying takes place the day before the race.
    t["qualifying"]["date"] = t["qualifying"]["date"] - pd.Timedelta(days=1)

    results = t["results"]
    for col in _RESULTS_NUMERIC:
        results[col] = pd.to_numeric(results[col], errors="coerce")
    t["circuits"]["alt"] = t["circuits"]["alt"].astype("float64")
    t["drivers"]["dob"] = pd.to_datetime(t["drivers"]["dob"]).astype("datetime64[ns]")
    return t


def _schema() -> dict[str, dict]:
    return {
        name: {"primary_key": pk, "foreign_keys": dict(fks), "time_column": time}
        for name, (pk, fks, time) in _SCHEMA.items()
    }


def load_f1(*, relbench_compatible: bool = True
            ) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    r"""Load the bundled Formula 1 database (RelBench's rel-f1, 1950–2024).

    The nine tables are built from the Ergast CSVs as RelBench v1's ``F1Dataset.make_db``
    builds them: the same dropped columns; ``races.date`` is the race's date and start time
    (a missing time counts as ``00:00:00``; ``races.time`` is kept as a string); ``results``,
    ``standings``, ``constructor_results``, ``constructor_standings`` and ``qualifying`` get
    their race's ``date``, qualifying one day earlier; the numeric ``results`` columns,
    ``circuits.alt`` and ``drivers.dob`` are converted. Times have dtype ``datetime64[ns]``.

    The original Ergast ids are kept as keys (RelBench re-indexes them to ``0..n-1``).

    One deviation: Ergast's null marker ``\N`` is read as a missing value in every table.
    RelBench replaces it only in ``results`` and ``circuits``, so in RelBench's table
    ``drivers.code`` holds the string ``"\N"`` for 757 drivers, where it is missing here. No
    other kept column contains ``\N``, and no task label depends on it.

    Every call reads the data afresh, so callers may modify what they get.

    Parameters
    ----------
    relbench_compatible : bool, default=True
        Keep every column RelBench keeps. ``False`` also drops the columns that were
        written after the fact (:data:`LEAKY_COLUMNS`): ``drivers.code``, the three-letter
        code, is filled for every driver active from 2005 on and for 0.3% of earlier
        drivers, so on training rows its mere presence tells recent drivers from old ones, a
        shortcut that is worthless on the validation and test rows (every driver there has a
        code). The default keeps them, so that figures compare with RelBench's published
        ones.

    Returns
    -------
    tables : dict of str to pandas.DataFrame
        ``races``, ``circuits``, ``drivers``, ``results``, ``standings`` (from
        ``driver_standings.csv``), ``constructors``, ``constructor_results``,
        ``constructor_standings`` and ``qualifying``.
    schema : dict of str to dict
        Per table ``{"primary_key": str or None, "foreign_keys": {column: table},
        "time_column": str or None}``, the keys and time columns RelBench declares.

    Examples
    --------
    >>> from relcontrast.datasets import load_f1
    >>> tables, schema = load_f1()
    >>> len(tables["drivers"]), schema["results"]["foreign_keys"]["driverId"]
    (861, 'drivers')
    >>> schema["qualifying"]["time_column"]
    'date'
    """
    tables = _build_tables()
    if not relbench_compatible:
        for table, columns in LEAKY_COLUMNS.items():
            tables[table] = tables[table].drop(columns=list(columns))
    return tables, _schema()


# --------------------------------------------------------------------------- #
# Tasks
# --------------------------------------------------------------------------- #


def _check_choice(value, choices: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"Unknown {what} {value!r}; choose one of: {', '.join(map(repr, choices))}."
        )
    return value


def _timestamps(split: str, td: pd.Timedelta, tables: dict[str, pd.DataFrame]) -> pd.DatetimeIndex:
    """The seed times of a split, as RelBench's ``BaseTask._get_table`` computes them."""
    times = [tables[name][time] for name, (_, _, time) in _SCHEMA.items() if time is not None]
    if split == "train":
        # Latest first, stepping back until the earliest time in the database upto test.
        min_time = min(s[s <= TEST_TIMESTAMP].min() for s in times)
        start, end, freq = VAL_TIMESTAMP - td, min_time, -td
    elif split == "val":
        start = VAL_TIMESTAMP
        end = min(VAL_TIMESTAMP + td * (NUM_EVAL_TIMESTAMPS - 1), TEST_TIMESTAMP - td)
        freq = td
    else:
        max_time = max(s.max() for s in times)
        start = TEST_TIMESTAMP
        end = min(TEST_TIMESTAMP + td * (NUM_EVAL_TIMESTAMPS - 1), max_time - td)
        freq = td
    return pd.date_range(start=start, end=end, freq=freq).astype("datetime64[ns]")


def _make_labels(
    spec: _TaskSpec,
    split: str,
    tables: dict[str, pd.DataFrame],
) -> tuple[pd.DataFrame, pd.Series]:
    td = pd.Timedelta(days=spec.days)
    stamps = _timestamps(split, td, tables)

    rows = tables[spec.source]
    if split != "test":  # train and val labels come from the database upto test time
        rows = rows[rows["date"] <= TEST_TIMESTAMP]
    # RelBench's SQL joins results to drivers, so a row whose driver is not in `drivers`
    # (none in the bundled data) or missing gives no label.
    rows = rows[rows["driverId"].isin(tables["drivers"]["driverId"])]
    rows = rows.sort_values("date", kind="stable")
    dates = rows["date"].to_numpy("datetime64[ns]")

    # Row ranges of each window (t, t + td], found on the sorted dates.
    t = stamps.to_numpy()
    lo = np.searchsorted(dates, t, side="right")
    hi = np.searchsorted(dates, t + td.to_timedelta64(), side="right")
    counts = hi - lo
    offsets = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    idx = np.arange(counts.sum()) + offsets
    window = rows.iloc[idx]
    # RelBench also requires a row of the driver dated after t - 1 year; the window's own
    # rows (dated after t) always satisfy it, so it filters nothing.

    frame = pd.DataFrame({
        "date": np.repeat(t, counts),
        "driverId": window["driverId"].to_numpy(),
        "value": spec.value(window).to_numpy(),
    })
    out = frame.groupby(["date", "driverId"], sort=True)["value"].agg(spec.agg).reset_index()
    if spec.finish is not None:
        out["value"] = spec.finish(out["value"])
    X = out[["driverId", "date"]].astype({"driverId": "int64"})
    y = out["value"].rename(spec.target)
    return X, y


def load_f1_task(name: str, split: str) -> F1Task:
    """Load one split of a rel-f1 driver task, with RelBench's rows and labels.

    Seed times and labels follow RelBench (v1, ``relbench/tasks/f1.py``). Validation seeds
    start at 2005-01-01 and test seeds at 2010-01-01, stepping by the task's window, at most
    40 of each, with every window ending before the next split (or the data) does; training
    seeds step back from 2005-01-01 minus one window to the first race (1950). A driver gets
    a row at seed time ``t`` when the label table has a row of theirs dated in
    ``(t, t + window]``:

    - ``driver-dnf`` (30 days, ``results``): ``did_not_finish`` is 1 if any of those races
      has ``statusId != 1``, i.e. a status other than "Finished" (lapped cars count too),
      else 0.
    - ``driver-top3`` (30 days, ``qualifying``): ``qualifying`` is 1 if the driver's best
      qualifying position is <= 3, else 0.
    - ``driver-position`` (60 days, ``results``): ``position`` is the mean ``positionOrder``.

    Training and validation labels are computed on the data up to the test timestamp; test
    labels on all of it.

    Parameters
    ----------
    name : {"driver-dnf", "driver-top3", "driver-position"}
        The task.
    split : {"train", "val", "test"}
        The split.

    Returns
    -------
    F1Task
        ``.X`` (``driverId``, ``date``), ``.y`` and the task's metadata.

    Raises
    ------
    ValueError
        If ``name`` or ``split`` is not one of the choices above.

    Examples
    --------
    >>> from relcontrast.datasets import load_f1_task
    >>> val = load_f1_task("driver-position", "val")
    >>> len(val), val.task_type, str(val.timedelta)
    (499, 'regression', '60 days 00:00:00')
    >>> val.X.columns.tolist(), val.y.name
    (['driverId', 'date'], 'position')
    """
    _check_choice(name, TASK_NAMES, "task name")
    _check_choice(split, SPLITS, "split")
    spec = _TASKS[name]
    X, y = _make_labels(spec, split, _build_tables())
    return F1Task(
        name=name,
        split=split,
        X=X,
        y=y,
        task_type=spec.task_type,
        metric=spec.metric,
        timedelta=pd.Timedelta(days=spec.days),
        description=spec.description,
    )


# --------------------------------------------------------------------------- #
# RelBench export
# --------------------------------------------------------------------------- #


def _read_sql(name: str) -> str:
    return (resources.files("relcontrast.datasets") / "sql" / f"{name}.sql").read_text("utf-8")


def _reindex(
    tables: dict[str, pd.DataFrame], schema: dict[str, dict]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series]]:
    """Re-key the tables as RelBench 3 requires: primary keys ``0..n-1`` in row order.

    Tables with a time column are first sorted by time (stable), so that RelBench's
    ``upto(timestamp)`` keeps a prefix of the rows and the keys stay ``0..n-1``. Foreign
    keys are replaced by the referenced row's new key; a dangling one becomes null.
    """
    out, original_ids = {}, {}
    for name, df in tables.items():
        spec = schema[name]
        if spec["time_column"] is not None:
            df = df.sort_values(spec["time_column"], kind="stable", na_position="last")
        df = df.reset_index(drop=True)
        pk = spec["primary_key"]
        if pk is not None:
            original_ids[name] = df[pk].copy()
            df[pk] = np.arange(len(df), dtype="int64")
        out[name] = df
    for name, df in out.items():
        for col, ref in schema[name]["foreign_keys"].items():
            new_key = pd.Series(np.arange(len(original_ids[ref]), dtype="int64"),
                                index=original_ids[ref].to_numpy())
            mapped = df[col].map(new_key)
            df[col] = mapped.astype("int64") if mapped.notna().all() else mapped.astype("Int64")
    return out, original_ids


def export_relbench(path: str | Path) -> Path:
    """Write the bundled F1 data and its three tasks as a RelBench 3 dataset folder.

    The folder loads offline with ``relbench.load_dataset(path)``; its tasks' labels are
    regenerated by RelBench from the task SQL (no label files are written)::

        path/
            manifest.yaml               name "rel-f1", split timestamps, keys, time columns
            db/<table>.parquet          the nine tables of load_f1(), re-keyed (see below)
            tasks/<task>/manifest.yaml  kind "forecast", RelBench's label SQL
            ergast_ids/<table>.parquet  the Ergast id of each re-keyed row
            SOURCE.md                   provenance and licence of the data

    RelBench 3 requires every primary key to be ``0..n-1`` in row order, with foreign keys
    holding those numbers. The export therefore sorts tables with a time column by time
    (stable), numbers the rows, and rewrites the foreign keys (a dangling one would become
    null; the bundled data has none). Row ``i`` of ``ergast_ids/<table>.parquet`` holds, in
    the primary-key column, the Ergast id of the row with RelBench key ``i``, e.g.
    ``pd.read_parquet(path / "ergast_ids/drivers.parquet")["driverId"].to_numpy()[ids]``
    maps RelBench driver ids back to Ergast ids.

    Parameters
    ----------
    path : str or pathlib.Path
        Folder to write to; created if missing. Files already there are overwritten.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, relbench
    >>> from relcontrast.datasets import export_relbench
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     dataset = relbench.load_dataset(export_relbench(tmp))
    ...     dataset.get_task_names()
    ['driver-dnf', 'driver-position', 'driver-top3']
    """
    from relbench.manifest import (
        DatasetManifest,
        TableSpec,
        TaskManifest,
        validate_dataset_manifest,
    )

    root = Path(path)
    tables, schema = load_f1()
    tables, original_ids = _reindex(tables, schema)

    (root / "db").mkdir(parents=True, exist_ok=True)
    (root / "ergast_ids").mkdir(exist_ok=True)
    for name, df in tables.items():
        df.to_parquet(root / "db" / f"{name}.parquet", index=False)
    for name, ids in original_ids.items():
        ids.to_frame().to_parquet(root / "ergast_ids" / f"{name}.parquet", index=False)

    manifest = DatasetManifest(
        name="rel-f1",
        val_timestamp=VAL_TIMESTAMP.strftime("%Y-%m-%d"),
        test_timestamp=TEST_TIMESTAMP.strftime("%Y-%m-%d"),
        description="Formula 1 races, drivers, results, standings and qualifying, "
        "1950-2024, from the Ergast data (see SOURCE.md), exported by relcontrast.",
        tables={
            name: TableSpec(pkey=s["primary_key"], time_col=s["time_column"],
                            fkeys=dict(s["foreign_keys"]))
            for name, s in schema.items()
        },
    )
    manifest.save(root / "manifest.yaml")
    validate_dataset_manifest(manifest, root / "db")

    for name in TASK_NAMES:
        spec = _TASKS[name]
        TaskManifest(
            name=name,
            kind="forecast",
            task_type=spec.task_type,
            description=spec.description,
            entity_table="drivers",
            entity_col="driverId",
            target_col=spec.target,
            time_col="date",
            timedelta=f"{spec.days} days",
            num_eval_timestamps=NUM_EVAL_TIMESTAMPS,
            sql=_read_sql(name),
        ).save(root / "tasks" / name / "manifest.yaml")

    source = resources.files("relcontrast.datasets") / "data" / "SOURCE.md"
    (root / "SOURCE.md").write_text(source.read_text("utf-8"), encoding="utf-8")
    return root
