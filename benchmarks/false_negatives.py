"""How many InfoNCE candidates are false negatives in F1 pretraining batches.

A candidate is a false negative of a positive when the backbone cannot tell it apart: same
attribute values, same age and the same sampled neighbourhood, i.e. the same input
fingerprint (``relcontrast.pretraining.input_fingerprints``, over ``num_layers`` rounds) but
another database row. For the row and link levels that is the node's own fingerprint; for
the context level the multiset of its in-neighbours' fingerprints. For both pretraining
samplers, over 5 type-balanced batches of the default size (seeds 0..4 of the batch
draw), with the encoder's defaults and the F1 database up to 2005-01-01, this reports per
table the share of nodes that have such a twin in their batch (row / link) and the share of
context anchors (nodes with in-neighbours) that do, and the time (one thread) to fingerprint
a batch: hashing the batch's attributes, or gathering the per-table hashes the pretraining
batcher computes once (``row_fingerprints``), as it does.

Run: ``.venv/bin/python benchmarks/false_negatives.py``; writes
``benchmarks/results/false_negatives.json`` and ``false_negatives.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"
SAMPLERS = ("neighbor", "hgsampling")
BATCHES = 5


def _twin_share(keys: np.ndarray, n_id: np.ndarray) -> tuple[int, int]:
    """(nodes whose key another row of the batch shares, nodes)."""
    if len(keys) == 0:
        return 0, 0
    pairs = np.unique(np.stack([keys, n_id], 1), axis=0)  # distinct (key, row)
    rows_per_key = dict(zip(*np.unique(pairs[:, 0], return_counts=True), strict=True))
    return int(sum(rows_per_key[k] > 1 for k in keys)), len(keys)


def measure(sampler: str) -> dict:
    import torch
    from skorch.dataset import Dataset

    from relcontrast import RelationalContrastiveEncoder
    from relcontrast.datasets import VAL_TIMESTAMP, load_f1
    from relcontrast.estimators.encoder import _pretraining_rows
    from relcontrast.pretraining import input_fingerprints

    enc = RelationalContrastiveEncoder(cutoff_time=VAL_TIMESTAMP, sampler=sampler, max_steps=1,
                                       steps_per_epoch=1, random_state=0).fit(*load_f1())
    net, graph = enc.net_, enc.net_.batcher.graph
    seeds = Dataset(enc._pretraining_seeds(graph, _pretraining_rows(enc.database_,
                                                                      VAL_TIMESTAMP)), None)
    context = net.module_.loss.levels["context"]
    counts = {nt: np.zeros(4, np.int64) for nt in graph.node_types}
    seconds = {"hash the batch": 0.0, "gather per-table hashes": 0.0}
    for b in range(BATCHES):
        torch.manual_seed(b)  # the type-balanced draw of seed rows
        x, _ = next(iter(net.get_iterator(seeds, training=True)))
        batch, _ = net.batcher(x, True)
        for name, rows in (("hash the batch", None),
                           ("gather per-table hashes", net.batcher.row_fingerprints)):
            t0 = time.perf_counter()
            input_fingerprints(batch, graph.node_types, enc.num_layers, rows)
            seconds[name] += time.perf_counter() - t0
        context_ids = context._context_fingerprints(batch)
        for nt in batch.node_types:
            n_id, fp = batch[nt].n_id.numpy(), batch[nt].input_id.numpy()
            counts[nt][:2] += _twin_share(fp, n_id)
            if nt in context_ids:
                has_context = np.zeros(len(n_id), bool)
                for et in batch.edge_types:
                    if et[2] == nt:
                        has_context[batch[et].edge_index[1].numpy()] = True
                counts[nt][2:] += _twin_share(context_ids[nt].numpy()[has_context],
                                              n_id[has_context])
    total = sum(counts.values())
    share = {nt: {"row_link": round(c[0] / max(c[1], 1), 4), "nodes": int(c[1]),
                  "context": round(c[2] / max(c[3], 1), 4), "context_anchors": int(c[3])}
             for nt, c in {**counts, "all tables": total}.items()}
    return {"sampler": sampler, "batches": BATCHES, "share": share,
            "fingerprint_ms_per_batch": {k: round(1000 * v / BATCHES, 1)
                                         for k, v in seconds.items()}}


def main() -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    runs = [measure(s) for s in SAMPLERS]
    RESULTS.mkdir(exist_ok=True)
    out = {"benchmark": "false_negatives", "database": "rel-f1 up to 2005-01-01",
           "runs": runs, "wall_seconds": round(time.perf_counter() - start, 1)}
    (RESULTS / "false_negatives.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = ["# False negatives in F1 pretraining batches "
             f"({BATCHES} batches per sampler, default settings)", "",
             "Share of nodes with an input-identical other row in their batch (row and link "
             "levels) / share of context anchors with an identical context (context level).",
             "", "| table | " + " | ".join(f"`sampler=\"{s}\"`" for s in SAMPLERS) + " |",
             "|---|" + "---|" * len(SAMPLERS)]
    for nt in runs[0]["share"]:
        cells = [f"{r['share'][nt]['row_link']:.1%} / {r['share'][nt]['context']:.1%}"
                 for r in runs]
        lines.append(f"| {nt} | " + " | ".join(cells) + " |")
    lines += ["", "Fingerprinting one batch (ms, one thread): " + "; ".join(
        f"{r['sampler']}: " + ", ".join(f"{k} {v}" for k, v in
                                        r["fingerprint_ms_per_batch"].items()) for r in runs)]
    (RESULTS / "false_negatives.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
