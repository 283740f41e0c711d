"""What the target row's own columns score: RelBench's LightGBM baseline, in this harness.

RelBench's LightGBM baseline (``examples/lightgbm_node.py``) reads only the entity table's
columns, joined to each task row, never the tables that reference it; it is tuned on val.
On the driver tasks that means ``drivers``: code, names, date of birth, nationality. This
script scores the same information with the reproduction's gradient boosting: the driver's
age at the row's cutoff time and birth year, nationality, code (as categories; text names are
left out, as unique per driver they act as identifiers), each of the 16 settings of
``gbm_tuning.py`` fitted on the train rows and scored on val over seeds 0, 1, 2, the best val
mean kept and scored on test. The columns do not change over time, so test is the same under
both protocols.

It calibrates the reference the reproduction compares frozen embeddings with (RelBench's
LightGBM test 68.56 / 73.92 / 4.170) and tells how much of a task the history in the other
tables adds.

Run: ``.venv/bin/python benchmarks/entity_features.py``; writes
``benchmarks/results/entity_features.json`` and ``entity_features.md``.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
from _protocol import METRICS
from combine import RESULTS, SEEDS, TASKS
from gbm_tuning import GRID, best_setting
from joblib import Parallel, delayed
from reproduce_f1 import REFERENCES

from relcontrast.datasets import load_f1, load_f1_task

REFERENCE = dict(zip(TASKS, REFERENCES["RelBench LightGBM"], strict=True))


def entity_features(X: pd.DataFrame, drivers: pd.DataFrame) -> pd.DataFrame:
    """The driver's own columns for task rows ``X`` (driverId, date)."""
    rows = X.merge(drivers, on="driverId", how="left", validate="many_to_one")
    out = pd.DataFrame(index=X.index)
    out["age_days"] = (pd.to_datetime(rows["date"]) - rows["dob"]).dt.days.to_numpy()
    out["birth_year"] = rows["dob"].dt.year.to_numpy()
    for col in ("nationality", "code"):
        out[col] = pd.Categorical(rows[col].to_numpy(),
                                  categories=sorted(drivers[col].dropna().unique()))
    out["has_code"] = rows["code"].notna().to_numpy().astype(np.int8)
    return out


def evaluate(task_name: str, seed: int) -> list[dict]:
    from _protocol import gradient_boosting, score

    drivers = load_f1()[0]["drivers"]
    data = {s: load_f1_task(task_name, s) for s in ("train", "val", "test")}
    x = {s: entity_features(d.X, drivers) for s, d in data.items()}
    classify = data["train"].task_type == "binary_classification"
    rows = []
    for i, params in enumerate(GRID):
        model = gradient_boosting(classify, seed, {**params, "categorical_features":
                                                   "from_dtype"})
        model.fit(x["train"], np.asarray(data["train"].y))
        rows.append({"task": task_name, "seed": seed, "setting": i,
                     **{s: score(model, x[s], data[s].y, classify) for s in ("val", "test")}})
    return rows


def main() -> None:
    start = time.perf_counter()
    rows = [r for rs in Parallel(n_jobs=2)(delayed(evaluate)(t, s) for t in TASKS
                                           for s in SEEDS) for r in rs]
    summary = {}
    for task in TASKS:
        best, _ = best_setting(rows, task)
        chosen = [r for r in rows if r["task"] == task and r["setting"] == best]
        summary[task] = {"setting": best, "params": GRID[best], **{
            s: [round(float(np.mean([r[s] for r in chosen])), 3),
                round(float(np.std([r[s] for r in chosen], ddof=1)), 3)]
            for s in ("val", "test")}, "relbench_lightgbm_test": REFERENCE[task]}
    payload = {"benchmark": "rel-f1: gradient boosting on the drivers table's own columns "
                            "(what RelBench's LightGBM baseline reads), settings chosen on val",
               "metrics": METRICS,
               "features": ["age_days", "birth_year", "nationality", "code", "has_code"],
               "wall_seconds": round(time.perf_counter() - start, 1),
               "summary": summary, "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "entity_features.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = ["| task | val | test (either protocol) | RelBench LightGBM, test (published) |",
             "|---|---|---|---|"]
    for task, e in summary.items():
        lines.append(f"| {task} | {e['val'][0]:.2f} ± {e['val'][1]:.2f} | "
                     f"{e['test'][0]:.2f} ± {e['test'][1]:.2f} | {REFERENCE[task]} |")
    (RESULTS / "entity_features.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
