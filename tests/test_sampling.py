from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from torch_frame.data import MultiEmbeddingTensor, MultiNestedTensor

from relcontrast.database import RelationalDatabase
from relcontrast.graph import build_graph
from relcontrast.sampling import (
    NO_TIME_BOUND,
    HGSampler,
    NeighborSampler,
    make_sampler,
    neighbor_index,
)
from relcontrast.testing import make_synthetic_database

DAY = 86_400 * 10**9  # times are nanoseconds
T0 = pd.Timestamp("2020-01-01").value
ORDERS = ("orders", "f2p_uid", "users")  # orders -> the user they reference
ORDER_USER = ("users", "rev_f2p_uid", "orders")  # user -> their orders
ORDER_ITEM = ("items", "rev_f2p_iid", "orders")
ITEM_ORDERS = ("orders", "f2p_iid", "items")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def tiny():
    """users u0, u1 (untimed); items i0, i1 (untimed); orders o0..o5 on days 1..6.

    u0 ordered o0..o3 (days 1-4), u1 ordered o4, o5 (days 5, 6); o0, o4 are item i0, the
    rest item i1.
    """
    users = pd.DataFrame({"uid": ["u0", "u1"], "age": [20.0, 30.0]})
    items = pd.DataFrame({"iid": [100, 200], "price": [1.0, 2.0]})
    orders = pd.DataFrame({
        "oid": np.arange(6),
        "uid": ["u0", "u0", "u0", "u0", "u1", "u1"],
        "iid": [100, 200, 200, 200, 100, 200],
        "ts": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(1, 7), unit="D"),
        "qty": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    schema = {
        "users": {"primary_key": "uid"},
        "items": {"primary_key": "iid"},
        "orders": {"primary_key": "oid", "foreign_keys": {"uid": "users", "iid": "items"},
                   "time_column": "ts"},
    }
    return build_graph(RelationalDatabase({"users": users, "items": items, "orders": orders},
                                          schema))


@pytest.fixture(scope="module")
def synthetic():
    db = RelationalDatabase(*make_synthetic_database())
    return db, build_graph(db)


def _edges(batch, et) -> set[tuple[int, int]]:
    """Sampled edges of ``et`` as (global src, global dst) pairs."""
    src_type, _, dst_type = et
    src, dst = batch[et].edge_index
    return set(zip(batch[src_type].n_id[src].tolist(), batch[dst_type].n_id[dst].tolist(),
                   strict=True))


def _feat_equal(a, b) -> bool:
    if isinstance(a, (MultiNestedTensor, MultiEmbeddingTensor)):
        return torch.equal(a.values, b.values) and torch.equal(a.offset, b.offset)
    return torch.equal(torch.nan_to_num(a.float(), nan=-7.0), torch.nan_to_num(b.float(),
                                                                              nan=-7.0))


def _check_batch_contract(graph, batch):
    """Every node / edge type, tf rows = graph rows, local edge indices in range."""
    assert set(batch.node_types) == set(graph.node_types)
    assert set(batch.edge_types) == set(graph.edge_types)
    for nt in graph.node_types:
        store = batch[nt]
        n = store.n_id.numel()
        assert store.num_nodes == n == store.tf.num_rows == store.ref_time.numel()
        assert store.seed_time.numel() == store.batch_size
        expected = graph.tf_dict[nt][store.n_id]
        assert expected.col_names_dict == store.tf.col_names_dict
        for stype, feat in store.tf.feat_dict.items():
            assert _feat_equal(feat, expected.feat_dict[stype])
        if nt in graph.time_dict:
            assert torch.equal(store.time, graph.time_dict[nt][store.n_id])
    for et in graph.edge_types:
        ei = batch[et].edge_index
        assert ei.dtype == torch.long and ei.dim() == 2 and ei.shape[0] == 2
        if ei.numel():
            assert 0 <= int(ei.min())
            assert int(ei[0].max()) < batch[et[0]].num_nodes
            assert int(ei[1].max()) < batch[et[2]].num_nodes


def _batches_equal(a, b) -> bool:
    return all(torch.equal(a[nt].n_id, b[nt].n_id) for nt in a.node_types) and all(
        torch.equal(a[et].edge_index, b[et].edge_index) for et in a.edge_types)


def _user_seeds(graph, n=12, days=150):
    index = torch.arange(n)
    return index, graph.time_dict["users"][index] + days * DAY


# -- NeighborSampler, exact on the tiny graph -----------------------------------------------
def test_neighbor_takes_all_eligible_when_fanout_large(tiny):
    sampler = NeighborSampler(tiny, num_neighbors=(10, 10))
    batch = sampler.sample_table("users", torch.tensor([0]), torch.tensor([T0 + 3 * DAY]), _gen())
    _check_batch_contract(tiny, batch)
    assert sorted(batch["orders"].n_id.tolist()) == [0, 1, 2]  # days 1-3, not day 4
    assert _edges(batch, ORDERS) == {(0, 0), (1, 0), (2, 0)}
    # Hop 2: each order's user (the seed itself, not added twice) and item.
    assert batch["users"].n_id.tolist() == [0]
    assert _edges(batch, ORDER_USER) == {(0, 0), (0, 1), (0, 2)}
    assert sorted(batch["items"].n_id.tolist()) == [0, 1]
    assert _edges(batch, ORDER_ITEM) == {(0, 0), (1, 1), (1, 2)}
    assert batch["users"].batch_size == 1 and batch["orders"].batch_size == 0
    assert batch["users"].seed_time.tolist() == [T0 + 3 * DAY]
    assert (batch["orders"].ref_time == T0 + 3 * DAY).all()
    assert batch[ITEM_ORDERS].edge_index.shape == (2, 0)  # items were never a frontier


@pytest.mark.parametrize("temporal", [True, False])
def test_neighbor_non_temporal_takes_everything(tiny, temporal):
    sampler = NeighborSampler(tiny, num_neighbors=(-1,), temporal=temporal)
    batch = sampler.sample_table("users", torch.tensor([0]), torch.tensor([T0 + 3 * DAY]), _gen())
    expected = [0, 1, 2] if temporal else [0, 1, 2, 3]
    assert sorted(batch["orders"].n_id.tolist()) == expected
    assert batch["orders"].ref_time.tolist() == [T0 + 3 * DAY] * len(expected)
    none = sampler.sample_table("users", torch.tensor([0]), None, _gen())
    assert sorted(none["orders"].n_id.tolist()) == [0, 1, 2, 3]
    assert (none["orders"].ref_time == NO_TIME_BOUND).all()
    assert none["users"].seed_time.tolist() == [NO_TIME_BOUND]


def test_neighbor_last_takes_most_recent(tiny):
    sampler = NeighborSampler(tiny, num_neighbors=(2,), strategy="last")
    batch = sampler.sample_table("users", torch.tensor([0, 1]),
                           torch.tensor([T0 + 3 * DAY, T0 + 10 * DAY]), None)
    by_seed = {s: sorted(batch["orders"].n_id[batch["orders"].batch == s].tolist())
               for s in (0, 1)}
    assert by_seed == {0: [1, 2], 1: [4, 5]}


def test_neighbor_uniform_subsets(tiny):
    sampler = NeighborSampler(tiny, num_neighbors=(2,))
    seen = set()
    for seed in range(40):
        batch = sampler.sample_table("users", torch.tensor([0]), torch.tensor([T0 + 3 * DAY]),
                               _gen(seed))
        ids = tuple(sorted(batch["orders"].n_id.tolist()))
        assert len(ids) == 2 and set(ids) <= {0, 1, 2}
        seen.add(ids)
    assert seen == {(0, 1), (0, 2), (1, 2)}


def test_neighbor_disjoint_trees(tiny):
    sampler = NeighborSampler(tiny, num_neighbors=(-1, -1))
    batch = sampler.sample_table("users", torch.tensor([0, 0]),
                           torch.tensor([T0 + 2 * DAY, T0 + 4 * DAY]), _gen())
    orders = batch["orders"]
    assert orders.batch.tolist().count(0) == 2 and orders.batch.tolist().count(1) == 4
    assert batch["users"].n_id.tolist() == [0, 0]  # one copy per seed tree
    assert torch.equal(orders.ref_time, torch.tensor([T0 + 2 * DAY, T0 + 4 * DAY])[orders.batch])
    # Every edge stays within its seed tree.
    for et in tiny.edge_types:
        src, dst = batch[et].edge_index
        assert torch.equal(batch[et[0]].batch[src], batch[et[2]].batch[dst])


# -- NeighborSampler on the synthetic database ---------------------------------------------
@pytest.mark.parametrize("strategy", ["uniform", "last"])
@pytest.mark.parametrize("temporal", [True, False])
def test_neighbor_sampler_invariants(synthetic, strategy, temporal):
    db, graph = synthetic
    sampler = NeighborSampler(graph, num_neighbors=(3, 2), strategy=strategy,
                              temporal=temporal)
    index, seed_time = _user_seeds(graph)
    batch = sampler.sample_table("users", index, seed_time, _gen(1))
    _check_batch_contract(graph, batch)
    assert batch["users"].batch_size == 12
    assert torch.equal(batch["users"].n_id[:12], index)
    assert torch.equal(batch["users"].seed_time, seed_time)
    for nt in graph.node_types:
        store = batch[nt]
        assert torch.equal(store.ref_time, seed_time[store.batch])
        if temporal and nt in graph.time_dict:  # seeds too: their times precede seed_time
            assert (store.time <= store.ref_time).all()
    for et in graph.edge_types:  # fan-out: at most max(num_neighbors) in-edges per node
        dst = batch[et].edge_index[1]
        if dst.numel():
            assert int(torch.bincount(dst).max()) <= 3
    for nt in graph.node_types:  # within a seed tree, no node twice
        key = batch[nt].batch * graph.num_nodes[nt] + batch[nt].n_id
        assert torch.unique(key).numel() == key.numel()
    again = sampler.sample_table("users", index, seed_time, _gen(1))
    assert _batches_equal(batch, again)
    if strategy == "uniform":
        other = sampler.sample_table("users", index, seed_time, _gen(2))
        assert not _batches_equal(batch, other)


@pytest.mark.parametrize("strategy", ["uniform", "last"])
def test_neighbor_first_hop_matches_brute_force(synthetic, strategy):
    db, graph = synthetic
    orders = db.frame("orders")
    user_index = db.keys("users")
    order_user = user_index.get_indexer(orders["user_id"])
    order_time = graph.time_dict["orders"].numpy()
    index, seed_time = _user_seeds(graph, n=20, days=120)
    for k in (1000, 2):
        sampler = NeighborSampler(graph, num_neighbors=(k,), strategy=strategy)
        batch = sampler.sample_table("users", index, seed_time, _gen(3))
        got = batch["orders"]
        for s in range(20):
            mask = (order_user == int(index[s])) & (order_time <= int(seed_time[s]))
            eligible = np.flatnonzero(mask)
            sampled = sorted(got.n_id[got.batch == s].tolist())
            if k >= len(eligible):
                assert sampled == eligible.tolist()
            else:
                assert len(sampled) == k and set(sampled) <= set(eligible.tolist())
                if strategy == "last":  # latest by (time, row)
                    order = np.lexsort((eligible, order_time[eligible]))
                    assert sampled == sorted(eligible[order][-k:].tolist())


def test_neighbor_large_degree_path_is_uniform_without_replacement():
    # One user with 200 orders: fan-out 5 takes the draw-and-deduplicate path.
    n = 200
    users = pd.DataFrame({"uid": [1]})
    orders = pd.DataFrame({"oid": np.arange(n), "uid": 1, "x": np.arange(n, dtype=float),
                           "ts": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n),
                                                                               unit="h")})
    graph = build_graph(RelationalDatabase(
        {"users": users, "orders": orders},
        {"users": {"primary_key": "uid"},
         "orders": {"primary_key": "oid", "foreign_keys": {"uid": "users"},
                    "time_column": "ts"}}))
    sampler = NeighborSampler(graph, num_neighbors=(5,))
    counts = torch.zeros(n)
    bound = torch.tensor([int(graph.time_dict["orders"][149])])  # 150 eligible orders
    for seed in range(200):
        ids = sampler.sample_table("users", torch.tensor([0]), bound, _gen(seed))["orders"].n_id
        assert ids.numel() == 5 and torch.unique(ids).numel() == 5
        assert int(ids.max()) < 150
        counts[ids] += 1
    assert counts[:150].min() > 0  # every eligible order is reachable


