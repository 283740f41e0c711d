"""The estimators on a CUDA device: skipped where torch sees none.

On a GPU machine, ``pytest tests/test_cuda.py`` checks that pretraining (with every
objective), fine-tuning, from-scratch models and ``transform`` run with ``device="cuda"``,
that fitted modules live there, and that a CUDA fit agrees with a CPU fit of the same seed
to float tolerance (scatter reductions on CUDA are not bitwise reproducible).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from relcontrast import (
    RelationalClassifier,
    RelationalContrastiveEncoder,
    RelationalDatabase,
    RelationalRegressor,
)
from relcontrast.testing import make_synthetic_database

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

ENC = dict(hidden_channels=16, num_neighbors=(8, 4), max_steps=4, steps_per_epoch=2,
           batch_size=32, random_state=0,
           objectives=("row", "link", "context", "predictive"))


@pytest.fixture(scope="module")
def data():
    tables, schema = make_synthetic_database()
    db = RelationalDatabase(tables, schema)
    orders = tables["orders"]
    X = orders[["user_id", "ts"]].rename(columns={"ts": "at"}).head(120)
    y = (orders["quantity"].head(120) > 2).astype(int).to_numpy()
    return db, X.reset_index(drop=True), y


@pytest.fixture(scope="module")
def encoders(data):
    db, _, _ = data
    return {device: RelationalContrastiveEncoder(device=device, **ENC).fit(db)
            for device in ("cpu", "cuda")}


def test_pretraining_runs_on_the_gpu(encoders, data):
    enc = encoders["cuda"]
    assert all(p.device.type == "cuda" for p in enc.backbone_.parameters())
    z = enc.transform(data[1])
    assert z.shape == (len(data[1]), 16) and np.isfinite(z).all()


def test_cuda_and_cpu_fits_agree(encoders, data):
    """Same seed, same draws: the two fits differ only by float rounding."""
    z_cpu = encoders["cpu"].transform(data[1])
    z_cuda = encoders["cuda"].transform(data[1])
    np.testing.assert_allclose(z_cuda, z_cpu, atol=2e-3, rtol=2e-3)


def test_a_cuda_fit_embeds_on_the_cpu(encoders, data):
    enc = pickle.loads(pickle.dumps(encoders["cuda"])).set_params(device="cpu")
    np.testing.assert_allclose(enc.transform(data[1]), encoders["cuda"].transform(data[1]),
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cls", [RelationalClassifier, RelationalRegressor])
def test_supervised_models_on_the_gpu(cls, encoders, data):
    db, X, y = data
    for model in (cls(encoder=encoders["cuda"], max_epochs=2, device="cuda", random_state=0),
                  cls(database=db, encoder=RelationalContrastiveEncoder(hidden_channels=16),
                      pretrain=False, num_neighbors=(8, 4), max_epochs=2, device="cuda",
                      random_state=0)):
        model.fit(X, y.astype(float) if cls is RelationalRegressor else y)
        assert all(p.device.type == "cuda" for p in model.module_.parameters())
        pred = model.predict(X)
        assert pred.shape == (len(X),) and np.isfinite(pred.astype(float)).all()
