"""Schema inference: declared entries, keys on real naming, evidence, false-positive traps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relcontrast.io import infer_schema


def shop_tables():
    """The issue's shop database: ``shops`` keyed by ``shop`` (S0..S7), ``orders.shop``."""
    shops = pd.DataFrame({"shop": [f"S{i}" for i in range(8)],
                          "city": ["Brno", "Praha", "Ostrava", "Plzen", "Olomouc", "Liberec",
                                   "Zlin", "Kladno"],
                          "floor_area": [120, 80, 300, 95, 150, 210, 99, 130]})
    products = pd.DataFrame({"product_id": [1, 2, 3, 4, 5, 6],
                             "price": [2.5, 3.0, 9.9, 1.2, 4.4, 7.0]})
    orders = pd.DataFrame({
        "order_id": np.arange(100, 112),
        "shop": ["S0", "S1", "S1", "S2", "S3", "S3", "S3", "S5", "S7", "S7", "S0", "S6"],
        "product_id": [1, 2, 2, 3, 6, 5, 4, 1, 1, 2, 6, 3],
        "quantity": [1, 2, 1, 3, 1, 1, 2, 5, 1, 4, 2, 1],  # included in 1..6: a trap
        "ts": pd.date_range("2021-01-01", periods=12, freq="D")})
    return {"shops": shops, "products": products, "orders": orders}


# -- declared ---------------------------------------------------------------------------------
def test_declared_entries_are_kept_and_the_rest_inferred():
    tables = shop_tables()
    declared = {"shops": {"primary_key": "shop"},
                "orders": {"foreign_keys": {"shop": "shops"}, "time_column": None}}
    before = {t: dict(s) for t, s in declared.items()}
    schema, reasons = infer_schema(tables, declared=declared, return_reasons=True)
    assert schema == {
        "shops": {"primary_key": "shop", "foreign_keys": {}, "time_column": None},
        "products": {"primary_key": "product_id", "foreign_keys": {}, "time_column": None},
        "orders": {"primary_key": "order_id", "time_column": "ts",
                   "foreign_keys": {"shop": "shops", "product_id": "products"}},
    }
    assert reasons["shops"][0] == "shop: primary key: declared."
    assert reasons["orders"][1] == "shop: foreign key to 'shops': declared."
    assert declared == before  # the caller's dict is not modified


def test_declared_wins_over_inference():
    tables = shop_tables()
    # a declared primary key and time column that inference would not choose
    declared = {"products": {"primary_key": ["price"]},
                "orders": {"primary_key": ["order_id", "shop"], "time_column": "ts",
                           "foreign_keys": [{"columns": ["product_id"],
                                             "references": "shops"}]}}
    schema, reasons = infer_schema(tables, declared=declared, return_reasons=True)
    assert schema["products"]["primary_key"] == "price"
    assert schema["orders"] == {"primary_key": ("order_id", "shop"), "time_column": "ts",
                                "foreign_keys": {"product_id": "shops", "shop": "shops"}}
    assert reasons["orders"][:2] == ["(order_id, shop): primary key: declared.",
                                     "product_id: foreign key to 'shops': declared."]
    assert reasons["orders"][-1] == "ts: time column: declared."


def test_declared_composite_keys_are_kept():
    orders = pd.DataFrame({"order_id": [1, 2], "note": ["a", "b"]})
    lines = pd.DataFrame({"order_id": [1, 1, 2], "line_no": [1, 2, 1], "qty": [3, 1, 2]})
    links = pd.DataFrame({"order_id": [1, 2], "line_no": [2, 1]})
    declared = {"lines": {"primary_key": ["order_id", "line_no"]},
                "links": {"foreign_keys": [{"columns": ["order_id", "line_no"],
                                            "references": "lines"}]}}
    schema = infer_schema({"orders": orders, "lines": lines, "links": links},
                          declared=declared)
    assert schema["lines"] == {"primary_key": ("order_id", "line_no"), "time_column": None,
                               "foreign_keys": {"order_id": "orders"}}
    assert schema["links"]["foreign_keys"] == {("order_id", "line_no"): "lines"}


