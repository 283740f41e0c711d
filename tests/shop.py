"""The hand-built shop of the count-input and predictive tests.

Customers ``a``, ``b``, ``c`` (untimed) and their baskets (timed), each with an amount and,
optionally, a channel. Customer ``a`` has baskets on days 0, 1, 2, 3, 3 + 1 ns and 5; ``b``
on days 0 to 6 (one a day, all on the web); ``c`` none. The positive gaps between a
customer's consecutive baskets are 1 day (nine times), 1 ns and 2 days - 1 ns: their lower
median is 1 day, so the count windows are 1, 4 and 16 days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = 86_400 * 10**9
T0 = pd.Timestamp("2021-03-01").value
A_DAYS = [0, 1, 2, 3, 3, 5]  # the second day-3 basket is 1 ns later
A_CHANNEL = ["web", "web", "shop", "web", "shop", "web"]


def shop_tables(extra: list[tuple[str, int]] = (), *, channel: bool = False
                ) -> tuple[dict, dict]:
    """The shop's tables and schema; ``extra``: more baskets ``(customer, time in ns)``, in
    the "shop" channel. The ``k``-th basket's id is ``7k + 3`` and its amount ``5 + 3k``."""
    times = [T0 + d * DAY + (1 if i == 4 else 0) for i, d in enumerate(A_DAYS)]
    cids, channels = ["a"] * len(times), list(A_CHANNEL)
    times += [T0 + d * DAY for d in range(7)]
    cids += ["b"] * 7
    channels += ["web"] * 7
    for cid, t in extra:
        cids.append(cid)
        times.append(t)
        channels.append("shop")
    baskets = pd.DataFrame({
        "bid": np.arange(len(times)) * 7 + 3,
        "cid": cids,
        "ts": pd.to_datetime(np.array(times, dtype=np.int64)),
        "amount": 5.0 + 3.0 * np.arange(len(times)),
    })
    if channel:
        baskets["channel"] = channels
    customers = pd.DataFrame({"cid": ["a", "b", "c"], "age": [31.0, 45.0, 27.0]})
    schema = {"customers": {"primary_key": "cid"},
              "baskets": {"primary_key": "bid", "foreign_keys": {"cid": "customers"},
                          "time_column": "ts"}}
    return {"customers": customers, "baskets": baskets}, schema
