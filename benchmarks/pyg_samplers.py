"""relcontrast's temporal neighbour sampler beside PyG's compiled one, on the same F1 graph.

PyG's samplers are compiled code: pyg-lib (not on PyPI, so not installable here) or
torch-sparse's ``torch_sparse::hetero_temporal_neighbor_sample`` (on PyPI as source only).
``--setup`` builds them in a throwaway virtual environment (``benchmarks/.cache/pyg-venv``:
torch 2.13.0, this project, then torch-scatter and torch-sparse compiled from source against
that torch, about 20 minutes on 2 cores) and runs the comparison there; without torch-sparse
the script says so and exits 0 (nothing to compare), so it never fails a machine without
a compiler.

Workload: the F1 graph up to 2010-01-01 (``build_graph``), 512 seeds per batch drawn from
the ``results`` rows, each at its own time, two hops of fan-out (128, 64) over every edge type,
20 timed batches after 3 warm-up ones, at the default torch thread count. Both samplers get
the same seeds and the same time-sorted CSC index (relcontrast's ``neighbor_index``; for
torch-sparse ``colptr`` = ``rowptr``, ``row`` = ``col``) and node times (untimed tables at a
time before every row: always visible).

The semantics differ, so the comparison is of cost for a like-sized subgraph:

- relcontrast (``strategy="uniform"``) draws up to k neighbours uniformly among those with
  time <= the seed's time, and (``"last"``) takes the k latest; one subgraph per seed
  (disjoint), as a ``HeteroData`` with every node's TensorFrame rows gathered;
- torch-sparse draws k among all neighbours and drops those later than the root seed's time
  (so it returns fewer than k where later rows are among the draws), one subgraph per seed in
  temporal mode, and returns node and edge indices only (no features): the features'
  gathering (``tf[n_id]``) is timed separately for it and added in ``ms_with_features``.

Run: ``.venv/bin/python benchmarks/pyg_samplers.py --setup`` (or without ``--setup`` inside an
environment that has torch-sparse). Writes ``benchmarks/results/pyg_samplers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "benchmarks" / ".cache" / "pyg-venv"
OUT = ROOT / "benchmarks" / "results" / "pyg_samplers.json"
CUTOFF = "2010-01-01"
BATCH, FANOUT, TIMED, WARMUP = 512, (128, 64), 20, 3
PYG_PACKAGES = ("torch-scatter==2.1.2", "torch-sparse==0.6.18")


def setup(venv: Path) -> Path:
    """A virtual environment with torch 2.13.0, relcontrast and torch-sparse compiled."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU build, before the rest
        subprocess.run([*pip, "-e", str(ROOT)], check=True)
    probe = subprocess.run([str(python), "-c", "import torch_sparse"], capture_output=True)
    if probe.returncode:
        # against the environment's torch (no build isolation: it would fetch another torch)
        env = {**os.environ, "MAX_JOBS": str(os.cpu_count() or 1)}
        subprocess.run([str(python), "-m", "pip", "install", "--no-build-isolation",
                        *PYG_PACKAGES], check=True, env=env)
    return python


def _stats(times, nodes, edges) -> dict:
    return {
        "ms_median": round(1000 * statistics.median(times), 2),
        "ms_mean": round(1000 * statistics.mean(times), 2),
        "nodes_per_batch": round(statistics.mean(nodes), 1),
        "edges_per_batch": round(statistics.mean(edges), 1),
        "nodes_per_second": round(sum(nodes) / sum(times)),
    }


def compare() -> dict:
    import numpy as np
    import torch

    try:
        import torch_sparse  # noqa: F401  (registers torch.ops.torch_sparse)
    except ImportError as exc:
        return {"skipped": f"torch-sparse is not installed ({exc}); run with --setup"}

    sys.path.insert(0, str(ROOT))
    from relcontrast.database import RelationalDatabase
    from relcontrast.datasets import load_f1
    from relcontrast.graph import build_graph
    from relcontrast.sampling import NeighborSampler, neighbor_index

    graph = build_graph(RelationalDatabase(*load_f1()).upto(CUTOFF))
    index = neighbor_index(graph)
    before_all = -(2**62)
    node_time = {nt: graph.time_dict.get(nt, torch.full((n,), before_all, dtype=torch.long))
                 for nt, n in graph.num_nodes.items()}
    rel = {et: "__".join(et) for et in graph.edge_types}
    gen = torch.Generator().manual_seed(0)
    draws = [torch.randint(0, graph.num_nodes["results"], (BATCH,), generator=gen)
             for _ in range(WARMUP + TIMED)]

    def timed(sample):
        times, nodes, edges = [], [], []
        for i, seeds in enumerate(draws):
            t0 = time.perf_counter()
            n, e = sample(seeds)
            if i >= WARMUP:
                times.append(time.perf_counter() - t0)
                nodes.append(n)
                edges.append(e)
        return times, nodes, edges

    results = {}
    for strategy in ("uniform", "last"):
        sampler = NeighborSampler(graph, num_neighbors=FANOUT, strategy=strategy)
        sample_gen = torch.Generator().manual_seed(1)

        def ours(seeds, sampler=sampler, sample_gen=sample_gen):
            batch = sampler.sample_table("results", seeds, node_time["results"][seeds],
                                         sample_gen)
            return (sum(batch[nt].num_nodes for nt in batch.node_types),
                    sum(batch[et].edge_index.shape[1] for et in batch.edge_types))

        results[f"relcontrast_{strategy}"] = _stats(*timed(ours))

    gather = []

    def pyg(seeds):
        node, row, _, _ = torch.ops.torch_sparse.hetero_temporal_neighbor_sample(
            list(graph.node_types), [tuple(et) for et in graph.edge_types],
            {rel[et]: index[et].rowptr for et in graph.edge_types},
            {rel[et]: index[et].col for et in graph.edge_types},
            {"results": seeds}, {rel[et]: list(FANOUT) for et in graph.edge_types},
            node_time, len(FANOUT), False, True)
        t0 = time.perf_counter()  # what relcontrast's batches also hold: the rows' features
        for nt, n_id in node.items():
            graph.tf_dict[nt][n_id]
        gather.append(time.perf_counter() - t0)
        return sum(v.numel() for v in node.values()), sum(v.numel() for v in row.values())

    times, nodes, edges = timed(pyg)
    gather = gather[WARMUP:]
    results["torch_sparse_temporal"] = {
        **_stats([t - g for t, g in zip(times, gather, strict=True)], nodes, edges),
        "ms_with_features": round(1000 * statistics.median(times), 2),
    }
    return {
        "database": f"F1 (relcontrast.datasets.load_f1) upto {CUTOFF}",
        "num_nodes": graph.num_nodes,
        "settings": {"seed_table": "results", "batch_size": BATCH, "num_neighbors": FANOUT,
                     "timed_batches": TIMED, "warmup_batches": WARMUP},
        "results": results,
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "torch_sparse": torch_sparse.__version__,
                    "numpy": np.__version__, "platform": platform.platform(),
                    "load_average_at_end": list(os.getloadavg())},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true",
                        help=f"build torch-sparse in {VENV} and run there")
    parser.add_argument("--venv", type=Path, default=VENV)
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.setup:
        python = setup(args.venv)
        sys.exit(subprocess.run([str(python), __file__, "--output", str(args.output)]).returncode)
    report = compare()
    print(json.dumps(report, indent=1))
    if "skipped" not in report:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
