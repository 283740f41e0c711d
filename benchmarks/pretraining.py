"""Pretraining on F1 (cutoff 2005-01-01): wall time, peak memory, frozen-embedding quality.

For the default settings (three seeds), for each objective alone (the row objective over
three seeds, with the default ``false_negatives="same_input"`` and with ``"same_row"``), and
for a backbone left after one optimisation step (random initialisation, the baseline
pretraining has to beat, three seeds):
pretrain a RelationalContrastiveEncoder on the bundled F1 database with ``cutoff_time`` at
the validation timestamp, embed the driver-dnf train and val rows with ``transform``, fit a
HistGradientBoostingClassifier (scikit-learn defaults, ``random_state=0``) on the train
embeddings and report the val AUROC. ``driver_dnf_inner_auroc`` is the same protocol on
training rows only: fitted on the earliest 80% of them, scored on the latest 20%.

Run: ``.venv/bin/python benchmarks/pretraining.py [--quick]``; writes
``benchmarks/results/pretraining.json`` and ``benchmarks/results/pretraining_history.png``.
Each configuration runs in a fresh subprocess with one torch thread, two at a time (one per
core), so peak memory (``ru_maxrss``) is per run and the wall times are single-threaded.
The three default encoders are saved in ``combine.py``'s cache (``benchmarks/.cache/``), so
``combine.py`` and ``position_probe.py`` reuse them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _protocol import early_train_rows  # benchmarks/ is on sys.path when run as a script

RESULTS = Path(__file__).parent / "results"

CONFIGS = {
    "default": {},
    "default, seed 1": {"random_state": 1},
    "default, seed 2": {"random_state": 2},
    "random init (1 step)": {"max_steps": 1, "steps_per_epoch": 1},
    "random init (1 step), seed 1": {"max_steps": 1, "steps_per_epoch": 1, "random_state": 1},
    "random init (1 step), seed 2": {"max_steps": 1, "steps_per_epoch": 1, "random_state": 2},
    "row only": {"objectives": ["row"]},
    "row only, seed 1": {"objectives": ["row"], "random_state": 1},
    "row only, seed 2": {"objectives": ["row"], "random_state": 2},
    "row only, same_row": {"objectives": ["row"], "false_negatives": "same_row"},
    "row only, same_row, seed 1": {"objectives": ["row"], "false_negatives": "same_row",
                                   "random_state": 1},
    "row only, same_row, seed 2": {"objectives": ["row"], "false_negatives": "same_row",
                                   "random_state": 2},
    "link only": {"objectives": ["link"]},
    "context only": {"objectives": ["context"]},
}


def run_one(params: dict, plot: str | None) -> dict:
    import resource
    import time

    import numpy as np
    import torch
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
    from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task

    db = RelationalDatabase(*load_f1())
    train, val = load_f1_task("driver-dnf", "train"), load_f1_task("driver-dnf", "val")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    enc = RelationalContrastiveEncoder(**{"cutoff_time": VAL_TIMESTAMP, "random_state": 0,
                                          **params}).fit(db)
    fit_s = time.perf_counter() - t0
    if set(params) <= {"random_state"}:  # a default encoder: combine.py's cache, for reuse
        import joblib
        from combine import encoder_path

        path = encoder_path(enc.random_state)
        path.parent.mkdir(exist_ok=True)
        joblib.dump(enc, path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t1 = time.perf_counter()
    Z_train, Z_val = enc.transform(train.X), enc.transform(val.X)
    transform_s = time.perf_counter() - t1
    gbm = HistGradientBoostingClassifier(random_state=0).fit(Z_train, train.y)
    auc = roc_auc_score(val.y, gbm.predict_proba(Z_val)[:, 1])
    early = early_train_rows(train)
    y = np.asarray(train.y)
    gbm = HistGradientBoostingClassifier(random_state=0).fit(Z_train[early], y[early])
    inner = roc_auc_score(y[~early], gbm.predict_proba(Z_train[~early])[:, 1])
    if plot:
        fig = enc.plot_history()
        fig.axes[0].set_title("F1 pretraining, cutoff 2005-01-01 (default settings)")
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
    hist = enc.history_
    return {
        "params": params,
        "epochs": len(hist),
        "steps": int(sum(row["train_batch_count"] for row in hist)),
        "fit_seconds": round(fit_s, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "rss_before_fit_mb": round(rss0, 1),
        "transform_seconds_train_and_val": round(transform_s, 1),
        "rows_embedded": len(train.X) + len(val.X),
        "final_train_loss": round(hist[-1]["train_loss"], 4),
        "final_valid_loss": round(hist[-1]["valid_loss"], 4),
        "driver_dnf_val_auroc": round(float(auc), 4),
        "driver_dnf_inner_auroc": round(float(inner), 4),
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="only the default configuration")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--plot", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run_one(json.loads(args.child), args.plot)))
        return
    RESULTS.mkdir(exist_ok=True)
    configs = {"default": {}} if args.quick else CONFIGS
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(item):
        name, params = item
        cmd = [sys.executable, __file__, "--child", json.dumps(params)]
        if name == "default":
            cmd += ["--plot", str(RESULTS / "pretraining_history.png")]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        print(name, out.strip().splitlines()[-1], flush=True)
        return name, json.loads(out.strip().splitlines()[-1])

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(run, configs.items()))
    summary = {}
    for prefix in ("default", "random init", "row only", "row only, same_row"):
        for metric in ("val", "inner"):
            scores = [r[f"driver_dnf_{metric}_auroc"] for k, r in results.items()
                      if k.startswith(prefix) and ("same_row" in k) == ("same_row" in prefix)]
            if scores:
                summary[f"{prefix}: driver_dnf_{metric}_auroc over seeds"] = {
                    "mean": round(statistics.mean(scores), 4), "min": min(scores),
                    "max": max(scores), "n": len(scores)}
    import torch

    payload = {
        "benchmark": "F1 pretraining, cutoff 2005-01-01; frozen embeddings + "
                     "HistGradientBoostingClassifier on driver-dnf (train -> val AUROC)",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__,
                    "OMP_NUM_THREADS": "1 per run, two runs at a time"},
        "targets": {"fit_seconds": 300, "peak_rss_mb": 2048, "driver_dnf_val_auroc": 0.70},
        "summary": summary,
        "results": results,
    }
    (RESULTS / "pretraining.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
