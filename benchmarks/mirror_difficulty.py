"""Why the RelBench protocol mirrored on val is harder than RelBench's test: how much a
driver's past predicts their next races, before each snapshot.

The mirror (``val_frozen``: val rows of 2005-03 to 2008-03 reading the database frozen at
2005-01-01) scores every arm 8-11 AUROC points below RelBench's test (rows of 2010-03 to
2013-03, database frozen at 2010-01-01) on driver-dnf, although the rows stand in the same
place relative to their snapshots (``frozen_protocol.md``). This script measures, without
any model, how predictive the history is in each: the "persistence" prediction of a row is
its driver's mean over the last 365 or 1095 days of the events that make the task's label
(``results`` status for driver-dnf, qualifying in the top 3 for driver-top3, finishing
position for driver-position), up to the snapshot (frozen) or up to the row's own time
(deployment), as ``RelationalAggregator`` computes it; drivers without such events get the
window's mean over all drivers. It also
counts the rows whose driver has no event before the snapshot, and names the drivers with
most top-3 qualifyings in the three years before and after each snapshot.

Run: ``.venv/bin/python benchmarks/mirror_difficulty.py`` (seconds); writes
``benchmarks/results/mirror_difficulty.json`` and ``mirror_difficulty.md``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from _protocol import METRICS, metric
from reproduce_f1 import RESULTS, TASKS, _load

from relcontrast.datasets import TEST_TIMESTAMP, VAL_TIMESTAMP, load_f1
from relcontrast.datasets.f1 import _TASKS

SPLITS = {"val": VAL_TIMESTAMP, "test": TEST_TIMESTAMP}
WINDOWS = ("365D", "1095D")
OUTPUT = RESULTS / "mirror_difficulty"


def events(tables: dict, name: str) -> pd.DataFrame:
    """``driverId, date, value``: one row per event of the task's label source, ``value``
    what the label aggregates (a top-3 flag per qualifying for driver-top3)."""
    spec = _TASKS[name]
    rows = tables[spec.source]
    value = spec.value(rows)
    if spec.finish is not None:
        value = spec.finish(value)
    return pd.DataFrame({"driverId": rows["driverId"], "date": pd.to_datetime(rows["date"]),
                         "value": value.astype("float64")}).dropna()


def history_database(tables: dict, history: pd.DataFrame):
    """The label's events as a database: ``events`` referencing ``drivers`` and ``everyone``,
    a one-row table that every event references (for the mean over all drivers)."""
    from relcontrast import RelationalDatabase

    return RelationalDatabase(
        {"drivers": tables["drivers"][["driverId"]], "everyone": pd.DataFrame({"everyone": [0]}),
         "events": history.assign(eventId=np.arange(len(history)), everyone=0)},
        {"drivers": {"primary_key": "driverId"}, "everyone": {"primary_key": "everyone"},
         "events": {"primary_key": "eventId", "time_column": "date",
                    "foreign_keys": {"driverId": "drivers", "everyone": "everyone"}}})


def persistence(database, X: pd.DataFrame, time_column: str, snapshot: str | None,
                window: str) -> np.ndarray:
    """Each row's driver's mean event ``value`` over ``window`` up to its read time (the
    snapshot, or its own time), else the mean over all drivers there: ``RelationalAggregator``
    on :func:`history_database`."""
    from relcontrast import RelationalAggregator

    at = (pd.Series(pd.Timestamp(snapshot), index=X.index) if snapshot is not None
          else pd.to_datetime(X[time_column]))

    def mean(key: str, values) -> np.ndarray:
        rows = pd.DataFrame({key: values, "at": at})
        aggregator = RelationalAggregator(database=database, windows=(window,), max_hops=1,
                                          max_categories=0)
        return aggregator.fit_transform(rows)[f"events.{key}|{window}|value|mean"].to_numpy()

    own = mean("driverId", X["driverId"].to_numpy())
    return np.where(np.isnan(own), mean("everyone", 0), own)


def leaders(tables: dict, history: pd.DataFrame, snapshot, years: int = 3,
            top: int = 4) -> dict:
    """The ``top`` drivers (names) with most top-3 qualifyings (``history``, driver-top3's
    events) in the ``years`` before and after ``snapshot``."""
    at = pd.Timestamp(snapshot)
    drivers = tables["drivers"].set_index("driverId")
    names = drivers["forename"] + " " + drivers["surname"]
    out = {}
    for when, inside in (("before", (history["date"] >= at - pd.DateOffset(years=years))
                          & (history["date"] < at)),
                         ("after", (history["date"] >= at)
                          & (history["date"] < at + pd.DateOffset(years=years)))):
        counts = history[inside].groupby("driverId")["value"].sum().nlargest(top)
        out[f"{years} years {when}"] = [f"{names[d]} ({int(n)})" for d, n in counts.items()]
    return out


def main() -> None:
    tables = load_f1()[0]
    out = []
    for name in TASKS:
        data, history = _load(name), events(tables, name)
        database = history_database(tables, history)
        if name == "driver-top3":
            qualifiers = {split: leaders(tables, history, snapshot)
                          for split, snapshot in SPLITS.items()}
        classify = data["train"].task_type == "binary_classification"
        for split, snapshot in SPLITS.items():
            task = data[split]
            known = set(history.loc[history["date"] < pd.Timestamp(snapshot), "driverId"])
            entry = {"task": name, "split": split,
                     "snapshot": pd.Timestamp(snapshot).date().isoformat(), "rows": len(task.X),
                     "rows_without_history": round(float(
                         (~task.X["driverId"].isin(known)).mean()), 3)}
            for reading in ("frozen", "deployment"):
                for window in WINDOWS:
                    pred = persistence(database, task.X, task.time_column,
                                       snapshot if reading == "frozen" else None, window)
                    entry[f"{reading}/{window}"] = round(metric(classify, task.y, pred), 2)
            out.append(entry)
    OUTPUT.with_suffix(".json").write_text(json.dumps({
        "benchmark": "rel-f1: persistence (a driver's mean of the label's events over the "
                     "last 365 or 1095 days) up to the snapshot or the row's time, val and "
                     "test",
        "metrics": METRICS, "results": out, "top3_qualifiers": qualifiers}, indent=1) + "\n")
    keys = [f"{r}/{w}" for r in ("frozen", "deployment") for w in WINDOWS]
    lines = ["rel-f1, no model: each row predicted by its driver's mean of the label's events "
             "over the last 365 or 1095 days up to the snapshot (`frozen`: 2005-01-01 for val, "
             "2010-01-01 for test) or up to the row's own time (`deployment`). AUROC × 100 "
             "for driver-dnf and driver-top3, MAE for driver-position.", "",
             "| task | split | rows | rows without history before the snapshot | "
             + " | ".join(keys) + " |", "|---|---|---|---|" + "---|" * len(keys)]
    lines += [f"| {e['task']} | {e['split']} | {e['rows']} | {e['rows_without_history']:.0%} | "
              + " | ".join(f"{e[k]:.2f}" for k in keys) + " |" for e in out]
    lines += ["", "Drivers with most top-3 qualifyings (count) around each snapshot:", "",
              "| split | snapshot | " + " | ".join(qualifiers["val"]) + " |", "|---|---|---|---|"]
    lines += [f"| {split} | {pd.Timestamp(SPLITS[split]).date()} | " + " | ".join(
        ", ".join(names) for names in periods.values()) + " |"
        for split, periods in qualifiers.items()]
    OUTPUT.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(OUTPUT.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
