"""Propose a schema from the data: primary keys, foreign keys and time columns."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from relcontrast._validation import did_you_mean
from relcontrast.database import key_tuple
from relcontrast.io._common import DATE_SAMPLE, fmt_share, show
from relcontrast.io.readers import read_tables
from relcontrast.io.schema_files import parse_schema

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
#: Endings of a key column named after its table (``customer_id``, ``CustomerID``,
#: ``c_custkey``, ``order_no``, ``shop_code``).
_KEY_SUFFIXES = ("id", "key", "code", "no", "num", "number", "uuid", "guid")
#: Key endings recognised glued to a word (``partkey``, ``tailnum``, ``linenumber``).
_GLUED_SUFFIXES = ("key", "number", "num")
#: Name tokens of free text, never keys found by values (names are unique but not keys).
_TEXT_TOKENS = frozenset({"name", "title", "description", "desc", "comment", "comments",
                          "email", "mail", "phone", "fax", "address", "url", "note", "notes",
                          "label", "text"})
#: Name endings of a row's number within its parent (``l_linenumber``, ``line_no``).
_SEQUENCE_TOKENS = frozenset({"number", "no", "num", "seq", "sequence", "line", "lineno",
                              "idx", "index"})


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
    head = values.iloc[:DATE_SAMPLE]
    if len(head) and all(isinstance(v, str) for v in head):
        return "string"
    return None


def _spread_sample(values: pd.Series, n: int = DATE_SAMPLE) -> pd.Series:
    """Up to ``n`` evenly spaced values (deterministic, unlike ``Series.sample``)."""
    if len(values) <= n:
        return values
    return values.iloc[np.linspace(0, len(values) - 1, n).astype(np.int64)]


# -- schema inference: names ------------------------------------------------------------------
def _column_prefix(columns) -> str | None:
    """The short prefix every column of a table starts with (``c_`` in ``c_custkey``,
    ``c_name``, ...), lower-cased without the underscore, or None."""
    names = [str(c) for c in columns]
    if len(names) < 2 or not all("_" in n for n in names):
        return None
    heads = {n.split("_", 1)[0] for n in names}
    if len(heads) != 1:
        return None
    head = heads.pop()
    return head.lower() if 1 <= len(head) <= 3 and head.isalpha() else None


def _parts(col: str, prefix: str | None) -> list[str]:
    """Name tokens without the table's column prefix, a glued key suffix split off
    (``"ps_partkey"`` -> ``["part", "key"]``, ``"tailnum"`` -> ``["tail", "num"]``)."""
    tokens = _tokens(col)
    if prefix and len(tokens) > 1 and tokens[0] == prefix:
        tokens = tokens[1:]
    if tokens:
        last = tokens[-1]
        for suffix in _GLUED_SUFFIXES:
            if last.endswith(suffix) and len(last) >= len(suffix) + 3:
                tokens = [*tokens[:-1], last[:-len(suffix)], suffix]
                break
    return tokens


def _table_forms(table: str) -> list[str]:
    """The table's name, and its singular, as lower-case strings without separators."""
    return ["".join(stem) for stem in _table_stems(table)]


def _named_after(norm: str, table: str) -> str | None:
    """How a column's normalised name refers to ``table``: ``"exact"`` (``customer_id``,
    ``orderkey``), ``"bare"`` (``shop`` for ``shops``), ``"abbreviated"`` (``custkey`` for
    ``customer``), or None."""
    forms = _table_forms(table)
    if not forms:
        return None
    if norm in forms:
        return "bare"
    stems = [norm[:-len(s)] for s in _KEY_SUFFIXES if norm.endswith(s) and len(norm) > len(s)]
    if any(stem in forms for stem in stems):
        return "exact"
    words = _tokens(table)
    if len(words) == 1 and any(  # a one-word table name, cut short
            len(stem) >= 3 and form.startswith(stem) and len(form) > len(stem)
            for stem in stems for form in forms):
        return "abbreviated"
    return None


def _texty(parts: list[str]) -> bool:
    """Named like free text (a name, title, e-mail, ...) rather than a code."""
    return bool(set(parts) & _TEXT_TOKENS)


