"""Propose a schema from the data: primary keys, foreign keys and time columns."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from relcontrast._validation import did_you_mean
from relcontrast.database import key_tuple
from relcontrast.io._common import _DATE_SAMPLE, _fmt_share, _show
from relcontrast.io.readers import read_tables
from relcontrast.io.schema_files import _parse_schema

__all__ = ["MIN_INCLUSION", "infer_schema"]

logger = logging.getLogger(__name__)

#: Default share of a candidate foreign key's non-null values that must be present in the
#: referenced table's primary key for :func:`infer_schema` to propose it.
MIN_INCLUSION = 0.95
#: Share of sampled non-null strings that must parse as dates for a time column.
MIN_DATE_SHARE = 0.99

_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
_GENERIC_KEY_NAMES = ("id", "key", "pk", "uid", "uuid", "guid")
_ID_TOKENS = ("id", "key", "uuid", "guid")
_TIME_NAME_TOKENS = frozenset({
    "ts", "timestamp", "time", "date", "datetime", "created", "creation", "added", "signup",
    "registered", "joined", "posted", "published", "opened", "start", "started", "at", "on",
    "when", "event"})
_LATE_TIME_TOKENS = frozenset({"updated", "modified", "changed", "last", "end", "ended",
                               "closed", "deleted", "expires", "expiry", "due"})
_BIRTH_TOKENS = frozenset({"dob", "birth", "birthday", "birthdate", "born"})
_YEAR_TOKENS = frozenset({"year", "season", "yr"})


def _tokens(name: str) -> list[str]:
    """``"driverStandingsId"`` -> ``["driver", "standings", "id"]``; ``"user_ID"`` ->
    ``["user", "id"]``."""
    out = []
    for part in re.split(r"[^0-9A-Za-z]+", str(name)):
        out += re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", part)
    return [t.lower() for t in out]


def _norm(name: str) -> str:
    return "".join(_tokens(name))


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 1:
        return word[:-1]
    return word


def _table_stems(table: str) -> list[list[str]]:
    """Token lists a key named after ``table`` starts with: the name and its singular."""
    tokens = _tokens(table)
    if not tokens:
        return []
    stems = [tokens]
    singular = [*tokens[:-1], _singular(tokens[-1])]
    if singular != tokens:
        stems.append(singular)
    return stems


def _key_kind(series: pd.Series) -> str | None:
    """"number" (integral), "string", or None for a column that cannot be a key."""
    values = series.dropna()
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        if len(values) and pd.api.types.is_float_dtype(series):
            arr = values.to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                return None
        return "number"
    head = values.iloc[:_DATE_SAMPLE]
    if len(head) and all(isinstance(v, str) for v in head):
        return "string"
    return None


def _spread_sample(values: pd.Series, n: int = _DATE_SAMPLE) -> pd.Series:
    """Up to ``n`` evenly spaced values (deterministic, unlike ``Series.sample``)."""
    if len(values) <= n:
        return values
    return values.iloc[np.linspace(0, len(values) - 1, n).astype(np.int64)]


# -- schema inference -------------------------------------------------------------------------
def _pk_rank(table: str, col: str, tables: Mapping[str, pd.DataFrame]) -> tuple[int, str] | None:
    """How well ``col``'s name fits a primary key of ``table`` (lower is better)."""
    tokens = _tokens(col)
    if not tokens:
        return None
    norm = "".join(tokens)
    if any(norm == "".join(stem) + tok for stem in _table_stems(table) for tok in _ID_TOKENS):
        return 0, "named after the table"
    if norm in _GENERIC_KEY_NAMES:
        return 1, f"a generic key name ({col!r})"
    if tokens[-1] not in _ID_TOKENS:
        return None
    others = [t for t in tables if t != table and any(
        norm == "".join(stem) + tok for stem in _table_stems(t) for tok in _ID_TOKENS)]
    if others:
        return 3, f"an id-like name, though it is named after table {others[0]!r}"
    return 2, "an id-like name"


def _infer_primary_key(table, df, tables, reasons) -> str | None:
    candidates = []
    for col in df.columns:
        rank = _pk_rank(table, col, tables)
        if rank is None:
            continue
        series = df[col]
        kind = _key_kind(series)
        problem = None
        if kind is None:
            problem = f"its dtype {series.dtype} cannot hold keys (integers or strings)"
        elif series.isna().any():
            problem = f"{int(series.isna().sum())} null value(s)"
        elif not series.is_unique:
            dup = series[series.duplicated()].iloc[0]
            problem = (f"{int(series.duplicated(keep=False).sum())} rows share a value "
                       f"(e.g. {_show(dup)})")
        if problem is None:
            candidates.append((rank[0], col, rank[1]))
        elif rank[0] <= 1:
            reasons.append(f"{col}: not the primary key: {problem}.")
    if not candidates:
        reasons.append(
            "no primary key: no unique, non-null column with an id-like name (id, "
            f"{_singular(table)}_id, {_singular(table)}Id, ...). Its rows cannot be referenced "
            "or be the target of predictions; set primary_key by hand if a column identifies "
            "rows.")
        return None
    candidates.sort(key=lambda c: c[0])
    rank, col, why = candidates[0]
    others = [c[1] for c in candidates[1:]]
    also = f" Other unique id-like columns: {others}." if others else ""
    reasons.append(f"{col}: primary key: unique and non-null, {why}.{also}")
    return col


