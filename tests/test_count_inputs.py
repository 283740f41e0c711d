"""Count inputs (``count_inputs=True``): exact counts, no leakage, row order, parameters,
on the hand-built shop of ``tests/shop.py`` (count windows of 1, 4 and 16 days)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from shop import DAY, T0, shop_tables
from sklearn.utils._param_validation import InvalidParameterError
from torch_frame.data.stats import StatType

from relcontrast import (
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
    RelationalRegressor,
)
from relcontrast.graph import build_graph
from relcontrast.nn import RelationalBackbone
from relcontrast.sampling import NO_TIME_BOUND, HGSampler, NeighborSampler
from relcontrast.sampling.counts import (
    CountingSampler,
    count_channels,
    fit_count_windows,
    mean_dims,
    node_counts,
    window_values,
)
from relcontrast.sampling.index import neighbor_index

FK = ("baskets", "f2p_cid", "customers")
ENCODER = dict(hidden_channels=8, max_steps=4, steps_per_epoch=2, batch_size=8,
               valid_fraction=0.0, random_state=0)


def _tables(extra_baskets: list[tuple[str, int]] = ()) -> tuple[dict, dict]:
    return shop_tables(extra_baskets)


@pytest.fixture(scope="module")
def db():
    return RelationalDatabase(*_tables())


@pytest.fixture(scope="module")
def graph(db):
    return build_graph(db)


def _rows(times_ns) -> pd.DataFrame:
    return pd.DataFrame({"cid": ["a", "b", "c"] * len(times_ns),
                         "at": pd.to_datetime(np.repeat(np.array(times_ns, np.int64), 3))})


# -- exact counts --------------------------------------------------------------------------
def test_windows_are_multiples_of_the_median_gap(graph):
    windows = fit_count_windows(graph)
    assert windows == {FK: (DAY, 4 * DAY, 16 * DAY)}
    assert count_channels(windows) == {"customers": 4}
    # fitted on the baskets up to day 1 only: gaps of 1 day (a and b)
    early = {"baskets": np.flatnonzero(graph.time_dict["baskets"].numpy() <= T0 + DAY)}
    assert fit_count_windows(graph, early, multiples=(2,)) == {FK: (2 * DAY,)}
    # no two distinct times per customer: the all-time count only
    first = {"baskets": np.flatnonzero(graph.time_dict["baskets"].numpy() == T0)}
    assert fit_count_windows(graph, first) == {FK: ()}


@pytest.mark.parametrize("bound, expected", [
    # all time, (bound - 1 day, bound], 4 days, 16 days
    (T0 + 3 * DAY - 1, [3, 1, 3, 3]),  # the day-3 basket is 1 ns in the future
    (T0 + 3 * DAY, [4, 1, 4, 4]),      # at the bound: counted; day 2 is the window's open end
    (T0 + 3 * DAY + 1, [5, 2, 5, 5]),
    (T0 + 5 * DAY, [6, 1, 4, 6]),
    (T0 - 1, [0, 0, 0, 0]),
    (NO_TIME_BOUND, [6, 0, 3, 6]),     # windows end at the latest basket (b's, day 6)
])
def test_counts_at_a_bound_are_exact_to_the_nanosecond(graph, db, bound, expected):
    windows = fit_count_windows(graph)
    a = int(db.key_to_index("customers", ["a"])[0])
    got = node_counts(graph, windows, "customers", torch.tensor([a]),
                      torch.tensor([bound]))  # [1, 4]
    torch.testing.assert_close(got, torch.tensor([expected], dtype=torch.float).log1p(),
                               rtol=0, atol=0)


def test_counting_sampler_attaches_counts_at_each_node_bound(graph, db):
    windows = fit_count_windows(graph)
    idx = torch.as_tensor(db.key_to_index("customers", ["a", "b", "c"]))
    bound = torch.tensor([T0 + 3 * DAY, T0 + 3 * DAY, T0 + 3 * DAY])
    for inner in (NeighborSampler(graph, num_neighbors=(2, 2), strategy="last"),
                  HGSampler(graph, num_samples=4, num_layers=2)):
        batch = CountingSampler(inner, windows).sample({"customers": idx},
                                                       {"customers": bound},
                                                       torch.Generator().manual_seed(0))
        store = batch["customers"]
        assert store.counts.shape == (store.num_nodes, 4)
        torch.testing.assert_close(
            store.counts, node_counts(graph, windows, "customers", store.n_id,
                                      store.ref_time), rtol=0, atol=0)
        seeds = store.counts[:3].expm1().round()  # a, b, c at day 3
        assert seeds.tolist() == [[4, 1, 4, 4], [4, 1, 4, 4], [0, 0, 0, 0]]
        assert batch["baskets"].get("counts") is None  # nothing references a basket


def test_backbone_needs_the_counts_and_its_own_windows(graph):
    windows = fit_count_windows(graph)
    backbone = RelationalBackbone(graph, hidden_channels=8, count_windows=windows).eval()
    assert backbone.count_encoder is not None and "count_inputs=True" in repr(backbone)
    sampler = NeighborSampler(graph, num_neighbors=(2, 2), strategy="last")
    seeds = ({"customers": torch.tensor([0, 1])}, {"customers": torch.tensor([T0, T0])})
    with pytest.raises(ValueError, match=r"batch\['customers'\] has no `counts`"):
        backbone(sampler.sample(*seeds, None))
    z = backbone(CountingSampler(sampler, windows).sample(*seeds, None))
    assert z["customers"].shape == (2, 8)
    with pytest.raises(ValueError, match="names edge type .* which the graph does not have"):
        RelationalBackbone(graph, count_windows={("x", "f2p_y", "z"): (DAY,)})
    with pytest.raises(ValueError, match=r"must hold positive integers"):
        RelationalBackbone(graph, count_windows={FK: (0,)})
    plain = RelationalBackbone(graph, hidden_channels=8)
    assert plain.count_encoder is None and plain.count_windows is None


# -- mean inputs ---------------------------------------------------------------------------
def test_window_means_are_exact():
    """Means of the amount (standardised) and of the channel shares of a's baskets: over all
    time (with a basket 20 days before day 0) and over the 16-day window; 0 for c."""
    tables, schema = shop_tables([("a", T0 - 20 * DAY)], channel=True)
    graph = build_graph(RelationalDatabase(tables, schema))
    windows = fit_count_windows(graph)
    assert windows == {FK: (DAY, 4 * DAY, 16 * DAY)}
    # amount, then the shares of "web" (11 baskets) and "shop" (3), by frequency
    assert mean_dims(graph, windows) == {FK: 3}
    assert count_channels(windows, mean_dims(graph, windows)) == {"customers": 4 + 2 * 3}
    stats = graph.col_stats_dict["baskets"]["amount"]
    mu, sd = float(stats[StatType.MEAN]), float(stats[StatType.STD])
    a, c = (int(i) for i in RelationalDatabase(tables, schema).key_to_index(
        "customers", ["a", "c"]))
    got = node_counts(graph, windows, "customers", torch.tensor([a, c]),
                      torch.tensor([T0 + 3 * DAY, T0 + 3 * DAY]), means=True)
    # a at day 3: the old basket (amount 44, shop) and days 0-3 (5, 8, 11, 14; web, web,
    # shop, web); the 16-day window holds days 0-3 only
    counts = torch.tensor([5, 1, 4, 4], dtype=torch.float).log1p()
    torch.testing.assert_close(got[0, :4], counts, rtol=0, atol=0)
    expected = torch.tensor([(16.4 - mu) / sd, 3 / 5, 2 / 5, (9.5 - mu) / sd, 3 / 4, 1 / 4])
    torch.testing.assert_close(got[0, 4:], expected, rtol=0, atol=2e-6)
    torch.testing.assert_close(got[1], torch.zeros(10), rtol=0, atol=0)
    # without windows (an untimed referencing table): the all-time count and means only
    assert count_channels({FK: ()}, mean_dims(graph, windows)) == {"customers": 1 + 3}
    alone = node_counts(graph, {FK: ()}, "customers", torch.tensor([a]),
                        torch.tensor([T0 + 3 * DAY]), means=True)
    torch.testing.assert_close(alone[0], torch.cat([got[0, :1], got[0, 4:7]]), rtol=0, atol=0)


def test_a_mean_reads_only_its_own_rows_exactly():
    """A basket of customer a, who comes before b in the index, or one of b's after the
    bound, changes no bit of b's means (float64, same column statistics): the sums are
    exact, not running float sums that round differently once a row is added before b's."""
    base = build_graph(RelationalDatabase(*shop_tables(channel=True)))
    tables, schema = shop_tables([("a", T0 + DAY + 5), ("b", T0 + 9 * DAY)], channel=True)
    tables["baskets"].loc[13, "amount"] = 123_456.7  # a's new basket: a large running sum
    graphs = [base, build_graph(RelationalDatabase(tables, schema), reference=base)]
    nodes, bound = torch.tensor([0, 1]), torch.full((2,), T0 + 3 * DAY)  # a, b
    got = []
    for g in graphs:
        store = neighbor_index(g)[FK]
        got.append(window_values(g, FK).mean(store.rowptr[nodes],
                                             store.eligible_end(nodes, bound))[0])
    assert not torch.equal(got[0][0], got[1][0])  # a: a basket on day 1
    assert torch.equal(got[0][1], got[1][1])  # b: nothing new
    counts = [node_counts(g, fit_count_windows(base), "customers", nodes, bound, means=True)
              for g in graphs]
    assert torch.equal(counts[0][1], counts[1][1])