class _Names:
    """Column names of every table, read the way keys are named."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]):
        self.prefix = {t: _column_prefix(df.columns) for t, df in tables.items()}

    def parts(self, table: str, col) -> list[str]:
        return _parts(col, self.prefix[table])

    def norm(self, table: str, col) -> str:
        return "".join(self.parts(table, col))


def _uniqueness_problem(series: pd.Series) -> str | None:
    kind = _key_kind(series)
    if kind is None:
        return f"its dtype {series.dtype} cannot hold keys (integers or strings)"
    if series.isna().any():
        return f"{int(series.isna().sum())} null value(s)"
    if not series.is_unique:
        dup = series[series.duplicated()].iloc[0]
        return (f"{int(series.duplicated(keep=False).sum())} rows share a value "
                f"(e.g. {show(dup)})")
    return None


def _inclusion(values: pd.Series, ref_values: pd.Series) -> float:
    """Share of ``values``' non-null entries present in ``ref_values``."""
    values = values.dropna()
    if not len(values):
        return 0.0
    return float(values.isin(pd.Index(ref_values.dropna().unique())).mean())


def _share_included(values: pd.Series, index: pd.Index, min_inclusion: float) -> float | None:
    """The share of ``values``' non-null entries in ``index`` when at least
    ``min_inclusion``, else None (a sample is checked first, to skip the whole column
    quickly)."""
    values = values.dropna()
    if not len(values):
        return None
    sample = _spread_sample(values)
    if len(sample) < len(values) and sample.isin(index).mean() < min_inclusion - 0.05:
        return None
    share = float(values.isin(index).mean())
    return share if share >= min_inclusion else None


def _code_like(series: pd.Series) -> bool:
    """String values that read as codes: no whitespace in any of a sample."""
    sample = _spread_sample(series.dropna())
    return bool(len(sample)) and not sample.astype(str).str.contains(r"\s", regex=True).any()


# -- schema inference: primary keys -----------------------------------------------------------
def _pk_rank(table: str, col: str, tables: Mapping[str, pd.DataFrame],
             names: _Names) -> tuple[int, str] | None:
    """How well ``col``'s name fits a primary key of ``table`` (lower is better)."""
    parts = names.parts(table, col)
    if not parts:
        return None
    norm = "".join(parts)
    how = _named_after(norm, table)
    if how == "exact":
        return 0, "named after the table"
    if norm in _GENERIC_KEY_NAMES:
        return 1, f"a generic key name ({col!r})"
    if how == "bare" and _key_kind(tables[table][col]) == "string":
        return 2, "named like the table"
    if how == "abbreviated":
        return 3, f"named after the table ({col!r} abbreviates {table!r})"
    if parts[-1] not in _ID_TOKENS:
        return None
    others = [t for t in tables if t != table and _named_after(norm, t) == "exact"]
    if others:
        return 5, f"an id-like name, though it is named after table {others[0]!r}"
    return 4, "an id-like name"


def _one_to_one(table: str, col: str, tables, names: _Names) -> str | None:
    """The other table ``col`` is named after that holds a unique, non-null column of the
    same name: then ``col`` is a foreign key to it (one row per row there), not this table's
    key."""
    norm = names.norm(table, col)
    for other in tables:
        if other != table and _named_after(norm, other) == "exact" and any(
                names.norm(other, c) == norm and _uniqueness_problem(tables[other][c]) is None
                for c in tables[other].columns):
            return other
    return None


def _infer_primary_key(table, df, tables, names, reasons) -> str | None:
    candidates, one_to_one = [], []
    for col in df.columns:
        rank = _pk_rank(table, col, tables, names)
        if rank is None:
            continue
        problem = _uniqueness_problem(df[col])
        other = _one_to_one(table, col, tables, names) if rank[0] == 5 else None
        if problem is None and other is not None:
            one_to_one.append(f"{col}: not the primary key: unique, but table {other!r} holds "
                              f"it as a unique column too: a foreign key to {other!r}.")
            continue
        if problem is None:
            candidates.append((rank[0], col, rank[1]))
        elif rank[0] <= 3:
            reasons.append(f"{col}: not the primary key: {problem}.")
    if not candidates:
        reasons.extend(one_to_one)
        return None
    candidates.sort(key=lambda c: c[0])
    rank, col, why = candidates[0]
    others = [c[1] for c in candidates[1:]]
    also = f" Other unique id-like columns: {others}." if others else ""
    reasons.append(f"{col}: primary key: unique and non-null, {why}.{also}")
    return col


