"""Time ``build_graph`` before and after its column statistics were vectorised.

Run: ``.venv/bin/python benchmarks/graph_build.py [--repeats 3] [--rows 150000]``.
Writes ``benchmarks/results/graph_build.json`` and prints a table.

Databases:

- ``synthetic``: a seeded ``events`` table of 150,000 rows with 30 normal numerical columns
  (2% missing), two string columns (one with missing values), a small-integer column
  (categorical), a second timestamp column, a time column and a foreign key to ``users``
  (2,000 rows: time column, country, score); :func:`make_wide_database`.
- ``f1``: the bundled F1 database (``relcontrast.datasets.load_f1``).

Variants, each timed ``--repeats`` times in turn (median reported):

- ``before``: ``build_graph(db)`` with every column statistic computed by torch-frame's
  ``compute_col_stats`` (what ``Dataset.materialize`` did before);
- ``before_two_step``: the estimators' two calls with those statistics,
  ``build_graph(db, reference=build_graph(db.upto(cutoff)))``;
- ``after``: ``build_graph(db)``;
- ``after_two_step``: the two calls with the vectorised statistics;
- ``after_stats_until``: ``build_graph(db, stats_until=cutoff)``, one pass, the same graph as
  the two-step call (``tests/test_graph.py`` checks the equality).

String columns are converted without a call per value in every variant (part of the same
change, about 0.5 s of the synthetic build before it).

``neighbor_index_seconds``: the samplers' neighbour index, built from a graph's links on
first use by a sampler (``relcontrast.sampling.neighbor_index``), timed on its own; a fit
pays it once per graph on top of ``build_graph``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch_frame

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relcontrast import graph as graph_module  # noqa: E402
from relcontrast.database import RelationalDatabase  # noqa: E402
from relcontrast.graph import build_graph  # noqa: E402
from relcontrast.sampling import neighbor_index  # noqa: E402
from relcontrast.testing import make_synthetic_database  # noqa: E402

SYNTHETIC_CUTOFF = "2023-01-01"  # keeps 80% of the events
F1_CUTOFF = "2005-01-01"


def make_wide_database(
    n_rows: int = 140_000, n_numeric: int = 30, n_users: int = 2_000, random_state: int = 0
) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """``(tables, schema)``: a wide timed ``events`` table referencing ``users``.

    Parameters
    ----------
    n_rows : int, default=140_000
        Rows of ``events``, one per second-resolution time in 2015-2024, sorted.
    n_numeric : int, default=30
        Standard normal float columns ``x00``, ``x01``, ...; 2% of their values are NaN.
    n_users : int, default=2_000
        Rows of ``users``.
    random_state : int, default=0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    tables : dict of str to pandas.DataFrame
    schema : dict of str to dict
    """
    rng = np.random.default_rng(random_state)
    t0 = pd.Timestamp("2015-01-01")
    users = pd.DataFrame({
        "user_id": np.arange(n_users),
        "signup": t0 + pd.to_timedelta(np.sort(rng.integers(0, 5 * 365, n_users)), unit="D"),
        "country": rng.choice(["de", "fr", "cz", "us", "jp", None], n_users),
        "score": rng.normal(size=n_users),
    })
    seconds = np.sort(rng.integers(0, 10 * 365 * 86_400, n_rows))
    columns = {
        "event_id": np.arange(n_rows),
        "user_id": rng.integers(0, n_users, n_rows),
        "ts": t0 + pd.to_timedelta(seconds, unit="s"),
        "kind": rng.choice(["view", "click", "buy", "return"], n_rows),
        "channel": rng.choice([f"ch{i}" for i in range(25)] + [None], n_rows),
        "level": rng.integers(1, 6, n_rows),
        "due": t0 + pd.to_timedelta(rng.integers(0, 4_000, n_rows), unit="D"),
    }
    x = rng.normal(size=(n_rows, n_numeric))  # [n_rows, n_numeric]
    x[rng.random((n_rows, n_numeric)) < 0.02] = np.nan
    for j in range(n_numeric):
        columns[f"x{j:02d}"] = x[:, j]
    schema = {
        "users": {"primary_key": "user_id", "time_column": "signup"},
        "events": {"primary_key": "event_id", "foreign_keys": {"user_id": "users"},
                   "time_column": "ts"},
    }
    return {"users": users, "events": pd.DataFrame(columns)}, schema


@contextmanager
def _torch_frame_stats():
    """Column statistics computed by torch-frame itself inside the block."""
    fast = graph_module._table_stats
    graph_module._table_stats = graph_module._torch_frame_table_stats
    try:
        yield
    finally:
        graph_module._table_stats = fast


def _variants(cutoff: str) -> dict[str, tuple[bool, Callable]]:
    """``{name: (torch_frame_stats, build)}``; ``build(db)`` returns the graph."""
    def two_step(db):
        return build_graph(db, reference=build_graph(db.upto(cutoff)))

    return {
        "before": (True, build_graph),
        "before_two_step": (True, two_step),
        "after": (False, build_graph),
        "after_two_step": (False, two_step),
        "after_stats_until": (False, lambda db: build_graph(db, stats_until=cutoff)),
    }


def _time(build: Callable, db: RelationalDatabase, torch_frame_stats: bool) -> float:
    t0 = time.perf_counter()
    if torch_frame_stats:
        with _torch_frame_stats():
            build(db)
    else:
        build(db)
    return time.perf_counter() - t0


def _describe(db: RelationalDatabase, graph) -> dict:
    return {
        name: {"rows": db.num_rows(name),
               "feature_columns": dict(Counter(s.value for s in graph.col_types[name].values()))}
        for name in db.table_names
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=150_000, help="rows of synthetic events")
    parser.add_argument("--numeric", type=int, default=30,
                        help="numerical columns of synthetic events")
    parser.add_argument("--skip-before", action="store_true",
                        help="time only the vectorised statistics")
    parser.add_argument("--out",
                        default=str(ROOT / "benchmarks" / "results" / "graph_build.json"))
    args = parser.parse_args(argv)

    load_at_start = list(os.getloadavg())
    # Warm up lazy imports (sklearn's HashingVectorizer) outside the timings.
    build_graph(RelationalDatabase(*make_synthetic_database()))

    from relcontrast.datasets import load_f1

    databases = {
        f"synthetic_{args.rows}x{args.numeric}": (
            RelationalDatabase(*make_wide_database(args.rows, args.numeric)), SYNTHETIC_CUTOFF),
        "f1": (RelationalDatabase(*load_f1()), F1_CUTOFF),
    }
    results, rows = {}, []
    for name, (db, cutoff) in databases.items():
        graph = build_graph(db)
        entry = {"cutoff": cutoff, "tables": _describe(db, graph), "timings_seconds": {}}
        variants = {name: v for name, v in _variants(cutoff).items()
                    if not (v[0] and args.skip_before)}
        runs = {variant: [] for variant in variants}
        for _ in range(args.repeats):  # round-robin: a load spike hits every variant alike
            for variant, (slow, build) in variants.items():
                runs[variant].append(_time(build, db, slow))
        for variant, times in runs.items():
            entry["timings_seconds"][variant] = {
                "median": round(statistics.median(times), 3),
                "min": round(min(times), 3),
                "runs": [round(t, 3) for t in times],
            }
            print(f"{name:>22} {variant:>18}: median {statistics.median(times):7.3f} s",
                  flush=True)
        index_times = []
        for _ in range(args.repeats):
            fresh = build_graph(db)  # the index is built once per graph
            t0 = time.perf_counter()
            neighbor_index(fresh)
            index_times.append(time.perf_counter() - t0)
        entry["neighbor_index_seconds"] = {"median": round(statistics.median(index_times), 3),
                                           "runs": [round(t, 3) for t in index_times]}
        print(f"{name:>22} {'neighbor_index':>18}: median "
              f"{statistics.median(index_times):7.3f} s", flush=True)
        timings = entry["timings_seconds"]
        if "before" in timings:
            entry["speedup"] = {
                "build_graph (before / after)": round(
                    timings["before"]["median"] / timings["after"]["median"], 1),
                "fit's two calls / stats_until (before_two_step / after_stats_until)": round(
                    timings["before_two_step"]["median"]
                    / timings["after_stats_until"]["median"], 1),
            }
        results[name] = entry
        for variant, t in timings.items():
            rows.append((name, variant, t["median"], t["min"]))

    report = {
        "description": "build_graph wall-clock seconds, median of repeats; see the "
                       "docstring of benchmarks/graph_build.py for the variants.",
        "repeats": args.repeats,
        "results": results,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "torch": torch.__version__,
            "torch_frame": torch_frame.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": list(os.getloadavg()),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"\n{'database':<22} {'variant':<18} {'median s':>9} {'min s':>8}")
    for name, variant, median, best in rows:
        print(f"{name:<22} {variant:<18} {median:>9.3f} {best:>8.3f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
