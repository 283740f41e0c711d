"""Schema inference on real naming: precision and recall of keys on a corpus of schemas.

The corpus, each schema with its true primary and foreign keys written by hand:

- ``f1``: the bundled Formula 1 database (``relcontrast.datasets.load_f1``), its schema;
- ``tpch``: TPC-H generated at scale factor 0.01 by ``tpchgen-cli`` (the ``bench`` extra),
  keys as the TPC-H specification declares them (``c_custkey``, ``(l_orderkey,
  l_linenumber)``, ``(l_partkey, l_suppkey)`` -> partsupp, ...);
- ``synthetic``: ``relcontrast.testing.make_synthetic_database`` (``*_id`` names, string and
  non-consecutive keys, a self-reference ``referrer``);
- ``chinook``, ``northwind``: schemas in the style of the two sample databases
  (``ArtistId``, ``CustomerID``, ``SupportRepId`` -> Employee, ``ReportsTo`` -> Employee,
  ``ShipVia`` -> Shippers, composite link tables), written here with generated rows;
- ``shop``: shops keyed by a column ``shop`` (``S0``..``S7``), referenced by ``orders.shop``;
- ``flights``: five tables shaped like a well-known flights database (planes keyed by
  ``tailnum``, airports by ``faa``, airlines by ``carrier``; ``flights.origin`` / ``dest``
  -> airports, ``weather.origin`` -> airports), written here with generated rows;
- ``baseball``: people keyed by ``playerID``, teams by ``teamID``, batting and pitching
  keyed by ``(playerID, yearID, stint)``, written here with generated rows.

Rows are drawn from a ``numpy.random.Generator`` seeded with ``--seed`` (0 by default) and
the schema's index; no data is downloaded. Every schema
is written to two SQLite files in a temporary folder, one declaring ``PRIMARY KEY`` /
``REFERENCES`` and one without constraints. Inference is measured on the file without:
``infer_schema(path)``. The file with constraints is read by ``read_database(path)``, which
reports what the reader takes from the catalog (or infers where it takes nothing).

Scores, per schema and over the corpus: precision and recall of primary keys (a table's key
is right when its set of columns is the true one; a composite key counts as one) and of
foreign keys (a (table, columns, referenced table) triple; a composite key counts as one).

Run: ``.venv/bin/python benchmarks/schema_inference.py --label after``; writes
``benchmarks/results/schema_inference.json`` (runs under their label, other labels kept) and
``schema_inference.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"


# -- the corpus -------------------------------------------------------------------------------
def _truth(spec: dict) -> dict:
    """``{table: (pk, {fk: ref})}`` -> the schema dict form."""
    return {t: {"primary_key": pk, "foreign_keys": dict(fks)} for t, (pk, fks) in spec.items()}


def _words(rng, n: int, prefix: str) -> list[str]:
    """``n`` distinct name-like strings."""
    syllables = ["ka", "lo", "ri", "sa", "mun", "de", "ta", "vel", "or", "bi", "ne", "zu"]
    out: list[str] = []
    seen = set()
    while len(out) < n:
        word = "".join(rng.choice(syllables, size=int(rng.integers(2, 4)))).capitalize()
        name = f"{prefix}{word}" if prefix else word
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _dates(rng, n: int, start: str, days: int) -> pd.Series:
    offsets = rng.integers(0, days, size=n)
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(np.sort(offsets), unit="D"))


def f1(seed: int = 0):
    from relcontrast.datasets import load_f1

    tables, schema = load_f1()
    truth = {t: {"primary_key": s.get("primary_key"),
                 "foreign_keys": dict(s.get("foreign_keys", {}))} for t, s in schema.items()}
    return tables, truth


def tpch(seed: int = 0, scale: float = 0.01):
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    if not Path(exe).exists():
        raise RuntimeError("tpchgen-cli not found; install the bench extra: pip install "
                           "-e '.[bench]'")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([exe, "parquet", "-s", str(scale), "--output-dir", tmp], check=True,
                       capture_output=True)
        tables = {}
        for path in sorted(Path(tmp).glob("*.parquet")):
            df = pd.read_parquet(path)
            for col in df.columns:  # decimals -> floats, dates -> datetimes
                if df[col].dtype == object:
                    first = df[col].dropna().iloc[0]
                    if hasattr(first, "as_tuple"):
                        df[col] = df[col].astype(float)
                    elif hasattr(first, "isoformat"):
                        df[col] = pd.to_datetime(df[col])
            tables[path.stem] = df
    truth = _truth({
        "region": ("r_regionkey", {}),
        "nation": ("n_nationkey", {"n_regionkey": "region"}),
        "part": ("p_partkey", {}),
        "supplier": ("s_suppkey", {"s_nationkey": "nation"}),
        "partsupp": (("ps_partkey", "ps_suppkey"),
                     {"ps_partkey": "part", "ps_suppkey": "supplier"}),
        "customer": ("c_custkey", {"c_nationkey": "nation"}),
        "orders": ("o_orderkey", {"o_custkey": "customer"}),
        "lineitem": (("l_orderkey", "l_linenumber"),
                     {"l_orderkey": "orders", "l_partkey": "part", "l_suppkey": "supplier",
                      ("l_partkey", "l_suppkey"): "partsupp"}),
    })
    return tables, truth


def synthetic(seed: int = 0):
    from relcontrast.testing import make_synthetic_database

    tables, schema = make_synthetic_database()
    truth = {t: {"primary_key": s.get("primary_key"),
                 "foreign_keys": dict(s.get("foreign_keys", {}))} for t, s in schema.items()}
    # list-valued tags cannot go into SQLite; drop the column (no key is affected)
    tables = {t: df.drop(columns=[c for c in df.columns if df[c].dtype == object
                                  and df[c].map(lambda v: isinstance(v, list)).any()])
              for t, df in tables.items()}
    return tables, truth


def chinook(seed: int = 0):
    rng = np.random.default_rng([seed, 0])
    n_artist, n_album, n_track, n_cust, n_inv, n_line = 40, 80, 400, 59, 300, 900
    artist = pd.DataFrame({"ArtistId": np.arange(1, n_artist + 1),
                           "Name": _words(rng, n_artist, "The ")})
    album = pd.DataFrame({"AlbumId": np.arange(1, n_album + 1),
                          "Title": _words(rng, n_album, "Songs of "),
                          "ArtistId": rng.integers(1, n_artist + 1, n_album)})
    media = pd.DataFrame({"MediaTypeId": np.arange(1, 6),
                          "Name": ["MPEG audio file", "Protected AAC audio file",
                                   "Protected MPEG-4 video file", "Purchased AAC audio file",
                                   "AAC audio file"]})
    genre = pd.DataFrame({"GenreId": np.arange(1, 26), "Name": _words(rng, 25, "")})
    composer = np.array(_words(rng, 30, "") + [None] * 10, dtype=object)
    track = pd.DataFrame({
        "TrackId": np.arange(1, n_track + 1), "Name": _words(rng, n_track, ""),
        "AlbumId": rng.integers(1, n_album + 1, n_track),
        "MediaTypeId": rng.choice([1, 1, 1, 2, 2, 3, 4, 5], n_track),
        "GenreId": rng.integers(1, 26, n_track),
        "Composer": composer[rng.integers(0, len(composer), n_track)],
        "Milliseconds": rng.integers(60_000, 600_000, n_track),
        "Bytes": rng.integers(1_000_000, 12_000_000, n_track),
        "UnitPrice": rng.choice([0.99, 1.99], n_track)})
    cities = ["Calgary", "Edmonton", "Lethbridge", "Oslo", "Prague", "Paris", "Berlin"]
    employee = pd.DataFrame({
        "EmployeeId": np.arange(1, 9), "LastName": _words(rng, 8, ""),
        "FirstName": _words(rng, 8, ""),
        "Title": ["General Manager", "Sales Manager", "Sales Support Agent",
                  "Sales Support Agent", "Sales Support Agent", "IT Manager", "IT Staff",
                  "IT Staff"],
        "ReportsTo": pd.array([None, 1, 2, 2, 2, 1, 6, 6], dtype="Int64"),
        "BirthDate": _dates(rng, 8, "1947-01-01", 9000).sample(frac=1, random_state=1)
        .reset_index(drop=True),
        "HireDate": _dates(rng, 8, "2002-01-01", 700),
        "City": rng.choice(cities[:3], 8), "Country": "Canada",
        "Email": [f"e{i}@chinookcorp.com" for i in range(1, 9)]})
    countries = ["Brazil", "Germany", "Canada", "Norway", "Czech Republic", "USA", "France"]
    customer = pd.DataFrame({
        "CustomerId": np.arange(1, n_cust + 1), "FirstName": _words(rng, n_cust, ""),
        "LastName": _words(rng, n_cust, ""),
        "Company": np.where(rng.random(n_cust) < 0.2, "Embraer", None),
        "City": rng.choice(cities, n_cust), "Country": rng.choice(countries, n_cust),
        "Email": [f"c{i}@example.com" for i in range(1, n_cust + 1)],
        "SupportRepId": rng.integers(3, 6, n_cust)})
    invoice = pd.DataFrame({
        "InvoiceId": np.arange(1, n_inv + 1),
        "CustomerId": rng.integers(1, n_cust + 1, n_inv),
        "InvoiceDate": _dates(rng, n_inv, "2009-01-01", 1800),
        "BillingCity": rng.choice(cities, n_inv),
        "BillingCountry": rng.choice(countries, n_inv),
        "Total": np.round(rng.gamma(2.0, 3.0, n_inv), 2)})
    line = pd.DataFrame({
        "InvoiceLineId": np.arange(1, n_line + 1),
        "InvoiceId": np.sort(rng.integers(1, n_inv + 1, n_line)),
        "TrackId": rng.integers(1, n_track + 1, n_line),
        "UnitPrice": rng.choice([0.99, 1.99], n_line), "Quantity": 1})
    playlist = pd.DataFrame({"PlaylistId": np.arange(1, 19), "Name": _words(rng, 18, "Mix ")})
    pairs = rng.choice(18 * n_track, size=500, replace=False)
    playlist_track = pd.DataFrame({"PlaylistId": pairs // n_track + 1,
                                   "TrackId": pairs % n_track + 1}).sort_values(
        ["PlaylistId", "TrackId"], ignore_index=True)
    tables = {"Artist": artist, "Album": album, "MediaType": media, "Genre": genre,
              "Track": track, "Employee": employee, "Customer": customer, "Invoice": invoice,
              "InvoiceLine": line, "Playlist": playlist, "PlaylistTrack": playlist_track}
    truth = _truth({
        "Artist": ("ArtistId", {}),
        "Album": ("AlbumId", {"ArtistId": "Artist"}),
        "MediaType": ("MediaTypeId", {}),
        "Genre": ("GenreId", {}),
        "Track": ("TrackId", {"AlbumId": "Album", "MediaTypeId": "MediaType",
                              "GenreId": "Genre"}),
        "Employee": ("EmployeeId", {"ReportsTo": "Employee"}),
        "Customer": ("CustomerId", {"SupportRepId": "Employee"}),
        "Invoice": ("InvoiceId", {"CustomerId": "Customer"}),
        "InvoiceLine": ("InvoiceLineId", {"InvoiceId": "Invoice", "TrackId": "Track"}),
        "Playlist": ("PlaylistId", {}),
        "PlaylistTrack": (("PlaylistId", "TrackId"), {"PlaylistId": "Playlist",
                                                       "TrackId": "Track"}),
    })
    return tables, truth


def northwind(seed: int = 0):
    rng = np.random.default_rng([seed, 1])
    n_sup, n_prod, n_cust, n_ord = 29, 77, 91, 400
    categories = pd.DataFrame({
        "CategoryID": np.arange(1, 9),
        "CategoryName": ["Beverages", "Condiments", "Confections", "Dairy Products",
                         "Grains/Cereals", "Meat/Poultry", "Produce", "Seafood"],
        "Description": [f"Description {i}" for i in range(8)]})
    suppliers = pd.DataFrame({
        "SupplierID": np.arange(1, n_sup + 1),
        "CompanyName": _words(rng, n_sup, "Firma "),
        "ContactName": _words(rng, n_sup, ""),
        "City": rng.choice(["London", "Tokyo", "Oviedo", "Boston", "Sydney"], n_sup),
        "Country": rng.choice(["UK", "Japan", "Spain", "USA", "Australia"], n_sup),
        "Phone": [f"(171) 555-{1000 + i}" for i in range(n_sup)]})
    products = pd.DataFrame({
        "ProductID": np.arange(1, n_prod + 1),
        "ProductName": _words(rng, n_prod, ""),
        "SupplierID": rng.integers(1, n_sup + 1, n_prod),
        "CategoryID": rng.integers(1, 9, n_prod),
        "QuantityPerUnit": rng.choice(["10 boxes x 20 bags", "24 - 12 oz bottles",
                                       "12 - 550 ml bottles"], n_prod),
        "UnitPrice": np.round(rng.gamma(2.0, 12.0, n_prod), 2),
        "UnitsInStock": rng.integers(0, 120, n_prod),
        "UnitsOnOrder": rng.choice([0, 0, 0, 10, 40, 70], n_prod),
        "ReorderLevel": rng.choice([0, 5, 10, 15, 25, 30], n_prod),
        "Discontinued": rng.random(n_prod) < 0.1})
    shippers = pd.DataFrame({"ShipperID": [1, 2, 3],
                             "CompanyName": ["Speedy Express", "United Package",
                                             "Federal Shipping"],
                             "Phone": ["(503) 555-9831", "(503) 555-3199", "(503) 555-9931"]})
    employees = pd.DataFrame({
        "EmployeeID": np.arange(1, 10), "LastName": _words(rng, 9, ""),
        "FirstName": _words(rng, 9, ""),
        "Title": ["Sales Representative", "Vice President, Sales", "Sales Representative",
                  "Sales Representative", "Sales Manager", "Sales Representative",
                  "Sales Representative", "Inside Sales Coordinator", "Sales Representative"],
        "BirthDate": _dates(rng, 9, "1937-01-01", 11000).sample(frac=1, random_state=2)
        .reset_index(drop=True),
        "HireDate": _dates(rng, 9, "1992-04-01", 900),
        "City": rng.choice(["Seattle", "Tacoma", "Kirkland", "London"], 9),
        "Country": rng.choice(["USA", "UK"], 9),
        "ReportsTo": pd.array([2, None, 2, 2, 2, 5, 5, 2, 5], dtype="Int64")})
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    codes: list[str] = []
    while len(codes) < n_cust:
        code = "".join(rng.choice(letters, 5))
        if code not in codes:
            codes.append(code)
    customers = pd.DataFrame({
        "CustomerID": codes, "CompanyName": _words(rng, n_cust, "Casa "),
        "ContactName": _words(rng, n_cust, ""),
        "ContactTitle": rng.choice(["Owner", "Sales Agent", "Marketing Manager"], n_cust),
        "City": rng.choice(["Berlin", "México D.F.", "London", "Luleå", "Madrid"], n_cust),
        "Country": rng.choice(["Germany", "Mexico", "UK", "Sweden", "Spain"], n_cust)})
    orders = pd.DataFrame({
        "OrderID": np.arange(10248, 10248 + n_ord),
        "CustomerID": rng.choice(codes, n_ord),
        "EmployeeID": rng.integers(1, 10, n_ord),
        "OrderDate": _dates(rng, n_ord, "1996-07-04", 670),
        "ShipVia": rng.integers(1, 4, n_ord),
        "Freight": np.round(rng.gamma(1.5, 40.0, n_ord), 2),
        "ShipName": rng.choice(customers["CompanyName"], n_ord),
        "ShipCity": rng.choice(["Reims", "Münster", "Rio de Janeiro", "Lyon"], n_ord),
        "ShipCountry": rng.choice(["France", "Germany", "Brazil"], n_ord)})
    orders["RequiredDate"] = orders["OrderDate"] + pd.Timedelta(28, "D")
    orders["ShippedDate"] = (orders["OrderDate"] + pd.to_timedelta(
        rng.integers(1, 20, n_ord), unit="D")).where(rng.random(n_ord) > 0.05)
    rows = []
    for order in orders["OrderID"]:
        for product in rng.choice(n_prod, size=int(rng.integers(1, 5)), replace=False) + 1:
            rows.append((order, product))
    details = pd.DataFrame(rows, columns=["OrderID", "ProductID"])
    details["UnitPrice"] = products.set_index("ProductID").loc[details["ProductID"],
                                                               "UnitPrice"].to_numpy()
    details["Quantity"] = rng.integers(1, 60, len(details))
    details["Discount"] = rng.choice([0.0, 0.05, 0.1, 0.25], len(details))
    region = pd.DataFrame({"RegionID": [1, 2, 3, 4],
                           "RegionDescription": ["Eastern", "Western", "Northern",
                                                 "Southern"]})
    territory_ids = sorted({f"{int(v):05d}" for v in rng.integers(1000, 99999, 53)})
    territories = pd.DataFrame({
        "TerritoryID": territory_ids,
        "TerritoryDescription": _words(rng, len(territory_ids), ""),
        "RegionID": rng.integers(1, 5, len(territory_ids))})
    emp_terr = pd.DataFrame({"EmployeeID": rng.integers(1, 10, len(territory_ids)),
                             "TerritoryID": territory_ids})
    tables = {"Categories": categories, "Suppliers": suppliers, "Products": products,
              "Shippers": shippers, "Employees": employees, "Customers": customers,
              "Orders": orders, "Order Details": details, "Region": region,
              "Territories": territories, "EmployeeTerritories": emp_terr}
    truth = _truth({
        "Categories": ("CategoryID", {}),
        "Suppliers": ("SupplierID", {}),
        "Products": ("ProductID", {"SupplierID": "Suppliers", "CategoryID": "Categories"}),
        "Shippers": ("ShipperID", {}),
        "Employees": ("EmployeeID", {"ReportsTo": "Employees"}),
        "Customers": ("CustomerID", {}),
        "Orders": ("OrderID", {"CustomerID": "Customers", "EmployeeID": "Employees",
                               "ShipVia": "Shippers"}),
        "Order Details": (("OrderID", "ProductID"), {"OrderID": "Orders",
                                                      "ProductID": "Products"}),
        "Region": ("RegionID", {}),
        "Territories": ("TerritoryID", {"RegionID": "Region"}),
        "EmployeeTerritories": (("EmployeeID", "TerritoryID"),
                                {"EmployeeID": "Employees", "TerritoryID": "Territories"}),
    })
    return tables, truth


def shop(seed: int = 0):
    rng = np.random.default_rng([seed, 2])
    n_prod, n_ord = 50, 300
    shops = pd.DataFrame({"shop": [f"S{i}" for i in range(8)],
                          "city": ["Brno", "Praha", "Ostrava", "Plzeň", "Olomouc", "Liberec",
                                   "Zlín", "Kladno"],
                          "floor_area": rng.integers(80, 400, 8),
                          "opened": _dates(rng, 8, "2015-01-01", 1500)})
    products = pd.DataFrame({"product_id": np.arange(1, n_prod + 1),
                             "name": _words(rng, n_prod, ""),
                             "price": np.round(rng.gamma(2.0, 8.0, n_prod), 2)})
    orders = pd.DataFrame({"order_id": np.arange(1, n_ord + 1),
                           "shop": rng.choice(shops["shop"], n_ord),
                           "product_id": rng.integers(1, n_prod + 1, n_ord),
                           "quantity": rng.integers(1, 6, n_ord),
                           "ts": _dates(rng, n_ord, "2021-01-01", 365)})
    tables = {"shops": shops, "products": products, "orders": orders}
    truth = _truth({"shops": ("shop", {}), "products": ("product_id", {}),
                    "orders": ("order_id", {"shop": "shops", "product_id": "products"})})
    return tables, truth


def flights(seed: int = 0):
    rng = np.random.default_rng([seed, 3])
    carriers = ["9E", "AA", "AS", "B6", "DL", "EV", "F9", "HA", "MQ", "UA", "US", "VX", "WN"]
    airlines = pd.DataFrame({"carrier": carriers,
                             "name": [f"{w} Airlines" for w in _words(rng, len(carriers), "")]})
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    faa: list[str] = ["EWR", "JFK", "LGA"]
    while len(faa) < 60:
        code = "".join(rng.choice(letters, 3))
        if code not in faa:
            faa.append(code)
    airports = pd.DataFrame({
        "faa": faa, "name": [f"{w} Airport" for w in _words(rng, len(faa), "")],
        "lat": np.round(rng.uniform(25, 48, len(faa)), 4),
        "lon": np.round(rng.uniform(-122, -70, len(faa)), 4),
        "alt": rng.integers(0, 6000, len(faa)), "tz": rng.choice([-5, -6, -7, -8], len(faa)),
        "dst": "A", "tzone": rng.choice(["America/New_York", "America/Chicago",
                                         "America/Denver", "America/Los_Angeles"], len(faa))})
    tails: list[str] = []
    while len(tails) < 120:
        tail = f"N{int(rng.integers(100, 999))}{''.join(rng.choice(letters, 2))}"
        if tail not in tails:
            tails.append(tail)
    planes = pd.DataFrame({
        "tailnum": tails, "year": rng.integers(1985, 2013, len(tails)),
        "type": "Fixed wing multi engine",
        "manufacturer": rng.choice(["BOEING", "AIRBUS", "EMBRAER", "BOMBARDIER INC"],
                                   len(tails)),
        "model": rng.choice(["737-824", "A320-232", "EMB-145XR", "CL-600-2D24"], len(tails)),
        "engines": 2, "seats": rng.choice([55, 80, 149, 182, 200], len(tails)),
        "speed": pd.array([None] * len(tails), dtype="Int64"), "engine": "Turbo-fan"})
    n = 1000
    day = rng.integers(0, 365, n)
    dep = pd.Timestamp("2013-01-01") + pd.to_timedelta(day, unit="D")
    hour, minute = rng.integers(5, 23, n), rng.choice([0, 15, 30, 45], n)
    # about 3% of the flights' planes and 2% of their destinations are not in the tables, as in
    # real data; some tail numbers are missing
    extra_tails = [f"N{900 + i}ZZ" for i in range(4)]
    tailnum = np.where(rng.random(n) < 0.03, rng.choice(extra_tails, n), rng.choice(tails, n))
    tailnum = np.where(rng.random(n) < 0.01, None, tailnum)
    dest = np.where(rng.random(n) < 0.02, rng.choice(["BQN", "SJU", "STT"], n),
                    rng.choice(faa[3:], n))
    origin = rng.choice(faa[:3], n)
    delay = np.round(rng.gamma(1.2, 15.0, n) - 10).astype(np.int64)
    flights = pd.DataFrame({
        "year": 2013, "month": dep.month, "day": dep.day,
        "dep_time": hour * 100 + minute + delay % 60, "sched_dep_time": hour * 100 + minute,
        "dep_delay": delay, "arr_time": (hour + 2) % 24 * 100 + minute,
        "sched_arr_time": (hour + 2) % 24 * 100 + minute, "arr_delay": delay - 5,
        "carrier": rng.choice(carriers, n), "flight": rng.integers(1, 2000, n),
        "tailnum": tailnum, "origin": origin, "dest": dest,
        "air_time": rng.integers(30, 400, n), "distance": rng.integers(80, 2600, n),
        "hour": hour, "minute": minute,
        "time_hour": dep + pd.to_timedelta(hour, unit="h")}).sort_values(
        "time_hour", ignore_index=True)
    hours = pd.date_range("2013-01-01", periods=24 * 20, freq="h")
    weather = pd.DataFrame({
        "origin": np.repeat(faa[:3], len(hours)), "time_hour": np.tile(hours, 3)})
    weather = weather.assign(
        year=2013, month=weather["time_hour"].dt.month, day=weather["time_hour"].dt.day,
        hour=weather["time_hour"].dt.hour,
        temp=np.round(rng.normal(40, 10, len(weather)), 1),
        humid=np.round(rng.uniform(20, 100, len(weather)), 2),
        wind_dir=rng.choice(np.arange(0, 370, 10), len(weather)),
        wind_speed=np.round(rng.gamma(2, 5, len(weather)), 3),
        precip=0.0, visib=10.0)
    tables = {"airlines": airlines, "airports": airports, "planes": planes, "flights": flights,
              "weather": weather}
    truth = _truth({"airlines": ("carrier", {}), "airports": ("faa", {}),
                    "planes": ("tailnum", {}),
                    "flights": (None, {"carrier": "airlines", "tailnum": "planes",
                                       "origin": "airports", "dest": "airports"}),
                    "weather": (None, {"origin": "airports"})})
    return tables, truth


def baseball(seed: int = 0):
    rng = np.random.default_rng([seed, 4])
    n_people = 150
    first, last = _words(rng, 60, ""), _words(rng, 120, "")
    ids: list[str] = []
    names = []
    while len(ids) < n_people:
        f, l_ = rng.choice(first), rng.choice(last)
        pid = f"{l_.lower()[:5]}{f.lower()[:2]}{len(ids) % 3 + 1:02d}"
        if pid not in ids:
            ids.append(pid)
            names.append((f, l_))
    people = pd.DataFrame({
        "playerID": ids, "nameFirst": [f for f, _ in names], "nameLast": [x for _, x in names],
        "birthYear": rng.integers(1950, 1995, n_people),
        "birthCountry": rng.choice(["USA", "D.R.", "Venezuela", "Cuba", "Japan"], n_people),
        "bats": rng.choice(["R", "L", "B"], n_people),
        "throws": rng.choice(["R", "L"], n_people),
        "debut": _dates(rng, n_people, "1975-04-01", 12000)})
    team_ids = ["ATL", "BOS", "CHN", "CLE", "DET", "HOU", "LAN", "NYA", "NYN", "OAK", "SEA",
                "SLN", "TEX", "TOR"]
    teams = pd.DataFrame({
        "teamID": team_ids, "lgID": rng.choice(["AL", "NL"], len(team_ids)),
        "franchID": [t[:2] + "X" for t in team_ids],
        "name": [f"{w} Club" for w in _words(rng, len(team_ids), "")],
        "park": [f"{w} Park" for w in _words(rng, len(team_ids), "")],
        "founded": rng.integers(1876, 1977, len(team_ids))})

    def seasons(kind: str):
        rows = []
        for pid in rng.choice(ids, size=100, replace=False):
            start = int(rng.integers(1995, 2015))
            team = rng.choice(team_ids)
            for year in range(start, start + int(rng.integers(1, 6))):
                stints = 2 if rng.random() < 0.15 else 1
                for stint in range(1, stints + 1):
                    if stint == 2:
                        team = rng.choice(team_ids)
                    rows.append((pid, year, stint, team))
        df = pd.DataFrame(rows, columns=["playerID", "yearID", "stint", "teamID"])
        m = len(df)
        if kind == "batting":
            ab = rng.integers(0, 600, m)
            return df.assign(G=rng.integers(1, 162, m), AB=ab, R=ab // 7, H=ab // 4,
                             HR=rng.integers(0, 40, m), RBI=rng.integers(0, 120, m),
                             SB=rng.integers(0, 30, m))
        return df.assign(W=rng.integers(0, 20, m), L=rng.integers(0, 18, m),
                         G=rng.integers(1, 70, m), SO=rng.integers(0, 250, m),
                         ERA=np.round(rng.gamma(4.0, 1.0, m), 2))

    tables = {"people": people, "teams": teams, "batting": seasons("batting"),
              "pitching": seasons("pitching")}
    truth = _truth({
        "people": ("playerID", {}), "teams": ("teamID", {}),
        "batting": (("playerID", "yearID", "stint"), {"playerID": "people",
                                                       "teamID": "teams"}),
        "pitching": (("playerID", "yearID", "stint"), {"playerID": "people",
                                                        "teamID": "teams"}),
    })
    return tables, truth


CORPUS = {"f1": f1, "tpch": tpch, "synthetic": synthetic, "chinook": chinook,
          "northwind": northwind, "shop": shop, "flights": flights, "baseball": baseball}


# -- SQLite files -----------------------------------------------------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(series):
        return "INTEGER"
    if pd.api.types.is_float_dtype(series):
        values = series.dropna()
        return "INTEGER" if len(values) and (values == values.round()).all() and \
            series.isna().any() else "REAL"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "TIMESTAMP"
    return "TEXT"


def _cols(key) -> tuple[str, ...]:
    return tuple(key) if isinstance(key, tuple) else (key,)


def write_sqlite(path: Path, tables: dict, truth: dict | None) -> None:
    """Write ``tables`` to a SQLite file, with ``truth``'s keys declared when given."""
    con = sqlite3.connect(path)
    try:
        for name, df in tables.items():
            lines = [f"  {_q(c)} {_sql_type(df[c])}" for c in df.columns]
            if truth is not None:
                spec = truth[name]
                if spec["primary_key"] is not None:
                    cols = ", ".join(_q(c) for c in _cols(spec["primary_key"]))
                    lines.append(f"  PRIMARY KEY ({cols})")
                for fk, ref in spec["foreign_keys"].items():
                    ref_cols = ", ".join(_q(c) for c in _cols(truth[ref]["primary_key"]))
                    cols = ", ".join(_q(c) for c in _cols(fk))
                    lines.append(f"  FOREIGN KEY ({cols}) REFERENCES {_q(ref)} ({ref_cols})")
            con.execute(f"CREATE TABLE {_q(name)} (\n" + ",\n".join(lines) + "\n)")
            values = df.astype(object).where(df.notna(), None)
            for col in df.columns:
                if pd.api.types.is_datetime64_any_dtype(df[col]):
                    values[col] = [None if pd.isna(v) else v.isoformat(sep=" ")
                                   for v in df[col]]
                elif pd.api.types.is_bool_dtype(df[col]):
                    values[col] = [None if pd.isna(v) else int(v) for v in df[col]]
            rows = [tuple(v.item() if isinstance(v, np.generic) else v for v in row)
                    for row in values.itertuples(index=False, name=None)]
            marks = ", ".join("?" * len(df.columns))
            con.executemany(f"INSERT INTO {_q(name)} VALUES ({marks})", rows)
        con.commit()
    finally:
        con.close()


