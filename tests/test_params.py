"""Parameters are declared once (``_parameter_constraints``) and checked before any work.

Every bad value fails at the very start of ``fit``, before X is read, a graph is built or a
step is trained, with scikit-learn's message; a nested unfitted encoder's parameters too.
Parameters a configuration ignores warn.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from relcontrast import (
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalRegressor,
)

ENCODER_CASES = [
    ({"sampler": "hgt"}, "'sampler' parameter of RelationalContrastiveEncoder must be a str "
                         "among"),
    ({"temporal_strategy": "recent"}, "'temporal_strategy' parameter"),
    ({"tabular_model": "mlp"}, "'tabular_model' parameter"),
    ({"aggregation": "max"}, "'aggregation' parameter"),
    ({"seed_times": "random"}, "'seed_times' parameter"),
    ({"corruption": "swap"}, "'corruption' parameter"),
    ({"false_negatives": "same_embedding"}, "'false_negatives' parameter"),
    ({"loss_normalization": "none"}, "'loss_normalization' parameter"),
    ({"objectives": ()}, r"'objectives' parameter .* must be a non-empty subset of \('row'"),
    ({"objectives": ("row", "rows")}, "'objectives' parameter"),
    ({"objectives": ("row", "row")}, "'objectives' parameter"),
    ({"corruption_rate": 1.5}, r"'corruption_rate' parameter .* in the range \[0.0, 1.0\]"),
    ({"link_holdout": 1.0}, r"'link_holdout' parameter .* in the range \[0.0, 1.0\)"),
    ({"temperature": 0}, "'temperature' parameter"),
    ({"batch_size": 0}, r"'batch_size' parameter .* in the range \[1, inf\)"),
    ({"hidden_channels": 16.0}, "'hidden_channels' parameter"),
    ({"max_steps": -1}, "'max_steps' parameter"),
    ({"num_neighbors": 5}, "'num_neighbors' parameter .* must be an instance of 'tuple'"),
    ({"num_neighbors": (4, "4")}, r"'num_neighbors' parameter .* must be a non-empty tuple "
                                  r"of ints >= -1, one fan-out per hop \(-1: all\), e.g. "
                                  r"\(4, 4\). Got \(4, '4'\) instead."),
    ({"num_neighbors": ()}, "'num_neighbors' parameter"),
    ({"patience": 0}, "'patience' parameter"),
    ({"valid_fraction": 1.0}, "'valid_fraction' parameter"),
    ({"temporal_encoding": "yes"}, "'temporal_encoding' parameter"),
    ({"column_types": ["a"]}, "'column_types' parameter"),
    ({"cutoff_time": 2005}, "'cutoff_time' parameter"),
    ({"random_state": "0"}, "'random_state' parameter"),
    ({"device": None}, "'device' parameter"),
]

SUPERVISED_CASES = [
    ({"lr_schedule": "cosinee"}, "'lr_schedule' parameter of RelationalClassifier must be"),
    ({"temporal_strategy": "recent"}, "'temporal_strategy' parameter"),
    ({"backbone_lr": "fast"}, "'backbone_lr' parameter"),
    ({"backbone_lr": 0.0}, "'backbone_lr' parameter"),
    ({"warmup_epochs": -1}, "'warmup_epochs' parameter"),
    ({"warmup_epochs": 1.5}, "'warmup_epochs' parameter"),
    ({"weight_decay": -0.1}, "'weight_decay' parameter"),
    ({"head_layers": 0}, "'head_layers' parameter"),
    ({"max_epochs": 0}, "'max_epochs' parameter"),
    ({"fine_tune": "no"}, "'fine_tune' parameter"),
    ({"encoder": "pretrained"}, "'encoder' parameter of RelationalClassifier must be an "
                                "instance of 'relcontrast.+RelationalContrastiveEncoder'"),
    ({"num_neighbors": 5}, "'num_neighbors' parameter"),
]


@pytest.mark.parametrize("params, match", ENCODER_CASES)
def test_encoder_rejects_bad_parameters_before_reading_x(params, match):
    # X=None would fail as input; the parameter error comes first.
    with pytest.raises(InvalidParameterError, match=match):
        RelationalContrastiveEncoder(**params).fit(None)


@pytest.mark.parametrize("params, match", SUPERVISED_CASES)
def test_supervised_rejects_bad_parameters_before_reading_x(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        RelationalClassifier(**params).fit(None, None)


@pytest.mark.parametrize("params, match", [
    ({"loss": "huber"}, "'loss' parameter of RelationalRegressor must be a str among"),
    ({"clip_quantiles": (0.9, 0.1)}, "'clip_quantiles' parameter .* a pair"),
    ({"clip_quantiles": (0.1,)}, "'clip_quantiles' parameter"),
])
def test_regressor_rejects_bad_parameters_before_reading_x(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        RelationalRegressor(**params).fit(None, None)


def test_invalid_parameter_error_is_a_value_and_a_type_error():
    for error in (ValueError, TypeError):
        with pytest.raises(error):
            RelationalContrastiveEncoder(sampler="hgt").fit(None)


@pytest.mark.parametrize("cls", [RelationalClassifier, RelationalRegressor])
def test_a_nested_encoders_typo_fails_before_pretraining(db, cls):
    # the encoder would pretrain first; its typo must fail before that, and before X is read
    enc = RelationalContrastiveEncoder(database=db, seed_times="event")
    with pytest.raises(InvalidParameterError,
                       match="'seed_times' parameter of RelationalContrastiveEncoder"):
        cls(encoder=enc).fit(None, None)


def test_valid_edge_values_pass_validation():
    for params in ({"objectives": "row"}, {"objectives": ["link", "context"]},
                   {"num_neighbors": [8, -1, 0]}, {"valid_fraction": 0.0},
                   {"patience": None}, {"link_holdout": 0.0}, {"corruption_rate": 1.0},
                   {"cutoff_time": "2005-01-01"}, {"device": "cpu"}):
        RelationalContrastiveEncoder(**params)._validate_params()
    for params in ({"backbone_lr": None}, {"backbone_lr": "auto"}, {"backbone_lr": 1e-4},
                   {"lr_schedule": "cosine"}, {"warmup_epochs": 0}):
        RelationalClassifier(**params)._validate_params()
    RelationalRegressor(clip_quantiles=None, loss="l2")._validate_params()


@pytest.fixture(scope="module")
def orders(data):
    tables, _ = data
    return tables["orders"][["order_id", "ts"]], tables["orders"]["status"]


@pytest.fixture(scope="module")
def small_encoder(db, orders):
    return RelationalContrastiveEncoder(database=db, hidden_channels=16, max_steps=2,
                                        steps_per_epoch=1, batch_size=16,
                                        random_state=0).fit(orders[0])


def test_parameters_an_encoder_replaces_warn(db, orders, small_encoder):
    X, y = orders
    enc = small_encoder
    with (pytest.warns(FutureWarning, match="hidden_channels, tabular_model are deprecated"),
          pytest.warns(UserWarning, match="hidden_channels, tabular_model are ignored with an "
                                          "encoder, which brings its own backbone")):
        RelationalClassifier(encoder=enc, hidden_channels=32, tabular_model="resnet",
                             max_epochs=1, random_state=0).fit(X, y)
    for kwargs in ({"encoder": None}, {"encoder": enc, "pretrain": False}):
        with pytest.warns(UserWarning, match="warmup_epochs is ignored without a pretrained "
                                             "encoder"):
            RelationalClassifier(database=db, warmup_epochs=2, max_epochs=1, random_state=0,
                                 **kwargs).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the defaults and relevant parameters never warn
        RelationalClassifier(encoder=enc, warmup_epochs=1, max_epochs=1,
                             random_state=0).fit(X, y)
        RelationalClassifier(database=db, max_epochs=1, random_state=0).fit(X, y)


def test_the_encoder_holds_the_architecture_of_a_model_from_scratch(db, orders):
    X, y = orders
    small = RelationalContrastiveEncoder(hidden_channels=16, tabular_model="resnet",
                                         count_inputs=False)
    clf = RelationalClassifier(database=db, encoder=small, pretrain=False, max_epochs=1,
                               random_state=0).fit(X, y)
    backbone = clf.module_.backbone
    assert (backbone.hidden_channels, backbone.count_windows, clf.encoder_) == (16, None, None)
    assert not hasattr(small, "backbone_")  # nothing pretrained, the parameter untouched
    # the deprecated copies on the model build the same backbone, bitwise, and warn
    with pytest.warns(FutureWarning, match=r"hidden_channels, tabular_model, count_inputs are "
                                           r"deprecated .* encoder=RelationalContrastive"
                                           r"Encoder\(hidden_channels=16, tabular_model="
                                           r"'resnet', count_inputs=False\), pretrain=False"):
        old = RelationalClassifier(database=db, hidden_channels=16, tabular_model="resnet",
                                   count_inputs=False, max_epochs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))
    # a search reaches the architecture through the encoder
    clf.set_params(encoder__hidden_channels=8).fit(X, y)
    assert clf.module_.backbone.hidden_channels == 8


def test_a_search_over_the_architecture_of_models_from_scratch(db, orders):
    X, y = orders
    search = GridSearchCV(
        RelationalClassifier(database=db, encoder=RelationalContrastiveEncoder(),
                             pretrain=False, max_epochs=1, valid_fraction=0.0,
                             random_state=0),
        {"encoder__hidden_channels": [8, 16]}, cv=2, scoring="accuracy").fit(X, y)
    assert list(search.cv_results_["param_encoder__hidden_channels"]) == [8, 16]
    best = search.best_estimator_
    assert best.module_.backbone.hidden_channels == best.encoder.hidden_channels
    assert search.estimator.encoder.hidden_channels == 128  # the clones were searched


def test_pretrain_false_reads_only_a_fitted_encoders_architecture(db, orders,
                                                                  small_encoder):
    X, y = orders
    enc = small_encoder
    scratch = RelationalClassifier(encoder=enc, pretrain=False, max_epochs=1,
                                   random_state=0).fit(X, y)  # the encoder's database
    unfitted = RelationalClassifier(database=db, encoder=clone(enc), pretrain=False,
                                    max_epochs=1, random_state=0).fit(X, y)
    tuned = RelationalClassifier(encoder=enc, max_epochs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(scratch.predict_proba(X), unfitted.predict_proba(X))
    assert not np.allclose(scratch.predict_proba(X), tuned.predict_proba(X))
    assert scratch.encoder_ is None and tuned.encoder_ is enc
    with pytest.raises(ValueError, match="fine_tune=False freezes the backbone, which needs a "
                                         "pretrained encoder; .* with pretrain=True"):
        RelationalClassifier(encoder=enc, pretrain=False, fine_tune=False).fit(X, y)


@pytest.mark.parametrize("cls", [RelationalContrastiveEncoder, RelationalClassifier,
                                 RelationalRegressor])
@pytest.mark.parametrize("num_layers, fix", [(1, r"\(4,\)"), (3, r"\(4, 4, 4\)")])
def test_fan_out_needs_one_hop_per_layer(cls, num_layers, fix):
    # checked before X is read (X=None would fail as input)
    if cls is RelationalContrastiveEncoder:
        est, whose, name, args = cls(num_layers=num_layers), "the", "num_neighbors", [None]
    else:  # the encoder holds the architecture, from scratch too, and the default fan-out
        est = cls(encoder=RelationalContrastiveEncoder(num_layers=num_layers), pretrain=False)
        whose, name, args = "the encoder's", "the encoder's num_neighbors", [None, None]
    with pytest.raises(ValueError, match=rf"{cls.__name__}: {name}=\(4, 4\) samples 2 "
                                         rf"hop\(s\), but {whose} backbone has num_layers="
                                         rf"{num_layers} message-passing layer\(s\). Give one "
                                         rf"fan-out per layer, e.g. num_neighbors={fix}."):
        est.fit(*args)


def test_with_an_encoder_the_fan_out_follows_the_encoders_depth(db, orders):
    X, y = orders
    enc = RelationalContrastiveEncoder(database=db, hidden_channels=16, num_layers=1,
                                       num_neighbors=(8,), max_steps=2, steps_per_epoch=1,
                                       batch_size=16, random_state=0).fit(X)
    # by default the model samples with the encoder's fan-out, which matches its depth
    clf = RelationalClassifier(encoder=enc, max_epochs=1, random_state=0).fit(X, y)
    assert clf.num_neighbors_ == (8,) and clf.net_.batcher.sampler.sampler.num_neighbors == (8,)
    moved = clf.with_database(db)
    assert moved.net_.batcher.sampler.sampler.num_neighbors == (8,)
    assert clf.predict_proba(X).shape == (len(X), len(clf.classes_))
    # a fan-out of its own must match the encoder's depth
    with pytest.raises(ValueError, match=r"RelationalClassifier: num_neighbors=\(4, 4\) "
                                         r"samples 2 hop\(s\), but the encoder's backbone has "
                                         r"num_layers=1 .* e.g. num_neighbors=\(4,\)"):
        RelationalClassifier(encoder=enc, num_neighbors=(4, 4), max_epochs=1,
                             random_state=0).fit(X, y)
    clf = RelationalClassifier(encoder=enc, num_neighbors=(2,), max_epochs=1,
                               random_state=0).fit(X, y)
    assert clf.num_neighbors_ == (2,)
