"""Batches prepared ahead of the step (used on CUDA): same batches, same order, same fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from relcontrast import RelationalContrastiveEncoder
from relcontrast.estimators import _net
from relcontrast.estimators._prefetch import prefetch
from relcontrast.testing import make_synthetic_database


def _batcher(calls):
    def batcher(x, training):
        calls.append(int(x[0]))
        if int(x[0]) == 3:
            raise ValueError("batch 3 is bad")
        return HeteroData(), {"first": int(x[0]), "training": training}
    return batcher


def test_batches_come_in_order_and_errors_reach_the_consumer():
    calls = []
    items = [(torch.tensor([i, 7]), None) for i in range(3)]
    timing = {}
    out = list(prefetch(iter(items), _batcher(calls), training=False, device="cpu",
                        timing=timing))
    assert [p.extra["first"] for p, _ in out] == [0, 1, 2] == calls
    assert all(len(p) == 2 and p.extra["training"] is False for p, _ in out)
    assert timing["seconds"] >= 0
    with pytest.raises(ValueError, match="batch 3 is bad"):
        list(prefetch(iter([(torch.tensor([i]), None) for i in range(6)]), _batcher([]),
                      training=True, device="cpu"))


def test_a_consumer_that_stops_early_stops_the_worker():
    calls = []
    gen = prefetch(iter([(torch.tensor([i]), None) for i in (0, 1, 2, 4, 5, 6)]),
                   _batcher(calls), training=True, device="cpu", depth=1)
    next(gen)
    gen.close()  # joins the worker
    assert len(calls) <= 3


def test_a_prefetched_fit_is_bitwise_the_inline_one(monkeypatch):
    tables, schema = make_synthetic_database()
    params = dict(hidden_channels=8, max_steps=4, steps_per_epoch=2, batch_size=16,
                  random_state=0)
    inline = RelationalContrastiveEncoder(**params).fit(tables, schema)
    monkeypatch.setattr(_net, "PREFETCH_DEVICES", ("cpu", "cuda"))
    ahead = RelationalContrastiveEncoder(**params).fit(tables, schema)
    X = tables["orders"][["order_id", "ts"]]
    np.testing.assert_array_equal(ahead.transform(X), inline.transform(X))
    for a, b in zip(ahead.history_, inline.history_, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["valid_loss"] == b["valid_loss"]
