"""Input fingerprints and the false negatives they mask (``false_negatives="same_input"``)."""

from __future__ import annotations

import pytest
import torch
import torch_frame
from skorch.dataset import Dataset
from torch_geometric.data import HeteroData

from relcontrast import RelationalContrastiveEncoder
from relcontrast.datasets import VAL_TIMESTAMP, load_f1
from relcontrast.pretraining import (
    ContextObjective,
    ContrastiveLoss,
    LinkObjective,
    RowObjective,
    info_nce,
    input_fingerprints,
    pretraining_rows,
    pretraining_seeds,
)

DAY = 86_400 * 10**9
FWD = ("a", "f2p_b_id", "b")
REV = ("b", "rev_f2p_b_id", "a")


def _tf(values) -> torch_frame.TensorFrame:
    x = torch.tensor(values, dtype=torch.float).reshape(-1, 1)
    return torch_frame.TensorFrame({torch_frame.numerical: x}, {torch_frame.numerical: ["v"]})


def _batch(a_values, a_age_days, b_values, edges) -> HeteroData:
    """``a`` rows (timed) referencing ``b`` rows (untimed); ``edges`` are ``(a, b)`` pairs."""
    batch = HeteroData()
    batch["a"].n_id = torch.arange(len(a_values))
    batch["a"].tf = _tf(a_values)
    batch["a"].ref_time = torch.full((len(a_values),), 1000 * DAY)
    batch["a"].time = batch["a"].ref_time - torch.tensor(a_age_days) * DAY
    batch["b"].n_id = torch.arange(100, 100 + len(b_values))
    batch["b"].tf = _tf(b_values)
    edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)  # [2, E]
    batch[FWD].edge_index = edge_index
    batch[REV].edge_index = edge_index.flip(0)
    return batch


def _groups(fp: torch.Tensor) -> list[list[int]]:
    """Nodes grouped by equal fingerprint, groups of one left out."""
    out: dict[int, list[int]] = {}
    for i, h in enumerate(fp.tolist()):
        out.setdefault(h, []).append(i)
    return sorted(g for g in out.values() if len(g) > 1)


def test_fingerprints_separate_exactly_what_the_inputs_separate():
    # a0 and a1: same value, same age, and their b neighbours (b0, b1) have the same value.
    # a2 differs in age, a3 in value; a4 equals a0 itself but its neighbour b2 does not.
    batch = _batch(a_values=[1.0, 1.0, 1.0, 2.0, 1.0], a_age_days=[5, 5, 6, 5, 5],
                   b_values=[3.0, 3.0, 4.0], edges=[(0, 0), (1, 1), (2, 0), (3, 0), (4, 2)])
    rows_only = input_fingerprints(batch, ["a", "b"], num_rounds=0)
    assert _groups(rows_only["a"]) == [[0, 1, 4]]
    assert _groups(rows_only["b"]) == [[0, 1]]
    one_hop = input_fingerprints(batch, ["a", "b"], num_rounds=1)
    assert _groups(one_hop["a"]) == [[0, 1]]
    # b0 is referenced by a0, a2, a3, b1 by a1 alone: different neighbourhoods from round 1
    assert _groups(one_hop["b"]) == []


def test_fingerprints_are_a_multiset_hash_of_typed_neighbours():
    batch = _batch(a_values=[1.0, 1.0], a_age_days=[0, 0], b_values=[3.0, 3.0],
                   edges=[(0, 0), (1, 0), (1, 1)])
    shuffled = batch.clone()
    for et in (FWD, REV):
        shuffled[et].edge_index = batch[et].edge_index[:, [2, 0, 1]]
    fp, fp_shuffled = (input_fingerprints(b, ["a", "b"], 2) for b in (batch, shuffled))
    for nt in ("a", "b"):
        assert torch.equal(fp[nt], fp_shuffled[nt])  # edge order does not matter
    # b0 has two referencing rows, b1 one: multiplicity counts
    assert fp["b"][0] != fp["b"][1]
    # the same neighbour values over another edge type are another input
    typed = _batch(a_values=[1.0, 1.0], a_age_days=[0, 0], b_values=[3.0, 3.0], edges=[])
    typed[REV].edge_index = torch.tensor([[0], [0]])
    typed["b", "other", "a"].edge_index = torch.tensor([[1], [1]])
    assert _groups(input_fingerprints(typed, ["a", "b"], 1)["a"]) == []


def test_fingerprints_canonicalise_missing_values_and_signed_zero():
    batch = _batch(a_values=[float("nan"), float("nan"), 0.0, -0.0, 1.0], a_age_days=[0] * 5,
                   b_values=[3.0], edges=[])
    assert _groups(input_fingerprints(batch, ["a", "b"], 1)["a"]) == [[0, 1], [2, 3]]


def test_info_nce_masks_keys_equal_to_the_positive_in_any_identity():
    q = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    keys = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    positive = torch.tensor([0, 1, 2])
    n_id = torch.tensor([0, 1, 2, 0, 4])  # key 3 is another copy of row 0
    input_id = torch.tensor([7, 8, 9, 7, 8])  # key 4 has the same inputs as key 1
    result = info_nce(q, keys, positive, temperature=0.1, key_ids=[n_id, input_id])
    assert result.num_negatives.tolist() == [3, 3, 4]
    only_rows = info_nce(q, keys, positive, temperature=0.1, key_ids=n_id)
    assert only_rows.num_negatives.tolist() == [3, 4, 4]