def test_neighbor_sampler_errors(synthetic):
    _, graph = synthetic
    with pytest.raises(ValueError, match="strategy must be one of"):
        NeighborSampler(graph, strategy="recent")
    with pytest.raises(ValueError, match="num_neighbors must be a sequence"):
        NeighborSampler(graph, num_neighbors=8)
    with pytest.raises(TypeError, match="graph must be a RelationalGraph"):
        NeighborSampler({"users": 1})
    sampler = NeighborSampler(graph)
    with pytest.raises(ValueError, match="Unknown seed table 'user'"):
        sampler.sample_table("user", torch.tensor([0]), None, _gen())
    with pytest.raises(ValueError, match="out of range for table 'users' with 60 rows"):
        sampler.sample_table("users", torch.tensor([60]), None, _gen())
    with pytest.raises(ValueError, match="Seed times of table 'users'"):
        sampler.sample_table("users", torch.tensor([0, 1]), torch.tensor([5]), _gen())
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        sampler.sample_table("users", torch.tensor([0]), None, 0)


def test_neighbor_sampler_takes_seeds_per_table_like_hgsampler(synthetic):
    """One interface for both samplers: ``sample({table: seeds}, {table: times}, gen)``.
    One table is ``sample_table``; several are drawn together, seed ids numbered table by
    table in the graph's order, the seeds of each table first among its nodes: the same
    nodes and edges as sampling each table on its own."""
    db, graph = synthetic
    sampler = NeighborSampler(graph, num_neighbors=(3, 2))
    users, orders = torch.tensor([3, 1, 3]), torch.tensor([7, 0])
    t_users = graph.time_dict["users"][users] + 30 * DAY
    t_orders = graph.time_dict["orders"][orders] + DAY
    one = sampler.sample({"users": users}, {"users": t_users}, _gen(5))
    assert _batches_equal(one, sampler.sample_table("users", users, t_users, _gen(5)))
    both = sampler.sample({"orders": orders, "users": users},  # dict order does not matter
                          {"users": t_users, "orders": t_orders}, _gen(5))
    parts = [sampler.sample_table(nt, idx, t, _gen(5)) for nt, idx, t in sorted(
        [("users", users, t_users), ("orders", orders, t_orders)],
        key=lambda p: graph.node_types.index(p[0]))]
    offsets = [0, sum(parts[0][nt].batch_size for nt in graph.node_types)]

    def nodes(batch, nt, offset=0):  # (row, seed id) of every node, in batch order
        return list(zip(batch[nt].n_id.tolist(), (batch[nt].batch + offset).tolist(),
                        strict=True))

    for nt in graph.node_types:
        assert sorted(nodes(both, nt)) == sorted(
            n for part, off in zip(parts, offsets, strict=True) for n in nodes(part, nt, off))
    def links(batch, et, offset=0):  # (source node, destination node) of every edge
        s, d = nodes(batch, et[0], offset), nodes(batch, et[2], offset)
        return sorted((s[i], d[j]) for i, j in batch[et].edge_index.t().tolist())

    for et in graph.edge_types:
        assert links(both, et) == sorted(
            e for part, off in zip(parts, offsets, strict=True) for e in links(part, et, off))
    assert both["users"].batch_size == 3 and both["orders"].batch_size == 2
    assert torch.equal(both["users"].n_id[:3], users)
    assert torch.equal(both["orders"].n_id[:2], orders)
    with pytest.raises(ValueError, match="seeds must be a non-empty dict"):
        sampler.sample({}, None, _gen())
    with pytest.raises(ValueError, match="seed_time must be None or a dict with the same"):
        sampler.sample({"users": users}, {"orders": t_orders}, _gen())


