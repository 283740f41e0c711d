"""Checkpoint every epoch, resume in ``fit``: a run killed with SIGKILL at an arbitrary
moment and resumed ends with the same weights, history and outputs as an uninterrupted run.

The runs are subprocesses, each with its own ``PYTHONHASHSEED`` (string hashing must not
change a fit: the synthetic database has a list column), at the default thread count.
"""

from __future__ import annotations

import itertools
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from relcontrast import RelationalClassifier, RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.testing import make_synthetic_database

SCRIPT = textwrap.dedent("""
    import pickle, sys
    import numpy as np
    from relcontrast import RelationalClassifier, RelationalContrastiveEncoder
    from relcontrast import RelationalDatabase
    from relcontrast.testing import make_synthetic_database

    kind, checkpoint_dir, out = sys.argv[1], sys.argv[2] or None, sys.argv[3]
    tables, schema = make_synthetic_database()
    db = RelationalDatabase(tables, schema)
    X, y = tables["orders"][["order_id", "ts"]], tables["orders"]["status"]
    if kind == "encoder":
        est = RelationalContrastiveEncoder(
            database=db, hidden_channels=16, max_steps=80, steps_per_epoch=4, batch_size=32,
            patience=3, lr_schedule="cosine", random_state=0,
            checkpoint_dir=checkpoint_dir).fit(X)
        outputs = est.transform(X)
        weights = est.backbone_.state_dict()
    else:
        est = RelationalClassifier(
            database=db, encoder=RelationalContrastiveEncoder(hidden_channels=16),
            pretrain=False, max_epochs=12, batch_size=16, patience=3,
            lr_schedule="cosine", random_state=0, checkpoint_dir=checkpoint_dir).fit(X, y)
        outputs = est.predict_proba(X)
        weights = est.module_.state_dict()
    history = [{k: v for k, v in row.items() if not k.endswith("dur")} for row in est.history_]
    with open(out, "wb") as f:
        pickle.dump({"weights": {k: v.numpy() for k, v in weights.items()},
                     "history": history, "outputs": outputs}, f)
""")


_HASH_SEEDS = itertools.count(1)  # every process hashes strings differently


def _run(kind, checkpoint_dir, out, tmp_path, *, kill_after_epochs=None):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONHASHSEED": str(next(_HASH_SEEDS))}
    proc = subprocess.Popen([sys.executable, str(script), kind, str(checkpoint_dir or ""),
                             str(out)], env=env)
    if kill_after_epochs is None:
        assert proc.wait(timeout=600) == 0
        with open(out, "rb") as f:
            return pickle.load(f)
    path = Path(checkpoint_dir) / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists():
            state = torch.load(path, weights_only=False)  # always complete: renamed in place
            if len(state["history"]) >= kill_after_epochs and not state["done"]:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return None


@pytest.mark.parametrize("kind, kill_after", [("encoder", 3), ("classifier", 4)])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, kind, kill_after):
    reference = _run(kind, None, tmp_path / "reference.pkl", tmp_path)
    checkpoints = tmp_path / "checkpoints"
    _run(kind, checkpoints, None, tmp_path, kill_after_epochs=kill_after)
    killed_at = len(torch.load(checkpoints / "checkpoint.pt", weights_only=False)["history"])
    assert killed_at < len(reference["history"])  # killed before the end
    resumed = _run(kind, checkpoints, tmp_path / "resumed.pkl", tmp_path)
    assert resumed["history"] == reference["history"]
    assert resumed["weights"].keys() == reference["weights"].keys()
    for name, value in reference["weights"].items():
        np.testing.assert_array_equal(resumed["weights"][name], value, err_msg=name)
    np.testing.assert_array_equal(resumed["outputs"], reference["outputs"])
    assert not list(checkpoints.glob(".checkpoint-*"))  # no temporary file left


@pytest.fixture(scope="module")
def small():
    tables, schema = make_synthetic_database()
    X = tables["orders"][["order_id", "ts"]]
    return RelationalDatabase(tables, schema), X, tables["orders"]["status"]


def test_a_finished_checkpoint_skips_training_and_gives_the_same_model(small, tmp_path):
    db, X, y = small
    params = dict(database=db, encoder=RelationalContrastiveEncoder(hidden_channels=16),
                  pretrain=False, max_epochs=3, random_state=0, checkpoint_dir=tmp_path)
    first = RelationalClassifier(**params).fit(X, y)
    again = RelationalClassifier(**params).fit(X, y)
    assert len(again.history_) == len(first.history_) == 3
    assert [r["train_loss"] for r in again.history_] == [r["train_loss"] for r in first.history_]
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))


def test_a_checkpoint_of_another_run_is_refused(small, tmp_path):
    db, X, y = small
    enc = dict(database=db, hidden_channels=16, max_steps=4, steps_per_epoch=2,
               random_state=0, checkpoint_dir=tmp_path)
    RelationalContrastiveEncoder(**enc).fit(X)
    for changed in ({"corruption_rate": 0.2}, {"random_state": 1}):
        with pytest.raises(ValueError, match="holds a checkpoint of another configuration or "
                                             "other training rows; pass a new checkpoint_dir"):
            RelationalContrastiveEncoder(**{**enc, **changed}).fit(X)
    with pytest.raises(ValueError, match="other training rows"):
        RelationalContrastiveEncoder(**enc).fit(X.iloc[:200])
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Cannot read the checkpoint .* delete it"):
        RelationalContrastiveEncoder(**enc).fit(X)