def _references(table, col, tables, names, pks, min_inclusion):
    """Columns of other tables whose values lie in ``table.col``: ``(same_name, where,
    share)`` for each, the same-named first."""
    series = tables[table][col]
    kind = _key_kind(series)
    norm = names.norm(table, col)
    index = pd.Index(series.unique())
    found = []
    for other, df in tables.items():
        if other == table:
            continue
        for ref_col in df.columns:
            if ref_col == pks.get(other) or _key_kind(df[ref_col]) != kind:
                continue
            same = names.norm(other, ref_col) == norm
            if not same:
                parts = names.parts(other, ref_col)
                if (kind != "string" or _texty(parts)
                        or df[ref_col].nunique() < 2):
                    continue
            share = _share_included(df[ref_col], index, min_inclusion)
            if share is not None:
                found.append((not same, f"{other}.{ref_col}", share))
    return sorted(found, key=lambda f: f[0])


def _referenced_key(table, df, tables, names, pks, min_inclusion, reasons) -> str | None:
    """A unique, non-null column that other tables' columns reference by name or values."""
    candidates = []
    for i, col in enumerate(df.columns):
        parts = names.parts(table, col)
        kind = _key_kind(df[col])
        if (kind is None or _texty(parts) or _uniqueness_problem(df[col]) is not None
                or (kind == "number" and (not parts or parts[-1] not in _KEY_SUFFIXES))
                or (kind == "string" and not _code_like(df[col]))):
            continue
        refs = _references(table, col, tables, names, pks, min_inclusion)
        if refs:
            by_name = sum(not r[0] for r in refs)
            candidates.append((-by_name, -len(refs), i, col, refs))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[:3])
    *_, col, refs = candidates[0]
    evidence = ", ".join(f"{where} ({'another name' if by_values else 'same name'}, "
                         f"{fmt_share(share)} of its values)" for by_values, where, share in refs)
    others = [c[3] for c in candidates[1:]]
    also = f" Other referenced unique columns: {others}." if others else ""
    reasons.append(f"{col}: primary key: unique and non-null, referenced by {evidence}.{also}")
    return col


def _composite_key(table, df, fks, names, reasons) -> tuple[str, ...] | None:
    """Two key-like columns unique together, at least one a foreign key and the other a
    foreign key or named like an id or a number; a column unique on its own only in a pair of
    foreign keys (a link table)."""
    fk_cols = {c for fk in fks for c in key_tuple(fk)}
    keyish = []
    for col in df.columns:
        parts = names.parts(table, col)
        seq = bool(parts) and parts[-1] in _SEQUENCE_TOKENS
        if col in fk_cols or seq or (parts and parts[-1] in _KEY_SUFFIXES):
            if _key_kind(df[col]) is not None and not df[col].isna().any():
                keyish.append((col, seq and col not in fk_cols, df[col].is_unique))
    candidates = []
    for i, (a, a_seq, a_unique) in enumerate(keyish):
        for b, b_seq, b_unique in keyish[i + 1:]:
            both_fk = a in fk_cols and b in fk_cols
            if a not in fk_cols and b not in fk_cols:
                continue
            if (a_unique or b_unique) and not both_fk or df.duplicated([a, b]).any():
                continue
            numbered = (a_seq and b in fk_cols) or (b_seq and a in fk_cols)
            rank = 0 if numbered else 1 if both_fk else 2
            candidates.append((rank, a, b))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    rank, a, b = candidates[0]
    why = ["a foreign key and a sequence number", "two foreign keys (a link table)",
           "a foreign key and an id-like column"][rank]
    others = [(x, y) for _, x, y in candidates[1:]]
    also = f" Other unique pairs: {others}." if others else ""
    reasons.append(f"({a}, {b}): primary key: unique and non-null together, {why}.{also}")
    return (a, b)


