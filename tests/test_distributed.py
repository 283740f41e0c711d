"""Data-parallel fits under ``torchrun``: 2 CPU processes (gloo) against one process.

The same script runs once as a plain process with a batch of 32 rows and once under
``python -m torch.distributed.run --standalone --nproc_per_node=2`` with 16 rows per rank
(the fits initialise the process group themselves from torchrun's environment). Both runs
are subprocesses with different ``PYTHONHASHSEED`` values (string hashing must not change a
fit: the synthetic database has a list column) and one thread each.

What the two runs must share, and why:

- the seed rows of every step: both ranks' rows of step k together are the single process's
  rows of step k (drawn from the same generator state, dealt out round-robin);
- the classifier's loss trajectory, to float rounding (relative 1e-5; observed 7e-8): its
  loss is a mean over rows, so the gradient averaged over two ranks' halves of a batch is
  the gradient of the whole batch, and neighbour subgraphs are per seed (strategy "last"
  draws nothing), so only the order of floating-point sums differs;
- the pretraining loss trajectory only loosely (0.15 per epoch, the loss being the sum of
  three levels normalised to 1 at chance): each anchor's negatives are the other rows of its
  own rank's batch (15 instead of 31), and each rank corrupts cells and samples neighbours
  with its own generator. Observed 0.08; two seeds of the single process differ by 0.17
  (training) and 0.06 (validation), one process with 16 rows from it by 0.08 and 0.15.

Within the distributed run, both ranks must end with bitwise identical weights and history.
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

import numpy as np
import pytest
import torch

from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.testing import make_synthetic_database

pytestmark = pytest.mark.skipif(not torch.distributed.is_available()
                                or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

ENCODER = dict(hidden_channels=16, max_steps=16, steps_per_epoch=4, patience=2, random_state=0)
CLASSIFIER = dict(encoder=RelationalContrastiveEncoder(hidden_channels=16), pretrain=False,
                  max_epochs=3, patience=2, random_state=0, verbose=1)
GLOBAL_BATCH = 32

SCRIPT = textwrap.dedent("""
    import os, pickle, sys
    import numpy as np
    import torch
    from relcontrast import RelationalClassifier, RelationalContrastiveEncoder
    from relcontrast import RelationalDatabase
    from relcontrast.pretraining import PretrainingBatcher
    from relcontrast.sampling import NeighborBatcher
    from relcontrast.testing import make_synthetic_database

    out, encoder, classifier, batch_size = sys.argv[1:5]
    checkpoint_dir = sys.argv[5] if len(sys.argv) > 5 else None
    rank = int(os.environ.get("RANK", 0))

    seeds = []  # the seed rows of every training step, in order
    for batcher in (PretrainingBatcher, NeighborBatcher):
        def record(self, x, training, _call=batcher.__call__):
            if training:
                seeds.append(np.asarray(x).copy())
            return _call(self, x, training)
        batcher.__call__ = record

    tables, schema = make_synthetic_database()
    db = RelationalDatabase(tables, schema)
    X, y = tables["orders"][["order_id", "ts"]], tables["orders"]["status"]

    def history(est):
        return [{k: v for k, v in row.items() if not k.endswith("dur")} for row in est.history_]

    params = dict(database=db, batch_size=int(batch_size), **eval(encoder))
    enc = RelationalContrastiveEncoder(checkpoint_dir=checkpoint_dir, **params).fit(X)
    enc_seeds, seeds[:] = list(seeds), []
    result = {"enc_history": history(enc), "enc_seeds": enc_seeds,
              "enc_weights": {k: v.numpy() for k, v in enc.module_.state_dict().items()},
              "embeddings": enc.transform(X)}
    if checkpoint_dir is not None:  # a finished checkpoint: read by rank 0, broadcast
        again = RelationalContrastiveEncoder(checkpoint_dir=checkpoint_dir, **params).fit(X)
        result["resumed_history"] = history(again)
        result["resumed_embeddings"] = again.transform(X)
    clf = RelationalClassifier(database=db, batch_size=int(batch_size),
                               **eval(classifier)).fit(X, y)
    result.update(clf_history=history(clf), clf_seeds=list(seeds),
                  clf_weights={k: v.numpy() for k, v in clf.module_.state_dict().items()},
                  proba=clf.predict_proba(X))
    with open(f"{out}-{rank}.pkl", "wb") as f:
        pickle.dump(result, f)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
