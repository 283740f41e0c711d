"""Which neighbours ``transform`` reads: sampling strategy and fan-out for frozen embeddings.

One encoder is pretrained with default settings (``cutoff_time`` 2005-01-01, seed 0), and
one is left after a single optimisation step (a randomly initialised backbone, the baseline
that pretraining has to beat). For each (temporal strategy, fan-out), both embed the train
and val rows of the three F1 driver tasks, and a gradient-boosting model fitted on the train
embeddings is scored:

- ``inner``: fitted on the earliest 80% of the train rows (by cutoff time), scored on the
  latest 20%. This is the score the encoder's defaults were chosen by: it uses training
  rows only.
- ``val``: fitted on all train rows, scored on the val rows (mean over three
  HistGradientBoosting seeds for the classification tasks).

Metrics: AUROC (driver-dnf, driver-top3), MAE (driver-position; lower is better).

Run: ``.venv/bin/python benchmarks/transform_sampling.py``; writes
``benchmarks/results/transform_sampling.json`` and ``transform_sampling.md``. The two
encoders run in parallel subprocesses with one torch thread each.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from _protocol import early_train_rows  # benchmarks/ is on sys.path when run as a script

RESULTS = Path(__file__).parent / "results"
TASKS = ("driver-dnf", "driver-top3", "driver-position")
GRID = [("uniform", (128, 64)), ("last", (128, 64)), ("last", (32, 16)), ("last", (16, 16)),
        ("last", (8, 8)), ("last", (4, 4)), ("last", (2, 2))]
ENCODERS = {"pretrained (600 steps)": {}, "random init (1 step)": {"max_steps": 1,
                                                                  "steps_per_epoch": 1}}


def _scores(Z_train, y_train, early, Z_val, y_val, classification: bool) -> dict:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error, roc_auc_score

    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    if classification:
        def fit_score(Xa, ya, Xb, yb, seed=0):
            model = HistGradientBoostingClassifier(random_state=seed).fit(Xa, ya)
            return roc_auc_score(yb, model.predict_proba(Xb)[:, 1])
        val = float(np.mean([fit_score(Z_train, y_train, Z_val, y_val, s) for s in range(3)]))
    else:
        def fit_score(Xa, ya, Xb, yb, seed=0):
            model = HistGradientBoostingRegressor(loss="absolute_error", random_state=seed)
            return mean_absolute_error(yb, model.fit(Xa, ya).predict(Xb))
        val = fit_score(Z_train, y_train, Z_val, y_val)
    inner = fit_score(Z_train[early], y_train[early], Z_train[~early], y_train[~early])
    return {"inner": round(float(inner), 4), "val": round(val, 4)}


def run_encoder(params: dict) -> dict:
    import time

    from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
    from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task

    db = RelationalDatabase(*load_f1())
    enc = RelationalContrastiveEncoder(cutoff_time=VAL_TIMESTAMP, random_state=0, **params)
    enc.fit(db)
    data = {t: (load_f1_task(t, "train"), load_f1_task(t, "val")) for t in TASKS}
    rows = []
    for strategy, fanout in GRID:
        enc.set_params(temporal_strategy=strategy, num_neighbors=fanout)
        row = {"temporal_strategy": strategy, "num_neighbors": list(fanout)}
        t0 = time.perf_counter()
        for task, (train, val) in data.items():
            row[task] = _scores(enc.transform(train.X), train.y, early_train_rows(train),
                                enc.transform(val.X), val.y,
                                classification=task != "driver-position")
        row["transform_seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
    return {"params": params, "steps": int(sum(r["train_batch_count"] for r in enc.history_)),
            "grid": rows}


def _table(results: dict) -> str:
    lines = ["| encoder | strategy | fan-out | " + " | ".join(
        f"{t} inner | {t} val" for t in TASKS) + " |",
        "|" + "---|" * (3 + 2 * len(TASKS))]
    for name, res in results.items():
        for row in res["grid"]:
            cells = [name, row["temporal_strategy"], str(tuple(row["num_neighbors"]))]
            for t in TASKS:
                cells += [f"{row[t]['inner']:.3f}", f"{row[t]['val']:.3f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(run_encoder(json.loads(sys.argv[2]))))
        return
    RESULTS.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {name: subprocess.Popen([sys.executable, __file__, "--child", json.dumps(params)],
                                    stdout=subprocess.PIPE, text=True, env=env)
             for name, params in ENCODERS.items()}
    results = {}
    for name, proc in procs.items():
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"{name} failed with exit code {proc.returncode}")
        results[name] = json.loads(out.strip().splitlines()[-1])
    import torch

    payload = {
        "benchmark": "F1: frozen embeddings + HistGradientBoosting per transform sampling "
                     "(inner = time-ordered 80/20 split of the train rows; val = val rows)",
        "metrics": {"driver-dnf": "AUROC", "driver-top3": "AUROC",
                    "driver-position": "MAE (lower is better)"},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "torch_threads_per_encoder": 1},
        "results": results,
    }
    (RESULTS / "transform_sampling.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / "transform_sampling.md").write_text(_table(results))
    print(_table(results))


if __name__ == "__main__":
    main()
