"""RelationalAggregator: exact values on a hand-built database, time correctness at nanosecond
resolution, leakage and row-order invariance on the synthetic database, and the scikit-learn
estimator contract."""

from __future__ import annotations

import doctest

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline, make_union

import relcontrast.aggregate
from relcontrast import (
    RelationalAggregator,
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
)
from relcontrast.testing import make_synthetic_database

NS = pd.Timedelta(1, "ns")
T = pd.Timestamp("2020-03-01")  # the main cutoff; order 4 is dated exactly at it


# -- a tiny database whose aggregates are worked out by hand ----------------------------------
def tiny_tables():
    users = pd.DataFrame({"user_id": ["a", "b", "c"]})
    items = pd.DataFrame({"item_id": [10, 20], "price": [5.25, 7.5],
                          "added": pd.to_datetime(["2019-12-01", "2020-02-15"])})
    orders = pd.DataFrame({
        "order_id": [1, 2, 3, 4, 5],
        "user_id": ["a", "a", "a", "a", "b"],
        "item_id": [10, 20, 10, 10, 20],
        "ts": [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-10"),
               pd.Timestamp("2020-02-01"), T, T + NS],
        "amount": [1.5, 2.5, np.nan, 8.0, 16.0],
        "qty": [1, 2, 1, 1, 3],
        "kind": ["web", "shop", "web", "web", "shop"],
    })
    returns = pd.DataFrame({"order_id": [1, 4, 2], "fee": [0.5, 2.25, 1.75],
                            "ts": [pd.Timestamp("2020-01-05"), T + 2 * NS,
                                   pd.Timestamp("2020-01-20")]})
    tables = {"users": users, "items": items, "orders": orders, "returns": returns}
    schema = {
        "users": {"primary_key": "user_id"},
        "items": {"primary_key": "item_id", "time_column": "added"},
        "orders": {"primary_key": "order_id",
                   "foreign_keys": {"user_id": "users", "item_id": "items"},
                   "time_column": "ts"},
        "returns": {"foreign_keys": {"order_id": "orders"}, "time_column": "ts"},
    }
    return tables, schema


TINY_X = pd.DataFrame({
    "user_id": ["a", "b", "c", "b", "a", "a"],
    "cutoff": [T, T, T, T + NS, pd.Timestamp("2020-02-01"), T - NS],
}, index=[f"r{i}" for i in range(6)])
# 2020-01-10 + 51 days = 2020-03-01: order 2 sits exactly on r0's window start (excluded)
TINY_WINDOWS = ("all", "51D", 2)

