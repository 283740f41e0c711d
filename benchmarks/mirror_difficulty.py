"""Why the RelBench protocol mirrored on val is harder than RelBench's test: how much a
driver's past predicts their next races, before each snapshot.

The mirror (``val_frozen``: val rows of 2005-03 to 2008-03 reading the database frozen at
2005-01-01) scores every arm 8-11 AUROC points below RelBench's test (rows of 2010-03 to
2013-03, database frozen at 2010-01-01) on driver-dnf, although the rows stand in the same
place relative to their snapshots (``frozen_protocol.md``). This script measures, without
any model, how predictive the history is in each: the "persistence" prediction of a row is
its driver's mean over the last 1 or 3 years of the events that make the task's label
(``results`` status for driver-dnf, qualifying in the top 3 for driver-top3, finishing
position for driver-position), before the snapshot (frozen) or before the row's own time
(deployment); drivers without such events get the window's mean over all drivers. It also
counts the rows whose driver has no event before the snapshot, and names the drivers with
most top-3 qualifyings in the three years before and after each snapshot.

Run: ``.venv/bin/python benchmarks/mirror_difficulty.py`` (seconds); writes
``benchmarks/results/mirror_difficulty.json`` and ``mirror_difficulty.md``.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
from _protocol import METRICS, metric
from reproduce_f1 import RESULTS, TASKS, _load

from relcontrast.datasets import TEST_TIMESTAMP, VAL_TIMESTAMP, load_f1
from relcontrast.datasets.f1 import _TASKS

SPLITS = {"val": VAL_TIMESTAMP, "test": TEST_TIMESTAMP}
YEARS = (1, 3)
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


def persistence(X: pd.DataFrame, time_column: str, history: pd.DataFrame,
                snapshot: str | None, years: int) -> np.ndarray:
    """Each row's driver's mean ``value`` over ``years`` before its read time (the snapshot,
    or its own time), else the mean over all drivers in that window."""
    rows = pd.DataFrame({"row": np.arange(len(X)), "driverId": X["driverId"].to_numpy(),
                         "at": pd.to_datetime(snapshot) if snapshot is not None
                         else pd.to_datetime(X[time_column]).to_numpy()})
    con = duckdb.connect()
    con.register("rows", rows)
    con.register("history", history)
    out = con.sql(f"""
        SELECT r.row,
               COALESCE(
                 (SELECT avg(h.value) FROM history h WHERE h.driverId = r.driverId
                    AND h.date < r.at AND h.date >= r.at - INTERVAL {years} YEAR),
                 (SELECT avg(h.value) FROM history h
                    WHERE h.date < r.at AND h.date >= r.at - INTERVAL {years} YEAR)) AS p
        FROM rows r ORDER BY r.row""").df()
    return out["p"].to_numpy()


def leaders(tables: dict, snapshot, years: int = 3, top: int = 4) -> dict:
    """The ``top`` drivers (names) with most top-3 qualifyings in the ``years`` before and
    after ``snapshot``."""
    history = events(tables, "driver-top3")
    at = pd.Timestamp(snapshot)
    out = {}
    for when, inside in (("before", (history["date"] >= at - pd.DateOffset(years=years))
                          & (history["date"] < at)),
                         ("after", (history["date"] >= at)
                          & (history["date"] < at + pd.DateOffset(years=years)))):
        counts = history[inside].groupby("driverId")["value"].sum().nlargest(top)
        drivers = tables["drivers"].set_index("driverId")
        names = drivers["forename"] + " " + drivers["surname"]
        out[f"{years} years {when}"] = [f"{names[d]} ({int(n)})" for d, n in counts.items()]
    return out


def main() -> None:
    tables = load_f1()[0]
    out = []
    for name in TASKS:
        data, history = _load(name), events(tables, name)
        classify = data["train"].task_type == "binary_classification"
        for split, snapshot in SPLITS.items():
            task = data[split]
            known = set(history.loc[history["date"] < pd.Timestamp(snapshot), "driverId"])
            entry = {"task": name, "split": split,
                     "snapshot": pd.Timestamp(snapshot).date().isoformat(), "rows": len(task.X),
                     "rows_without_history": round(float(
                         (~task.X["driverId"].isin(known)).mean()), 3)}
            for reading in ("frozen", "deployment"):
                for years in YEARS:
                    pred = persistence(task.X, task.time_column, history,
                                       snapshot if reading == "frozen" else None, years)
                    entry[f"{reading}/{years}y"] = round(metric(classify, task.y, pred), 2)
            out.append(entry)
    qualifiers = {split: leaders(tables, snapshot) for split, snapshot in SPLITS.items()}
    OUTPUT.with_suffix(".json").write_text(json.dumps({
        "benchmark": "rel-f1: persistence (a driver's mean of the label's events over the "
                     "last years) before the snapshot or the row's time, val and test",
        "metrics": METRICS, "results": out, "top3_qualifiers": qualifiers}, indent=1) + "\n")
    keys = [f"{r}/{y}y" for r in ("frozen", "deployment") for y in YEARS]
    lines = ["rel-f1, no model: each row predicted by its driver's mean of the label's events "
             "over the last 1 or 3 years before the snapshot (`frozen`: 2005-01-01 for val, "
             "2010-01-01 for test) or before the row's own time (`deployment`). AUROC × 100 "
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