def test_declared_errors():
    tables = shop_tables()
    with pytest.raises(ValueError, match=r"declared names table 'shop', but there is no such "
                                         r"table; .*Did you mean 'shops'"):
        infer_schema(tables, declared={"shop": {"primary_key": "shop"}})
    with pytest.raises(ValueError, match=r"declared: table 'shops' has no column 'shop_id'; "
                                         r"its columns are \['shop', 'city', 'floor_area'\]"):
        infer_schema(tables, declared={"shops": {"primary_key": "shop_id"}})
    with pytest.raises(ValueError, match=r"declared: table 'orders', foreign key shop "
                                         r"references table 'shop', but there is no such"):
        infer_schema(tables, declared={"orders": {"foreign_keys": {"shop": "shop"}}})
    with pytest.raises(ValueError, match=r"declared: table 'orders' has unknown key 'pk'"):
        infer_schema(tables, declared={"orders": {"pk": "order_id"}})
    with pytest.raises(TypeError, match=r"declared must be a dict .* or None, got list"):
        infer_schema(tables, declared=[("shops", "shop")])
    assert infer_schema(tables, declared={}) == infer_schema(tables)


# -- keys on real naming ----------------------------------------------------------------------
def test_shop_keyed_by_its_bare_name():
    schema, reasons = infer_schema(shop_tables(), return_reasons=True)
    assert schema == {
        "shops": {"primary_key": "shop", "foreign_keys": {}, "time_column": None},
        "products": {"primary_key": "product_id", "foreign_keys": {}, "time_column": None},
        "orders": {"primary_key": "order_id", "time_column": "ts",
                   "foreign_keys": {"shop": "shops", "product_id": "products"}},
    }
    assert reasons["shops"][0] == "shop: primary key: unique and non-null, named like the table."
    assert reasons["orders"][1] == (
        "shop: foreign key to 'shops': same name as shops.shop; 100.0% of its 12 non-null "
        "values are in shops.shop (threshold 95.0%).")
    # named after the table, but not its key's name: found by name all the same
    tables = shop_tables()
    tables["orders"] = tables["orders"].rename(columns={"shop": "shop_code"})
    schema, reasons = infer_schema(tables, return_reasons=True)
    assert schema["orders"]["foreign_keys"] == {"shop_code": "shops", "product_id": "products"}
    assert reasons["orders"][1].startswith(
        "shop_code: foreign key to 'shops': named after table 'shops'; 100.0%")


def flights_tables():
    """Five tables shaped like a well-known flights database, keyed by codes."""
    airlines = pd.DataFrame({"carrier": ["AA", "B6", "DL", "UA"],
                             "name": ["American", "JetBlue", "Delta", "United"]})
    airports = pd.DataFrame({"faa": ["EWR", "JFK", "LGA", "ATL", "ORD", "SFO"],
                             "name": ["Newark", "Kennedy", "LaGuardia", "Atlanta", "O'Hare",
                                      "San Francisco"],
                             "alt": [18, 13, 22, 1026, 668, 13 + 0],
                             "tz": [-5, -5, -5, -5, -6, -8]})
    airports.loc[5, "alt"] = 12  # unique integers: a measure, not a key
    planes = pd.DataFrame({"tailnum": ["N10156", "N102UW", "N103US", "N104UW"],
                           "year": [2004, 1998, 1999, 1999],
                           "seats": [55, 182, 182, 182]})
    flights = pd.DataFrame({
        "year": [2013] * 8, "month": [1, 1, 1, 2, 2, 3, 3, 4], "day": [1, 1, 2, 5, 6, 7, 9, 9],
        "hour": [5, 6, 6, 9, 13, 17, 18, 22],
        "carrier": ["UA", "AA", "B6", "DL", "UA", "AA", "B6", "DL"],
        "flight": [1545, 1714, 1141, 461, 1696, 507, 5708, 79],  # unique integers here
        "tailnum": ["N10156", "N102UW", None, "N104UW", "N10156", "N103US", "N104UW", "N102UW"],
        "origin": ["EWR", "LGA", "JFK", "JFK", "LGA", "EWR", "EWR", "JFK"],
        "dest": ["ATL", "ORD", "SFO", "ATL", "ATL", "ORD", "SFO", "SFO"],
        "distance": [1400, 1416, 1089, 1576, 762, 719, 1065, 229]})
    weather = pd.DataFrame({"origin": ["EWR", "EWR", "JFK", "JFK", "LGA", "LGA"],
                            "year": [2013] * 6, "month": [1] * 6, "hour": [1, 2, 1, 2, 1, 2],
                            "temp": [39.0, 39.9, 39.0, 37.9, 37.9, 39.0]})
    return {"airlines": airlines, "airports": airports, "planes": planes, "flights": flights,
            "weather": weather}