def test_objectives_mask_input_identical_candidates():
    # b1 and b2 are different rows with identical inputs; a0 -> b1, a1 -> b2, a2 -> b0
    batch = _batch(a_values=[1.0, 1.0, 2.0], a_age_days=[0, 0, 0], b_values=[3.0, 4.0, 4.0],
                   edges=[(0, 1), (1, 2), (2, 0)])
    plain = batch.clone()
    for nt, fp in input_fingerprints(batch, ["a", "b"], 0).items():
        batch[nt].input_id = fp
    z = {nt: torch.randn(3, 8, generator=torch.Generator().manual_seed(i))
         for i, nt in enumerate(("a", "b"))}
    row = RowObjective(["a", "b"], 8)
    assert row(z, z, plain)["b"].num_negatives.tolist() == [2, 2, 2]
    assert row(z, z, batch)["b"].num_negatives.tolist() == [2, 1, 1]
    assert row(z, z, batch)["a"].num_negatives.tolist() == [1, 1, 2]
    link = LinkObjective([FWD, REV], 8, num_negatives=None)
    assert link(z, batch)[FWD].num_negatives.tolist() == [1, 1, 2]
    # contexts: b1 and b2 are referenced by a0 and a1, whose inputs are identical
    context = ContextObjective(["a", "b"], [FWD, REV], 8)
    assert context(z, plain)["b"].num_negatives.tolist() == [2, 2, 2]
    assert context(z, batch)["b"].num_negatives.tolist() == [2, 1, 1]


@pytest.mark.parametrize("level", ["row", "link", "context"])
def test_masking_by_inputs_leaves_no_collapse_shortcut(level):
    # Every a row has identical inputs, every b row too: a constant encoder still scores
    # chance (1.0), because the mask comes from the inputs, not from the embeddings.
    batch = _batch(a_values=[1.0] * 8 + [2.0] * 8, a_age_days=[0] * 16,
                   b_values=[3.0] * 4 + [5.0] * 4, edges=[(i, i % 8) for i in range(16)])
    for nt, fp in input_fingerprints(batch, ["a", "b"], 0).items():
        batch[nt].input_id = fp
    loss = ContrastiveLoss(["a", "b"], [FWD, REV], 16, objectives=[level])
    z = {nt: torch.ones(batch[nt].n_id.numel(), 16) for nt in ("a", "b")}
    _, levels = loss(z, z, batch)
    assert levels[level] == pytest.approx(1.0, abs=1e-5)


def test_equal_fingerprints_mean_equal_embeddings_on_f1():
    """On a real pretraining batch (F1, default threads), nodes with equal fingerprints get
    the same clean embedding from the backbone, and a share of them exists to be masked.
    (The converse need not hold: ages a nanosecond apart encode alike in float32.)"""
    enc = RelationalContrastiveEncoder(
        cutoff_time=VAL_TIMESTAMP, hidden_channels=32, max_steps=1, steps_per_epoch=1,
        false_negatives="same_input", random_state=0).fit(*load_f1())
    net = enc.net_
    seeds = pretraining_seeds(net.batcher.graph, pretraining_rows(enc.database_, VAL_TIMESTAMP))
    torch.manual_seed(0)  # the type-balanced draw of the batch's seed rows
    x, _ = next(iter(net.get_iterator(Dataset(seeds, None), training=True)))
    batch, _ = net.batcher(x, True)
    # the batcher's per-table attribute hashes give what hashing the batch itself gives
    from_batch = input_fingerprints(batch, net.batcher.graph.node_types, enc.num_layers)
    for nt, fp in from_batch.items():
        assert torch.equal(batch[nt].input_id, fp), nt
    with torch.no_grad():
        z = enc.backbone_.eval()(batch)
    masked = 0
    for nt in batch.node_types:
        fp = batch[nt].input_id
        for group in _groups(fp):
            assert torch.allclose(z[nt][group], z[nt][group[0]].expand(len(group), -1),
                                  atol=1e-5), nt
            masked += len(group)
    total = sum(batch[nt].num_nodes for nt in batch.node_types)
    assert 0.05 < masked / total < 0.9


def test_row_fingerprints_of_list_values_do_not_depend_on_the_chunk(monkeypatch):
    """A list column's keys are padded to its longest value; keyed chunk by chunk, ``["a"]``
    would be padded to 2 in one chunk and 1 in another and hash differently there. Every
    chunk reads the keys of the whole column, so equal values hash alike everywhere."""
    import pandas as pd
    from torch_frame.data import Dataset

    from relcontrast.pretraining import fingerprint, row_fingerprints

    df = pd.DataFrame({"tags": [["a"], ["a", "b"], ["a"], [], ["a"], ["a", "b", "c"]],
                       "v": [1.0, 2.0, 1.0, 3.0, 1.0, 4.0]})
    tf = Dataset(df, {"tags": torch_frame.multicategorical,
                      "v": torch_frame.numerical}).materialize().tensor_frame
    whole = row_fingerprints(tf, 0)
    monkeypatch.setattr(fingerprint, "KEY_ROWS", 2)  # chunks of widths 2, 1 and 3
    chunked = row_fingerprints(tf, 0)
    assert torch.equal(chunked, whole)
    assert chunked[0] == chunked[2] == chunked[4]
    assert len(set(chunked.tolist())) == 4
