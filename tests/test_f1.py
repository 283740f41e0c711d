from __future__ import annotations

import gzip
import hashlib
import socket
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from relcontrast import RelationalDatabase
from relcontrast.datasets import (
    SPLITS,
    TASK_NAMES,
    F1Task,
    export_relbench,
    load_f1,
    load_f1_task,
)

# sha256 of the source CSVs (see relcontrast/datasets/data/SOURCE.md) and their data rows.
SOURCE = {
    "circuits.csv": ("8a2ac67a0946ac238ddeaa4a212a1f3969f0108527b0213e7a38b3a5c3cba6eb", 77),
    "constructor_results.csv": (
        "8f1ebc0ce822bc02326b9bf13616f22a81514a6d35e5b744fd6f627b9ef99634", 12625),
    "constructor_standings.csv": (
        "9f07b1b9f235625165f62c6fcd6b1938cd7daa6f7e4a580f9937c6268056de9b", 13391),
    "constructors.csv": ("ae423f6f2d6cd74d5cd594eac0bdec7e1e9be2cda3097eb69f870294a225618c", 212),
    "driver_standings.csv": (
        "58397ed38d29f71316ba272a2ffd5bd00b6174774d919ce079ae4d3cfb27befb", 34863),
    "drivers.csv": ("6a894569cb031dd65fb5f113f57b235100966653eaedd9310503dc2e94afae6b", 861),
    "qualifying.csv": ("49c4ff9ae0be93d5f850f56c553d5e264914c7ba0c4d583462f3de06aebed3cc", 10494),
    "races.csv": ("4839d035abc603fa88fa08fa976a86d76cff35f3e94cb767d25f735a5a3376ef", 1125),
    "results.csv": ("a2392658044286800a0a946138067d9823f39e59147eeef0cbdda858ff172441", 26759),
}
TABLE_FILE = {
    "races": "races.csv",
    "circuits": "circuits.csv",
    "drivers": "drivers.csv",
    "results": "results.csv",
    "standings": "driver_standings.csv",
    "constructors": "constructors.csv",
    "constructor_results": "constructor_results.csv",
    "constructor_standings": "constructor_standings.csv",
    "qualifying": "qualifying.csv",
}
DROPPED = {
    "races": ["url", "fp1_date", "fp1_time", "fp2_date", "fp2_time", "fp3_date", "fp3_time",
              "quali_date", "quali_time", "sprint_date", "sprint_time"],
    "circuits": ["url"],
    "drivers": ["number", "url"],
    "results": ["positionText", "time", "fastestLapTime", "fastestLapSpeed"],
    "standings": ["positionText"],
    "constructors": ["url"],
    "constructor_results": ["status"],
    "constructor_standings": ["positionText"],
    "qualifying": ["q1", "q2", "q3"],
}
# RelBench's published rel-f1 task sizes (train, val, test).
TASK_SIZES = {
    "driver-dnf": (11411, 566, 702),
    "driver-top3": (1353, 588, 726),
    "driver-position": (7453, 499, 760),
}


@pytest.fixture(scope="module")
def f1():
    return load_f1()


@pytest.fixture(scope="module")
def tasks():
    return {(name, split): load_f1_task(name, split) for name in TASK_NAMES for split in SPLITS}


# --------------------------------------------------------------------------- tables


def test_bundled_files_are_the_source_csvs():
    data = resources.files("relcontrast.datasets") / "data"
    assert (data / "SOURCE.md").read_text("utf-8").startswith("# Ergast Formula 1 raw CSVs")
    for file, (sha256, rows) in SOURCE.items():
        raw = gzip.decompress((data / f"{file}.gz").read_bytes())
        assert hashlib.sha256(raw).hexdigest() == sha256, file
        assert raw.count(b"\n") == rows + 1, file  # header + rows, LF-terminated