CH, PA, GC = "orders.user_id", "orders.user_id>items(item_id)", "orders.user_id>returns.order_id"
nan = np.nan
EXPECTED = {
    # a at T: orders 1-4 (order 4 exactly at the cutoff counts); amount of order 3 is null
    "r0": {
        f"{CH}|all|count": 4, f"{CH}|all|amount|mean": 4.0, f"{CH}|all|amount|min": 1.5,
        f"{CH}|all|amount|max": 8.0, f"{CH}|all|amount|last": 8.0, f"{CH}|all|qty|mean": 1.25,
        f"{CH}|all|qty|last": 1.0, f"{CH}|all|qty=1|share": 0.75, f"{CH}|all|qty=2|share": 0.25,
        f"{CH}|all|kind=web|share": 0.75, f"{CH}|all|kind=shop|share": 0.25,
        f"{CH}|51D|count": 2, f"{CH}|51D|amount|mean": 8.0, f"{CH}|51D|amount|min": 8.0,
        f"{CH}|51D|kind=web|share": 1.0, f"{CH}|51D|qty|max": 1.0,
        f"{CH}|last2|count": 2, f"{CH}|last2|amount|mean": 8.0, f"{CH}|last2|qty=2|share": 0.0,
        # recency: Jan 1 -> Mar 1 2020 is 60 days; the last gap is Feb 1 -> Mar 1
        f"{CH}|all|days_since_last": 0.0, f"{CH}|all|days_since_first": 60.0,
        f"{CH}|all|mean_gap_days": 20.0, f"{CH}|all|last_gap_days": 29.0,
        f"{PA}|all|count": 4, f"{PA}|all|price|mean": 5.8125, f"{PA}|all|price|max": 7.5,
        f"{PA}|all|price|last": 5.25, f"{PA}|51D|count": 2, f"{PA}|last2|price|mean": 5.25,
        # returns 1 and 3; return 2 is dated 2 ns after the cutoff
        f"{GC}|all|count": 2, f"{GC}|all|fee|mean": 1.125, f"{GC}|all|fee|last": 1.75,
        f"{GC}|51D|count": 1, f"{GC}|51D|fee|min": 1.75, f"{GC}|last2|count": 2,
        f"{GC}|all|days_since_last": 41.0, f"{GC}|all|days_since_first": 56.0,
        f"{GC}|all|mean_gap_days": 15.0, f"{GC}|all|last_gap_days": 15.0,
    },
    # b at T: its only order is 1 ns later
    "r1": {f"{CH}|all|count": 0, f"{CH}|all|amount|mean": nan, f"{CH}|all|kind=shop|share": nan,
           f"{CH}|last2|count": 0, f"{CH}|last2|amount|mean": nan, f"{PA}|all|count": 0,
           f"{PA}|all|price|mean": nan, f"{GC}|51D|count": 0,
           f"{CH}|all|days_since_last": nan, f"{CH}|all|mean_gap_days": nan},
    "r2": {f"{CH}|all|count": 0, f"{CH}|51D|amount|max": nan, f"{PA}|last2|price|last": nan},
    # b 1 ns later: now its order counts
    "r3": {f"{CH}|all|count": 1, f"{CH}|all|amount|last": 16.0, f"{CH}|all|qty|mean": 3.0,
           f"{CH}|all|qty=1|share": 0.0, f"{CH}|all|kind=shop|share": 1.0,
           f"{CH}|last2|count": 1, f"{PA}|all|count": 1, f"{PA}|all|price|mean": 7.5,
           f"{CH}|all|days_since_last": 0.0, f"{CH}|all|days_since_first": 0.0,
           f"{CH}|all|mean_gap_days": nan, f"{CH}|all|last_gap_days": nan},
    # a at 2020-02-01: item 20 (order 2) was added on 02-15, after the cutoff
    "r4": {f"{CH}|all|count": 3, f"{CH}|all|amount|mean": 2.0, f"{CH}|all|amount|last": nan,
           f"{CH}|all|qty|last": 1.0, f"{CH}|51D|count": 3, f"{CH}|last2|amount|mean": 2.5,
           f"{PA}|all|count": 2, f"{PA}|all|price|mean": 5.25, f"{PA}|all|price|last": 5.25,
           f"{PA}|last2|count": 1, f"{PA}|last2|price|mean": 5.25, f"{GC}|all|count": 2,
           f"{CH}|all|days_since_last": 0.0, f"{CH}|all|days_since_first": 31.0,
           f"{CH}|all|mean_gap_days": 15.5, f"{CH}|all|last_gap_days": 22.0},
    # a 1 ns before T: order 4 is not counted, order 2 is inside the 51-day window
    "r5": {f"{CH}|all|count": 3, f"{CH}|all|amount|last": nan, f"{CH}|51D|count": 2,
           f"{CH}|51D|amount|mean": 2.5, f"{CH}|last2|amount|max": 2.5,
           f"{CH}|all|days_since_first": 60.0 - 1 / 86_400e9,
           f"{CH}|all|mean_gap_days": 15.5, f"{CH}|all|last_gap_days": 22.0},
}


@pytest.fixture(scope="module")
def tiny_db():
    return RelationalDatabase(*tiny_tables())


@pytest.fixture(scope="module")
def tiny_Z(tiny_db):
    agg = RelationalAggregator(database=tiny_db, windows=TINY_WINDOWS, max_categories=2)
    return agg.fit_transform(TINY_X)


def test_exact_values_on_a_hand_built_database(tiny_Z):
    for row, expected in EXPECTED.items():
        got = tiny_Z.loc[row, list(expected)].to_numpy(dtype=float)
        np.testing.assert_allclose(got, list(expected.values()), rtol=0, atol=1e-12,
                                   err_msg=row)


RECENCY = ["days_since_last", "days_since_first", "mean_gap_days", "last_gap_days"]


