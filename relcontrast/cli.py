"""Command line: ``relcontrast demo | pretrain | embed``."""

from __future__ import annotations

import argparse
import logging
import sys
import time


def _demo(args) -> int:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
    from relcontrast.datasets import load_f1, load_f1_task

    t0 = time.perf_counter()
    db = RelationalDatabase(*load_f1())
    print(db.summary())
    train = load_f1_task("driver-dnf", "train")
    val = load_f1_task("driver-dnf", "val")
    print(f"\ndriver-dnf: {len(train.X)} train rows, {len(val.X)} val rows")

    print(f"\nPretraining (no labels, cutoff {args.cutoff}, {args.steps} steps max) ...")
    enc = RelationalContrastiveEncoder(
        database=db, cutoff_time=pd.Timestamp(args.cutoff), max_steps=args.steps,
        random_state=args.seed, verbose=args.verbose,
    ).fit(db)
    last = enc.history_[-1]
    levels = ", ".join(f"{k[6:]}={last[k]:.3f}" for k in last if k.startswith("train_")
                       and k[6:] in ("row", "link", "context"))
    print(f"  {len(enc.history_)} epochs, final train loss {last['train_loss']:.3f} ({levels})")

    print("\nFrozen embeddings -> HistGradientBoostingClassifier")
    gbm = HistGradientBoostingClassifier(random_state=0)
    gbm.fit(enc.transform(train.X), train.y)
    auc = roc_auc_score(val.y, gbm.predict_proba(enc.transform(val.X))[:, 1])
    print(f"  driver-dnf val AUROC: {auc:.4f}")
    print(f"\nDone in {time.perf_counter() - t0:.0f} s.")
    return 0


def _pretrain(args) -> int:
    import joblib

    from relcontrast import RelationalContrastiveEncoder
    from relcontrast.datasets import load_f1

    tables, schema = load_f1()
    enc = RelationalContrastiveEncoder(cutoff_time=args.cutoff, max_steps=args.steps,
                                       random_state=args.seed, verbose=args.verbose)
    enc.fit(tables, schema)
    joblib.dump(enc, args.output)
    print(f"saved {args.output}")
    return 0


def _embed(args) -> int:
    import joblib
    import pandas as pd

    from relcontrast.datasets import load_f1_task

    enc = joblib.load(args.model)
    task = load_f1_task(args.task, args.split)
    Z = enc.transform(task.X)
    out = pd.concat([task.X.reset_index(drop=True),
                     pd.DataFrame(Z, columns=enc.get_feature_names_out())], axis=1)
    out.to_parquet(args.output)
    print(f"saved {Z.shape[0]} embeddings of width {Z.shape[1]} to {args.output}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="relcontrast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, help_ in [("demo", _demo, "pretrain on the bundled F1 data and evaluate"),
                            ("pretrain", _pretrain, "pretrain on F1 and save the encoder"),
                            ("embed", _embed, "embed the rows of an F1 task")]:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(fn=fn)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--verbose", type=int, default=0)
        if name in ("demo", "pretrain"):
            p.add_argument("--cutoff", default="2005-01-01")
            p.add_argument("--steps", type=int, default=600)
        if name == "pretrain":
            p.add_argument("--output", default="encoder.joblib")
        if name == "embed":
            p.add_argument("--model", default="encoder.joblib")
            p.add_argument("--task", default="driver-dnf")
            p.add_argument("--split", default="val")
            p.add_argument("--output", default="embeddings.parquet")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
