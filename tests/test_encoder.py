from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline

from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.pretraining import pretraining_seeds

SMALL = dict(hidden_channels=16, num_layers=2, batch_size=32, num_samples=8, max_steps=6,
             steps_per_epoch=3, num_neighbors=(8, 4), random_state=0)


@pytest.fixture(scope="module")
def fitted(db):
    return RelationalContrastiveEncoder(**SMALL).fit(db)


def rows(tables, n=40):
    return tables["orders"][["order_id", "ts"]].iloc[:n].reset_index(drop=True)


def test_fit_accepts_tables_database_and_rows(data, db):
    tables, schema = data
    enc = RelationalContrastiveEncoder(**SMALL)
    assert enc.fit(tables, schema) is enc
    assert isinstance(enc.database_, RelationalDatabase)
    enc_rows = RelationalContrastiveEncoder(database=db, **SMALL).fit(rows(tables))
    # fitted on rows: pretraining is cut at the rows' latest cutoff time
    assert enc_rows.cutoff_time_ == rows(tables)["ts"].max()
    assert enc_rows.n_features_in_ == 2
    with pytest.raises(ValueError, match="database must be given as the `database` parameter"):
        RelationalContrastiveEncoder(**SMALL).fit(rows(tables))


def test_fit_accepts_a_relbench_database(data):
    from relbench.base import Database, Table

    tables, schema = data
    rb = Database({name: Table(tables[name], dict(s.get("foreign_keys", {})),
                               pkey_col=s.get("primary_key"), time_col=s.get("time_column"))
                   for name, s in schema.items()})
    enc = RelationalContrastiveEncoder(**SMALL).fit(rb)
    assert enc.transform(rows(tables, 5)).shape == (5, 16)


def test_transform_shape_names_and_pandas_output(fitted, data):
    tables, _ = data
    X = rows(tables)
    Z = fitted.transform(X)
    assert Z.shape == (len(X), 16) and Z.dtype == np.float32
    assert np.isfinite(Z).all()
    names = fitted.get_feature_names_out()
    assert list(names[:2]) == ["relationalcontrastiveencoder0", "relationalcontrastiveencoder1"]
    fitted.set_output(transform="pandas")
    try:
        df = fitted.transform(X)
        assert isinstance(df, pd.DataFrame) and list(df.columns) == list(names)
        np.testing.assert_allclose(df.to_numpy(), Z)
    finally:
        fitted.set_output(transform="default")


def test_transform_is_deterministic_and_same_seed_same_embeddings(fitted, db, data):
    tables, _ = data
    X = rows(tables)
    np.testing.assert_array_equal(fitted.transform(X), fitted.transform(X))
    again = RelationalContrastiveEncoder(**SMALL).fit(db)
    np.testing.assert_array_equal(fitted.transform(X), again.transform(X))
    other = RelationalContrastiveEncoder(**{**SMALL, "random_state": 1}).fit(db)
    assert not np.allclose(fitted.transform(X), other.transform(X))


def test_unknown_entity_ids_and_missing_columns_raise(fitted):
    X = pd.DataFrame({"order_id": [5, 123456789], "ts": pd.to_datetime(["2021-01-01"] * 2)})
    with pytest.raises(ValueError, match=r"1 entity ids of X\['order_id'\] not found in table "
                                         r"'orders'.*123456789"):
        fitted.transform(X)
    with pytest.raises(ValueError, match="X has no datetime column"):
        fitted.transform(pd.DataFrame({"order_id": [5]}))
    with pytest.raises(ValueError, match="none of the primary-key columns"):
        fitted.transform(pd.DataFrame({"foo": [5], "ts": pd.to_datetime(["2021-01-01"])}))


def future_changed(tables, t):
    """Tables that differ from ``tables`` only in rows dated after ``t``."""
    changed = {k: v.copy() for k, v in tables.items()}
    orders = changed["orders"]
    late = orders["ts"] > t
    orders.loc[late, "quantity"] = 99
    orders.loc[late, "status"] = "returned"
    extra = orders[late].head(20).copy()
    extra["order_id"] = extra["order_id"] + 10**6
    changed["orders"] = pd.concat([orders, extra], ignore_index=True)
    reviews = changed["reviews"]
    new_reviews = reviews[reviews["ts"] > t].head(10).assign(rating=1.0)
    changed["reviews"] = pd.concat([new_reviews, reviews], ignore_index=True)
    return changed


def test_rows_after_t_never_change_embeddings_at_t(fitted, data):
    tables, schema = data
    t = pd.Timestamp("2020-09-01")
    X = tables["orders"].loc[tables["orders"]["ts"] <= t, ["order_id", "ts"]]
    X = X.assign(ts=t)  # embed every order as of t
    changed = RelationalDatabase(future_changed(tables, t), schema)
    np.testing.assert_array_equal(fitted.transform(X),
                                  fitted.with_database(changed).transform(X))
    # ... while a change before t does change them (the test can fail)
    past = {k: v.copy() for k, v in tables.items()}
    past["orders"].loc[past["orders"]["ts"] <= t, "quantity"] = 4
    assert not np.allclose(fitted.transform(X),
                           fitted.with_database(RelationalDatabase(past, schema)).transform(X))