def _fk_match(table: str, col: str, ref: str, ref_pk: str, pk: str | None) -> str | None:
    """Why ``table.col`` looks like a foreign key to ``ref`` by name, or None."""
    if ref == table and col == ref_pk:
        return None
    tokens = _tokens(col)
    norm = "".join(tokens)
    pk_tokens = _tokens(ref_pk)
    if norm == "".join(pk_tokens) and norm not in _GENERIC_KEY_NAMES:
        return f"same name as {ref}.{ref_pk}"
    if any(norm == "".join(stem) + tok for stem in _table_stems(ref) for tok in _ID_TOKENS):
        return f"named after table {ref!r}"
    if col == pk:  # a primary key references another table only if named exactly so
        return None
    suffixes = [stem + ["id"] for stem in _table_stems(ref)]
    if "".join(pk_tokens) not in _GENERIC_KEY_NAMES:
        suffixes.append(pk_tokens)
    for suffix in suffixes:
        if len(tokens) > len(suffix) and tokens[-len(suffix):] == suffix:
            return f"ends with {''.join(suffix)!r} (a role of table {ref!r})"
    return None


def _infer_foreign_keys(table, df, tables, pks, min_inclusion, reasons) -> dict[str, str]:
    out = {}
    for col in df.columns:
        kind = _key_kind(df[col])
        matches = []
        for ref, ref_pk in pks.items():
            if ref_pk is None or isinstance(ref_pk, tuple):
                continue
            why = _fk_match(table, col, ref, ref_pk, pks[table])
            if why is None:
                continue
            values = df[col].dropna()
            ref_values = tables[ref][ref_pk]
            ref_kind = _key_kind(ref_values)
            if not len(values):
                reasons.append(f"{col}: not a foreign key to {ref!r} ({why}): every value is "
                               f"null.")
                continue
            if kind != ref_kind:
                reasons.append(
                    f"{col}: not a foreign key to {ref!r} ({why}): it holds {kind or 'other'} "
                    f"values (dtype {df[col].dtype}) and {ref}.{ref_pk} holds {ref_kind} "
                    f"values (dtype {ref_values.dtype}); cast one to the other's type.")
                continue
            share = float(values.isin(pd.Index(ref_values.dropna().unique())).mean())
            strength = 0 if why.startswith("same name") else 1 if why.startswith("named") else 2
            matches.append((strength, -share, ref, ref_pk, why, share, len(values)))
        if not matches:
            continue
        matches.sort(key=lambda m: m[:2])
        accepted = [m for m in matches if m[5] >= min_inclusion]
        for _, _, ref, ref_pk, why, share, n in matches:
            if accepted and ref == accepted[0][2]:
                continue
            found = f"{_fmt_share(share)} of its {n} non-null values are in {ref}.{ref_pk}"
            if share < min_inclusion:
                reasons.append(f"{col}: not a foreign key to {ref!r} ({why}): {found}, below "
                               f"the {_fmt_share(min_inclusion)} threshold.")
            else:
                reasons.append(f"{col}: not a foreign key to {ref!r} ({why}; {found}): the "
                               f"name points more clearly at {accepted[0][2]!r}.")
        if accepted:
            _, _, ref, ref_pk, why, share, n = accepted[0]
            out[col] = ref
            nulls = int(df[col].isna().sum())
            reasons.append(
                f"{col}: foreign key to {ref!r}: {why}; {_fmt_share(share)} of its {n} non-null "
                f"values are in {ref}.{ref_pk} (threshold {_fmt_share(min_inclusion)})"
                + (f", {nulls} null(s)." if nulls else "."))
    return out