def test_backbone_reads_the_means(graph):
    windows = fit_count_windows(graph)
    with pytest.raises(ValueError, match="mean_inputs=True needs count_windows"):
        RelationalBackbone(graph, mean_inputs=True)
    backbone = RelationalBackbone(graph, hidden_channels=8, count_windows=windows,
                                  mean_inputs=True).eval()
    assert "mean_inputs=True" in repr(backbone)
    assert backbone.count_encoder.in_channels == {"customers": 4 + 2 * 1}  # the amount
    sampler = NeighborSampler(graph, num_neighbors=(2, 2), strategy="last")
    seeds = ({"customers": torch.tensor([0, 1])}, {"customers": torch.tensor([T0, T0])})
    with pytest.raises(ValueError, match="Count inputs of 'customers' have shape"):
        backbone(CountingSampler(sampler, windows).sample(*seeds, None))
    z = backbone(CountingSampler(sampler, windows, means=True).sample(*seeds, None))
    assert z["customers"].shape == (2, 8)


# -- estimators ----------------------------------------------------------------------------
@pytest.fixture(scope="module", params=[False, True], ids=["counts", "means"])
def encoder(db, request):
    return RelationalContrastiveEncoder(count_inputs=True, mean_inputs=request.param,
                                        **ENCODER).fit(db)