# -- HGSampler, exact on the tiny graph ------------------------------------------------------
def test_hg_exact_layers_and_bounds(tiny):
    sampler = HGSampler(tiny, num_samples=10, num_layers=1)
    seeds = {"users": torch.tensor([0, 1])}
    times = {"users": torch.tensor([T0 + 3 * DAY, T0 + 6 * DAY])}
    one = sampler.sample(seeds, times, _gen())
    _check_batch_contract(tiny, one)
    assert sorted(one["orders"].n_id.tolist()) == [0, 1, 2, 4, 5]  # o3 (day 4) too late
    assert one["items"].num_nodes == 0  # two hops away

    batch = HGSampler(tiny, num_samples=10, num_layers=2).sample(seeds, times, _gen())
    _check_batch_contract(tiny, batch)
    bound = {nt: dict(zip(batch[nt].n_id.tolist(), batch[nt].ref_time.tolist(), strict=True))
             for nt in tiny.node_types}
    assert bound["users"] == {0: T0 + 3 * DAY, 1: T0 + 6 * DAY}
    assert bound["orders"] == {0: T0 + 3 * DAY, 1: T0 + 3 * DAY, 2: T0 + 3 * DAY,
                               4: T0 + 6 * DAY, 5: T0 + 6 * DAY}
    # i0 is reached from o0 (bound day 3) and o4 (day 6): the tighter bound wins.
    assert bound["items"] == {0: T0 + 3 * DAY, 1: T0 + 3 * DAY}
    # Induced edges, kept only where bound(src) <= bound(dst).
    assert _edges(batch, ITEM_ORDERS) == {(0, 0), (1, 1), (2, 1)}  # not o4 -> i0, o5 -> i1
    assert _edges(batch, ORDER_ITEM) == {(0, 0), (1, 1), (1, 2), (0, 4), (1, 5)}
    assert _edges(batch, ORDERS) == {(0, 0), (1, 0), (2, 0), (4, 1), (5, 1)}
    assert _edges(batch, ORDER_USER) == {(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)}
    assert batch["users"].batch_size == 2 and batch["orders"].batch_size == 0
    assert batch["users"].seed_time.tolist() == times["users"].tolist()


