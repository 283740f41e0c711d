"""Time-to-embeddings and time-to-model on F1, optionally beside an earlier commit.

Library defaults (plus ``--encoder-options``), F1 pretrained up to 2005-01-01, seed 0, each
measurement in a fresh process through the public API: ``pretrain_s`` (wall; CPU time in
``pretrain_cpu_s``), ``epochs``, ``setup_s`` (the fit less its epochs), ``step_s`` (per
training step, held-out loss included), ``sample_s`` (a batch's sampling in the prefetching
worker), ``phase_*_ms`` (a step phase by phase, from ``torch.profiler``),
``transform_rows_per_s``, ``fine_tuned_s`` / ``scratch_s`` (driver-dnf classifiers, with
val AUROC), ``aggregator_s`` and ``aggregator_sports_size_s`` (:func:`sports_stand_in`),
``pretrain_sports_size_s``, ``fine_tuned_sports_size_s`` / ``scratch_sports_size_s`` (its
24k rows); ``--repeats k`` measures each side k times, alternating, and keeps each figure's
best run (times on a shared VM vary by a third between identical runs);
``--grid``: ``GridSearchCV`` over ``corruption_rate`` in (0.2, 0.4, 0.6) x 3 time-ordered
folds, encoder + gradient boosting. ``--base <commit>`` measures that commit's library too
(a ``git worktree`` on ``PYTHONPATH``) and adds ``base / current`` ratios; only an idle
machine gives comparable times. Writes ``benchmarks/results/<output>.json`` and ``.md``:

    .venv/bin/python benchmarks/speed.py [--base <commit>] [--repeats 3] [--threads 2]
        [--device cpu]
        [--encoder-options '{"sampler": "hgsampling"}'] [--grid] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(args) -> dict:
    import torch
    from sklearn.metrics import roc_auc_score

    from relcontrast import (
        RelationalAggregator,
        RelationalClassifier,
        RelationalContrastiveEncoder,
        RelationalDatabase,
    )
    from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task

    torch.set_num_threads(args.threads)
    db = RelationalDatabase(*load_f1())
    split = {s: load_f1_task("driver-dnf", s) for s in ("train", "val", "test")}
    smoke = {"max_steps": 20, "steps_per_epoch": 10} if args.smoke else {}
    t, cpu = time.perf_counter(), time.process_time()
    enc = RelationalContrastiveEncoder(database=db, cutoff_time=VAL_TIMESTAMP, random_state=0,
                                       device=args.device, **smoke, **args.encoder_options
                                       ).fit(db)
    out = {"pretrain_s": time.perf_counter() - t, "pretrain_cpu_s": time.process_time() - cpu}
    epochs = [h["dur"] for h in enc.history_]
    steps = sum("train_loss" in b for h in enc.history_ for b in h["batches"])
    out.update(epochs=len(epochs), setup_s=out["pretrain_s"] - sum(epochs),
               step_s=sum(epochs) / steps)
    if "sample_dur" in enc.history_[-1]:  # batches prepared ahead, in a worker thread
        out["sample_s"] = sum(h["sample_dur"] for h in enc.history_) / steps
    out.update(_phases(db, args, VAL_TIMESTAMP, 5 if args.smoke else 20))
    rows = sum(len(s.X) for s in split.values())
    out["transform_rows_per_s"] = rows / _timed(lambda: [enc.transform(s.X)
                                                         for s in split.values()])
    train, val = split["train"], split["val"]
    for arm, kwargs in (("fine_tuned", {"encoder": enc}), ("scratch", {"database": db})):
        clf = RelationalClassifier(random_state=0, device=args.device,
                                   **({"max_epochs": 1} if args.smoke else {}), **kwargs)
        out[f"{arm}_s"] = _timed(lambda clf=clf: clf.fit(train.X, train.y))
        out[f"{arm}_val_auroc"] = roc_auc_score(val.y, clf.predict_proba(val.X)[:, 1])
    sports, sports_X, sports_y = sports_stand_in()
    sports = RelationalDatabase(*sports)
    for key, (database, X) in {"aggregator_s": (db, train.X),
                               "aggregator_sports_size_s": (sports, sports_X)}.items():
        agg = RelationalAggregator(database=database)
        out[key] = _timed(lambda agg=agg, X=X: agg.fit(X).transform(X))
    out.update(_sports_models(sports, sports_X, sports_y, args))
    if args.grid:
        out["grid_s"] = _grid(db, train, args.device)
    return out


def _sports_models(db, X, y, args) -> dict:
    """Times only: pretraining up to the rows' latest cutoff, then fine-tuned and scratch
    classifiers on all rows of the sports-size stand-in (early stopping on the latest 10%)."""
    from relcontrast import RelationalClassifier, RelationalContrastiveEncoder

    smoke = args.smoke
    out = {"sports_size_train_rows": len(X)}
    enc = RelationalContrastiveEncoder(
        database=db, cutoff_time=X["time"].max(), random_state=0, device=args.device,
        **({"max_steps": 4, "steps_per_epoch": 2} if smoke else {}), **args.encoder_options)
    out["pretrain_sports_size_s"] = _timed(lambda: enc.fit(db))
    for arm, kwargs in (("fine_tuned", {"encoder": enc}), ("scratch", {"database": db})):
        clf = RelationalClassifier(random_state=0, device=args.device,
                                   **({"max_epochs": 1} if smoke else {}), **kwargs)
        out[f"{arm}_sports_size_s"] = _timed(lambda clf=clf: clf.fit(X, y))
    return out


def _phases(db, args, cutoff, steps: int) -> dict:
    """Milliseconds per step of each phase labelled ``relcontrast.*`` for ``torch.profiler``
    in a ``steps``-step fit; ``backward``: the step less the rest."""
    from torch.profiler import ProfilerActivity, profile

    from relcontrast import RelationalContrastiveEncoder

    enc = RelationalContrastiveEncoder(cutoff_time=cutoff, random_state=0, max_steps=steps,
                                       steps_per_epoch=steps, valid_fraction=0.0,
                                       device=args.device, **args.encoder_options)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        enc.fit(db)
    ms = {e.key.removeprefix("relcontrast."): e.cpu_time_total / 1e3 / steps
          for e in prof.key_averages()
          if e.key.startswith("relcontrast.") or e.key == "aten::_fused_adam_"}
    if "step" in ms:
        ms["optimizer"] = ms.pop("aten::_fused_adam_", 0.0)
        ms["backward"] = ms["step"] - ms["optimizer"] - sum(  # inline sampling is in the step
            ms.get(k, 0.0) for k in ("forward", "sample", "fingerprint", "corrupt"))
    return {f"phase_{k}_ms": v for k, v in ms.items()}


def _grid(db, train, device: str) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
    from sklearn.pipeline import make_pipeline

    from relcontrast import RelationalContrastiveEncoder

    order = train.X["date"].argsort(kind="stable").to_numpy()
    X, y = train.X.iloc[order].reset_index(drop=True), train.y.iloc[order].reset_index(drop=True)
    search = GridSearchCV(
        make_pipeline(RelationalContrastiveEncoder(database=db, random_state=0, device=device),
                      HistGradientBoostingClassifier(random_state=0)),
        {"relationalcontrastiveencoder__corruption_rate": [0.2, 0.4, 0.6]},
        cv=TimeSeriesSplit(3), scoring="roc_auc")
    return _timed(lambda: search.fit(X, y))


def sports_stand_in(seed: int = 0):
    """``((tables, schema), X, y)``: a seeded synthetic stand-in of the representation
    issue's sports database (9 tables, 146k rows; wide small-integer stat tables, about 4.3k
    aggregator features); X: every person with a stat row in the two seasons before
    1 January of 2005-2010 (24,137 rows); y: whether the person has one in the next year."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    years = np.arange(1990, 2020)
    people = pd.DataFrame({
        "person_id": np.arange(20000), "bats": rng.choice(list("LRB"), 20000),
        "height": rng.normal(72, 3, 20000).round(1),
        "debut": pd.to_datetime(rng.choice(years, 20000).astype(str) + "-01-01")})
    leagues = pd.DataFrame({"league_id": ["AL", "NL", "AA", "FL", "PL", "UA"],
                            "founded": rng.integers(1870, 1920, 6)})
    season = np.repeat(years, 100)
    teams = pd.DataFrame({"team_id": np.arange(len(season)),
                          "league_id": rng.choice(leagues["league_id"], len(season)),
                          "season": pd.to_datetime(season.astype(str) + "-01-01")})
    for k in range(20):
        teams[f"t{k}"] = rng.poisson(1 + k % 4, len(teams))

    def stats(n, columns, prefix):
        person = rng.integers(0, 20000, n)
        y = np.clip(people["debut"].dt.year.to_numpy()[person] + rng.integers(0, 8, n),
                    1990, 2019)
        frame = pd.DataFrame({"person_id": person,
                              "team_id": (y - 1990) * 100 + rng.integers(0, 100, n),
                              "date": pd.to_datetime(y.astype(str) + "-04-01")  # in season
                              + pd.to_timedelta(rng.integers(0, 180, len(y)), "D")})
        for k in range(columns):
            frame[f"{prefix}{k}"] = rng.poisson(0.5 + k % 5, n)
        return frame

    batting, pitching = stats(50000, 20, "b"), stats(20000, 25, "p")
    fielding = stats(35000, 12, "f")
    fielding["pos"] = rng.choice(["P", "C", "1B", "2B", "SS", "OF"], len(fielding))
    salaries = stats(10000, 0, "s")
    salaries["salary"] = rng.lognormal(13, 1, len(salaries))
    allstar = stats(5000, 1, "a")
    awards = stats(3000, 0, "w").drop(columns="team_id")
    awards["award"] = rng.choice(["MVP", "CY", "GG", "SS", "ROY"], len(awards))
    tables = {"people": people, "leagues": leagues, "teams": teams, "batting": batting,
              "pitching": pitching, "fielding": fielding, "salaries": salaries,
              "allstar": allstar, "awards": awards}
    schema = {"people": {"primary_key": "person_id", "time_column": "debut"},
              "leagues": {"primary_key": "league_id"},
              "teams": {"primary_key": "team_id", "foreign_keys": {"league_id": "leagues"},
                        "time_column": "season"},
              "awards": {"foreign_keys": {"person_id": "people"}, "time_column": "date"}}
    for name in ("batting", "pitching", "fielding", "salaries", "allstar"):
        schema[name] = {"foreign_keys": {"person_id": "people", "team_id": "teams"},
                        "time_column": "date"}
    active = pd.concat([batting, pitching, fielding])[["person_id", "date"]]
    rows, labels = [], []
    for year in range(2005, 2011):
        t = pd.Timestamp(f"{year}-01-01")
        recent = (active["date"] < t) & (active["date"] >= t - pd.Timedelta("730D"))
        people_t = np.unique(active["person_id"][recent])
        later = active["person_id"][(active["date"] > t)
                                    & (active["date"] <= t + pd.Timedelta("365D"))]
        rows.append(pd.DataFrame({"person_id": people_t, "time": t}))
        labels.append(np.isin(people_t, later.to_numpy()).astype(int))
    return ((tables, schema), pd.concat(rows, ignore_index=True),
            pd.Series(np.concatenate(labels), name="active_next_year"))


