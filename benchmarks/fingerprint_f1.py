"""Fingerprint of F1 results: tells whether a change altered what the estimators compute.

Fits, with one torch thread and fixed seeds, a small pretraining (40 steps) up to the
validation timestamp, its embeddings of the driver-dnf val rows, a fine-tuned and a scratch
classifier (2 epochs each) and the aggregator, and prints a SHA-256 prefix of each output.
Two commits print the same line exactly when they compute bitwise the same results (about
50 s; the line is appended to ``benchmarks/results/fingerprint_f1.txt``):

    git worktree add /tmp/old <commit>
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/fingerprint_f1.py
    .venv/bin/python benchmarks/fingerprint_f1.py
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch: bitwise reproducible on one thread

import hashlib
import subprocess
from pathlib import Path

import numpy as np

import relcontrast as rc
from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task


def main() -> str:
    db = rc.RelationalDatabase(*load_f1())
    train, val = load_f1_task("driver-dnf", "train"), load_f1_task("driver-dnf", "val")
    enc = rc.RelationalContrastiveEncoder(database=db, cutoff_time=VAL_TIMESTAMP, max_steps=40,
                                          steps_per_epoch=20, random_state=0).fit(train.X)

    def classifier(**kwargs):
        clf = rc.RelationalClassifier(database=db, max_epochs=2, random_state=0, **kwargs)
        return clf.fit(train.X, train.y).predict_proba(val.X)

    outputs = {"embeddings": enc.transform(val.X), "fine-tuned": classifier(encoder=enc),
               "scratch": classifier(),
               "aggregates": rc.RelationalAggregator(database=db).fit(train.X).transform(val.X)}
    git = ["git", "-C", str(Path(rc.__file__).parent.parent)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run([*git, "status", "--porcelain", "relcontrast"], capture_output=True,
                           text=True).stdout.strip()
    line = f"{commit}{'+dirty' if dirty else ''} " + " ".join(
        f"{name}={hashlib.sha256(np.ascontiguousarray(value, dtype=np.float64)).hexdigest()[:16]}"
        for name, value in outputs.items())
    print(line)
    with open(Path(__file__).parent / "results" / "fingerprint_f1.txt", "a") as f:
        f.write(line + "\n")
    return line


if __name__ == "__main__":
    main()
