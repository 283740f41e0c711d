"""Run the suite: every (database, task, arm, seed) asked for, merged into one JSON, a
markdown table per database and one plot.

    .venv/bin/python -m benchmarks.suite                                      # everything
    .venv/bin/python -m benchmarks.suite --databases portal --quick           # smoke test
    .venv/bin/python -m benchmarks.suite --encoder-options '{"num_layers": 3,
        "num_neighbors": [4, 4, 4]}' --output suite_three_layers              # an ablation

A run replaces only the (database, task, arm, seed) entries it computes in
``benchmarks/results/<output>.json``: ``{"databases": {DB: {"tasks": {TASK: {"metric":
"auroc" | "mae", "arms": {ARM: {"val": [per seed], "test": [...], "time_s": [...], "seeds":
[...]}}}}}}}``. ``time_s``: one seed's features, fit and predictions (aggregates and
hand-made features counted in every seed); pretraining is timed once per database and seed
(``pretraining``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.suite import arms as arms_mod
from benchmarks.suite import data

RESULTS = Path(__file__).resolve().parents[1] / "results"
QUICK_ROWS = {"train": 1000, "val": 500, "test": 500}


def _log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def _commit() -> str:
    """HEAD, with ``+changes`` when the library's files differ from it."""
    def git(*args):
        done = subprocess.run(["git", *args], capture_output=True, text=True,
                              cwd=Path(__file__).parent)
        return done.stdout.strip() if done.returncode == 0 else None
    changed = git("status", "--porcelain", "--", str(Path(__file__).parents[2] / "relcontrast"))
    return (git("rev-parse", "HEAD") or "unknown") + ("+changes" if changed else "")


def _shrink(task: data.Task) -> data.Task:
    """``--quick``: a seeded sample of each split's rows, kept in time order."""
    import dataclasses

    X, y = {}, {}
    for split, n in QUICK_ROWS.items():
        size = len(task.X[split])
        keep = np.sort(np.random.default_rng(0).choice(size, min(n, size), replace=False))
        X[split] = task.X[split].iloc[keep].reset_index(drop=True)
        y[split] = task.y[split].iloc[keep].reset_index(drop=True)
    return dataclasses.replace(task, X=X, y=y)


def _task_info(task: data.Task) -> dict:
    info = {"rows": {s: len(task.X[s]) for s in data.SPLITS},
            "description": task.description}
    key = "positive_rate" if task.classify else "label_mean"
    info[key] = {s: round(float(np.mean(task.y[s])), 4) for s in data.SPLITS}
    return info


def _merge_arm(entry: dict, seed: int, result: dict, stamp: dict) -> dict:
    """``entry`` (one arm's lists) with ``seed``'s values replaced by ``result``."""
    rows = {}
    for i, s in enumerate(entry.get("seeds", [])):
        rows[s] = {k: entry[k][i] for k in entry if isinstance(entry[k], list) and k != "seeds"}
    rows[seed] = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in result.items()}
    seeds = sorted(rows)
    keys = {k for r in rows.values() for k in r}
    first = ("val", "test", "time_s")
    order = [k for k in first if k in keys] + sorted(keys - set(first))
    merged = {k: [rows[s].get(k) for s in seeds] for k in order}
    return {**merged, "seeds": seeds, **stamp}


def _update(name: str, change) -> dict:
    """Apply ``change`` (edits the results dict in place) to ``<name>.json`` under a file
    lock, re-reading it first, so parallel runs keep each other's entries; returns it."""
    import fcntl

    path = RESULTS / f"{name}.json"
    with open(Path(tempfile.gettempdir()) / f"relcontrast_suite_{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(path.read_text()) if path.exists() else {}
        change(results)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1) + "\n")
        tmp.replace(path)
    return results


