"""From scratch vs fine-tuned vs frozen on F1 driver-dnf and driver-position.

One seed, linear tabular model. The encoder is pretrained once with ``cutoff_time`` at the
validation timestamp (2005-01-01), so nothing from the validation or test period shapes the
backbone; each supervised model trains on the task's train rows (early stopping on the
latest 10% of them) and is scored on the val rows: AUROC for driver-dnf, MAE for
driver-position (RelBench's metrics). ``inner_auroc`` / ``inner_mae`` is the same metric on
that early-stopping split of the train rows at the best epoch.

Run: ``.venv/bin/python benchmarks/supervised.py``; writes
``benchmarks/results/supervised.json`` (rewritten after every run) and
``benchmarks/results/supervised.md`` (a table). The estimators' default sampling (the 4
latest neighbours per edge type); ``--temporal-strategy uniform --num-neighbors 64 32
--output supervised_uniform_64_32`` gives the uniform comparison run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import mean_absolute_error, roc_auc_score

from relcontrast import (
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
    RelationalRegressor,
)
from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--num-neighbors", type=int, nargs=2, default=(4, 4))
    parser.add_argument("--temporal-strategy", choices=["uniform", "last"], default="last")
    parser.add_argument("--tasks", nargs="+", default=["driver-dnf", "driver-position"])
    parser.add_argument("--modes", nargs="+", default=["scratch", "fine-tuned", "frozen"])
    parser.add_argument("--time-features", action="store_true",
                        help="also feed each table's time column as a timestamp feature "
                             "(RelBench's choice; relcontrast's default leaves it out)")
    parser.add_argument("--output", default="supervised")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    settings = dict(num_neighbors=tuple(args.num_neighbors),
                    temporal_strategy=args.temporal_strategy, max_epochs=args.max_epochs,
                    patience=3, random_state=0)
    db = RelationalDatabase(*load_f1())
    column_types = None
    if args.time_features:
        column_types = {t: {s.time_column: "timestamp"} for t, s in db.schema.items()
                        if s.time_column is not None}
        settings["column_types"] = column_types
    payload = {
        "benchmark": "F1 val scores: from scratch vs fine-tuned vs frozen (one seed)",
        "settings": {**settings, "batch_size": 512, "tabular_model": "linear",
                     "pretraining": "RelationalContrastiveEncoder defaults, "
                                    "cutoff_time=2005-01-01, random_state=0"},
        "machine": {"cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads()},
        "results": [],
    }
    path = RESULTS / f"{args.output}.json"
    encoder = None
    if {"fine-tuned", "frozen"} & set(args.modes):
        t0 = time.perf_counter()
        encoder = RelationalContrastiveEncoder(cutoff_time=VAL_TIMESTAMP, random_state=0,
                                               column_types=column_types)
        encoder.fit(db)
        payload["pretraining_seconds"] = round(time.perf_counter() - t0, 1)
        print("pretrained in", payload["pretraining_seconds"], "s", flush=True)
    for task_name in args.tasks:
        train, val = load_f1_task(task_name, "train"), load_f1_task(task_name, "val")
        classify = train.task_type == "binary_classification"
        for mode in args.modes:
            kwargs = dict(settings)
            if mode != "scratch":
                kwargs.pop("column_types", None)  # the encoder brings its own
            if mode == "scratch":
                kwargs["database"] = db
            else:
                kwargs.update(encoder=encoder, fine_tune=mode == "fine-tuned")
            model = (RelationalClassifier if classify else RelationalRegressor)(**kwargs)
            t0 = time.perf_counter()
            model.fit(train.X, train.y)
            fit_s = time.perf_counter() - t0
            if classify:
                score = roc_auc_score(val.y, model.predict_proba(val.X)[:, 1])
                metric = "val_auroc"
            else:
                score = mean_absolute_error(val.y, model.predict(val.X))
                metric = "val_mae"
            best = int(np.argmin(model.history_[:, "valid_loss"]))
            inner = model.history_[best, "valid_roc_auc" if classify else "valid_neg_mae"]
            row = {"task": task_name, "mode": mode, metric: round(float(score), 4),
                   f"inner_{metric[4:]}": round(abs(float(inner)), 4),
                   "fit_seconds": round(fit_s, 1), "epochs": len(model.history_),
                   "best_epoch": best + 1}
            payload["results"].append(row)
            print(row, flush=True)
            path.write_text(json.dumps(payload, indent=2) + "\n")
    lines = ["| task | mode | val metric | inner metric | fit seconds | epochs |",
             "|---|---|---|---|---|---|"]
    for r in payload["results"]:
        metric = "val_auroc" if "val_auroc" in r else "val_mae"
        lines.append(f"| {r['task']} | {r['mode']} | {metric[4:].upper()} {r[metric]} | "
                     f"{r['inner_' + metric[4:]]} | {r['fit_seconds']} | {r['epochs']} |")
    (RESULTS / f"{args.output}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