def test_feature_names_follow_the_documented_scheme(tiny_db, tiny_Z):
    """Recency in "all"; ``last`` of a last{k} window repeats all's (the same latest row) and
    is left out, except on parent paths (the latest row whose parent exists by the cutoff
    may lie outside the k)."""
    def numeric(columns, window, parent=False):
        aggs = ("mean", "min", "max") if window == "last2" and not parent else (
            "mean", "min", "max", "last")
        return [f"{c}|{a}" for c in columns for a in aggs]

    shares = ["qty=1|share", "qty=2|share", "kind=web|share", "kind=shop|share"]
    per_window = {
        CH: {w: ["count", *(RECENCY if w == "all" else []), *numeric(("amount", "qty"), w),
                 *shares] for w in ("all", "51D", "last2")},
        PA: {w: ["count", *numeric(("price",), w, parent=True)]
             for w in ("all", "51D", "last2")},
        GC: {w: ["count", *(RECENCY if w == "all" else []), *numeric(("fee",), w)]
             for w in ("all", "51D", "last2")},
    }
    expected = [f"{path}|{w}|{s}" for path, windows in per_window.items()
                for w, suffixes in windows.items() for s in suffixes]
    assert list(tiny_Z.columns) == expected
    assert list(tiny_Z.index) == list(TINY_X.index)
    assert (tiny_Z.dtypes == np.float64).all()
    agg = RelationalAggregator(database=tiny_db, windows=TINY_WINDOWS, max_categories=2)
    agg.fit(TINY_X)
    assert agg.paths_ == (CH, PA, GC) and agg.windows_ == ("all", "51D", "last2")
    np.testing.assert_array_equal(agg.get_feature_names_out(), expected)


def test_max_hops_one_and_no_categories(tiny_db, tiny_Z):
    agg = RelationalAggregator(database=tiny_db, windows=TINY_WINDOWS, max_hops=1,
                               max_categories=0).fit(TINY_X)
    assert agg.paths_ == (CH,)
    Z = agg.transform(TINY_X)
    assert not any("share" in c for c in Z.columns) and len(Z.columns) == 13 + 9 + 7
    pd.testing.assert_frame_equal(Z, tiny_Z[Z.columns])


def test_categories_are_the_frequent_values_up_to_the_fit_cutoff(tiny_db):
    agg = RelationalAggregator(database=tiny_db, windows=("all",), max_categories=3)
    early = list(agg.fit(TINY_X.iloc[[4]]).get_feature_names_out())
    assert agg.cutoff_time_ == pd.Timestamp("2020-02-01")
    assert f"{CH}|all|qty=2|share" in early
    # qty 3 appears only in order 5, dated after 2020-02-01
    late = list(clone(agg).fit(TINY_X).get_feature_names_out())
    assert f"{CH}|all|qty=3|share" in late and f"{CH}|all|qty=3|share" not in early


def test_recency_at_nanosecond_resolution(tiny_Z):
    # r5 is 1 ns before T: its latest order (Feb 1) lies 29 days minus 1 ns back
    since = tiny_Z.loc["r5", f"{CH}|all|days_since_last"]
    assert since < 29.0 and since == pytest.approx(29.0 - 1 / 86_400e9, rel=0, abs=1e-14)
    # b's only order is dated 1 ns after T: 0 days for r3 (at T + 1 ns), unseen by r1 (at T)
    assert tiny_Z.loc["r3", f"{CH}|all|days_since_last"] == 0.0
    assert np.isnan(tiny_Z.loc["r1", f"{CH}|all|days_since_first"])


def test_a_row_after_the_cutoff_changes_no_recency():
    tables, schema = tiny_tables()
    late = pd.DataFrame({"order_id": [6], "user_id": ["a"], "item_id": [20], "ts": [T + NS],
                         "amount": [1.0], "qty": [1], "kind": ["web"]})
    tables["orders"] = pd.concat([late, tables["orders"]], ignore_index=True)
    tables["returns"] = pd.concat([pd.DataFrame({"order_id": [4], "fee": [9.0],
                                                 "ts": [T + NS]}), tables["returns"]],
                                  ignore_index=True)
    X = TINY_X.loc[["r0", "r4", "r5"]]
    before = RelationalAggregator(database=RelationalDatabase(*tiny_tables()),
                                  windows=TINY_WINDOWS).fit(X)
    after = RelationalAggregator(database=RelationalDatabase(tables, schema),
                                 windows=TINY_WINDOWS).fit(X)
    pd.testing.assert_frame_equal(after.transform(X), before.transform(X), check_exact=True)
    # one nanosecond later the new order is the latest: 0 days since it, a 1 ns last gap
    Z = after.transform(X.assign(cutoff=T + NS).iloc[:1])
    assert Z[f"{CH}|all|days_since_last"].iloc[0] == 0.0
    assert Z[f"{CH}|all|last_gap_days"].iloc[0] == 1 / 86_400e9


def test_recency_can_be_switched_off(tiny_db, tiny_Z):
    agg = RelationalAggregator(database=tiny_db, windows=TINY_WINDOWS, max_categories=2,
                               recency=False)
    Z = agg.fit_transform(TINY_X)
    assert not any(c.endswith("_days") or "days_since" in c for c in Z.columns)
    pd.testing.assert_frame_equal(Z, tiny_Z[Z.columns], check_exact=True)
    assert len(Z.columns) == len(tiny_Z.columns) - 8


