"""Tables -> per-table TensorFrames, node times and foreign-key links.

:func:`build_graph` turns a :class:`~relcontrast.database.RelationalDatabase` into a
:class:`RelationalGraph`: one torch-frame :class:`~torch_frame.TensorFrame` of feature columns
per table (row ``i`` is node ``i``), node times in nanoseconds, and for every foreign key two edge
types (``(A, "f2p_<col>", B)`` from a row to the row it references, and the reverse
``(B, "rev_f2p_<col>", A)``), stored once as the links of the foreign key (the samplers build
their time-sorted neighbour index from them, :func:`relcontrast.sampling.neighbor_index`).
:func:`infer_column_types` proposes the torch-frame semantic type of each column;
:class:`HashingTextEncoder` is the default text embedder (no download).

Column statistics are computed here, not by torch-frame, whose numerical statistics
flatten every column through ``np.hstack`` one Python-level value at a time:
:func:`_column_stats` gives the same values with whole-array NumPy calls and the TensorFrames
are materialised from them. ``build_graph(db,
stats_until=cutoff)`` takes the statistics from the rows up to ``cutoff`` and encodes every
row in one pass.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch_frame
from torch import Tensor
from torch_frame.config import TextEmbedderConfig
from torch_frame.data import Dataset, MultiEmbeddingTensor, MultiNestedTensor
from torch_frame.data.stats import StatType, compute_col_stats

from relcontrast._validation import did_you_mean
from relcontrast.database import RelationalDatabase, naive_utc

__all__ = [
    "CONST_COLUMN",
    "HashingTextEncoder",
    "RelationalGraph",
    "build_graph",
    "foreign_key_edge_types",
    "infer_column_types",
    "is_foreign_key_edge_type",
    "reverse_edge_type",
    "row_rank",
]

logger = logging.getLogger("relcontrast.graph")


class _FormerNeighborStore:
    """What ``relcontrast.graph.NeighborStore`` reads back as: estimators pickled with state
    format 2 hold graphs with ``neighbors``, a dict of that class, which is now the sampling
    layer's (:class:`relcontrast.sampling.NeighborStore`). Loading such a pickle reaches the
    estimator's "saved with state format 2 ... Refit it" error instead of an
    AttributeError; nothing reads the stores it holds."""


def __getattr__(name: str):
    if name == "NeighborStore":
        return _FormerNeighborStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


EdgeType = tuple[str, str, str]

_FORWARD, _REVERSE = "f2p_", "rev_"


def foreign_key_edge_types(table: str, columns: Sequence[str], referenced_table: str
                           ) -> tuple[EdgeType, EdgeType]:
    """The two edge types of a foreign key: ``(A, "f2p_<c>", B)`` from a row of ``A`` to
    the row of ``B`` it references, and the reverse ``(B, "rev_f2p_<c>", A)``; the columns
    of a composite key are joined by ``","`` (``"f2p_order_id,line_no"``)."""
    rel = _FORWARD + ",".join(columns)
    return (table, rel, referenced_table), (referenced_table, _REVERSE + rel, table)


def is_foreign_key_edge_type(edge_type: EdgeType) -> bool:
    """Whether an edge type runs from a row to the row it references (``(A, "f2p_c", B)``),
    not the reverse."""
    return edge_type[1].startswith(_FORWARD)


def reverse_edge_type(edge_type: EdgeType) -> EdgeType:
    """The edge type with the same links in the opposite direction."""
    src, rel, dst = edge_type
    return dst, rel.removeprefix(_REVERSE) if rel.startswith(_REVERSE) else _REVERSE + rel, src

#: Name of the constant numerical column given to tables without feature columns.
CONST_COLUMN = "__const__"

# Column type inference thresholds (documented in :func:`infer_column_types`).
_MAX_INFER_ROWS = 10_000
_MAX_INT_CATEGORIES = 10
_MIN_STR_CATEGORIES = 10
_MAX_STR_CATEGORIES = 100
_MAX_REPEAT_RATIO = 0.5
_MAX_CATEGORY_RATIO = 0.2
_MAX_CATEGORY_TOKENS = 3.0
_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")

_SUPPORTED_STYPES = (
    torch_frame.numerical,
    torch_frame.categorical,
    torch_frame.multicategorical,
    torch_frame.timestamp,
    torch_frame.text_embedded,
    torch_frame.embedding,
)


# -- column type inference ------------------------------------------------------------------
def _is_listlike(value) -> bool:
    return isinstance(value, (list, tuple, set, frozenset, np.ndarray))


def _infer_one(values: pd.Series) -> torch_frame.stype | None:
    """Semantic type of one column from its (sampled) values, or None to drop it."""
    non_null = values.dropna()
    if len(non_null) == 0:
        return None
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return torch_frame.timestamp if non_null.nunique() > 1 else None
    if pd.api.types.is_bool_dtype(dtype):
        return torch_frame.categorical if non_null.nunique() > 1 else None
    if pd.api.types.is_timedelta64_dtype(dtype):
        return torch_frame.numerical if non_null.nunique() > 1 else None
    if isinstance(dtype, pd.CategoricalDtype):
        return torch_frame.categorical if non_null.nunique() > 1 else None
    objs = None
    if not pd.api.types.is_numeric_dtype(dtype):
        objs = non_null.to_numpy(dtype=object)
    if objs is None or all(isinstance(v, (int, float, np.integer, np.floating, Decimal))
                           and not isinstance(v, (bool, np.bool_)) for v in objs):
        arr = non_null.to_numpy(dtype=np.float64)
        arr = arr[np.isfinite(arr)]
        n_distinct = len(np.unique(arr))
        if n_distinct <= 1:
            return None
        if np.all(arr == np.round(arr)) and n_distinct <= _MAX_INT_CATEGORIES:
            return torch_frame.categorical
        return torch_frame.numerical
    # Other object / string columns.
    if all(_is_listlike(v) for v in objs):
        items = {x for v in objs for x in v if not _is_missing(x)}
        return torch_frame.multicategorical if items else None
    if all(isinstance(v, (bool, np.bool_)) for v in objs):
        return torch_frame.categorical if len(set(objs)) > 1 else None
    if all(isinstance(v, pd.Timestamp) for v in objs):
        return torch_frame.timestamp if len(set(objs)) > 1 else None
    strings = [v if isinstance(v, str) else str(v) for v in objs]
    n_distinct = len(set(strings))
    if n_distinct <= 1:
        return None
    if all(_ISO_DATE.match(s) for s in strings):
        parsed = pd.to_datetime(pd.Series(strings), errors="coerce", format="mixed")
        if parsed.notna().all():
            return torch_frame.timestamp
    ratio = n_distinct / len(strings)
    if n_distinct <= _MIN_STR_CATEGORIES:
        return torch_frame.categorical
    if n_distinct <= _MAX_STR_CATEGORIES and ratio <= _MAX_REPEAT_RATIO:
        return torch_frame.categorical
    mean_tokens = float(np.mean([len(s.split()) for s in strings]))
    if ratio <= _MAX_CATEGORY_RATIO and mean_tokens <= _MAX_CATEGORY_TOKENS:
        return torch_frame.categorical
    return torch_frame.text_embedded


def _is_missing(x) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def infer_column_types(
    df: pd.DataFrame, *, exclude: Sequence[str] = (), random_state: int = 0
) -> dict[str, torch_frame.stype]:
    """Propose a torch-frame semantic type for every column of ``df``.

    The proposal is deterministic: tables with more than 10,000 rows are inferred from 10,000
    rows drawn without replacement by ``numpy.random.default_rng(random_state)``.

    Rules, applied to the non-null values of each column:

    - all null or a single distinct value: dropped (absent from the result);
    - datetime dtype, or strings that all parse as ISO 8601 dates (``YYYY-MM-DD...``):
      ``timestamp``;
    - bool (dtype or Python bools) and pandas ``category`` dtype: ``categorical``;
    - numeric (numeric dtype, or Python / NumPy numbers or ``Decimal`` s in an object column,
      e.g. SQL / parquet decimals read by pyarrow):
      ``categorical`` if every value is an integer and there are at most 10 distinct values,
      else ``numerical``; timedeltas: ``numerical``;
    - lists / tuples / sets / arrays: ``multicategorical``;
    - other values (compared as strings): ``categorical`` if at most 10 distinct values, or
      at most 100 distinct values each seen twice on average (distinct / non-null <= 0.5),
      or distinct / non-null <= 0.2 with at most 3 whitespace tokens on average (short,
      repeated labels); otherwise ``text_embedded`` (names, free text).

    Parameters
    ----------
    df : pandas.DataFrame
        The table. It is not modified.
    exclude : sequence of str, default=()
        Columns to leave out (e.g. primary and foreign keys).
    random_state : int, default=0
        Seed of the row sample for tables with more than 10,000 rows.

    Returns
    -------
    dict of str to torch_frame.stype
        ``{column: stype}`` in the column order of ``df``.

    Examples
    --------
    >>> import pandas as pd
    >>> from relcontrast.graph import infer_column_types
    >>> df = pd.DataFrame({"id": [1, 2, 3], "price": [1.5, 2.0, 7.25],
    ...                    "stars": [1, 5, 5], "flag": ["a", "a", "a"]})
    >>> {c: s.value for c, s in infer_column_types(df, exclude=["id"]).items()}
    {'price': 'numerical', 'stars': 'categorical'}
    """
    excluded = set(exclude)
    if len(df) > _MAX_INFER_ROWS:
        rng = np.random.default_rng(random_state)
        rows = np.sort(rng.choice(len(df), _MAX_INFER_ROWS, replace=False))
        df = df.iloc[rows]
    out = {}
    for col in df.columns:
        if col in excluded:
            continue
        stype = _infer_one(df[col])
        if stype is not None:
            out[col] = stype
    return out


# -- text ----------------------------------------------------------------------------------
# Texts hashed per call of a HashingVectorizer (bounds its sparse n-gram matrix), and the
# number of such chunks from which they are hashed in parallel processes.
_TEXT_CHUNK, _PARALLEL_CHUNKS = 1 << 16, 8


class HashingTextEncoder:
    """Embed texts by hashing word and character n-grams; needs no download.

    A text's vector is the sum of a word (1-2)-gram and a character (2-4)-gram
    :class:`~sklearn.feature_extraction.text.HashingVectorizer` (each L2-normalised), L2
    normalised again. Missing values and empty texts give the zero vector. Each distinct text
    is hashed once, in chunks of 65,536; from 8 chunks on (half a million distinct texts),
    the chunks are hashed in parallel processes (joblib), with the same values.

    Parameters
    ----------
    n_features : int, default=64
        Output dimension.

    Examples
    --------
    >>> from relcontrast.graph import HashingTextEncoder
    >>> HashingTextEncoder(n_features=16)(["red car", None]).shape
    torch.Size([2, 16])
    """

    def __init__(self, n_features: int = 64):
        if not isinstance(n_features, (int, np.integer)) or n_features < 1:
            raise ValueError(f"n_features must be a positive int, got {n_features!r}.")
        self.n_features = int(n_features)

    def _vectorizers(self):
        from sklearn.feature_extraction.text import HashingVectorizer

        common = dict(n_features=self.n_features, alternate_sign=True, norm="l2",
                      lowercase=True, dtype=np.float32)
        return (HashingVectorizer(analyzer="word", ngram_range=(1, 2), **common),
                HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), **common))

    def __call__(self, texts: Sequence[Any]) -> Tensor:
        texts = ["" if _is_missing(t) else str(t) for t in texts]
        codes, distinct = pd.factorize(pd.Series(texts, dtype=object))  # each text once
        chunks = [list(distinct[i:i + _TEXT_CHUNK])  # bounded sparse intermediates
                  for i in range(0, len(distinct), _TEXT_CHUNK)]
        if len(chunks) >= _PARALLEL_CHUNKS:  # millions of texts: one process per core
            from joblib import Parallel, delayed

            parts = Parallel(n_jobs=-1)(delayed(self._hash)(c) for c in chunks)
        else:
            parts = [self._hash(c) for c in chunks]
        out = np.concatenate(parts) if parts else np.zeros((0, self.n_features), np.float32)
        return torch.from_numpy(out[codes])  # [num_texts, n_features]

    def _hash(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.n_features), dtype=np.float32)
        for vec in self._vectorizers():
            out += vec.transform(texts).toarray()  # [num_texts, n_features]
        norm = np.linalg.norm(out, axis=1, keepdims=True)  # [num_texts, 1]
        return np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.n_features == self.n_features

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.n_features))

    def __repr__(self) -> str:
        return f"HashingTextEncoder(n_features={self.n_features})"


# -- row order -----------------------------------------------------------------------------
def _hash_rows(frame: pd.DataFrame) -> np.ndarray:
    """A uint64 hash of every row's cells (unhashable cells, e.g. lists, by their repr)."""
    try:
        return pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:
        cells = {col: frame[col].map(repr) if frame[col].dtype == object else frame[col]
                 for col in frame.columns}
        return pd.util.hash_pandas_object(pd.DataFrame(cells), index=False).to_numpy()


