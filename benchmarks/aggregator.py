"""RelationalAggregator on rel-f1 driver-dnf: time of fit + transform, and the val AUROC of
gradient boosting on its features.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/aggregator.py [--repeats 3]``.
Writes ``benchmarks/results/aggregator.json``.

Timing: ``RelationalAggregator(database=db)`` with default parameters, fitted on and
transforming the train + val + test rows of driver-dnf together (about 12.7k rows); the best
of ``--repeats`` runs of fit + transform. The database is the full F1 database (deployment
protocol); val rows see the same data under the RelBench protocol, as their cutoffs precede the
test timestamp.

AUROC (for information): a fresh aggregator fitted on the train rows (so its feature list
comes from data up to the last train cutoff), ``HistGradientBoostingClassifier(random_state=0)``
fitted on the train rows' features, scored on the val rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relcontrast import RelationalAggregator, RelationalDatabase  # noqa: E402
from relcontrast.datasets import load_f1, load_f1_task  # noqa: E402

TASK = "driver-dnf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/aggregator.json")
    args = parser.parse_args()

    t0 = time.perf_counter()
    db = RelationalDatabase(*load_f1())
    splits = {s: load_f1_task(TASK, s) for s in ("train", "val", "test")}
    load_seconds = time.perf_counter() - t0
    X = pd.concat([splits[s].X for s in splits], ignore_index=True)

    runs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        agg = RelationalAggregator(database=db).fit(X)
        t1 = time.perf_counter()
        Z = agg.transform(X)
        t2 = time.perf_counter()
        runs.append({"fit": t1 - t0, "transform": t2 - t1, "total": t2 - t0})
        print(f"fit {t1 - t0:.2f} s, transform {t2 - t1:.2f} s", flush=True)
    best = min(runs, key=lambda r: r["total"])
    queries = len(agg.paths_) * len(agg.windows_)

    train, val = splits["train"], splits["val"]
    on_train = RelationalAggregator(database=db).fit(train.X)
    clf = HistGradientBoostingClassifier(random_state=0)
    clf.fit(on_train.transform(train.X), train.y)
    auroc = roc_auc_score(val.y, clf.predict_proba(on_train.transform(val.X))[:, 1])
    print(f"{len(X)} rows, {Z.shape[1]} features, best {best['total']:.2f} s; "
          f"val AUROC {auroc:.4f}")

    result = {
        "database": "F1 (relcontrast.datasets.load_f1), full (deployment protocol)",
        "task": TASK,
        "rows": len(X),
        "rows_per_split": {s: len(t) for s, t in splits.items()},
        "features": int(Z.shape[1]),
        "paths": list(agg.paths_),
        "windows": list(agg.windows_),
        "queries": queries,
        "settings": "RelationalAggregator(database=db) defaults: windows=('all', '365D', 3), "
                    "max_hops=2, max_categories=5",
        "repeats": args.repeats,
        "seconds": round(best["total"], 3),
        "fit_seconds": round(best["fit"], 3),
        "transform_seconds": round(best["transform"], 3),
        "all_runs_seconds": [round(r["total"], 3) for r in runs],
        "load_seconds": round(load_seconds, 3),
        "val_auroc": round(float(auroc), 4),
        "val_auroc_protocol": "aggregator fitted on train rows; "
                              "HistGradientBoostingClassifier(random_state=0) on train "
                              "features; val rows (same under RelBench and deployment "
                              "protocols)",
        "machine": {
            "cpu_count": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "duckdb_threads": int(duckdb.connect().execute(
                "SELECT current_setting('threads')").fetchone()[0]),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "duckdb": duckdb.__version__,
            "pandas": pd.__version__,
            "sklearn": sklearn.__version__,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