def weekly_tables(after=None):
    """Three users with 30 events a week apart; with ``after``, daily events from then on."""
    start = pd.Timestamp("2020-01-01")
    times = [start + pd.Timedelta(days=7 * k + u) for u in range(3) for k in range(30)]
    users = [u for u in range(3) for _ in range(30)]
    if after is not None:
        times += [after + pd.Timedelta(days=d) + NS for u in range(3) for d in range(200)]
        users += [u for u in range(3) for _ in range(200)]
    events = pd.DataFrame({"uid": users, "ts": times, "v": np.arange(len(users), dtype=float)})
    return ({"users": pd.DataFrame({"uid": [0, 1, 2]}), "events": events},
            {"users": {"primary_key": "uid"},
             "events": {"foreign_keys": {"uid": "users"}, "time_column": "ts"}})


def test_auto_windows_follow_the_event_rate_up_to_the_fit_cutoff():
    cutoff = pd.Timestamp("2020-08-01")
    X = pd.DataFrame({"uid": [0, 1, 2], "t": [cutoff] * 3})
    agg = RelationalAggregator(database=RelationalDatabase(*weekly_tables()), windows="auto")
    agg.fit(X)
    # a gap of 7 days: 1, 4 and 16 rows are 7, 28 (-> 30) and 112 (-> 90) days
    assert agg.windows_ == ("all", "7D", "30D", "90D", "last3")
    assert "events.uid|30D|v|mean" in agg.get_feature_names_out()
    # daily rows after the fit cutoff do not change the windows
    busy = RelationalDatabase(*weekly_tables(after=cutoff))
    assert clone(agg).set_params(database=busy).fit(X).windows_ == agg.windows_
    # ... but fitted on rows that see them, they do (the test can fail): 230 rows over
    # about 412 days, a gap of 1.8 days
    later = X.assign(t=cutoff + pd.Timedelta("300D"))
    assert clone(agg).set_params(database=busy).fit(later).windows_[:2] == ("all", "2D")


def test_auto_windows_without_timed_rows():
    users = pd.DataFrame({"uid": [1, 2]})
    events = pd.DataFrame({"uid": [1, 1, 2], "v": [3.0, 1.0, 5.0]})
    db = RelationalDatabase({"users": users, "events": events},
                            {"users": {"primary_key": "uid"},
                             "events": {"foreign_keys": {"uid": "users"}}})
    agg = RelationalAggregator(database=db, windows="auto").fit(pd.DataFrame({"uid": [1, 2]}))
    assert agg.windows_ == ("all", "last3")


def test_ties_in_time_do_not_depend_on_row_order():
    tables, schema = tiny_tables()
    orders = tables["orders"].copy()
    orders.loc[1, "ts"] = orders.loc[2, "ts"]  # orders 2 and 3 at the same time
    X = TINY_X.iloc[[4]]
    got = []
    for perm in ([0, 1, 2, 3, 4], [2, 1, 0, 4, 3], [4, 3, 2, 1, 0]):
        db = RelationalDatabase({**tables, "orders": orders.iloc[perm]}, schema)
        agg = RelationalAggregator(database=db, windows=(1,), max_hops=1)
        got.append(agg.fit_transform(X))
    for Z in got[1:]:
        pd.testing.assert_frame_equal(Z, got[0], check_exact=True)
    assert got[0][f"{CH}|last1|count"].iloc[0] == 1


def test_untimed_tables_count_in_every_window_and_order_by_position():
    users = pd.DataFrame({"uid": [1, 2]})
    events = pd.DataFrame({"uid": [1, 1, 1, 2], "v": [3.0, 1.0, 2.0, 5.0]})
    db = RelationalDatabase({"users": users, "events": events},
                            {"users": {"primary_key": "uid"},
                             "events": {"foreign_keys": {"uid": "users"}}})
    X = pd.DataFrame({"uid": [1, 2]})
    Z = RelationalAggregator(database=db, windows=("all", "1D", 2)).fit_transform(X)
    assert Z["events.uid|all|count"].tolist() == [3, 1]
    assert Z["events.uid|last2|v|mean"].tolist() == [1.5, 5.0]  # the last two by position
    assert Z["events.uid|all|v|last"].tolist() == [2.0, 5.0]
    # "1D" would repeat "all", and untimed rows have no recency
    assert not any("|1D|" in c or "days" in c for c in Z.columns)
    Z = RelationalAggregator(database=db, windows=("1D", 2)).fit_transform(X)
    assert Z["events.uid|1D|count"].tolist() == [3, 1]  # without "all": every row
    assert Z["events.uid|last2|v|last"].tolist() == [2.0, 5.0]  # without "all": here


