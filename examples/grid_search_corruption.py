"""GridSearchCV over the encoder's corruption rate, with time-ordered folds, on driver-dnf.

The model is a Pipeline ``RelationalContrastiveEncoder -> HistGradientBoostingClassifier``.
Because the encoder is an ordinary (unfitted) step, ``GridSearchCV`` clones it and pretrains
it again inside every fold, on that fold's training rows only: fitted on rows, the encoder's
``cutoff_time`` defaults to their latest cutoff time, so pretraining never reads the
database past the fold's training rows.

The folds must respect time. With ``KFold`` the validation rows of early folds would lie
*before* training rows, and pretraining (and the classifier) would read the future of the
rows it is scored on. ``TimeSeriesSplit`` on rows sorted by time validates every fold on
rows later than all of its training rows. One more step closes the last gap: a training
row's label is computed over the 30 days after its date, so training rows whose label
window reaches the validation fold's first date are dropped (``time_series_folds``).

The search picks the corruption rate with the best mean AUROC over the folds, refits the
pipeline on all training rows and scores the rel-f1 val rows once; val is not used for the
choice, and the test rows are not touched.

Run: ``.venv/bin/python examples/grid_search_corruption.py`` (``--small`` for a quick run
with tiny settings, as the test suite does). Output of the full run:
``examples/results/grid_search_corruption.txt``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import Pipeline

from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.datasets import load_f1, load_f1_task

TASK = "driver-dnf"


def time_series_folds(times: pd.Series, n_splits: int, window: pd.Timedelta) -> list:
    """``TimeSeriesSplit`` folds of rows sorted by time, each training part without the rows
    whose label window ``(t, t + window]`` ends after its validation part begins."""
    times = pd.Series(pd.to_datetime(times)).reset_index(drop=True)
    if not times.is_monotonic_increasing:
        raise ValueError("rows must be sorted by time for TimeSeriesSplit")
    folds = []
    for train, valid in TimeSeriesSplit(n_splits=n_splits).split(times):
        first_valid = times.iloc[valid].min()
        folds.append((train[(times.iloc[train] + window <= first_valid).to_numpy()], valid))
    return folds


def main(small: bool = False) -> dict:
    """Search ``corruption_rate`` with time-ordered folds; score the best pipeline on val.

    ``small=True``: the latest 1,500 train rows, 2 folds, a 16-channel encoder pretrained
    for 10 steps. Returns the grid, the CV table (``cv_results``), the chosen rate, the
    folds' date ranges and the val AUROC of the refitted best pipeline.
    """
    start = time.perf_counter()
    db = RelationalDatabase(*load_f1())
    train, val = load_f1_task(TASK, "train"), load_f1_task(TASK, "val")
    X, y = train.X, train.y
    if small:
        X, y = X.tail(1500), y.tail(1500)
    X, y = X.reset_index(drop=True), y.reset_index(drop=True)

    rates = [0.1, 0.4, 0.7]
    # the encoder at its defaults (full run: 3 rates x 3 folds + the refit = 10
    # pretrainings); small: a few steps, no held-out loss or early stopping
    encoder = RelationalContrastiveEncoder(
        database=db, random_state=0,
        **(dict(hidden_channels=16, max_steps=10, batch_size=64, valid_fraction=0.0,
                patience=None) if small else {}))
    pipe = Pipeline([
        ("encoder", encoder),
        ("gbm", HistGradientBoostingClassifier(max_iter=50 if small else 100,
                                               random_state=0)),
    ])
    folds = time_series_folds(X["date"], 2 if small else 3, train.timedelta)
    dates = X["date"]
    fold_ranges = [{"train_first": dates.iloc[tr].min(), "train_last": dates.iloc[tr].max(),
                    "valid_first": dates.iloc[va].min(), "valid_last": dates.iloc[va].max(),
                    "n_train": len(tr), "n_valid": len(va)} for tr, va in folds]
    print(f"{TASK}: {len(X)} train rows, {len(folds)} time-ordered folds")
    for k, f in enumerate(fold_ranges):
        print(f"  fold {k}: train {f['train_first']:%Y-%m-%d}..{f['train_last']:%Y-%m-%d} "
              f"({f['n_train']} rows), validate {f['valid_first']:%Y-%m-%d}.."
              f"{f['valid_last']:%Y-%m-%d} ({f['n_valid']} rows)")

    search = GridSearchCV(pipe, {"encoder__corruption_rate": rates}, cv=folds,
                          scoring="roc_auc", error_score="raise")
    search.fit(X, y)

    table = pd.DataFrame(search.cv_results_)
    columns = ["param_encoder__corruption_rate",
               *(f"split{k}_test_score" for k in range(len(folds))),
               "mean_test_score", "std_test_score", "rank_test_score", "mean_fit_time"]
    table = table[columns].rename(columns=lambda c: c.replace("param_encoder__", "")
                                  .replace("_test_score", "").replace("_score", ""))
    print("\nCV AUROC per corruption rate (fit time in s):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))

    best = search.best_params_["encoder__corruption_rate"]
    refit_enc = search.best_estimator_.named_steps["encoder"]
    val_auc = roc_auc_score(val.y, search.predict_proba(val.X)[:, 1])
    seconds = time.perf_counter() - start
    print(f"\nbest corruption_rate = {best} (mean CV AUROC {search.best_score_:.4f}); "
          f"refitted on all {len(X)} train rows, pretrained up to "
          f"{refit_enc.cutoff_time_:%Y-%m-%d}")
    print(f"{TASK} val AUROC of the refitted best pipeline: {val_auc:.4f} ({len(val.X)} rows)")
    print(f"total {seconds:.1f} s")
    return {"rates": rates, "cv_results": table, "best_rate": best,
            "best_cv_auroc": float(search.best_score_), "val_auroc": val_auc,
            "folds": fold_ranges, "label_window": train.timedelta,
            "refit_cutoff": refit_enc.cutoff_time_, "latest_train_date": X["date"].max(),
            "cv_scores": np.asarray(search.cv_results_["mean_test_score"]),
            "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny settings, a quick run")
    main(small=parser.parse_args().small)
