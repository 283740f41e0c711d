"""Columns of undated tables that were written after the fact.

A table without a time column (drivers, customers, players) is visible at every time, so
each of its columns must hold what was known from the start. A column filled in later
leaks the future into every row of the past: F1's ``drivers.code`` is filled for every
driver active from 2005 and for 0.3% of earlier ones, so at 1998 its presence says "will
still race in 2005"; a people table's "final game" date gives a churn label away.

:func:`leakage_report` finds such columns from the database alone, through each entity's
activity: the times of the timed rows that reference it (its first and last activity).

- **Nulls**: the column is filled exactly for entities still active after some time ``τ``.
  Among the entities whose first activity is before ``τ``, whether the value is filled is
  predicted by their last activity (AUROC), and better than by their first activity (which
  a column collected from some era of debuts on would follow).
- **Values**: numeric or datetime values follow the last activity (Spearman correlation)
  more than the first, e.g. a date equal to the last activity.

Both are warnings for a person to check, not proof: a column collected only in a recent
era for entities active then leaks too, while one collected at each entity's start does
not (its nulls follow the first activity as well, and it is not flagged).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["leakage_report"]

_COLUMNS = ["table", "column", "signal", "score", "entities", "explanation"]


def _activity(db, table: str) -> tuple[np.ndarray, np.ndarray]:
    """First and last activity (ns) of each row of ``table``; int64 min / max where none."""
    n = db.num_rows(table)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    for fk in db.foreign_keys:
        times = db.time_ns(fk.table)
        if fk.referenced_table == table and times is not None and len(fk.src_index):
            t = times[fk.src_index]
            np.minimum.at(first, fk.dst_index, t)
            np.maximum.at(last, fk.dst_index, t)
    return first, last


def _auroc(positive: np.ndarray, score: np.ndarray) -> float:
    """AUROC of ``score`` for the boolean labels ``positive`` (ties count one half)."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _null_signal(filled: np.ndarray, first: np.ndarray, last: np.ndarray):
    """The threshold ``τ`` on last activity that best separates filled from null rows, and
    the AUROCs of last and of first activity for filled among the entities that started
    before ``τ``."""
    order = np.argsort(last, kind="stable")
    f = filled[order]
    # rows at or after position i predicted filled: balanced accuracy for every i
    filled_after = np.cumsum(f[::-1])[::-1]  # filled rows at positions >= i
    null_before = np.cumsum(np.concatenate([[0], ~f[:-1]]))  # null rows at positions < i
    accuracy = filled_after / f.sum() + null_before / (~f).sum()
    tau = last[order][int(np.argmax(accuracy))]
    early = first < tau
    sub = filled[early]
    if sub.sum() < 5 or (~sub).sum() < 5:
        return tau, None, None, int(early.sum())
    return (tau, _auroc(sub, last[early].astype(np.float64)),
            _auroc(sub, first[early].astype(np.float64)), int(early.sum()))


def leakage_report(db, *, min_score: float = 0.9, min_entities: int = 20) -> pd.DataFrame:
    """Flag columns of undated tables whose nulls or values follow the entity's last
    activity: candidates for columns written after the fact, to drop before pretraining.

    Parameters
    ----------
    db : RelationalDatabase
    min_score : float, default=0.9
        Flag a column when its null pattern's AUROC (see the module docstring), or its
        values' correlation with the last activity, reaches this.
    min_entities : int, default=20
        Tables with fewer entities that have any activity are skipped.

    Returns
    -------
    DataFrame
        One row per flagged column: ``table``, ``column``, ``signal`` ("nulls" or
        "values"), ``score``, ``entities`` (how many the score is computed on) and an
        ``explanation`` in words. Empty when nothing is flagged.

    Examples
    --------
    >>> from relcontrast import RelationalDatabase
    >>> from relcontrast.datasets import load_f1
    >>> from relcontrast.leakage import leakage_report
    >>> report = leakage_report(RelationalDatabase(*load_f1()))
    >>> report[["table", "column", "signal"]].values.tolist()
    [['drivers', 'code', 'nulls']]
    """
    from scipy.stats import spearmanr

    rows = []
    for table in db.table_names:
        if db.time_ns(table) is not None:
            continue
        first, last = _activity(db, table)
        active = last > np.iinfo(np.int64).min
        if active.sum() < min_entities:
            continue
        first, last = first[active], last[active]
        frame = db.frame(table)
        for column in frame.columns:
            if column in db.schema[table].key_columns:
                continue
            values = frame[column].to_numpy()[active]
            filled = ~pd.isna(values)
            if 0 < filled.sum() < len(filled):
                tau, score, score_first, n = _null_signal(filled, first, last)
                if score is not None and score >= min_score and score > score_first + 0.02:
                    when = pd.Timestamp(tau).date()
                    rows.append((table, column, "nulls", round(score, 3), n, (
                        f"{filled.mean():.0%} filled; among the {n} entities active before "
                        f"{when}, it is filled for those still active after it (AUROC "
                        f"{score:.3f} by last activity, {score_first:.3f} by first): written "
                        f"after the fact?")))
            series = pd.Series(values[filled])
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                numeric = pd.to_datetime(series).astype("int64").to_numpy(np.float64)
            elif (pd.api.types.is_numeric_dtype(frame[column])
                  and not pd.api.types.is_bool_dtype(frame[column])):
                numeric = series.to_numpy(np.float64)
            else:
                continue
            ok = np.isfinite(numeric)
            if ok.sum() < min_entities or np.unique(numeric[ok]).size < 3:
                continue
            with np.errstate(all="ignore"):
                rho_last = spearmanr(numeric[ok], last[filled][ok])[0]
                rho_first = spearmanr(numeric[ok], first[filled][ok])[0]
            if abs(rho_last) >= min_score and abs(rho_last) > abs(rho_first) + 0.02:
                rows.append((table, column, "values", round(float(abs(rho_last)), 3),
                             int(ok.sum()), (
                                 f"values follow the last activity (Spearman {rho_last:.3f}) "
                                 f"more than the first ({rho_first:.3f}): written after the "
                                 f"fact?")))
    return pd.DataFrame(rows, columns=_COLUMNS)
