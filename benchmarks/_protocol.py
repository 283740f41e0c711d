"""What the benchmarks share: the train rows in time order (the evaluation split besides
val), the gradient boosting on frozen features, the metrics and the mean ± sd cells."""

from __future__ import annotations

import numpy as np
import pandas as pd


def early_train_rows(task) -> np.ndarray:
    """Boolean mask of the earliest 80% of a task's train rows by cutoff time ("inner" fit);
    the rest, the latest 20%, is the "inner" score split. Rows sharing the boundary time go
    to the later side."""
    times = pd.to_datetime(task.X[task.time_column]).to_numpy()
    return times < np.sort(times)[int(len(times) * 0.8)]


def gradient_boosting(classify: bool, seed: int, params: dict | None = None):
    """The benchmarks' gradient boosting on frozen features: scikit-learn's histogram GBM,
    seeded, with scikit-learn's default settings unless ``params`` (absolute error for
    regression, the tasks' MAE)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if classify:
        return HistGradientBoostingClassifier(random_state=seed, **(params or {}))
    return HistGradientBoostingRegressor(loss="absolute_error", random_state=seed,
                                         **(params or {}))


# The tasks' metrics, as every benchmark's JSON states them.
METRICS = {"driver-dnf": "AUROC x 100", "driver-top3": "AUROC x 100", "driver-position": "MAE"}


def mean_sd(values) -> dict:
    """``{"mean", "std"}`` of per-seed scores, rounded to 3 decimals (sample sd; 0 for one
    value)."""
    values = np.asarray(values, dtype=float)
    return {"mean": round(float(values.mean()), 3),
            "std": round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 3)}


def cell(summary: dict) -> str:
    """A :func:`mean_sd` summary as a table cell, ``mean ± sd`` to 2 decimals."""
    return f"{summary['mean']:.2f} ± {summary['std']:.2f}"


def metric(classify: bool, y, pred) -> float:
    """AUROC x 100 (RelBench's ``roc_auc``) of predicted probabilities, or MAE."""
    import relbench.metrics
    from sklearn.metrics import mean_absolute_error

    if classify:
        return 100 * float(relbench.metrics.roc_auc(np.asarray(y), np.asarray(pred)))
    return float(mean_absolute_error(y, pred))


def predict(model, x, classify: bool):
    """A fitted classifier's positive-class probabilities on ``x``, or a regressor's
    predictions: what :func:`metric` scores."""
    return model.predict_proba(x)[:, 1] if classify else model.predict(x)


def score(model, x, y, classify: bool) -> float:
    """:func:`metric` of a fitted classifier's (or regressor's) predictions on ``x``."""
    return metric(classify, y, predict(model, x, classify))


def voting(classify: bool, seed: int, first: int, params: tuple[dict | None, dict | None] = (
        None, None)):
    """Two gradient boostings, one on the first ``first`` columns (the embeddings) and one on
    the others (the aggregates), with settings ``params`` (embeddings', aggregates'), their
    predicted probabilities (or values) averaged."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import VotingClassifier, VotingRegressor
    from sklearn.pipeline import make_pipeline

    def on(columns, settings):
        select = make_column_transformer(("passthrough", columns), remainder="drop")
        return make_pipeline(select, gradient_boosting(classify, seed, settings))

    members = [("emb", on(slice(0, first), params[0])),
               ("agg", on(slice(first, None), params[1]))]
    return (VotingClassifier(members, voting="soft") if classify
            else VotingRegressor(members))
