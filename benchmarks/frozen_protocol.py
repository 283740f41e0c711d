"""The RelBench protocol mirrored on val: choices for a database frozen before the rows scored.

Under the RelBench protocol, the test rows (2010-03 to 2013-03) read the database frozen at
the test timestamp, 2010-01-01. The val rows (2005-03 to 2008-03) stand in the same place
relative to the val timestamp, 2005-01-01, where pretraining stops: val rows reading
``database.upto(2005-01-01)`` (``val_frozen``) mirror the RelBench test protocol on rows
that may be used for choices, with nothing after the pretraining cutoff read. Two choices a
user facing a frozen database could make are measured there, and on test for the record:

- **reading**: ``as-is`` (each row at its own time, as RelBench scores every baseline) or
  ``snapshot`` (each row's time clipped to the database's end). Both read the same rows;
  only their representation changes: the relative-time encoding of the GNN and the
  aggregator's windows ("last 365 days" is empty for a row two years past the snapshot).
- **transform's sampling** for frozen embeddings (``temporal_strategy``, ``num_neighbors``):
  with a frozen database the latest rows are stale, so more of them could help.

Arms: ``scratch`` and ``fine-tuned`` (``reproduce_f1.supervised_model``), ``emb+gbm`` and
``agg+gbm`` (gradient boosting with the settings chosen on val, ``gbm_tuning.json``), over
seeds 0, 1, 2, with the encoders pretrained with the library defaults up to 2005-01-01 and
cached in ``benchmarks/.cache/`` (``combine.py``). Each model is fitted once on the train
rows (all before 2005, so the frozen databases hold all they read) and scored on every split.

Run: ``.venv/bin/python benchmarks/frozen_protocol.py`` (about 12 min on 2 cores); writes
``benchmarks/results/frozen_protocol.json`` and ``frozen_protocol.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: two 1-thread workers

import json  # noqa: E402
import time  # noqa: E402

from _protocol import cell, mean_sd, predict  # noqa: E402
from combine import RESULTS, SEEDS, TASKS, encoder_path, pretrain  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

READINGS = ("as-is", "snapshot")
SPLITS = ("val", "val_frozen", "test_relbench")  # with the reading for the last two
SAMPLINGS = (("last", (4, 4)), ("last", (16, 8)), ("last", (64, 16)), ("uniform", (64, 16)))
DEFAULT_SAMPLING = SAMPLINGS[0]
OUTPUT = RESULTS / "frozen_protocol"


def _rows(task_name: str):
    """``(train task, {split: (task rows, database, snapshot time or None)})``."""
    from reproduce_f1 import _databases, _load

    from relcontrast.datasets import TEST_TIMESTAMP, VAL_TIMESTAMP

    data, databases = _load(task_name), _databases(True)
    return data["train"], {
        "val": (data["val"], databases["full"], None),
        "val_frozen": (data["val"], databases["val"], VAL_TIMESTAMP),
        "test_relbench": (data["test"], databases["test"], TEST_TIMESTAMP)}


def _read(task, snapshot, reading: str):
    """The task's rows ``X``, each at its own time or at most at ``snapshot``."""
    if reading == "as-is" or snapshot is None:
        return task.X
    column = task.time_column
    return task.X.assign(**{column: task.X[column].clip(upper=snapshot)})


def _scored(train, splits, predict) -> dict:
    """``predict(X, database)`` scored on each split (and reading where it differs)."""
    from _protocol import metric

    classify = train.task_type == "binary_classification"
    out = {}
    for split, (task, database, snapshot) in splits.items():
        for reading in READINGS if snapshot is not None else ("as-is",):
            key = split if snapshot is None else f"{split}/{reading}"
            out[key] = metric(classify, task.y, predict(_read(task, snapshot, reading),
                                                        database))
    return out


def supervised(task_name: str, arm: str, seed: int) -> list[dict]:
    import torch
    from reproduce_f1 import supervised_model

    torch.set_num_threads(1)
    train, splits = _rows(task_name)
    classify = train.task_type == "binary_classification"
    t0 = time.perf_counter()
    model = supervised_model(classify, arm, seed, "linear", str(encoder_path(seed)),
                             splits["val"][1]).fit(train.X, train.y)

    def predict_on(X, database):
        return predict(model.with_database(database), X, classify)

    return [{"task": task_name, "arm": arm, "seed": seed, "sampling": None,
             **_scored(train, splits, predict_on), "seconds": round(time.perf_counter() - t0, 1)}]


def gradient_boosting(task_name: str, seed: int) -> list[dict]:
    """``emb+gbm`` under every sampling of ``SAMPLINGS``, ``agg+gbm`` once."""
    import copy

    import joblib
    import torch
    from _protocol import gradient_boosting as make_gbm
    from gbm_tuning import chosen_params
    from sklearn.base import clone

    from relcontrast import RelationalAggregator

    torch.set_num_threads(1)
    train, splits = _rows(task_name)
    classify = train.task_type == "binary_classification"
    encoder = joblib.load(encoder_path(seed))
    aggregator = RelationalAggregator(database=splits["val"][1]).fit(train.X)
    feature_sets = [("agg+gbm", None, "agg", lambda X, db: clone(aggregator).set_params(
        database=db).fit(train.X).transform(X).to_numpy())]
    for strategy, fanout in SAMPLINGS:
        enc = copy.deepcopy(encoder).set_params(temporal_strategy=strategy,
                                                num_neighbors=fanout)
        feature_sets.append(("emb+gbm", f"{strategy} {fanout}", "emb",
                             lambda X, db, enc=enc: enc.with_database(db).transform(X)))
    out = []
    for arm, sampling, features, transform in feature_sets:
        t0 = time.perf_counter()
        gbm = make_gbm(classify, seed, chosen_params(task_name, features)).fit(
            transform(train.X, splits["val"][1]), train.y)

        def predict_on(X, database, gbm=gbm, transform=transform):
            return predict(gbm, transform(X, database), classify)

        out.append({"task": task_name, "arm": arm, "seed": seed, "sampling": sampling,
                    **_scored(train, splits, predict_on),
                    "seconds": round(time.perf_counter() - t0, 1)})
    return out


