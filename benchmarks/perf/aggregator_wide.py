"""RelationalAggregator at the sports database's size: a synthetic stand-in, 9 tables.

The sports database of the representation issue (about 140k rows in 9 tables, 4.3k
aggregator features) cannot be used here; this stand-in has its shape: ``people`` (20,000),
``leagues`` (6), ``teams`` by season (3,000 rows, 20 small-integer columns), the wide
integer stat tables ``batting`` (50,000 rows, 20 columns), ``pitching`` (20,000, 25) and
``fielding`` (35,000, 12 and a position), ``salaries`` (10,000), ``allstar`` (5,000) and
``awards`` (3,000): 146k rows, seeded. Rows of X: every person with a stat row in the two
seasons before 1 January of 2005-2010 (24,137 rows). Small integer columns get share
features, as real count columns do: about 4.3k features.

Timed: ``RelationalAggregator(database=db)`` fitted on and transforming those rows, median
of ``--repeats``, at the default windows and at ``("all", "365D", 3)``. With ``--old PATH``
(a copy of an earlier ``relcontrast/aggregate.py``) the same for that module, in the same
process. Timings are only comparable on an otherwise idle machine.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/perf/aggregator_wide.py [--repeats 3]
[--old /tmp/aggregate_old.py]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time

import numpy as np
import pandas as pd

from relcontrast import RelationalAggregator, RelationalDatabase


def make_wide(seed: int = 0) -> tuple[dict, dict, pd.DataFrame]:
    """``(tables, schema, X)`` of the stand-in."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old", help="a copy of an earlier relcontrast/aggregate.py")
    args = parser.parse_args()
    tables, schema, X = make_wide()
    db = RelationalDatabase(tables, schema)
    arms = {"defaults": (RelationalAggregator, {}),
            "windows=('all', '365D', 3)": (RelationalAggregator,
                                            {"windows": ("all", "365D", 3)})}
    if args.old:
        spec = importlib.util.spec_from_file_location("aggregate_old", args.old)
        old = importlib.util.module_from_spec(spec)
        sys.modules["aggregate_old"] = old
        spec.loader.exec_module(old)
        arms["old module, its defaults"] = (old.RelationalAggregator, {})
    print(f"{sum(map(len, tables.values()))} rows in {len(tables)} tables, {len(X)} rows of X")
    for name, (cls, params) in arms.items():
        seconds = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            agg = cls(database=db, **params).fit(X)
            Z = agg.transform(X)
            seconds.append(time.perf_counter() - t0)
        print(f"{name}: {Z.shape[1]} features, windows {agg.windows_}, fit + transform "
              f"median {statistics.median(seconds):.2f} s (runs "
              f"{', '.join(f'{s:.2f}' for s in seconds)})", flush=True)


if __name__ == "__main__":
    main()
