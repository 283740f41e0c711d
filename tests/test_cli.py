from __future__ import annotations

import json
import re
import sqlite3

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from relcontrast import RelationalClassifier, RelationalContrastiveEncoder, RelationalRegressor
from relcontrast.cli import _for_the_cli, _task, main
from relcontrast.io import read_schema, read_table
from relcontrast.testing import make_synthetic_database

TINY_ENCODER = ["--steps", "4", "--hidden-channels", "16", "--batch-size", "32"]
TINY_MODEL = ["--epochs", "2", "--batch-size", "64", "--seed", "0"]


def expected_schema():
    """The synthetic schema as infer_schema finds it: all but the self-reference."""
    _, schema = make_synthetic_database()
    out = {t: {"primary_key": s.get("primary_key"),
               "foreign_keys": dict(s.get("foreign_keys", {})),
               "time_column": s.get("time_column")} for t, s in schema.items()}
    out["users"]["foreign_keys"] = {}
    return out


def user_rows(tables):
    """Rows (user_id, cutoff) with targets: active (an order in the next 90 days, bool) and
    n_orders (how many)."""
    users, orders = tables["users"], tables["orders"]
    parts = []
    for cutoff in pd.to_datetime(["2020-06-01", "2020-09-01", "2020-12-01"]):
        window = orders[(orders["ts"] > cutoff) & (orders["ts"] <= cutoff + pd.Timedelta(90, "D"))]
        counts = window.groupby("user_id").size()
        ids = users.loc[users["signup"] <= cutoff, "user_id"]  # users who exist by then
        parts.append(pd.DataFrame({
            "user_id": ids, "cutoff": cutoff,
            "n_orders": ids.map(counts).fillna(0).astype(np.int64).to_numpy()}))
    rows = pd.concat(parts, ignore_index=True)
    return rows.assign(active=rows["n_orders"] > 0)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The synthetic database as a folder of CSV files and as a SQLite file, and row files."""
    tables, _ = make_synthetic_database()
    root = tmp_path_factory.mktemp("shop")
    (root / "csv").mkdir()
    con = sqlite3.connect(root / "shop.sqlite")
    for name, df in tables.items():
        df.to_csv(root / "csv" / f"{name}.csv", index=False)
        df = df.assign(tags=df["tags"].astype(str)) if name == "items" else df
        df.to_sql(name, con, index=False)
    con.close()
    rows = user_rows(tables)
    rows[["user_id", "cutoff", "active"]].to_csv(root / "active.csv", index=False)
    rows[["user_id", "cutoff", "n_orders"]].to_parquet(root / "n_orders.parquet", index=False)
    return root


def test_schema_prints_commented_yaml(shop, capsys):
    assert main(["schema", str(shop / "csv")]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out) == expected_schema()
    lines = out.splitlines()
    assert lines[0] == f"# Schema proposed by `relcontrast schema` for {shop / 'csv'}."
    assert "  # user_id: primary key: unique and non-null, named after the table." in lines
    assert lines.index("orders:") < lines.index("  primary_key: order_id")


def test_schema_out_file_from_sqlite(shop, tmp_path, capsys):
    path = tmp_path / "schema.yaml"
    assert main(["schema", str(shop / "shop.sqlite"), "--out", str(path)]) == 0
    assert read_schema(path) == expected_schema()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"wrote the proposed schema of 5 tables (5 foreign keys) to {path}; "
                            f"check it before use.\n")


def test_pretrain_embed_fit_predict_on_csv_folder(shop, tmp_path, capsys):
    # the user checks the proposed schema and adds the self-reference it could not find
    schema = expected_schema()
    schema["users"]["foreign_keys"] = {"referrer": "users"}
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(schema))
    data = [str(shop / "csv"), "--schema", str(tmp_path / "schema.yaml")]
    enc_path, emb_path = tmp_path / "encoder.joblib", tmp_path / "embeddings.parquet"

    assert main(["pretrain", *data, "--cutoff", "2020-06-01", "--out", str(enc_path),
                 *TINY_ENCODER, "--param", "num_neighbors=[2, 2]"]) == 0
    enc = joblib.load(enc_path)
    assert isinstance(enc, RelationalContrastiveEncoder)
    assert enc.cutoff_time_ == pd.Timestamp("2020-06-01")
    assert (enc.hidden_channels, enc.max_steps, enc.batch_size) == (16, 4, 32)
    assert list(enc.num_neighbors) == [2, 2]
    assert enc.database_.schema["users"].foreign_keys == {"referrer": "users"}
    assert capsys.readouterr().out.startswith(
        "pretrained on RelationalDatabase(categories=4, items=40, orders=300, reviews=150, "
        "users=60) up to 2020-06-01: 1 epoch(s), final train loss ")

    rows_path = str(shop / "active.csv")
    assert main(["embed", str(enc_path), rows_path, "--out", str(emb_path)]) == 0
    emb = pd.read_parquet(emb_path)
    rows = read_table(rows_path)
    assert list(emb.columns) == ["user_id", "cutoff", "active",
                                 *[f"relationalcontrastiveencoder{i}" for i in range(16)]]
    pd.testing.assert_frame_equal(emb[["user_id", "cutoff", "active"]], rows)
    np.testing.assert_allclose(emb.iloc[:, 3:].to_numpy(), enc.transform(rows), rtol=1e-6)
    assert capsys.readouterr().out == f"saved {len(rows)} embeddings of width 16 to {emb_path}\n"

    model_path, pred_path = tmp_path / "model.joblib", tmp_path / "predictions.csv"
    assert main(["fit", *data, "--rows", rows_path, "--target", "active", "--encoder",
                 str(enc_path), "--out", str(model_path), *TINY_MODEL]) == 0
    model = joblib.load(model_path)
    assert isinstance(model, RelationalClassifier)
    assert model.encoder_.database_ is model.database_
    assert model.target_table_ == "users" and list(model.classes_) == [False, True]
    assert list(model.feature_names_in_) == ["user_id", "cutoff"]
    assert capsys.readouterr().out.startswith(
        f"fitted RelationalClassifier (classes [False, True]) on {len(rows)} rows of table "
        f"'users' from {enc_path}: ")

    assert main(["predict", str(model_path), rows_path, "--out", str(pred_path)]) == 0
    pred = pd.read_csv(pred_path)
    assert list(pred.columns) == ["user_id", "cutoff", "active", "prediction", "proba_False",
                                  "proba_True"]
    proba = model.predict_proba(rows[["user_id", "cutoff"]])
    np.testing.assert_allclose(pred[["proba_False", "proba_True"]].to_numpy(), proba,
                               rtol=1e-5)
    np.testing.assert_array_equal(pred["prediction"], proba[:, 1] > proba[:, 0])
    assert pred["user_id"].tolist() == rows["user_id"].tolist()


def test_fit_predict_regression_on_sqlite_from_scratch(shop, tmp_path, capsys):
    model_path, pred_path = tmp_path / "model.joblib", tmp_path / "predictions.parquet"
    rows_path = str(shop / "n_orders.parquet")
    schema_path = tmp_path / "schema.json"
    schema_path.write_text(json.dumps(expected_schema()))
    data = [str(shop / "shop.sqlite"), "--schema", str(schema_path)]
    assert main(["fit", *data, "--rows", rows_path, "--target", "n_orders",
                 "--hidden-channels", "16", "--out", str(model_path), *TINY_MODEL]) == 0
    model = joblib.load(model_path)
    assert isinstance(model, RelationalRegressor) and model.encoder_ is None
    # the architecture goes to an encoder that is not pretrained
    assert (model.encoder.hidden_channels, model.pretrain, model.max_epochs) == (16, False, 2)
    assert model.module_.backbone.hidden_channels == 16
    assert capsys.readouterr().out.startswith(
        f"fitted RelationalRegressor on {len(read_table(rows_path))} rows of table 'users' "
        f"from scratch: ")

    # predicting rows that carry the target keeps it beside the prediction
    assert main(["predict", str(model_path), rows_path, "--data", *data,
                 "--out", str(pred_path)]) == 0
    pred = pd.read_parquet(pred_path)
    rows = read_table(rows_path)
    assert list(pred.columns) == ["user_id", "cutoff", "n_orders", "prediction"]
    np.testing.assert_allclose(pred["prediction"],
                               model.predict(rows[["user_id", "cutoff"]]), rtol=1e-5)


def test_pretrain_without_schema_infers_it_and_warns(shop, tmp_path, capsys):
    enc_path = tmp_path / "encoder.joblib"
    assert main(["pretrain", str(shop / "csv"), "--out", str(enc_path), *TINY_ENCODER,
                 "--steps", "1"]) == 0
    err = capsys.readouterr().err
    # one line, the CLI's options as advice, no Python file path or source line
    assert err == (
        f"relcontrast pretrain: warning: No schema given: using the schema inferred from "
        f"'{shop / 'csv'}': categories: primary_key='cat_id', time_column=None; items: "
        f"primary_key='item_id', foreign_keys cat_id->categories, time_column='added'; "
        f"orders: primary_key='order_id', foreign_keys user_id->users, item_id->items, "
        f"time_column='ts'; reviews: primary_key=None, foreign_keys user_id->users, "
        f"item_id->items, time_column='ts'; users: primary_key='user_id', "
        f"time_column='signup'; Check it (`relcontrast schema DATA` explains each choice) and "
        f"pass it with --schema FILE to silence this warning.\n")
    enc = joblib.load(enc_path)
    assert enc.cutoff_time_ is None and enc.max_steps == 1
    assert {t: s.to_dict() for t, s in enc.database_.schema.items()} == expected_schema()


def test_pretrain_and_embed_default_to_f1(tmp_path):
    enc_path, emb_path = tmp_path / "encoder.joblib", tmp_path / "embeddings.parquet"
    assert main(["pretrain", "--steps", "1", "--hidden-channels", "8", "--batch-size", "16",
                 "--output", str(enc_path)]) == 0
    enc = joblib.load(enc_path)
    assert enc.cutoff_time_ == pd.Timestamp("2005-01-01")
    assert sorted(enc.database_.table_names) == sorted(
        ["races", "circuits", "drivers", "results", "standings", "constructors",
         "constructor_results", "constructor_standings", "qualifying"])
    assert main(["embed", "--model", str(enc_path), "--task", "driver-top3", "--split", "val",
                 "--output", str(emb_path)]) == 0
    from relcontrast.datasets import load_f1_task

    X = load_f1_task("driver-top3", "val").X
    emb = pd.read_parquet(emb_path)
    assert emb.shape == (len(X), len(X.columns) + 8)


@pytest.mark.parametrize("argv, message", [
    (["schema", "nowhere/"], "relcontrast schema: error: No such file or folder: 'nowhere'. Give"),
    (["pretrain", "--schema", "s.yaml"], "relcontrast pretrain: error: --schema needs DATA"),
    (["fit", "{csv}", "--schema", "{schema}", "--rows", "{rows}", "--target", "churn"],
     "relcontrast fit: error: ROWS file '{rows}' has no target column 'churn'; its columns "
     "are ['user_id', 'cutoff', 'active']"),
    (["fit", "{csv}", "--schema", "{schema}", "--rows", "{rows}", "--target", "active",
      "--frozen"], "relcontrast fit: error: --frozen freezes a pretrained backbone"),
    (["pretrain", "{csv}", "--schema", "{schema}", "--param", "lr"],
     "relcontrast pretrain: error: --param expects NAME=VALUE (e.g. --param lr=0.01), got 'lr'"),
    (["predict", "{missing}", "{rows}"], "relcontrast predict: error: No such file: "
                                         "'{missing}'."),
    (["embed", "{model}", "{rows}", "--out", "e.xlsx"],
     "relcontrast embed: error: '{model}' holds a dict, not a RelationalContrastiveEncoder"),
    (["fit", "{csv}", "--schema", "{bad_schema}", "--rows", "{rows}", "--target", "active"],
     "relcontrast fit: error: The schema names table 'user', but '{csv}' has no such table"),
    (["schema", "{csv}", "--tables", "users"],
     "relcontrast schema: error: --db-schema and --tables select the tables of a database "
     "server; they do not apply to '{csv}'. Remove them.\n"),
    (["pretrain", "mysql://root@localhost/shop", "--steps", "1"],
     "relcontrast pretrain: error: Cannot read 'mysql://root@localhost/shop': relcontrast "
     "reads PostgreSQL servers"),
])
def test_errors_are_reported_without_traceback(shop, tmp_path, capsys, argv, message):
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(expected_schema()))
    bad = expected_schema()
    bad["user"] = bad.pop("users")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    joblib.dump({"not": "a model"}, tmp_path / "model.joblib")
    paths = {"csv": str(shop / "csv"), "schema": str(tmp_path / "schema.yaml"),
             "bad_schema": str(tmp_path / "bad.yaml"), "rows": str(shop / "active.csv"),
             "model": str(tmp_path / "model.joblib"), "missing": str(tmp_path / "none")}
    argv = [a.format(**paths) for a in argv]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith(message.format(**paths))


def test_task_rule():
    assert _task(pd.Series([True, False]), "auto") == "classification"
    assert _task(pd.Series(["a", "b", "c"]), "auto") == "classification"
    assert _task(pd.Series([0, 1, 1]), "auto") == "classification"
    assert _task(pd.Series([0, 1, 2]), "auto") == "regression"
    assert _task(pd.Series([0, 1, 2]), "classification") == "classification"


def test_demo_prints_the_three_arms_and_saves_the_loss_plot(tmp_path, capsys):
    plot = tmp_path / "losses.png"
    assert main(["demo", "--steps", "2", "--epochs", "1", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(
        ("frozen embeddings", "fine-tuned", "from scratch"))]
    assert len(rows) == 3
    for line in rows:
        assert 0.0 <= float(line.split()[-1]) <= 1.0
    assert plot.stat().st_size > 0
    assert "Done in" in out


@pytest.fixture(scope="module")
def dangling(tmp_path_factory):
    """A CSV folder whose orders reference a user that does not exist, and its schema."""
    root = tmp_path_factory.mktemp("dangling")
    (root / "db").mkdir()
    pd.DataFrame({"user_id": [1, 2], "age": [30, 40]}).to_csv(root / "db" / "users.csv",
                                                             index=False)
    pd.DataFrame({"order_id": [1, 2, 3], "user_id": [1, 2, 9], "amount": [1.0, 2.0, 3.0],
                  "ts": ["2024-01-01", "2024-01-02", "2024-01-03"]}).to_csv(
        root / "db" / "orders.csv", index=False)
    schema = {"users": {"primary_key": "user_id"},
              "orders": {"primary_key": "order_id", "foreign_keys": {"user_id": "users"},
                         "time_column": "ts"}}
    (root / "schema.yaml").write_text(yaml.safe_dump(schema))
    return root


@pytest.mark.parametrize("option, code, err", [
    ([], 0, "relcontrast pretrain: warning: Table 'orders': foreign key 'user_id' has 1 value(s) "
            "not present in 'users'.'user_id' (e.g. 9 in row 2); dropped those 1 link(s). Pass "
            "--on-dangling ignore to drop them silently.\n"),
    (["--on-dangling", "ignore"], 0, ""),
    (["--on-dangling", "raise"], 1, "relcontrast pretrain: error: Table 'orders': foreign key "
                                    "'user_id' has 1 value(s) not present in 'users'.'user_id' "
                                    "(e.g. 9 in row 2); fix them, or pass --on-dangling warn to "
                                    "drop those links.\n"),
])
def test_on_dangling_option(dangling, tmp_path, capsys, option, code, err):
    argv = ["pretrain", str(dangling / "db"), "--schema", str(dangling / "schema.yaml"),
            "--out", str(tmp_path / "enc.joblib"), *TINY_ENCODER, "--steps", "1", *option]
    assert main(argv) == code
    assert capsys.readouterr().err == err


def test_on_dangling_choices_are_checked(dangling, capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", str(dangling / "db"), "--on-dangling", "error"])
    assert re.search(r"argument --on-dangling: invalid choice: 'error' \(choose from "
                     r"'?raise'?, '?warn'?, '?ignore'?\)", capsys.readouterr().err)


def test_schema_pretrain_and_fit_read_a_postgres_url(postgres_url, tmp_path, capsys):
    pytest.importorskip("adbc_driver_postgresql")
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(postgres_url, autocommit=True) as con, con.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS cli")
        cur.execute("CREATE DATABASE cli")
    url = postgres_url.rsplit("/", 1)[0] + "/cli"
    with adbc.connect(url) as con:
        with con.cursor() as cur:
            for sql in [
                "CREATE TABLE \"Members\" (handle text PRIMARY KEY, email text UNIQUE, "
                "joined timestamptz NOT NULL)",
                "CREATE TABLE visits (visit integer PRIMARY KEY, who text REFERENCES "
                "\"Members\", contact text REFERENCES \"Members\" (email), at timestamptz, "
                "pages integer)",
                "INSERT INTO \"Members\" VALUES ('ann', 'a@x', '2024-01-01 09:00+01'), "
                "('bo', 'b@x', '2024-01-02 10:00-03')",
                "INSERT INTO visits SELECT i, CASE WHEN i % 2 = 0 THEN 'ann' ELSE 'bo' END, "
                "NULL, TIMESTAMPTZ '2024-02-01 00:00+00' + i * INTERVAL '1 hour', i % 5 "
                "FROM generate_series(1, 40) AS i",
            ]:
                cur.execute(sql)
        con.commit()
    shown = url.replace("postgresql://postgres@", "postgresql://postgres:***@")
    password_url = url.replace("postgresql://postgres@", "postgresql://postgres:pw@")
    assert main(["schema", password_url]) == 0  # trust authentication ignores the password
    captured = capsys.readouterr()
    assert captured.err == (
        "relcontrast schema: warning: Declared foreign key visits(contact) REFERENCES "
        "Members(email) skipped: it does not reference Members's primary key ['handle'], and "
        "relcontrast links rows through primary keys only.\n")
    out = captured.out
    assert out.splitlines()[0] == f"# Schema proposed by `relcontrast schema` for {shown}."
    assert "  # handle: primary key: declared." in out.splitlines()
    assert "  # who: foreign key to 'Members': declared." in out.splitlines()
    schema = yaml.safe_load(out)
    assert schema["visits"] == {"primary_key": "visit", "foreign_keys": {"who": "Members"},
                                "time_column": "at"}
    (tmp_path / "schema.yaml").write_text(out)
    enc_path = tmp_path / "enc.joblib"
    assert main(["pretrain", url, "--schema", str(tmp_path / "schema.yaml"), "--out",
                 str(enc_path), *TINY_ENCODER, "--steps", "1"]) == 0
    enc = joblib.load(enc_path)
    assert repr(enc.database_) == "RelationalDatabase(Members=2, visits=40)"
    visits = np.arange(1, 41)
    pd.DataFrame({"visit": visits, "cutoff": "2024-03-01",
                  "busy": visits % 5 > 2}).to_csv(tmp_path / "rows.csv", index=False)
    capsys.readouterr()
    assert main(["fit", url, "--schema", str(tmp_path / "schema.yaml"), "--rows",
                 str(tmp_path / "rows.csv"), "--target", "busy", "--encoder", str(enc_path),
                 "--out", str(tmp_path / "model.joblib"), "--hidden-channels", "16",
                 *TINY_MODEL]) == 0
    assert capsys.readouterr().out.startswith(
        "fitted RelationalClassifier (classes [False, True]) on 40 rows of table 'visits' from ")


# -- --time-boundary ----------------------------------------------------------------------------
T = pd.Timestamp("2021-03-01 12:00:00")
NS, DAY = pd.Timedelta(1, "ns"), pd.Timedelta(1, "D")


@pytest.fixture(scope="module")
def at_t(tmp_path_factory):
    """Users a..f and their events, user a's first one exactly at T: as parquet folders with
    and without that event (``full``, ``no_at_t``), its schema, training rows (a fortnight
    apart, up to T) and rows at T."""
    root = tmp_path_factory.mktemp("at_t")
    rng = np.random.default_rng(0)
    users = pd.DataFrame({"user_id": list("abcdef"), "age": rng.integers(20, 60, 6)})
    events = pd.DataFrame({
        "event_id": np.arange(40), "user_id": list("abcdef" * 7)[:40],
        "ts": [T, T - NS, *(T - rng.integers(1, 300, 38) * DAY)],
        "amount": rng.integers(1, 10, 40).astype(float)})
    events.loc[1, "user_id"] = "a"
    for name, drop in (("full", []), ("no_at_t", [0])):
        (root / name).mkdir()
        users.to_parquet(root / name / "users.parquet", index=False)
        events.drop(index=drop).to_parquet(root / name / "events.parquet", index=False)
    schema = {"users": {"primary_key": "user_id"},
              "events": {"primary_key": "event_id", "foreign_keys": {"user_id": "users"},
                         "time_column": "ts"}}
    (root / "schema.yaml").write_text(yaml.safe_dump(schema))
    train = pd.DataFrame({"user_id": list("abcdef" * 4), "at": np.repeat(
        [T - 28 * DAY, T - 14 * DAY, T, T], 6), "y": [0, 1, 1] * 8})
    train.to_parquet(root / "train.parquet", index=False)
    train.loc[train["at"] == T, ["user_id", "at"]].iloc[:6].to_parquet(root / "at_t.parquet",
                                                                       index=False)
    return root


TINY_AT_T = ["--hidden-channels", "8", "--batch-size", "16", "--seed", "0",
             "--param", "num_layers=1", "--param", "num_neighbors=[-1]"]


@pytest.mark.parametrize("rule", ["inclusive", "strict"])
def test_time_boundary_reaches_the_estimators_and_the_row_at_t(at_t, tmp_path, capsys, rule):
    data = ["--schema", str(at_t / "schema.yaml")]
    enc_path, model_path = tmp_path / "encoder.joblib", tmp_path / "model.joblib"
    assert main(["pretrain", str(at_t / "full"), *data, "--cutoff", str(T), "--steps", "2",
                 "--time-boundary", rule, "--out", str(enc_path), *TINY_AT_T]) == 0
    enc = joblib.load(enc_path)
    assert enc.time_boundary == rule
    assert enc.cutoff_time_ == (T if rule == "inclusive" else T - NS)
    assert f"time boundary {rule}; saved" in capsys.readouterr().out
    # embed and predict read the saved model's rule: under "strict", the event exactly at T
    # changes nothing at T; under "inclusive" it does
    outputs = []
    for name in ("full", "no_at_t"):
        path = tmp_path / f"embeddings_{name}.parquet"
        assert main(["embed", str(enc_path), str(at_t / "at_t.parquet"), "--data",
                     str(at_t / name), *data, "--out", str(path)]) == 0
        outputs.append(pd.read_parquet(path).iloc[0, 2:].to_numpy(dtype=float))
    assert np.array_equal(*outputs) == (rule == "strict")

    assert main(["fit", str(at_t / "full"), *data, "--rows", str(at_t / "train.parquet"),
                 "--target", "y", "--epochs", "2", "--time-boundary", rule, "--out",
                 str(model_path), *TINY_AT_T]) == 0
    model = joblib.load(model_path)
    assert model.time_boundary == rule and model.encoder_ is None
    outputs = []
    for name in ("full", "no_at_t"):
        path = tmp_path / f"predictions_{name}.csv"
        assert main(["predict", str(model_path), str(at_t / "at_t.parquet"), "--data",
                     str(at_t / name), *data, "--out", str(path)]) == 0
        outputs.append(pd.read_csv(path).loc[0, "proba_1"])
    assert (outputs[0] == outputs[1]) == (rule == "strict")


def test_fit_fine_tunes_under_the_encoders_time_boundary(at_t, tmp_path, capsys):
    data = [str(at_t / "full"), "--schema", str(at_t / "schema.yaml")]
    enc_path, model_path = tmp_path / "encoder.joblib", tmp_path / "model.joblib"
    assert main(["pretrain", *data, "--cutoff", str(T - 14 * DAY), "--steps", "1",
                 "--time-boundary", "strict", "--out", str(enc_path), *TINY_AT_T]) == 0
    fit = ["fit", *data, "--rows", str(at_t / "train.parquet"), "--target", "y",
           "--encoder", str(enc_path), "--epochs", "1", "--out", str(model_path), *TINY_AT_T]
    capsys.readouterr()
    assert main(fit) == 0  # no --time-boundary: the encoder's
    assert (f"relcontrast fit: warning: hidden_channels, num_layers ignored: the encoder "
            f"'{enc_path}' brings its own backbone.") in capsys.readouterr().err
    model = joblib.load(model_path)
    assert model.time_boundary == model.encoder_.time_boundary == "strict"
    assert main([*fit, "--time-boundary", "strict"]) == 0
    capsys.readouterr()
    assert main([*fit, "--time-boundary", "inclusive"]) == 1
    assert capsys.readouterr().err == (
        f"relcontrast fit: error: --time-boundary inclusive differs from the rule encoder "
        f"'{enc_path}' was pretrained with (strict): the model would read rows by one rule "
        f"and its backbone by the other. Pretrain the encoder with --time-boundary "
        f"inclusive, or leave --time-boundary out to use the encoder's.\n")


def test_time_boundary_choices_are_checked(capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--time-boundary", "strcit"])
    assert re.search(r"argument --time-boundary: invalid choice: 'strcit' \(choose from "
                     r"'?inclusive'?, '?strict'?\)", capsys.readouterr().err)


def test_library_advice_names_the_time_boundary_option():
    assert _for_the_cli("dated 2021 (time_boundary='strict': a row is visible only strictly "
                        "before the cutoff)") == (
        "dated 2021 (--time-boundary strict: a row is visible only strictly before the cutoff)")


def test_pretraining_steps_default_to_the_encoders(monkeypatch):
    """Without --steps, `demo` and `pretrain` pretrain as long as the library's default."""
    made = []
    real = RelationalContrastiveEncoder

    class Recording(real):
        def fit(self, *args, **kwargs):
            made.append(self.max_steps)
            raise SystemExit(0)  # stop before any work

    monkeypatch.setattr("relcontrast.RelationalContrastiveEncoder", Recording)
    for argv in (["demo"], ["pretrain"]):
        with pytest.raises(SystemExit):
            main(argv)
    assert made == [real().max_steps] * 2
