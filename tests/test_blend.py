"""RelationalBlendClassifier / RelationalBlendRegressor: the weighted average of a relational
model and gradient boosting on window aggregates, each part exactly as fitted alone."""

from __future__ import annotations

import copy
import doctest
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    VotingClassifier,
)
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

import relcontrast.estimators.blend
from relcontrast import (
    RelationalAggregator,
    RelationalBlendClassifier,
    RelationalBlendRegressor,
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalRegressor,
)
from relcontrast.testing import make_synthetic_database

# tiny parts: no validation split, so every part trains a fixed number of epochs
HEAD = dict(num_neighbors=(8, 4), max_epochs=2, batch_size=64, valid_fraction=0.0)
SUP = dict(encoder=RelationalContrastiveEncoder(hidden_channels=16), pretrain=False, **HEAD)
ENC = dict(hidden_channels=16, num_neighbors=(8, 4), max_steps=4, steps_per_epoch=2,
           batch_size=32, num_samples=8, random_state=0)
W = 0.3


def _rows(users: pd.DataFrame) -> pd.DataFrame:
    """Every user 60, 120 and 180 days after signing up, in time order."""
    X = pd.concat([pd.DataFrame({"user_id": users["user_id"],
                                 "cutoff": users["signup"] + pd.Timedelta(days=d)})
                   for d in (60, 120, 180)], ignore_index=True)
    return X.sort_values("cutoff", kind="stable").reset_index(drop=True)


