"""Frozen relational embeddings -> LightGBM on RelBench's rel-f1 driver-dnf task.

The whole model is one scikit-learn Pipeline: the contrastive encoder pretrains on the F1
database (no labels, data up to the validation timestamp only) and embeds each
(driver, date) row; LightGBM classifies the embeddings.

Run: ``.venv/bin/python examples/driver_dnf_lightgbm.py`` (needs the ``examples`` extra).
"""

from __future__ import annotations

from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task


def main() -> float:
    db = RelationalDatabase(*load_f1())
    train, val = load_f1_task("driver-dnf", "train"), load_f1_task("driver-dnf", "val")
    pipe = make_pipeline(
        RelationalContrastiveEncoder(database=db, cutoff_time=VAL_TIMESTAMP, random_state=0),
        LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, random_state=0,
                       verbose=-1),
    )
    pipe.fit(train.X, train.y)
    auc = roc_auc_score(val.y, pipe.predict_proba(val.X)[:, 1])
    print(f"driver-dnf val AUROC (frozen embeddings + LightGBM): {auc:.4f}")
    return auc


if __name__ == "__main__":
    main()
