"""Before / after of the two build and setup costs fixed for scale, on TPC-H's ``lineitem``.

- distinct-value pools (``fit``'s setup for ``corruption="uniform"``): grouping rows by a
  64-bit hash of their values vs the former row-wise ``torch.unique(dim=0)``, on the
  encoded ``lineitem`` table (same pools, checked);
- text hashing (``build_graph``): ``HashingTextEncoder`` on the ``l_comment`` column with
  its chunks hashed in parallel processes vs one process (same values, checked).

Needs the TPC-H parquet files of ``scale.py`` (``benchmarks/.cache/tpch/sf{X}``). Run on an
otherwise idle machine: ``.venv/bin/python benchmarks/scale_setup.py [--scale-factor 0.3]``;
writes ``benchmarks/results/scale_setup.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

import relcontrast.graph as graph_module
from relcontrast.pretraining import corruption
from relcontrast.pretraining.corruption import _column_keys, _first_rows, distinct_value_pools

CACHE = Path(__file__).parent / ".cache" / "tpch"
RESULTS = Path(__file__).parent / "results"


def _former_pools(tf) -> dict:
    """The former implementation: a row-wise ``torch.unique(dim=0)`` per column."""
    return {name: _first_rows(torch.unique(_column_keys(tf.feat_dict[st], j), dim=0,
                                           return_inverse=True)[1])[0].sort().values
            for st, names in tf.col_names_dict.items() for j, name in enumerate(names)}


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - start, 2)


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale-factor", type=float, default=0.3)
    args = parser.parse_args()
    sf = f"sf{args.scale_factor:g}"
    lineitem = pd.read_parquet(CACHE / sf / "lineitem.parquet")
    comments = lineitem["l_comment"].tolist()

    encoder = graph_module.HashingTextEncoder()
    parallel, parallel_s = _timed(lambda: encoder(comments))
    chunks = graph_module._PARALLEL_CHUNKS
    graph_module._PARALLEL_CHUNKS = 10**12  # one process
    serial, serial_s = _timed(lambda: encoder(comments))
    graph_module._PARALLEL_CHUNKS = chunks

    frame = lineitem.drop(columns=["l_orderkey", "l_partkey", "l_suppkey", "l_linenumber"])
    from relcontrast import RelationalDatabase
    from relcontrast.graph import build_graph

    db = RelationalDatabase({"lineitem": frame}, {"lineitem": {"time_column": "l_shipdate"}})
    tf = build_graph(db).tf_dict["lineitem"]
    new, new_s = _timed(lambda: distinct_value_pools(tf))
    old, old_s = _timed(lambda: _former_pools(tf))
    result = {
        "scale_factor": args.scale_factor, "lineitem_rows": len(lineitem),
        "text_hashing_s": {"one_process": serial_s, "parallel": parallel_s,
                           "same_values": bool(torch.equal(serial, parallel))},
        "distinct_value_pools_s": {"row_wise_unique": old_s, "row_hash": new_s,
                                   "same_pools": all(torch.equal(new[c], old[c]) for c in old)},
        "columns": {str(k): v for k, v in tf.col_names_dict.items()},
        "torch_threads": torch.get_num_threads(), "corruption_module": corruption.__name__,
    }
    print(json.dumps(result, indent=1))
    (RESULTS / "scale_setup.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