def test_flights_keyed_by_codes_found_through_references():
    schema, reasons = infer_schema(flights_tables(), return_reasons=True)
    assert {t: (s["primary_key"], s["foreign_keys"]) for t, s in schema.items()} == {
        "airlines": ("carrier", {}),
        "airports": ("faa", {}),
        "planes": ("tailnum", {}),
        "flights": (None, {"carrier": "airlines", "tailnum": "planes", "origin": "airports",
                           "dest": "airports"}),
        "weather": (None, {"origin": "airports"}),
    }
    assert reasons["airports"][0] == (
        "faa: primary key: unique and non-null, referenced by flights.origin (another name, "
        "100.0% of its values), flights.dest (another name, 100.0% of its values), "
        "weather.origin (another name, 100.0% of its values).")
    assert reasons["planes"][0] == (
        "tailnum: primary key: unique and non-null, referenced by flights.tailnum (same name, "
        "100.0% of its values).")
    assert reasons["flights"][3] == (
        "dest: foreign key to 'airports': by values under another name: 100.0% of its 8 "
        "non-null values are in airports.faa (threshold 95.0%), no other table's key holds "
        "them.")
    assert reasons["flights"][1] == (
        "tailnum: foreign key to 'planes': same name as planes.tailnum; 100.0% of its 7 "
        "non-null values are in planes.tailnum (threshold 95.0%), 1 null(s).")


def test_a_dangling_share_below_the_threshold_drops_a_value_match():
    tables = flights_tables()
    tables["weather"] = tables["weather"].assign(origin=["EWR", "XXX", "JFK", "YYY", "LGA",
                                                         "LGA"])
    schema = infer_schema(tables)
    assert schema["weather"]["foreign_keys"] == {}
    assert infer_schema(tables, min_inclusion=0.6)["weather"]["foreign_keys"] == {
        "origin": "airports"}


def chinook_tables():
    """Chinook-style naming: singular PascalCase tables, ``*Id`` keys, a link table."""
    artist = pd.DataFrame({"ArtistId": [1, 2, 3], "Name": ["AC/DC", "Accept", "Aerosmith"]})
    album = pd.DataFrame({"AlbumId": [1, 2, 3, 4], "Title": ["a", "b", "c", "d"],
                          "ArtistId": [1, 2, 2, 3]})
    track = pd.DataFrame({"TrackId": np.arange(1, 7), "AlbumId": [1, 1, 2, 3, 4, 4],
                          "Milliseconds": [343719, 342562, 230619, 252051, 375418, 205662],
                          "Quantity": [1, 1, 1, 1, 1, 1]})
    employee = pd.DataFrame({"EmployeeId": [1, 2, 3, 4],
                             "ReportsTo": pd.array([None, 1, 2, 2], dtype="Int64")})
    customer = pd.DataFrame({"CustomerId": [1, 2, 3, 4, 5], "SupportRepId": [3, 4, 3, 3, 4]})
    playlist = pd.DataFrame({"PlaylistId": [1, 2], "Name": ["Music", "Movies"]})
    playlist_track = pd.DataFrame({"PlaylistId": [1, 1, 1, 2, 2],
                                   "TrackId": [1, 2, 3, 1, 6]})
    return {"Artist": artist, "Album": album, "Track": track, "Employee": employee,
            "Customer": customer, "Playlist": playlist, "PlaylistTrack": playlist_track}