def test_quoted_names_with_spaces_unicode_and_quotes(tiny_Z):
    tables, schema = tiny_tables()
    rename = {"user_id": "user id", "amount": 'Betrag "€"', "kind": "select"}
    orders = tables["orders"].rename(columns=rename)
    weird_tables = {"Kunden ü": tables["users"].rename(columns=rename), "items": tables["items"],
                    "Bestell-Posten": orders, "returns": tables["returns"]}
    weird_schema = {
        "Kunden ü": {"primary_key": "user id"}, "items": schema["items"],
        "Bestell-Posten": {"primary_key": "order_id",
                           "foreign_keys": {"user id": "Kunden ü", "item_id": "items"},
                           "time_column": "ts"},
        "returns": {"foreign_keys": {"order_id": "Bestell-Posten"}, "time_column": "ts"},
    }
    db = RelationalDatabase(weird_tables, weird_schema)
    X = TINY_X.rename(columns=rename)
    Z = RelationalAggregator(database=db, windows=TINY_WINDOWS, max_categories=2).fit_transform(X)
    assert 'Bestell-Posten.user id|all|Betrag "€"|mean' in Z.columns
    assert "Bestell-Posten.user id|all|select=web|share" in Z.columns
    np.testing.assert_array_equal(Z.to_numpy(), tiny_Z.to_numpy())


def test_timezone_aware_cutoffs_are_compared_in_utc(tiny_db, tiny_Z):
    X = TINY_X.copy()
    X["cutoff"] = X["cutoff"].dt.tz_localize("UTC").dt.tz_convert("Europe/Prague")
    agg = RelationalAggregator(database=tiny_db, windows=TINY_WINDOWS, max_categories=2)
    pd.testing.assert_frame_equal(agg.fit_transform(X), tiny_Z, check_exact=True)


# -- the synthetic database: a brute-force reference, leakage, row order -----------------------
def users_at(tables, t):
    """Every user signed up by ``t``, as of ``t`` (a user is not embedded before signup)."""
    users = tables["users"]
    users = users[users["signup"] <= pd.Timestamp(t).tz_localize(None)]
    return pd.DataFrame({"user_id": users["user_id"], "t": t})


def test_child_aggregates_match_a_brute_force_loop(data, db):
    tables = data[0]
    X = tables["orders"][["user_id", "ts"]].rename(columns={"ts": "t"}).iloc[::7]
    agg = RelationalAggregator(database=db, windows=("all", "90D", 3), max_hops=1).fit(X)
    Z = agg.transform(X)
    orders, reviews = tables["orders"], tables["reviews"]
    for name, rows, col in (("orders.user_id", orders, "quantity"),
                            ("reviews.user_id", reviews, "rating")):
        for i, (user, t) in enumerate(zip(X["user_id"], X["t"], strict=True)):
            mine = rows[(rows["user_id"] == user) & (rows["ts"] <= t)]
            recent = mine[mine["ts"] > t - pd.Timedelta("90D")]
            for w, sub in (("all", mine), ("90D", recent)):
                got = Z[[f"{name}|{w}|count", f"{name}|{w}|{col}|mean",
                         f"{name}|{w}|{col}|min", f"{name}|{w}|{col}|max"]].iloc[i]
                want = [len(sub), sub[col].mean(), sub[col].min(), sub[col].max()]
                np.testing.assert_allclose(got.to_numpy(float), want, rtol=1e-12)
            assert Z[f"{name}|last3|count"].iloc[i] == min(3, len(mine))
            if len(mine) and mine["ts"].is_unique:
                last = mine.loc[mine["ts"].idxmax(), col]
                np.testing.assert_equal(Z[f"{name}|all|{col}|last"].iloc[i], last)
                latest = mine.nlargest(3, "ts")[col]
                np.testing.assert_allclose(Z[f"{name}|last3|{col}|mean"].iloc[i],
                                           latest.mean(), rtol=1e-12)
            days = (t - mine["ts"]) / pd.Timedelta("1D")
            gaps = mine["ts"].sort_values().diff().dropna() / pd.Timedelta("1D")
            want = [days.min(), days.max(), gaps.mean(), gaps.iloc[-1] if len(gaps) else nan]
            got = Z[[f"{name}|all|{r}" for r in RECENCY]].iloc[i].to_numpy(float)
            np.testing.assert_allclose(got, want, rtol=1e-12)
    shares = [c for c in Z.columns if c.startswith("orders.user_id|all|status=")]
    assert len(shares) == 3
    np.testing.assert_allclose(Z[shares].sum(axis=1)[Z["orders.user_id|all|count"] > 0], 1.0)