# -- schema inference: foreign keys -----------------------------------------------------------
def _fk_match(table: str, col: str, ref: str, ref_pk: str, pk, names: _Names,
              kind: str | None) -> tuple[int, str] | None:
    """``(strength, why)`` when ``table.col`` looks like a foreign key to ``ref`` by name."""
    if ref == table and col == ref_pk:
        return None
    tokens = names.parts(table, col)
    norm = "".join(tokens)
    pk_tokens = names.parts(ref, ref_pk)
    if norm == "".join(pk_tokens) and norm not in _GENERIC_KEY_NAMES:
        if col == ref_pk or _norm(col) == _norm(ref_pk):
            return 0, f"same name as {ref}.{ref_pk}"
        return 0, f"same name as {ref}.{ref_pk}, column prefixes aside"
    how = _named_after(norm, ref)
    if how == "exact":
        return 1, f"named after table {ref!r}"
    if how == "bare" and ref != table and kind == "string":
        return 1, f"named after table {ref!r}"
    if how == "abbreviated" and ref != table:
        return 2, f"named after table {ref!r}, abbreviated"
    if col == pk:  # a primary key references another table only if named exactly so
        return None
    suffixes = [stem + ["id"] for stem in _table_stems(ref)]
    if "".join(pk_tokens) not in _GENERIC_KEY_NAMES:
        suffixes.append(pk_tokens)
    for suffix in suffixes:
        if len(tokens) > len(suffix) and tokens[-len(suffix):] == suffix:
            return 2, f"ends with {''.join(suffix)!r} (a role of table {ref!r})"
    return None


def _infer_foreign_keys(table, df, tables, pks, names, min_inclusion,
                        reasons) -> dict[str, str]:
    out = {}
    for col in df.columns:
        kind = _key_kind(df[col])
        matches = []
        for ref, ref_pk in pks.items():
            if ref_pk is None or isinstance(ref_pk, tuple):
                continue
            match = _fk_match(table, col, ref, ref_pk, pks[table], names, kind)
            if match is None:
                continue
            strength, why = match
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
            share = _inclusion(values, ref_values)
            matches.append((strength, -share, ref, ref_pk, why, share, len(values)))
        if not matches:
            if kind == "string" and col != pks[table]:
                found = _value_match(table, col, tables, pks, names, min_inclusion, reasons)
                if found is not None:
                    out[col] = found
            continue
        matches.sort(key=lambda m: m[:2])
        accepted = [m for m in matches if m[5] >= min_inclusion]
        for _, _, ref, ref_pk, why, share, n in matches:
            if accepted and ref == accepted[0][2]:
                continue
            found = f"{fmt_share(share)} of its {n} non-null values are in {ref}.{ref_pk}"
            if share < min_inclusion:
                reasons.append(f"{col}: not a foreign key to {ref!r} ({why}): {found}, below "
                               f"the {fmt_share(min_inclusion)} threshold.")
            else:
                reasons.append(f"{col}: not a foreign key to {ref!r} ({why}; {found}): the "
                               f"name points more clearly at {accepted[0][2]!r}.")
        if accepted:
            _, _, ref, ref_pk, why, share, n = accepted[0]
            out[col] = ref
            nulls = int(df[col].isna().sum())
            reasons.append(
                f"{col}: foreign key to {ref!r}: {why}; {fmt_share(share)} of its {n} non-null "
                f"values are in {ref}.{ref_pk} (threshold {fmt_share(min_inclusion)})"
                + (f", {nulls} null(s)." if nulls else "."))
    return out