def _time_candidate(col: str, series: pd.Series):
    """``(kind, detail)`` for a column that may hold row times, or None."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime", f"datetime values (dtype {series.dtype})"
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        tokens = _tokens(col)
        values = series.dropna()
        if (tokens and tokens[-1] in _YEAR_TOKENS and len(values)
                and pd.api.types.is_integer_dtype(series)
                and values.between(1000, 3000).all()):
            return "year", "integer years"
        return None
    values = series.dropna()
    if not len(values):
        return None
    sample = _spread_sample(values)
    if not all(isinstance(v, str) for v in sample):
        return None
    strings = sample.astype(str)
    date_like = strings.str.contains(_DATE_LIKE, regex=True)
    if date_like.mean() < MIN_DATE_SHARE:
        return None
    parsed = pd.to_datetime(strings.where(date_like), errors="coerce", format="mixed")
    share = float(parsed.notna().mean())
    if share < MIN_DATE_SHARE:
        return None
    detail = f"strings that parse as dates ({_fmt_share(share)} of {len(strings)} sampled)"
    if share < 1:
        bad = strings[parsed.isna()].iloc[0]
        detail += (f"; fix the others (e.g. {bad!r}) before use, relcontrast needs every "
                   f"time to parse")
    return "strings", detail


def _time_name_rank(col: str) -> int:
    tokens = set(_tokens(col))
    if tokens & _LATE_TIME_TOKENS:
        return 2
    return 0 if tokens & _TIME_NAME_TOKENS else 1


def _infer_time_column(table, df, keys, reasons) -> str | None:
    eligible = []
    for i, col in enumerate(df.columns):
        if col in keys:
            continue
        found = _time_candidate(col, df[col])
        if found is None:
            continue
        kind, detail = found
        if kind == "year":
            reasons.append(
                f"{col}: not the time column: {detail}, a candidate only with a time_unit "
                f"(relcontrast refuses numeric times). To use it set `time_column: {col}` and "
                f"`time_unit: year` in the schema.")
            continue
        if set(_tokens(col)) & _BIRTH_TOKENS:
            reasons.append(f"{col}: not the time column: named like a birth date, an "
                           f"attribute of the row rather than when it came to exist.")
            continue
        nulls = int(df[col].isna().sum())
        if nulls:
            reasons.append(f"{col}: not the time column: {detail}, but {nulls} null value(s); "
                           f"every row needs a time (fill or drop them to use it).")
            continue
        eligible.append((_time_name_rank(col), kind != "datetime", i, col, detail))
    if not eligible:
        reasons.append("no time column: no usable datetime column, so the table is static "
                       "(every row is visible at every time).")
        return None
    eligible.sort()
    rank, *_, col, detail = eligible[0]
    others = [e[3] for e in eligible[1:]]
    if rank == 0:
        why = "its name suggests when the row came to exist"
    elif rank == 2:
        why = "but named like a later change (updated, end, ...): check it"
    else:
        why = "the first candidate in column order" if others else "the only candidate"
    also = f" Other candidates: {others}." if others else ""
    reasons.append(f"{col}: time column: {detail}, no nulls, {why}.{also}")
    return col


def _label(key) -> str:
    """A key as reasons name it: ``col``, or ``(a, b)`` for a composite key."""
    return f"({', '.join(key)})" if isinstance(key, tuple) else str(key)


def _check_declared(declared, tables) -> dict[str, dict]:
    """``declared`` parsed and checked against the tables' names and columns."""
    if declared is None or (isinstance(declared, Mapping) and not declared):
        return {}
    if not isinstance(declared, Mapping):
        raise TypeError(f"declared must be a dict {{table: {{primary_key: ..., foreign_keys: "
                        f"..., time_column: ...}}}} or None, got {type(declared).__name__}.")
    parsed = _parse_schema(declared, "declared")
    for table, spec in parsed.items():
        if table not in tables:
            raise ValueError(
                f"declared names table {table!r}, but there is no such table; the tables are "
                f"{sorted(tables)}.{did_you_mean(table, tables)}")
        columns = tables[table].columns
        named = [*key_tuple(spec["primary_key"] or ()), *(c for fk in spec["foreign_keys"]
                                                          for c in key_tuple(fk))]
        if spec["time_column"] is not None:
            named.append(spec["time_column"])
        for col in named:
            if col not in columns:
                raise ValueError(
                    f"declared: table {table!r} has no column {col!r}; its columns are "
                    f"{list(columns)}.{did_you_mean(col, columns)}")
        for fk, ref in spec["foreign_keys"].items():
            if ref not in tables:
                raise ValueError(
                    f"declared: table {table!r}, foreign key {_label(fk)} references table "
                    f"{ref!r}, but there is no such table; the tables are {sorted(tables)}."
                    f"{did_you_mean(ref, tables)}")
    return parsed