def shift_after(tables, t):
    """Every row dated after t changed, and new rows after t; nothing at or before t."""
    new = {name: df.copy() for name, df in tables.items()}
    orders, reviews, users, items = new["orders"], new["reviews"], new["users"], new["items"]
    late = orders["ts"] > t
    orders.loc[late, "quantity"] = 99
    orders.loc[late, "status"] = "lost"
    orders.loc[late, "item_id"] = items["item_id"].iloc[0]
    reviews.loc[reviews["ts"] > t, "rating"] = -5.0
    users.loc[users["signup"] > t, ["age", "country"]] = [1.0, "xx"]
    items.loc[items["added"] > t, "price"] = 1e6  # items that earlier orders reference
    extra = orders.iloc[:40].copy()
    extra["order_id"] += 10**6
    extra["ts"] = t + NS
    extra["status"] = "lost"  # would be a frequent category if fit looked past t
    new["orders"] = pd.concat([orders, extra], ignore_index=True)
    new_users = users.iloc[:5].copy()
    new_users["user_id"] = [f"new{k}" for k in range(5)]
    new_users["signup"] = t + NS
    new_users["referrer"] = users["user_id"].iloc[:5].to_numpy()
    new["users"] = pd.concat([users, new_users], ignore_index=True)
    return new


def test_rows_after_the_cutoff_change_nothing(data):
    tables, schema = data
    t = pd.Timestamp("2020-06-01 00:00:00.000000001")
    orders, items = tables["orders"], tables["items"].set_index("item_id")
    # orders before t that reference an item added after t: the parent rows must be skipped
    assert (items.loc[orders["item_id"], "added"].to_numpy() > t)[orders["ts"] <= t].any()
    X = users_at(tables, t)
    before = RelationalAggregator(database=RelationalDatabase(tables, schema)).fit(X)
    after_db = RelationalDatabase(shift_after(tables, t), schema)
    after = RelationalAggregator(database=after_db).fit(X)
    np.testing.assert_array_equal(after.get_feature_names_out(),
                                  before.get_feature_names_out())
    pd.testing.assert_frame_equal(after.transform(X), before.transform(X), check_exact=True)

    # the same change one nanosecond earlier does reach the features (the test can fail)
    changed = RelationalDatabase(shift_after(tables, t - 2 * NS), schema)
    Z = RelationalAggregator(database=changed).fit(X).transform(X)
    assert not Z.equals(before.transform(X))


def test_permuting_x_permutes_the_output(db, data):
    X = data[0]["orders"][["user_id", "ts"]]
    agg = RelationalAggregator(database=db).fit(X)
    Z = agg.transform(X)
    perm = np.random.default_rng(0).permutation(len(X))
    pd.testing.assert_frame_equal(agg.transform(X.iloc[perm]), Z.iloc[perm], check_exact=True)


def test_permuting_table_rows_leaves_the_output_unchanged(db, data):
    tables, schema = data
    X = tables["orders"][["user_id", "ts"]]
    Z = RelationalAggregator(database=db).fit_transform(X)
    rng = np.random.default_rng(1)
    shuffled = {name: df.iloc[rng.permutation(len(df))] for name, df in tables.items()}
    Z2 = RelationalAggregator(database=RelationalDatabase(shuffled, schema)).fit_transform(X)
    assert list(Z2.columns) == list(Z.columns)
    # sums may add up in another order: equal up to rounding, counts exactly
    np.testing.assert_allclose(Z2.to_numpy(), Z.to_numpy(), rtol=1e-12, atol=0)
    counts = [c for c in Z.columns if c.endswith("|count")]
    pd.testing.assert_frame_equal(Z2[counts], Z[counts], check_exact=True)


def test_callers_frames_are_unchanged(data, tiny_db):
    tables, schema = data
    pristine = make_synthetic_database()[0]
    X = users_at(tables, pd.Timestamp("2020-09-01"))
    X["t"] = X["t"].dt.tz_localize("UTC")
    X_before = X.copy()
    db = RelationalDatabase(tables, schema)
    RelationalAggregator(database=db).fit(X).transform(X)
    pd.testing.assert_frame_equal(X, X_before)
    for name, df in tables.items():
        pd.testing.assert_frame_equal(df, pristine[name])
        pd.testing.assert_frame_equal(db.frame(name), pristine[name])


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("windows, match", [
    (("all", "-5D"), r"windows\[1\]='-5D' is not a positive duration"),
    ((0,), r"windows\[0\]=0: a row-count window needs k >= 1"),
    (("365",), r"windows\[0\]='365' has no unit"),
    (("soon",), r"windows\[0\]='soon' is not a window: use 'all'"),
    ((2.5,), r"windows\[0\]=2.5 is not a window"),
    ((True,), r"windows\[0\]=True is not a window"),
    (("all", 3, "all"), r"windows\[2\]='all' repeats windows\[0\]"),
    (("30D", "720h"), r"windows\[1\]='720h' repeats windows\[0\]='30D'"),
    ((), "windows is empty"),
    ("weekly", r"The 'windows' parameter of RelationalAggregator must be .*'auto'"),
])
def test_bad_windows_raise(tiny_db, windows, match):
    with pytest.raises(ValueError, match=match):
        RelationalAggregator(database=tiny_db, windows=windows).fit(TINY_X)


