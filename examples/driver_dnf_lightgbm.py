"""Frozen relational embeddings -> LightGBM on RelBench's rel-f1 driver-dnf task.

The whole model is one scikit-learn Pipeline: the contrastive encoder pretrains on the F1
database (no labels, data up to the validation timestamp 2005-01-01 only) and embeds each
(driver, date) row; LightGBM classifies the embeddings. driver-dnf asks whether a driver
will fail to finish a race in the 30 days after the date.

Run: ``.venv/bin/python examples/driver_dnf_lightgbm.py`` (needs the ``examples`` extra;
``--small`` for a quick run with tiny settings, as the test suite does). Output of the full
run: ``examples/results/driver_dnf_lightgbm.txt``.
"""

from __future__ import annotations

import argparse
import time

from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task


def main(small: bool = False) -> dict:
    """Fit the pipeline on the driver-dnf train rows and score the val rows.

    ``small=True`` pretrains a 16-channel encoder for 10 steps and fits on the latest 2,000
    train rows only. Returns the val AUROC, row counts, the encoder's pretraining cutoff and
    the fit time.
    """
    db = RelationalDatabase(*load_f1())
    train, val = load_f1_task("driver-dnf", "train"), load_f1_task("driver-dnf", "val")
    X, y = train.X, train.y
    if small:  # the latest rows (X is sorted by date)
        X, y = X.tail(2000), y.tail(2000)
    encoder = RelationalContrastiveEncoder(
        database=db, cutoff_time=VAL_TIMESTAMP, random_state=0,
        **(dict(hidden_channels=16, max_steps=10, batch_size=64, valid_fraction=0.0,
                patience=None)
           if small else {}))
    pipe = make_pipeline(
        encoder,
        LGBMClassifier(n_estimators=50 if small else 200, learning_rate=0.05, num_leaves=15,
                       random_state=0, n_jobs=1, verbose=-1),
    )
    start = time.perf_counter()
    pipe.fit(X, y)
    seconds = time.perf_counter() - start
    enc = pipe[0]
    print(f"pretrained on the F1 rows up to {enc.cutoff_time_:%Y-%m-%d} "
          f"({len(enc.history_)} epochs); fitted on {len(X)} train rows in {seconds:.1f} s")
    proba = pipe.predict_proba(val.X)[:, 1]
    auc = roc_auc_score(val.y, proba)
    print(f"driver-dnf val AUROC (frozen embeddings + LightGBM): {auc:.4f} "
          f"({len(val.X)} rows)")
    return {"val_auroc": auc, "n_train": len(X), "n_val": len(val.X),
            "embedding_dim": enc.transform(val.X.head(1)).shape[1],
            "encoder_cutoff": enc.cutoff_time_, "first_val_date": val.X["date"].min(),
            "fit_seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny settings, a quick run")
    main(small=parser.parse_args().small)
