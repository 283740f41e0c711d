"""Time-to-embeddings and time-to-model on F1, side by side with an earlier commit.

Every measurement runs in a fresh process, once on this working tree and once on a
``--base`` commit (checked out with ``git worktree`` under the system's temp folder and put
first on ``PYTHONPATH``), alternating, so that both see the same machine; ratios are
``base / current`` (above 1: faster now). Library defaults throughout, F1 pretrained up to
2005-01-01 with ``random_state=0``:

- ``pretrain_s``: ``RelationalContrastiveEncoder(...).fit(db)`` at its defaults (wall;
  ``pretrain_cpu_s``: the CPU time of all its threads), with its epochs; ``setup_s``: the
  fit minus its epochs;
- ``transform_rows_per_s``: ``transform`` of the driver-dnf train, val and test rows;
- ``fine_tuned_s`` / ``scratch_s``: ``RelationalClassifier(encoder=enc)`` and
  ``RelationalClassifier(database=db)`` fitted on the driver-dnf train rows;
- ``aggregator_s``: ``RelationalAggregator(database=db)`` fitted on and transforming the
  driver-dnf rows; ``aggregator_sports_size_s``: the same on a seeded synthetic stand-in of
  a 9-table, 146k-row sports database (:func:`sports_stand_in`, 24k rows of X);
- ``step``: one pretraining step, phase by phase (median over ``--steps`` steps of a fitted
  encoder's own batcher and module, seeds drawn type-balanced): ``sampling`` (the
  subgraph, held-out links, fingerprints), ``corruption``, ``encode`` and ``gnn`` of the
  clean and the corrupted pass, each objective, ``backward`` and ``optimizer``.
- with ``--grid`` (this tree only; long): ``GridSearchCV`` over ``corruption_rate`` in
  (0.2, 0.4, 0.6) x 3 time-ordered folds of the driver-dnf train rows, the encoder at its
  defaults followed by gradient boosting.

Timings are only comparable on an otherwise idle machine. Run:

    .venv/bin/python benchmarks/speed.py --base <commit> [--threads 2] [--device cpu]

Writes ``benchmarks/results/speed.json`` and ``speed.md``. ``--device cuda`` runs the same
on a GPU (the base commit too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PHASES = ("sampling", "corruption", "encode_clean", "gnn_clean", "encode_corrupt",
          "gnn_corrupt", "row", "link", "context", "backward", "optimizer")


# -- one measurement process ----------------------------------------------------------------
def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _step_phases(enc, steps: int, device: str) -> dict:
    """Median seconds of each phase of a pretraining step, from a fitted encoder's batcher
    and module (``net_``, ``module_``); seeds drawn as pretraining draws them."""
    import numpy as np
    import torch

    from relcontrast.nn.backbone import batch_to_device

    net, module = enc.net_, enc.module_
    batcher, backbone, loss = net.batcher, module.backbone, module.loss
    seeds_all = enc._pretraining_seeds(enc.graph_)  # [num_seeds, 3]: type, row, time
    types = seeds_all[:, 0]
    weights = 1.0 / np.bincount(types)[types]  # type-balanced, as pretraining draws
    rng = np.random.default_rng(0)
    optimizer = net.optimizer_  # the fit's own (its state carries on; timing only)
    times = {p: [] for p in PHASES}
    module.train()
    for _ in range(steps):
        pick = rng.choice(len(seeds_all), enc.batch_size, p=weights / weights.sum())
        x = torch.as_tensor(seeds_all[pick])
        clock = {}
        t = time.perf_counter()
        batcher.corrupt = False
        batch, _ = batcher(x, training=True)
        clock["sampling"] = time.perf_counter() - t
        batcher.corrupt = True
        t = time.perf_counter()
        batch2, extra = batcher(x, training=True)
        clock["corruption"] = max(time.perf_counter() - t - clock["sampling"], 0.0)
        batch = batch_to_device(batch2, device)
        tf_corrupt = {nt: tf.to(device) for nt, tf in extra["tf_corrupt"].items()}
        z = {}
        for name, tf_dict in (("clean", None), ("corrupt", tf_corrupt)):
            _sync(device)
            t = time.perf_counter()
            x_dict = backbone.encode(batch, tf_dict)
            _sync(device)
            clock[f"encode_{name}"] = time.perf_counter() - t
            edges = {et: batch[et].edge_index for et in backbone.edge_types
                     if et in batch.edge_types}
            t = time.perf_counter()
            z[name] = backbone.gnn(x_dict, edges)
            _sync(device)
            clock[f"gnn_{name}"] = time.perf_counter() - t
        total = 0
        for level in loss.objectives:
            t = time.perf_counter()
            groups = (loss.levels[level](z["clean"], z["corrupt"], batch) if level == "row"
                      else loss.levels[level](z["clean"], batch))
            value = loss.normalizer(level, groups.values())
            _sync(device)
            clock[level] = time.perf_counter() - t
            total = total + loss.objective_weights[level] * value
        optimizer.zero_grad()
        t = time.perf_counter()
        total.backward()
        _sync(device)
        clock["backward"] = time.perf_counter() - t
        t = time.perf_counter()
        optimizer.step()
        _sync(device)
        clock["optimizer"] = time.perf_counter() - t
        for p in PHASES:
            times[p].append(clock.get(p, 0.0))
    return {p: statistics.median(v[1:]) for p, v in times.items()}  # the first one warms up


def measure(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from sklearn.metrics import roc_auc_score

    from relcontrast import (
        RelationalAggregator,
        RelationalClassifier,
        RelationalContrastiveEncoder,
        RelationalDatabase,
    )
    from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task

    out = {}
    db = RelationalDatabase(*load_f1())
    split = {s: load_f1_task("driver-dnf", s) for s in ("train", "val", "test")}
    smoke = {"max_steps": 20, "steps_per_epoch": 10} if args.smoke else {}
    t, cpu = time.perf_counter(), time.process_time()
    enc = RelationalContrastiveEncoder(database=db, cutoff_time=VAL_TIMESTAMP, random_state=0,
                                       device=args.device, **smoke).fit(db)
    out["pretrain_s"] = time.perf_counter() - t
    out["pretrain_cpu_s"] = time.process_time() - cpu  # every thread's, robust to load
    epochs = [h["dur"] for h in enc.history_]
    out["epochs"] = len(epochs)
    out["setup_s"] = out["pretrain_s"] - sum(epochs)
    rows = sum(len(s.X) for s in split.values())
    t = time.perf_counter()
    for s in split.values():
        enc.transform(s.X)
    out["transform_rows_per_s"] = rows / (time.perf_counter() - t)
    for arm, kwargs in (("fine_tuned", {"encoder": enc}), ("scratch", {"database": db})):
        t = time.perf_counter()
        clf = RelationalClassifier(random_state=0, device=args.device,
                                   **({"max_epochs": 1} if args.smoke else {}), **kwargs).fit(
            split["train"].X, split["train"].y)
        out[f"{arm}_s"] = time.perf_counter() - t
        out[f"{arm}_val_auroc"] = roc_auc_score(split["val"].y,
                                                clf.predict_proba(split["val"].X)[:, 1])
    X = split["train"].X
    t = time.perf_counter()
    RelationalAggregator(database=db).fit(X).transform(X)
    out["aggregator_s"] = time.perf_counter() - t
    tables, schema, X = sports_stand_in()
    wide = RelationalDatabase(tables, schema)
    t = time.perf_counter()
    RelationalAggregator(database=wide).fit(X).transform(X)
    out["aggregator_sports_size_s"] = time.perf_counter() - t
    out["step"] = _step_phases(enc, args.steps, args.device)
    if args.grid:
        out["grid_s"] = _grid(db, split["train"], args.device)
    return out


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
    t = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - t


def sports_stand_in(seed: int = 0):
    """``(tables, schema, X)``: a seeded synthetic stand-in of the representation issue's
    sports database (9 tables, 146k rows; wide small-integer stat tables, about 4.3k
    aggregator features); X: every person with a stat row in the two seasons before
    1 January of 2005-2010 (24,137 rows)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    years = np.arange(1990, 2020)

    def when(y):  # a date in the season of year y
        return (pd.to_datetime(y.astype(str) + "-04-01")
                + pd.to_timedelta(rng.integers(0, 180, len(y)), "D"))

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
                              "date": when(y)})
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
    rows = []
    for year in range(2005, 2011):
        t = pd.Timestamp(f"{year}-01-01")
        recent = (active["date"] < t) & (active["date"] >= t - pd.Timedelta("730D"))
        rows.append(pd.DataFrame({"person_id": np.unique(active["person_id"][recent]),
                                  "time": t}))
    return tables, schema, pd.concat(rows, ignore_index=True)


