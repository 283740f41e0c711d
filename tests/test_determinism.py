"""Seeded fits are bitwise reproducible at the default thread count, on a real database.

With two or more torch threads, CPU scatter / index_add reductions (neighbour aggregation,
the link objective) can sum in a different order on every run; relcontrast runs seeded fits,
transform and predict under ``torch.use_deterministic_algorithms``. These tests run on F1
(large enough for the parallel code paths) with at least two threads, and compare two fits
made in this process; ``test_sklearn_contract.py`` covers joblib round trips and a fresh
process.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from relcontrast import RelationalClassifier, RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.datasets import load_f1, load_f1_task


@pytest.fixture(scope="module")
def f1_db():
    return RelationalDatabase(*load_f1())


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(max(2, before))
    yield torch.get_num_threads()
    torch.set_num_threads(before)


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_two_seeded_pretraining_runs_are_bitwise_identical(f1_db, two_threads):
    assert two_threads >= 2
    params = dict(max_steps=30, hidden_channels=32, random_state=0, cutoff_time="2005-01-01",
                  target_table="drivers")
    val = load_f1_task("driver-dnf", "val").X
    runs = []
    for _ in range(2):
        enc = RelationalContrastiveEncoder(**params).fit(f1_db)
        runs.append((_weights(enc.backbone_), enc.transform(val), enc.history_[:, "train_loss"]))
    (w0, z0, h0), (w1, z1, h1) = runs
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    np.testing.assert_array_equal(z0, z1)
    assert h0 == h1
    assert not torch.are_deterministic_algorithms_enabled()  # the caller's settings are back
    assert torch.utils.deterministic.fill_uninitialized_memory


def test_two_seeded_supervised_runs_are_bitwise_identical(f1_db, two_threads):
    train, val = load_f1_task("driver-top3", "train"), load_f1_task("driver-top3", "val")
    preds = [RelationalClassifier(database=f1_db, max_epochs=2, random_state=0, pretrain=False,
                                  encoder=RelationalContrastiveEncoder(hidden_channels=32),
                                  ).fit(train.X, train.y).predict_proba(val.X)
             for _ in range(2)]
    np.testing.assert_array_equal(preds[0], preds[1])


FRESH_PROCESS = """
import sys
import numpy as np
from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.testing import make_synthetic_database
tables, schema = make_synthetic_database()
db = RelationalDatabase(tables, schema)
enc = RelationalContrastiveEncoder(database=db, max_steps=6, hidden_channels=16,
                                   random_state=0).fit(db)
X = tables["items"][["item_id"]].assign(t=tables["orders"]["ts"].max())
cats = enc.graph_.col_stats_dict["items"]["tags"]
np.savez(sys.argv[1], Z=enc.transform(X), tags=enc.graph_.tf_dict["items"].feat_dict[
    __import__("torch_frame").multicategorical].values.numpy(), cats=np.asarray(cats[
    __import__("torch_frame").data.stats.StatType.MULTI_COUNT][0], dtype=object))
"""


def test_list_columns_embed_identically_whatever_the_string_hashing(tmp_path):
    """torch-frame keeps a list column's categories in Python sets, whose order follows the
    process's string hashing; relcontrast orders them, so two fresh processes with other
    ``PYTHONHASHSEED`` values (and the default thread count) fit and embed bitwise alike."""
    import os
    import subprocess
    import sys

    script = tmp_path / "fit.py"
    script.write_text(FRESH_PROCESS)
    out = []
    for seed in ("1", "2"):
        path = tmp_path / f"out{seed}.npz"
        subprocess.run([sys.executable, str(script), str(path)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        out.append(np.load(path, allow_pickle=True))
    assert out[0]["cats"].tolist() == out[1]["cats"].tolist()
    assert len(out[0]["cats"]) == 4  # new, sale, eco, gift
    np.testing.assert_array_equal(out[0]["tags"], out[1]["tags"])
    np.testing.assert_array_equal(out[0]["Z"], out[1]["Z"])
