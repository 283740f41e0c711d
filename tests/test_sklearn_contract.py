"""The scikit-learn estimator contract of the three estimators: sklearn's common checks (with
the ones that cannot apply listed, each with its reason) and hand-written tests of clone,
get/set_params, Pipeline, GridSearchCV, cross-validation, NotFittedError, input purity and
pickle / joblib round trips (also into a fresh Python process)."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from relcontrast import (
    RelationalAggregator,
    RelationalBlendClassifier,
    RelationalBlendRegressor,
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
    RelationalRegressor,
)
from relcontrast.testing import make_synthetic_database

ENC = dict(hidden_channels=16, num_neighbors=(8, 4), max_steps=4, steps_per_epoch=2,
           batch_size=32, num_samples=8, random_state=0)
# with a pretrained encoder, the head's and the fine-tuning's parameters
HEAD = dict(num_neighbors=(8, 4), max_epochs=2, batch_size=64, random_state=0)
# from scratch: an encoder's architecture, not pretrained
SUP = dict(encoder=RelationalContrastiveEncoder(hidden_channels=16), pretrain=False, **HEAD)

# one database for the common checks, built at collection time (a fraction of a second)
CHECKS_DB = RelationalDatabase(*make_synthetic_database())

# -- sklearn's common checks ----------------------------------------------------------------
RANDOM_ARRAYS = (
    "X must be a DataFrame of entity keys + cutoff times from the database; random numeric "
    "arrays are not valid rows, so fit raises TypeError where the check needs a fitted "
    "estimator"
)
VALUE_ERROR_ON_ARRAYS = (
    "the check expects a ValueError about the values of a numeric array (1-D, empty, "
    "NaN/inf, complex); X must be a DataFrame of entity keys + cutoff times from the "
    "database, so any numeric array is rejected as a whole with TypeError before its values "
    "are read"
)
FIT_ON_ARRAYS_ALL = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)
VALUE_ERROR_ALL = (
    "check_estimators_empty_data_messages",
    "check_estimators_nan_inf",
    "check_fit1d",
)
FIT_ON_ARRAYS_TRANSFORMER = (
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
)
FIT_ON_ARRAYS_CLASSIFIER = (
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_train",
    "check_decision_proba_consistency",
    "check_supervised_y_2d",
)
FIT_ON_ARRAYS_REGRESSOR = (
    "check_regressor_data_not_an_array",
    "check_regressors_int",
    "check_regressors_no_decision_function",
    "check_regressors_train",
    "check_supervised_y_2d",
)


def expected_failed_checks(estimator) -> dict[str, str]:
    """Checks that cannot apply to an estimator whose rows X live in a database.

    Strict: a listed check that passes fails the test run (``xfail_strict=True``), so the
    list stays exact. (The classifier and regressor reject complex ``y`` with the message the
    check expects, so ``check_complex_data`` passes for them.)
    """
    fit_on_arrays, value_error = list(FIT_ON_ARRAYS_ALL), list(VALUE_ERROR_ALL)
    if is_classifier(estimator):
        fit_on_arrays += FIT_ON_ARRAYS_CLASSIFIER
        if not hasattr(estimator, "decision_function"):  # the blend: nothing to compare
            fit_on_arrays.remove("check_decision_proba_consistency")
    elif is_regressor(estimator):
        fit_on_arrays += FIT_ON_ARRAYS_REGRESSOR
    else:
        fit_on_arrays += FIT_ON_ARRAYS_TRANSFORMER
        value_error.append("check_complex_data")
    return {**dict.fromkeys(fit_on_arrays, RANDOM_ARRAYS),
            **dict.fromkeys(value_error, VALUE_ERROR_ON_ARRAYS)}


@parametrize_with_checks(
    [RelationalContrastiveEncoder(database=CHECKS_DB, **ENC),
     RelationalAggregator(database=CHECKS_DB),
     RelationalClassifier(database=CHECKS_DB, **SUP),
     RelationalRegressor(database=CHECKS_DB, **SUP),
     RelationalBlendClassifier(database=CHECKS_DB, random_state=0),
     RelationalBlendRegressor(database=CHECKS_DB, random_state=0)],
    expected_failed_checks=expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_common_checks(estimator, check):
    check(estimator)


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def orders(data):
    return data[0]["orders"]  # sorted by ts


@pytest.fixture(scope="module")
def X(orders):
    return orders[["order_id", "ts"]]


@pytest.fixture(scope="module")
def y_class(orders):
    return orders["status"]


@pytest.fixture(scope="module")
def y_reg(orders):
    return orders["quantity"].astype(float)


@pytest.fixture(scope="module")
def encoder(db, X):
    return RelationalContrastiveEncoder(database=db, **ENC).fit(X)


@pytest.fixture(scope="module")
def classifier(db, X, y_class):
    return RelationalClassifier(database=db, **SUP).fit(X, y_class)


@pytest.fixture(scope="module")
def regressor(db, X, y_reg):
    return RelationalRegressor(database=db, **SUP).fit(X, y_reg)


def outputs(classifier, regressor, encoder, X) -> dict[str, np.ndarray]:
    return {"classifier": classifier.predict_proba(X), "regressor": regressor.predict(X),
            "encoder": encoder.transform(X)}


# -- clone, get_params, set_params ----------------------------------------------------------
ESTIMATORS = [RelationalContrastiveEncoder, RelationalClassifier, RelationalRegressor]


def params(est) -> dict:
    """Deep parameters, a nested estimator (a clone is another object) by its repr."""
    return {k: repr(v) if isinstance(v, BaseEstimator) else v
            for k, v in est.get_params(deep=True).items()}


@pytest.mark.parametrize("cls, fitted", [(RelationalContrastiveEncoder, "encoder"),
                                          (RelationalClassifier, "classifier"),
                                          (RelationalRegressor, "regressor")])
def test_clone_keeps_params_and_shares_the_database(cls, fitted, db, request):
    est = cls(database=db, **(ENC if cls is RelationalContrastiveEncoder else SUP))
    copy = clone(est)
    assert copy is not est and type(copy) is cls
    assert copy.database is db  # the immutable database is shared, never copied
    assert params(copy) == params(est)
    fitted = request.getfixturevalue(fitted)
    refit = clone(fitted)
    assert refit.database is db and params(refit) == params(fitted)
    assert not hasattr(refit, "net_") and not hasattr(refit, "database_")
    assert hasattr(fitted, "net_")  # cloning left the fitted estimator as it was


def test_clone_of_a_nested_encoder_shares_the_database(db):
    clf = RelationalClassifier(encoder=RelationalContrastiveEncoder(database=db, **ENC),
                               database=db, **HEAD)
    copy = clone(clf)
    assert copy.encoder is not clf.encoder
    assert copy.encoder.database is db and copy.database is db
    assert copy.encoder.get_params() == clf.encoder.get_params()


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_get_params_set_params_round_trip(cls, db):
    est = cls(database=db, random_state=3)
    params = est.get_params()
    assert params["database"] is db and params["random_state"] == 3
    other = cls().set_params(**params)
    assert other.get_params() == params
    assert other.set_params(num_neighbors=(4, 2)) is other
    assert other.num_neighbors == (4, 2) and est.num_neighbors != (4, 2)


def test_nested_encoder_params_are_routed_by_prefix():
    clf = RelationalClassifier(encoder=RelationalContrastiveEncoder())
    assert clf.set_params(encoder__corruption_rate=0.2, lr=0.01) is clf
    assert clf.encoder.corruption_rate == 0.2 and clf.lr == 0.01
    deep, shallow = clf.get_params(deep=True), clf.get_params(deep=False)
    assert deep["encoder__corruption_rate"] == 0.2
    assert deep["encoder__hidden_channels"] == 128
    assert "encoder__corruption_rate" not in shallow and shallow["encoder"] is clf.encoder


@pytest.mark.parametrize("est, param", [
    (RelationalContrastiveEncoder(), "corruption_rat"),
    (RelationalClassifier(), "hiden_channels"),
    (RelationalRegressor(), "los"),
    (RelationalClassifier(encoder=RelationalContrastiveEncoder()), "encoder__temprature"),
])
def test_set_params_typo_raises(est, param):
    before = est.get_params()
    with pytest.raises(ValueError, match=f"Invalid parameter '{param.split('__')[-1]}'"):
        est.set_params(**{param: 1})
    assert est.get_params() == before


# -- meta-estimators ------------------------------------------------------------------------
def test_pipeline_encoder_then_gradient_boosting(db, X, y_class):
    pipe = make_pipeline(RelationalContrastiveEncoder(database=db, **ENC),
                         HistGradientBoostingClassifier(max_iter=10, random_state=0))
    assert pipe.fit(X, y_class) is pipe
    pred = pipe.predict(X)
    assert pred.shape == (len(X),) and set(pred) <= set(y_class)
    proba = pipe.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    enc = pipe[0]
    assert enc.cutoff_time_ == X["ts"].max() and enc.database_ is db
    # the boosted trees saw exactly the encoder's embeddings
    np.testing.assert_array_equal(pipe[1].predict(enc.transform(X)), pred)


def test_grid_search_over_the_encoder_corruption_rate(db, X, y_class):
    clf = RelationalClassifier(encoder=RelationalContrastiveEncoder(**ENC), database=db,
                               **HEAD)
    grid = GridSearchCV(clf, {"encoder__corruption_rate": [0.2, 0.6]},
                        cv=TimeSeriesSplit(2)).fit(X, y_class)
    scores = grid.cv_results_["mean_test_score"]
    assert len(scores) == 2 and np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()
    best = grid.best_params_["encoder__corruption_rate"]
    assert best == [0.2, 0.6][int(np.argmax(scores))]
    refit = grid.best_estimator_
    assert refit.encoder_.corruption_rate == best
    assert refit.encoder_.cutoff_time_ == X["ts"].max()
    assert refit.database is db and refit.encoder_.database_ is db
    assert not hasattr(clf.encoder, "backbone_")  # the template stays unfitted
    assert grid.predict(X).shape == (len(X),)


def test_grid_search_over_the_head_with_a_frozen_encoder_pretrains_once(encoder, X, y_class):
    # A plain fitted encoder is cloned unfitted (sklearn's contract): every fold would
    # pretrain again. FrozenEstimator survives clone, so every fold fine-tunes the same one.
    plain = clone(RelationalClassifier(encoder=encoder, max_epochs=2, random_state=0))
    assert not hasattr(plain.encoder, "backbone_")
    clf = RelationalClassifier(encoder=FrozenEstimator(encoder), max_epochs=2, random_state=0)
    assert clone(clf).encoder is clf.encoder
    grid = GridSearchCV(clf, {"head_layers": [1, 2]}, cv=TimeSeriesSplit(2),
                        return_train_score=False).fit(X, y_class)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_.encoder_ is encoder  # not a re-pretrained copy
    before = {k: v.clone() for k, v in encoder.backbone_.state_dict().items()}
    grid.best_estimator_.fit(X, y_class)  # fine-tuning copies the backbone
    for k, v in encoder.backbone_.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(ValueError, match=r"must wrap a fitted RelationalContrastiveEncoder"):
        RelationalClassifier(encoder=FrozenEstimator(RelationalContrastiveEncoder())).fit(
            X, y_class)


def test_cross_val_score_matches_a_manual_time_ordered_loop(db, X, y_reg):
    reg = RelationalRegressor(database=db, **SUP)
    cv = TimeSeriesSplit(2)
    scores = cross_val_score(reg, X, y_reg, cv=cv)
    manual = []
    for train, test in cv.split(X):
        assert X["ts"].iloc[train].max() <= X["ts"].iloc[test].min()  # time-ordered folds
        fold = clone(reg).fit(X.iloc[train], y_reg.iloc[train])
        manual.append(fold.score(X.iloc[test], y_reg.iloc[test]))
    assert scores.shape == (2,) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores, manual, rtol=1e-12)


# -- fitted state and purity ----------------------------------------------------------------
@pytest.mark.parametrize("make, method", [
    (lambda: RelationalContrastiveEncoder(**ENC), "transform"),
    (lambda: RelationalContrastiveEncoder(**ENC), "get_feature_names_out"),
    (lambda: RelationalClassifier(**SUP), "predict"),
    (lambda: RelationalClassifier(**SUP), "predict_proba"),
    (lambda: RelationalClassifier(**SUP), "decision_function"),
    (lambda: RelationalClassifier(encoder=RelationalContrastiveEncoder(**ENC)), "predict"),
    (lambda: RelationalRegressor(**SUP), "predict"),
])
def test_not_fitted_error_before_fit(make, method, X):
    est = make()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        if method == "get_feature_names_out":
            est.get_feature_names_out()
        else:
            getattr(est, method)(X)


def test_inputs_unchanged_by_fit_and_predict(db, encoder, classifier, regressor, X, y_class,
                                             y_reg):
    # the fixtures fitted on X / y; pristine copies come from the seeded generator
    fresh = make_synthetic_database()[0]["orders"]
    X_in, yc_in, yr_in = X.copy(), y_class.copy(), y_reg.copy()
    classifier.predict(X_in)
    classifier.predict_proba(X_in)
    classifier.decision_function(X_in)
    regressor.predict(X_in)
    encoder.transform(X_in)
    RelationalClassifier(database=db, **{**SUP, "max_epochs": 1}).fit(X_in, yc_in)
    RelationalRegressor(database=db, **{**SUP, "max_epochs": 1}).fit(X_in, yr_in)
    for x in (X, X_in):
        pd.testing.assert_frame_equal(x, fresh[["order_id", "ts"]])
    for yc in (y_class, yc_in):
        pd.testing.assert_series_equal(yc, fresh["status"])
    for yr in (y_reg, yr_in):
        pd.testing.assert_series_equal(yr, fresh["quantity"].astype(float))


# -- persistence ----------------------------------------------------------------------------
def test_pickle_round_trip_gives_identical_outputs(classifier, regressor, encoder, X):
    expected = outputs(classifier, regressor, encoder, X)
    loaded = [pickle.loads(pickle.dumps(est)) for est in (classifier, regressor, encoder)]
    got = outputs(*loaded, X)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert isinstance(loaded[0].database_, RelationalDatabase)
    np.testing.assert_array_equal(loaded[0].classes_, classifier.classes_)
    assert loaded[1].clip_range_ == regressor.clip_range_


@pytest.mark.parametrize("fitted", ["encoder", "classifier"])
def test_loading_a_fitted_state_of_the_seconds_format_raises(fitted, request):
    """relcontrast 0.1.0 pickled node times in seconds and no state format: read with
    nanosecond seeds, every row would see a second past its cutoff, so loading refuses."""
    est = request.getfixturevalue(fitted)
    state = est.__getstate__()
    assert state.pop("_relcontrast_state_format") == 4
    with pytest.raises(ValueError, match="saved with state format 1.*Refit it"):
        pickle.loads(pickle.dumps(est)).__setstate__(state)
    # format 2 (before the samplers built their neighbour index): its graph has no links;
    # format 3 (one SAGEConv per edge type): its GraphSAGE has no stacked weights
    for old_format in (2, 3):
        with pytest.raises(ValueError, match=f"saved with state format {old_format}.*Refit"):
            pickle.loads(pickle.dumps(est)).__setstate__(
                {**state, "_relcontrast_state_format": old_format})
    unfitted = clone(est)
    old = {k: v for k, v in unfitted.__getstate__().items() if k != "_relcontrast_state_format"}
    unfitted.__setstate__(old)  # parameters only: nothing to read wrongly
    assert unfitted.get_params()["random_state"] == est.random_state


def test_a_model_saved_before_pretrain_existed_loads_with_its_default(classifier, encoder):
    state = classifier.__getstate__()
    del state["pretrain"]
    loaded = pickle.loads(pickle.dumps(classifier))
    loaded.__setstate__(state)
    assert loaded.get_params()["pretrain"] is True
    loaded_encoder = pickle.loads(pickle.dumps(encoder))
    loaded_encoder.__setstate__(encoder.__getstate__())
    assert not hasattr(loaded_encoder, "pretrain")  # not one of the encoder's parameters


def test_unpickling_a_state_format_2_file_raises_the_refit_error(encoder, monkeypatch):
    """A file saved by relcontrast with state format 2 references
    ``relcontrast.graph.NeighborStore`` (its graph held the neighbour index). Loading it must
    reach the state-format check, not fail on the moved class."""
    from relcontrast import graph as graph_module
    from relcontrast.estimators import _common
    from relcontrast.sampling.index import NeighborStore, neighbor_index

    old = copy.copy(encoder)
    old.graph_ = copy.copy(encoder.graph_)
    old.graph_.neighbors = neighbor_index(encoder.graph_)  # the format-2 attribute
    monkeypatch.setattr(NeighborStore, "__module__", "relcontrast.graph")
    monkeypatch.setattr(graph_module, "NeighborStore", NeighborStore, raising=False)
    monkeypatch.setattr(_common, "STATE_FORMAT", 2)
    data = pickle.dumps(old)
    monkeypatch.undo()
    assert b"relcontrast.graph" in data and b"NeighborStore" in data
    with pytest.raises(ValueError, match="saved with state format 2.*Refit it"):
        pickle.loads(data)


def test_joblib_round_trip_gives_identical_outputs(classifier, regressor, encoder, X,
                                                   tmp_path):
    expected = outputs(classifier, regressor, encoder, X)
    loaded = []
    for name, est in zip(("classifier", "regressor", "encoder"),
                         (classifier, regressor, encoder), strict=True):
        joblib.dump(est, tmp_path / f"{name}.joblib")
        loaded.append(joblib.load(tmp_path / f"{name}.joblib"))
    got = outputs(*loaded, X)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


FRESH_PROCESS = """
import sys
from pathlib import Path

