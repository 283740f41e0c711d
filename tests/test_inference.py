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
