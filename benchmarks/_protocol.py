"""The evaluation split the benchmarks share besides val: the train rows in time order."""

from __future__ import annotations

import numpy as np
import pandas as pd


def early_train_rows(task) -> np.ndarray:
    """Boolean mask of the earliest 80% of a task's train rows by cutoff time ("inner" fit);
    the rest, the latest 20%, is the "inner" score split. Rows sharing the boundary time go
    to the later side."""
    times = pd.to_datetime(task.X[task.time_column]).to_numpy()
    return times < np.sort(times)[int(len(times) * 0.8)]


def gradient_boosting(classify: bool, seed: int):
    """The benchmarks' gradient boosting on frozen features: scikit-learn's histogram GBM
    with default settings (absolute error for regression, the tasks' MAE), seeded."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if classify:
        return HistGradientBoostingClassifier(random_state=seed)
    return HistGradientBoostingRegressor(loss="absolute_error", random_state=seed)


def voting(classify: bool, seed: int, first: int):
    """Two gradient boostings, one on the first ``first`` columns (the embeddings) and one on
    the others (the aggregates), their predicted probabilities (or values) averaged."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import VotingClassifier, VotingRegressor
    from sklearn.pipeline import make_pipeline

    def on(columns):
        select = make_column_transformer(("passthrough", columns), remainder="drop")
        return make_pipeline(select, gradient_boosting(classify, seed))

    members = [("emb", on(slice(0, first))), ("agg", on(slice(first, None)))]
    return (VotingClassifier(members, voting="soft") if classify
            else VotingRegressor(members))
