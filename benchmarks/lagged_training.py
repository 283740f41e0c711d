"""Training rows read as the scored rows are: lagged training for a frozen database.

Under the RelBench protocol a test row of 2012 reads the database frozen at 2010-01-01: its
model sees the database as it was a horizon (2 months to 6 years) before the row's label
window. Every train row, read at its own time, is seen with a horizon of 0, so the models
learn from a recent history they never get at test time ("the last 365 days" of a row two
years past the snapshot are empty). ``benchmarks/frozen_protocol.py`` measured reading the
scored rows at the snapshot (their times clipped to the database's end); this script also
moves the train rows back: each train row is read at its own time minus a horizon drawn
(seeded) from the horizons of the rows to be scored, as a user who knows the times of the
rows to predict and the end of their database can do. Labels are unchanged. The scored rows
are read at the snapshot, so that train and scored rows are both "the database a horizon
before the label window". Variants:

- ``lagged``: train rows read at their time minus a drawn horizon; scored rows at the
  snapshot.
- ``lagged+horizon`` (gradient boosting only): the same, with the horizon in days as one
  more feature.

Both are fitted once per scored split, with that split's horizons: ``val_frozen`` (val rows
reading the database frozen at 2005-01-01, where pretraining stops; choices are made here)
and ``test_relbench`` (reported only). Arms and settings as in ``frozen_protocol.py``
(encoders pretrained with the library defaults up to 2005-01-01, cached; gradient boosting
with the settings chosen on val); its committed ``as-is`` and ``snapshot`` readings are
shown beside.

Run: ``.venv/bin/python benchmarks/lagged_training.py`` (about 9 min on 2 cores); writes
``benchmarks/results/lagged_training.json`` and ``lagged_training.md``. ``--seeds 0 1 2 3 4
--output lagged_training_5seeds`` runs five seeds (pretraining the two more encoders unless
cached) beside the ``as-is`` scores of ``reproduce_f1_5seeds.json`` (no ``snapshot``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: two 1-thread workers

import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _protocol import cell, mean_sd, metric, predict  # noqa: E402
from combine import RESULTS, SEEDS, TASKS, encoder_path  # noqa: E402
from frozen_protocol import _better, _read, _rows, run  # noqa: E402

SPLITS = ("val_frozen", "test_relbench")
VARIANTS = ("lagged", "lagged+horizon")
ARMS = ("scratch", "fine-tuned", "emb+gbm", "agg+gbm")
OUTPUT = RESULTS / "lagged_training"


def horizons(task, snapshot) -> np.ndarray:
    """Days from ``snapshot`` to each row's time (0 for rows before it)."""
    times = pd.to_datetime(task.X[task.time_column])
    return (times - pd.Timestamp(snapshot)).dt.days.clip(lower=0).to_numpy()