def test_chinook_naming_and_a_link_table():
    schema, reasons = infer_schema(chinook_tables(), return_reasons=True)
    assert {t: (s["primary_key"], s["foreign_keys"]) for t, s in schema.items()} == {
        "Artist": ("ArtistId", {}),
        "Album": ("AlbumId", {"ArtistId": "Artist"}),
        "Track": ("TrackId", {"AlbumId": "Album"}),
        # self-references and references under an unrelated name are not found
        "Employee": ("EmployeeId", {}),
        "Customer": ("CustomerId", {}),
        "Playlist": ("PlaylistId", {}),
        "PlaylistTrack": (("PlaylistId", "TrackId"), {"PlaylistId": "Playlist",
                                                       "TrackId": "Track"}),
    }
    assert reasons["PlaylistTrack"][-2] == (
        "(PlaylistId, TrackId): primary key: unique and non-null together, two foreign keys "
        "(a link table).")


def tpch_like_tables():
    """TPC-H's naming: a column prefix per table, glued ``key`` endings, composite keys."""
    customer = pd.DataFrame({"c_custkey": [1, 2, 3], "c_name": ["a", "b", "c"]})
    part = pd.DataFrame({"p_partkey": [1, 2, 3], "p_size": [7, 1, 3]})
    supplier = pd.DataFrame({"s_suppkey": [1, 2], "s_acctbal": [5.5, 7.0]})
    partsupp = pd.DataFrame({"ps_partkey": [1, 1, 2, 3], "ps_suppkey": [1, 2, 2, 1],
                             "ps_availqty": [3, 1, 2, 2]})
    orders = pd.DataFrame({"o_orderkey": [10, 20, 30], "o_custkey": [1, 1, 3],
                           "o_shippriority": [0, 0, 0]})
    lineitem = pd.DataFrame({"l_orderkey": [10, 10, 20, 30, 30], "l_partkey": [1, 2, 3, 1, 2],
                             "l_suppkey": [2, 2, 1, 1, 2], "l_linenumber": [1, 2, 1, 1, 2],
                             "l_quantity": [3, 2, 1, 1, 2]})
    return {"customer": customer, "part": part, "supplier": supplier, "partsupp": partsupp,
            "orders": orders, "lineitem": lineitem}


def test_tpch_naming_prefixes_abbreviations_and_composite_keys():
    schema, reasons = infer_schema(tpch_like_tables(), return_reasons=True)
    assert {t: (s["primary_key"], s["foreign_keys"]) for t, s in schema.items()} == {
        "customer": ("c_custkey", {}),
        "part": ("p_partkey", {}),
        "supplier": ("s_suppkey", {}),
        "partsupp": (("ps_partkey", "ps_suppkey"), {"ps_partkey": "part",
                                                     "ps_suppkey": "supplier"}),
        "orders": ("o_orderkey", {"o_custkey": "customer"}),
        "lineitem": (("l_orderkey", "l_linenumber"),
                     {"l_orderkey": "orders", "l_partkey": "part", "l_suppkey": "supplier",
                      ("l_partkey", "l_suppkey"): "partsupp"}),
    }
    assert reasons["customer"][0] == (
        "c_custkey: primary key: unique and non-null, named after the table ('c_custkey' "
        "abbreviates 'customer').")
    assert reasons["orders"][1] == (
        "o_custkey: foreign key to 'customer': same name as customer.c_custkey, column "
        "prefixes aside; 100.0% of its 3 non-null values are in customer.c_custkey "
        "(threshold 95.0%).")
    assert "(l_orderkey, l_linenumber): primary key: unique and non-null together, a foreign " \
        "key and a sequence number. Other unique pairs: [('l_orderkey', 'l_partkey')]." \
        in reasons["lineitem"]
    assert reasons["lineitem"][-2] == (
        "(l_partkey, l_suppkey): foreign key to 'partsupp': named as the columns of "
        "partsupp's primary key (ps_partkey, ps_suppkey); 100.0% of its 5 rows' values are "
        "in it (threshold 95.0%).")
    # a pair absent from partsupp: the composite foreign key goes, the single ones stay
    tables = tpch_like_tables()
    tables["lineitem"] = tables["lineitem"].assign(l_suppkey=[2, 2, 2, 2, 2])
    lineitem = infer_schema(tables)["lineitem"]["foreign_keys"]
    assert ("l_partkey", "l_suppkey") not in lineitem
    assert lineitem["l_suppkey"] == "supplier"


