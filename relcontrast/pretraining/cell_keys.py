"""Cell keys: the values of a column as rows of a tensor that are equal exactly when the
values are, read in bounded chunks of rows, and a 64-bit hash of each row of them. What the
corruption pools group rows by and the input fingerprints hash."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor
from torch_frame.data import MultiEmbeddingTensor, MultiNestedTensor

from relcontrast.sampling._common import segment_offsets

__all__ = ["GOLDEN", "KEY_ROWS", "canonical", "column_keys", "first_rows", "keys_reader",
           "row_hash"]


def canonical(x: Tensor) -> Tensor:
    """``x`` ``[n, f]`` -> a tensor whose rows are equal exactly when the values are equal,
    with every NaN one value (and -0.0 equal to 0.0)."""
    if not x.is_floating_point():
        return x
    nan = torch.isnan(x)
    return torch.cat([nan.to(x.dtype), torch.nan_to_num(x, nan=0.0) + 0.0], dim=1)  # [n, 2f]


def column_keys(feat, col: int) -> Tensor:
    """One row per table row identifying the value of column ``col`` of an stype's data."""
    if isinstance(feat, MultiEmbeddingTensor):
        return canonical(feat.values[:, feat.offset[col]:feat.offset[col + 1]])  # [n, dim]
    if isinstance(feat, MultiNestedTensor):
        n, c = feat.num_rows, feat.num_cols
        cells = torch.arange(n, device=feat.offset.device) * c + col  # [n]
        start, length = feat.offset[cells], feat.offset[cells + 1] - feat.offset[cells]
        width = int(length.max()) if n else 0
        dense = feat.values.new_zeros((n, width))  # [n, max_length]
        row, pos = segment_offsets(length)
        dense[row, pos] = feat.values[start[row] + pos]
        return torch.cat([length.unsqueeze(1).to(dense.dtype), canonical(dense)], dim=1)
    if isinstance(feat, Mapping):  # text_tokenized: the value is the tuple of its tensors
        return torch.cat([column_keys(f, col).to(torch.float64) for f in feat.values()], 1)
    return canonical(feat[:, col].reshape(feat.size(0), -1))  # [n, feature_dim]


# rows whose column keys are built at once: a text embedding column of millions of rows
# would otherwise be copied several times over (canonical's NaN mask, filled copy, cat)
KEY_ROWS = 1 << 16


def keys_reader(feat, col: int) -> Callable[[slice | Tensor], Tensor]:
    """A function ``rows -> column_keys(feat, col)[rows]`` that reads only those rows of
    dense and embedding data; ragged data is keyed whole once."""
    if isinstance(feat, MultiEmbeddingTensor):
        lo, hi = int(feat.offset[col]), int(feat.offset[col + 1])
        return lambda rows: canonical(feat.values[rows, lo:hi])
    if isinstance(feat, Tensor):
        def read(rows):
            x = feat[rows, col]
            return canonical(x.reshape(x.size(0), -1))  # [rows, feature_dim]
        return read
    keys = column_keys(feat, col)
    return lambda rows: keys[rows]


GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64


def row_hash(keys: Tensor) -> Tensor:
    """A 64-bit hash ``[n]`` of every row of ``keys`` ``[n, d]`` from its values' bits:
    equal rows hash alike, so grouping by it is grouping by value barring a collision (which
    :func:`distinct_value_pools` checks for). A sort of ``n`` integers instead of ``n``
    rows of ``d`` values: ``torch.unique(dim=0)`` over text embeddings took minutes at
    millions of rows."""
    h = torch.zeros(keys.size(0), dtype=torch.int64, device=keys.device)
    for j in range(keys.size(1)):  # one column at a time; int64 arithmetic wraps around
        col = keys[:, j]
        bits = col.to(torch.float64).view(torch.int64) if col.is_floating_point() else (
            col.to(torch.int64))
        h = (h ^ bits) * GOLDEN
        h = h ^ (h >> 31)
    return h


def first_rows(group: Tensor) -> tuple[Tensor, Tensor]:
    """For a label per row, ``(first row of each distinct label, each row's label index)``."""
    _, inverse = torch.unique(group, return_inverse=True)
    n = group.numel()
    first = torch.full((int(inverse.max()) + 1,), n, dtype=torch.long, device=group.device)
    rows = torch.arange(n, device=group.device)
    return first.scatter_reduce(0, inverse, rows, reduce="amin"), inverse  # [num_distinct]