# -- scores -----------------------------------------------------------------------------------
def _pk_set(schema: dict) -> set:
    return {(t, frozenset(_cols(s["primary_key"]))) for t, s in schema.items()
            if s.get("primary_key") is not None}


def _fk_set(schema: dict) -> set:
    return {(t, frozenset(_cols(c)), ref) for t, s in schema.items()
            for c, ref in (s.get("foreign_keys") or {}).items()}


def _pr(found: set, true: set) -> dict:
    hits = len(found & true)
    return {"true": len(true), "found": len(found), "correct": hits,
            "precision": hits / len(found) if found else 1.0,
            "recall": hits / len(true) if true else 1.0}


def _fmt(key) -> str:
    table, cols, *ref = key
    text = f"{table}.{'+'.join(sorted(cols))}"
    return text + (f" -> {ref[0]}" if ref else "")


def score(found: dict, truth: dict) -> dict:
    out = {}
    for what, fn in (("primary_keys", _pk_set), ("foreign_keys", _fk_set)):
        f, t = fn(found), fn(truth)
        out[what] = {**_pr(f, t), "missed": sorted(_fmt(k) for k in t - f),
                     "wrong": sorted(_fmt(k) for k in f - t)}
    return out


def _total(per_schema: dict, which: str) -> dict:
    out = {}
    for what in ("primary_keys", "foreign_keys"):
        c = {k: sum(s[which][what][k] for s in per_schema.values())
             for k in ("true", "found", "correct")}
        c["precision"] = c["correct"] / c["found"] if c["found"] else 1.0
        c["recall"] = c["correct"] / c["true"] if c["true"] else 1.0
        out[what] = c
    return out


