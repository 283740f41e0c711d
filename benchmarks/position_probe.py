"""Why frozen embeddings trail the aggregates on driver-position: what the embeddings hold.

Frozen embeddings + gradient boosting score val MAE 2.88 on driver-position against 2.79
for ``RelationalAggregator`` features, and adding the embeddings to the aggregates does not
help. This script measures, on val, over seeds 0, 1, 2 (pretraining, models), with the
default encoder pretrained up to 2005-01-01 (cached by ``combine.py`` in
``benchmarks/.cache/``):

- val MAE of gradient boosting and of a linear model (``RidgeCV`` on standardised inputs)
  on the embeddings, on all aggregates, and on the 10 aggregates most correlated with the
  target on the train rows;
- a linear probe: how much of each aggregate feature the embeddings hold, as the val R^2 of
  ``RidgeCV`` from the 128 embedding columns to the feature (fitted on train rows). Reported
  for the 10 aggregates most correlated with the target and as the median over all.

Run: ``.venv/bin/python benchmarks/position_probe.py``; writes
``benchmarks/results/position_probe.json`` and ``position_probe.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: two 1-thread workers

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from combine import SEEDS, features, pretrain  # noqa: E402  benchmarks/ is on sys.path
from joblib import Parallel, delayed  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TASK = "driver-position"
TOP = 10


def _linear():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(), StandardScaler(), RidgeCV(np.logspace(-2, 4, 13)))


def evaluate(seed: int, names: list[str]) -> dict:
    from _protocol import gradient_boosting
    from sklearn.metrics import mean_absolute_error, r2_score

    from relcontrast.datasets import load_f1_task

    f = features(TASK, seed)
    train, val = load_f1_task(TASK, "train"), load_f1_task(TASK, "val")
    y_train, y_val = np.asarray(train.y, float), np.asarray(val.y, float)
    agg_train, agg_val = f["agg_train"], f["agg_val"]
    filled = np.where(np.isnan(agg_train), np.nanmean(agg_train, 0), agg_train)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.array([np.corrcoef(filled[:, j], y_train)[0, 1]
                                       for j in range(filled.shape[1])]))
    top = np.argsort(-np.abs(corr))[:TOP]
    inputs = {"embeddings": (f["emb_train"], f["emb_val"]), "aggregates": (agg_train, agg_val),
              f"top {TOP} aggregates": (agg_train[:, top], agg_val[:, top])}
    mae = {}
    for name, (xt, xv) in inputs.items():
        for model_name, model in (("gbm", gradient_boosting(False, seed)),
                                  ("linear", _linear())):
            model.fit(xt, y_train)
            mae[f"{model_name} on {name}"] = round(float(
                mean_absolute_error(y_val, model.predict(xv))), 4)
    r2 = {}
    for j in range(agg_train.shape[1]):
        target_train, target_val = agg_train[:, j], agg_val[:, j]
        ok_t, ok_v = ~np.isnan(target_train), ~np.isnan(target_val)
        if ok_t.sum() < 100 or ok_v.sum() < 100 or np.nanstd(target_train) == 0:
            continue
        probe = _linear().fit(f["emb_train"][ok_t], target_train[ok_t])
        r2[names[j]] = round(float(r2_score(target_val[ok_v],
                                            probe.predict(f["emb_val"][ok_v]))), 4)
    return {"seed": seed, "val_mae": mae,
            "top_features": [{"feature": names[j], "train_corr": round(float(corr[j]), 4),
                              "probe_r2": r2.get(names[j])} for j in top],
            "median_probe_r2": round(float(np.median(list(r2.values()))), 4),
            "probe_r2": r2}


def main() -> None:
    from relcontrast import RelationalAggregator, RelationalDatabase
    from relcontrast.datasets import load_f1, load_f1_task

    start = time.perf_counter()
    Parallel(n_jobs=2)(delayed(pretrain)(seed) for seed in SEEDS)
    Parallel(n_jobs=2)(delayed(features)(TASK, seed) for seed in SEEDS)
    train = load_f1_task(TASK, "train")
    names = list(RelationalAggregator(database=RelationalDatabase(*load_f1())).fit(
        train.X).get_feature_names_out())
    runs = Parallel(n_jobs=2)(delayed(evaluate)(seed, names) for seed in SEEDS)

    summary = {}
    for key in runs[0]["val_mae"]:
        values = [r["val_mae"][key] for r in runs]
        summary[key] = {"mean": round(float(np.mean(values)), 4),
                        "sd": round(float(np.std(values, ddof=1)), 4)}
    features_r2 = {}
    for r in runs:
        for item in r["top_features"]:
            features_r2.setdefault(item["feature"], []).append(item)
    top = sorted(features_r2.items(), key=lambda kv: -np.mean([abs(i["train_corr"])
                                                              for i in kv[1]]))[:TOP]
    RESULTS.mkdir(exist_ok=True)
    out = {"benchmark": "position_probe", "task": TASK, "split": "val", "seeds": list(SEEDS),
           "val_mae": summary,
           "median_probe_r2": [r["median_probe_r2"] for r in runs],
           "top_features": [{"feature": k,
                             "train_corr": round(float(np.mean([i["train_corr"] for i in v])), 4),
                             "probe_r2": [i["probe_r2"] for i in v]} for k, v in top],
           "runs": runs, "wall_seconds": round(time.perf_counter() - start, 1)}
    (RESULTS / "position_probe.json").write_text(json.dumps(out, indent=1))
    lines = [f"# {TASK}: what the frozen embeddings hold (val, seeds {list(SEEDS)})", "",
             "| model | val MAE, mean ± sd |", "|---|---|"]
    lines += [f"| {k} | {v['mean']:.3f} ± {v['sd']:.3f} |" for k, v in summary.items()]
    lines += ["", "Linear probe, embeddings -> aggregate feature, val R^2 per seed "
              f"(median over all aggregates: {out['median_probe_r2']}):", "",
              "| aggregate (most correlated with the target on train) | corr | probe R^2 |",
              "|---|---|---|"]
    lines += [f"| `{t['feature']}` | {t['train_corr']:+.3f} | "
              f"{' / '.join('-' if x is None else f'{x:.2f}' for x in t['probe_r2'])} |"
              for t in out["top_features"]]
    (RESULTS / "position_probe.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
