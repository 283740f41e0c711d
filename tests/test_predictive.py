"""The predictive objective: exact targets, no row after the cutoff, the loss, the encoder,
on the hand-built shop of ``tests/shop.py`` with a channel column (windows of 1, 4 and 16
days)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from shop import A_CHANNEL, DAY, T0, shop_tables
from torch_frame.data.stats import StatType
from torch_geometric.data import HeteroData

from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.graph import build_graph
from relcontrast.pretraining import (
    ContrastiveLoss,
    PredictiveObjective,
    TargetingSampler,
    WindowTargets,
)
from relcontrast.sampling import NO_TIME_BOUND, NeighborSampler
from relcontrast.sampling.counts import fit_count_windows


def _tables(extra: list[tuple[str, int]] = ()) -> tuple[dict, dict]:
    return shop_tables(extra, channel=True)


@pytest.fixture(scope="module")
def graph():
    db = RelationalDatabase(*_tables())
    return build_graph(db, column_types={"baskets": {"channel": "categorical"}})


def _standardised_amounts(graph, positions):
    stats = graph.col_stats_dict["baskets"]["amount"]
    amounts = 5.0 + 3.0 * np.asarray(positions)
    return (amounts - stats[StatType.MEAN]) / stats[StatType.STD]


def _shares(graph, channels):
    order = list(graph.col_stats_dict["baskets"]["channel"][StatType.COUNT][0])
    return [np.mean([c == cat for c in channels]) for cat in order]


def test_targets_are_exact_counts_means_and_shares(graph):
    windows = fit_count_windows(graph)
    assert windows[("baskets", "f2p_cid", "customers")] == (DAY, 4 * DAY, 16 * DAY)
    targets = WindowTargets(graph, windows, cutoff=T0 + 6 * DAY)
    # counts in 3 windows, twice; amount + two channels, twice; 3 recency targets
    assert targets.dims == {"customers": 2 * 3 + 2 * 3 + 3}
    t = T0 + 2 * DAY
    y, ok = targets.raw("customers", torch.tensor([0, 2]), torch.tensor([t, t]))
    # customer a at day 2: past rows days 0, 1, 2; future days 3, 3 + 1 ns, 5 (by day 6)
    past_counts = np.log1p([1, 3, 3])
    future_counts = np.log1p([1, 3, 4])  # the 16-day window is not a target (after cutoff)
    past_mean = [*_standardised_amounts(graph, [0, 1, 2]).mean(keepdims=True),
                 *_shares(graph, A_CHANNEL[:3])]
    future_mean = [*_standardised_amounts(graph, [3, 4, 5]).mean(keepdims=True),
                   *_shares(graph, A_CHANNEL[3:])]
    expected = np.concatenate([past_counts, future_counts, past_mean, future_mean])
    valid = np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1], dtype=bool)
    # counts exact; means summed in steps of 2**-20 (WindowValues), so within half a step
    np.testing.assert_array_equal(y[0, :6].numpy()[valid[:6]], expected[:6][valid[:6]])
    np.testing.assert_allclose(y[0, 6:12].numpy(), expected[6:], rtol=0, atol=2**-21)
    np.testing.assert_array_equal(ok[0, :12].numpy(), valid)
    # customer c has no baskets: zero counts are targets, means of no row are not
    np.testing.assert_array_equal(y[1, :6].numpy(), np.zeros(6))
    np.testing.assert_array_equal(ok[1, :12].numpy(), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    # recency of a at day 2: the latest basket that day, 1 day apart on average; the time
    # until the next is not a target (its 16-day window ends after the cutoff)
    np.testing.assert_array_equal(y[0, 12:].numpy(), np.log1p([0.0, 1.0, 0.0]))
    np.testing.assert_array_equal(ok[0, 12:].numpy(), [True, True, False])
    np.testing.assert_array_equal(ok[1, 12:].numpy(), [False, False, False])


def test_recency_targets_are_exact(graph):
    """Time since the latest basket, mean gap, time until the next (capped at 16 days), in
    days (the shortest window), ``log1p``; the time until the next basket only where 16
    days after the seed end by the cutoff."""
    targets = WindowTargets(graph, fit_count_windows(graph), cutoff=T0 + 30 * DAY)
    half = DAY // 2
    seeds = [(0, T0 + 3 * DAY),  # a: baskets days 0-3 so far, the next 1 ns later
             (0, T0 + 6 * DAY),  # a: the latest basket a day ago, none to come
             (1, T0 + 2 * DAY + half),  # b: baskets days 0-2, the next half a day later
             (2, T0 + 2 * DAY),  # c: no basket yet, none to come
             (1, T0 + 14 * DAY + 1)]  # b: 16 days later is after the cutoff
    y, ok = targets.raw("customers", torch.tensor([s[0] for s in seeds]),
                        torch.tensor([s[1] for s in seeds]))
    expected = np.log1p([[0.0, 1.0, 1 / DAY],
                         [1.0, 1.0, 16.0],
                         [0.5, 1.0, 0.5],
                         [0.0, 0.0, 16.0],
                         [8.0 + 1 / DAY, 1.0, 0.0]])
    valid = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 1], [1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(ok[:, -3:].numpy(), valid)
    np.testing.assert_allclose(y[:, -3:].numpy(), np.where(valid, expected, 0.0),
                               rtol=1e-15, atol=0)
    # c's first basket 23 days after the seed: the time until it is capped at 16 days
    later = build_graph(RelationalDatabase(*_tables([("c", T0 + 25 * DAY)])),
                        column_types={"baskets": {"channel": "categorical"}})
    targets = WindowTargets(later, fit_count_windows(later), cutoff=T0 + 30 * DAY)
    y, ok = targets.raw("customers", torch.tensor([2, 2]),
                        torch.tensor([T0 + 2 * DAY, T0 + 14 * DAY]))
    np.testing.assert_array_equal(ok[:, -1].numpy(), [True, True])
    np.testing.assert_allclose(y[:, -1].numpy(), np.log1p([16.0, 11.0]), rtol=1e-15, atol=0)


def test_a_window_ending_exactly_at_the_cutoff_is_a_target(graph):
    windows = fit_count_windows(graph)
    cutoff = T0 + 3 * DAY  # the 1-day window from day 2 ends exactly at the cutoff
    targets = WindowTargets(graph, windows, cutoff=cutoff)
    times = torch.tensor([T0 + 2 * DAY, T0 + 2 * DAY + 1, NO_TIME_BOUND])
    _, ok = targets.raw("customers", torch.zeros(3, dtype=torch.long), times)
    np.testing.assert_array_equal(ok[:, 3].numpy(), [True, False, False])
    assert not ok[2].any()  # no time bound, no target


@pytest.mark.parametrize("after", [1, DAY])
def test_no_target_reads_a_row_after_the_cutoff(after):
    """Rows dated after the cutoff (by 1 ns or a day) change no target at any seed time."""
    cutoff = T0 + 4 * DAY
    base = build_graph(RelationalDatabase(*_tables()), stats_until=cutoff)
    extra = build_graph(RelationalDatabase(*_tables([("a", cutoff + after),
                                                     ("c", cutoff + after)])),
                        stats_until=cutoff)
    rows = {"baskets": np.flatnonzero(base.time_dict["baskets"].numpy() <= cutoff)}
    windows = fit_count_windows(base, rows)
    assert windows == fit_count_windows(extra, {"baskets": rows["baskets"]})
    times = torch.tensor([cutoff - w + d for w in (DAY, 4 * DAY, 16 * DAY) for d in (-1, 0, 1)]
                         + [cutoff, T0])
    n_id = torch.tensor([0, 1, 2]).repeat_interleave(len(times))
    times = times.repeat(3)
    y, ok = WindowTargets(base, windows, cutoff).raw("customers", n_id, times)
    y_extra, ok_extra = WindowTargets(extra, windows, cutoff).raw("customers", n_id, times)
    torch.testing.assert_close(ok, ok_extra, rtol=0, atol=0)
    torch.testing.assert_close(y[ok], y_extra[ok], rtol=0, atol=0)
    # the windows that would reach past the cutoff are the ones left out
    assert (y != y_extra).any() and not ok[y != y_extra].any()


def test_scale_and_batch_targets(graph):
    windows = fit_count_windows(graph)
    i = graph.node_types.index("customers")
    seeds = np.array([[i, c, T0 + d * DAY] for c in range(3) for d in range(7)])
    targets = WindowTargets(graph, windows, cutoff=T0 + 6 * DAY, seeds=seeds)
    y, ok = targets.raw("customers", torch.tensor(seeds[:, 1]), torch.tensor(seeds[:, 2]))
    z = ((y - targets.mean["customers"]) / targets.std["customers"])
    for j in range(y.shape[1]):
        col = z[ok[:, j], j]
        if not len(col):
            continue  # the 16-day future window never ends by the cutoff
        assert abs(float(col.mean())) < 1e-9
        assert float(col.std(unbiased=False)) == pytest.approx(1.0) or len(col.unique()) == 1
    sampler = TargetingSampler(NeighborSampler(graph, num_neighbors=(2,), temporal=True),
                               targets)
    batch = sampler.sample({"customers": torch.tensor([0, 1])},
                           {"customers": torch.tensor([T0 + 2 * DAY, T0 + 3 * DAY])},
                           torch.Generator().manual_seed(0))
    assert batch["customers"].target.shape == (2, targets.dims["customers"])
    assert batch["customers"].target.dtype == torch.float32
    expected = z[[2, 7 + 3]].float().where(ok[[2, 7 + 3]], torch.zeros(()))
    torch.testing.assert_close(batch["customers"].target, expected)


def test_loss_is_the_mean_squared_error_of_the_valid_targets():
    objective = PredictiveObjective({"a": 2, "b": 1}, channels=3)
    with torch.no_grad():
        for head in objective.heads:
            head.weight.zero_()
            head.bias.zero_()
    batch = HeteroData()
    batch["a"].target = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    batch["a"].target_mask = torch.tensor([[True, False], [True, True]])
    batch["b"].target = torch.tensor([[2.0]])
    batch["b"].target_mask = torch.tensor([[False]])
    z = {"a": torch.zeros(5, 3), "b": torch.zeros(4, 3)}
    loss = objective(z, batch)
    assert float(loss.detach()) == pytest.approx((1 + 9 + 1) / 3)  # b has no valid target


def test_contrastive_loss_weighs_the_predictive_level(graph):
    loss = ContrastiveLoss(graph.node_types, graph.edge_types, 4, objectives=["predictive"],
                           objective_weights={"predictive": 2.0},
                           target_dims={"customers": 15})
    targets = WindowTargets(graph, fit_count_windows(graph), cutoff=T0 + 6 * DAY)
    batch = TargetingSampler(NeighborSampler(graph, num_neighbors=(2,), temporal=True),
                             targets).sample({"customers": torch.tensor([0, 1])},
                                             {"customers": torch.full((2,), T0 + DAY)},
                                             torch.Generator().manual_seed(0))
    z = {nt: torch.randn(batch[nt].num_nodes, 4) for nt in graph.node_types}
    total, levels = loss(z, None, batch)
    assert float(total) == pytest.approx(2.0 * levels["predictive"])
    assert levels["predictive"] > 0


def test_encoder_pretrains_with_the_predictive_level_and_ignores_future_rows():
    cutoff = T0 + 4 * DAY
    params = dict(objectives=("row", "predictive"), hidden_channels=8, max_steps=4,
                  steps_per_epoch=2, batch_size=8, valid_fraction=0.0, random_state=0,
                  cutoff_time=pd.Timestamp(cutoff))
    tables, schema = _tables()
    enc = RelationalContrastiveEncoder(**params).fit(tables, schema)
    later, _ = _tables([("a", cutoff + 1), ("c", cutoff + DAY)])
    enc_later = RelationalContrastiveEncoder(**params).fit(later, schema)
    assert "train_predictive" in enc.history_[-1]
    assert enc.history_[-1]["train_predictive"] > 0
    rows = pd.DataFrame({"cid": ["a", "b", "c"], "at": pd.Timestamp(cutoff)})
    np.testing.assert_array_equal(enc.transform(rows), enc_later.transform(rows))
    assert tables["baskets"].shape == (13, 5)  # the caller's frames are left as they were