def _value_match(table, col, tables, pks, names, min_inclusion, reasons) -> str | None:
    """The one other table whose string primary key holds ``table.col``'s values."""
    series = tables[table][col]
    if _texty(names.parts(table, col)) or series.nunique() < 2:
        return None
    hits = []
    for ref, ref_pk in pks.items():
        if ref == table or ref_pk is None or isinstance(ref_pk, tuple):
            continue
        ref_values = tables[ref][ref_pk]
        if _key_kind(ref_values) != "string" or not _code_like(ref_values):
            continue
        share = _share_included(series, pd.Index(ref_values.unique()), min_inclusion)
        if share is not None:
            hits.append((ref, ref_pk, share))
    n = int(series.notna().sum())
    if len(hits) > 1:
        where = ", ".join(f"{r}.{k} ({fmt_share(s)})" for r, k, s in hits)
        reasons.append(f"{col}: not a foreign key: its values are in the keys of several "
                       f"tables ({where}); set it by hand.")
        return None
    if not hits:
        return None
    ref, ref_pk, share = hits[0]
    nulls = int(series.isna().sum())
    reasons.append(
        f"{col}: foreign key to {ref!r}: by values under another name: {fmt_share(share)} of "
        f"its {n} non-null values are in {ref}.{ref_pk} (threshold "
        f"{fmt_share(min_inclusion)}), no other table's key holds them"
        + (f", {nulls} null(s)." if nulls else "."))
    return ref


def _composite_foreign_keys(table, df, tables, pks, names, fks, min_inclusion,
                            reasons) -> dict[tuple[str, ...], str]:
    """Columns named as the parts of another table's composite primary key, whose value
    tuples lie in it."""
    out = {}
    by_norm = {}
    for col in df.columns:
        by_norm.setdefault(names.norm(table, col), col)
    for ref, ref_pk in pks.items():
        if ref == table or not isinstance(ref_pk, tuple):
            continue
        cols = tuple(by_norm.get(names.norm(ref, c)) for c in ref_pk)
        if None in cols or cols == pks[table] or cols in fks:
            continue
        pairs = zip(cols, ref_pk, strict=True)
        if any(_key_kind(df[c]) != _key_kind(tables[ref][r]) for c, r in pairs):
            continue
        rows = df[list(cols)].dropna()
        if not len(rows):
            continue
        ref_rows = tables[ref][list(ref_pk)].drop_duplicates()
        ref_rows.columns = list(cols)
        share = float(len(rows.merge(ref_rows, how="inner", on=list(cols))) / len(rows))
        label = f"({', '.join(cols)})"
        where = f"{ref}'s primary key ({', '.join(ref_pk)})"
        if share >= min_inclusion:
            out[cols] = ref
            reasons.append(f"{label}: foreign key to {ref!r}: named as the columns of {where}; "
                           f"{fmt_share(share)} of its {len(rows)} rows' values are in it "
                           f"(threshold {fmt_share(min_inclusion)}).")
        else:
            reasons.append(f"{label}: not a foreign key to {ref!r} (named as the columns of "
                           f"{where}): {fmt_share(share)} of its {len(rows)} rows' values "
                           f"are in it, below the {fmt_share(min_inclusion)} threshold.")
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
    detail = f"strings that parse as dates ({fmt_share(share)} of {len(strings)} sampled)"
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
    parsed = parse_schema(declared, "declared")
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


