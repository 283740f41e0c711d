"""build_graph: tables -> per-table TensorFrames, node times and foreign-key links."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch_frame
from torch import Tensor
from torch_frame.config import TextEmbedderConfig
from torch_frame.data import Dataset, MultiEmbeddingTensor, MultiNestedTensor

from relcontrast._validation import did_you_mean
from relcontrast.database import RelationalDatabase
from relcontrast.graph.column_types import CONST_COLUMN, SUPPORTED_STYPES, infer_column_types
from relcontrast.graph.container import RelationalGraph
from relcontrast.graph.edges import foreign_key_edge_types
from relcontrast.graph.ranks import row_rank
from relcontrast.graph.stats import convert_column, table_stats
from relcontrast.graph.text import HashingTextEncoder

logger = logging.getLogger("relcontrast.graph")


def _parse_overrides(db: RelationalDatabase, column_types) -> dict[str, dict]:
    if column_types is None:
        return {}
    if not isinstance(column_types, Mapping):
        raise TypeError(
            f"column_types must be a dict {{table: {{column: stype}}}}, got "
            f"{type(column_types).__name__}."
        )
    names = {s.value: s for s in SUPPORTED_STYPES}
    out = {}
    for table, cols in column_types.items():
        if table not in db.table_names:
            raise ValueError(
                f"column_types names unknown table {table!r}; tables are "
                f"{list(db.table_names)}.{did_you_mean(table, db.table_names)}"
            )
        if not isinstance(cols, Mapping):
            raise TypeError(
                f"column_types[{table!r}] must be a dict {{column: stype}}, got "
                f"{type(cols).__name__}."
            )
        frame = db.frame(table)
        spec = db.schema[table]
        parsed = {}
        for col, stype in cols.items():
            if col not in frame.columns:
                raise ValueError(
                    f"column_types[{table!r}] names unknown column {col!r}; table {table!r} "
                    f"has columns {list(frame.columns)}.{did_you_mean(col, frame.columns)}"
                )
            if col in spec.key_columns:
                raise ValueError(
                    f"column_types[{table!r}][{col!r}]: {col!r} is a primary or foreign key "
                    f"of table {table!r}; keys are never features. Remove it from "
                    f"column_types."
                )
            if stype is None:
                parsed[col] = None
                continue
            if isinstance(stype, str):
                if stype not in names:
                    raise ValueError(
                        f"column_types[{table!r}][{col!r}] = {stype!r} is not a supported "
                        f"stype; use one of {sorted(names)} (or None to drop the column)."
                        f"{did_you_mean(stype, names)}"
                    )
                stype = names[stype]
            if not isinstance(stype, torch_frame.stype) or stype not in SUPPORTED_STYPES:
                raise ValueError(
                    f"column_types[{table!r}][{col!r}] = {stype!r} is not a supported stype; "
                    f"use one of {sorted(names)} (or None to drop the column)."
                )
            parsed[col] = stype
        out[table] = parsed
    return out


def _sort_within_cells(feat: MultiNestedTensor) -> MultiNestedTensor:
    """The values of every cell of a list column in ascending order. torch-frame stores each
    cell's categories in the iteration order of a Python ``set``, which depends on string
    hashing, so the same rows would give other tensors in another process."""
    values = feat.values  # [num_values] category indices (-1: missing)
    if values.numel() == 0:
        return feat
    length = feat.offset[1:] - feat.offset[:-1]  # [num_cells]
    cell = torch.repeat_interleave(torch.arange(length.numel()), length)  # [num_values]
    low = int(values.min())
    order = torch.argsort(cell * (int(values.max()) - low + 1) + (values - low))
    return MultiNestedTensor(num_rows=feat.num_rows, num_cols=feat.num_cols,
                             values=values[order], offset=feat.offset)


def _features(frame: pd.DataFrame, types: Mapping[str, torch_frame.stype],
              time_column: str | None, time_ns: np.ndarray | None, index=None
              ) -> pd.DataFrame:
    """The feature columns ``types`` of the rows ``index`` of ``frame`` (positions or a
    slice; None: all), converted for torch-frame (:func:`convert_column`); the time column
    as a timestamp feature comes from ``time_ns``, the constant column is ones."""
    n = len(frame) if index is None else len(frame.index[index])
    data = {}
    for col, stype in types.items():
        if col == CONST_COLUMN:
            data[col] = pd.Series(np.ones(n, dtype=np.float64))
        elif col == time_column and stype == torch_frame.timestamp:
            times = time_ns if index is None else time_ns[index]
            data[col] = pd.Series(times.astype("datetime64[ns]"), name=col)
        else:
            ser = frame[col] if index is None else frame[col].iloc[index]
            data[col] = convert_column(ser, stype).reset_index(drop=True)
    return pd.DataFrame(data, index=pd.RangeIndex(n))


# rows converted and materialised at once: bounds the object columns, text vectors and
# torch-frame intermediates of a table of millions of rows to those of this many rows
_MATERIALIZE_ROWS = 1 << 19


def _materialize(frame: pd.DataFrame, types: Mapping[str, torch_frame.stype],
                 time_column: str | None, time_ns: np.ndarray | None,
                 stats: Mapping[str, dict], text_cfg: TextEmbedderConfig
                 ) -> tuple[torch_frame.TensorFrame, dict[str, dict]]:
    """Every row of ``frame`` as a TensorFrame of the columns ``types`` encoded with the
    column statistics ``stats``, and the statistics with the text embedding sizes
    torch-frame adds to them. Tables above :data:`_MATERIALIZE_ROWS` rows are converted and
    materialised in chunks of that many rows, written into the table's tensors as they come:
    torch-frame encodes every row on its own given the statistics, so the tensors are equal
    to those of one pass, and the memory beyond them is one chunk's."""
    n = len(frame)
    if n <= _MATERIALIZE_ROWS:
        return _materialize_rows(frame, types, time_column, time_ns, stats, text_cfg)
    feat_dict, nested, offsets = {}, {}, {}
    for start in range(0, n, _MATERIALIZE_ROWS):
        rows = slice(start, min(start + _MATERIALIZE_ROWS, n))
        chunk, col_stats = _materialize_rows(frame, types, time_column, time_ns, stats,
                                             text_cfg, rows)
        for stype, feat in chunk.feat_dict.items():
            if isinstance(feat, MultiNestedTensor):  # ragged: concatenated at the end
                nested.setdefault(stype, []).append(feat)
                continue
            if isinstance(feat, MultiEmbeddingTensor):
                offsets[stype], feat = feat.offset, feat.values
            if stype not in feat_dict:
                feat_dict[stype] = torch.empty((n, *feat.shape[1:]), dtype=feat.dtype)
            elif (dtype := torch.promote_types(feat_dict[stype].dtype, feat.dtype)
                  ) != feat_dict[stype].dtype:  # timestamps beyond int16 from this chunk on
                feat_dict[stype] = feat_dict[stype].to(dtype)
            feat_dict[stype][rows] = feat
        order, col_names = list(chunk.feat_dict), chunk.col_names_dict
        del chunk
    for stype, offset in offsets.items():
        feat_dict[stype] = MultiEmbeddingTensor(
            num_rows=n, num_cols=len(col_names[stype]), values=feat_dict[stype], offset=offset)
    for stype, parts in nested.items():
        feat_dict[stype] = MultiNestedTensor.cat(parts, dim=0)
    feat_dict = {stype: feat_dict[stype] for stype in order}  # torch-frame's order
    return torch_frame.TensorFrame(feat_dict, col_names), col_stats