def lagged(train, scored, snapshot, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The train rows ``X``, each read at its time minus a horizon drawn from ``scored``'s,
    and the drawn horizons."""
    drawn = np.random.default_rng(seed).choice(horizons(scored, snapshot), len(train.X))
    column = train.time_column
    times = pd.to_datetime(train.X[column]) - pd.to_timedelta(drawn, unit="D")
    return train.X.assign(**{column: times.to_numpy()}), drawn


def reads_before_first_row(task_name: str, seeds) -> dict:
    """Per split and timed table, the (min, max) over ``seeds`` of the share of lagged train
    rows read before the table's first row (where that share is above 0): those rows read
    the table empty, as no scored row does."""
    train, splits = _rows(task_name)
    database = splits["val"][1]
    out: dict = {}
    for split in SPLITS:
        task, _, snapshot = splits[split]
        for seed in seeds:
            X, _ = lagged(train, task, snapshot, seed)
            times = pd.to_datetime(X[train.time_column]).to_numpy("datetime64[ns]").astype(
                np.int64)
            for name in database.table_names:
                first = database.time_ns(name)
                share = 0.0 if first is None else float((times < first.min()).mean())
                if share > 0:
                    low, high = out.setdefault(split, {}).get(name, (share, share))
                    out[split][name] = (round(min(low, share), 3), round(max(high, share), 3))
    return out


def _jobs(train, splits: dict, seed: int, fit_predict) -> dict:
    """``fit_predict(X_train, horizons_train, X_scored, horizons_scored, database)`` ->
    ``{variant: predictions}``, scored on each split (``_rows``' train task and splits)."""
    classify = train.task_type == "binary_classification"
    out = {}
    for split in SPLITS:
        task, database, snapshot = splits[split]
        X, drawn = lagged(train, task, snapshot, seed)
        for variant, pred in fit_predict(X, drawn, _read(task, snapshot, "snapshot"),
                                         horizons(task, snapshot), database).items():
            out[f"{split}/{variant}"] = metric(classify, task.y, pred)
    return out


def supervised(task_name: str, arm: str, seed: int) -> list[dict]:
    import torch
    from reproduce_f1 import supervised_model

    torch.set_num_threads(1)
    train, splits = _rows(task_name)
    classify = train.task_type == "binary_classification"

    def fit_predict(X, drawn, X_scored, scored_horizons, database):
        model = supervised_model(classify, arm, seed, "linear", str(encoder_path(seed)),
                                 splits["val"][1]).fit(X, train.y)
        return {"lagged": predict(model.with_database(database), X_scored, classify)}

    t0 = time.perf_counter()
    scores = _jobs(train, splits, seed, fit_predict)
    return [{"task": task_name, "arm": arm, "seed": seed, **scores,
             "seconds": round(time.perf_counter() - t0, 1)}]


def gradient_boosting(task_name: str, seed: int) -> list[dict]:
    """``emb+gbm`` (``transform``'s default sampling) and ``agg+gbm``."""
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
    full = splits["val"][1]
    aggregator = RelationalAggregator(database=full).fit(train.X)
    features = {"agg+gbm": ("agg", lambda X, db: clone(aggregator).set_params(
                    database=db).fit(train.X).transform(X).to_numpy()),
                "emb+gbm": ("emb", lambda X, db: encoder.with_database(db).transform(X))}
    out = []
    for arm, (feature_set, transform) in features.items():
        params = chosen_params(task_name, feature_set)

        def fit_predict(X, drawn, X_scored, scored_horizons, database,
                        transform=transform, params=params):
            x, x_scored = transform(X, full), transform(X_scored, database)
            inputs = {"lagged": (x, x_scored),
                      "lagged+horizon": (np.column_stack([x, drawn]),
                                         np.column_stack([x_scored, scored_horizons]))}
            return {variant: predict(make_gbm(classify, seed, params).fit(fit, train.y),
                                     scored, classify)
                    for variant, (fit, scored) in inputs.items()}

        t0 = time.perf_counter()
        scores = _jobs(train, splits, seed, fit_predict)
        out.append({"task": task_name, "arm": arm, "seed": seed, **scores,
                    "seconds": round(time.perf_counter() - t0, 1)})
    return out


def summarise(runs: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["task"], r["arm"]), []).append(r)
    return [{"task": task, "arm": arm, "seeds": len(rs),
             **{key: mean_sd([r[key] for r in rs]) for key in rs[0]
                if key.split("/")[0] in SPLITS}}
            for (task, arm), rs in groups.items()]


def readings(summary: list[dict], seeds) -> dict:
    """Per (task, arm): every reading's ``{split: summary}``, beside these the committed
    ``as-is`` and ``snapshot`` of ``frozen_protocol.json`` (transform's default sampling)
    for its seeds, else the ``as-is`` of ``reproduce_f1_5seeds.json`` for its five."""
    out: dict[tuple, dict] = {}
    if tuple(seeds) == SEEDS:
        earlier = json.loads((RESULTS / "frozen_protocol.json").read_text())["summary"]
        for e in earlier:
            if e["sampling"] in (None, "last (4, 4)"):
                out[e["task"], e["arm"]] = {r: {s: e[f"{s}/{r}"] for s in SPLITS}
                                            for r in ("as-is", "snapshot")}
    else:
        earlier = json.loads((RESULTS / "reproduce_f1_5seeds.json").read_text())["summary"]
        if tuple(seeds) != tuple(range(5)):
            raise ValueError(f"seeds {seeds}: the as-is reference has seeds 0-4 or {SEEDS}")
        for e in earlier:
            if e["arm"] in ARMS and e["tabular"] == "linear":
                out[e["task"], e["arm"]] = {"as-is": {s: e[s] for s in SPLITS}}
    for e in summary:
        out[e["task"], e["arm"]].update({v: {s: e[f"{s}/{v}"] for s in SPLITS}
                                         for v in VARIANTS if f"{SPLITS[0]}/{v}" in e})
    return out


def choose(table: dict) -> list[dict]:
    """Per task and arm: the reading with the best ``val_frozen`` mean."""
    out = []
    for (task, arm), options in table.items():
        best = "as-is"
        for reading, scores in options.items():
            if _better(task, scores["val_frozen"]["mean"],
                       options[best]["val_frozen"]["mean"]):
                best = reading
        out.append({"task": task, "arm": arm, "reading": best, **options[best],
                    "default_test_relbench": options["as-is"]["test_relbench"]})
    return out


def markdown(table: dict, chosen: list[dict], minutes: float, seeds, early: dict) -> str:
    names = ("as-is", "snapshot", *VARIANTS)
    reference = "`as-is` and `snapshot` are `frozen_protocol.json`'s" if tuple(
        seeds) == SEEDS else "`as-is` is `reproduce_f1_5seeds.json`'s, `snapshot` not run"
    lines = [f"rel-f1, seeds {', '.join(map(str, seeds))} (mean ± sd), AUROC × 100 / MAE. "
             "`val_frozen`: val rows reading the database frozen at 2005-01-01; "
             "`test_relbench`: test rows reading it frozen at 2010-01-01 (the RelBench "
             f"protocol). {reference} (train rows at "
             "their time; scored rows at their time or at the snapshot); `lagged`: train rows "
             "read a drawn horizon earlier, scored rows at the snapshot; `+horizon`: the "
             f"horizon as a feature. This run: {minutes:.1f} min on 2 cores.", ""]
    for split in SPLITS:
        lines += [f"### {split}", "", "| task | arm | " + " | ".join(names) + " |",
                  "|---|---|" + "---|" * len(names)]
        for (task, arm), options in table.items():
            lines.append(f"| {task} | {arm} | " + " | ".join(
                cell(options[n][split]) if n in options else "–" for n in names) + " |")
        lines.append("")
    lines += ["### Chosen on val_frozen", "", "| task | arm | reading | val_frozen | "
              "test_relbench | test_relbench, as-is |", "|---|---|---|---|---|---|"]
    lines += [f"| {c['task']} | {c['arm']} | {c['reading']} | {cell(c['val_frozen'])} | "
              f"{cell(c['test_relbench'])} | {cell(c['default_test_relbench'])} |"
              for c in chosen]
    lines += ["", "### Lagged train rows read before a table's first row", "",
              "Share of the lagged train rows, min–max over seeds; tables not listed: none.",
              "", "| task | split | table | share |", "|---|---|---|---|"]
    lines += [f"| {task} | {split} | {name} | {low:.1%}–{high:.1%} |"
              for task, splits in early.items() for split, tables in splits.items()
              for name, (low, high) in tables.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--output", default=OUTPUT.name)
    args = parser.parse_args()
    output = RESULTS / args.output
    start = time.perf_counter()
    runs = run(supervised, gradient_boosting, args.seeds)
    summary = summarise(runs)
    table = readings(summary, args.seeds)
    table = {key: table[key] for key in sorted(table, key=lambda k: (
        TASKS.index(k[0]), ARMS.index(k[1])))}
    chosen = choose(table)
    early = {t: reads_before_first_row(t, args.seeds) for t in TASKS}
    minutes = (time.perf_counter() - start) / 60
    output.with_suffix(".json").write_text(json.dumps({
        "benchmark": "rel-f1, RelBench protocol mirrored on val: train rows read a horizon "
                     "drawn from the scored rows' earlier, scored rows at the snapshot",
        "seeds": args.seeds, "minutes": round(minutes, 1), "chosen": chosen,
        "lagged_reads_before_first_row": early,
        "summary": summary, "runs": runs}, indent=1) + "\n")
    output.with_suffix(".md").write_text(markdown(table, chosen, minutes, args.seeds, early))
    print(output.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
