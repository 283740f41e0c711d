"""Scaling on a standard schema: TPC-H at scale factors 0.1, 0.3 and 1, through the public API.

The eight TPC-H tables (about 0.87M, 2.6M and 8.7M rows) are generated with ``tpchgen-cli``
(the ``bench`` extra) as parquet into ``benchmarks/.cache/tpch/sf{X}`` when absent and read
with :func:`relcontrast.read_database` and :data:`SCHEMA`. Per scale factor, in a fresh
process (so the peak memory is that scale factor's), at the default thread count:
``read_s``; ``RelationalContrastiveEncoder(max_steps=200, patience=None, random_state=0,
cutoff_time=CUTOFF)``'s ``fit_setup_s`` (the fit minus its epochs) and ``seconds_per_step``
(the epochs' durations over the training steps, held-out loss included; it must not grow
with the database); ``transform`` of 100,000 ``orders`` rows at their own dates, in rows
per second; ``total_s`` from the files to the embeddings and ``peak_rss_mb``. ``CUTOFF`` is
80% through the orders' dates. Timings are only comparable on an otherwise idle machine.

Run: ``.venv/bin/python benchmarks/perf/scale.py [--scale-factors 0.1 0.3 1] [--max-steps
200] [--sampler neighbor]``; writes ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
SCHEMA = {
    "region": {"primary_key": "r_regionkey"},
    "nation": {"primary_key": "n_nationkey", "foreign_keys": {"n_regionkey": "region"}},
    "supplier": {"primary_key": "s_suppkey", "foreign_keys": {"s_nationkey": "nation"}},
    "customer": {"primary_key": "c_custkey", "foreign_keys": {"c_nationkey": "nation"}},
    "part": {"primary_key": "p_partkey"},
    "partsupp": {"primary_key": ["ps_partkey", "ps_suppkey"],
                 "foreign_keys": {"ps_partkey": "part", "ps_suppkey": "supplier"}},
    "orders": {"primary_key": "o_orderkey", "foreign_keys": {"o_custkey": "customer"},
               "time_column": "o_orderdate"},
    # l_shipdate: the earliest date at which a line item's own columns are facts
    "lineitem": {"primary_key": ["l_orderkey", "l_linenumber"],
                 "foreign_keys": {"l_orderkey": "orders",
                                  ("l_partkey", "l_suppkey"): "partsupp"},
                 "time_column": "l_shipdate"},
}
CUTOFF = "1997-04-08"  # 80% of the way from 1992-01-01 to 1998-08-02 (TPC-H's order dates)


def tpch_folder(scale_factor: float) -> Path:
    """The parquet files of one scale factor, generated with tpchgen-cli when absent."""
    folder = HERE / ".cache" / "tpch" / f"sf{scale_factor:g}"
    if all((folder / f"{t}.parquet").exists() for t in SCHEMA):
        return folder
    exe = Path(sys.executable).parent / "tpchgen-cli"
    if not exe.exists():
        raise SystemExit("tpchgen-cli is missing: .venv/bin/pip install -e .[bench]")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(exe), "parquet", "-s", f"{scale_factor:g}", "-o", str(folder),
                    "--overwrite"], check=True)
    return folder


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(scale_factor: float, max_steps: int, sampler: str) -> dict:
    """One scale factor, measured in this process."""
    import numpy as np
    import torch

    from relcontrast import RelationalContrastiveEncoder, read_database

    rss, t0 = {}, time.perf_counter()
    db = read_database(tpch_folder(scale_factor), SCHEMA)
    t_read, rss["after_read"] = time.perf_counter(), _rss_mb()
    enc = RelationalContrastiveEncoder(max_steps=max_steps, patience=None, random_state=0,
                                       cutoff_time=CUTOFF, sampler=sampler).fit(db)
    t_fit, rss["after_fit"] = time.perf_counter(), _rss_mb()
    orders = db.table("orders")
    pick = np.sort(np.random.default_rng(0).choice(
        len(orders), min(100_000, len(orders)), replace=False))
    X = orders.iloc[pick][["o_orderkey", "o_orderdate"]].reset_index(drop=True)
    t_x = time.perf_counter()
    Z = enc.transform(X)
    t_end, rss["after_transform"] = time.perf_counter(), _rss_mb()
    steps = sum("train_loss" in b for h in enc.history_ for b in h["batches"])
    epochs_s = float(sum(enc.history_[:, "dur"]))
    return {
        "scale_factor": scale_factor,
        "rows": int(sum(db.num_rows(t) for t in db.table_names)),
        "read_s": round(t_read - t0, 2), "fit_setup_s": round(t_fit - t_read - epochs_s, 2),
        "steps": steps, "seconds_per_step": round(epochs_s / steps, 4),
        "transform_rows_per_s": round(len(X) / (t_end - t_x), 1),
        "embeddings_finite": bool(np.isfinite(Z).all()), "peak_rss_mb": round(_rss_mb(), 1),
        "rss_mb_by_phase": {k: round(v, 1) for k, v in rss.items()},
        "total_s": round(t_end - t0, 2), "threads": torch.get_num_threads(),
        "sampler": sampler,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-factors", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--sampler", default="neighbor", choices=("neighbor", "hgsampling"))
    parser.add_argument("--output", type=Path, default=HERE / "results" / "scale.json")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.max_steps, args.sampler)))
        return
    records = []
    for sf in args.scale_factors:
        tpch_folder(sf)  # generate outside the timed process
        out = subprocess.run([sys.executable, __file__, "--child", str(sf), "--max-steps",
                              str(args.max_steps), "--sampler", args.sampler],
                             check=True, capture_output=True, text=True).stdout
        records.append({**json.loads(out.strip().splitlines()[-1]),
                        "load_average": list(os.getloadavg())})
        print(json.dumps(records[-1]), flush=True)
    args.output.write_text(json.dumps({
        "benchmark": "TPC-H: read, fit, seconds per pretraining step, transform, peak memory",
        "cutoff_time": CUTOFF, "max_steps": args.max_steps,
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()
