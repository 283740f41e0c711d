from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError

from relcontrast import (
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
    RelationalRegressor,
)
from relcontrast.testing import make_synthetic_database

ENC = dict(hidden_channels=16, batch_size=32, num_samples=8, max_steps=4, steps_per_epoch=2,
           num_neighbors=(8, 4), random_state=0)
# with a pretrained encoder, the head's and the fine-tuning's parameters
HEAD = dict(num_neighbors=(8, 4), batch_size=64, max_epochs=3, random_state=0)
# from scratch: an encoder's architecture, not pretrained
SUP = dict(encoder=RelationalContrastiveEncoder(hidden_channels=16), pretrain=False, **HEAD)


@pytest.fixture(scope="module")
def Xy(data):
    orders = data[0]["orders"]
    return orders[["order_id", "ts"]], orders["status"]


@pytest.fixture(scope="module")
def encoder(db):
    return RelationalContrastiveEncoder(**ENC).fit(db)


def test_classifier_multiclass_with_string_labels(db, Xy):
    X, y = Xy
    clf = RelationalClassifier(database=db, **SUP).fit(X, y)
    assert list(clf.classes_) == ["paid", "returned", "shipped"]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.decision_function(X).shape == (len(X), 3)
    assert 0.0 <= clf.score(X, y) <= 1.0
    epoch = clf.history_[-1]
    assert {"train_loss", "valid_loss", "valid_accuracy"} <= set(epoch)


def test_classifier_binary_decision_function_and_auc_history(db, Xy):
    X, y = Xy
    yb = np.where(y == "returned", "yes", "no")
    clf = RelationalClassifier(database=db, **SUP).fit(X, yb)
    assert list(clf.classes_) == ["no", "yes"]
    margin = clf.decision_function(X)
    proba = clf.predict_proba(X)
    assert margin.shape == (len(X),)
    # the margin orders rows exactly as the positive-class probability does
    np.testing.assert_array_equal(np.argsort(margin, kind="stable"),
                                  np.argsort(proba[:, 1], kind="stable"))
    assert "valid_roc_auc" in clf.history_[-1]


def test_regressor_l1_clips_to_training_quantiles(db, Xy, data):
    X, _ = Xy
    y = data[0]["orders"]["quantity"].astype(float)
    reg = RelationalRegressor(database=db, **SUP).fit(X, y)
    pred = reg.predict(X)
    lo, hi = np.quantile(y, [0.02, 0.98])
    assert reg.clip_range_ == (lo, hi)
    assert pred.shape == (len(X),) and pred.min() >= lo and pred.max() <= hi
    assert isinstance(reg.module_.net_criterion if hasattr(reg.module_, "net_criterion")
                      else reg.net_.criterion_, torch.nn.L1Loss)
    reg2 = RelationalRegressor(database=db, loss="l2", clip_quantiles=None, **SUP).fit(X, y)
    assert isinstance(reg2.net_.criterion_, torch.nn.MSELoss)
    assert np.isfinite(reg2.score(X, y))


def backbone_state(module):
    return {k: v.clone() for k, v in module.backbone.state_dict().items()}


def test_fitted_encoder_is_copied_then_fine_tuned_or_frozen(db, Xy, encoder):
    X, y = Xy
    before = {k: v.clone() for k, v in encoder.backbone_.state_dict().items()}
    tuned = RelationalClassifier(encoder=encoder, **HEAD).fit(X, y)
    frozen = RelationalClassifier(encoder=encoder, fine_tune=False, **HEAD).fit(X, y)
    after = encoder.backbone_.state_dict()
    for key in before:  # the encoder itself is never changed
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)
    tuned_state, frozen_state = backbone_state(tuned.module_), backbone_state(frozen.module_)
    assert any(not torch.equal(tuned_state[k], before[k]) for k in before)
    for key in before:  # frozen: the backbone stays the pretrained one
        torch.testing.assert_close(frozen_state[key], before[key], rtol=0, atol=0)
    assert tuned.encoder_ is encoder and tuned.database_ is encoder.database_