def test_last_strategy_reads_only_the_most_recent_rows(fitted, data):
    """With temporal_strategy="last" and fan-out 1, a user's older orders are never read:
    changing them leaves the embedding as it was, unlike uniform sampling of all rows."""
    tables, schema = data
    t = pd.Timestamp("2020-09-01")
    users = tables["users"].loc[tables["users"]["signup"] <= t, ["user_id"]].assign(at=t)
    orders = tables["orders"]
    latest = orders[orders["ts"] <= t].groupby("user_id")["ts"].max()
    older = orders["ts"] < orders["user_id"].map(latest)  # NaT (no order by t) -> False
    assert older.sum() > 20
    changed = {**tables, "orders": orders.assign(
        quantity=orders["quantity"].where(~older, 99),
        status=orders["status"].where(~older, "returned"))}

    def embed(database, **sampling):
        enc = fitted.with_database(RelationalDatabase(database, schema))
        return enc.set_params(**sampling).transform(users)

    last = dict(temporal_strategy="last", num_neighbors=(1, 1))
    np.testing.assert_array_equal(embed(tables, **last), embed(changed, **last))
    every = dict(temporal_strategy="uniform", num_neighbors=(-1, -1))
    assert not np.allclose(embed(tables, **every), embed(changed, **every))


@pytest.mark.parametrize("options", [
    {}, {"sampler": "hgsampling"}, {"corruption": "empirical", "seed_times": "latest"}])
def test_pretraining_ignores_rows_after_cutoff(data, options):
    """Pretraining reads the graph of the whole database (no copy of the rows up to the
    cutoff): seeds, neighbours and corruption donors must still come from the rows up to
    the cutoff alone, with either sampler and either corruption."""
    tables, schema = data
    cutoff = pd.Timestamp("2020-09-01")
    params = {**SMALL, "cutoff_time": cutoff, **options}
    a = RelationalContrastiveEncoder(**params).fit(tables, schema)
    b = RelationalContrastiveEncoder(**params).fit(future_changed(tables, cutoff), schema)
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0, msg=key)
    # history (held-out loss included) is identical too
    assert a.history_[:, "valid_loss"] == b.history_[:, "valid_loss"]


def test_history_records_every_level_and_plots(fitted):
    epoch = fitted.history_[-1]
    for key in ("train_loss", "valid_loss", "train_row", "train_link", "train_context",
                "valid_row", "valid_link", "valid_context"):
        assert np.isfinite(epoch[key]), key
    assert "train_row" in epoch["batches"][0]
    import matplotlib

    matplotlib.use("Agg")
    fig = fitted.plot_history()
    assert len(fig.axes[0].lines) >= 8