def test_tables_and_schema(f1):
    tables, schema = f1
    assert list(tables) == list(TABLE_FILE)
    assert list(schema) == list(TABLE_FILE)
    for name, df in tables.items():
        assert isinstance(df, pd.DataFrame)
        assert len(df) == SOURCE[TABLE_FILE[name]][1], name
        spec = schema[name]
        assert set(spec) == {"primary_key", "foreign_keys", "time_column"}
        assert df[spec["primary_key"]].is_unique, name
        for col, ref in spec["foreign_keys"].items():
            assert df[col].isin(tables[ref][schema[ref]["primary_key"]]).all(), (name, col)
        if spec["time_column"] is not None:
            assert df[spec["time_column"]].dtype == "datetime64[ns]"
            assert df[spec["time_column"]].notna().all()
        assert not set(DROPPED[name]) & set(df.columns), name
    assert schema["results"] == {
        "primary_key": "resultId",
        "foreign_keys": {"raceId": "races", "driverId": "drivers",
                         "constructorId": "constructors"},
        "time_column": "date",
    }
    assert schema["drivers"] == {"primary_key": "driverId", "foreign_keys": {},
                                 "time_column": None}
    assert schema["races"]["foreign_keys"] == {"circuitId": "circuits"}
    assert [n for n, s in schema.items() if s["time_column"] is None] == [
        "circuits", "drivers", "constructors"]


def test_columns_follow_relbench(f1):
    tables, _ = f1
    races = tables["races"]
    assert races.columns.tolist() == ["raceId", "year", "round", "circuitId", "name", "date",
                                      "time"]
    first = races.set_index("raceId")
    assert first.loc[1, "date"] == pd.Timestamp("2009-03-29 06:00:00")
    assert first.loc[1, "time"] == "06:00:00"
    assert (races.loc[races["year"] == 1950, "time"] == "00:00:00").all()  # `\N` start time

    race_date = races.set_index("raceId")["date"]
    for name in ["results", "standings", "constructor_results", "constructor_standings"]:
        df = tables[name]
        assert (df["date"].to_numpy() == race_date.loc[df["raceId"]].to_numpy()).all(), name
    qualifying = tables["qualifying"]
    expected = race_date.loc[qualifying["raceId"]].to_numpy() - np.timedelta64(1, "D")
    assert (qualifying["date"].to_numpy() == expected).all()

    results = tables["results"]
    for col in ["rank", "number", "grid", "position", "points", "laps", "milliseconds",
                "fastestLap"]:
        assert pd.api.types.is_numeric_dtype(results[col]), col
    assert results["position"].isna().sum() == 10953
    assert tables["circuits"]["alt"].dtype == "float64"
    assert tables["drivers"]["dob"].dtype == "datetime64[ns]"
    # Ergast's null marker is read as missing everywhere.
    assert tables["drivers"]["code"].isna().sum() == 757
    for name, df in tables.items():
        for col in df.select_dtypes(exclude=["number", "datetime"]).columns:
            assert not (df[col] == r"\N").any(), (name, col)


def test_load_f1_returns_fresh_frames():
    tables, schema = load_f1()
    before = tables["results"]["positionOrder"].sum()
    tables["results"]["positionOrder"] = 0
    tables["drivers"].loc[0, "forename"] = "changed"
    del tables["races"]
    schema["results"]["foreign_keys"].clear()
    again, schema_again = load_f1()
    assert again["results"]["positionOrder"].sum() == before
    assert again["drivers"].loc[0, "forename"] == "Lewis"
    assert "races" in again
    assert schema_again["results"]["foreign_keys"]["driverId"] == "drivers"


def test_relational_database_accepts_f1(f1):
    from relcontrast import RelationalDatabase

    db = RelationalDatabase(*f1, on_dangling="raise")
    assert db.num_rows("qualifying") == 10494


