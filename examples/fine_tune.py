"""Pretrain one encoder on F1, then fine-tune a classifier and a regressor from it.

One ``RelationalContrastiveEncoder`` pretrains on the F1 database without labels, on the
rows up to the validation timestamp 2005-01-01. Two supervised models start from copies of
its backbone and fine-tune it on RelBench's rel-f1 training rows:

- ``RelationalClassifier(encoder=enc)`` on driver-top3 (will the driver qualify in the top
  3 in the next 30 days?), scored by val AUROC;
- ``RelationalRegressor(encoder=enc)`` on driver-position (the driver's mean finishing
  position over the next 60 days), scored by val MAE.

Fine-tuning works on copies: the encoder itself is unchanged and keeps serving embeddings
(checked below). Each supervised fit stops early on the latest 10% of its training rows;
the val rows are only scored. For scale, a constant prediction scores AUROC 0.5, and the
train rows' median position scores the MAE printed as the baseline.

Run: ``.venv/bin/python examples/fine_tune.py`` (``--small`` for a quick run with tiny
settings, as the test suite does). Output of the full run: ``examples/results/fine_tune.txt``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import mean_absolute_error, roc_auc_score

from relcontrast import (
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
    RelationalRegressor,
)
from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task


def main(small: bool = False) -> dict:
    """Pretrain, fine-tune on driver-top3 and driver-position, score val.

    ``small=True``: a 16-channel encoder pretrained for 10 steps, 5 fine-tuning epochs
    (batches of 128) on the latest 1,000 train rows of each task. Returns the val AUROC and
    MAE, the baseline MAE, the regressor's prediction range and whether the encoder's
    embeddings survived fine-tuning unchanged.
    """
    start = time.perf_counter()
    db = RelationalDatabase(*load_f1())
    top3 = {s: load_f1_task("driver-top3", s) for s in ("train", "val")}
    pos = {s: load_f1_task("driver-position", s) for s in ("train", "val")}
    n = 1000 if small else None  # the latest rows (X is sorted by date)

    def rows(task):
        X, y = task.X, task.y
        return (X, y) if n is None else (X.tail(n), y.tail(n))

    enc = RelationalContrastiveEncoder(
        cutoff_time=VAL_TIMESTAMP, random_state=0,
        **(dict(hidden_channels=16, max_steps=10, batch_size=64, valid_fraction=0.0,
                patience=None) if small else {}))
    t0 = time.perf_counter()
    enc.fit(db)
    pretrain_seconds = time.perf_counter() - t0
    before = enc.transform(top3["val"].X)
    held_out = enc.history_[-1].get("valid_loss")
    print(f"pretrained in {pretrain_seconds:.1f} s ({len(enc.history_)} epochs) on the data "
          f"up to {enc.cutoff_time_:%Y-%m-%d}"
          + ("" if held_out is None else f"; last held-out loss {held_out:.4f}"))

    tuning = dict(max_epochs=5, batch_size=128) if small else {}  # else the defaults
    X, y = rows(top3["train"])
    t0 = time.perf_counter()
    clf = RelationalClassifier(encoder=enc, random_state=0, **tuning).fit(X, y)
    clf_seconds = time.perf_counter() - t0
    auc = roc_auc_score(top3["val"].y, clf.predict_proba(top3["val"].X)[:, 1])
    print(f"driver-top3: fine-tuned on {len(X)} rows in {clf_seconds:.1f} s "
          f"({len(clf.history_)} epochs); val AUROC {auc:.4f} ({len(top3['val'].X)} rows)")

    X, y = rows(pos["train"])
    t0 = time.perf_counter()
    reg = RelationalRegressor(encoder=enc, random_state=0, **tuning).fit(X, y)
    reg_seconds = time.perf_counter() - t0
    pred = reg.predict(pos["val"].X)
    mae = mean_absolute_error(pos["val"].y, pred)
    baseline = mean_absolute_error(pos["val"].y, np.full(len(pred), np.median(y)))
    print(f"driver-position: fine-tuned on {len(X)} rows in {reg_seconds:.1f} s "
          f"({len(reg.history_)} epochs); val MAE {mae:.4f} ({len(pred)} rows; "
          f"train median as the prediction: {baseline:.4f})")

    unchanged = bool(np.array_equal(before, enc.transform(top3["val"].X)))
    print(f"encoder embeddings unchanged by both fine-tunings: {unchanged}")
    seconds = time.perf_counter() - start
    print(f"total {seconds:.1f} s")
    return {"top3_val_auroc": auc, "position_val_mae": mae, "position_baseline_mae": baseline,
            "position_pred_range": (float(pred.min()), float(pred.max())),
            "position_train_range": (float(np.min(y)), float(np.max(y))),
            "encoder_unchanged": unchanged, "encoder_cutoff": enc.cutoff_time_,
            "classifier_epochs": len(clf.history_), "regressor_epochs": len(reg.history_),
            "pretrain_seconds": pretrain_seconds, "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny settings, a quick run")
    main(small=parser.parse_args().small)