def infer_schema(tables, *, declared: Mapping[str, Mapping] | None = None,
                 min_inclusion: float = MIN_INCLUSION, return_reasons: bool = False):
    """Propose a schema for a database from its data, explaining every choice.

    The proposal is a starting point to check and edit, not a ground truth:

    - **primary key**: a unique, non-null integer or string column, chosen in this order:

      1. named after the table: ``user_id``, ``userId``, ``users_id``, ``user_key``,
         ``user_code``, ``user_no`` for ``users``, also with a prefix that every column of
         the table shares (``c_custkey`` in TPC-H's ``customer``) and cut short for a
         one-word table name (``custkey``, ``emp_id``); then a generic ``id`` / ``key``;
         then the table's name itself for string codes (``shop`` for ``shops``); then any
         other id-like name (``*_id``, ``*Id``, ``*ID``, ``*key``), except a column named
         after another table that holds the same unique column (then it is a foreign key
         to that table);
      2. otherwise a column that other tables reference: by the same name (``tailnum`` in
         ``planes``, which ``flights.tailnum`` holds), or by values under another name for
         string codes (``airports.faa``, whose values ``flights.origin`` holds);
         integers only by the same name and with an id-like name, and columns named like
         text (``name``, ``title``, ``email``, ...) never, since a measure or a name can be
         unique without being a key;
      3. otherwise two key columns unique together: a foreign key and a number within it
         (``(l_orderkey, l_linenumber)``), or two foreign keys (a link table such as
         ``(PlaylistId, TrackId)``).
    - **foreign keys**: a column named like another table's primary key (``circuitId`` ->
      ``circuits.circuitId``; ``l_orderkey`` -> ``orders.o_orderkey``, column prefixes
      aside), after that table (``user_id`` -> ``users``, ``o_custkey`` -> ``customer``,
      ``shop`` -> ``shops``), or ending so (``winner_user_id``), whose non-null values lie in
      that primary key for at least ``min_inclusion`` of them (95% by default; the share is
      reported). A string column whose name points nowhere is a foreign key when at least
      ``min_inclusion`` of its values lie in exactly one other table's string primary key
      (``flights.origin`` -> ``airports.faa``); integers never by values alone, since small
      integer measures (years, hours, counts) lie in most integer keys. Columns named as
      the parts of another table's composite primary key whose value pairs lie in it are a
      composite foreign key (``(l_partkey, l_suppkey)`` -> ``partsupp``). Self-references
      whose name does not point at the table (``referrer``, ``ReportsTo``) and integer
      references under an unrelated name (``SupportRepId`` -> employees) are not found.
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
    names = _Names(tables)
    reasons = {t: [] for t in tables}
    pks = {}
    for t, df in tables.items():  # named like a key
        pk = declared.get(t, {}).get("primary_key")
        if pk is None:
            pks[t] = _infer_primary_key(t, df, tables, names, reasons[t])
        else:
            pks[t] = pk
            reasons[t].append(f"{_label(pk)}: primary key: declared.")
    for t, df in tables.items():  # referenced by other tables' columns
        if pks[t] is None:
            pks[t] = _referenced_key(t, df, tables, names, pks, min_inclusion, reasons[t])
    fks = {}
    for t, df in tables.items():
        fks[t] = dict(declared.get(t, {}).get("foreign_keys", {}))
        for fk, ref in fks[t].items():
            reasons[t].append(f"{_label(fk)}: foreign key to {ref!r}: declared.")
        covered = {c for fk in fks[t] for c in key_tuple(fk)}
        fks[t].update(_infer_foreign_keys(t, df.drop(columns=list(covered)), tables, pks, names,
                                          min_inclusion, reasons[t]))
    for t, df in tables.items():  # link tables and rows numbered within their parent
        if pks[t] is None:
            pks[t] = _composite_key(t, df, fks[t], names, reasons[t])
        if pks[t] is None:
            reasons[t].append(
                "no primary key: no unique, non-null column with an id-like name (id, "
                f"{_singular(t)}_id, {_singular(t)}Id, ...) or referenced by another table, "
                "and no unique pair of key columns. Its rows cannot be referenced or be the "
                "target of predictions; set primary_key by hand if a column identifies rows.")
    for t, df in tables.items():
        fks[t].update(_composite_foreign_keys(t, df, tables, pks, names, fks[t], min_inclusion,
                                              reasons[t]))
    schema = {}
    for t, df in tables.items():
        spec = declared.get(t, {})
        keys = {*key_tuple(pks[t] or ()), *(c for fk in fks[t] for c in key_tuple(fk))}
        time_column = spec.get("time_column")
        if time_column is None:
            time_column = _infer_time_column(t, df, keys, reasons[t])
        else:
            reasons[t].append(f"{time_column}: time column: declared.")
        schema[t] = {"primary_key": pks[t], "foreign_keys": fks[t], "time_column": time_column}
        if "time_unit" in spec:
            schema[t]["time_unit"] = spec["time_unit"]
    for t, lines in reasons.items():
        for line in lines:
            logger.info("infer_schema: %s.%s", t, line)
    return (schema, reasons) if return_reasons else schema
