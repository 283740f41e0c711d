"""How long to pretrain: the default 600 steps against 1200, chosen on val.

At 600 steps (``max_steps``, the default) the held-out contrastive loss of the F1 encoders
is still falling (about 0.02 per 50 steps, ``reproduce_f1.json``). This script pretrains
the same encoders with twice the steps, seeds 0, 1, 2, up to 2005-01-01, and scores the
reproduction's fine-tuned and frozen-embedding arms with them (``reproduce_f1.supervised``,
``reproduce_f1.gradient_boosting``: the same code, settings and seeds). The 600-step
encoders are the cached defaults of ``benchmarks/.cache/`` (``combine.py``). Only val and
val_frozen are reported: the choice is made on them, test is left to the reproduction.

Run: ``.venv/bin/python benchmarks/pretraining_steps.py`` (about 35 min on 2 cores); writes
``benchmarks/results/pretraining_steps.json`` and ``pretraining_steps.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: two 1-thread workers

import json  # noqa: E402
import time  # noqa: E402

from _protocol import cell, mean_sd  # noqa: E402
from combine import CACHE, RESULTS, SEEDS, TASKS, encoder_path  # noqa: E402
from combine import pretrain as pretrain_default  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

STEPS = (600, 1200)  # the default first
ARMS = ("fine-tuned", "emb+gbm", "emb,agg vote", "fine-tuned,agg vote")
SCORES = ("val", "val_frozen")
OUTPUT = RESULTS / "pretraining_steps"


def path(steps: int, seed: int):
    if steps == STEPS[0]:
        return encoder_path(seed)
    return CACHE / f"encoder_steps{steps}_{seed}.joblib"


def pretrain(steps: int, seed: int) -> dict:
    """The encoder of ``steps`` and ``seed`` (cached); its pretraining time (None if it was
    cached) and held-out loss per epoch."""
    import joblib
    import torch

    from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
    from relcontrast.datasets import VAL_TIMESTAMP, load_f1

    torch.set_num_threads(1)
    seconds = None
    if steps == STEPS[0]:
        pretrain_default(seed)
    elif not path(steps, seed).exists():
        t0 = time.perf_counter()
        enc = RelationalContrastiveEncoder(cutoff_time=VAL_TIMESTAMP, random_state=seed,
                                           max_steps=steps)
        joblib.dump(enc.fit(RelationalDatabase(*load_f1())), path(steps, seed))
        seconds = round(time.perf_counter() - t0, 1)
    enc = joblib.load(path(steps, seed))
    return {"steps": steps, "seed": seed, "seconds": seconds,
            "valid_loss": [round(h["valid_loss"], 4) for h in enc.history_]}


def evaluate(task_name: str, steps: int, seed: int) -> list[dict]:
    import torch
    from reproduce_f1 import gradient_boosting, supervised, votes

    torch.set_num_threads(1)
    runs = supervised(task_name, "fine-tuned", seed, "linear", str(path(steps, seed)), True)
    runs += gradient_boosting(task_name, seed, "linear", str(path(steps, seed)), True, True)
    predictions = {(r["task"], r["arm"], r["tabular"], r["seed"]): r.pop("predictions")
                   for r in runs}
    by_arm = {r["arm"]: r for r in runs + votes(runs, predictions)}
    return [{"task": task_name, "arm": arm, "steps": steps, "seed": seed,
             **{s: by_arm[arm][s] for s in SCORES}} for arm in ARMS]


def main() -> None:
    start = time.perf_counter()
    pretraining = Parallel(n_jobs=2)(delayed(pretrain)(steps, seed) for steps in STEPS[::-1]
                                     for seed in SEEDS)
    runs = [r for rs in Parallel(n_jobs=2, verbose=5)(
        delayed(evaluate)(t, steps, s) for steps in STEPS for t in TASKS for s in SEEDS)
        for r in rs]
    summary = []
    for task in TASKS:
        for arm in ARMS:
            for steps in STEPS:
                rs = [r for r in runs if (r["task"], r["arm"], r["steps"]) == (task, arm, steps)]
                summary.append({"task": task, "arm": arm, "steps": steps,
                                **{s: mean_sd([r[s] for r in rs]) for s in SCORES}})
    minutes = (time.perf_counter() - start) / 60
    OUTPUT.with_suffix(".json").write_text(json.dumps({
        "benchmark": "rel-f1: pretraining 600 vs 1200 steps, val and val_frozen, seeds 0-2",
        "minutes": round(minutes, 1), "pretraining": pretraining, "summary": summary,
        "runs": runs}, indent=1) + "\n")
    lines = [f"rel-f1, seeds {', '.join(map(str, SEEDS))} (mean ± sd), AUROC × 100 / MAE; "
             f"{minutes:.1f} min on 2 cores.", ""]
    for score in SCORES:
        lines += [f"### {score}", "", "| arm | steps | " + " | ".join(TASKS) + " |",
                  "|---|---|---|---|---|"]
        for arm in ARMS:
            for steps in STEPS:
                cells = [next(e for e in summary if (e["task"], e["arm"], e["steps"]) == (
                    task, arm, steps))[score] for task in TASKS]
                lines.append(f"| {arm} | {steps} | " + " | ".join(map(cell, cells)) + " |")
        lines.append("")
    lines += ["### Pretraining", "", "| steps | seed | seconds | held-out loss, last epoch |",
              "|---|---|---|---|"]
    lines += [f"| {p['steps']} | {p['seed']} | {p['seconds'] or '–'} | {p['valid_loss'][-1]} |"
              for p in pretraining]
    OUTPUT.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(OUTPUT.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
