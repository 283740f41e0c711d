"""Cell-level corruption of torch-frame TensorFrames for the row-level objective.

Every feature cell of a batch frame is, independently with probability ``rate``, replaced by
the same column's value in a donor row of the full table: ``"empirical"`` draws the donor row
uniformly (the column's empirical distribution), ``"uniform"`` draws it from a per-column pool
holding one representative row per distinct value (uniform over the distinct values).
Primary and foreign keys are never features, so they are never corrupted.

All stypes are supported: dense tensors (numerical, categorical, timestamp), multi-embedding
tensors (text_embedded, image_embedded, embedding), multi-nested tensors (multicategorical,
sequence_numerical) and dicts of multi-nested tensors (text_tokenized). Each is handled by
vectorised gathers over the corrupted cells only; no Python loop runs over rows or columns.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import Tensor
from torch_frame import TensorFrame
from torch_frame.data import MultiEmbeddingTensor, MultiNestedTensor

from relcontrast.pretraining.cell_keys import KEY_ROWS, first_rows, keys_reader, row_hash
from relcontrast.sampling._common import segment_offsets

__all__ = ["CORRUPTION_MODES", "column_order", "corrupt_tensor_frame", "distinct_value_pools"]

#: Valid values of ``mode`` in :func:`corrupt_tensor_frame`.
CORRUPTION_MODES = ("uniform", "empirical")


def column_order(tf: TensorFrame) -> list[str]:
    """Column names of ``tf`` in the order of the columns of a corruption mask.

    The order of ``tf.col_names_dict``: its stypes in turn, each stype's columns in order.

    Parameters
    ----------
    tf : TensorFrame

    Returns
    -------
    list of str
    """
    return [name for names in tf.col_names_dict.values() for name in names]


def distinct_value_pools(donor_tf: TensorFrame, rows: Tensor | None = None
                         ) -> dict[str, Tensor]:
    """One representative row per distinct value of every column of a table.

    Compute once per table and pass to :func:`corrupt_tensor_frame` for
    ``mode="uniform"``. Missing values (NaN, or -1 for integer stypes) form one distinct value
    of their own. A multicategorical / sequence value is the ordered list it stores.

    Parameters
    ----------
    donor_tf : TensorFrame
        The full table.
    rows : LongTensor, default=None
        Ascending positions of the rows of ``donor_tf`` that may donate (e.g. those up to the
        pretraining cutoff time): the distinct values are those of these rows. None: all.

    Returns
    -------
    dict of str to LongTensor
        ``{column: rows}``, ``rows`` the ascending CPU indices (into ``donor_tf``) of the first
        row (of ``rows``) holding each distinct value of the column.

    Examples
    --------
    >>> import torch, torch_frame
    >>> tf = torch_frame.TensorFrame(
    ...     {torch_frame.numerical: torch.tensor([[1.0], [float("nan")], [1.0], [float("nan")]])},
    ...     {torch_frame.numerical: ["x"]})
    >>> distinct_value_pools(tf)
    {'x': tensor([0, 1])}
    >>> distinct_value_pools(tf, rows=torch.tensor([2, 3]))
    {'x': tensor([2, 3])}
    """
    pools = {}
    n = donor_tf.num_rows if rows is None else len(rows)
    for st, names in donor_tf.col_names_dict.items():
        feat = donor_tf.feat_dict[st]
        for j, name in enumerate(names):
            if n == 0:
                pools[name] = torch.empty(0, dtype=torch.long)
                continue
            read_all = keys_reader(feat, j)
            read = read_all if rows is None else (lambda at, read_all=read_all:
                                                  read_all(rows[at]))
            chunks = [slice(i, i + KEY_ROWS) for i in range(0, n, KEY_ROWS)]
            first, inverse = first_rows(torch.cat([row_hash(read(c)) for c in chunks]))
            if not all(torch.equal(read(first[inverse[c]]), read(c)) for c in chunks):
                # a 64-bit hash collision: group by the values themselves
                first, _ = first_rows(torch.unique(read(slice(None)), dim=0,
                                                    return_inverse=True)[1])
            first = first.sort().values.cpu()
            pools[name] = first if rows is None else rows[first].cpu()
    return pools


def _corrupt_dense(feat: Tensor, donor: Tensor, cells: tuple[Tensor, Tensor], donor_rows: Tensor,
                   donor_cols: Tensor) -> Tensor:
    """Dense ``[n, c, ...]`` stype data with the given cells taken from donor rows."""
    r, c = cells
    out = feat.clone()
    picked = donor[donor_rows.to(donor.device), donor_cols[c].to(donor.device)]  # [k, ...]
    out[r.to(feat.device), c.to(feat.device)] = picked.to(feat.device, feat.dtype)
    return out


def _corrupt_multi_embedding(feat: MultiEmbeddingTensor, donor: MultiEmbeddingTensor,
                             cells: tuple[Tensor, Tensor], donor_rows: Tensor,
                             donor_cols: Tensor) -> MultiEmbeddingTensor:
    dev = feat.values.device
    r, c = cells[0].to(dev), cells[1].to(dev)
    dc = donor_cols.to(dev)[c]
    offset, d_offset = feat.offset.to(dev), donor.offset.to(dev)
    dims = (offset[1:] - offset[:-1])[c]  # [k]
    cell, pos = segment_offsets(dims)  # one entry per corrupted embedding value
    d_row = donor_rows.to(donor.values.device)[cell.to(donor.values.device)]
    d_pos = (d_offset[dc][cell] + pos).to(donor.values.device)
    values = feat.values.clone()
    values[r[cell], offset[c][cell] + pos] = donor.values[d_row, d_pos].to(dev, values.dtype)
    return MultiEmbeddingTensor(feat.num_rows, feat.num_cols, values, feat.offset)


def _corrupt_multi_nested(feat: MultiNestedTensor, donor: MultiNestedTensor,
                          cells: tuple[Tensor, Tensor], donor_rows: Tensor,
                          donor_cols: Tensor) -> MultiNestedTensor:
    dev = feat.values.device
    n, c = feat.num_rows, feat.num_cols
    offset = feat.offset.to(dev)
    flat = cells[0].to(dev) * c + cells[1].to(dev)  # [k] corrupted cells, row-major
    d_flat = (donor_rows * donor.num_cols + donor_cols[cells[1]]).to(donor.offset.device)
    start = offset[:-1].clone()  # [n * c]
    length = offset[1:] - offset[:-1]  # [n * c]
    start[flat] = donor.offset[d_flat].to(dev)
    length[flat] = (donor.offset[d_flat + 1] - donor.offset[d_flat]).to(dev)
    from_donor_cell = torch.zeros(n * c, dtype=torch.bool, device=dev)
    from_donor_cell[flat] = True
    new_offset = torch.zeros(n * c + 1, dtype=torch.long, device=dev)
    torch.cumsum(length, 0, out=new_offset[1:])
    cell, pos = segment_offsets(length)  # one entry per output value
    src = start[cell] + pos
    from_donor = from_donor_cell[cell]
    values = feat.values.new_empty(int(new_offset[-1]))
    values[~from_donor] = feat.values[src[~from_donor]]
    values[from_donor] = donor.values[src[from_donor].to(donor.values.device)].to(
        dev, values.dtype)
    return MultiNestedTensor(n, c, values, new_offset)


def corrupt_tensor_frame(
    tf: TensorFrame,
    donor_tf: TensorFrame,
    rate: float,
    generator: torch.Generator,
    *,
    mode: str = "uniform",
    donor_pools: Mapping[str, Tensor] | None = None,
    donor_rows: Tensor | None = None,
) -> tuple[TensorFrame, Tensor]:
    """Replace each feature cell, with probability ``rate``, by a value of its column.

    Parameters
    ----------
    tf : TensorFrame
        The rows to corrupt (e.g. a sampled batch of one table). Never modified.
    donor_tf : TensorFrame
        The full table the replacement values come from; it must hold every column of ``tf``
        with the same stype. Bound it by the pretraining cutoff time (or pass
        ``donor_rows``), so no value from after the cutoff enters a corrupted row.
    rate : float
        Probability, in [0, 1], that a cell is corrupted; cells are drawn independently.
    generator : torch.Generator
        The only source of randomness (CPU generator; results are moved to ``tf``'s device).
    mode : {"uniform", "empirical"}, default="uniform"
        ``"empirical"``: the donor is a uniformly random row of the table, so the value follows
        the column's empirical distribution. ``"uniform"``: the value is uniform over the
        column's distinct values (missing is one of them).
    donor_pools : dict of str to LongTensor, default=None
        :func:`distinct_value_pools` of ``donor_tf`` (and ``donor_rows``), for
        ``mode="uniform"``; computed here if None (costly: compute it once per table and
        pass it).
    donor_rows : LongTensor, default=None
        Ascending positions of the rows of ``donor_tf`` that may donate, e.g. those up to the
        pretraining cutoff time; None: every row.

    Returns
    -------
    tf_corrupt : TensorFrame
        Same stypes, column names, column order, shapes, ``y`` and device as ``tf``.
    mask : BoolTensor of shape [num_rows, num_cols]
        True for each corrupted cell (even if the drawn value equals the old one); columns in
        the order of :func:`column_order` ``(tf)``.

    Examples
    --------
    >>> import torch, torch_frame
    >>> full = torch_frame.TensorFrame({torch_frame.categorical: torch.arange(10).view(5, 2)},
    ...                                {torch_frame.categorical: ["a", "b"]})
    >>> out, mask = corrupt_tensor_frame(full[torch.tensor([0, 1])], full, 0.5,
    ...                                  torch.Generator().manual_seed(0), mode="empirical")
    >>> mask.shape
    torch.Size([2, 2])
    """
    if mode not in CORRUPTION_MODES:
        raise ValueError(f"Unknown corruption mode {mode!r}; choose one of {CORRUPTION_MODES}.")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"Corruption rate must be in [0, 1], got {rate}.")
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), "
            f"got {type(generator).__name__}."
        )
    columns = column_order(tf)
    donor_index = {name: (st, j) for st, names in donor_tf.col_names_dict.items()
                   for j, name in enumerate(names)}
    for st in tf.col_names_dict:
        for name in tf.col_names_dict[st]:
            if name not in donor_index or donor_index[name][0] != st:
                found = "missing" if name not in donor_index else donor_index[name][0].name
                raise ValueError(
                    f"Column {name!r} ({st.name}) of the frame to corrupt has no {st.name} "
                    f"column in donor_tf ({found}); pass the full table's TensorFrame as "
                    f"donor_tf."
                )
    if mode == "uniform" and donor_pools is None:
        donor_pools = distinct_value_pools(donor_tf, donor_rows)
    num_rows, num_cols = tf.num_rows, len(columns)
    n_donor = donor_tf.num_rows if donor_rows is None else len(donor_rows)

    # Donor draws, one per cell; empirical: a row, uniform: a position in the column's pool.
    gen_dev = generator.device
    mask = torch.rand((num_rows, num_cols), generator=generator, device=gen_dev) < rate
    choice = torch.rand((num_rows, num_cols), generator=generator, device=gen_dev,
                        dtype=torch.float64)
    mask, choice = mask.cpu(), choice.cpu()
    if mode == "empirical":
        sizes = torch.full((num_cols,), n_donor, dtype=torch.long)
    else:
        missing = [name for name in columns if name not in donor_pools]
        if missing:
            raise ValueError(
                f"donor_pools has no pool for columns {missing}; compute it with "
                f"distinct_value_pools(donor_tf)."
            )
        pools = [donor_pools[name].cpu().long() for name in columns]
        sizes = torch.tensor([p.numel() for p in pools], dtype=torch.long)  # [num_cols]
        flat_pool = torch.cat(pools) if pools else torch.empty(0, dtype=torch.long)
        pool_start = torch.cumsum(sizes, 0) - sizes  # [num_cols]
    mask &= (sizes > 0).unsqueeze(0)  # [num_rows, num_cols]; empty columns have no donor
    r, c = mask.nonzero(as_tuple=True)
    pick = (choice[r, c] * sizes[c]).long().minimum(sizes[c] - 1)  # [num_corrupted]
    if mode == "uniform":  # [num_corrupted] donor rows
        donors = flat_pool[pool_start[c] + pick]
    else:
        donors = pick if donor_rows is None else donor_rows.cpu()[pick]

    feat_dict, first = {}, 0
    for st, names in tf.col_names_dict.items():
        feat = tf.feat_dict[st]
        last = first + len(names)
        sel = (c >= first) & (c < last)
        cells, rows = (r[sel], c[sel] - first), donors[sel]
        d_cols = torch.tensor([donor_index[name][1] for name in names], dtype=torch.long)
        d_feat = donor_tf.feat_dict[st]
        if isinstance(feat, MultiEmbeddingTensor):
            feat_dict[st] = _corrupt_multi_embedding(feat, d_feat, cells, rows, d_cols)
        elif isinstance(feat, MultiNestedTensor):
            feat_dict[st] = _corrupt_multi_nested(feat, d_feat, cells, rows, d_cols)
        elif isinstance(feat, Mapping):  # text_tokenized: the same cells in every tensor
            feat_dict[st] = {k: _corrupt_multi_nested(f, d_feat[k], cells, rows, d_cols)
                             for k, f in feat.items()}
        else:
            feat_dict[st] = _corrupt_dense(feat, d_feat, cells, rows, d_cols)
        first = last

    if not feat_dict:
        out = copy.copy(tf)
    else:
        out = TensorFrame(feat_dict, {st: list(names) for st, names in tf.col_names_dict.items()},
                          y=tf.y, num_rows=num_rows)
    device = tf.device if tf.device is not None else torch.device("cpu")
    return out, mask.to(device)

