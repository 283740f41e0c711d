"""Cell corruption of TensorFrames for the row-level objective."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest
import torch
import torch_frame
from torch_frame import TensorFrame
from torch_frame.config import TextEmbedderConfig
from torch_frame.data import Dataset, MultiEmbeddingTensor, MultiNestedTensor

from relcontrast.database import RelationalDatabase
from relcontrast.pretraining import column_order, corrupt_tensor_frame, distinct_value_pools


def _text_embedder(texts: list[str]) -> torch.Tensor:
    """A deterministic toy text embedder: 4 hashed character counts."""
    out = torch.zeros(len(texts), 4)
    for i, text in enumerate(texts):
        for ch in text:
            out[i, ord(ch) % 4] += 1.0
    return out


@pytest.fixture(scope="module")
def table() -> TensorFrame:
    """A materialised table with every stype relcontrast uses, with missing values."""
    n = 40
    rng = torch.Generator().manual_seed(1)
    num = torch.randn(n, generator=rng)
    num[::9] = float("nan")
    cats = ["red", "green", "blue", None]
    df = pd.DataFrame({
        "amount": num.numpy(),
        "colour": [cats[i % 4] for i in range(n)],
        "when": pd.date_range("2001-01-01", periods=n, freq="7D"),
        "note": [f"note {i % 7}" for i in range(n)],
        "tags": [["a", "b"][: i % 3] for i in range(n)],
    })
    stypes = {"amount": torch_frame.numerical, "colour": torch_frame.categorical,
              "when": torch_frame.timestamp, "note": torch_frame.text_embedded,
              "tags": torch_frame.multicategorical}
    cfg = TextEmbedderConfig(text_embedder=_text_embedder, batch_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Dataset(df, stypes, col_to_text_embedder_cfg=cfg).materialize().tensor_frame


def _numeric_frame(values: torch.Tensor, names: list[str] | None = None) -> TensorFrame:
    names = names or [f"c{j}" for j in range(values.size(1))]
    return TensorFrame({torch_frame.numerical: values}, {torch_frame.numerical: names})


def _col(tf: TensorFrame, name: str):
    """Column ``name`` of ``tf`` (not ``tf.get_col_feat``: materialised frames index
    text_embedded columns under the stype ``embedding``, which ``get_col_feat`` misses)."""
    for st, names in tf.col_names_dict.items():
        if name in names:
            return tf.feat_dict[st][:, names.index(name)]
    raise KeyError(name)


def _cell(tf: TensorFrame, name: str, i: int):
    """The value of one cell as a comparable Python object (NaN as the string 'nan')."""
    feat = _col(tf, name)
    if isinstance(feat, MultiNestedTensor):
        return tuple(feat[i, 0].tolist())
    if isinstance(feat, MultiEmbeddingTensor):
        value = feat.values[i]
    else:
        value = feat[i].reshape(-1)  # [feature_dim]
    return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in value.tolist())


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("mode", ["uniform", "empirical"])
def test_every_stype_is_corrupted_into_valid_values(table, mode):
    batch = table[torch.arange(0, 40, 2)]
    out, mask = corrupt_tensor_frame(batch, table, 0.5, _gen(), mode=mode)
    names = column_order(batch)
    assert mask.shape == (batch.num_rows, len(names)) and mask.dtype == torch.bool
    assert out.col_names_dict == batch.col_names_dict
    for st in batch.stypes:
        before, after = batch.feat_dict[st], out.feat_dict[st]
        assert type(after) is type(before) and after.shape == before.shape
        assert after.dtype == before.dtype
    for j, name in enumerate(names):
        assert mask[:, j].any(), f"column {name} never corrupted"
        column_values = {_cell(table, name, i) for i in range(table.num_rows)}
        for i in range(batch.num_rows):
            if mask[i, j]:
                assert _cell(out, name, i) in column_values
            else:
                assert _cell(out, name, i) == _cell(batch, name, i)


def test_every_column_corrupted_at_rate_one_shapes_and_names_untouched(table):
    batch = table[torch.arange(10)]
    out, mask = corrupt_tensor_frame(batch, table, 1.0, _gen(), mode="empirical")
    names = column_order(batch)
    assert mask.all()
    assert out.num_rows == batch.num_rows and out.num_cols == batch.num_cols
    assert column_order(out) == names


@pytest.mark.parametrize("rate", [0.2, 0.4, 0.6])
def test_realised_fraction_matches_rate(rate):
    donor = _numeric_frame(torch.randn(1000, 10, generator=_gen(3)))
    _, mask = corrupt_tensor_frame(donor, donor, rate, _gen(), mode="empirical")
    assert mask.numel() == 10_000
    assert abs(mask.float().mean().item() - rate) < 0.02


def test_uniform_draws_distinct_values_uniformly_empirical_by_frequency():
    values = torch.zeros(1000, 1)
    values[:10] = 1.0  # one rare value at 1 %
    donor = _numeric_frame(values)
    pools = distinct_value_pools(donor)
    assert pools["c0"].tolist() == [0, 10]
    rare = {}
    for mode in ("uniform", "empirical"):
        out, mask = corrupt_tensor_frame(donor, donor, 1.0, _gen(), mode=mode,
                                         donor_pools=pools)
        assert mask.all()
        rare[mode] = out.feat_dict[torch_frame.numerical].mean().item()
    assert abs(rare["uniform"] - 0.5) < 0.1
    assert rare["empirical"] < 0.03


def test_missing_values_are_one_distinct_value():
    nan = float("nan")
    donor = _numeric_frame(torch.tensor([[nan], [1.0], [nan], [-0.0], [0.0], [1.0]]))
    assert distinct_value_pools(donor)["c0"].tolist() == [0, 1, 3]


def test_distinct_values_of_multi_tensors(table):
    pools = distinct_value_pools(table)
    assert len(pools["tags"]) == 3  # [], ["a"], ["a", "b"]
    assert len(pools["note"]) == len({_cell(table, "note", i) for i in range(table.num_rows)})
    assert len(pools["colour"]) == 4  # three colours and missing


def _pools_by_exact_unique(tf: TensorFrame) -> dict:
    """The first row of each distinct value by an exact row-wise ``torch.unique``."""
    from relcontrast.pretraining.cell_keys import column_keys, first_rows

    return {name: first_rows(torch.unique(column_keys(tf.feat_dict[st], j), dim=0,
                                          return_inverse=True)[1])[0].sort().values
            for st, names in tf.col_names_dict.items() for j, name in enumerate(names)}


@pytest.mark.parametrize("key_rows", [None, 97])
def test_distinct_values_by_row_hash_equal_exact_unique_even_on_a_collision(table, key_rows,
                                                                          monkeypatch):
    """The pools group rows by a 64-bit hash of their values; they are the exact pools
    (checked on every stype, and on F1's tables, text embeddings included), also when the
    keys are built in chunks of rows (97: many chunks, a short last one), and a hash
    collision falls back to the exact grouping instead of merging two values."""
    from relcontrast.datasets import load_f1
    from relcontrast.graph import build_graph
    from relcontrast.pretraining import corruption

    if key_rows is not None:
        monkeypatch.setattr(corruption, "KEY_ROWS", key_rows)
    graph = build_graph(RelationalDatabase(*load_f1()))
    frames = [table, *graph.tf_dict.values()]
    groupings = []  # one per column unless the hash grouping was found wrong
    first_rows = corruption.first_rows
    monkeypatch.setattr(corruption, "first_rows",
                        lambda group: groupings.append(1) or first_rows(group))
    for tf in frames:
        groupings.clear()
        got = distinct_value_pools(tf)
        assert len(groupings) == len(got)  # by the hash alone: no fallback was needed
        exact = _pools_by_exact_unique(tf)
        assert got.keys() == exact.keys()
        assert all(torch.equal(got[c], exact[c]) for c in got)
    monkeypatch.setattr(corruption, "row_hash", lambda keys: torch.zeros(
        keys.size(0), dtype=torch.long))  # every row collides
    got, exact = distinct_value_pools(table), _pools_by_exact_unique(table)
    assert all(torch.equal(got[c], exact[c]) for c in got)
    assert max(len(p) for p in got.values()) > 1


def test_same_seed_same_result_other_seed_differs(table):
    batch = table[torch.arange(20)]
    a, mask_a = corrupt_tensor_frame(batch, table, 0.4, _gen(7))
    b, mask_b = corrupt_tensor_frame(batch, table, 0.4, _gen(7))
    _, mask_c = corrupt_tensor_frame(batch, table, 0.4, _gen(8))
    assert torch.equal(mask_a, mask_b) and not torch.equal(mask_a, mask_c)
    assert a == b


def test_rate_zero_changes_nothing_and_input_is_not_modified(table):
    batch = table[torch.arange(20)]
    snapshot = batch[torch.arange(20)]
    out, mask = corrupt_tensor_frame(batch, table, 0.0, _gen())
    assert not mask.any() and out == batch
    corrupt_tensor_frame(batch, table, 1.0, _gen())
    assert batch == snapshot


def test_empty_batch(table):
    out, mask = corrupt_tensor_frame(table[torch.arange(0)], table, 0.5, _gen())
    assert out.num_rows == 0 and mask.shape == (0, table.num_cols)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "gaussian"}, ValueError, "Unknown corruption mode 'gaussian'"),
        ({"rate": 1.5}, ValueError, r"rate must be in \[0, 1\], got 1.5"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
        ({"donor_pools": {}}, ValueError, "donor_pools has no pool for columns"),
    ],
)
def test_errors(kwargs, error, match):
    donor = _numeric_frame(torch.randn(5, 2))
    args = {"rate": 0.5, "generator": _gen(), **kwargs}
    with pytest.raises(error, match=match):
        corrupt_tensor_frame(donor, donor, args.pop("rate"), args.pop("generator"), **args)


def test_donor_must_hold_every_column():
    tf = _numeric_frame(torch.randn(5, 2), ["x", "y"])
    donor = _numeric_frame(torch.randn(5, 1), ["x"])
    with pytest.raises(ValueError, match="Column 'y' .* has no numerical column in donor_tf"):
        corrupt_tensor_frame(tf, donor, 0.5, _gen())


def test_sequence_and_tokenized_text_columns():
    n = 30
    seqs = [[torch.arange(i % 4, dtype=torch.float) + i, torch.tensor([float("nan")] * (i % 2))]
            for i in range(n)]
    ids = [[torch.arange(i % 5)] for i in range(n)]
    masks = [[torch.ones(i % 5, dtype=torch.long)] for i in range(n)]
    donor = TensorFrame(
        {torch_frame.sequence_numerical: MultiNestedTensor.from_tensor_mat(seqs),
         torch_frame.text_tokenized: {"input_ids": MultiNestedTensor.from_tensor_mat(ids),
                                      "attention_mask": MultiNestedTensor.from_tensor_mat(masks)}},
        {torch_frame.sequence_numerical: ["s1", "s2"], torch_frame.text_tokenized: ["t"]},
    )
    assert len(distinct_value_pools(donor)["s2"]) == 2  # [] and [nan]
    out, mask = corrupt_tensor_frame(donor, donor, 0.5, _gen(), mode="empirical")
    assert mask.any(dim=0).all()
    tok = out.feat_dict[torch_frame.text_tokenized]
    seq = out.feat_dict[torch_frame.sequence_numerical]
    for i in range(n):
        # input_ids and attention_mask come from the same donor row.
        assert len(tok["input_ids"][i, 0]) == len(tok["attention_mask"][i, 0])
        if not mask[i, 0]:
            assert torch.equal(seq[i, 0], seqs[i][0])


@pytest.mark.parametrize("mode", ["uniform", "empirical"])
def test_donor_rows_bound_where_values_come_from(table, mode):
    """With donor_rows (the rows up to a pretraining cutoff), the pools are those rows'
    distinct values as positions of the whole table, and every corrupted cell takes its value
    from one of those rows: as if the table held only them."""
    rows = torch.arange(0, table.num_rows, 3)  # ascending, a third of the rows
    pools = distinct_value_pools(table, rows)
    on_subset = distinct_value_pools(table[rows])
    assert pools.keys() == on_subset.keys()
    assert all(torch.equal(pools[c], rows[on_subset[c]]) for c in pools)
    batch = table[torch.arange(1, table.num_rows, 3)]  # rows that may not donate
    out, mask = corrupt_tensor_frame(batch, table, 1.0, _gen(3), mode=mode, donor_rows=rows)
    same, _ = corrupt_tensor_frame(batch, table[rows], 1.0, _gen(3), mode=mode)
    assert mask.all()
    for names in out.col_names_dict.values():
        for name in names:
            assert [_cell(out, name, i) for i in range(out.num_rows)] == [
                _cell(same, name, i) for i in range(same.num_rows)], name