def test_unfitted_encoder_is_pretrained_first(db, Xy):
    X, y = Xy
    clf = RelationalClassifier(encoder=RelationalContrastiveEncoder(**ENC), database=db,
                               **HEAD).fit(X, y)
    assert hasattr(clf.encoder_, "backbone_")
    assert not hasattr(clf.encoder, "backbone_")  # the parameter stays unfitted
    assert clf.encoder_.cutoff_time_ == X["ts"].max()


def future_changed(tables, t):
    changed = {k: v.copy() for k, v in tables.items()}
    late = changed["orders"]["ts"] > t
    changed["orders"].loc[late, "quantity"] = 77
    extra = changed["orders"][late].head(15).assign(order_id=lambda d: d["order_id"] + 10**7)
    changed["orders"] = pd.concat([changed["orders"], extra], ignore_index=True)
    return changed


def test_predictions_at_t_ignore_rows_after_t(data):
    tables, schema = data
    t = pd.Timestamp("2020-10-01")
    orders = tables["orders"]
    X = orders.loc[orders["ts"] <= t, ["order_id", "ts"]].reset_index(drop=True)
    y = orders.loc[orders["ts"] <= t, "status"].to_numpy()
    a = RelationalClassifier(database=RelationalDatabase(tables, schema), **SUP).fit(X, y)
    b = RelationalClassifier(database=RelationalDatabase(future_changed(tables, t), schema),
                             **SUP).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_same_random_state_same_predictions(db, Xy):
    X, y = Xy
    a = RelationalClassifier(database=db, **SUP).fit(X, y).predict_proba(X)
    b = RelationalClassifier(database=db, **SUP).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_inputs_unchanged(db, Xy):
    X, y = Xy
    X0, y0 = X.copy(), y.copy()
    clf = RelationalClassifier(database=db, **SUP).fit(X, y)
    clf.predict(X)
    pd.testing.assert_frame_equal(X, X0)
    pd.testing.assert_series_equal(y, y0)


def test_not_fitted_error(Xy):
    with pytest.raises(NotFittedError):
        RelationalClassifier().predict(Xy[0])
    with pytest.raises(NotFittedError):
        RelationalRegressor().predict(Xy[0])
    with pytest.raises(NotFittedError):
        RelationalContrastiveEncoder().transform(Xy[0])


@pytest.mark.parametrize("make_args, match", [
    (lambda X, y: (X, y[:-1]), r"inconsistent numbers of samples: \[300, 299\]"),
    (lambda X, y: (X, np.stack([y, y], axis=1)), r"y should be a 1d array, got an array of "
                                                 r"shape \(300, 2\)"),
    (lambda X, y: (X, np.linspace(0, 1, len(X))), r"Unknown label type: continuous"),
    (lambda X, y: (X, y.where(y != "paid")), r"y has \d+ missing value"),
    (lambda X, y: (X, np.full(len(X), "paid")), r"y has a single class \('paid'\)"),
    (lambda X, y: (X.assign(order_id=X["order_id"] + 1), y), r"not found in table 'orders'"),
    (lambda X, y: (X.drop(columns="ts"), y), "X has no datetime column"),
    (lambda X, y: (X.drop(columns="order_id"), y), "none of the primary-key columns"),
    (lambda X, y: (X.to_numpy(), y), "X must be a pandas DataFrame"),
])
def test_bad_input_errors(db, Xy, make_args, match):
    X, y = make_args(*Xy)
    with pytest.raises((ValueError, TypeError), match=match):
        RelationalClassifier(database=db, **SUP).fit(X, y)


def test_regressor_rejects_nan_and_non_numeric_targets(db, Xy):
    X, y = Xy
    with pytest.raises(ValueError, match="y must be numeric for regression"):
        RelationalRegressor(database=db, **SUP).fit(X, y)
    yq = np.ones(len(X))
    yq[3] = np.nan
    with pytest.raises(ValueError, match="y has 1 missing value"):
        RelationalRegressor(database=db, **SUP).fit(X, yq)