def row_rank(frame: pd.DataFrame, keys=None) -> np.ndarray:
    """Position of every row of ``frame`` in an order independent of the order of its rows.

    Rows are ordered by their primary-key values ``keys`` (by a hash of the keys where values
    of mixed types do not compare), or without keys by a hash of all their cells; rows that
    tie (equal cells, or a 64-bit hash collision) keep their relative order.

    Parameters
    ----------
    frame : pandas.DataFrame
    keys : pandas.Index, MultiIndex or array-like, default=None
        Primary-key values in row order (``RelationalDatabase.keys``; a MultiIndex for a
        composite key, compared level by level). None: the table has no primary key.

    Returns
    -------
    ndarray of int64, shape (len(frame),)
        ``rank[i]`` is the position of row ``i``; a permutation of ``range(len(frame))``.

    Examples
    --------
    >>> import pandas as pd
    >>> from relcontrast.graph import row_rank
    >>> row_rank(pd.DataFrame({"id": ["b", "c", "a"]}), keys=["b", "c", "a"])
    array([1, 2, 0])
    """
    n = len(frame)
    if keys is not None:
        # a MultiIndex as it is: pd.Index(multi_index) would build (and cache on the
        # database's key index) a tuple per row, 0.8 GB at 6M rows
        key_frame = (keys if isinstance(keys, pd.Index) else pd.Index(keys)).to_frame(
            index=False)
        key_frame.columns = range(key_frame.shape[1])
        try:  # a stable sort on the key columns
            order = key_frame.sort_values(list(key_frame.columns), kind="stable").index
            order = np.asarray(order, dtype=np.int64)
        except TypeError:  # e.g. ints and strings in one object column
            order = np.argsort(_hash_rows(key_frame), kind="stable")
    else:
        order = np.argsort(_hash_rows(frame), kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    return rank


# -- graph ---------------------------------------------------------------------------------
class RelationalGraph:
    """A relational database as a heterogeneous graph with TensorFrame node features.

    Built by :func:`build_graph`; read-only by convention.

    Attributes
    ----------
    node_types : tuple of str
        Table names.
    edge_types : tuple of (str, str, str)
        For foreign key column ``c`` of table ``A`` referencing ``B``: ``(A, "f2p_c", B)``
        (messages from a row to the row it references) and ``(B, "rev_f2p_c", A)``.
    num_nodes : dict of str to int
    tf_dict : dict of str to TensorFrame
        Feature columns per table; row ``i`` is node ``i``.
    col_stats_dict : dict of str to dict
        torch-frame column statistics per table (``{column: {StatType: value}}``).
    col_types : dict of str to dict of str to torch_frame.stype
        The semantic type used for every feature column.
    time_dict : dict of str to LongTensor
        Node times in nanoseconds since the epoch (``RelationalDatabase.time_ns``), for
        timed tables only.
    row_rank : dict of str to LongTensor
        Per table, the position of every row in an order that does not depend on the order
        of the table's rows: by primary key, or for tables without one by a hash of the
        row's cells (rows that tie are identical, so interchangeable). Samplers break ties
        between rows of equal time with it, so a permutation of a table's rows samples the
        same rows in the same order (:func:`row_rank`).
    links : dict of edge type to (ndarray, ndarray)
        For every foreign-key edge type ``(A, "f2p_c", B)``, the referencing row of ``A`` and
        the referenced row of ``B`` of each link (int64 positions); the reverse edge type
        carries the same links. Samplers index them by destination and time
        (:func:`relcontrast.sampling.neighbor_index`, built once per graph).
    text_encoder : callable
        The text embedder the text columns went through.
    """

    def __init__(self, *, node_types, edge_types, num_nodes, tf_dict, col_stats_dict,
                 col_types, time_dict, links, text_encoder=None, row_rank=None):
        self.node_types = tuple(node_types)
        self.edge_types = tuple(edge_types)
        self.num_nodes = dict(num_nodes)
        self.tf_dict = dict(tf_dict)
        self.col_stats_dict = dict(col_stats_dict)
        self.col_types = dict(col_types)
        self.time_dict = dict(time_dict)
        self.links = dict(links)
        self.text_encoder = text_encoder
        if row_rank is None:  # the row order itself
            row_rank = {nt: torch.arange(n) for nt, n in self.num_nodes.items()}
        self.row_rank = dict(row_rank)

    def metadata(self) -> tuple[list[str], list[EdgeType]]:
        """``(node_types, edge_types)`` as PyG's ``HeteroData.metadata()`` gives them."""
        return list(self.node_types), list(self.edge_types)

    def reverse_edge_type(self, edge_type: EdgeType) -> EdgeType:
        """The edge type with the same links in the opposite direction."""
        return reverse_edge_type(edge_type)

    def cached(self, name: str, build: Callable[[RelationalGraph], Any]) -> Any:
        """``build(self)``, computed on the first call with ``name`` and kept with the graph.

        For structures derived from the graph alone, such as the samplers' neighbour index
        (:func:`relcontrast.sampling.neighbor_index`): the graph is read-only, so they stay
        valid, and every sampler of the graph shares them. They travel with the graph when
        it is pickled.
        """
        key = f"_{name}"
        value = self.__dict__.get(key)
        if value is None:
            value = build(self)
            self.__dict__[key] = value
        return value

    def __repr__(self) -> str:
        nodes = ", ".join(f"{nt}={n}" for nt, n in self.num_nodes.items())
        num_edges = 2 * sum(len(src) for src, _ in self.links.values())
        return (f"RelationalGraph({nodes}; {len(self.edge_types)} edge types, "
                f"{num_edges} edges)")


def _parse_overrides(db: RelationalDatabase, column_types) -> dict[str, dict]:
    if column_types is None:
        return {}
    if not isinstance(column_types, Mapping):
        raise TypeError(
            f"column_types must be a dict {{table: {{column: stype}}}}, got "
            f"{type(column_types).__name__}."
        )
    names = {s.value: s for s in _SUPPORTED_STYPES}
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
            if not isinstance(stype, torch_frame.stype) or stype not in _SUPPORTED_STYPES:
                raise ValueError(
                    f"column_types[{table!r}][{col!r}] = {stype!r} is not a supported stype; "
                    f"use one of {sorted(names)} (or None to drop the column)."
                )
            parsed[col] = stype
        out[table] = parsed
    return out


def _to_datetime(ser: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(ser.dtype):
        return naive_utc(ser)
    return naive_utc(pd.to_datetime(ser, errors="coerce", format="mixed"))


def _convert_column(ser: pd.Series, stype: torch_frame.stype) -> pd.Series:
    """A copy of ``ser`` in the form torch-frame materialises for ``stype``."""
    if stype == torch_frame.timestamp:
        return _to_datetime(ser)
    if stype == torch_frame.numerical:
        if pd.api.types.is_timedelta64_dtype(ser.dtype):
            return ser.dt.total_seconds()
        if pd.api.types.is_bool_dtype(ser.dtype) or isinstance(ser.dtype, pd.CategoricalDtype):
            return pd.to_numeric(ser.astype(object), errors="coerce").astype(np.float64)
        return pd.to_numeric(ser, errors="coerce").astype(np.float64)
    if (stype == torch_frame.categorical and pd.api.types.is_numeric_dtype(ser.dtype)
            and not pd.api.types.is_bool_dtype(ser.dtype)):
        return ser.copy()
    if isinstance(ser.dtype, pd.StringDtype) and stype in (torch_frame.categorical,
                                                            torch_frame.text_embedded):
        # Every value is a str or missing: what ``convert`` gives, without a call per value.
        fill = None if stype == torch_frame.categorical else ""
        values = np.array(ser.to_numpy(dtype=object, na_value=fill), dtype=object, copy=True)
        return pd.Series(values, index=ser.index, name=ser.name, dtype=object)

    def convert(v):
        missing = not _is_listlike(v) and _is_missing(v)
        if stype == torch_frame.categorical:
            return None if missing else str(v)
        if stype == torch_frame.multicategorical:
            if missing:
                return None
            return [str(x) for x in v] if _is_listlike(v) else [str(v)]
        if stype == torch_frame.text_embedded:
            return "" if missing else str(v)
        return None if missing else list(v)  # embedding: a list of floats per row

    return pd.Series([convert(v) for v in ser.to_numpy(dtype=object)], index=ser.index,
                     name=ser.name, dtype=object)


_QUANTILES = [0, 0.25, 0.5, 0.75, 1]


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _column_stats(ser: pd.Series, stype: torch_frame.stype) -> dict[StatType, Any]:
    """torch-frame's ``compute_col_stats(ser, stype)``, vectorised for numerical columns.

    torch-frame flattens a numerical column with ``np.hstack(np.hstack(ser.values))``, a
    Python-level call per value, three times (mean, standard deviation, quantiles). For a
    NumPy integer or float column that flattening is the column's values themselves, so
    its finite values go to the same ``np.mean`` / ``np.std`` / ``np.quantile`` calls on an
    array of the same dtype and order: the statistics are bit-identical. One deliberate
    difference: values beyond float32's range (|x| > 3.4e38) are left out like infinities.
    torch-frame stores the column as float32, where they become inf, i.e. missing; in the
    statistics they would overflow the standard deviation (from ~1e154) and every other
    value of the column would be normalised to 0. Other stypes and dtypes, and columns
    without such a value, go through torch-frame itself; the categories of a list column
    (``multicategorical``), which torch-frame counts through Python ``set`` s, are then
    ordered by count and, on ties, by value, so that their indices do not depend on the
    process's string hashing (``PYTHONHASHSEED``).
    """
    dtype = ser.dtype
    if stype == torch_frame.numerical and isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        values = ser.to_numpy()
        finite = values[np.abs(values) <= _FLOAT32_MAX]  # a contiguous copy, in row order
        if len(finite):
            return {
                StatType.MEAN: np.mean(finite).item(),
                StatType.STD: np.std(finite).item(),
                StatType.QUANTILES: np.quantile(finite, q=_QUANTILES).tolist(),
            }
    return _ordered_categories(compute_col_stats(ser, stype))


def _ordered_categories(stats: dict[StatType, Any]) -> dict[StatType, Any]:
    """A list column's categories (``MULTI_COUNT``) by count, then by value."""
    if StatType.MULTI_COUNT in stats:
        pairs = sorted(zip(*stats[StatType.MULTI_COUNT], strict=True),
                       key=lambda p: (-p[1], type(p[0]).__name__, p[0]))
        stats[StatType.MULTI_COUNT] = ([c for c, _ in pairs], [k for _, k in pairs])
    return stats


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


def _table_stats(
    df: pd.DataFrame, types: Mapping[str, torch_frame.stype]
) -> dict[str, dict[StatType, Any]]:
    """Column statistics of one table's converted feature frame, ``{column: {StatType: v}}``."""
    return {col: _column_stats(df[col], stype) for col, stype in types.items()}


def _features(frame: pd.DataFrame, types: Mapping[str, torch_frame.stype],
              time_column: str | None, time_ns: np.ndarray | None, index=None
              ) -> pd.DataFrame:
    """The feature columns ``types`` of the rows ``index`` of ``frame`` (positions or a
    slice; None: all), converted for torch-frame (:func:`_convert_column`); the time column
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
            data[col] = _convert_column(ser, stype).reset_index(drop=True)
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
                    stats.update(_table_stats(
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