import joblib
import numpy as np

from relcontrast.testing import make_synthetic_database

where = Path(sys.argv[1])
X = make_synthetic_database()[0]["orders"][["order_id", "ts"]]
got = {
    "classifier": joblib.load(where / "classifier.joblib").predict_proba(X),
    "regressor": joblib.load(where / "regressor.joblib").predict(X),
    "encoder": joblib.load(where / "encoder.joblib").transform(X),
}
for name, value in got.items():
    np.testing.assert_array_equal(value, np.load(where / f"{name}.npy"), err_msg=name)
print("identical:", sorted(got))
"""


def test_joblib_load_in_a_fresh_process_gives_identical_outputs(classifier, regressor,
                                                                encoder, X, tmp_path):
    for name, value in outputs(classifier, regressor, encoder, X).items():
        np.save(tmp_path / f"{name}.npy", value)
    for name, est in zip(("classifier", "regressor", "encoder"),
                         (classifier, regressor, encoder), strict=True):
        joblib.dump(est, tmp_path / f"{name}.joblib")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "identical: ['classifier', 'encoder', 'regressor']" in run.stdout


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_only_seeded_cpu_fits_are_tagged_deterministic(cls):
    def non_deterministic(**params):
        return cls(**params).__sklearn_tags__().non_deterministic

    assert not non_deterministic(random_state=0, device="cpu")
    assert non_deterministic(random_state=None, device="cpu")
    assert non_deterministic(random_state=0, device="cuda")  # scatter reductions on CUDA


def test_fitted_modules_are_views_of_the_net_after_a_round_trip(encoder, classifier):
    # skorch pickles net_ device-aware (a CUDA fit loads on a CPU host); the fitted modules
    # are derived from it, so they stay the trained ones after a round trip
    enc, clf = pickle.loads(pickle.dumps((encoder, classifier)))
    assert enc.backbone_ is enc.net_.module_.backbone and enc.module_ is enc.net_.module_
    assert clf.module_ is clf.net_.module_
    for k, v in encoder.backbone_.state_dict().items():
        assert torch.equal(v, enc.backbone_.state_dict()[k])