def test_missing_database_and_frozen_without_encoder(Xy):
    X, y = Xy
    with pytest.raises(ValueError, match="No database"):
        RelationalClassifier(**SUP).fit(X, y)
    tables, schema = make_synthetic_database()
    for scratch in (SUP, HEAD):  # an encoder's architecture from scratch, or no encoder
        with pytest.raises(ValueError, match="fine_tune=False freezes the backbone"):
            RelationalClassifier(database=RelationalDatabase(tables, schema), fine_tune=False,
                                 **scratch).fit(X, y)


def test_backbone_lr_and_weight_decay_reach_the_optimizer(db, Xy, encoder):
    X, y = Xy
    clf = RelationalClassifier(encoder=encoder, backbone_lr=1e-4, weight_decay=0.01,
                               **HEAD).fit(X, y)
    groups = clf.net_.optimizer_.param_groups
    backbone = {id(p) for p in clf.module_.backbone.parameters()}
    head = {id(p) for p in clf.module_.head.parameters()}
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in groups}
    assert by_lr == {1e-4: backbone, SUP.get("lr", 0.005): head}
    assert all(g["weight_decay"] == 0.01 for g in groups)


def test_warmup_epochs_train_the_head_alone_first(db, Xy, encoder):
    X, y = Xy
    before = {k: v.clone() for k, v in encoder.backbone_.state_dict().items()}

    def fit(epochs):
        return RelationalClassifier(encoder=encoder, warmup_epochs=2, patience=None,
                                    **{**HEAD, "max_epochs": epochs}).fit(X, y)

    warm = backbone_state(fit(2).module_)  # two head-only epochs: backbone untouched
    for key in before:
        torch.testing.assert_close(warm[key], before[key], rtol=0, atol=0)
    tuned = backbone_state(fit(3).module_)  # the third epoch fine-tunes the backbone
    assert any(not torch.equal(tuned[k], before[k]) for k in before)


def test_with_database_reads_another_version_of_the_database(data, Xy):
    tables, schema = data
    full = RelationalDatabase(tables, schema)
    X, y = Xy
    t = pd.Timestamp("2020-10-01")
    clf = RelationalClassifier(database=full, **SUP).fit(X, y)
    frozen = clf.with_database(full.upto(t))
    early = X[X["ts"] <= t]
    # rows at or before t read the same rows from both versions
    np.testing.assert_array_equal(frozen.predict_proba(early), clf.predict_proba(early))
    assert frozen.database_ is not clf.database_ and clf.database_ is full
    # users (who exist in both versions) seen after t: the frozen version reads less
    users = tables["users"].loc[tables["users"]["signup"] <= t, ["user_id"]].assign(
        ts=pd.Timestamp("2021-06-01"))
    reg = RelationalRegressor(database=full, target_table="users", clip_quantiles=None,
                              **SUP).fit(users, np.arange(len(users), dtype=float))
    assert not np.array_equal(reg.with_database(full.upto(t)).predict(users),
                              reg.predict(users))


def test_auto_backbone_lr_slows_only_a_pretrained_backbone(db, Xy, encoder):
    X, y = Xy

    def lrs(clf):
        backbone = {id(p) for p in clf.module_.backbone.parameters()}
        return {("backbone" if id(g["params"][0]) in backbone else "head"): g["lr"]
                for g in clf.net_.optimizer_.param_groups}

    tuned = RelationalClassifier(encoder=encoder, lr=0.01, **HEAD).fit(X, y)
    assert lrs(tuned) == pytest.approx({"backbone": 0.0002, "head": 0.01})
    scratch = RelationalClassifier(database=db, lr=0.01, **SUP).fit(X, y)
    assert len(scratch.net_.optimizer_.param_groups) == 1
    assert scratch.net_.optimizer_.param_groups[0]["lr"] == 0.01
    same = RelationalClassifier(encoder=encoder, lr=0.01, backbone_lr=None, **HEAD).fit(X, y)
    assert len(same.net_.optimizer_.param_groups) == 1