def infer_schema(tables, *, declared=None, min_inclusion: float = MIN_INCLUSION,
                 return_reasons: bool = False):
    """Propose a schema for a database from its data, explaining every choice.

    The proposal is a starting point to check and edit, not a ground truth:

    - **primary key**: a unique, non-null integer or string column with an id-like name
      (``id``, ``key``, ``*_id``, ``*Id``, ``*ID``), preferring one named after the table
      (``user_id``, ``userId``, ``users_id`` for ``users``), then a generic ``id``.
    - **foreign keys**, found by name: a column named like another table's primary key
      (``circuitId`` -> ``circuits.circuitId``), after that table (``user_id`` ->
      ``users``), or ending so (``winner_user_id``), whose non-null values lie in that
      primary key for at least ``min_inclusion`` of them (95% by default; the share is
      reported). Columns whose name does not point at the table they reference (e.g. a
      self-reference ``referrer``) are not found.
    - **time column**, at most one per table: a datetime column, or strings of which at
      least 99% of a sample parse as dates, without nulls; names such as ``date``, ``ts``,
      ``created`` come first, ``updated``/``end`` last, birth dates are never chosen.
      Integer year columns (``year``, ``season``, ``*_year``) are reported as candidates
      that need ``time_unit: year``, but not set: relcontrast refuses numeric times.

    Parameters
    ----------
    tables : dict of str to DataFrame, str or path-like
        The tables, or a source :func:`read_tables` reads.
    declared : dict or None, default=None
        A partial schema known for sure, for example read from a database's catalog: per
        table any of ``primary_key``, ``foreign_keys`` and ``time_column``, in the form of
        the returned schema (a missing entry or None is not declared). Declared entries are
        kept as they are and reported as "declared"; inference fills only the rest: the
        primary keys and time columns not declared, and foreign keys on the columns that
        no declared foreign key covers (towards declared or inferred primary keys). None
        declares nothing.
    min_inclusion : float, default=0.95
        Share of a candidate foreign key's non-null values that must be present in the
        referenced primary key.
    return_reasons : bool, default=False
        Also return the reasons.

    Returns
    -------
    schema : dict
        ``{table: {"primary_key": ..., "foreign_keys": {...}, "time_column": ...}}`` for
        every table, ready for :class:`~relcontrast.RelationalDatabase`.
    reasons : dict of str to list of str
        Only with ``return_reasons=True``: per table, one line per decision
        (``"column: what was decided: why"``). The same lines are logged at INFO level on
        the ``relcontrast.io`` logger.

    Examples
    --------
    >>> import pandas as pd
    >>> from relcontrast.io import infer_schema
    >>> users = pd.DataFrame({"user_id": [1, 2], "age": [31, 45]})
    >>> orders = pd.DataFrame({"order_id": [7, 8], "user_id": [2, 2],
    ...                        "ts": pd.to_datetime(["2020-01-01", "2020-02-01"])})
    >>> schema, reasons = infer_schema({"users": users, "orders": orders},
    ...                                return_reasons=True)
    >>> schema["orders"]
    {'primary_key': 'order_id', 'foreign_keys': {'user_id': 'users'}, 'time_column': 'ts'}
    >>> print(reasons["orders"][1])  # doctest: +NORMALIZE_WHITESPACE
    user_id: foreign key to 'users': same name as users.user_id; 100.0% of its 2 non-null
    values are in users.user_id (threshold 95.0%).
    """
    if not 0 < min_inclusion <= 1:
        raise ValueError(f"min_inclusion must be in (0, 1], got {min_inclusion!r}.")
    tables = read_tables(tables)
    declared = _check_declared(declared, tables)
    reasons = {t: [] for t in tables}
    pks = {}
    for t, df in tables.items():
        pk = declared.get(t, {}).get("primary_key")
        if pk is None:
            pks[t] = _infer_primary_key(t, df, tables, reasons[t])
        else:
            pks[t] = pk
            reasons[t].append(f"{_label(pk)}: primary key: declared.")
    schema = {}
    for t, df in tables.items():
        spec = declared.get(t, {})
        fks = dict(spec.get("foreign_keys", {}))
        for fk, ref in fks.items():
            reasons[t].append(f"{_label(fk)}: foreign key to {ref!r}: declared.")
        covered = {c for fk in fks for c in key_tuple(fk)}
        found = _infer_foreign_keys(t, df.drop(columns=list(covered)), tables, pks,
                                    min_inclusion, reasons[t])
        fks.update(found)
        keys = {*key_tuple(pks[t] or ()), *covered, *found}
        time_column = spec.get("time_column")
        if time_column is None:
            time_column = _infer_time_column(t, df, keys, reasons[t])
        else:
            reasons[t].append(f"{time_column}: time column: declared.")
        schema[t] = {"primary_key": pks[t], "foreign_keys": fks, "time_column": time_column}
        if "time_unit" in spec:
            schema[t]["time_unit"] = spec["time_unit"]
    for t, lines in reasons.items():
        for line in lines:
            logger.info("infer_schema: %s.%s", t, line)
    return (schema, reasons) if return_reasons else schema
