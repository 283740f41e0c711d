"""Column conversion and statistics, computed with whole-array NumPy calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch_frame
from torch_frame.data.stats import StatType, compute_col_stats

from relcontrast.database import naive_utc
from relcontrast.graph.column_types import is_listlike, is_missing


def _to_datetime(ser: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(ser.dtype):
        return naive_utc(ser)
    return naive_utc(pd.to_datetime(ser, errors="coerce", format="mixed"))


def convert_column(ser: pd.Series, stype: torch_frame.stype) -> pd.Series:
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
        missing = not is_listlike(v) and is_missing(v)
        if stype == torch_frame.categorical:
            return None if missing else str(v)
        if stype == torch_frame.multicategorical:
            if missing:
                return None
            return [str(x) for x in v] if is_listlike(v) else [str(v)]
        if stype == torch_frame.text_embedded:
            return "" if missing else str(v)
        return None if missing else list(v)  # embedding: a list of floats per row

    return pd.Series([convert(v) for v in ser.to_numpy(dtype=object)], index=ser.index,
                     name=ser.name, dtype=object)


_QUANTILES = [0, 0.25, 0.5, 0.75, 1]


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def column_stats(ser: pd.Series, stype: torch_frame.stype) -> dict[StatType, Any]:
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


def table_stats(
    df: pd.DataFrame, types: Mapping[str, torch_frame.stype]
) -> dict[str, dict[StatType, Any]]:
    """Column statistics of one table's converted feature frame, ``{column: {StatType: v}}``."""
    return {col: column_stats(df[col], stype) for col, stype in types.items()}