""")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distributed")
    script = tmp / "fit.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [repr(ENCODER), repr(CLASSIFIER)]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              "--nproc_per_node=2"]
    procs = {  # concurrently: one process, and two ranks under torchrun
        "single": subprocess.Popen(
            [sys.executable, str(script), str(tmp / "single"), *args, str(GLOBAL_BATCH)],
            env={**env, "PYTHONHASHSEED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True),
        "ddp": subprocess.Popen(
            [*launch, str(script), str(tmp / "ddp"), *args, str(GLOBAL_BATCH // 2),
             str(tmp / "checkpoints")],
            env={**env, "PYTHONHASHSEED": "2"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True),
    }
    stdout = {}
    for name, proc in procs.items():
        stdout[name], stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name} run failed:\n{stderr[-3000:]}"

    def load(name):
        with open(tmp / f"{name}.pkl", "rb") as f:
            return pickle.load(f)

    return {"single": load("single-0"), "ranks": [load("ddp-0"), load("ddp-1")],
            "stdout": stdout, "checkpoints": tmp / "checkpoints"}


def _column(history, key):
    return np.array([row[key] for row in history])


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name, value in a.items():
        np.testing.assert_array_equal(b[name], value, err_msg=name)


def test_both_ranks_end_with_identical_weights_and_history(runs):
    rank0, rank1 = runs["ranks"]
    for model in ("enc", "clf"):
        _assert_same_weights(rank0[f"{model}_weights"], rank1[f"{model}_weights"])
        assert rank0[f"{model}_history"] == rank1[f"{model}_history"]
    np.testing.assert_array_equal(rank0["embeddings"], rank1["embeddings"])
    np.testing.assert_array_equal(rank0["proba"], rank1["proba"])


@pytest.mark.parametrize("model", ["enc", "clf"])
def test_the_ranks_share_out_the_single_process_batches(runs, model):
    single = runs["single"][f"{model}_seeds"]
    rank0, rank1 = (r[f"{model}_seeds"] for r in runs["ranks"])
    assert len(rank0) == len(rank1) == len(single) > 0  # as many steps
    for step, (a, b, whole) in enumerate(zip(rank0, rank1, single, strict=True)):
        assert len(a) == len(b)  # equal shares
        union = np.concatenate([a, b])
        np.testing.assert_array_equal(np.unique(union, axis=0, return_counts=True)[1],
                                      np.unique(whole, axis=0, return_counts=True)[1],
                                      err_msg=f"step {step}")
        np.testing.assert_array_equal(np.unique(union, axis=0), np.unique(whole, axis=0),
                                      err_msg=f"step {step}")


def test_the_classifier_follows_the_single_process_trajectory(runs):
    single, ddp = runs["single"], runs["ranks"][0]
    assert len(ddp["clf_history"]) == len(single["clf_history"])
    for key in ("train_loss", "valid_loss"):
        np.testing.assert_allclose(_column(ddp["clf_history"], key),
                                   _column(single["clf_history"], key), rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(ddp["proba"], single["proba"], atol=1e-5)


def test_pretraining_follows_the_single_process_trajectory_loosely(runs):
    single, ddp = runs["single"], runs["ranks"][0]
    assert len(ddp["enc_history"]) == len(single["enc_history"])
    for key in ("train_loss", "valid_loss"):
        a, b = _column(ddp["enc_history"], key), _column(single["enc_history"], key)
        np.testing.assert_allclose(a, b, rtol=0.05, err_msg=key)
        assert a[-1] < a[0] - 0.2, key  # it learns


def test_rank_0_alone_prints_and_writes_the_checkpoint(runs):
    # the classifier's per-epoch table (verbose=1) is printed once, not once per rank
    assert runs["stdout"]["ddp"].count("valid_loss") == runs["stdout"]["single"].count(
        "valid_loss") == 1
    files = sorted(p.name for p in runs["checkpoints"].iterdir())
    assert files == ["checkpoint.pt"]
    state = torch.load(runs["checkpoints"] / "checkpoint.pt", weights_only=False)
    assert state["done"] and len(state["ranks"]) == 2  # every rank's generators
    rank0 = runs["ranks"][0]
    assert rank0["resumed_history"] == rank0["enc_history"]  # a finished run: no epoch
    np.testing.assert_array_equal(rank0["resumed_embeddings"], rank0["embeddings"])


def test_a_checkpoint_of_two_ranks_is_refused_by_one_process(runs):
    tables, schema = make_synthetic_database()
    X = tables["orders"][["order_id", "ts"]]
    enc = RelationalContrastiveEncoder(database=RelationalDatabase(tables, schema),
                                       batch_size=GLOBAL_BATCH // 2, **ENCODER,
                                       checkpoint_dir=runs["checkpoints"])
    with pytest.raises(ValueError, match="holds a checkpoint of another configuration"):
        enc.fit(X)


RESUME_SCRIPT = textwrap.dedent("""
    import os, pickle, sys
    from relcontrast import RelationalClassifier, RelationalContrastiveEncoder
    from relcontrast import RelationalDatabase
    from relcontrast.testing import make_synthetic_database

    checkpoint_dir, out, drop = sys.argv[1] or None, sys.argv[2], int(sys.argv[3])
    rank = int(os.environ["RANK"])
    tables, schema = make_synthetic_database()
    X, y = tables["orders"][["order_id", "ts"]], tables["orders"]["status"]
    if rank == 1 and drop:  # rows that differ between the ranks
        X, y = X.iloc[:-drop], y.iloc[:-drop]
    try:
        clf = RelationalClassifier(
            database=RelationalDatabase(tables, schema), pretrain=False,
            encoder=RelationalContrastiveEncoder(hidden_channels=16), max_epochs=12,
            batch_size=8, patience=3, lr_schedule="cosine", random_state=0,
            checkpoint_dir=checkpoint_dir).fit(X, y)
        result = {"weights": {k: v.numpy() for k, v in clf.module_.state_dict().items()},
                  "history": [{k: v for k, v in r.items() if not k.endswith("dur")}
                              for r in clf.history_], "proba": clf.predict_proba(X)}
    except ValueError as exc:
        result = {"error": str(exc)}
    with open(f"{out}-{rank}.pkl", "wb") as f:
        pickle.dump(result, f)
