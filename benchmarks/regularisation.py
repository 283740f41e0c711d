"""Weight decay and longer patience for the supervised models, chosen on val.

The issue's fine-tuning recipe names weight decay and longer patience besides the backbone
learning rate and the head-first warm-up (``fine_tuning.py``). Both change the scratch
model as much as the fine-tuned one, so both arms are measured with each setting:
``weight_decay`` 0.01 and 0.1 (AdamW's decoupled decay; the default is 0) and
``patience=10`` (the default 5, of ``max_epochs=20``). The models are the reproduction's
(``reproduce_f1.supervised_model``, the cached default encoders of ``combine.py``), seeds
0, 1, 2, scored on val and val_frozen only; the defaults' scores are those of
``reproduce_f1.json`` (the same code and seeds, so bitwise the same fits).

Run: ``.venv/bin/python benchmarks/regularisation.py`` (about 18 min on 2 cores); writes
``benchmarks/results/regularisation.json`` and ``regularisation.md``.

``--settings fan-out`` measures the supervised models' sampling the same way instead: the
2 or the 8 latest neighbours per edge type and hop (the default 4; the pretraining sampler
and ``transform`` keep 4), written to ``supervised_fan_out.json`` / ``.md`` (about 13 min).

``--settings architecture`` measures the backbone's shape, on the scratch arm only (a
fine-tuned model keeps its encoder's backbone): three message-passing layers (fan-out
(4, 4, 4)), whose reach from a driver takes in the other rows of the races and constructors
of its results, and ``aggregation="sum"``, which lets a row count its neighbours; written to
``supervised_architecture.json`` / ``.md`` (42 min; a three-layer fit costs 7-14 times a
two-layer one).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: two 1-thread workers

import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _protocol import cell, mean_sd  # noqa: E402
from combine import RESULTS, SEEDS, TASKS, encoder_path, pretrain  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

ARMS = ("scratch", "fine-tuned")
SETTINGS = {  # --settings: (configurations, output stem, what they are, arms)
    "regularisation": ({"weight_decay=0.01": {"weight_decay": 0.01},
                        "weight_decay=0.1": {"weight_decay": 0.1},
                        "patience=10": {"patience": 10}},
                       "regularisation", "weight decay and patience", ARMS),
    "fan-out": ({"num_neighbors=(2, 2)": {"num_neighbors": (2, 2)},
                 "num_neighbors=(8, 8)": {"num_neighbors": (8, 8)}},
                "supervised_fan_out", "the supervised models' fan-out", ARMS),
    # the backbone's own shape: a fine-tuned model keeps its encoder's, so scratch only
    "architecture": ({"num_layers=3": {"num_layers": 3, "num_neighbors": (4, 4, 4)},
                      "aggregation=sum": {"aggregation": "sum"}},
                     "supervised_architecture", "depth and neighbour aggregation",
                     ("scratch",))}
SCORES = ("val", "val_frozen")


def run(task_name: str, arm: str, config: str, params: dict, seed: int) -> dict:
    import torch
    from reproduce_f1 import SCORES as SPLITS
    from reproduce_f1 import _databases, _load, _score, predict_scores, supervised_model

    torch.set_num_threads(1)
    data, databases = _load(task_name), _databases(True)
    train = data["train"]
    classify = train.task_type == "binary_classification"
    t0 = time.perf_counter()
    model = supervised_model(classify, arm, seed, "linear", str(encoder_path(seed)),
                             databases["full"]).set_params(**params)
    model.fit(train.X, train.y)
    out = {"task": task_name, "arm": arm, "config": config, "seed": seed,
           "epochs": len(model.history_), "seconds": round(time.perf_counter() - t0, 1)}
    for score, pred in predict_scores(model, data, databases, SCORES).items():
        out[score] = _score(train, data[SPLITS[score][0]].y, pred)
    return out


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", choices=SETTINGS, default="regularisation")
    configs, stem, what, arms = SETTINGS[parser.parse_args().settings]
    output = RESULTS / stem
    start = time.perf_counter()
    if "fine-tuned" in arms:  # the default encoders, cached unless missing
        Parallel(n_jobs=2)(delayed(pretrain)(s) for s in SEEDS)
    runs = Parallel(n_jobs=2, verbose=5)(delayed(run)(t, arm, c, p, s)
                                         for c, p in configs.items()
                                         for arm in arms for t in TASKS for s in SEEDS)
    reference = json.loads((RESULTS / "reproduce_f1.json").read_text())["runs"]
    runs += [{"task": r["task"], "arm": r["arm"], "config": "default", "seed": r["seed"],
              "epochs": r["epochs"], "seconds": r["seconds"],
              **{s: r[s] for s in SCORES}} for r in reference
             if r["job"] == "supervised" and r["arm"] in arms and r["tabular"] == "linear"]
    summary = []
    for task in TASKS:
        for arm in arms:
            for config in ("default", *configs):
                rs = [r for r in runs if (r["task"], r["arm"], r["config"]) == (
                    task, arm, config)]
                summary.append({"task": task, "arm": arm, "config": config,
                                "epochs": float(np.mean([r["epochs"] for r in rs])),
                                **{s: mean_sd([r[s] for r in rs]) for s in SCORES}})
    minutes = (time.perf_counter() - start) / 60
    output.with_suffix(".json").write_text(json.dumps({
        "benchmark": f"rel-f1: {what} for {' and '.join(arms)}, val and val_frozen, "
                     "seeds 0-2 (default from reproduce_f1.json)",
        "minutes": round(minutes, 1), "summary": summary, "runs": runs}, indent=1) + "\n")
    lines = [f"rel-f1, seeds {', '.join(map(str, SEEDS))} (mean ± sd), AUROC × 100 / MAE; "
             f"`default` rows from `reproduce_f1.json`; {minutes:.1f} min on 2 cores.", ""]
    for score in SCORES:
        lines += [f"### {score}", "", "| arm | setting | " + " | ".join(TASKS) +
                  " | mean epochs |", "|---|---|---|---|---|---|"]
        for arm in arms:
            for config in ("default", *configs):
                es = [next(e for e in summary if (e["task"], e["arm"], e["config"]) == (
                    task, arm, config)) for task in TASKS]
                lines.append(f"| {arm} | {config} | " + " | ".join(
                    cell(e[score]) for e in es) +
                    f" | {np.mean([e['epochs'] for e in es]):.1f} |")
        lines.append("")
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(output.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