def test_hg_non_temporal_induces_all_edges(tiny):
    batch = HGSampler(tiny, num_samples=10, num_layers=2).sample(
        {"users": torch.tensor([0, 1])}, None, _gen())
    assert batch["orders"].num_nodes == 6
    assert (batch["orders"].ref_time == NO_TIME_BOUND).all()
    assert _edges(batch, ITEM_ORDERS) == {(0, 0), (1, 1), (2, 1), (3, 1), (4, 0), (5, 1)}


# -- HGSampler on the synthetic database ---------------------------------------------------
def _all_seeds(graph, per_table=2, generator=None):
    generator = generator or _gen(5)
    seeds, times = {}, {}
    for nt in graph.node_types:
        seeds[nt] = torch.randperm(graph.num_nodes[nt], generator=generator)[:per_table]
        if nt in graph.time_dict:
            times[nt] = graph.time_dict[nt][seeds[nt]] + 30 * DAY
        else:
            times[nt] = torch.full((per_table,), T0 + 365 * DAY)
    return seeds, times


@pytest.mark.parametrize("temporal", [True, False])
def test_hg_invariants(synthetic, temporal):
    _, graph = synthetic
    sampler = HGSampler(graph, num_samples=4, num_layers=2, temporal=temporal)
    seeds, times = _all_seeds(graph)
    batch = sampler.sample(seeds, times, _gen(7))
    _check_batch_contract(graph, batch)
    for nt in graph.node_types:
        store = batch[nt]
        assert store.batch_size == 2
        assert torch.equal(store.n_id[:2], seeds[nt])
        assert torch.equal(store.seed_time, times[nt])
        assert torch.unique(store.n_id).numel() == store.num_nodes
        # Balanced: at most num_samples per layer besides the seeds; large tables fill up.
        assert store.num_nodes <= 2 + 2 * 4
        if graph.num_nodes[nt] >= 40 and not temporal:
            assert store.num_nodes == 2 + 2 * 4
        if temporal:
            assert torch.equal(store.ref_time[:2], times[nt])
            if nt in graph.time_dict:
                assert (store.time <= store.ref_time).all()
        else:
            assert (store.ref_time == NO_TIME_BOUND).all()
    for et in graph.edge_types:
        src, dst = batch[et].edge_index
        if temporal:
            assert (batch[et[0]].ref_time[src] <= batch[et[2]].ref_time[dst]).all()
        else:  # the induced subgraph has every edge among the sampled nodes
            full = neighbor_index(graph)[et].edge_index()
            inside = (torch.isin(full[0], batch[et[0]].n_id)
                      & torch.isin(full[1], batch[et[2]].n_id))
            assert _edges(batch, et) == set(zip(*full[:, inside].tolist(), strict=True))
    assert _batches_equal(batch, sampler.sample(seeds, times, _gen(7)))
    assert not _batches_equal(batch, sampler.sample(seeds, times, _gen(8)))