def summarise(runs: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["task"], r["arm"], r["sampling"]), []).append(r)
    out = []
    for (task, arm, sampling), rs in groups.items():
        entry = {"task": task, "arm": arm, "sampling": sampling, "seeds": len(rs)}
        entry.update({key: mean_sd([r[key] for r in rs]) for key in rs[0]
                      if key.split("/")[0] in SPLITS})
        out.append(entry)
    return out


def _better(task: str, a: float, b: float) -> bool:
    return a < b if task == "driver-position" else a > b


def choose(summary: list[dict]) -> list[dict]:
    """Per task and arm: the reading (and, for emb+gbm, the sampling) with the better
    ``val_frozen`` mean; its ``test_relbench`` score beside the default's."""
    out = []
    for task in TASKS:
        for arm in ("scratch", "fine-tuned", "emb+gbm", "agg+gbm"):
            entries = [e for e in summary if e["task"] == task and e["arm"] == arm]
            options = [(e, reading) for e in entries for reading in READINGS]
            best = options[0]
            for option in options[1:]:
                if _better(task, option[0][f"val_frozen/{option[1]}"]["mean"],
                           best[0][f"val_frozen/{best[1]}"]["mean"]):
                    best = option
            default = next(e for e in entries if e["sampling"] in (
                None, f"{DEFAULT_SAMPLING[0]} {DEFAULT_SAMPLING[1]}"))
            out.append({"task": task, "arm": arm, "sampling": best[0]["sampling"],
                        "reading": best[1], "val_frozen": best[0][f"val_frozen/{best[1]}"],
                        "test_relbench": best[0][f"test_relbench/{best[1]}"],
                        "default_test_relbench": default["test_relbench/as-is"]})
    return out


def markdown(summary: list[dict], chosen: list[dict], minutes: float) -> str:
    lines = [f"rel-f1, seeds {', '.join(map(str, SEEDS))} (mean ± sd), AUROC × 100 / MAE. "
             "`val_frozen`: val rows reading the database frozen at 2005-01-01 (the RelBench "
             "protocol mirrored on val); `test_relbench`: test rows reading it frozen at "
             "2010-01-01. Reading `as-is`: each row at its own time; `snapshot`: its time "
             f"clipped to the database's end. {minutes:.1f} min on 2 cores.", ""]
    for task in TASKS:
        lines += [f"### {task}", "", "| arm | sampling | val | val_frozen as-is | "
                  "val_frozen snapshot | test_relbench as-is | test_relbench snapshot |",
                  "|---|---|---|---|---|---|---|"]
        for e in (e for e in summary if e["task"] == task):
            lines.append(f"| {e['arm']} | {e['sampling'] or '–'} | {cell(e['val'])} | " +
                         " | ".join(cell(e[f"{s}/{r}"]) for s in SPLITS[1:] for r in READINGS)
                         + " |")
        lines.append("")
    lines += ["### Chosen on val_frozen", "", "| task | arm | sampling | reading | val_frozen | "
              "test_relbench | test_relbench, defaults |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {c['task']} | {c['arm']} | {c['sampling'] or '–'} | {c['reading']} | "
              f"{cell(c['val_frozen'])} | {cell(c['test_relbench'])} | "
              f"{cell(c['default_test_relbench'])} |" for c in chosen]
    return "\n".join(lines) + "\n"


def run(supervised, gradient_boosting, seeds=SEEDS) -> list[dict]:
    """The encoders pretrained (cached unless missing), then ``supervised(task, arm, seed)``
    for fine-tuned and scratch and ``gradient_boosting(task, seed)`` for every task and seed,
    on two workers: their records, flattened."""
    Parallel(n_jobs=2)(delayed(pretrain)(s) for s in seeds)
    jobs = [delayed(supervised)(t, arm, s) for arm in ("fine-tuned", "scratch")
            for t in TASKS for s in seeds]
    jobs += [delayed(gradient_boosting)(t, s) for t in TASKS for s in seeds]
    return [r for rs in Parallel(n_jobs=2, verbose=5)(jobs) for r in rs]


def main() -> None:
    start = time.perf_counter()
    runs = run(supervised, gradient_boosting)
    summary = summarise(runs)
    chosen = choose(summary)
    minutes = (time.perf_counter() - start) / 60
    OUTPUT.with_suffix(".json").write_text(json.dumps({
        "benchmark": "rel-f1: the RelBench protocol mirrored on val (val rows reading the "
                     "database frozen at 2005-01-01); reading as-is or at the snapshot, "
                     "transform's sampling",
        "seeds": list(SEEDS), "minutes": round(minutes, 1), "chosen": chosen,
        "summary": summary, "runs": runs}, indent=1) + "\n")
    OUTPUT.with_suffix(".md").write_text(markdown(summary, chosen, minutes))
    print(OUTPUT.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