def _run(tree: Path, argv: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv, "--measure"],
                          env=env, cwd=tree, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _best(runs: list[dict]) -> dict:
    """Each figure's best over repeated runs: the least time, the highest rate; counts and
    scores (the same in every run of a seeded fit) from the first run."""
    def best(key):
        values = [r[key] for r in runs if key in r]
        if key.endswith("per_s"):
            return max(values)
        return min(values) if key.endswith(("_s", "_ms")) else values[0]
    return {key: best(key) for key in runs[0]}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def _table(result: dict) -> str:
    cur, base = result["current"], result.get("base")
    lines = [f"{result['machine']}, {result['threads']} threads, device {result['device']}; "
             f"current = {result['commit']} plus uncommitted changes, base = "
             f"{result.get('base_commit', '-')}.", "",
             "| what | current |" + (" base | base / current |" if base else ""),
             "|---|---|" + ("---|---|" if base else "")]
    for k, v in cur.items():
        row = f"| {k} | {v:.4g} |"
        if base and k in base:
            ratio = (v / base[k] if k.endswith("per_s") else base[k] / v) if v else float("nan")
            row += f" {base[k]:.4g} | " + ("|" if k.endswith("auroc") else f"{ratio:.2f} |")
        lines.append(row)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="commit to compare with (none: this tree only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--encoder-options", type=json.loads, default={},
                        help="JSON of encoder parameters, e.g. '{\"sampler\": \"hgsampling\"}'")
    parser.add_argument("--grid", action="store_true", help="also time the grid search")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure each side this many times, alternating base and "
                        "current; the tables show each figure's best run")
    parser.add_argument("--output", default="speed")
    parser.add_argument("--smoke", action="store_true",
                        help="a few steps and one epoch: checks the script, times nothing")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args)))
        return
    argv = ["--threads", str(args.threads), "--device", args.device, "--encoder-options",
            json.dumps(args.encoder_options), *(["--smoke"] if args.smoke else [])]
    result = {"command": " ".join(sys.argv), "commit": _git("rev-parse", "--short", "HEAD"),
              "machine": f"{platform.machine()} {os.cpu_count()} cores",
              "threads": args.threads, "device": args.device,
              "encoder_options": args.encoder_options, "date": time.strftime("%Y-%m-%d %H:%M")}
    grid = ["--grid"] if args.grid else []
    if args.base:
        result["base_commit"] = _git("rev-parse", "--short", args.base)
        with tempfile.TemporaryDirectory() as tmp:
            _git("worktree", "add", "--detach", f"{tmp}/base", args.base)
            try:
                runs = {"base": [], "current": []}
                for _ in range(args.repeats):  # alternating: a slow spell hits both sides
                    runs["base"].append(_run(Path(tmp) / "base", argv, args.threads))
                    runs["current"].append(_run(ROOT, argv + grid, args.threads))
            finally:
                _git("worktree", "remove", "--force", f"{tmp}/base")
    else:
        runs = {"current": [_run(ROOT, argv + grid, args.threads)
                            for _ in range(args.repeats)]}
    result.update({side: _best(measured) for side, measured in runs.items()})
    if args.repeats > 1:
        result["runs"] = runs
    (ROOT / "benchmarks" / "results" / f"{args.output}.json").write_text(
        json.dumps(result, indent=2) + "\n")
    (ROOT / "benchmarks" / "results" / f"{args.output}.md").write_text(_table(result))
    print(_table(result))


if __name__ == "__main__":
    main()
