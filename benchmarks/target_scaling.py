"""Does standardising the regression target help ``RelationalRegressor`` on driver-position?

``RelationalRegressor`` fits raw targets (finishing positions 1 to about 30) with an L1
loss, from a head whose output starts near 0. Wrapped in scikit-learn's
``TransformedTargetRegressor(transformer=StandardScaler())``, it fits standardised targets
and predictions are mapped back. Both from scratch (no pretraining), library defaults
otherwise, seeds 0, 1, 2, on F1 driver-position; scored on val only (MAE), so nothing here
looks at test. Two one-thread processes.

Run: ``.venv/bin/python benchmarks/target_scaling.py``; writes
``benchmarks/results/target_scaling.json`` (every run and mean / sd per variant).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("raw", "standardised")
SEEDS = (0, 1, 2)


def run(variant: str, seed: int) -> dict:
    import torch
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.metrics import mean_absolute_error
    from sklearn.preprocessing import StandardScaler

    from relcontrast import RelationalDatabase, RelationalRegressor
    from relcontrast.datasets import load_f1, load_f1_task

    torch.set_num_threads(1)
    db = RelationalDatabase(*load_f1())
    train, val = (load_f1_task("driver-position", s) for s in ("train", "val"))
    model = RelationalRegressor(database=db, random_state=seed)
    if variant == "standardised":
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    start = time.perf_counter()
    model.fit(train.X, train.y)
    est = model.regressor_ if variant == "standardised" else model
    return {"variant": variant, "seed": seed,
            "val_mae": round(float(mean_absolute_error(val.y, model.predict(val.X))), 4),
            "epochs": len(est.history_), "seconds": round(time.perf_counter() - start, 1)}


def main() -> dict:
    jobs = [(v, s) for v in VARIANTS for s in SEEDS]
    with ProcessPoolExecutor(2) as pool:
        runs = list(pool.map(run, *zip(*jobs, strict=True)))
    summary = {}
    for v in VARIANTS:
        maes = [r["val_mae"] for r in runs if r["variant"] == v]
        summary[v] = {"val_mae_mean": round(float(np.mean(maes)), 4),
                      "val_mae_sd": round(float(np.std(maes)), 4), "n": len(maes)}
    result = {"task": "driver-position", "split": "val", "seeds": list(SEEDS),
              "arm": "scratch", "summary": summary, "runs": runs}
    print(json.dumps(result, indent=1))
    (RESULTS / "target_scaling.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
