"""A driver's current form and career, side by side: two samplings of the same encoder.

``position_probe.py`` found that the frozen embeddings (``transform``'s default sampling,
the 4 latest neighbours per edge type and hop) hold a driver's last-year means but little
of the all-time means that gradient boosting uses on the aggregates, whose windows are all
time, last 365 days and last 3 rows. Sampled uniformly among all earlier neighbours
(``temporal_strategy="uniform"``, fan-out (64, 16)) the same encoder describes a driver's
career instead. Alone that view scores far below the default on val
(``frozen_protocol.md``); this script measures whether it adds to it, as a second
"window": the two embeddings side by side in one gradient boosting, or one gradient boosting
per view with their predictions averaged (``_protocol.voting``). The reproduction's
encoders (pretrained up to 2005-01-01 with the defaults, seeds 0, 1, 2, cached by
``combine.py``), gradient boosting with the settings chosen on val for the embeddings
(``gbm_tuning.json``) for every view. Val only (deployment reading), three seeds.

Run: ``.venv/bin/python benchmarks/embedding_views.py`` (about 5 min on 2 cores); writes
``benchmarks/results/embedding_views.json`` and ``embedding_views.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: two 1-thread workers

import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _protocol import METRICS, cell, mean_sd  # noqa: E402
from combine import RESULTS, SEEDS, TASKS, encoder_path, features, pretrain  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

CAREER = {"temporal_strategy": "uniform", "num_neighbors": (64, 16)}
VARIANTS = ("latest (4, 4) (transform)", "uniform (64, 16)", "side by side", "vote")
OUTPUT = RESULTS / "embedding_views"


def evaluate(task_name: str, seed: int) -> dict:
    import copy

    import joblib
    import torch
    from _protocol import gradient_boosting, score, voting
    from gbm_tuning import chosen_params

    from relcontrast.datasets import load_f1_task

    torch.set_num_threads(1)
    train, val = load_f1_task(task_name, "train"), load_f1_task(task_name, "val")
    classify = train.task_type == "binary_classification"
    latest = features(task_name, seed)
    career = copy.deepcopy(joblib.load(encoder_path(seed))).set_params(**CAREER)
    views = {"latest (4, 4) (transform)": (latest["emb_train"], latest["emb_val"]),
             "uniform (64, 16)": (career.transform(train.X), career.transform(val.X))}
    views["side by side"] = tuple(np.hstack([a, b]) for a, b in zip(*views.values(),
                                                                     strict=True))
    params = chosen_params(task_name, "emb")
    out = {"task": task_name, "seed": seed}
    for variant in VARIANTS:
        x_train, x_val = views["side by side" if variant == "vote" else variant]
        model = (voting(classify, seed, latest["emb_train"].shape[1], (params, params))
                 if variant == "vote" else gradient_boosting(classify, seed, params))
        out[variant] = score(model.fit(x_train, train.y), x_val, val.y, classify)
    return out


def main() -> None:
    start = time.perf_counter()
    Parallel(n_jobs=2)(delayed(pretrain)(s) for s in SEEDS)  # cached unless missing
    runs = Parallel(n_jobs=2, verbose=5)(delayed(evaluate)(t, s) for t in TASKS
                                         for s in SEEDS)
    summary = {t: {v: mean_sd([r[v] for r in runs if r["task"] == t]) for v in VARIANTS}
               for t in TASKS}
    minutes = (time.perf_counter() - start) / 60
    OUTPUT.with_suffix(".json").write_text(json.dumps({
        "benchmark": "rel-f1 val: frozen embeddings of the latest neighbours and of a uniform "
                     "sample of all earlier ones, alone, side by side and voting",
        "metrics": METRICS, "seeds": list(SEEDS), "minutes": round(minutes, 1),
        "summary": summary, "runs": runs}, indent=1) + "\n")
    lines = [f"rel-f1 val, seeds {', '.join(map(str, SEEDS))} (mean ± sd), AUROC × 100 / MAE; "
             "gradient boosting with the settings chosen on val for the embeddings; "
             f"{minutes:.1f} min on 2 cores.", "",
             "| embeddings | " + " | ".join(TASKS) + " |", "|---|---|---|---|"]
    lines += [f"| {v} | " + " | ".join(cell(summary[t][v]) for t in TASKS) + " |"
              for v in VARIANTS]
    OUTPUT.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(OUTPUT.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