def run(names: list[str], seed: int = 0) -> dict:
    from relcontrast.io import infer_schema, read_database

    per_schema = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            tables, truth = CORPUS[name](seed)
            bare, declared = Path(tmp) / f"{name}.sqlite", Path(tmp) / f"{name}_declared.sqlite"
            write_sqlite(bare, tables, None)
            write_sqlite(declared, tables, truth)
            t0 = time.perf_counter()
            inferred = infer_schema(str(bare))
            seconds = time.perf_counter() - t0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    db = read_database(str(declared), on_dangling="ignore")
                    read = {t: s.to_dict() for t, s in db.schema.items()}
                except ValueError as exc:  # a proposal the database refuses
                    read = {t: {"primary_key": None, "foreign_keys": {}} for t in tables}
                    print(f"{name}: read_database failed: {exc}", file=sys.stderr)
            per_schema[name] = {
                "tables": len(tables), "rows": int(sum(len(df) for df in tables.values())),
                "inference_seconds": round(seconds, 3),
                "inferred": score(inferred, truth), "declared_file": score(read, truth)}
            s = per_schema[name]["inferred"]
            print(f"{name:10s} keys {s['primary_keys']['correct']}/{s['primary_keys']['true']}"
                  f" (found {s['primary_keys']['found']}), foreign keys "
                  f"{s['foreign_keys']['correct']}/{s['foreign_keys']['true']} (found "
                  f"{s['foreign_keys']['found']}) in {seconds:.2f} s")
            for what in ("primary_keys", "foreign_keys"):
                if s[what]["missed"]:
                    print(f"  {what} missed: {', '.join(s[what]['missed'])}")
                if s[what]["wrong"]:
                    print(f"  {what} wrong: {', '.join(s[what]['wrong'])}")
    return {"schemas": per_schema, "total": {w: _total(per_schema, w)
                                             for w in ("inferred", "declared_file")}}