# torch-frame's timestamp features (year, month, day, weekday, hour, minute, second; -1 when
# missing) are stored as int16 when they fit (years -32768 to 32767): a quarter of int64's
# memory; TableEncoder widens a batch for torch-frame's encoder, which computes in float32
_INT16 = torch.iinfo(torch.int16)


def _materialize_rows(frame, types, time_column, time_ns, stats, text_cfg, rows=None):
    """:func:`_materialize` of the rows ``rows`` (a slice; None: all) in one pass, timestamp
    features as int16 when they fit."""
    df = _features(frame, types, time_column, time_ns, rows)
    # a copy of the statistics: torch-frame writes the text embedding sizes into them
    dataset = Dataset(df, dict(types), col_to_text_embedder_cfg=text_cfg).materialize(
        col_stats={c: dict(s) for c, s in stats.items()})
    tf = dataset.tensor_frame
    stamps = tf.feat_dict.get(torch_frame.timestamp)
    if stamps is not None and (stamps.numel() == 0 or (
            int(stamps.min()) >= _INT16.min and int(stamps.max()) <= _INT16.max)):
        tf.feat_dict[torch_frame.timestamp] = stamps.to(torch.int16)
    if torch_frame.multicategorical in tf.feat_dict:
        tf.feat_dict[torch_frame.multicategorical] = _sort_within_cells(
            tf.feat_dict[torch_frame.multicategorical])
    return tf, dataset.col_stats