def _cell(values, metric: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    mean = float(np.mean(values))
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {sd:.4f}" if metric == "auroc" else f"{mean:.3f} ± {sd:.3f}"


def probe_r2(features: arms_mod.Features, seed: int) -> float:
    """Median over aggregate columns (varying on train and val; missing at the train mean)
    of the val R² of a ridge regression from the embeddings, both standardised on train."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.preprocessing import StandardScaler

    agg, emb = features.get("agg")[0], features.get(f"emb:{seed}")[0]
    mean = np.nanmean(agg["train"], axis=0)
    keep = (np.nanstd(agg["train"], axis=0) > 0) & (np.nanstd(agg["val"], axis=0) > 0)
    y = {s: np.where(np.isnan(agg[s]), mean, agg[s])[:, keep] for s in ("train", "val")}
    y_scale = StandardScaler().fit(y["train"])
    x_scale = StandardScaler().fit(emb["train"])
    probe = Ridge(alpha=1.0).fit(x_scale.transform(emb["train"]), y_scale.transform(y["train"]))
    pred = probe.predict(x_scale.transform(emb["val"]))
    scores = r2_score(y_scale.transform(y["val"]), pred, multioutput="raw_values")
    return float(np.median(scores))


def _arm_names(tasks: dict) -> list[str]:
    """The arms present in any of ``tasks``, in the suite's order, then any others."""
    names = [a for a in arms_mod.ARMS if any(a in t.get("arms", {}) for t in tasks.values())]
    return names + sorted({a for t in tasks.values() for a in t.get("arms", {})} - set(names))


def write_markdown(results: dict, name: str) -> None:
    """Per database: tables, tasks, the arms' val mean ± sd and wall time per seed."""
    lines = [f"# Suite results (`{name}.json`)", "",
             "Val metric (AUROC: higher is better; MAE: lower is better), mean ± sd over "
             "the seeds listed in the JSON, and in brackets the mean wall time of one seed "
             "(features, fit, predicting val and test; pretraining, shared by every task of "
             "a database, is on the database's own line); [constant in k of n]: in k seeds "
             "every val prediction was the same. Written by "
             "`python -m benchmarks.suite` from the JSON beside this file.", ""]
    for db_name, db in results.get("databases", {}).items():
        tables = ", ".join(f"{t} {n:,}" for t, n in db.get("tables", {}).items())
        lines += [f"## {db_name}", "", db.get("source", ""), "",
                  f"Tables (rows): {tables}. Val timestamp {db.get('val_timestamp')}, test "
                  f"timestamp {db.get('test_timestamp')}; pretraining cutoff = val "
                  "timestamp."]
        pre = db.get("pretraining")
        if pre:
            lines.append(f"Pretraining: {np.mean(pre['time_s']):.0f} s per seed, "
                         f"{np.mean(pre['steps']):.0f} steps (seeds {pre['seeds']}).")
        lines += ["", "| task | metric | rows train / val / test | val positives or mean "
                  "label | what |", "|---|---|---|---|---|"]
        tasks = db.get("tasks", {})
        for task_name, task in tasks.items():
            rows = task.get("rows", {})
            size = " / ".join(f"{rows.get(s, 0):,}" for s in data.SPLITS)
            label = task.get("positive_rate", task.get("label_mean", {})).get("val", "")
            lines.append(f"| {task_name} | {task['metric']} | {size} | {label} | "
                         f"{task.get('description', '')} |")
        arm_names = _arm_names(tasks)
        lines += ["", "| task | " + " | ".join(arm_names) + " |",
                  "|---|" + "---|" * len(arm_names)]
        for task_name, task in tasks.items():
            cells = []
            for arm in arm_names:
                entry = task.get("arms", {}).get(arm)
                if not entry:
                    cells.append("")
                    continue
                times = [t for t in entry.get("time_s", []) if t is not None]
                seconds = f" ({np.mean(times):.0f} s)" if times else ""
                constant = sum(bool(c) for c in entry.get("constant", []))
                flag = (f" [constant in {constant} of {len(entry['val'])}]" if constant
                        else "")
                cells.append(_cell(entry["val"], task["metric"]) + seconds + flag)
            lines.append(f"| {task_name} | " + " | ".join(cells) + " |")
        probes = {t: [v for v in task["arms"]["emb+gbm"].get("probe_r2", []) if v is not None]
                  for t, task in tasks.items() if "emb+gbm" in task.get("arms", {})}
        if any(probes.values()):
            lines += ["", "Linear probe of the embeddings onto the aggregates (median val R² "
                      "over aggregate columns, mean over seeds): " + ", ".join(
                          f"{t} {np.mean(v):.2f}" for t, v in probes.items() if v) + "."]
        lines.append("")
    (RESULTS / f"{name}.md").write_text("\n".join(lines))


def write_plot(results: dict, name: str) -> None:
    """One panel per task: the arms' val mean ± sd over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(db_name, task_name, task)
              for db_name, db in results.get("databases", {}).items()
              for task_name, task in db.get("tasks", {}).items() if task.get("arms")]
    if not panels:
        return
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    colours = {arm: f"C{i}" for i, arm in enumerate(arms_mod.ARMS)}
    for ax, (db_name, task_name, task) in zip(axes.flat, panels, strict=False):
        names = _arm_names({task_name: task})
        means, sds = [], []
        for arm in names:
            vals = [v for v in task["arms"][arm]["val"] if v is not None]
            means.append(np.mean(vals))
            sds.append(np.std(vals, ddof=1) if len(vals) > 1 else 0.0)
        ax.bar(range(len(names)), means, yerr=sds, capsize=3,
               color=[colours.get(a, "grey") for a in names])
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        low, high = min(m - s for m, s in zip(means, sds, strict=True)), max(
            m + s for m, s in zip(means, sds, strict=True))
        pad = max((high - low) * 0.3, 1e-3)
        ax.set_ylim(low - pad, high + pad)
        better = "higher" if task["metric"] == "auroc" else "lower"
        ax.set_title(f"{db_name}: {task_name}\nval {task['metric']} ({better} is better)",
                     fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)


def _parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", nargs="+", default=list(data.DATABASES),
                        choices=list(data.DATABASES))
    parser.add_argument("--tasks", nargs="+", default=None,
                        help="task names (default: every task of each database)")
    parser.add_argument("--arms", nargs="+", default=list(arms_mod.ARMS),
                        choices=list(arms_mod.ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--encoder-options", type=json.loads, default={},
                        help="JSON dict of RelationalContrastiveEncoder parameters; the "
                        "supervised arms take the backbone's (scratch), num_neighbors, "
                        "temporal_strategy and device from it")
    parser.add_argument("--model-options", type=json.loads, default={},
                        help="JSON dict of RelationalClassifier / RelationalRegressor "
                        "parameters for the supervised arms (e.g. backbone_lr)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: a few pretraining steps, one epoch, "
                        f"{QUICK_ROWS} rows (output defaults to suite_quick)")
    parser.add_argument("--output", default=None,
                        help="results name: benchmarks/results/NAME.json/.md/.png "
                        "(default suite, or suite_quick with --quick)")
    args = parser.parse_args(argv)
    for name in ("encoder_options", "model_options"):
        if not isinstance(getattr(args, name), dict):
            parser.error(f"--{name.replace('_', '-')} must be a JSON object")
    if args.tasks:
        known = {t for d in args.databases for t in data.TASKS[d]}
        unknown = sorted(set(args.tasks) - known)
        if unknown:
            parser.error(f"unknown tasks {unknown} for databases {args.databases}; "
                         f"known: {sorted(known)}")
    args.output = args.output or ("suite_quick" if args.quick else "suite")
    return args


def main(argv=None) -> None:
    import torch

    from relcontrast import RelationalDatabase

    args = _parse(argv)
    command = "python -m benchmarks.suite " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    stamp = {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ"),
             "commit": _commit(), "threads": torch.get_num_threads(), "quick": args.quick}
    options = {"encoder_options": args.encoder_options, "model_options": args.model_options}
    run = {"command": command, **stamp, **options,
           "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}

    def start(results):
        results.update({k: v for k, v in run.items() if k not in options})
        results.setdefault("runs", []).append(run)
        results.setdefault("databases", {})

    results = _update(args.output, start)
    stamp = {**stamp, **options}

    def database(results, db_name):
        return results["databases"].setdefault(db_name, {})

    for db_name in args.databases:
        spec = data.DATABASES[db_name]
        t0 = time.perf_counter()
        tables, schema = data.DATABASES[db_name].load()
        db = RelationalDatabase(tables, schema)
        tasks = data.load_tasks(db_name, tables, args.tasks)
        if not tasks:
            continue
        if args.quick:
            tasks = {name: _shrink(task) for name, task in tasks.items()}
        _log(f"{db_name}: {sum(map(len, tables.values()))} rows in {len(tables)} tables, "
             f"{len(tasks)} tasks, loaded in {time.perf_counter() - t0:.1f} s")
        source = " ".join(" ".join((spec.load.__doc__ or "").strip().split("\n\n")[:2])
                          .split())
        info = {"tables": {name: len(frame) for name, frame in tables.items()},
                "source": source, "val_timestamp": str(spec.val_timestamp.date()),
                "test_timestamp": str(spec.test_timestamp.date())}
        _update(args.output, lambda r, name=db_name, info=info: database(r, name).update(info))

        encoders: dict[int, object] = {}
        if any(a in arms_mod.PRETRAINED_ARMS for a in args.arms):
            for seed in args.seeds:
                enc, seconds = arms_mod.pretrain(db, spec.val_timestamp, seed,
                                                 args.encoder_options, args.quick)
                encoders[seed] = enc
                steps = int(sum(row.get("train_batch_count", 0) for row in enc.history_))
                _log(f"{db_name}: pretrained seed {seed} in {seconds:.0f} s "
                     f"({len(enc.history_)} epochs, {steps} steps)")
                result = {"time_s": seconds, "epochs": len(enc.history_), "steps": steps,
                          "epoch_s": float(np.mean([row["dur"] for row in enc.history_]))}

                def pretrained(r, name=db_name, seed=seed, result=result):
                    entry = database(r, name)
                    entry["pretraining"] = _merge_arm(entry.get("pretraining", {}), seed,
                                                      result, stamp)

                _update(args.output, pretrained)

        for task_name, task in tasks.items():
            task_info = {"metric": task.metric, **_task_info(task)}

            def task_entry(r, name=db_name, task_name=task_name, task_info=task_info):
                entry = database(r, name).setdefault("tasks", {}).setdefault(task_name, {})
                entry.update(task_info)
                return entry

            _update(args.output, task_entry)
            features = arms_mod.Features(task, db, tables, encoders)
            for arm in args.arms:
                for seed in args.seeds:
                    if arm in arms_mod.GBM_ARMS:
                        result = arms_mod.run_gbm(arm, task, features, seed)
                        if arm == "emb+gbm":
                            result["probe_r2"] = probe_r2(features, seed)
                    else:
                        result = arms_mod.run_supervised(
                            arm, task, db, encoders.get(seed), seed, args.encoder_options,
                            args.quick, args.model_options)

                    def scored(r, task_entry=task_entry, arm=arm, seed=seed, result=result):
                        arms = task_entry(r).setdefault("arms", {})
                        arms[arm] = _merge_arm(arms.get(arm, {}), seed, result, stamp)

                    results = _update(args.output, scored)
                    _log(f"{db_name} {task_name} {arm} seed {seed}: val {result['val']:.4f} "
                         f"test {result['test']:.4f} ({result['time_s']:.1f} s)")
    results = _update(args.output, lambda r: None)
    write_markdown(results, args.output)
    write_plot(results, args.output)
    _log(f"wrote {RESULTS / args.output}.json, .md, .png")


if __name__ == "__main__":
    main()