def test_hg_single_seed_nothing_later_than_seed(synthetic):
    _, graph = synthetic
    sampler = HGSampler(graph, num_samples=8, num_layers=3)
    for i in range(5):
        t = int(graph.time_dict["orders"][100 + 40 * i])
        batch = sampler.sample({"orders": torch.tensor([100 + 40 * i])},
                               {"orders": torch.tensor([t])}, _gen(i))
        total = 0
        for nt in graph.node_types:
            store = batch[nt]
            total += store.num_nodes
            assert (store.ref_time <= t).all()
            if nt in graph.time_dict:
                assert (store.time <= t).all()
        assert total > 1


def test_hg_logs_counts(synthetic, caplog):
    _, graph = synthetic
    with caplog.at_level(logging.DEBUG, logger="relcontrast.sampling"):
        HGSampler(graph, num_samples=3, num_layers=1).sample(
            {"users": torch.tensor([0])}, None, _gen())
    assert "HGSampling" in caplog.text and "'users': " in caplog.text


def test_hg_sampler_errors(synthetic):
    _, graph = synthetic
    sampler = HGSampler(graph)
    with pytest.raises(ValueError, match="repeated node indices"):
        sampler.sample({"users": torch.tensor([1, 1])}, None, _gen())
    with pytest.raises(ValueError, match="Unknown seed table 'user'"):
        sampler.sample({"user": torch.tensor([1])}, None, _gen())
    with pytest.raises(ValueError, match="same tables as seeds"):
        sampler.sample({"users": torch.tensor([1])}, {"orders": torch.tensor([1])}, _gen())
    with pytest.raises(ValueError, match="non-empty dict"):
        sampler.sample({}, None, _gen())
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        sampler.sample({"users": torch.tensor([1])}, None, None)
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        HGSampler(graph, num_samples=0)