def _stats_rows(db: RelationalDatabase, stats_until) -> dict[str, np.ndarray | None]:
    """Per table, the positions of the rows the statistics come from: the rows
    ``db.upto(stats_until)`` keeps (:meth:`RelationalDatabase.rows_upto`), None for all."""
    try:
        cutoff = pd.Timestamp(stats_until)
    except (TypeError, ValueError) as exc:
        cutoff, reason = pd.NaT, f" ({exc})"
    else:
        reason = ""
    if cutoff is pd.NaT:
        raise ValueError(
            f"stats_until must be a timestamp (a pandas.Timestamp, datetime or date string "
            f"such as '2005-01-01'), got {stats_until!r}{reason}."
        )
    return db.rows_upto(cutoff)


def _links(db: RelationalDatabase):
    """Both edge types of every foreign key of ``db``, and each forward edge type's links
    ``(referencing rows, referenced rows)``."""
    edge_types, links = [], {}
    for fk in db.foreign_keys:
        fwd, rev = foreign_key_edge_types(fk.table, fk.columns, fk.referenced_table)
        links[fwd] = (np.asarray(fk.src_index, dtype=np.int64),
                      np.asarray(fk.dst_index, dtype=np.int64))
        edge_types += [fwd, rev]
    return edge_types, links


