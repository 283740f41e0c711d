"""Do the GNN's intermediate layers hold what gradient boosting misses in the embeddings?

``position_probe.py`` found that the frozen embeddings (the output of the last of the two
GraphSAGE layers) hold a driver's last-year means but little of the race-by-race detail.
The first layer's output is one aggregation closer to the raw rows of a driver's latest
results. This script embeds every task row with the reproduction's encoders (pretrained up to
2005-01-01 with the defaults, seeds 0, 1, 2, cached by ``combine.py``), reads the seed rows'
output of each layer (forward hooks on the layers' LayerNorms, ReLU applied, as in the
network), and fits gradient boosting on layer 2 (what ``transform`` returns), layer 1, and
both side by side, with scikit-learn's default settings and with those chosen on val for the
embeddings (``gbm_tuning.json``). Val only, three seeds.

Run: ``.venv/bin/python benchmarks/embedding_layers.py``; writes
``benchmarks/results/embedding_layers.json`` and ``embedding_layers.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: two 1-thread workers

import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _protocol import METRICS  # noqa: E402
from combine import RESULTS, SEEDS, TASKS, encoder_path, pretrain  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

FEATURES = ("layer 2 (transform)", "layer 1", "layers 1 and 2")


def layer_outputs(encoder, X, table: str) -> dict[int, np.ndarray]:
    """The seed rows' output of every GraphSAGE layer while ``encoder.transform(X)`` runs."""
    import torch

    caught: dict[int, list] = {i + 1: [] for i in range(len(encoder.backbone_.gnn.norms))}
    hooks = [norms[table].register_forward_hook(
        lambda module, args, out, layer=i + 1: caught[layer].append(out.relu()))
        for i, norms in enumerate(encoder.backbone_.gnn.norms)]
    try:
        z = encoder.transform(X)
    finally:
        for hook in hooks:
            hook.remove()
    seeds = [min(512, len(X) - start) for start in range(0, len(X), 512)]  # transform's batches
    out = {layer: torch.cat([o[:n] for o, n in zip(outs, seeds, strict=True)]).numpy()
           for layer, outs in caught.items()}
    assert np.array_equal(out[max(out)], z), "the last layer's output is the embedding"
    return out


def evaluate(task_name: str, seed: int) -> list[dict]:
    import joblib
    from _protocol import gradient_boosting, score
    from gbm_tuning import chosen_params

    from relcontrast.datasets import load_f1_task

    encoder = joblib.load(encoder_path(seed))
    train, val = (load_f1_task(task_name, s) for s in ("train", "val"))
    classify = train.task_type == "binary_classification"
    out = {split: layer_outputs(encoder, data.X, "drivers")
           for split, data in (("train", train), ("val", val))}
    columns = {FEATURES[0]: lambda s: out[s][2], FEATURES[1]: lambda s: out[s][1],
               FEATURES[2]: lambda s: np.hstack([out[s][1], out[s][2]])}
    rows = []
    for name, get in columns.items():
        for settings, params in (("default", None), ("chosen", chosen_params(task_name, "emb"))):
            model = gradient_boosting(classify, seed, params).fit(get("train"),
                                                                  np.asarray(train.y))
            rows.append({"task": task_name, "seed": seed, "features": name,
                         "settings": settings, "val": score(model, get("val"), val.y, classify)})
    return rows


def main() -> None:
    start = time.perf_counter()
    Parallel(n_jobs=2)(delayed(pretrain)(s) for s in SEEDS)
    rows = [r for rs in Parallel(n_jobs=2)(delayed(evaluate)(t, s) for t in TASKS
                                           for s in SEEDS) for r in rs]

    def cell(task, features, settings):
        vals = [r["val"] for r in rows if (r["task"], r["features"], r["settings"]) == (
            task, features, settings)]
        return f"{np.mean(vals):.2f} ± {np.std(vals, ddof=1):.2f}"

    summary = {f"{task} | {features} | {settings}": cell(task, features, settings)
               for task in TASKS for features in FEATURES for settings in ("default", "chosen")}
    payload = {"benchmark": "rel-f1 val: gradient boosting on the output of each GraphSAGE "
                            "layer of the frozen encoder",
               "metrics": METRICS,
               "protocol": "encoders pretrained up to 2005-01-01 with the defaults, seeds 0, 1, "
                           "2; gradient boosting fitted on the train rows, scored on val",
               "wall_seconds": round(time.perf_counter() - start, 1),
               "summary": summary, "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "embedding_layers.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = ["| features | settings | " + " | ".join(TASKS) + " |", "|---|---|---|---|---|"]
    for features in FEATURES:
        for settings in ("default", "chosen"):
            lines.append(f"| {features} | {settings} | " + " | ".join(
                cell(task, features, settings) for task in TASKS) + " |")
    (RESULTS / "embedding_layers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
