"""Tune the gradient boosting on frozen features on val, as RelBench tunes its LightGBM.

RelBench's LightGBM baseline (``examples/lightgbm_node.py``) tunes LightGBM's
hyper-parameters on the val rows (torch-frame's ``LightGBM.tune``, 10 Optuna trials) and
reports test with the chosen ones. The reproduction's gradient-boosting arms had used
scikit-learn's ``HistGradientBoosting`` defaults instead. This script gives every feature set
the same treatment: a grid of 16 settings (learning rate with a matching number of
iterations, leaves per tree, samples per leaf, share of features per split), each fitted on
the train rows and scored on val over seeds 0, 1, 2; per task and feature set (embeddings,
aggregates, both side by side) the setting with the best val mean is chosen. Only val is
scored here; test is scored by ``reproduce_f1.py`` with the chosen settings.

Features are ``combine.py``'s: encoders pretrained up to 2005-01-01 with the library's
defaults (seeds 0, 1, 2) and ``RelationalAggregator`` fitted on the train rows, cached in
``benchmarks/.cache/`` (computed if missing).

Run: ``.venv/bin/python benchmarks/gbm_tuning.py``; writes
``benchmarks/results/gbm_tuning.json`` (every setting's val scores and the choices, which
``reproduce_f1.py`` reads) and ``gbm_tuning.md``.
"""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
from _protocol import METRICS
from combine import RESULTS, SEEDS, TASKS, features, pretrain
from joblib import Parallel, delayed

FEATURE_SETS = ("emb", "agg", "emb+agg")
DEFAULT = {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31,
           "min_samples_leaf": 20, "max_features": 1.0}
GRID = [{"learning_rate": lr, "max_iter": iters, "max_leaf_nodes": leaves,
         "min_samples_leaf": leaf, "max_features": share}
        for (lr, iters), leaves, leaf, share in itertools.product(
            ((0.1, 100), (0.03, 300)), (7, 31), (20, 80), (0.3, 1.0))]
OUTPUT = RESULTS / "gbm_tuning.json"


def _columns(f: dict, feature_set: str, split: str) -> np.ndarray:
    return np.hstack([f[f"{part}_{split}"] for part in feature_set.split("+")])


def evaluate(task_name: str, seed: int) -> list[dict]:
    """Val score of every grid setting on every feature set of one task and seed."""
    from _protocol import gradient_boosting, score

    from relcontrast.datasets import load_f1_task

    f = features(task_name, seed)
    train, val = (load_f1_task(task_name, s) for s in ("train", "val"))
    classify = train.task_type == "binary_classification"
    rows = []
    for feature_set in FEATURE_SETS:
        x_train, x_val = (_columns(f, feature_set, s) for s in ("train", "val"))
        for i, params in enumerate(GRID):
            model = gradient_boosting(classify, seed, params).fit(x_train, np.asarray(train.y))
            rows.append({"task": task_name, "seed": seed, "features": feature_set,
                         "setting": i, "val": score(model, x_val, val.y, classify)})
    return rows


def best_setting(rows: list[dict], task: str, **match) -> tuple[int, float]:
    """The grid setting with the best val mean over seeds among ``rows`` of ``task`` (and
    ``match``), and that mean."""
    means = [float(np.mean([r["val"] for r in rows if r["task"] == task and r["setting"] == i
                            and all(r[k] == v for k, v in match.items())]))
             for i in range(len(GRID))]
    best = int(np.argmin(means) if task == "driver-position" else np.argmax(means))  # MAE
    return best, means[best]


def choose(rows: list[dict]) -> dict:
    """Per task and feature set: the grid setting with the best val mean over seeds."""
    chosen = {}
    for task in TASKS:
        chosen[task] = {}
        for feature_set in FEATURE_SETS:
            best, mean = best_setting(rows, task, features=feature_set)
            chosen[task][feature_set] = {"setting": best, "params": GRID[best],
                                         "val_mean": round(mean, 4)}
    return chosen


def chosen_params(task: str, feature_set: str) -> dict:
    """The committed choice (``gbm_tuning.json``) for ``reproduce_f1.py``."""
    return json.loads(OUTPUT.read_text())["chosen"][task][feature_set]["params"]


def main() -> None:
    start = time.perf_counter()
    Parallel(n_jobs=2)(delayed(pretrain)(s) for s in SEEDS)
    Parallel(n_jobs=2)(delayed(features)(t, s) for t in TASKS for s in SEEDS)
    rows = [r for rs in Parallel(n_jobs=2)(delayed(evaluate)(t, s) for t in TASKS
                                           for s in SEEDS) for r in rs]
    chosen = choose(rows)
    default = GRID.index(DEFAULT)
    payload = {
        "benchmark": "rel-f1: HistGradientBoosting settings for frozen features, chosen on val "
                     "(as RelBench tunes its LightGBM baseline on val)",
        "metrics": METRICS,
        "protocol": "encoders pretrained up to 2005-01-01 with the defaults, seeds 0, 1, 2; "
                    "every setting fitted on the train rows and scored on val only; "
                    "regression with loss='absolute_error'",
        "grid": GRID, "default_setting": default,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "chosen": chosen, "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(payload, indent=1) + "\n")

    def cell(task, feature_set, i):
        vals = [r["val"] for r in rows if r["task"] == task and r["features"] == feature_set
                and r["setting"] == i]
        return f"{np.mean(vals):.2f} ± {np.std(vals, ddof=1):.2f}"

    lines = ["| task | features | scikit-learn defaults | chosen on val | chosen setting |",
             "|---|---|---|---|---|"]
    for task in TASKS:
        for feature_set in FEATURE_SETS:
            c = chosen[task][feature_set]
            setting = ", ".join(f"{k}={v}" for k, v in c["params"].items())
            lines.append(f"| {task} | {feature_set} | {cell(task, feature_set, default)} | "
                         f"{cell(task, feature_set, c['setting'])} | {setting} |")
    (RESULTS / "gbm_tuning.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