def build_graph(
    db: RelationalDatabase,
    *,
    column_types: Mapping[str, Mapping[str, Any]] | None = None,
    text_encoder: Callable[[list[str]], Tensor] | None = None,
    random_state: int = 0,
    reference: RelationalGraph | None = None,
    stats_until: datetime | np.datetime64 | str | None = None,
) -> RelationalGraph:
    """Materialise ``db`` as a :class:`RelationalGraph`.

    Every table becomes a TensorFrame of its non-key columns; a table with no feature column
    gets one constant numerical column ``"__const__"``. The database's frames are never
    modified. Timestamp features hold torch-frame's seven components per cell as int16 where
    every year fits (int64 otherwise), a quarter of torch-frame's memory;
    :class:`~relcontrast.nn.TableEncoder` widens each batch. Tables above 2^19 rows are
    encoded in chunks of rows, with the same tensors as one pass.

    The time column is not a feature by default (RelBench makes it one): a row's time reaches
    the model relative to its seed's time, through the backbone's temporal encoding, while
    an absolute date has to extrapolate to the later periods that validation, test and
    serving rows come from (``docs/decisions.md``). Opt in with
    ``column_types={table: {time_column: "timestamp"}}``.

    Parameters
    ----------
    db : RelationalDatabase
    column_types : dict of str to dict, default=None
        ``{table: {column: stype}}`` overriding :func:`infer_column_types` for the named
        columns; an stype may be given by name (``"categorical"``), and ``None`` drops the
        column. Key columns cannot be features.
    text_encoder : callable, default=None
        Maps a list of str to a float tensor ``[num_texts, dim]``; missing texts are passed
        as ``""``. Defaults to :class:`HashingTextEncoder` ``(n_features=64)``.
    random_state : int, default=0
        Seed of the row sample used by column type inference.
    reference : RelationalGraph, default=None
        Encode ``db`` exactly as ``reference`` encoded its tables: same column types,
        same column statistics (normalisation, category vocabularies) and text encoder.
        Used to read a later or larger version of the database with a fitted model;
        ``column_types``, ``text_encoder`` and ``stats_until`` must then be None.
    stats_until : pandas.Timestamp, datetime or str, default=None
        Infer the column types and compute the column statistics from the rows with time
        <= ``stats_until`` only (untimed tables: all rows), the rows
        ``db.upto(stats_until)`` keeps, and encode every row of ``db`` with them: nothing
        after the cutoff shapes the encoding (normalisation, category vocabularies, dropped
        constant columns), yet later rows are in the graph. One pass, equal to
        ``build_graph(db, reference=build_graph(db.upto(stats_until), column_types=...,
        text_encoder=..., random_state=...))``. None: statistics from all rows.

    Returns
    -------
    RelationalGraph

    Examples
    --------
    >>> from relcontrast import RelationalDatabase
    >>> from relcontrast.graph import build_graph
    >>> from relcontrast.testing import make_synthetic_database
    >>> graph = build_graph(RelationalDatabase(*make_synthetic_database()))
    >>> graph.edge_types[0]
    ('users', 'f2p_referrer', 'users')
    >>> sorted(graph.time_dict)
    ['items', 'orders', 'reviews', 'users']

    Statistics up to a cutoff, every row encoded:

    >>> db = RelationalDatabase(*make_synthetic_database())
    >>> graph = build_graph(db, stats_until="2020-06-01")
    >>> graph.num_nodes["orders"] == db.num_rows("orders")
    True
    """
    if not isinstance(db, RelationalDatabase):
        raise TypeError(
            f"build_graph expects a RelationalDatabase, got {type(db).__name__}; wrap tables "
            f"and schema with RelationalDatabase(tables, schema)."
        )
    if reference is not None:
        if column_types is not None or text_encoder is not None or stats_until is not None:
            raise ValueError(
                "Pass either reference or column_types/text_encoder/stats_until, not both: "
                "a reference graph fixes the column types, statistics and text encoder."
            )
        if set(reference.node_types) != set(db.table_names):
            raise ValueError(
                f"The database's tables {list(db.table_names)} differ from the reference "
                f"graph's {list(reference.node_types)}."
            )
        text_encoder = reference.text_encoder
    stats_rows = {} if stats_until is None else _stats_rows(db, stats_until)
    overrides = _parse_overrides(db, column_types)
    encoder = HashingTextEncoder() if text_encoder is None else text_encoder
    text_cfg = TextEmbedderConfig(text_embedder=encoder, batch_size=None)

    tf_dict, col_stats_dict, col_types, time_dict, num_nodes = {}, {}, {}, {}, {}
    for name in db.table_names:
        frame = db.frame(name)
        spec = db.schema[name]
        n = len(frame)
        num_nodes[name] = n
        time_ns = db.time_ns(name)
        rows = stats_rows.get(name)  # the rows types and statistics come from; None: all
        if reference is not None:
            types = dict(reference.col_types[name])
            missing = [c for c in types if c != CONST_COLUMN and c not in frame.columns]
            if missing:
                raise ValueError(
                    f"Table {name!r} lacks the columns {missing} that the reference graph "
                    f"(the fitted model) encodes; add them back."
                )
        else:
            time_col = () if spec.time_column is None else (spec.time_column,)
            types = infer_column_types(frame if rows is None else frame.iloc[rows],
                                       exclude=spec.key_columns + time_col,
                                       random_state=random_state)  # the copy is freed here
            for col, stype in overrides.get(name, {}).items():
                if stype is None:
                    types.pop(col, None)
                else:
                    types[col] = stype
            types = {c: types[c] for c in frame.columns if c in types}  # column order
        if time_ns is not None:
            time_dict[name] = torch.from_numpy(time_ns.copy())

        if not types or CONST_COLUMN in types:  # no feature column (in the reference)
            types = {CONST_COLUMN: torch_frame.numerical}
        with warnings.catch_warnings():  # torch-frame reads pandas' read-only arrays
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            warnings.filterwarnings("ignore", message=r"Series\.dt\.dayofweek is deprecated")
            if reference is None:  # column by column: one converted column at a time
                stats = {}
                for col, stype in types.items():
                    one = {col: stype}
                    stats.update(table_stats(
                        _features(frame, one, spec.time_column, time_ns, rows), one))
            else:
                stats = reference.col_stats_dict[name]
            tf, stats = _materialize(frame, types, spec.time_column, time_ns, stats, text_cfg)
        tf_dict[name] = tf
        col_stats_dict[name] = stats
        col_types[name] = dict(types)
        logger.debug("table %r: %d rows, columns %s", name, n,
                     {c: s.value for c, s in types.items()})

    ranks = {name: row_rank(db.frame(name), db.keys(name) if db.schema[name].primary_key
                            is not None else None) for name in db.table_names}
    edge_types, links = _links(db)

    return RelationalGraph(
        node_types=db.table_names, edge_types=edge_types, num_nodes=num_nodes,
        tf_dict=tf_dict, col_stats_dict=col_stats_dict, col_types=col_types,
        time_dict=time_dict, links=links, text_encoder=encoder,
        row_rank={name: torch.from_numpy(r) for name, r in ranks.items()},
    )
