"""Your own database from a folder of CSV files: infer the schema, pretrain, predict churn.

The script first writes a small simulated shop to a temporary folder, one CSV file per
table, as an export from a production database would look:

- ``customers.csv``: one row per customer, dated by ``signup_date``;
- ``products.csv``: the catalogue, undated (visible at every time);
- ``orders.csv``: one row per order (``customer_id``, ``product_id``, ``order_date``, ...);
- ``reviews.csv``: some orders are reviewed a few days later.

Each customer orders at a rate set by the category they mostly buy (groceries often,
electronics rarely), until an unobserved moment at which they stop for good. The task is
churn: for a customer who ordered in the 90 days before a cutoff date ``t``, will they place
no order in the 30 days after ``t``? The rows ``(customer_id, cutoff)`` are made monthly.

Then relcontrast takes over, as it would on your own files:

1. ``read_tables`` + ``infer_schema(..., return_reasons=True)`` propose the primary keys,
   foreign keys and time columns; the proposal is printed with its reasons
   (``schema_to_yaml``) and written to a YAML file, which you would check and edit;
2. ``read_database(folder, schema_file)`` builds the ``RelationalDatabase``;
3. a ``RelationalContrastiveEncoder`` pretrains on the data up to the validation start
   (no labels); its frozen embeddings feed gradient boosting, and a
   ``RelationalClassifier`` fine-tunes it on the training rows;
4. AUROC on the validation rows and on later held-out test rows, next to the hand-made
   baseline "days since the last order" (no model: the longer, the likelier churn).

Nothing is tuned: the settings are fixed in advance, the early stopping of fine-tuning uses
the latest 10% of the training rows, and val / test are only scored.

Run: ``.venv/bin/python examples/own_database_csv.py`` (``--small`` for a quick run with
tiny settings, as the test suite does). Output of the full run:
``examples/results/own_database_csv.txt``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from relcontrast import RelationalClassifier, RelationalContrastiveEncoder
from relcontrast.io import infer_schema, read_database, read_tables, schema_to_yaml

START, END = pd.Timestamp("2022-01-01"), pd.Timestamp("2024-07-01")
VAL_START, TEST_START = pd.Timestamp("2023-10-01"), pd.Timestamp("2024-02-01")
HORIZON, ACTIVE = pd.Timedelta(days=30), pd.Timedelta(days=90)

# category: (share of the catalogue, typical price, mean days between a fan's orders)
CATEGORIES = {
    "groceries": (0.35, 12.0, 12.0),
    "beauty": (0.2, 25.0, 25.0),
    "books": (0.2, 18.0, 35.0),
    "garden": (0.15, 45.0, 50.0),
    "electronics": (0.1, 220.0, 80.0),
}


def make_shop(n_customers: int = 1000, n_products: int = 120,
              random_state: int = 0) -> dict[str, pd.DataFrame]:
    """Simulate the shop's four tables (see the module docstring)."""
    rng = np.random.default_rng(random_state)
    day = pd.Timedelta(days=1)
    names = list(CATEGORIES)
    shares = np.array([CATEGORIES[c][0] for c in names])

    category = rng.choice(names, n_products, p=shares)
    products = pd.DataFrame({
        "product_id": np.arange(101, 101 + n_products),
        "category": category,
        "brand": rng.choice(["acme", "nordic", "zenith", "orbit", "solace"], n_products),
        "price": np.round([CATEGORIES[c][1] * rng.lognormal(0, 0.3) for c in category], 2),
    })
    by_category = {c: products.loc[products["category"] == c, "product_id"].to_numpy()
                   for c in names}

    # sign-ups over the first 21 months; a customer stays for an exponential time
    signup = START + pd.to_timedelta(rng.uniform(0, 640, n_customers), unit="D")
    segment = rng.choice(["consumer", "business", "premium"], n_customers, p=[0.7, 0.2, 0.1])
    favourite = rng.choice(names, n_customers, p=shares)
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n_customers + 1),
        "signup_date": signup.floor("D"),
        "country": rng.choice(["DE", "FR", "CZ", "NL", "PL"], n_customers,
                              p=[0.35, 0.25, 0.15, 0.15, 0.1]),
        "segment": segment,
        "newsletter": rng.random(n_customers) < 0.4,
    })

    orders, reviews = [], []
    for k in range(n_customers):
        mean_gap = CATEGORIES[favourite[k]][2] * rng.lognormal(0, 0.4)
        if segment[k] == "premium":
            mean_gap *= 0.6
        stay = rng.exponential(450 if segment[k] == "premium" else 220)
        stop = min(signup[k] + stay * day, END)
        t = signup[k] + rng.uniform(0, 2) * day  # first order right after signing up
        while t < stop:
            fav = rng.random() < 0.75
            pool = by_category[favourite[k]] if fav else products["product_id"].to_numpy()
            orders.append((k + 1, int(rng.choice(pool)), t, int(rng.integers(1, 4)),
                           rng.choice(["web", "app", "store"], p=[0.5, 0.35, 0.15])))
            t = t + rng.exponential(mean_gap) * day
    orders = pd.DataFrame(orders, columns=["customer_id", "product_id", "order_date",
                                           "quantity", "channel"])
    orders = orders.sort_values("order_date", kind="stable").reset_index(drop=True)
    orders.insert(0, "order_id", np.arange(10_001, 10_001 + len(orders)))
    orders["order_date"] = orders["order_date"].dt.floor("min")
    price = products.set_index("product_id")["price"]
    orders["amount"] = np.round(orders["quantity"] * price.loc[orders["product_id"]].to_numpy()
                                * rng.uniform(0.85, 1.0, len(orders)), 2)

    reviewed = orders[rng.random(len(orders)) < 0.15]
    review_date = (reviewed["order_date"]
                   + pd.to_timedelta(rng.uniform(1, 14, len(reviewed)), unit="D")).dt.floor("D")
    reviews = pd.DataFrame({
        "review_id": np.arange(1, len(reviewed) + 1),
        "customer_id": reviewed["customer_id"].to_numpy(),
        "product_id": reviewed["product_id"].to_numpy(),
        "review_date": review_date.to_numpy(),
        "rating": rng.choice([1, 2, 3, 4, 5], len(reviewed), p=[0.05, 0.1, 0.2, 0.35, 0.3]),
    })
    reviews = reviews[reviews["review_date"] < END]
    return {"customers": customers, "products": products, "orders": orders,
            "reviews": reviews}


