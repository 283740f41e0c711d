"""Combining frozen embeddings with RelationalAggregator features for gradient boosting.

In the rel-f1 reproduction, embeddings + aggregates score below the aggregates alone on
driver-dnf and driver-position: 128 embedding columns beside 381 aggregates. This script
compares, over seeds 0, 1, 2 (pretraining and gradient boosting), ways to combine them:

- ``agg``: aggregates alone; ``emb``: embeddings alone; ``emb+agg``: both side by side;
- ``pca<k>+agg``: the embeddings reduced to ``k`` principal components (fitted on the train
  rows' embeddings, ``sklearn.decomposition.PCA``) beside the aggregates;
- ``vote(emb, agg)``: one gradient boosting on the embeddings and one on the aggregates,
  their predicted probabilities (or values) averaged (``VotingClassifier(voting="soft")`` /
  ``VotingRegressor``).

The choice is made on val; test (both protocols) is reported for every variant. Encoders
are pretrained with the library defaults up to 2005-01-01 and cached in
``benchmarks/.cache/`` (delete it to pretrain again).

Run: ``.venv/bin/python benchmarks/combine.py``; writes ``benchmarks/results/combine.json``
and ``combine.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: two 1-thread workers

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _protocol import METRICS  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CACHE = Path(__file__).parent / ".cache"
TASKS = ("driver-dnf", "driver-top3", "driver-position")
SEEDS = (0, 1, 2)
PCA_DIMS = (4, 8, 16, 32)
SPLITS = ("val", "test_deployment", "test_relbench")


def _databases():
    from relcontrast import RelationalDatabase
    from relcontrast.datasets import TEST_TIMESTAMP, load_f1

    full = RelationalDatabase(*load_f1())
    return full, full.upto(TEST_TIMESTAMP)


def encoder_path(seed: int) -> Path:
    return CACHE / f"encoder_default_{seed}.joblib"


def pretrain(seed: int) -> float:
    import joblib

    from relcontrast import RelationalContrastiveEncoder
    from relcontrast.datasets import VAL_TIMESTAMP

    path = encoder_path(seed)
    if path.exists():
        return 0.0
    t0 = time.perf_counter()
    enc = RelationalContrastiveEncoder(cutoff_time=VAL_TIMESTAMP, random_state=seed)
    enc.fit(_databases()[0])
    CACHE.mkdir(exist_ok=True)
    joblib.dump(enc, path)
    return time.perf_counter() - t0


def features(task_name: str, seed: int) -> dict:
    """Embeddings and aggregates of the task's rows (train, val, test under both
    protocols), cached per task and seed."""
    import joblib
    from sklearn.base import clone

    from relcontrast import RelationalAggregator
    from relcontrast.datasets import load_f1_task

    cache = CACHE / f"features_{task_name}_{seed}.npz"
    if cache.exists():
        return dict(np.load(cache))
    full, frozen = _databases()
    train, val, test = (load_f1_task(task_name, s) for s in ("train", "val", "test"))
    enc = joblib.load(encoder_path(seed))
    enc_frozen = enc.with_database(frozen)
    agg = RelationalAggregator(database=full).fit(train.X)
    agg_frozen = clone(agg).set_params(database=frozen).fit(train.X)
    out = {"emb_train": enc.transform(train.X), "emb_val": enc.transform(val.X),
           "emb_test_deployment": enc.transform(test.X),
           "emb_test_relbench": enc_frozen.transform(test.X),
           "agg_train": agg.transform(train.X).to_numpy(),
           "agg_val": agg.transform(val.X).to_numpy(),
           "agg_test_deployment": agg.transform(test.X).to_numpy(),
           "agg_test_relbench": agg_frozen.transform(test.X).to_numpy()}
    np.savez(cache, **out)
    return out


def evaluate(task_name: str, seed: int) -> list[dict]:
    from _protocol import gradient_boosting, score, voting
    from sklearn.decomposition import PCA

    from relcontrast.datasets import load_f1_task

    f = features(task_name, seed)
    train, val, test = (load_f1_task(task_name, s) for s in ("train", "val", "test"))
    classify = train.task_type == "binary_classification"
    targets = {"val": val.y, "test_deployment": test.y, "test_relbench": test.y}
    variants = {"agg": lambda s: f[f"agg_{s}"], "emb": lambda s: f[f"emb_{s}"],
                "emb+agg": lambda s: np.hstack([f[f"emb_{s}"], f[f"agg_{s}"]])}
    for k in PCA_DIMS:
        pca = PCA(k, svd_solver="full").fit(f["emb_train"])
        variants[f"pca{k}+agg"] = (lambda s, pca=pca: np.hstack(
            [pca.transform(f[f"emb_{s}"]), f[f"agg_{s}"]]))
    models = dict.fromkeys(variants, lambda: gradient_boosting(classify, seed))
    # one gradient boosting per feature set, predictions averaged (soft voting)
    emb_dim = f["emb_train"].shape[1]
    variants["vote(emb, agg)"] = variants["emb+agg"]
    models["vote(emb, agg)"] = lambda: voting(classify, seed, emb_dim)
    rows = []
    for name, get in variants.items():
        model = models[name]().fit(get("train"), np.asarray(train.y))
        row = {"task": task_name, "seed": seed, "variant": name}
        for split in SPLITS:
            row[split] = round(score(model, get(split), targets[split], classify),
                               3 if classify else 4)
        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for task in TASKS:
        for variant in dict.fromkeys(r["variant"] for r in rows):
            rs = [r for r in rows if r["task"] == task and r["variant"] == variant]
            out.append({"task": task, "variant": variant, "seeds": len(rs), **{
                split: [round(float(np.mean([r[split] for r in rs])), 3),
                        round(float(np.std([r[split] for r in rs], ddof=1)), 3)]
                for split in SPLITS}})
    return out


def main() -> None:
    start = time.perf_counter()
    pretrain_s = Parallel(n_jobs=2)(delayed(pretrain)(s) for s in SEEDS)
    Parallel(n_jobs=2)(delayed(features)(t, s) for t in TASKS for s in SEEDS)
    rows = [r for rs in Parallel(n_jobs=2)(delayed(evaluate)(t, s) for t in TASKS
                                           for s in SEEDS) for r in rs]
    summary = summarise(rows)
    payload = {"benchmark": "rel-f1: ways to combine frozen embeddings and RelationalAggregator "
                            "features in gradient boosting (choice on val)",
               "metrics": METRICS,
               "protocol": "pretraining up to 2005-01-01 with the defaults, seeds 0, 1, 2; "
                           "test_relbench reads the database frozen at 2010-01-01, "
                           "test_deployment the full database",
               "pretraining_seconds": [round(s, 1) for s in pretrain_s],
               "wall_seconds": round(time.perf_counter() - start, 1),
               "summary": summary, "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "combine.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = ["| task | variant | val | test, RelBench protocol | test, deployment protocol |",
             "|---|---|---|---|---|"]
    for r in summary:
        cells = [f"{r[s][0]:.2f} ± {r[s][1]:.2f}" for s in ("val", "test_relbench",
                                                           "test_deployment")]
        lines.append(f"| {r['task']} | {r['variant']} | " + " | ".join(cells) + " |")
    (RESULTS / "combine.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