def test_encoder_reads_the_counts(encoder, db):
    assert encoder.backbone_.count_windows == {FK: (DAY, 4 * DAY, 16 * DAY)}
    Z = encoder.transform(_rows([T0 + 3 * DAY - 1, T0 + 3 * DAY]))
    # a and b have one basket more at day 3 than 1 ns before: their embeddings change
    assert not np.array_equal(Z[0], Z[3]) and not np.array_equal(Z[1], Z[4])
    np.testing.assert_array_equal(Z[2], Z[5])  # c has no basket: nothing changes


@pytest.mark.parametrize("sampler, means", [("neighbor", False), ("hgsampling", False),
                                            ("neighbor", True)])
def test_rows_after_the_cutoff_never_change_the_embedding(sampler, means):
    """A basket 1 ns after t changes neither the fitted windows nor the weights (pretraining
    cutoff t) nor any embedding at t."""
    t = T0 + 3 * DAY
    params = dict(ENCODER, count_inputs=True, mean_inputs=means, sampler=sampler,
                  num_samples=4, cutoff_time=pd.Timestamp(t))
    later = [("a", t + 1), ("c", t + 1), ("b", t + 30 * DAY)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = RelationalContrastiveEncoder(**params).fit(RelationalDatabase(*_tables()))
        more = RelationalContrastiveEncoder(**params).fit(
            RelationalDatabase(*_tables(later)))
    assert base.backbone_.count_windows == more.backbone_.count_windows
    X = _rows([t - DAY, t - 1, t])
    np.testing.assert_array_equal(base.transform(X), more.transform(X))
    np.testing.assert_array_equal(
        base.transform(X), base.with_database(RelationalDatabase(*_tables(later))).transform(X))


def test_strict_boundary_leaves_out_the_rows_at_t():
    """Under ``time_boundary="strict"`` a basket at t counts no more than one after t."""
    t = T0 + 6 * DAY
    params = dict(ENCODER, count_inputs=True, time_boundary="strict")
    enc = RelationalContrastiveEncoder(**params).fit(RelationalDatabase(*_tables()))
    X = _rows([t])
    at_t = enc.with_database(RelationalDatabase(*_tables([("c", t)]))).transform(X)
    np.testing.assert_array_equal(enc.transform(X), at_t)
    inclusive = RelationalContrastiveEncoder(**dict(params, time_boundary="inclusive"))
    inclusive.fit(RelationalDatabase(*_tables()))
    changed = inclusive.with_database(RelationalDatabase(*_tables([("c", t)]))).transform(X)
    assert not np.array_equal(inclusive.transform(X)[2], changed[2])


def test_row_order_never_changes_windows_or_embeddings(encoder, db):
    """The fitted windows, and a fitted encoder's embeddings, follow the rows, not their
    positions (as without count inputs, the pretraining run itself draws by position)."""
    tables, schema = _tables()
    rng = np.random.default_rng(0)
    permuted = {name: df.iloc[rng.permutation(len(df))].reset_index(drop=True)
                for name, df in tables.items()}
    shuffled = RelationalDatabase(permuted, schema)
    assert fit_count_windows(build_graph(shuffled)) == encoder.backbone_.count_windows
    X = _rows([T0 + 2 * DAY, T0 + 3 * DAY, T0 + 9 * DAY])
    np.testing.assert_array_equal(encoder.transform(X),
                                  encoder.with_database(shuffled).transform(X))


def test_pickle_round_trip_gives_identical_embeddings(encoder):
    X = _rows([T0 + 3 * DAY, T0 + 9 * DAY])
    encoder.transform(X)
    # the window values (predictive targets, mean inputs) are rebuilt, not pickled
    assert "_transient_window_values" in vars(encoder.graph_)
    loaded = pickle.loads(pickle.dumps(encoder))
    assert "_transient_window_values" not in vars(loaded.graph_)
    assert loaded.backbone_.count_windows == encoder.backbone_.count_windows
    np.testing.assert_array_equal(encoder.transform(X), loaded.transform(X))


def test_supervised_from_scratch_and_fine_tuned(encoder, db):
    X = _rows([T0 + d * DAY for d in range(1, 7)])
    y = np.arange(len(X)) % 2
    scratch = RelationalClassifier(database=db, encoder=RelationalContrastiveEncoder(
        hidden_channels=8), pretrain=False, max_epochs=1, valid_fraction=0.0,
        random_state=0).fit(X, y)
    assert scratch.module_.backbone.count_windows == {FK: (DAY, 4 * DAY, 16 * DAY)}
    assert scratch.predict_proba(X).shape == (len(X), 2)
    tuned = RelationalRegressor(encoder=encoder, max_epochs=1, valid_fraction=0.0,
                                random_state=0).fit(X, y.astype(float))
    assert tuned.module_.backbone.count_windows == encoder.backbone_.count_windows
    moved = tuned.with_database(RelationalDatabase(*_tables([("a", T0 + 30 * DAY)])))
    np.testing.assert_array_equal(tuned.predict(X), moved.predict(X))


def test_parameter_validation(db, encoder):
    X = _rows([T0 + 3 * DAY])
    with pytest.raises(InvalidParameterError,
                       match="'count_inputs' parameter of RelationalContrastiveEncoder must be"):
        RelationalContrastiveEncoder(count_inputs="yes").fit(db)
    with pytest.raises(InvalidParameterError,
                       match="'count_inputs' parameter of RelationalClassifier must be"):
        RelationalClassifier(database=db, count_inputs=1).fit(X, [0, 1, 0])
    with pytest.raises(InvalidParameterError,
                       match="'mean_inputs' parameter of RelationalRegressor must be"):
        RelationalRegressor(database=db, mean_inputs="yes").fit(X, [0.0, 1.0, 0.0])
    with pytest.warns(UserWarning, match="mean_inputs is ignored without count_inputs"):
        RelationalContrastiveEncoder(count_inputs=False, mean_inputs=True, **ENCODER).fit(db)
    with (pytest.warns(FutureWarning, match="count_inputs is deprecated"),
          pytest.warns(UserWarning, match="count_inputs is ignored with an encoder")):
        RelationalClassifier(encoder=encoder, count_inputs=False, max_epochs=1,
                             valid_fraction=0.0, random_state=0).fit(X, [0, 1, 0])


def test_a_batch_without_time_bounds_is_refused(graph):
    from relcontrast.sampling.counts import add_counts

    batch = NeighborSampler(graph, num_neighbors=(2, 2), strategy="last").sample(
        {"customers": torch.tensor([0])}, None, None)
    del batch["customers"].ref_time
    with pytest.raises(ValueError, match=r"batch\['customers'\] needs `ref_time`"):
        add_counts(batch, graph, fit_count_windows(graph))
