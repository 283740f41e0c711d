"""The scripts in ``examples/`` run at their small settings and return sane figures.

Each example's ``main(small=True)`` is run once (a few seconds each); the full-size outputs
are committed in ``examples/results/``.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relcontrast.datasets import VAL_TIMESTAMP

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = ("driver_dnf_lightgbm", "grid_search_corruption", "fine_tune", "own_database_csv")


@pytest.fixture(autouse=True)
def one_thread():
    """One thread for torch and the OpenMP / BLAS pools: the small models gain nothing from
    more, and on a loaded machine a pool waiting for a descheduled thread made this file
    take minutes instead of seconds. Seeded fits are the same at any thread count."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def load(name: str):
    """Import ``examples/<name>.py`` as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_auroc(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0


def test_every_example_is_tested_and_documented():
    assert {p.stem for p in EXAMPLES.glob("*.py")} == set(NAMES)
    readme = (EXAMPLES.parent / "README.md").read_text()
    docs = (EXAMPLES.parent / "docs" / "examples.md").read_text()
    for name in NAMES:
        module = load(name)
        assert "Run: ``.venv/bin/python examples/" in module.__doc__
        assert 'add_argument("--small"' in (EXAMPLES / f"{name}.py").read_text()
        assert f"examples/{name}.py" in readme and f"examples/{name}.py" in docs
        assert (EXAMPLES / "results" / f"{name}.txt").read_text().strip(), name


def test_small_flag_on_the_command_line():
    out = subprocess.run([sys.executable, str(EXAMPLES / "fine_tune.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--small" in out


def test_driver_dnf_lightgbm():
    pytest.importorskip("lightgbm")
    r = load("driver_dnf_lightgbm").main(small=True)
    assert (r["n_train"], r["n_val"], r["embedding_dim"]) == (2000, 566, 16)
    # pretraining never read the val period
    assert r["encoder_cutoff"] == pd.Timestamp(VAL_TIMESTAMP) <= r["first_val_date"]
    assert is_auroc(r["val_auroc"])
    assert r["val_auroc"] > 0.55  # even 10 steps of a 16-channel encoder carry signal


def test_time_series_folds_drop_rows_whose_label_window_reaches_validation():
    folds_of = load("grid_search_corruption").time_series_folds
    times = pd.Series(pd.date_range("2000-01-01", periods=40, freq="10D"))
    window = pd.Timedelta(days=30)
    folds = folds_of(times, 3, window)
    assert len(folds) == 3
    for train, valid in folds:
        assert times.iloc[train].max() + window <= times.iloc[valid].min()
        # only the rows less than one window before the validation start are dropped
        assert valid[0] - len(train) == 2
    with pytest.raises(ValueError, match="sorted by time"):
        folds_of(times[::-1], 3, window)


def test_grid_search_corruption():
    r = load("grid_search_corruption").main(small=True)
    table = r["cv_results"]
    # every rate was tried, once, with a finite score on every fold
    assert sorted(table["corruption_rate"]) == sorted(r["rates"]) and len(r["rates"]) == 3
    splits = [c for c in table.columns if c.startswith("split")]
    assert len(splits) == len(r["folds"]) == 2
    assert np.isfinite(table[splits].to_numpy(float)).all()
    # the chosen rate is one of them and has the best mean fold AUROC
    assert r["best_rate"] in r["rates"]
    assert r["best_rate"] == r["rates"][int(np.argmax(r["cv_scores"]))]
    assert r["best_cv_auroc"] == pytest.approx(float(np.max(r["cv_scores"])))
    # time-ordered folds: every training row's label window ends before validation starts,
    # and each fold validates later than the one before
    for fold in r["folds"]:
        assert fold["train_last"] + r["label_window"] <= fold["valid_first"]
    assert r["folds"][0]["valid_last"] <= r["folds"][1]["valid_first"]
    # the refitted encoder pretrained only up to the latest training row, before val
    assert r["refit_cutoff"] == r["latest_train_date"] < pd.Timestamp(VAL_TIMESTAMP)
    assert is_auroc(r["val_auroc"])


def test_fine_tune():
    r = load("fine_tune").main(small=True)
    assert r["encoder_unchanged"]  # fine-tuning worked on copies of the backbone
    assert r["encoder_cutoff"] == pd.Timestamp(VAL_TIMESTAMP)
    assert is_auroc(r["top3_val_auroc"])
    assert 1 <= r["classifier_epochs"] <= 5 and 1 <= r["regressor_epochs"] <= 5
    assert math.isfinite(r["position_val_mae"]) and r["position_val_mae"] > 0
    assert math.isfinite(r["position_baseline_mae"])
    # predictions are clipped to the 2nd-98th percentiles of the training target
    lo, hi = r["position_pred_range"]
    assert r["position_train_range"][0] <= lo <= hi <= r["position_train_range"][1]


def test_own_database_csv():
    r = load("own_database_csv").main(small=True)
    assert r["schema"] == {
        "customers": {"primary_key": "customer_id", "foreign_keys": {},
                      "time_column": "signup_date"},
        "products": {"primary_key": "product_id", "foreign_keys": {}, "time_column": None},
        "orders": {"primary_key": "order_id",
                   "foreign_keys": {"customer_id": "customers", "product_id": "products"},
                   "time_column": "order_date"},
        "reviews": {"primary_key": "review_id",
                    "foreign_keys": {"customer_id": "customers", "product_id": "products"},
                    "time_column": "review_date"},
    }
    assert r["table_rows"]["customers"] == 250 and r["table_rows"]["products"] == 40
    assert r["table_rows"]["orders"] > 1000 and r["table_rows"]["reviews"] > 100
    assert all(r["rows"][s] > 100 for s in ("train", "val", "test"))
    assert all(0.2 < rate < 0.8 for rate in r["churn_rate"].values())
    # no training label reads the validation period; pretraining stops at its start
    assert r["latest_train_label_end"] <= r["encoder_cutoff"] == pd.Timestamp("2023-10-01")
    for split in ("val_auroc", "test_auroc"):
        assert set(r[split]) == {"days since last order (baseline)",
                                 "frozen embeddings + gradient boosting",
                                 "fine-tuned RelationalClassifier"}
        assert all(is_auroc(v) for v in r[split].values())
        # the simulated churn is predictable from recency: the label is built right
        assert r[split]["days since last order (baseline)"] > 0.7