# -- false-positive traps ---------------------------------------------------------------------
def test_integer_measures_are_neither_keys_nor_foreign_keys():
    # days are unique in one table and the same-named column of another lies in them; hours
    # and counts lie in the small integer key of users
    daily = pd.DataFrame({"day": [1, 2, 3, 4, 5, 6, 7], "temp": [3.5, 4.0, 1.2, 0.0, 2.2,
                                                                 5.1, 6.3]})
    users = pd.DataFrame({"user_id": [1, 2, 3, 4, 5, 6], "age": [31, 45, 22, 60, 38, 27]})
    flights = pd.DataFrame({"flight_id": [10, 11, 12, 13, 14, 15],
                            "day": [1, 1, 2, 5, 7, 7], "hour": [1, 2, 3, 4, 5, 6],
                            "seats_sold": [3, 1, 2, 2, 6, 4]})
    schema, reasons = infer_schema({"daily": daily, "users": users, "flights": flights},
                                   return_reasons=True)
    assert schema["daily"]["primary_key"] is None
    assert schema["flights"] == {"primary_key": "flight_id", "foreign_keys": {},
                                 "time_column": None}
    assert reasons["daily"][0].startswith("no primary key: no unique, non-null column with "
                                          "an id-like name (id, daily_id, dailyId, ...) or "
                                          "referenced by another table, and no unique pair")


def test_names_are_not_keys_and_self_references_need_a_name():
    # unique artist names referenced by a column of names: text, not a key; the referrer
    # column's values lie in the table's own key, but its name says nothing
    artists = pd.DataFrame({"name": ["Abba", "Beck", "Cher"], "genre": ["pop", "rock", "pop"]})
    songs = pd.DataFrame({"song_id": ["s1", "s2", "s3", "s4"],
                          "singer": ["Abba", "Cher", "Cher", "Beck"],
                          "cover_of": [None, "s1", "s1", "s2"]})
    schema = infer_schema({"artists": artists, "songs": songs})
    assert schema["artists"]["primary_key"] is None
    assert schema["songs"]["foreign_keys"] == {}


def test_ambiguous_value_matches_are_left_out():
    # origin's codes are keys of two tables: which one it references is not clear
    airports = pd.DataFrame({"faa": ["EWR", "JFK", "LGA"], "tz": [-5, -5, -5]})
    stations = pd.DataFrame({"station": ["EWR", "JFK", "LGA", "BOS"]})
    readings = pd.DataFrame({"reading_id": [1, 2, 3], "station": ["EWR", "JFK", "JFK"]})
    flights = pd.DataFrame({"origin": ["EWR", "JFK", "LGA", "JFK"], "delay": [1, 5, 3, 0]})
    schema, reasons = infer_schema({"airports": airports, "stations": stations,
                                    "readings": readings, "flights": flights},
                                   return_reasons=True)
    assert schema["stations"]["primary_key"] == "station"
    assert schema["airports"]["primary_key"] == "faa"
    assert schema["flights"]["foreign_keys"] == {}
    assert reasons["flights"][0] == (
        "origin: not a foreign key: its values are in the keys of several tables "
        "(airports.faa (100.0%), stations.station (100.0%)); set it by hand.")