def test_errors_name_the_problem_and_the_fix(tiny_db, db, data):
    with pytest.raises(ValueError, match=r"needs the database.*database=RelationalDatabase"):
        RelationalAggregator().fit(TINY_X)
    with pytest.raises(TypeError, match="database is a dict; wrap the tables"):
        RelationalAggregator(database=tiny_tables()[0]).fit(TINY_X)
    orders = data[0]["orders"][["order_id", "ts"]]
    with pytest.raises(ValueError, match="No table has a foreign key into target table "
                                         "'orders', so there is nothing to aggregate"):
        RelationalAggregator(database=db).fit(orders)
    with pytest.raises(ValueError, match="X has none of the primary-key columns"):
        RelationalAggregator(database=tiny_db).fit(TINY_X[["cutoff"]])
    with pytest.raises(ValueError, match="no datetime column to use as the cutoff time"):
        RelationalAggregator(database=tiny_db).fit(TINY_X[["user_id"]])
    with pytest.raises(ValueError, match="time_column='when' is not a column of X"):
        RelationalAggregator(database=tiny_db, time_column="when").fit(TINY_X)
    with pytest.raises(ValueError, match=r"not found in table 'users'.*\['zz'\]"):
        RelationalAggregator(database=tiny_db).fit(pd.DataFrame({"user_id": ["zz"],
                                                                 "cutoff": [T]}))
    with pytest.raises(TypeError, match="X must be a pandas DataFrame"):
        RelationalAggregator(database=tiny_db).fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="X has no rows"):
        RelationalAggregator(database=tiny_db).fit(TINY_X.iloc[:0])
    with pytest.raises(ValueError, match="The 'max_hops' parameter of RelationalAggregator"):
        RelationalAggregator(database=tiny_db, max_hops=3).fit(TINY_X)
    agg = RelationalAggregator(database=tiny_db).fit(TINY_X)
    with pytest.raises(ValueError, match="X has no column 'cutoff', the cutoff time column"):
        agg.transform(TINY_X.rename(columns={"cutoff": "date"}))
    with pytest.raises(ValueError, match=r"X\['cutoff'\] has null cutoff times"):
        agg.transform(TINY_X.assign(cutoff=pd.NaT))
    items = pd.DataFrame({"item_id": [10, 20], "cutoff": [T, pd.Timestamp("2020-02-15") - NS]})
    with pytest.raises(ValueError, match=r"1 rows of X have a cutoff before their 'items' "
                                         r"row's own time \(column 'added'\); first: row 1"):
        RelationalAggregator(database=tiny_db).fit(items)


# -- the scikit-learn contract (common checks: tests/test_sklearn_contract.py) ------------
@pytest.fixture(scope="module")
def task(data):
    orders = data[0]["orders"]
    return orders[["user_id", "ts"]], (orders["status"] == "returned").astype(int)


def test_clone_shares_the_database_and_tags(db):
    agg = RelationalAggregator(database=db, windows=("all", 5), max_hops=1)
    copy = clone(agg)
    assert copy.database is db and copy.get_params() == agg.get_params()
    tags = agg.__sklearn_tags__()
    assert tags.requires_fit and not tags.non_deterministic
    assert tags.input_tags.string and not tags.target_tags.required


def test_pipeline_with_gradient_boosting(db, task):
    X, y = task
    pipe = make_pipeline(RelationalAggregator(database=db),
                         HistGradientBoostingClassifier(max_iter=10, random_state=0))
    pred = pipe.fit(X, y).predict_proba(X)
    assert pred.shape == (len(X), 2)
    assert list(pipe[1].feature_names_in_) == list(pipe[0].get_feature_names_out())