# --------------------------------------------------------------------------- tasks


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_sizes_match_relbench(tasks, name):
    sizes = tuple(len(tasks[name, split].X) for split in SPLITS)
    assert sizes == TASK_SIZES[name]


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("split", SPLITS)
def test_task_tables(tasks, name, split):
    task = tasks[name, split]
    assert isinstance(task, F1Task)
    assert (task.name, task.split) == (name, split)
    assert (task.entity_table, task.entity_column, task.time_column) == (
        "drivers", "driverId", "date")
    X, y = task.X, task.y
    assert X.columns.tolist() == ["driverId", "date"]
    assert X["driverId"].dtype == "int64" and X["date"].dtype == "datetime64[ns]"
    assert X.index.equals(y.index) and X.index.equals(pd.RangeIndex(len(X)))
    assert not X.duplicated().any()
    assert X.equals(X.sort_values(["date", "driverId"]).reset_index(drop=True))
    assert y.name == task.target_column
    assert y.notna().all()
    if name == "driver-position":
        assert (task.task_type, task.metric, y.name) == ("regression", "mae", "position")
        assert y.dtype == "float64" and y.between(1, 40).all()
        assert task.timedelta == pd.Timedelta(days=60)
    else:
        assert (task.task_type, task.metric) == ("binary_classification", "roc_auc")
        assert y.name == {"driver-dnf": "did_not_finish", "driver-top3": "qualifying"}[name]
        assert y.dtype == "int64" and set(y.unique()) == {0, 1}
        assert task.timedelta == pd.Timedelta(days=30)
    dates = X["date"]
    if split == "train":
        assert dates.max() <= pd.Timestamp("2005-01-01") - task.timedelta
    elif split == "val":
        assert dates.min() >= pd.Timestamp("2005-01-01")
        assert dates.max() + task.timedelta <= pd.Timestamp("2010-01-01")
    else:
        assert dates.min() >= pd.Timestamp("2010-01-01")


@pytest.mark.parametrize("name, source", [("driver-dnf", "results"),
                                          ("driver-top3", "qualifying")])
def test_rows_are_the_drivers_active_in_the_window(f1, tasks, name, source):
    tables, _ = f1
    rows = tables[source]
    task = tasks[name, "val"]
    seeds = pd.date_range("2005-01-01", periods=40, freq=task.timedelta)
    assert set(task.X["date"]) <= set(seeds)
    for t in seeds:
        window = rows[(rows["date"] > t) & (rows["date"] <= t + task.timedelta)]
        at_t = task.X.loc[task.X["date"] == t, "driverId"]
        assert set(at_t) == set(window["driverId"]), t
    # No race in January 2005: the drivers of 2004 get no row at 2005-01-01.
    year_before = rows[rows["date"].between("2004-01-01", "2005-01-01")]
    assert year_before["driverId"].nunique() > 0
    assert not (task.X["date"] == pd.Timestamp("2005-01-01")).any()


def test_dnf_label_by_hand(f1, tasks):
    tables, _ = f1
    task = tasks["driver-dnf", "test"]
    results = tables["results"]
    row = task.X.index[-1]
    driver, t = task.X.loc[row, "driverId"], task.X.loc[row, "date"]
    mine = results[(results["driverId"] == driver) & (results["date"] > t)
                   & (results["date"] <= t + task.timedelta)]
    assert len(mine) > 0
    assert task.y[row] == int((mine["statusId"] != 1).any())


def test_unknown_task_or_split():
    with pytest.raises(ValueError, match="Unknown task name 'driver-points'.*'driver-dnf', "
                                         "'driver-top3', 'driver-position'"):
        load_f1_task("driver-points", "val")
    with pytest.raises(ValueError, match="Unknown split 'valid'.*'train', 'val', 'test'"):
        load_f1_task("driver-dnf", "valid")
    with pytest.raises(ValueError, match="Unknown split None"):
        load_f1_task("driver-dnf", None)


# --------------------------------------------------------------------------- RelBench export


@pytest.fixture(scope="module")
def offline():
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def exported(tmp_path_factory, offline):
    import relbench

    path = export_relbench(tmp_path_factory.mktemp("rel-f1"))
    dataset = relbench.load_dataset(path)
    ergast_driver = pd.read_parquet(path / "ergast_ids" / "drivers.parquet")["driverId"]
    return path, dataset, ergast_driver.to_numpy()


def _as_ergast(table, task, ergast_driver) -> pd.DataFrame:
    df = table.df
    return pd.DataFrame({
        "driverId": ergast_driver[df["driverId"].to_numpy()],
        "date": df["date"].astype("datetime64[ns]").to_numpy(),
        "y": df[task.target_col].to_numpy(),
    })