def test_verbose_progress_bar_shows_steps_and_the_three_losses(db, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # capsys's stderr, as a terminal
    enc = RelationalContrastiveEncoder(**{**SMALL, "verbose": 1}).fit(db)
    err = capsys.readouterr().err
    for key in ("train_loss=", "train_row=", "train_link=", "train_context="):
        assert key in err
    n_seeds = len(pretraining_seeds(enc.graph_))
    valid_batches = -(-int(n_seeds * 0.1) // SMALL["batch_size"])  # ceil
    assert f"/{SMALL['steps_per_epoch'] + valid_batches} [" in err  # steps in the epoch


def test_verbose_in_a_log_writes_one_line_per_epoch(db, capsys):
    # pytest's captured stderr is not a terminal, like a log file: no per-batch progress
    enc = RelationalContrastiveEncoder(**{**SMALL, "verbose": 1}).fit(db)
    captured = capsys.readouterr()
    assert "train_loss=" not in captured.err
    table = [line for line in captured.out.splitlines() if line.strip()[:1].isdigit()]
    assert len(table) == len(enc.history_)  # one row per epoch


def test_log_k_losses_start_near_one(db):
    enc = RelationalContrastiveEncoder(**{**SMALL, "max_steps": 1, "steps_per_epoch": 1,
                                          "valid_fraction": 0, "patience": None}).fit(db)
    first = enc.history_[0]["batches"][0]
    for level in ("row", "link", "context"):
        assert 0.7 < first[f"train_{level}"] < 1.3, (level, first)


def test_each_level_loss_falls_over_a_short_run(db):
    enc = RelationalContrastiveEncoder(**{**SMALL, "max_steps": 60, "steps_per_epoch": 10,
                                          "lr": 3e-3, "patience": None}).fit(db)
    for level in ("row", "link", "context"):
        curve = enc.history_[:, f"train_{level}"]
        assert curve[-1] < 0.9 * curve[0], (level, curve)


@pytest.mark.parametrize("objectives", [("row",), ("link",), ("context",), ("link", "context")])
def test_objective_subsets(db, objectives):
    enc = RelationalContrastiveEncoder(**{**SMALL, "objectives": objectives}).fit(db)
    epoch = enc.history_[-1]
    for level in ("row", "link", "context"):
        assert (f"train_{level}" in epoch) == (level in objectives)


@pytest.mark.parametrize("options", [
    {"sampler": "hgsampling"},
    {"sampler": "hgsampling", "seed_times": "events"},
    {"tabular_model": "resnet", "aggregation": "sum"},
    {"corruption": "empirical", "loss_normalization": "running_mean"},
])
def test_options_train(db, data, options):
    enc = RelationalContrastiveEncoder(**{**SMALL, **options}).fit(db)
    assert np.isfinite(enc.history_[:, "train_loss"]).all()
    assert enc.transform(rows(data[0], 5)).shape == (5, 16)


def test_pipeline_with_gradient_boosting(db, data):
    tables, _ = data
    X = tables["orders"][["order_id", "ts"]]
    y = tables["orders"]["status"] == "returned"
    pipe = make_pipeline(RelationalContrastiveEncoder(database=db, **SMALL),
                         HistGradientBoostingClassifier(max_iter=10))
    pipe.fit(X, y)
    assert pipe.predict_proba(X).shape == (len(X), 2)


def test_event_seed_times_put_untimed_rows_at_the_times_of_their_events():
    from relcontrast.graph import build_graph

    tables = {
        "shops": pd.DataFrame({"shop": ["a", "b", "c"], "size": [1.0, 2.0, 3.0]}),
        "sales": pd.DataFrame({"sale": [1, 2, 3, 4], "shop": ["b", "a", "b", "b"],
                               "at": pd.to_datetime(["2020-01-01", "2020-01-02",
                                                     "2020-01-03", "2020-01-03"]),
                               "amount": [5.0, 6.0, 7.0, 8.0]}),
    }
    schema = {"shops": {"primary_key": "shop"},
              "sales": {"primary_key": "sale", "foreign_keys": {"shop": "shops"},
                        "time_column": "at"}}
    db = RelationalDatabase(tables, schema)
    graph = build_graph(db)
    s = pd.Timestamp("2020-01-01").value
    day = 86_400 * 10**9
    latest = s + 2 * day
    shops = graph.node_types.index("shops")

    def shop_seeds(seed_times):
        seeds = pretraining_seeds(graph, seed_times=seed_times)
        return seeds[seeds[:, 0] == shops, 1:].tolist()

    assert shop_seeds("latest") == [[0, latest], [1, latest], [2, latest]]
    # shop a sold on day 2, b on days 1 and 3 (twice: one seed), c never
    assert shop_seeds("events") == [[0, s + day], [0, latest], [1, s], [1, latest],
                                    [2, latest]]


@pytest.mark.parametrize("max_steps, steps_per_epoch, expected", [
    (7, 5, [5, 2]), (1, 50, [1]), (10, 5, [5, 5])])
def test_max_steps_is_an_upper_bound(db, max_steps, steps_per_epoch, expected):
    enc = RelationalContrastiveEncoder(**{**SMALL, "max_steps": max_steps,
                                          "steps_per_epoch": steps_per_epoch,
                                          "patience": None}).fit(db)
    steps = [sum("train_loss" in b for b in row["batches"]) for row in enc.history_]
    assert steps == expected


def test_cosine_schedule_anneals_the_learning_rate_over_max_steps(db):
    enc = RelationalContrastiveEncoder(**{**SMALL, "max_steps": 4, "steps_per_epoch": 3,
                                          "lr": 0.01, "lr_schedule": "cosine"}).fit(db)
    lrs = [b["event_lr"] for row in enc.history_ for b in row["batches"] if "train_loss" in b]
    expected = [0.005 * (1 + math.cos(math.pi * step / 4)) for step in range(4)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert enc.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-15)


def test_old_pickle_paths_of_the_pretraining_data_path_resolve():
    """Estimators pickled before the pretraining data path, the batchers, the splits and
    the checkpoint left estimators/_net.py name those classes by their former modules;
    those names still resolve."""
    from relcontrast._random import GeneratorPair
    from relcontrast.estimators import _net, encoder
    from relcontrast.estimators._callbacks import ResumableCheckpoint
    from relcontrast.estimators._splits import HoldOut, TimeOrderedSplit
    from relcontrast.pretraining import PretrainingBatcher, PretrainingModule
    from relcontrast.sampling import NeighborBatcher

    assert _net.PretrainingBatcher is PretrainingBatcher
    assert _net.NeighborBatcher is NeighborBatcher
    assert (_net.HoldOut, _net.TimeOrderedSplit) == (HoldOut, TimeOrderedSplit)
    assert _net.ResumableCheckpoint is ResumableCheckpoint
    assert _net._GeneratorPair is GeneratorPair
    assert encoder.PretrainingModule is PretrainingModule