def _labels(X: pd.DataFrame, orders: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Orders of each row's user in the 90 days after its cutoff: any (class), how many."""
    joined = X.reset_index().merge(orders[["user_id", "ts"]], on="user_id", how="left")
    inside = (joined["ts"] > joined["cutoff"]) & (
        joined["ts"] <= joined["cutoff"] + pd.Timedelta("90D"))
    count = inside.groupby(joined["index"]).sum().reindex(X.index).astype(float)
    return (count > 0).rename("ordered"), count.rename("orders")


@pytest.fixture(scope="module")
def X(data):
    return _rows(data[0]["users"])


@pytest.fixture(scope="module")
def y_class(X, data):
    return _labels(X, data[0]["orders"])[0]


@pytest.fixture(scope="module")
def y_reg(X, data):
    return _labels(X, data[0]["orders"])[1]


def booster(classify=True):
    cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    return cls(max_iter=10, random_state=0)


@pytest.fixture(scope="module")
def model_alone(db, X, y_class):
    return RelationalClassifier(database=db, random_state=0, **SUP).fit(X, y_class)


@pytest.fixture(scope="module")
def aggregates_alone(db, X, y_class):
    return make_pipeline(RelationalAggregator(database=db), booster()).fit(X, y_class)


@pytest.fixture(scope="module")
def blend(db, X, y_class):
    # the parts leave database and random_state at None: the blend's fill them in
    return RelationalBlendClassifier(database=db, model=RelationalClassifier(**SUP),
                                     booster=booster(), model_weight=W,
                                     random_state=0).fit(X, y_class)


# -- the blend is the weighted average of its parts -------------------------------------------
def test_labels_have_both_classes(y_class):
    assert 0.2 < y_class.mean() < 0.8


def test_predict_proba_is_the_weighted_average_of_the_parts_fitted_alone(
        blend, model_alone, aggregates_alone, X, y_class):
    # the classifier's float32 probabilities are averaged in float64
    expected = (W * model_alone.predict_proba(X).astype(np.float64)
                + (1 - W) * aggregates_alone.predict_proba(X))
    np.testing.assert_array_equal(blend.predict_proba(X), expected)
    np.testing.assert_array_equal(blend.classes_, [False, True])
    np.testing.assert_array_equal(blend.predict(X), blend.classes_[expected.argmax(1)])
    assert blend.model_.random_state == 0 and blend.model_.database is blend.database
    assert blend.aggregator_.database is blend.database


@pytest.mark.parametrize("weight, part", [(1.0, "model"), (0.0, "aggregates")])
def test_weight_one_or_zero_gives_one_part(weight, part, blend, model_alone,
                                           aggregates_alone, X):
    fitted = copy.copy(blend).set_params(model_weight=weight)  # read at predict time
    alone = model_alone if part == "model" else aggregates_alone
    np.testing.assert_array_equal(fitted.predict_proba(X), alone.predict_proba(X))


def test_none_switches_a_part_off(db, X, y_class, model_alone, aggregates_alone):
    model_only = RelationalBlendClassifier(database=db, model=RelationalClassifier(**SUP),
                                           aggregator=None, model_weight=W,
                                           random_state=0).fit(X, y_class)
    assert model_only.aggregator_ is None and model_only.booster_ is None
    np.testing.assert_array_equal(model_only.predict_proba(X), model_alone.predict_proba(X))
    aggregates_only = RelationalBlendClassifier(database=db, model=None, booster=booster(),
                                                model_weight=W).fit(X, y_class)
    assert aggregates_only.model_ is None
    np.testing.assert_array_equal(aggregates_only.predict_proba(X),
                                  aggregates_alone.predict_proba(X))


def test_auto_parts_fine_tune_the_encoder_and_read_its_database(db, X, y_class):
    enc = RelationalContrastiveEncoder(database=db, **ENC).fit(X)
    blend = RelationalBlendClassifier(encoder=FrozenEstimator(enc), aggregator=None,
                                      random_state=0).fit(X, y_class)
    alone = RelationalClassifier(encoder=enc, random_state=0).fit(X, y_class)
    assert blend.model_.encoder_ is enc
    np.testing.assert_array_equal(blend.predict_proba(X), alone.predict_proba(X))
    # aggregator="auto" reads the encoder's database
    agg = RelationalBlendClassifier(encoder=enc, model=None).fit(X, y_class)
    assert agg.aggregator_.database is db
    assert isinstance(agg.booster_, HistGradientBoostingClassifier)
    # a fitted encoder inside the model would be cloned unfitted with the model
    with pytest.raises(ValueError, match=r"holds a fitted encoder.*FrozenEstimator\(encoder\)"):
        RelationalBlendClassifier(model=RelationalClassifier(encoder=enc)).fit(X, y_class)


def test_blend_is_the_soft_vote_of_a_fine_tuned_model_and_an_aggregator_model(db, X,
                                                                              y_class):
    """docs/aggregator.md: the hand-built VotingClassifier, behind one fit."""
    enc = RelationalContrastiveEncoder(database=db, **ENC).fit(X)
    vote = VotingClassifier([
        ("gnn", RelationalClassifier(encoder=FrozenEstimator(enc), random_state=0, **HEAD)),
        ("agg", make_pipeline(RelationalAggregator(database=db), booster()))],
        voting="soft").fit(X, y_class)
    blend = RelationalBlendClassifier(encoder=enc, model=RelationalClassifier(**HEAD),
                                      booster=booster(), random_state=0).fit(X, y_class)
    assert blend.model_.encoder_ is enc
    np.testing.assert_allclose(blend.predict_proba(X), vote.predict_proba(X), rtol=1e-12)


def test_regressor_is_the_weighted_average_with_absolute_error_boosting(db, X, y_reg):
    blend = RelationalBlendRegressor(database=db, model=RelationalRegressor(**SUP),
                                     model_weight=W, random_state=0).fit(X, y_reg)
    assert blend.booster_.loss == "absolute_error" and blend.booster_.random_state == 0
    assert RelationalBlendRegressor().model_weight == 0.4  # chosen on the suite's val
    model = RelationalRegressor(database=db, random_state=0, **SUP).fit(X, y_reg)
    aggregates = make_pipeline(
        RelationalAggregator(database=db),
        HistGradientBoostingRegressor(loss="absolute_error", random_state=0)).fit(X, y_reg)
    np.testing.assert_array_equal(
        blend.predict(X), W * model.predict(X) + (1 - W) * aggregates.predict(X))
    assert not hasattr(blend, "classes_") and blend.predict(X).shape == (len(X),)


# -- sklearn's contract -----------------------------------------------------------------------
def test_clone_get_params_set_params(db, blend):
    other = clone(blend)
    assert other.database is db and other.model is not blend.model
    assert not hasattr(other, "model_") and hasattr(blend, "model_")
    deep = blend.get_params(deep=True)
    assert deep["model__encoder__hidden_channels"] == 16 and deep["booster__max_iter"] == 10
    assert deep["model_weight"] == W and deep["aggregator"] == "auto"
    other.set_params(model__lr=0.01, booster__max_iter=3, model_weight=0.8,
                     aggregator=RelationalAggregator(windows=("all", 3)))
    assert other.model.lr == 0.01 and other.booster.max_iter == 3
    assert other.model_weight == 0.8 and blend.model_weight == W
    assert blend.model.lr != 0.01 and blend.booster.max_iter == 10
    assert other.get_params(deep=True)["aggregator__windows"] == ("all", 3)
    assert RelationalBlendClassifier().set_params(**other.get_params(deep=False)).get_params(
        deep=False) == other.get_params(deep=False)


def test_fitted_attributes(blend, X):
    assert blend.n_features_in_ == 2
    np.testing.assert_array_equal(blend.feature_names_in_, ["user_id", "cutoff"])
    np.testing.assert_array_equal(blend.model_.feature_names_in_, blend.feature_names_in_)


def test_grid_search_over_the_weight(db, X, y_class):
    blend = RelationalBlendClassifier(database=db, model=RelationalClassifier(**SUP),
                                      booster=booster(), random_state=0)
    grid = GridSearchCV(blend, {"model_weight": [0.0, 1.0]}, cv=TimeSeriesSplit(2),
                        scoring="roc_auc").fit(X, y_class)
    scores = grid.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    assert grid.best_params_["model_weight"] == [0.0, 1.0][int(np.argmax(scores))]
    assert grid.predict_proba(X).shape == (len(X), 2)


def test_pickle_round_trip_gives_identical_outputs(blend, X):
    loaded = pickle.loads(pickle.dumps(blend))
    np.testing.assert_array_equal(loaded.predict_proba(X), blend.predict_proba(X))


def test_not_fitted_error(X):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        RelationalBlendClassifier().predict_proba(X)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        RelationalBlendRegressor().predict(X)


def test_unseeded_blend_is_tagged_non_deterministic():
    assert RelationalBlendClassifier().__sklearn_tags__().non_deterministic
    assert RelationalBlendRegressor(model=None).__sklearn_tags__().non_deterministic
    assert RelationalBlendClassifier(model=None, random_state=0).__sklearn_tags__() \
        .input_tags.string


def test_inputs_unchanged(db, X, y_class):
    fresh = _rows(make_synthetic_database()[0]["users"])
    X_in, y_in = X.copy(), y_class.copy()
    blend = RelationalBlendClassifier(database=db, model=RelationalClassifier(**SUP),
                                      booster=booster(), random_state=0).fit(X_in, y_in)
    blend.predict_proba(X_in)
    pd.testing.assert_frame_equal(X_in, fresh)
    pd.testing.assert_frame_equal(X, fresh)
    pd.testing.assert_series_equal(y_in, y_class)


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("params, error, match", [
    ({"model_weight": 1.5}, InvalidParameterError, "'model_weight' parameter"),
    ({"model": "gnn"}, InvalidParameterError, "'model' parameter"),
    ({"booster": None}, InvalidParameterError, "'booster' parameter"),
    ({"aggregator": HistGradientBoostingClassifier()}, InvalidParameterError,
     "'aggregator' parameter"),
    ({"time_boundary": "before"}, InvalidParameterError, "'time_boundary' parameter"),
    ({"model": None, "aggregator": None}, ValueError, r"nothing to fit; keep at least one"),
    ({"model": None}, ValueError, r"aggregator='auto'\) needs the database"),
    ({"model": RelationalClassifier(time_boundary="strict", **SUP)}, ValueError,
     r"time_boundary='strict'.*same rule"),
])
def test_bad_parameters_raise(params, error, match, X, y_class, db):
    base = {} if params.get("model", "auto") is None else {"database": db}
    with pytest.raises(error, match=match):
        RelationalBlendClassifier(**base, **params).fit(X, y_class)


def test_bad_parameters_raise_without_a_database(X, y_class):
    with pytest.raises(ValueError, match=r"aggregator='auto'\) needs the database to aggregate: "
                                         r"pass database=RelationalDatabase"):
        RelationalBlendClassifier(model=RelationalClassifier(**SUP)).fit(X, y_class)
    with pytest.raises(ValueError, match=r"No database: pass database="):
        RelationalBlendClassifier(model=RelationalClassifier(**SUP), aggregator=None).fit(
            X, y_class)


def test_y_none_and_parameters_of_an_auto_part_raise(db, X):
    with pytest.raises(ValueError, match="requires y to be passed"):
        RelationalBlendRegressor(database=db).fit(X, None)
    with pytest.raises(ValueError, match=r"model='auto' is built inside fit.*"
                                         r"model=RelationalClassifier\(lr=0.01\)"):
        RelationalBlendClassifier().set_params(model__lr=0.01)
    with pytest.raises(ValueError, match=r"Invalid parameter 'weight'"):
        RelationalBlendClassifier().set_params(weight=0.5)


def test_docstring_examples():
    result = doctest.testmod(relcontrast.estimators.blend,
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
