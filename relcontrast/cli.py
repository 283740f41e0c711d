"""Command line: ``relcontrast schema | pretrain | embed | fit | predict | demo``.

Your own database (DATA: a folder of CSV or parquet files, one per table, a SQLite or
DuckDB file, or a PostgreSQL URL such as postgresql://user:password@host:5432/shop; ROWS: a
CSV or parquet file with the target table's primary key and a cutoff time column):

  relcontrast schema DATA --out schema.yaml           # propose a schema; check and edit it
  relcontrast pretrain DATA --schema schema.yaml --cutoff 2024-01-01 --out encoder.joblib
  relcontrast embed encoder.joblib ROWS.csv --out embeddings.parquet
  relcontrast fit DATA --schema schema.yaml --rows train.csv --target churned --out model.joblib
  relcontrast predict model.joblib ROWS.csv --out predictions.csv

Without DATA, ``pretrain`` and ``embed`` work on the bundled Formula 1 data, as ``demo`` does.
``--time-boundary strict`` (``pretrain``, ``fit``): a row with cutoff time t reads only rows
dated strictly before t, the RelBench 3 leaderboard's rule; ``embed`` and ``predict`` use the
saved model's rule.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import time
import warnings
from pathlib import Path

_F1_CUTOFF = "2005-01-01"
_TASKS = ("auto", "classification", "regression")
_ON_DANGLING = ("raise", "warn", "ignore")
_TIME_BOUNDARIES = ("inclusive", "strict")
_DATA_HELP = ("folder of CSV / parquet files, a SQLite / DuckDB file, or a PostgreSQL URL "
              "(postgresql://user:password@host:port/database)")
# Advice in the library's messages names Python parameters; the CLI names its options.
_CLI_ADVICE = (
    (r"on_dangling='(\w+)'", r"--on-dangling \1"),
    (r"pass it as schema= to silence this warning", "pass it with --schema FILE to silence "
                                                    "this warning"),
    (r"\(`relcontrast schema DATA` or infer_schema\(tables, return_reasons=True\) explain "
     r"each choice\)", "(`relcontrast schema DATA` explains each choice)"),
    (r"Pass db_schema= \(--db-schema in the CLI\)", "Pass --db-schema NAME"),
    (r"name the tables to read with tables=", "name the tables to read with --tables"),
    (r"db_schema= and tables= select", "--db-schema and --tables select"),
    (r"set time_column=", "pass --param time_column="),
    (r"time_boundary='(\w+)'", r"--time-boundary \1"),
)


def _demo(args) -> int:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from relcontrast import RelationalClassifier, RelationalContrastiveEncoder, RelationalDatabase
    from relcontrast.datasets import load_f1, load_f1_task
    from relcontrast.pretraining import OBJECTIVES

    t0 = time.perf_counter()
    db = RelationalDatabase(*load_f1())
    print(db.summary())
    train = load_f1_task("driver-dnf", "train")
    val = load_f1_task("driver-dnf", "val")
    print(f"\ndriver-dnf: {len(train.X)} train rows, {len(val.X)} val rows")

    enc = RelationalContrastiveEncoder(
        database=db, cutoff_time=pd.Timestamp(args.cutoff), time_boundary=args.time_boundary,
        random_state=args.seed, verbose=args.verbose,
        **({} if args.steps is None else {"max_steps": args.steps}))
    print(f"\n1/4 Pretraining (no labels, data up to {args.cutoff}, at most {enc.max_steps} "
          f"steps) ...", flush=True)
    enc.fit(db)
    last = enc.history_[-1]
    levels = ", ".join(f"{k[6:]}={last[k]:.3f}" for k in last if k.startswith("train_")
                       and k[6:] in OBJECTIVES)
    print(f"  {len(enc.history_)} epochs, final train loss {last['train_loss']:.3f} ({levels})")
    if args.plot:
        try:
            enc.plot_history().savefig(args.plot, dpi=110)
            print(f"  loss curves saved to {args.plot}")
        except ImportError:
            print("  (install matplotlib to save the loss curves)")

    scores = {}
    print("\n2/4 Frozen embeddings -> HistGradientBoostingClassifier ...", flush=True)
    gbm = HistGradientBoostingClassifier(random_state=args.seed)
    gbm.fit(enc.transform(train.X), train.y)
    scores["frozen embeddings + gradient boosting"] = roc_auc_score(
        val.y, gbm.predict_proba(enc.transform(val.X))[:, 1])
    for step, (name, params) in enumerate([
            ("fine-tuned (pretrained backbone)", {"encoder": enc}),
            ("from scratch (random init)", {"database": db})], start=3):
        print(f"\n{step}/4 RelationalClassifier, {name} ...", flush=True)
        clf = RelationalClassifier(max_epochs=args.epochs, time_boundary=args.time_boundary,
                                   random_state=args.seed, verbose=args.verbose, **params)
        clf.fit(train.X, train.y)
        scores[name] = roc_auc_score(val.y, clf.predict_proba(val.X)[:, 1])

    width = max(map(len, scores))
    print(f"\n{'driver-dnf, val rows (seed ' + str(args.seed) + ')':<{width}}  AUROC")
    for name, auc in scores.items():
        print(f"{name:<{width}}  {auc:.4f}")
    print("One seed; docs/results.md compares the arms over three seeds.")
    print(f"\nDone in {time.perf_counter() - t0:.0f} s.")
    return 0


# -- helpers ----------------------------------------------------------------------------------
def _parse_params(pairs) -> dict:
    """``["hidden_channels=16", "num_neighbors=[8, 4]"]`` -> ``{...}`` (values read as YAML)."""
    import yaml

    params = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param expects NAME=VALUE (e.g. --param lr=0.01), got {pair!r}.")
        params[name.strip()] = yaml.safe_load(value)
    return params


def _estimator_params(args, **extra) -> dict:
    params = {k: v for k, v in extra.items() if v is not None}
    params.update(_parse_params(args.param))
    return params


def _read_database(args):
    from relcontrast.io import read_database

    return read_database(args.data, args.schema, db_schema=args.db_schema, tables=args.tables,
                         time_unit=args.time_unit, on_dangling=args.on_dangling)


def _read_rows(path):
    from relcontrast.io import read_table

    rows = read_table(path)
    if not len(rows):
        raise ValueError(f"ROWS file {str(path)!r} has no rows.")
    return rows


def _load(path, expected, command: str):
    """A joblib file holding an instance of one of ``expected``."""
    import joblib

    if not Path(path).is_file():
        raise FileNotFoundError(f"No such file: {str(path)!r}.")
    obj = joblib.load(path)
    if not isinstance(obj, expected):
        names = " or ".join(c.__name__ for c in expected)
        raise ValueError(
            f"{str(path)!r} holds a {type(obj).__name__}, not a {names}; "
            f"`relcontrast {command}` needs one (saved by `relcontrast "
            f"{'pretrain' if command in ('embed', 'fit') else 'fit'}`)."
        )
    return obj


def _main_process() -> bool:
    """False on the ranks other than 0 of a data-parallel run (``torchrun`` sets ``RANK``):
    they train with rank 0 but write no files and print nothing."""
    return os.environ.get("RANK", "0") == "0"


def _dump(obj, path) -> None:
    import joblib

    if _main_process():
        joblib.dump(obj, path)


def _write(df, path) -> None:
    if not _main_process():
        return
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    elif suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        raise ValueError(
            f"Cannot write {str(path)!r}: unknown extension {suffix!r}; use .csv or .parquet."
        )


def _encoder_params(args) -> dict:
    return _estimator_params(args, max_steps=args.steps, hidden_channels=args.hidden_channels,
                             batch_size=args.batch_size, time_boundary=args.time_boundary,
                             random_state=args.seed, verbose=args.verbose)


def _encoder_rule(params: dict, enc, path) -> None:
    """Fine-tuning ``enc`` (loaded from ``path``): the model reads rows by the encoder's time
    rule, which ``params`` take unless they name another (then refuse: the backbone was
    pretrained reading rows by its own rule)."""
    rule = params.setdefault("time_boundary", enc.time_boundary)
    if rule != enc.time_boundary:
        raise ValueError(
            f"--time-boundary {rule} differs from the rule encoder {str(path)!r} was "
            f"pretrained with ({enc.time_boundary}): the model would read rows by one rule "
            f"and its backbone by the other. Pretrain the encoder with --time-boundary "
            f"{rule}, or leave --time-boundary out to use the encoder's."
        )


# -- commands ---------------------------------------------------------------------------------
def _schema(args) -> int:
    from relcontrast.io import infer_schema, read_declared_schema, read_tables, schema_to_yaml
    from relcontrast.io.catalog import declared_keys
    from relcontrast.io.servers import hide_password, is_server_source

    selection = {"db_schema": args.db_schema, "tables": args.tables}
    tables = read_tables(args.data, **selection)
    declared = declared_keys(read_declared_schema(args.data, **selection))
    schema, reasons = infer_schema(tables, declared=declared, min_inclusion=args.min_inclusion,
                                   return_reasons=True)
    shown = hide_password(args.data) if is_server_source(args.data) else args.data
    header = (f"Schema proposed by `relcontrast schema` for {shown}.\n"
              f"Check every entry: the comments say why each was chosen.\n"
              f"Format, time_unit and composite keys: docs/own_database.md")
    text = schema_to_yaml(schema, reasons, header=header)
    if args.output is None:
        print(text, end="")
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        n_fks = sum(len(s["foreign_keys"]) for s in schema.values())
        print(f"wrote the proposed schema of {len(schema)} tables ({n_fks} foreign keys) to "
              f"{args.output}; check it before use.", file=sys.stderr)
    return 0


def _pretrain(args) -> int:

    from relcontrast import RelationalContrastiveEncoder

    output = args.output or "encoder.joblib"
    if args.data is None:
        if args.schema is not None:
            raise ValueError("--schema needs DATA: relcontrast pretrain DATA --schema FILE.")
        from relcontrast.datasets import load_f1

        data = load_f1()  # the bundled F1 database, as before DATA existed
        cutoff = args.cutoff or _F1_CUTOFF
    else:
        data = (_read_database(args),)
        cutoff = args.cutoff
    enc = RelationalContrastiveEncoder(cutoff_time=cutoff, **_encoder_params(args))
    enc.fit(*data)
    _dump(enc, output)
    last = enc.history_[-1]
    print(f"pretrained on {enc.database_!r}"
          f"{f' up to {cutoff}' if cutoff is not None else ' (all rows)'}: "
          f"{len(enc.history_)} epoch(s), final train loss {last['train_loss']:.3f}, "
          f"time boundary {enc.time_boundary}; saved {output}")
    return 0


def _embed(args) -> int:
    import pandas as pd

    from relcontrast import RelationalContrastiveEncoder

    model = args.model_path or args.model
    enc = _load(model, (RelationalContrastiveEncoder,), "embed")
    if args.rows is None:
        if args.data is not None:
            raise ValueError("--data needs ROWS: relcontrast embed MODEL ROWS --data DATA.")
        from relcontrast.datasets import load_f1_task

        rows = load_f1_task(args.task, args.split).X
    else:
        rows = _read_rows(args.rows)
        if args.data is not None:
            enc = enc.with_database(_read_database(args))
    Z = enc.transform(rows)
    out = pd.concat([rows.reset_index(drop=True),
                     pd.DataFrame(Z, columns=enc.get_feature_names_out())], axis=1)
    _write(out, args.output)
    print(f"saved {Z.shape[0]} embeddings of width {Z.shape[1]} to {args.output}")
    return 0


def _task(y, task: str) -> str:
    import pandas as pd

    if task != "auto":
        return task
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    return "classification" if not numeric or y.nunique() <= 2 else "regression"


def _fit(args) -> int:

    from relcontrast import (
        RelationalClassifier,
        RelationalContrastiveEncoder,
        RelationalRegressor,
    )

    db = _read_database(args)
    rows = _read_rows(args.rows)
    if args.target not in rows.columns:
        raise ValueError(
            f"ROWS file {args.rows!r} has no target column {args.target!r}; its columns are "
            f"{list(rows.columns)}. Set --target to the column to predict."
        )
    y, X = rows[args.target], rows.drop(columns=[args.target])
    task = _task(y, args.task)
    cls = RelationalClassifier if task == "classification" else RelationalRegressor
    params = _estimator_params(args, max_epochs=args.epochs, batch_size=args.batch_size,
                               hidden_channels=args.hidden_channels,
                               time_boundary=args.time_boundary, random_state=args.seed,
                               verbose=args.verbose)
    # the backbone's architecture is the encoder's (the model's copies are deprecated)
    architecture = {k: params.pop(k) for k, v in cls().get_params().items()
                    if v == "deprecated" and k in params}
    if args.encoder is not None:
        enc = _load(args.encoder, (RelationalContrastiveEncoder,), "fit")
        _encoder_rule(params, enc, args.encoder)
        if architecture:
            warnings.warn(f"{', '.join(architecture)} ignored: the encoder {args.encoder!r} "
                          f"brings its own backbone.", UserWarning, stacklevel=2)
        est = cls(encoder=enc.with_database(db), fine_tune=not args.frozen, **params)
    else:
        if args.frozen:
            raise ValueError("--frozen freezes a pretrained backbone: give --encoder FILE.")
        est = cls(database=db, encoder=RelationalContrastiveEncoder(**architecture),
                  pretrain=False, **params)
    est.fit(X, y.to_numpy())
    _dump(est, args.output)
    last = est.history_[-1]
    shown = ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                      if k.startswith("valid_") and not k.endswith("_best"))
    classes = f" (classes {est.classes_.tolist()})" if task == "classification" else ""
    print(f"fitted {cls.__name__}{classes} on {len(X)} rows of table {est.target_table_!r}"
          f"{' from ' + args.encoder if args.encoder else ' from scratch'}: "
          f"{len(est.history_)} epoch(s){' (last: ' + shown + ')' if shown else ''}, "
          f"time boundary {est.time_boundary}; saved {args.output}")
    return 0


def _predict(args) -> int:
    from relcontrast import RelationalClassifier, RelationalRegressor

    est = _load(args.model, (RelationalClassifier, RelationalRegressor), "predict")
    rows = _read_rows(args.rows)
    if args.data is not None:
        est = est.with_database(_read_database(args))
    columns = list(est.feature_names_in_)
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(
            f"ROWS file {args.rows!r} lacks column(s) {missing} the model was fitted with; "
            f"its columns are {list(rows.columns)}."
        )
    new = ["prediction"]
    if isinstance(est, RelationalClassifier):
        new += [f"proba_{c}" for c in est.classes_]
    taken = [c for c in new if c in rows.columns]
    if taken:
        raise ValueError(
            f"ROWS file {args.rows!r} already has column(s) {taken}, which predict writes; "
            f"rename or drop them."
        )
    X = rows[columns]
    out = rows.reset_index(drop=True)
    if isinstance(est, RelationalClassifier):
        proba = est.predict_proba(X)
        out["prediction"] = est.classes_[proba.argmax(axis=1)]  # est.predict, one pass
        for i, c in enumerate(est.classes_):
            out[f"proba_{c}"] = proba[:, i]
    else:
        out["prediction"] = est.predict(X)
    _write(out, args.output)
    print(f"saved {len(out)} predictions to {args.output}")
    return 0


# -- parser -----------------------------------------------------------------------------------
def _add_selection_options(p) -> None:
    p.add_argument("--db-schema", dest="db_schema", default=None, metavar="NAME",
                   help="PostgreSQL: the schema (namespace) to read; default: the current "
                        "one (public)")
    p.add_argument("--tables", nargs="+", default=None, metavar="TABLE",
                   help="PostgreSQL: the tables to read; default: all of the schema")


def _add_data_options(p) -> None:
    p.add_argument("--schema", default=None,
                   help="schema file (YAML or JSON, see `relcontrast schema`); default: the "
                        "keys the database declares, the rest inferred, with a warning")
    p.add_argument("--time-unit", default=None, dest="time_unit",
                   help="unit of numeric time columns: year, D, s, ms, us or ns")
    p.add_argument("--on-dangling", dest="on_dangling", choices=_ON_DANGLING, default="warn",
                   help="foreign-key values absent from the referenced table: raise an "
                        "error, warn and drop those links (default), or drop them silently")
    _add_selection_options(p)


def _add_model_options(p, what: str, example: str) -> None:
    p.add_argument("--hidden-channels", dest="hidden_channels", type=int, default=None)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help=f"any other {what} parameter, repeatable (e.g. {example})")


def _add_time_boundary(p, default: str | None, unset: str) -> None:
    p.add_argument("--time-boundary", dest="time_boundary", choices=_TIME_BOUNDARIES,
                   default=default,
                   help="which rows a row with cutoff time t reads: those with time <= t "
                        "(inclusive, RelBench's own samplers) or < t (strict, the RelBench 3 "
                        f"leaderboard's rule); default: {unset}")


def _add_common(p) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=0)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relcontrast", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="pretrain on the bundled F1 data and evaluate")
    p.set_defaults(fn=_demo)
    _add_common(p)
    p.add_argument("--cutoff", default=_F1_CUTOFF)
    p.add_argument("--steps", type=int, default=None,
                   help="maximum pretraining steps (default: the encoder's)")
    p.add_argument("--epochs", type=int, default=20, help="max epochs of the classifiers")
    p.add_argument("--plot", default="relcontrast_demo_losses.png",
                   help="where to save the pretraining loss curves ('' to skip)")
    _add_time_boundary(p, "inclusive", "inclusive")

    p = sub.add_parser("schema", help="propose a schema for DATA, as commented YAML")
    p.set_defaults(fn=_schema)
    p.add_argument("data", help=_DATA_HELP)
    _add_selection_options(p)
    p.add_argument("--out", "--output", dest="output", default=None,
                   help="write the YAML to this file instead of printing it")
    p.add_argument("--min-inclusion", dest="min_inclusion", type=float, default=0.95,
                   help="share of a foreign key's values that must be in the referenced key")
    _add_common(p)

    p = sub.add_parser("pretrain", help="pretrain an encoder on DATA (default: F1) and save it")
    p.set_defaults(fn=_pretrain)
    p.add_argument("data", nargs="?", default=None,
                   help=f"{_DATA_HELP}; omitted: the bundled F1 data")
    _add_data_options(p)
    p.add_argument("--cutoff", default=None,
                   help="pretrain on rows up to this time only (before it with "
                        "--time-boundary strict), e.g. your first validation time; default: "
                        f"every row ({_F1_CUTOFF} for F1)")
    p.add_argument("--steps", type=int, default=None,
                   help="maximum pretraining steps (default: the encoder's)")
    _add_time_boundary(p, None, "inclusive; `embed` and `fit --encoder` use the encoder's")
    _add_model_options(p, "encoder", "corruption_rate=0.2")
    p.add_argument("--out", "--output", dest="output", default="encoder.joblib")
    _add_common(p)

    p = sub.add_parser("embed", help="embed ROWS with a saved encoder (default: an F1 task)")
    p.set_defaults(fn=_embed)
    p.add_argument("model_path", nargs="?", default=None, metavar="MODEL",
                   help="encoder saved by `relcontrast pretrain` (or use --model)")
    p.add_argument("rows", nargs="?", default=None, metavar="ROWS",
                   help="CSV / parquet file: primary key and cutoff time of the rows to "
                        "embed; omitted: the rows of --task/--split of F1")
    p.add_argument("--model", default="encoder.joblib")
    p.add_argument("--task", default="driver-dnf")
    p.add_argument("--split", default="val")
    p.add_argument("--data", default=None,
                   help="embed against this (newer) version of the database")
    _add_data_options(p)
    p.add_argument("--out", "--output", dest="output", default="embeddings.parquet")
    _add_common(p)

    p = sub.add_parser("fit", help="fit a classifier or regressor on DATA and ROWS, save it")
    p.set_defaults(fn=_fit)
    p.add_argument("data", help=_DATA_HELP)
    _add_data_options(p)
    p.add_argument("--rows", required=True,
                   help="CSV / parquet file: primary key, cutoff time and the target column")
    p.add_argument("--target", required=True, help="column of ROWS to predict")
    p.add_argument("--task", choices=_TASKS, default="auto",
                   help="auto: classification for non-numeric, boolean or two-valued "
                        "targets, regression otherwise")
    p.add_argument("--encoder", default=None,
                   help="start from this pretrained encoder (from `relcontrast pretrain`); "
                        "default: train from scratch")
    p.add_argument("--frozen", action="store_true",
                   help="train the head only, on the frozen pretrained encoder")
    p.add_argument("--epochs", type=int, default=None)
    _add_time_boundary(p, None, "the --encoder's rule (another one is an error), else "
                                "inclusive; `predict` uses the model's")
    _add_model_options(p, "estimator", "lr=0.01")
    p.add_argument("--out", "--output", dest="output", default="model.joblib")
    _add_common(p)

    p = sub.add_parser("predict", help="predict ROWS with a model saved by `relcontrast fit`")
    p.set_defaults(fn=_predict)
    p.add_argument("model", help="model saved by `relcontrast fit`")
    p.add_argument("rows", help="CSV / parquet file: primary key and cutoff time")
    p.add_argument("--data", default=None,
                   help="predict against this (newer) version of the database")
    _add_data_options(p)
    p.add_argument("--out", "--output", dest="output", default="predictions.csv")
    _add_common(p)
    return parser


def _for_the_cli(message: str) -> str:
    """A library message as the CLI says it: its advice in options, on one line."""
    for pattern, option in _CLI_ADVICE:
        message = re.sub(pattern, option, message)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ".join(lines[:1] + ["; ".join(lines[1:])] if len(lines) > 1 else lines)


class _OneLineFormatter(logging.Formatter):
    def __init__(self, command: str):
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        level = "warning" if record.levelno == logging.WARNING else record.levelname.lower()
        return f"relcontrast {self.command}: {level}: {_for_the_cli(record.getMessage())}"


def main(argv=None) -> int:
    args = _build_parser().parse_args(argv)
    command = args.command

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"relcontrast {command}: warning: {_for_the_cli(str(message))}",
              file=sys.stderr if file is None else file)

    # warnings and the package's log records as one line each, without Python file paths
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter(command))
    package_logger = logging.getLogger("relcontrast")
    saved = package_logger.level, package_logger.propagate
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    package_logger.propagate = False
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(warnings.catch_warnings())  # restores showwarning on exit
            warnings.showwarning = show_warning
            if not _main_process():
                devnull = stack.enter_context(open(os.devnull, "w"))
                stack.enter_context(contextlib.redirect_stdout(devnull))
            return args.fn(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        if args.verbose:
            raise
        print(f"relcontrast {command}: error: {_for_the_cli(str(exc))}", file=sys.stderr)
        return 1
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(saved[0])
        package_logger.propagate = saved[1]


if __name__ == "__main__":
    sys.exit(main())
