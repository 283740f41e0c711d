"""leakage_report flags columns of undated tables written after the fact, and only those."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relcontrast import RelationalDatabase
from relcontrast.datasets import load_f1
from relcontrast.leakage import leakage_report


@pytest.fixture(scope="module")
def people_db():
    """200 players with careers between 2000 and 2020; games reference them."""
    rng = np.random.default_rng(0)
    n = 200
    start = rng.integers(2000, 2019, n)
    length = rng.integers(1, 8, n)
    end = np.minimum(start + length, 2020)
    games, people_ids = [], [f"p{i}" for i in range(n)]
    for i in range(n):
        for year in range(start[i], end[i] + 1):
            games.append((people_ids[i], pd.Timestamp(f"{year}-06-01")))
    games = pd.DataFrame(games, columns=["player", "date"]).reset_index(names="game_id")
    last = games.groupby("player")["date"].max().reindex(people_ids)
    birth = pd.to_datetime([f"{s - 22}-03-01" for s in start])
    people = pd.DataFrame({
        "player": people_ids,
        "birth": birth,                                       # known from the start
        "final_game": last.to_numpy(),                        # written when the career ended
        "nickname": np.where(end >= 2012, "nick", None),      # filled later for the active
        "height": np.where(start >= 2012, 180.0, np.nan),     # collected from 2012 debuts on
        "hand": rng.choice(["left", "right"], n),             # unrelated
    })
    schema = {"people": {"primary_key": "player"},
              "games": {"primary_key": "game_id", "foreign_keys": {"player": "people"},
                        "time_column": "date"}}
    tables = {"people": people, "games": games}
    return RelationalDatabase(tables, schema), tables


def test_flags_after_the_fact_columns_and_nothing_else(people_db):
    db, tables = people_db
    before = {k: v.copy() for k, v in tables.items()}
    report = leakage_report(db)
    assert sorted(map(tuple, report[["column", "signal"]].values.tolist())) == [
        ("final_game", "values"), ("nickname", "nulls")]
    nickname = report.set_index("column").loc["nickname"]
    assert nickname["score"] == 1.0 and nickname["table"] == "people"
    assert "filled for those still active after it" in nickname["explanation"]
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_a_stricter_threshold_and_small_tables(people_db):
    db, _ = people_db
    assert leakage_report(db, min_entities=500).empty
    assert set(leakage_report(db, min_score=0.5)["column"]) >= {"final_game", "nickname"}


def test_flags_drivers_code_on_f1():
    db = RelationalDatabase(*load_f1())
    report = leakage_report(db)
    assert report[["table", "column", "signal"]].values.tolist() == [["drivers", "code",
                                                                     "nulls"]]
    pd.testing.assert_frame_equal(db.leakage_report(), report)
    assert report["score"].iloc[0] > 0.95
    assert leakage_report(RelationalDatabase(*load_f1(relbench_compatible=False))).empty


def test_docstring_example_runs():
    import doctest

    import relcontrast.leakage

    result = doctest.testmod(relcontrast.leakage)
    assert result.attempted > 0 and result.failed == 0
