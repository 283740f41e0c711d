"""The two time rules, ``time_boundary="inclusive"`` (rows with time <= t) and ``"strict"``
(rows with time < t, the RelBench 3 leaderboard's), at full timestamp resolution.

A tiny hand-built database holds, for user ``a``, an event exactly at the cutoff T and one
a nanosecond before it. Under "inclusive" the event at T changes the output at T; under
"strict" the output equals the one computed on the database without that event; the event
at T - 1 ns is read under both rules. For every estimator: the encoder's ``transform`` (and
its pretraining), the classifier's and regressor's ``predict`` (and their fit), the
aggregator's ``transform``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from relcontrast import (
    RelationalAggregator,
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
    RelationalRegressor,
)
from relcontrast.pretraining import pretraining_seeds
from relcontrast.rows import (
    cutoff_times_ns,
    latest_visible_ns,
    latest_visible_time,
)

NS = pd.Timedelta(1, "ns")
DAY = pd.Timedelta(days=1)
T = pd.Timestamp("2021-03-01 12:00:00")
RULES = ("inclusive", "strict")
AT_T, JUST_BEFORE = 100, 101  # event ids: exactly at T, one nanosecond before it
ENC = dict(hidden_channels=8, num_layers=1, num_neighbors=(-1,), batch_size=16, max_steps=3,
           steps_per_epoch=3, valid_fraction=0.0, random_state=0)
SUP = dict(encoder=RelationalContrastiveEncoder(hidden_channels=8, num_layers=1),
           pretrain=False, num_neighbors=(-1,), batch_size=16, max_epochs=2,
           valid_fraction=0.0, random_state=0)
HEAD = dict(num_neighbors=(-1,), batch_size=16, max_epochs=1, valid_fraction=0.0,
            random_state=0)  # a classifier on an encoder's backbone


def tables() -> dict[str, pd.DataFrame]:
    """Users ``a``..``f`` (untimed, as F1's drivers) and their events; ``a`` has one event
    exactly at T, one at T - 1 ns, one 3 days and one 365 days before T, and one after T."""
    users = pd.DataFrame({"user_id": list("abcdef"),
                          "age": [30.0, 41.0, 25.0, 52.0, 37.0, 29.0]})
    rows = [(AT_T, "a", T, 9.0, "x"), (JUST_BEFORE, "a", T - NS, 5.0, "y"),
            (102, "a", T - 3 * DAY, 1.0, "x"), (103, "a", T - 365 * DAY, 2.0, "y"),
            (104, "a", T + DAY, 7.0, "x")]
    rng = np.random.default_rng(0)
    for k, user in enumerate("bcdefbcdefbcdef"):
        rows.append((200 + k, user, T - int(rng.integers(1, 300)) * DAY,
                     float(rng.integers(1, 10)), "xy"[k % 2]))
    events = pd.DataFrame(rows, columns=["event_id", "user_id", "ts", "amount", "kind"])
    return {"users": users, "events": events}


SCHEMA = {"users": {"primary_key": "user_id"},
          "events": {"primary_key": "event_id", "foreign_keys": {"user_id": "users"},
                     "time_column": "ts"}}


def database(without=()) -> RelationalDatabase:
    t = tables()
    t["events"] = t["events"][~t["events"]["event_id"].isin(without)].reset_index(drop=True)
    return RelationalDatabase(t, SCHEMA)


FULL, NO_AT_T, NO_JUST_BEFORE = database(), database([AT_T]), database([JUST_BEFORE])
X_AT_T = pd.DataFrame({"user_id": list("abcdef"), "at": [T] * 6})
X_TRAIN = pd.DataFrame({"user_id": list("abcdefabcdef"),
                        "at": [T] * 6 + [T - 100 * DAY] * 6})
Y_CLASS = np.array([0, 1] * 6)
Y_NUM = np.arange(12, dtype=float)


def assert_rule(outputs, rule):
    """``outputs[db]`` is the output at (a, T) on FULL, NO_AT_T and NO_JUST_BEFORE: the
    event at T counts under "inclusive" only; the one at T - 1 ns under both rules."""
    full, no_at_t, no_just_before = outputs
    if rule == "strict":
        np.testing.assert_array_equal(full, no_at_t)
    else:
        assert not np.allclose(full, no_at_t)
    assert not np.allclose(full, no_just_before)


# -- the rule in one place ----------------------------------------------------------------------
def test_latest_visible_time_is_the_cutoff_or_one_nanosecond_before():
    t = np.array([T.value, 0], dtype=np.int64)
    np.testing.assert_array_equal(latest_visible_ns(t, "inclusive"), t)
    np.testing.assert_array_equal(latest_visible_ns(t, "strict"), t - 1)
    X = pd.DataFrame({"at": [T, T + NS]})
    assert cutoff_times_ns(X, "at", "strict").tolist() == [T.value - 1, T.value]
    assert cutoff_times_ns(X, "at").tolist() == [T.value, T.value + 1]
    assert latest_visible_time("2021-03-01 12:00", "strict") == T - NS
    assert latest_visible_time(T, "inclusive") is T
    assert latest_visible_time(None, "strict") is None
    assert latest_visible_time("not a time", "strict") == "not a time"  # refused by its reader
    with pytest.raises(ValueError, match=r"time_boundary must be one of \('inclusive', "
                                         r"'strict'\), got 'strcit'"):
        latest_visible_ns(t, "strcit")
    with pytest.raises(ValueError, match="time_boundary must be one of"):
        latest_visible_time(T, "strcit")


@pytest.mark.parametrize("make", [
    lambda: RelationalContrastiveEncoder(database=FULL, time_boundary="strcit"),
    lambda: RelationalClassifier(database=FULL, time_boundary="strcit"),
    lambda: RelationalRegressor(database=FULL, time_boundary="strcit"),
    lambda: RelationalAggregator(database=FULL, time_boundary="strcit"),
])
def test_a_typo_fails_at_the_start_of_fit(make):
    est = make()
    with pytest.raises(InvalidParameterError,
                       match=rf"The 'time_boundary' parameter of {type(est).__name__} must be "
                             r"a str among \{.*'inclusive'.*\}\. Got 'strcit' instead\."):
        est.fit(None, None)  # X=None would fail as input; the parameter error comes first


# -- aggregator: exact counts ------------------------------------------------------------------
@pytest.mark.parametrize("rule, counts", [
    # all, 365D, last 2: events of a at T (9), T - 1ns (5), T - 3 days (1), T - 365 days (2)
    ("inclusive", {"all": 4, "365D": 3, "last": [9.0, 5.0]}),
    # strict: T excluded; the 365-day window is [T - 365 days, T), so it holds T - 365 days
    ("strict", {"all": 3, "365D": 3, "last": [5.0, 1.0]}),
])
def test_aggregator_counts_the_row_at_t_under_inclusive_only(rule, counts):
    agg = RelationalAggregator(database=FULL, time_boundary=rule, windows=("all", "365D", 2),
                               max_categories=0).fit(X_AT_T)
    Z = agg.transform(X_AT_T).iloc[0]
    assert Z["events.user_id|all|count"] == counts["all"]
    assert Z["events.user_id|365D|count"] == counts["365D"]
    assert Z["events.user_id|last2|amount|max"] == max(counts["last"])
    assert Z["events.user_id|last2|amount|min"] == min(counts["last"])
    outputs = [RelationalAggregator(database=db, time_boundary=rule, max_categories=0)
               .fit(X_AT_T).transform(X_AT_T).iloc[0].to_numpy() for db in
               (FULL, NO_AT_T, NO_JUST_BEFORE)]
    assert_rule(outputs, rule)
    assert agg.cutoff_time_ == (T if rule == "inclusive" else T - NS)


def test_aggregator_decides_features_on_rows_before_the_latest_cutoff_under_strict():
    # user a's only event of kind "z" is dated exactly T, the latest cutoff of X
    t = tables()
    t["events"].loc[t["events"]["event_id"] == AT_T, "kind"] = "z"
    db = RelationalDatabase(t, SCHEMA)
    names = {rule: set(RelationalAggregator(database=db, time_boundary=rule, max_hops=1)
                       .fit(X_AT_T).get_feature_names_out()) for rule in RULES}
    assert "events.user_id|all|kind=z|share" in names["inclusive"] - names["strict"]


# -- entities dated exactly at the cutoff ---------------------------------------------------------
def test_an_entity_dated_exactly_at_the_cutoff_exists_under_inclusive_only():
    t = tables()  # users with a time: g joins exactly at T
    t["users"] = t["users"].assign(joined=T - 400 * DAY)
    t["users"].loc[len(t["users"])] = {"user_id": "g", "age": 33.0, "joined": T}
    db = RelationalDatabase(t, {**SCHEMA, "users": {**SCHEMA["users"], "time_column": "joined"}})
    X = pd.DataFrame({"user_id": ["g"], "at": [T]})
    agg = RelationalAggregator(database=db, max_hops=1).fit(X)
    assert agg.transform(X).iloc[0]["events.user_id|all|count"] == 0
    message = (r"1 rows of X have a cutoff before their 'users' row's own time \(column "
               r"'joined'\) or at it; first: row 0, \{'user_id': 'g'\}, dated 2021-03-01 "
               r"12:00:00, cutoff X\['at'\] = 2021-03-01 12:00:00 \(time_boundary='strict': a "
               r"row is visible only strictly before the cutoff\)\. .* move their cutoff "
               r"after the row's time\.")
    with pytest.raises(ValueError, match=message):
        RelationalAggregator(database=db, time_boundary="strict").fit(X)
    enc = RelationalContrastiveEncoder(database=db, **ENC).fit(X_AT_T)
    assert enc.transform(X).shape == (1, 8)
    with pytest.raises(ValueError, match=message):
        enc.set_params(time_boundary="strict").transform(X)
    # a nanosecond later it exists under both rules
    later = X.assign(at=T + NS)
    assert enc.transform(later).shape == (1, 8)


# -- encoder ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", RULES)
def test_encoder_embedding_at_t_reads_the_row_at_t_under_inclusive_only(rule):
    # fitted on rows at T: pretraining is bounded by the rule too (cutoff T, or T - 1 ns)
    encoders = [RelationalContrastiveEncoder(database=db, time_boundary=rule, **ENC)
                .fit(X_AT_T) for db in (FULL, NO_AT_T, NO_JUST_BEFORE)]
    assert encoders[0].cutoff_time_ == (T if rule == "inclusive" else T - NS)
    assert_rule([enc.transform(X_AT_T)[0] for enc in encoders], rule)
    # and the transform alone, with the same weights
    enc = encoders[0]
    assert_rule([enc.with_database(db).transform(X_AT_T)[0]
                 for db in (FULL, NO_AT_T, NO_JUST_BEFORE)], rule)
    weights = [e.backbone_.state_dict() for e in encoders[:2]]
    same = all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert same == (rule == "strict")  # pretraining read the row at T under inclusive only


@pytest.mark.parametrize("options", [{}, {"sampler": "hgsampling", "num_samples": 4}])
def test_strict_cutoff_time_bounds_pretraining_strictly(options):
    params = {**ENC, "cutoff_time": T, "time_boundary": "strict", **options}
    a = RelationalContrastiveEncoder(**params).fit(FULL)
    b = RelationalContrastiveEncoder(**params).fit(NO_AT_T)
    assert a.cutoff_time_ == T - NS
    for key, value in a.module_.state_dict().items():
        torch.testing.assert_close(value, b.module_.state_dict()[key], rtol=0, atol=0)
    inclusive = {**params, "time_boundary": "inclusive"}
    c = RelationalContrastiveEncoder(**inclusive).fit(FULL)
    d = RelationalContrastiveEncoder(**inclusive).fit(NO_AT_T)
    assert any(not torch.equal(v, d.module_.state_dict()[k])
               for k, v in c.module_.state_dict().items())


def test_pretraining_seeds_at_events_see_strictly_before_them_under_strict():
    enc = RelationalContrastiveEncoder(database=FULL, **ENC).fit(X_AT_T)
    graph, users = enc.graph_, enc.graph_.node_types.index("users")
    seeds = {rule: pretraining_seeds(graph, time_boundary=rule) for rule in RULES}
    event_times = FULL.time_ns("events")
    of_a = (tables()["events"]["user_id"] == "a").to_numpy()
    for rule, shift in (("inclusive", 0), ("strict", 1)):
        s = seeds[rule]
        user_seeds = s[s[:, 0] == users]
        times_of_a = set(user_seeds[user_seeds[:, 1] == 0, 2].tolist())  # a: row 0 of users
        # an untimed row: a seed at each of its events (strictly before it under "strict"),
        # and at the latest time, where it reads everything under both rules
        expected = {int(t) - shift for t in event_times[of_a]} | {int(event_times.max())}
        assert times_of_a == expected
        # a timed row is a seed at its own time under both rules
        timed = s[s[:, 0] == graph.node_types.index("events")]
        assert sorted(timed[:, 2].tolist()) == sorted(event_times.tolist())


# -- classifier and regressor ------------------------------------------------------------------
@pytest.mark.parametrize("cls, y, extra", [
    (RelationalClassifier, Y_CLASS, {}),
    (RelationalRegressor, Y_NUM, {"clip_quantiles": None}),
])
@pytest.mark.parametrize("rule", RULES)
def test_predictions_at_t_read_the_row_at_t_under_inclusive_only(cls, y, extra, rule):
    models = [cls(database=db, time_boundary=rule, **SUP, **extra).fit(X_TRAIN, y)
              for db in (FULL, NO_AT_T, NO_JUST_BEFORE)]
    predict = "predict_proba" if cls is RelationalClassifier else "predict"
    assert_rule([getattr(m, predict)(X_AT_T)[0] for m in models], rule)
    # the prediction alone, with the same weights
    assert_rule([getattr(models[0].with_database(db), predict)(X_AT_T)[0]
                 for db in (FULL, NO_AT_T, NO_JUST_BEFORE)], rule)


def test_an_unfitted_encoder_pretrains_under_the_supervised_rule():
    enc = RelationalContrastiveEncoder(**ENC)
    with pytest.raises(ValueError, match=r"RelationalClassifier\(time_boundary='strict'\) got "
                                         r"an unfitted encoder with time_boundary='inclusive'.*"
                                         r"Set RelationalContrastiveEncoder\(time_boundary="
                                         r"'strict'\), or pass an encoder fitted beforehand\."):
        RelationalClassifier(encoder=enc, database=FULL, time_boundary="strict",
                             **HEAD).fit(X_TRAIN, Y_CLASS)
    clf = RelationalClassifier(encoder=enc.set_params(time_boundary="strict"), database=FULL,
                               time_boundary="strict", **HEAD).fit(X_TRAIN, Y_CLASS)
    assert clf.encoder_.cutoff_time_ == T - NS
    # a fitted encoder keeps its own rule: its backbone is only the starting point
    fitted = RelationalContrastiveEncoder(database=FULL, **ENC).fit(X_TRAIN)
    clf = RelationalClassifier(encoder=fitted, time_boundary="strict", **HEAD)
    assert clf.fit(X_TRAIN, Y_CLASS).predict_proba(X_AT_T).shape == (6, 2)


# -- no future row, under both rules ------------------------------------------------------------
@pytest.mark.parametrize("rule", RULES)
def test_rows_from_t_on_change_nothing_under_strict_and_after_t_under_both(rule, data):
    """The synthetic shop: orders changed and added from the first visible-excluded time on
    (after t, or at t and after under "strict") change no embedding, prediction or
    aggregate at t; the same change a nanosecond earlier does."""
    shop, schema = data
    t = pd.Timestamp("2020-09-01 00:00:00.000000003")
    first_hidden = t + NS if rule == "inclusive" else t

    def changed(since):
        new = {k: v.copy() for k, v in shop.items()}
        o = new["orders"]
        o = pd.concat([o, o.iloc[:3].assign(order_id=o["order_id"].iloc[:3] + 10**6,
                                            ts=since)], ignore_index=True)
        o.loc[o["ts"] >= since, "quantity"] = 99
        new["orders"] = o
        return RelationalDatabase(new, schema)

    X = shop["users"].loc[shop["users"]["signup"] < t, ["user_id"]].assign(at=t)
    y = np.arange(len(X)) % 2
    dbs = [RelationalDatabase(shop, schema), changed(first_hidden), changed(first_hidden - NS)]
    enc = RelationalContrastiveEncoder(database=dbs[0], time_boundary=rule, **ENC).fit(X)
    embeddings = [enc.with_database(db).transform(X) for db in dbs]
    clf = RelationalClassifier(database=dbs[0], time_boundary=rule, **SUP).fit(X, y)
    probabilities = [clf.with_database(db).predict_proba(X) for db in dbs]
    aggregates = [RelationalAggregator(database=db, time_boundary=rule, max_hops=1).fit(X)
                  .transform(X).to_numpy() for db in dbs]
    for outputs in (embeddings, probabilities, aggregates):
        np.testing.assert_array_equal(outputs[0], outputs[1])
        assert outputs[0].shape != outputs[2].shape or not np.allclose(
            outputs[0], outputs[2], equal_nan=True)


def test_an_estimator_saved_before_time_boundary_loads_with_the_inclusive_rule():
    import pickle

    clf = RelationalClassifier(database=FULL, **SUP).fit(X_TRAIN, Y_CLASS)
    expected = clf.predict_proba(X_AT_T)
    del clf.__dict__["time_boundary"]  # as pickled by relcontrast before the parameter
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.get_params()["time_boundary"] == "inclusive"
    np.testing.assert_array_equal(loaded.predict_proba(X_AT_T), expected)
