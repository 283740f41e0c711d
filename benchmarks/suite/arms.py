"""The suite's arms: features for gradient boosting, pretraining, and the supervised models.

Every arm scores a task's val (and test) rows and reports its wall time; the arms that read
a pretrained encoder do not count the pretraining, which is timed once per database and
seed (every task of a database shares it).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, roc_auc_score

from benchmarks.suite.data import SPLITS, Task, hand_features

GBM_ARMS = ("agg+gbm", "hand+gbm", "emb+gbm", "emb+agg+gbm")
SUPERVISED_ARMS = ("scratch", "fine-tuned", "blend")
ARMS = (*GBM_ARMS, *SUPERVISED_ARMS)
PRETRAINED_ARMS = ("emb+gbm", "emb+agg+gbm", "fine-tuned", "blend")
EVAL_SPLITS = ("val", "test")

# Parameters of the backbone itself: a fine-tuned model brings its encoder's, so only the
# model from scratch takes them from --encoder-options (an encoder holding them, unfitted).
BACKBONE = {"hidden_channels", "num_layers", "tabular_model", "aggregation",
            "temporal_encoding", "column_types", "count_inputs", "mean_inputs"}
# The encoder options every supervised arm shares: the sampling and the device (not the
# training loop's: the encoder's lr or batch_size are not the head's).
_SHARED = {"num_neighbors", "temporal_strategy", "device"}

# --quick: enough steps to run every code path, nothing more.
QUICK_ENCODER = {"max_steps": 10, "steps_per_epoch": 5}
QUICK_SUPERVISED = {"max_epochs": 1}
# ``blend`` also scores val at these model weights (from the fitted parts, no refit)
BLEND_WEIGHTS = tuple(i / 10 for i in range(11))


def score(task: Task, y, pred) -> float:
    """AUROC (scikit-learn's ``roc_auc_score``) of probabilities, or MAE."""
    if task.classify:
        return float(roc_auc_score(np.asarray(y), np.asarray(pred)))
    return float(mean_absolute_error(np.asarray(y), np.asarray(pred)))


def predict(model, x, classify: bool) -> np.ndarray:
    """Probabilities of the positive class, or values."""
    return model.predict_proba(x)[:, 1] if classify else model.predict(x)


def _scores(task: Task, predictions: dict) -> dict:
    """``{split: score}`` and ``constant``: whether every val prediction is the same (e.g.
    absolute-error boosting that never leaves the training median)."""
    out = {s: score(task, task.y[s], p) for s, p in predictions.items()}
    out["constant"] = bool(np.ptp(np.asarray(predictions["val"])) == 0)
    return out


def gradient_boosting(classify: bool, seed: int, params: dict | None = None):
    """scikit-learn's histogram gradient boosting, seeded, at its defaults updated with
    ``params``; absolute error for regression (the tasks' MAE)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if classify:
        return HistGradientBoostingClassifier(random_state=seed, **(params or {}))
    return HistGradientBoostingRegressor(loss="absolute_error", random_state=seed,
                                         **(params or {}))


class Features:
    """A task's feature sets, computed once each and shared by every seed and arm.

    ``get(kind)`` returns ``({split: array}, seconds)`` for ``kind`` in ``"agg"``,
    ``"hand"`` or ``"emb:<seed>"``.
    """

    def __init__(self, task: Task, db, tables: dict[str, pd.DataFrame], encoders: dict):
        self.task, self.db, self.tables, self.encoders = task, db, tables, encoders
        self._cache: dict[str, tuple[dict, float]] = {}

    def get(self, kind: str) -> tuple[dict, float]:
        if kind not in self._cache:
            t0 = time.perf_counter()
            x = self._compute(kind)
            self._cache[kind] = (x, time.perf_counter() - t0)
        return self._cache[kind]

    def _compute(self, kind: str) -> dict:
        task = self.task
        if kind == "agg":
            from relcontrast import RelationalAggregator

            agg = RelationalAggregator(database=self.db, target_table=task.entity_table,
                                       time_column=task.time_column).fit(task.X["train"])
            return {s: agg.transform(task.X[s]).to_numpy(dtype="float64") for s in SPLITS}
        if kind == "hand":
            return {s: hand_features(task, task.X[s], self.tables) for s in SPLITS}
        enc = self.encoders[int(kind.split(":")[1])]
        return {s: np.asarray(enc.transform(task.X[s]), dtype="float64") for s in SPLITS}


def run_gbm(arm: str, task: Task, features: Features, seed: int) -> dict:
    """One gradient-boosting arm and seed: ``{"val", "test", "time_s"}``."""
    kinds = {"agg+gbm": ["agg"], "hand+gbm": ["hand"], "emb+gbm": [f"emb:{seed}"],
             "emb+agg+gbm": [f"emb:{seed}", "agg"]}[arm]
    parts = [features.get(kind) for kind in kinds]
    x = {s: np.hstack([p[0][s] for p in parts]) for s in SPLITS}
    t0 = time.perf_counter()
    model = gradient_boosting(task.classify, seed).fit(x["train"], task.y["train"])
    out = _scores(task, {s: predict(model, x[s], task.classify) for s in EVAL_SPLITS})
    out["time_s"] = time.perf_counter() - t0 + sum(p[1] for p in parts)
    return out


def pretrain(db, val_timestamp, seed: int, options: dict, quick: bool):
    """The label-free encoder of one database and seed, pretrained on rows up to the val
    timestamp; returns ``(encoder, seconds)``."""
    from relcontrast import RelationalContrastiveEncoder

    params = {**(QUICK_ENCODER if quick else {}), **options}
    t0 = time.perf_counter()
    enc = RelationalContrastiveEncoder(cutoff_time=val_timestamp, random_state=seed,
                                       **params).fit(db)
    return enc, time.perf_counter() - t0


def run_supervised(arm: str, task: Task, db, encoder, seed: int, options: dict,
                   quick: bool, model_options: dict | None = None) -> dict:
    """``scratch`` (reads ``db``), ``fine-tuned`` (from ``encoder``) or ``blend`` (a
    ``RelationalBlend*`` at its defaults over the fine-tuned model) for one seed, with the
    encoder's ``options`` for the backbone (scratch only), the sampling and the device, and
    ``model_options`` for the classifier or regressor."""
    from sklearn.frozen import FrozenEstimator

    from relcontrast import RelationalClassifier, RelationalContrastiveEncoder, RelationalRegressor

    cls = RelationalClassifier if task.classify else RelationalRegressor
    shared = {k: v for k, v in options.items() if k in _SHARED}
    quick_params = QUICK_SUPERVISED if quick else {}
    common = {"target_table": task.entity_table, "time_column": task.time_column,
              "random_state": seed, **quick_params, **(model_options or {})}
    if arm == "scratch":  # the encoder options' architecture, not pretrained
        architecture = {k: v for k, v in options.items() if k in BACKBONE}
        model = cls(database=db, encoder=RelationalContrastiveEncoder(**architecture),
                    pretrain=False, **common, **shared)
    else:
        # the blend clones its model: FrozenEstimator keeps the encoder's fit through it
        model = cls(encoder=FrozenEstimator(encoder) if arm == "blend" else encoder, **common,
                    **shared)
    if arm == "blend":
        from relcontrast import RelationalBlendClassifier, RelationalBlendRegressor

        blend = RelationalBlendClassifier if task.classify else RelationalBlendRegressor
        model = blend(model=model, database=db, target_table=task.entity_table,
                      time_column=task.time_column, random_state=seed)
    t0 = time.perf_counter()
    model.fit(task.X["train"], task.y["train"])
    out = _scores(task, {s: predict(model, task.X[s], task.classify) for s in EVAL_SPLITS})
    out["time_s"] = time.perf_counter() - t0
    history = model.model_.history_ if arm == "blend" else model.history_
    out["epochs"] = len(history)
    out["epoch_s"] = float(np.mean([row["dur"] for row in history]))
    if arm == "blend":
        parts = (predict(model.model_, task.X["val"], task.classify),
                 predict(model.booster_, model.aggregator_.transform(task.X["val"]),
                          task.classify))
        out["val_by_weight"] = [round(score(task, task.y["val"], w * parts[0] + (1 - w)
                                            * parts[1]), 5) for w in BLEND_WEIGHTS]
    return out