def churn_rows(orders: pd.DataFrame, cutoffs) -> pd.DataFrame:
    """Rows ``(customer_id, cutoff, churn, days_since_order)``: every customer with an order
    in the 90 days up to the cutoff; ``churn`` is True when they order nothing in the 30 days
    after it. ``days_since_order`` is the hand-made baseline (it reads only the past)."""
    frames = []
    for t in cutoffs:
        past = orders[(orders["order_date"] > t - ACTIVE) & (orders["order_date"] <= t)]
        last = past.groupby("customer_id")["order_date"].max()
        future = orders[(orders["order_date"] > t) & (orders["order_date"] <= t + HORIZON)]
        frames.append(pd.DataFrame({
            "customer_id": last.index.to_numpy(),
            "cutoff": t,
            "churn": ~last.index.isin(future["customer_id"]),
            "days_since_order": (t - last).dt.total_seconds().to_numpy() / 86400,
        }))
    return pd.concat(frames, ignore_index=True)


def main(small: bool = False) -> dict:
    """Write the shop as CSV files, read it back with an inferred schema, predict churn.

    Returns the inferred ``schema``, the table sizes, the row counts per split and the
    AUROCs (``val_auroc`` / ``test_auroc`` per model and for the baseline).
    """
    start = time.perf_counter()
    shop = make_shop(n_customers=250 if small else 1000, n_products=40 if small else 120)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "shop"
        folder.mkdir()
        for name, df in shop.items():
            df.to_csv(folder / f"{name}.csv", index=False)
        print(f"wrote {folder}: " + ", ".join(
            f"{name}.csv ({len(df)} rows)" for name, df in shop.items()))

        tables = read_tables(folder)  # typed by duckdb: dates as datetimes, ids as integers
        schema, reasons = infer_schema(tables, return_reasons=True)
        text = schema_to_yaml(schema, reasons, header="proposed by infer_schema; check it")
        print("\n" + text)
        schema_file = Path(tmp) / "shop_schema.yaml"  # the file you would check and edit
        schema_file.write_text(text)
        db = read_database(folder, schema_file)
    print(db.summary())

    # rows: monthly cutoffs; train rows' 30-day windows end by the validation start
    months = pd.date_range("2022-04-01", "2024-05-01", freq="MS")
    rows = churn_rows(db.table("orders"), months)
    cutoff = rows["cutoff"]
    parts = {s: rows[mask].reset_index(drop=True) for s, mask in (
        ("train", cutoff + HORIZON <= VAL_START),
        ("val", (cutoff >= VAL_START) & (cutoff < TEST_START)),
        ("test", cutoff >= TEST_START))}
    features = ["customer_id", "cutoff"]
    for s, part in parts.items():
        print(f"{s}: {len(part)} rows, cutoffs {part['cutoff'].min():%Y-%m-%d}.."
              f"{part['cutoff'].max():%Y-%m-%d}, churn rate {part['churn'].mean():.3f}")

    enc = RelationalContrastiveEncoder(
        cutoff_time=VAL_START, random_state=0,
        **(dict(hidden_channels=16, max_steps=20, batch_size=64, valid_fraction=0.0,
                patience=None)
           if small else {}))
    t0 = time.perf_counter()
    enc.fit(db)
    pretrain_seconds = time.perf_counter() - t0
    print(f"\npretrained in {pretrain_seconds:.1f} s ({len(enc.history_)} epochs) on the rows "
          f"up to {enc.cutoff_time_:%Y-%m-%d}")

    train, scores = parts["train"], {}
    gbm = HistGradientBoostingClassifier(max_iter=50 if small else 200, learning_rate=0.05,
                                         random_state=0)
    gbm.fit(enc.transform(train[features]), train["churn"])
    clf = RelationalClassifier(encoder=enc, max_epochs=2 if small else 20, random_state=0)
    clf.fit(train[features], train["churn"])
    for s in ("val", "test"):
        part = parts[s]
        scores[s] = {
            "days since last order (baseline)": roc_auc_score(part["churn"],
                                                              part["days_since_order"]),
            "frozen embeddings + gradient boosting": roc_auc_score(
                part["churn"], gbm.predict_proba(enc.transform(part[features]))[:, 1]),
            "fine-tuned RelationalClassifier": roc_auc_score(
                part["churn"], clf.predict_proba(part[features])[:, 1]),
        }
    print("\nchurn AUROC          val     test")
    for model in scores["val"]:
        print(f"  {model:<38} {scores['val'][model]:.4f}  {scores['test'][model]:.4f}")
    seconds = time.perf_counter() - start
    print(f"\ntotal {seconds:.1f} s")
    return {
        "schema": schema,
        "table_rows": {name: db.num_rows(name) for name in db.table_names},
        "rows": {s: len(p) for s, p in parts.items()},
        "churn_rate": {s: float(p["churn"].mean()) for s, p in parts.items()},
        "latest_train_label_end": train["cutoff"].max() + HORIZON,
        "encoder_cutoff": enc.cutoff_time_,
        "val_auroc": scores["val"],
        "test_auroc": scores["test"],
        "pretrain_seconds": pretrain_seconds,
        "seconds": seconds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny settings, a quick run")
    main(small=parser.parse_args().small)