""")


_HASH_SEEDS = itertools.count(3)  # every launch hashes strings differently


def _launch(tmp_path, checkpoint_dir, name, drop, wait=True):
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    env = {**os.environ, "PYTHONHASHSEED": str(next(_HASH_SEEDS)), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc_per_node=2", str(script), str(checkpoint_dir),
                             str(tmp_path / name), str(drop)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # its own group, to kill
    if wait:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()[-3000:]
        return [pickle.loads((tmp_path / f"{name}-{r}.pkl").read_bytes()) for r in (0, 1)]
    return proc


@pytest.mark.slow
def test_a_killed_distributed_run_resumes_to_the_uninterrupted_result(tmp_path):
    reference = _launch(tmp_path, "", "reference", 0)
    checkpoints = tmp_path / "checkpoints"
    proc = _launch(tmp_path, checkpoints, "killed", 0, wait=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (checkpoints / "checkpoint.pt").exists():
            state = torch.load(checkpoints / "checkpoint.pt", weights_only=False)
            if len(state["history"]) >= 4 and not state["done"]:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks
    proc.wait()
    resumed = _launch(tmp_path, checkpoints, "resumed", 0)
    for rank in (0, 1):
        assert resumed[rank]["history"] == reference[rank]["history"]
        _assert_same_weights(reference[rank]["weights"], resumed[rank]["weights"])
        np.testing.assert_array_equal(resumed[rank]["proba"], reference[rank]["proba"])


@pytest.mark.slow
def test_ranks_with_different_rows_refuse_to_train(tmp_path):
    for result in _launch(tmp_path, "", "mismatch", 2):
        assert "got different rows X or targets y" in result["error"]