# -- the comparison -----------------------------------------------------------------------------
def _run(tree: Path, args, grid: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", "--threads",
           str(args.threads), "--device", args.device, "--steps", str(args.steps)]
    if args.smoke:
        cmd.append("--smoke")
    if grid:
        cmd.append("--grid")
    done = subprocess.run(cmd, env=env, cwd=tree, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def _table(result: dict) -> str:
    cur, base = result["current"], result.get("base")
    head = "| what | current |" + (" base | base / current |" if base else "")
    lines = [f"{result['machine']}, {result['threads']} threads, device {result['device']}; "
             f"current = {result['commit']} plus uncommitted changes, base = "
             f"{result.get('base_commit', '-')}.", "", head,
             "|---|---|" + ("---|---|" if base else "")]
    keys = [k for k in cur if k != "step"]
    for k in keys:
        row = f"| {k} | {cur[k]:.4g} |"
        if base and k in base:
            ratio = base[k] / cur[k] if cur[k] else float("nan")
            if k.endswith("per_s"):
                ratio = 1 / ratio
            row += f" {base[k]:.4g} | {ratio:.2f} |" if not k.endswith("auroc") else (
                f" {base[k]:.4g} | |")
        lines.append(row)
    lines += ["", "One pretraining step, phase by phase (ms, median):", "",
              "| phase | current |" + (" base | base / current |" if base else ""),
              "|---|---|" + ("---|---|" if base else "")]
    for p in [*PHASES, "total"]:
        c = sum(cur["step"].values()) if p == "total" else cur["step"][p]
        row = f"| {p} | {1000 * c:.1f} |"
        if base:
            b = sum(base["step"].values()) if p == "total" else base["step"][p]
            row += f" {1000 * b:.1f} | {b / c:.2f} |" if c else f" {1000 * b:.1f} | |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="commit to compare with (none: this tree only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20, help="steps of the phase profile")
    parser.add_argument("--grid", action="store_true", help="also time the grid search")
    parser.add_argument("--output", default="speed")
    parser.add_argument("--smoke", action="store_true",
                        help="a few steps and one epoch: checks the script, times nothing")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args)))
        return
    result = {"command": " ".join(sys.argv), "commit": _git("rev-parse", "--short", "HEAD"),
              "machine": f"{platform.machine()} {os.cpu_count()} cores",
              "threads": args.threads, "device": args.device,
              "date": time.strftime("%Y-%m-%d %H:%M")}
    if args.base:
        result["base_commit"] = _git("rev-parse", "--short", args.base)
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "base"
            _git("worktree", "add", "--detach", str(tree), args.base)
            try:
                result["base"] = _run(tree, args, grid=False)
                result["current"] = _run(ROOT, args, grid=args.grid)
            finally:
                _git("worktree", "remove", "--force", str(tree))
    else:
        result["current"] = _run(ROOT, args, grid=args.grid)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(result, indent=2) + "\n")
    table = _table(result)
    (RESULTS / f"{args.output}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