def test_samplers_pickle(synthetic):
    import pickle

    _, graph = synthetic
    index, seed_time = _user_seeds(graph)
    args = ({"users": index}, {"users": seed_time})
    for sampler in (NeighborSampler(graph, num_neighbors=(3, 2)),
                    HGSampler(graph, num_samples=4, num_layers=2)):
        restored = pickle.loads(pickle.dumps(sampler))
        assert repr(restored) == repr(sampler)
        assert _batches_equal(sampler.sample(*args, _gen(4)), restored.sample(*args, _gen(4)))


def test_make_sampler_builds_each_estimator_sampler(tiny):
    from relcontrast.sampling.counts import CountingSampler, fit_count_windows

    neighbor = make_sampler(tiny, num_neighbors=[2, 1], strategy="uniform")
    assert isinstance(neighbor, NeighborSampler) and neighbor.num_neighbors == (2, 1)
    hg = make_sampler(tiny, num_neighbors=(2,), sampler="hgsampling", num_samples=3,
                      num_layers=2, temporal=False)
    assert isinstance(hg, HGSampler) and (hg.num_samples, hg.num_layers) == (3, 2)
    counting = make_sampler(tiny, num_neighbors=(2,), count_windows=fit_count_windows(tiny))
    assert isinstance(counting, CountingSampler)
    assert isinstance(counting.sampler, NeighborSampler)
