"""Column type inference: the torch-frame semantic type of each column."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd
import torch_frame

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

SUPPORTED_STYPES = (
    torch_frame.numerical,
    torch_frame.categorical,
    torch_frame.multicategorical,
    torch_frame.timestamp,
    torch_frame.text_embedded,
    torch_frame.embedding,
)


def is_listlike(value) -> bool:
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
    if all(is_listlike(v) for v in objs):
        items = {x for v in objs for x in v if not is_missing(x)}
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


def is_missing(x) -> bool:
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
