"""A seeded synthetic relational database for tests and examples.

It has every column type (numerical, categorical, timestamp, text, multicategorical), nulls,
string and non-consecutive huge integer keys, a table without primary key, a table without
time, and a self-referencing foreign key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["make_synthetic_database"]

_WORDS = ("fast", "red", "cheap", "great", "broken", "late", "blue", "small", "heavy", "fine")


def make_synthetic_database(
    n_users: int = 60,
    n_items: int = 40,
    n_orders: int = 300,
    n_reviews: int = 150,
    random_state: int = 0,
) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """Return ``(tables, schema)`` of a small shop database.

    Tables: ``categories`` (no time), ``users`` (string keys, self-reference ``referrer``),
    ``items`` (huge non-consecutive integer keys, list-valued ``tags``), ``orders`` (timed,
    text ``comment`` with nulls) and ``reviews`` (timed, no primary key).

    Examples
    --------
    >>> from relcontrast.testing import make_synthetic_database
    >>> tables, schema = make_synthetic_database(random_state=0)
    >>> sorted(tables)
    ['categories', 'items', 'orders', 'reviews', 'users']
    >>> schema["orders"]["foreign_keys"]
    {'user_id': 'users', 'item_id': 'items'}
    """
    rng = np.random.default_rng(random_state)
    t0 = pd.Timestamp("2020-01-01")
    day = pd.Timedelta(days=1)

    categories = pd.DataFrame({
        "cat_id": [10, 20, 30, 40],
        "label": ["books", "garden", "toys", "tools"],
        "margin": [0.1, 0.25, 0.4, np.nan],
    })

    user_ids = [f"u{k:04d}" for k in rng.choice(9000, n_users, replace=False)]
    signup = t0 + np.sort(rng.integers(0, 300, n_users)) * day
    referrer = np.array([user_ids[rng.integers(0, k)] if k and rng.random() < 0.5 else None
                         for k in range(n_users)], dtype=object)
    users = pd.DataFrame({
        "user_id": user_ids,
        "signup": signup,
        "age": rng.integers(18, 80, n_users).astype(float),
        "country": rng.choice(["de", "fr", "cz", "us", None], n_users),
        "birthday": pd.Timestamp("1960-01-01") + rng.integers(0, 15000, n_users) * day,
        "referrer": referrer,
    })
    users.loc[rng.random(n_users) < 0.1, "age"] = np.nan

    item_ids = (10**12 + np.sort(rng.choice(10**6, n_items, replace=False)) * 7).astype(np.int64)
    items = pd.DataFrame({
        "item_id": item_ids,
        "cat_id": rng.choice(categories["cat_id"], n_items),
        "price": np.round(rng.lognormal(3, 1, n_items), 2),
        "tags": [list(rng.choice(["new", "sale", "eco", "gift"], rng.integers(0, 3),
                                 replace=False)) for _ in range(n_items)],
        "added": t0 + rng.integers(0, 200, n_items) * day,
    })

    order_user = rng.integers(0, n_users, n_orders)
    order_time = signup[order_user] + rng.integers(0, 400, n_orders) * day
    orders = pd.DataFrame({
        "order_id": np.arange(n_orders) * 3 + 5,
        "user_id": np.asarray(user_ids, dtype=object)[order_user],
        "item_id": rng.choice(item_ids, n_orders),
        "ts": order_time,
        "quantity": rng.integers(1, 5, n_orders),
        "status": rng.choice(["paid", "shipped", "returned"], n_orders, p=[0.5, 0.4, 0.1]),
        "comment": [" ".join(rng.choice(_WORDS, rng.integers(2, 6)))
                    if rng.random() < 0.7 else None for _ in range(n_orders)],
    })
    orders = orders.sort_values("ts", kind="stable").reset_index(drop=True)

    review_order = rng.integers(0, n_orders, n_reviews)
    reviews = pd.DataFrame({
        "user_id": orders["user_id"].to_numpy()[review_order],
        "item_id": orders["item_id"].to_numpy()[review_order],
        "ts": orders["ts"].to_numpy()[review_order] + rng.integers(1, 30, n_reviews) * day,
        "rating": rng.integers(1, 6, n_reviews).astype(float),
    })
    reviews.loc[rng.random(n_reviews) < 0.1, "rating"] = np.nan

    tables = {"categories": categories, "users": users, "items": items, "orders": orders,
              "reviews": reviews}
    schema = {
        "categories": {"primary_key": "cat_id"},
        "users": {"primary_key": "user_id", "foreign_keys": {"referrer": "users"},
                  "time_column": "signup"},
        "items": {"primary_key": "item_id", "foreign_keys": {"cat_id": "categories"},
                  "time_column": "added"},
        "orders": {"primary_key": "order_id",
                   "foreign_keys": {"user_id": "users", "item_id": "items"},
                   "time_column": "ts"},
        "reviews": {"foreign_keys": {"user_id": "users", "item_id": "items"},
                    "time_column": "ts"},
    }
    return tables, schema
