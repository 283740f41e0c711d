"""Fingerprint of F1 results: tells whether a change altered what the estimators compute.

Fits, with one torch thread and fixed seeds, a small pretraining (40 steps) up to the
validation timestamp, its embeddings of the driver-dnf val rows, a fine-tuned and a scratch
classifier (2 epochs each) and the aggregator, and prints a SHA-256 prefix of each output.
Two commits print the same line exactly when they compute bitwise the same results, so a
refactor can be checked without rerunning ``reproduce_f1.py`` (18+ min):

    git worktree add /tmp/old <commit>
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/fingerprint_f1.py
    .venv/bin/python benchmarks/fingerprint_f1.py

About 50 s. Appends ``<commit> <fingerprints>`` to ``benchmarks/results/fingerprint_f1.txt``.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch: bitwise reproducible on one thread

import hashlib  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import relcontrast  # noqa: E402
from relcontrast import (  # noqa: E402
    RelationalAggregator,
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
)
from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task  # noqa: E402


def _digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes()
                          ).hexdigest()[:16]


def main() -> str:
    db = RelationalDatabase(*load_f1())
    train, val = load_f1_task("driver-dnf", "train"), load_f1_task("driver-dnf", "val")
    enc = RelationalContrastiveEncoder(database=db, cutoff_time=VAL_TIMESTAMP, max_steps=40,
                                       steps_per_epoch=20, random_state=0).fit(train.X)
    outputs = {
        "embeddings": enc.transform(val.X),
        "fine-tuned": RelationalClassifier(database=db, encoder=enc, max_epochs=2,
                                           random_state=0).fit(train.X, train.y
                                                               ).predict_proba(val.X),
        "scratch": RelationalClassifier(database=db, max_epochs=2, random_state=0).fit(
            train.X, train.y).predict_proba(val.X),
        "aggregates": RelationalAggregator(database=db).fit(train.X).transform(val.X),
    }
    source = Path(relcontrast.__file__).parent.parent
    commit = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "relcontrast"],
                           capture_output=True, text=True).stdout.strip()
    line = f"{commit}{'+dirty' if dirty else ''} " + " ".join(
        f"{name}={_digest(value)}" for name, value in outputs.items())
    print(line)
    with open(Path(__file__).parent / "results" / "fingerprint_f1.txt", "a") as f:
        f.write(line + "\n")
    return line


if __name__ == "__main__":
    main()