def test_export_layout(exported):
    path, dataset, _ = exported
    assert dataset.is_local
    assert dataset.manifest.name == "rel-f1"
    assert dataset.get_task_names() == sorted(TASK_NAMES)
    assert (path / "SOURCE.md").exists()
    db = dataset.get_db(upto_test_timestamp=False)
    tables, schema = load_f1()
    for name, df in tables.items():
        exported_df = db.table_dict[name].df
        assert exported_df.columns.tolist() == df.columns.tolist()
        assert len(exported_df) == len(df)
        assert exported_df[schema[name]["primary_key"]].tolist() == list(range(len(df)))
        ids = pd.read_parquet(path / "ergast_ids" / f"{name}.parquet")
        assert sorted(ids[schema[name]["primary_key"]]) == sorted(df[schema[name]["primary_key"]])
    # Foreign keys point at the same Ergast rows as before.
    results = db.table_dict["results"].df
    race_ids = pd.read_parquet(path / "ergast_ids" / "races.parquet")["raceId"].to_numpy()
    result_ids = pd.read_parquet(path / "ergast_ids" / "results.parquet")["resultId"]
    original = tables["results"].set_index("resultId").loc[result_ids, "raceId"].to_numpy()
    assert (race_ids[results["raceId"].to_numpy()] == original).all()


@pytest.mark.parametrize("name, split", [
    ("driver-dnf", "train"),
    ("driver-dnf", "val"),
    ("driver-top3", "val"),
    ("driver-position", "val"),
    ("driver-position", "test"),
])
def test_relbench_regenerates_the_same_labels(exported, tasks, name, split):
    _, dataset, ergast_driver = exported
    task = dataset.load_task(name)
    table = task.get_table(split, mask_input_cols=False)
    theirs = _as_ergast(table, task, ergast_driver).sort_values(["date", "driverId"])
    mine = tasks[name, split]
    pd.testing.assert_frame_equal(theirs[["driverId", "date"]].reset_index(drop=True), mine.X)
    np.testing.assert_allclose(theirs["y"].to_numpy(dtype=float),
                               mine.y.to_numpy(dtype=float))


def test_relbench_metrics_score_our_predictions(exported, tasks):
    import relbench.metrics

    _, dataset, ergast_driver = exported
    # A simple heuristic: a driver's DNF rate over the training labels.
    train, val = tasks["driver-dnf", "train"], tasks["driver-dnf", "val"]
    rate = train.y.groupby(train.X["driverId"]).mean()
    pred = val.X["driverId"].map(rate).fillna(train.y.mean()).to_numpy()

    task = dataset.load_task("driver-dnf")
    table = task.get_table("val", mask_input_cols=False)
    theirs = _as_ergast(table, task, ergast_driver)
    aligned = theirs.merge(val.X.assign(pred=pred), on=["driverId", "date"], how="left")
    assert aligned["pred"].notna().all()

    score = relbench.metrics.roc_auc(val.y.to_numpy(), pred)
    assert 0.5 < score < 1
    assert task.evaluate(aligned["pred"].to_numpy(), table)["roc_auc"] == pytest.approx(score)

    # Regression: RelBench 3 reports NMAE (MAE over the train target's std).
    train, val = tasks["driver-position", "train"], tasks["driver-position", "val"]
    task = dataset.load_task("driver-position")
    table = task.get_table("val", mask_input_cols=False)
    pred = np.full(len(val.X), train.y.mean())
    nmae = task.evaluate(pred, table)["nmae"]
    mae = np.abs(val.y.to_numpy() - pred).mean()
    assert nmae == pytest.approx(mae / train.y.std(ddof=1))


def test_relbench_compatible_false_drops_the_after_the_fact_columns():
    from relcontrast.datasets import LEAKY_COLUMNS

    kept, _ = load_f1()
    dropped, schema = load_f1(relbench_compatible=False)
    assert LEAKY_COLUMNS == {"drivers": ("code",)}
    assert "code" in kept["drivers"] and "code" not in dropped["drivers"]
    assert list(dropped["drivers"].columns) == [c for c in kept["drivers"].columns
                                                if c != "code"]
    for name in kept:  # nothing else changes
        if name != "drivers":
            pd.testing.assert_frame_equal(dropped[name], kept[name])
    RelationalDatabase(dropped, schema)
