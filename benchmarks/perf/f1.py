"""Performance checks on the bundled F1 database, through the public API.

Checks (``--checks``, all by default), each in a fresh process at the default thread count,
each writing ``benchmarks/results/<check>.json``:

- ``sampling``: for each pretraining sampler (``"neighbor"``, the default, and
  ``"hgsampling"``), ``RelationalContrastiveEncoder(max_steps=100, patience=None,
  cutoff_time=2005-01-01, random_state=0)``: the fit's setup (the fit minus its training
  epochs), the seconds per pretraining step (the epochs' durations in ``history_``, held-out
  loss included, over the training steps), and ``transform`` of the 12.7k driver-dnf rows
  (train, val and test) in rows per second.
- ``aggregator``: ``RelationalAggregator(database=db)`` with its defaults, fitted on and
  transforming those 12.7k rows, the best of ``--repeats``; for information, the val AUROC of
  ``HistGradientBoostingClassifier(random_state=0)`` on the features of an aggregator fitted
  on the train rows.
- ``determinism``: a seeded pretraining (100 steps), ``transform`` of the driver-dnf train
  rows and a fine-tuned ``RelationalClassifier`` (3 epochs), run ``--repeats`` times in
  separate processes: the embeddings and predictions must be bitwise identical every time.

Run: ``.venv/bin/python benchmarks/perf/f1.py [--checks sampling aggregator determinism]
[--repeats 3]`` on an otherwise idle machine (about 10 min on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "results"
CUTOFF = "2005-01-01"  # rel-f1's validation timestamp: pretraining reads no later row
TASK = "driver-dnf"


def _digest(array) -> str:
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _data():
    import pandas as pd

    from relcontrast import RelationalDatabase
    from relcontrast.datasets import load_f1, load_f1_task

    splits = {s: load_f1_task(TASK, s) for s in ("train", "val", "test")}
    rows = pd.concat([t.X for t in splits.values()], ignore_index=True)
    return RelationalDatabase(*load_f1()), splits, rows


def sampling(repeats: int) -> dict:
    from relcontrast import RelationalContrastiveEncoder

    db, _, rows = _data()
    out = {}
    for sampler in ("neighbor", "hgsampling"):
        t0 = time.perf_counter()
        enc = RelationalContrastiveEncoder(max_steps=100, patience=None, cutoff_time=CUTOFF,
                                           sampler=sampler, random_state=0).fit(db)
        fit_s = time.perf_counter() - t0
        transform_s = min(_timed(enc.transform, rows) for _ in range(repeats))
        steps = sum("train_loss" in b for h in enc.history_ for b in h["batches"])
        epochs_s = float(sum(enc.history_[:, "dur"]))
        out[sampler] = {"fit_setup_s": round(fit_s - epochs_s, 2), "steps": steps,
                        "seconds_per_step": round(epochs_s / steps, 4),
                        "transform_rows": len(rows),
                        "transform_rows_per_s": round(len(rows) / transform_s, 1)}
    return out


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def aggregator(repeats: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from relcontrast import RelationalAggregator

    db, splits, rows = _data()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        agg = RelationalAggregator(database=db).fit(rows)
        t1 = time.perf_counter()
        features = agg.transform(rows)
        runs.append((time.perf_counter() - t0, t1 - t0))
    total, fit = min(runs)
    train, val = splits["train"], splits["val"]
    on_train = RelationalAggregator(database=db).fit(train.X)
    clf = HistGradientBoostingClassifier(random_state=0).fit(on_train.transform(train.X),
                                                              train.y)
    auroc = roc_auc_score(val.y, clf.predict_proba(on_train.transform(val.X))[:, 1])
    return {"rows": len(rows), "features": int(features.shape[1]),
            "queries": len(agg.paths_) * len(agg.windows_), "seconds": round(total, 3),
            "fit_seconds": round(fit, 3), "transform_seconds": round(total - fit, 3),
            "all_runs_seconds": [round(r[0], 3) for r in runs],
            "val_auroc": round(float(auroc), 4)}


def determinism_run() -> dict:
    from relcontrast import RelationalClassifier, RelationalContrastiveEncoder

    db, splits, _ = _data()
    train = splits["train"]
    t0 = time.perf_counter()
    enc = RelationalContrastiveEncoder(max_steps=100, patience=None, cutoff_time=CUTOFF,
                                       random_state=0).fit(db)
    t1 = time.perf_counter()
    embeddings = enc.transform(train.X)
    t2 = time.perf_counter()
    clf = RelationalClassifier(encoder=enc, max_epochs=3, patience=None, random_state=0)
    proba = clf.fit(train.X, train.y).predict_proba(train.X)
    t3 = time.perf_counter()
    return {"pretrain_s": round(t1 - t0, 2), "transform_s": round(t2 - t1, 2),
            "fine_tune_s": round(t3 - t2, 2), "embeddings": _digest(embeddings),
            "predictions": _digest(proba)}


def _child(check: str, repeats: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", check, "--repeats",
                          str(repeats)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    checks = {"sampling": sampling, "aggregator": aggregator}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", nargs="+", default=[*checks, "determinism"],
                        choices=[*checks, "determinism"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = determinism_run() if args.child == "determinism" else checks[args.child](
            args.repeats)
        print(json.dumps(run))
        return
    import torch

    machine = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "torch": torch.__version__, "python": platform.python_version(),
               "platform": platform.platform()}
    args.results.mkdir(parents=True, exist_ok=True)
    for check in args.checks:
        if check == "determinism":
            runs = [_child(check, 1) for _ in range(args.repeats)]
            result = {"runs": runs, "identical": {
                k: len({r[k] for r in runs}) == 1 for k in ("embeddings", "predictions")}}
        else:
            result = _child(check, args.repeats)
        payload = {"check": check, "database": "F1 (relcontrast.datasets.load_f1)",
                   "result": result, "machine": machine,
                   "load_average": list(os.getloadavg())}
        (args.results / f"{check}.json").write_text(json.dumps(payload, indent=1) + "\n")
        print(check, json.dumps(result), flush=True)
        if check == "determinism" and not all(result["identical"].values()):
            raise SystemExit("seeded runs differ: determinism is broken")


if __name__ == "__main__":
    main()