def markdown(runs: dict) -> str:
    labels = list(runs)
    lines = ["# Schema inference on real naming", "",
             "Precision / recall of primary keys (PK) and foreign keys (FK) proposed by "
             "`infer_schema` on SQLite files without declared constraints (a composite key "
             "counts as one). Produced by `benchmarks/schema_inference.py`.", ""]
    head = "| schema | tables | " + " | ".join(
        f"PK P / R ({lab}) | FK P / R ({lab})" for lab in labels) + " |"
    lines += [head, "|" + "---|" * (2 + 2 * len(labels))]

    def cell(s):
        return f"{s['precision']:.2f} / {s['recall']:.2f} ({s['correct']}/{s['true']}, " \
               f"{s['found']} found)"

    names = list(runs[labels[-1]]["schemas"])
    for name in [*names, "total"]:
        row = [name, ""]
        for lab in labels:
            res = runs[lab]
            if name == "total":
                s = res["total"]["inferred"]
                row[1] = str(sum(v["tables"] for v in res["schemas"].values()))
            elif name in res["schemas"]:
                s = res["schemas"][name]["inferred"]
                row[1] = str(res["schemas"][name]["tables"])
            else:
                row += ["", ""]
                continue
            row += [cell(s["primary_keys"]), cell(s["foreign_keys"])]
        lines.append("| " + " | ".join(row) + " |")
    last = runs[labels[-1]]
    lines += ["", f"Missed and wrong keys ({labels[-1]}):", ""]
    for name, res in last["schemas"].items():
        for what in ("primary_keys", "foreign_keys"):
            s = res["inferred"][what]
            if s["missed"] or s["wrong"]:
                lines.append(f"- {name} {what.replace('_', ' ')}: missed "
                             f"{', '.join(s['missed']) or 'none'}; wrong "
                             f"{', '.join(s['wrong']) or 'none'}")
    d = last["total"]["declared_file"]
    lines += ["", f"`read_database` on the files with declared constraints ({labels[-1]}): "
              f"PK {cell(d['primary_keys'])}, FK {cell(d['foreign_keys'])}.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after", help="name of this run in the results")
    parser.add_argument("--schemas", nargs="*", default=list(CORPUS), choices=list(CORPUS))
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the generated rows (the hand-written schemas; F1, TPC-H "
                             "and the synthetic database do not change)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.schemas, args.seed)
    print(json.dumps(result["total"], indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "schema_inference.json"
    runs = json.loads(path.read_text())["runs"] if path.exists() else {}
    seed = f" --seed {args.seed}" if args.seed else ""
    runs[args.label] = {"command": "python benchmarks/schema_inference.py --label "
                                   f"{args.label}{seed}", "seed": args.seed, **result}
    path.write_text(json.dumps({"description": __doc__.splitlines()[0], "runs": runs},
                               indent=1) + "\n")
    (args.out / "schema_inference.md").write_text(markdown(runs))


if __name__ == "__main__":
    main()