def test_union_with_the_contrastive_encoder(db, task):
    X, y = task
    enc = RelationalContrastiveEncoder(database=db, hidden_channels=8, max_steps=2,
                                       steps_per_epoch=1, batch_size=16, num_samples=4,
                                       random_state=0)
    agg = RelationalAggregator(database=db)
    union = make_union(agg, enc).set_output(transform="pandas")
    pipe = make_pipeline(union, HistGradientBoostingClassifier(max_iter=10, random_state=0))
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(X),)
    Z = pipe[0].transform(X)
    n_agg = len(pipe[0].transformer_list[0][1].get_feature_names_out())
    assert Z.shape == (len(X), n_agg + 8)
    assert Z.columns[0] == "relationalaggregator__users.referrer|all|count"


def test_soft_vote_of_an_encoder_model_and_an_aggregator_model(db, task):
    """docs/aggregator.md: one gradient boosting per feature set, probabilities averaged;
    VotingClassifier passes the rows X to both pipelines unchanged."""
    X, y = task
    enc = RelationalContrastiveEncoder(database=db, hidden_channels=8, max_steps=2,
                                       steps_per_epoch=1, batch_size=16, random_state=0)
    members = [
        ("emb", make_pipeline(enc, HistGradientBoostingClassifier(max_iter=10,
                                                                  random_state=0))),
        ("agg", make_pipeline(RelationalAggregator(database=db),
                              HistGradientBoostingClassifier(max_iter=10, random_state=0))),
    ]
    vote = VotingClassifier(members, voting="soft").fit(X, y)
    emb, agg = (vote.named_estimators_[name].predict_proba(X) for name in ("emb", "agg"))
    np.testing.assert_allclose(vote.predict_proba(X), (emb + agg) / 2)


def test_soft_vote_of_a_fine_tuned_classifier_and_an_aggregator_model(db, task):
    """docs/aggregator.md: a classifier fine-tuned from a pretrained encoder voting with
    gradient boosting on the aggregates. FrozenEstimator keeps the encoder fitted through
    VotingClassifier's clone, so the member fine-tunes it instead of pretraining anew."""
    X, y = task
    enc = RelationalContrastiveEncoder(database=db, hidden_channels=8, max_steps=2,
                                       steps_per_epoch=1, batch_size=16, random_state=0).fit(X)
    members = [
        ("gnn", RelationalClassifier(encoder=FrozenEstimator(enc), max_epochs=2,
                                     random_state=0)),
        ("agg", make_pipeline(RelationalAggregator(database=db),
                              HistGradientBoostingClassifier(max_iter=10, random_state=0))),
    ]
    vote = VotingClassifier(members, voting="soft").fit(X, y)
    gnn = vote.named_estimators_["gnn"]
    assert gnn.encoder_ is enc  # an unfitted clone would have been pretrained anew
    proba = [vote.named_estimators_[name].predict_proba(X) for name in ("gnn", "agg")]
    np.testing.assert_allclose(vote.predict_proba(X), (proba[0] + proba[1]) / 2)


def test_set_output_and_joblib_round_trip(db, task, tmp_path):
    X, _ = task
    agg = RelationalAggregator(database=db).fit(X)
    Z = agg.transform(X)
    Zp = clone(agg).set_output(transform="pandas").fit(X).transform(X)
    pd.testing.assert_frame_equal(Zp, Z, check_exact=True)
    joblib.dump(agg, tmp_path / "agg.joblib")
    loaded = joblib.load(tmp_path / "agg.joblib")
    pd.testing.assert_frame_equal(loaded.transform(X), Z, check_exact=True)
    np.testing.assert_array_equal(loaded.get_feature_names_out(), agg.get_feature_names_out())


def test_not_fitted_error(tiny_db):
    agg = RelationalAggregator(database=tiny_db)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        agg.transform(TINY_X)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        agg.get_feature_names_out()


def test_docstring_example_runs():
    result = doctest.testmod(relcontrast.aggregate, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_results_do_not_depend_on_the_chunking(db, data, tiny_db, tiny_Z, monkeypatch):
    """transform reduces the (row of X, related row) pairs in chunks of a bounded size; with
    one row of X per chunk, the tiny database has chunks whose rows have no related rows."""
    X = data[0]["orders"][["user_id", "ts"]]
    agg = RelationalAggregator(database=db).fit(X)
    Z = agg.transform(X)
    tiny = RelationalAggregator(database=tiny_db, windows=TINY_WINDOWS, max_categories=2)
    tiny.fit(TINY_X)
    monkeypatch.setattr(relcontrast.aggregate, "_CHUNK_CELLS", 1)
    pd.testing.assert_frame_equal(agg.transform(X), Z, check_exact=True)
    pd.testing.assert_frame_equal(tiny.transform(TINY_X), tiny_Z, check_exact=True)