def test_a_unique_column_named_after_another_table_is_a_foreign_key_there():
    # each territory has one row here: TerritoryID is unique, yet it is Territories' key
    territories = pd.DataFrame({"TerritoryID": ["01581", "01730", "02116"],
                                "RegionID": [1, 1, 2]})
    employee_territories = pd.DataFrame({"EmployeeID": [1, 1, 2],
                                         "TerritoryID": ["01581", "01730", "02116"]})
    employees = pd.DataFrame({"EmployeeID": [1, 2], "LastName": ["Davolio", "Fuller"]})
    schema, reasons = infer_schema({"Territories": territories,
                                    "EmployeeTerritories": employee_territories,
                                    "Employees": employees}, return_reasons=True)
    assert schema["Territories"]["foreign_keys"] == {}
    assert schema["EmployeeTerritories"]["primary_key"] == ("EmployeeID", "TerritoryID")
    assert schema["EmployeeTerritories"]["foreign_keys"] == {"EmployeeID": "Employees",
                                                             "TerritoryID": "Territories"}
    assert reasons["EmployeeTerritories"][0] == (
        "TerritoryID: not the primary key: unique, but table 'Territories' holds it as a "
        "unique column too: a foreign key to 'Territories'.")


def test_a_fact_table_gets_no_composite_key_from_measures():
    # (player, year) repeats through stints; year and stint are not key columns
    people = pd.DataFrame({"playerID": ["aaronha01", "abadfe01"], "bats": ["R", "L"]})
    batting = pd.DataFrame({"playerID": ["aaronha01", "aaronha01", "aaronha01", "abadfe01"],
                            "yearID": [1954, 1955, 1955, 1954], "stint": [1, 1, 2, 1],
                            "HR": [13, 27, 3, 0]})
    schema = infer_schema({"people": people, "batting": batting})
    assert schema["people"]["primary_key"] == "playerID"
    assert schema["batting"] == {"primary_key": None, "time_column": None,
                                 "foreign_keys": {"playerID": "people"}}
    # a pair of id-like and numbered columns without a foreign key is no key either
    scores = pd.DataFrame({"season_id": [1, 1, 2, 2], "round_no": [1, 2, 1, 2],
                           "points": [10, 8, 10, 6]})
    assert infer_schema({"scores": scores})["scores"]["primary_key"] is None
    # with the season a foreign key, the round numbers the rows within it
    seasons = pd.DataFrame({"season_id": [1, 2], "name": ["spring", "autumn"]})
    schema, reasons = infer_schema({"seasons": seasons, "scores": scores}, return_reasons=True)
    assert schema["scores"]["primary_key"] == ("season_id", "round_no")
    assert reasons["scores"][1] == ("(season_id, round_no): primary key: unique and non-null "
                                    "together, a foreign key and a sequence number.")


def test_a_composite_foreign_key_needs_the_key_types():
    # lines name both columns of shipments' key, one holds strings where the key has integers
    shipments = pd.DataFrame({"order_id": [1, 1, 2], "box_no": [1, 2, 1]})
    orders = pd.DataFrame({"order_id": [1, 2]})
    scans = pd.DataFrame({"scan_id": [7, 8], "order_id": [1, 2], "box_no": ["1", "1"]})
    schema = infer_schema({"orders": orders, "shipments": shipments, "scans": scans})
    assert schema["shipments"]["primary_key"] == ("order_id", "box_no")
    assert schema["scans"]["foreign_keys"] == {"order_id": "orders"}
    scans = scans.assign(box_no=[2, 1])
    schema = infer_schema({"orders": orders, "shipments": shipments, "scans": scans})
    assert schema["scans"]["foreign_keys"] == {"order_id": "orders",
                                               ("order_id", "box_no"): "shipments"}
