"""Sampler throughput on the F1 database, against one forward + backward pass of the backbone.

Run: ``.venv/bin/python benchmarks/sampling.py [--threads N] [--batches 20] [--full]``.
Writes ``benchmarks/results/sampling.json``.

Settings: NeighborSampler, 512 driver seeds (drivers of random result rows, at those results'
dates), fan-out (128, 64), strategies "uniform" and "last"; HGSampler, 64 seeds per table
(timed tables: at the seed row's own time; untimed: at the cutoff), 64 samples per table and
layer, 3 layers. Model: ``RelationalBackbone(graph, hidden_channels=128, num_layers=2)``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relcontrast.database import RelationalDatabase  # noqa: E402
from relcontrast.graph import build_graph  # noqa: E402
from relcontrast.sampling import HGSampler, NeighborSampler, neighbor_index  # noqa: E402

CUTOFF = "2010-01-01"


def _load_f1(full: bool):
    for attempt in range(30):
        try:
            from relcontrast.datasets import load_f1
            break
        except ImportError:  # written in parallel by someone else: wait for it
            if attempt == 29:
                raise
            time.sleep(10)
    db = RelationalDatabase(*load_f1())
    return db if full else db.upto(CUTOFF)


def _model(graph):
    from relcontrast.nn import RelationalBackbone

    return RelationalBackbone(graph, hidden_channels=128, num_layers=2), "RelationalBackbone"


def _time_batches(make_batch, n_batches, warmup=3):
    times, nodes, edges = [], [], []
    for i in range(warmup + n_batches):
        t0 = time.perf_counter()
        batch = make_batch()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
            nodes.append(sum(batch[nt].num_nodes for nt in batch.node_types))
            edges.append(sum(batch[et].edge_index.shape[1] for et in batch.edge_types))
    return times, nodes, edges, batch


def _fwd_bwd(model, batch, repeats=5):
    times = []
    for i in range(repeats + 1):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        out = model(batch)
        loss = sum(v.square().mean() for v in out.values() if v.numel())
        loss.backward()
        if i:  # first pass warms up lazy modules
            times.append(time.perf_counter() - t0)
    return times


def _summary(times, nodes, edges, fwd):
    mean_ms = 1000 * statistics.mean(times)
    return {
        "sample_ms_mean": round(mean_ms, 2),
        "sample_ms_median": round(1000 * statistics.median(times), 2),
        "sample_ms_min": round(1000 * min(times), 2),
        "nodes_per_batch": round(statistics.mean(nodes), 1),
        "edges_per_batch": round(statistics.mean(edges), 1),
        "nodes_per_second": round(sum(nodes) / sum(times)),
        "forward_backward_ms_median": round(1000 * statistics.median(fwd), 2),
        "sample_over_forward_backward": round(statistics.median(times) / statistics.median(fwd),
                                              3),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--full", action="store_true", help="the whole database, no cutoff")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sampling.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    db = _load_f1(args.full)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph = build_graph(db)
    build_s = time.perf_counter() - t0
    print(f"{db!r}\nload {load_s:.1f}s, build_graph {build_s:.1f}s: {graph!r}")

    model, model_name = _model(graph)
    gen = torch.Generator().manual_seed(0)
    fk = next(f for f in db.foreign_keys if f.table == "results" and f.column == "driverId")
    result_rows = torch.from_numpy(fk.src_index.copy())
    result_driver = torch.from_numpy(fk.dst_index.copy())
    result_time = graph.time_dict["results"]

    results = {}
    for strategy in ("uniform", "last"):
        sampler = NeighborSampler(graph, num_neighbors=(128, 64), strategy=strategy)

        def make_batch(sampler=sampler):
            pick = torch.randint(0, result_rows.numel(), (512,), generator=gen)
            return sampler.sample_table("drivers", result_driver[pick],
                                  result_time[result_rows[pick]], gen)

        times, nodes, edges, batch = _time_batches(make_batch, args.batches)
        fwd = _fwd_bwd(model, batch)
        results[f"neighbor_{strategy}"] = {
            "settings": {"seed_table": "drivers", "batch_size": 512,
                         "num_neighbors": [128, 64], "strategy": strategy, "temporal": True},
            **_summary(times, nodes, edges, fwd),
        }
        print(strategy, results[f"neighbor_{strategy}"])

    cutoff_s = pd.Timestamp(CUTOFF).value // 10**9
    hg = HGSampler(graph, num_samples=64, num_layers=3)

    def make_hg_batch():
        seeds, seed_time = {}, {}
        for nt in graph.node_types:
            idx = torch.randperm(graph.num_nodes[nt], generator=gen)[:64]
            seeds[nt] = idx
            seed_time[nt] = (graph.time_dict[nt][idx] if nt in graph.time_dict
                             else torch.full((idx.numel(),), cutoff_s, dtype=torch.long))
        return hg.sample(seeds, seed_time, gen)

    times, nodes, edges, batch = _time_batches(make_hg_batch, args.batches)
    fwd = _fwd_bwd(model, batch)
    results["hgsampling"] = {
        "settings": {"seeds_per_table": 64, "num_samples": 64, "num_layers": 3,
                     "temporal": True},
        **_summary(times, nodes, edges, fwd),
        "nodes_per_table_last_batch": {nt: int(batch[nt].num_nodes) for nt in graph.node_types},
    }
    print("hgsampling", results["hgsampling"])

    report = {
        "database": f"F1 (relcontrast.datasets.load_f1){'' if args.full else ' upto ' + CUTOFF}",
        "num_nodes": graph.num_nodes,
        "num_edges": sum(s.num_edges for s in neighbor_index(graph).values()),
        "load_seconds": round(load_s, 2),
        "build_graph_seconds": round(build_s, 2),
        "model": model_name,
        "model_settings": {"hidden_channels": 128, "num_layers": 2},
        "timed_batches": args.batches,
        "warmup_batches": 3,
        "results": results,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": list(os.getloadavg()),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
