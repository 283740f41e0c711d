"""Property-based tests: random small schemas and databases through fit and transform.

Strategies build databases of 1-5 tables (0-16 rows) with integer, string or composite
primary keys, foreign-key graphs with cycles and self-references, null and dangling
references, timed and untimed tables, time-zone aware times at nanosecond resolution (around
2020, the epoch and both ends of the datetime64[ns] range) with many ties, and nullable
features of every kind (int, float with NaN / inf / huge values, bool, category, str, ISO
dates, datetimes, timedeltas, text, lists, mixed objects, constant and all-null columns).
The properties:

- valid databases fit and transform into finite ``(n, hidden_channels)`` embeddings;
- each documented invalid input raises its ``ValueError`` / ``TypeError`` naming the table;
- no future leakage: changing, deleting or adding rows dated after ``t`` never changes an
  embedding at ``t``, with whole-second and with nanosecond times (a row 1 ns after ``t`` is
  already in the future);
- row order: permuting every table's rows never changes an embedding (bitwise), and
  :func:`~relcontrast.graph.row_rank`, which the sampler's tie-breaking rests on, follows
  the rows, not their positions.

The default profile is fast and derandomised (CI); ``HYPOTHESIS_PROFILE=long`` runs 20 times
as many examples with fresh randomness
(``HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_properties.py``).
"""

from __future__ import annotations

import os
import string
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from relcontrast import RelationalContrastiveEncoder, RelationalDatabase
from relcontrast.graph import row_rank

settings.register_profile(
    "fast", max_examples=10, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long", max_examples=10, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
settings.load_profile(PROFILE)
SCALE = 20 if PROFILE == "long" else 1


def examples(n: int) -> int:
    """Examples per property: ``n`` in the fast profile, ``20 * n`` in the long one."""
    return n * SCALE


HIDDEN = 8
ENCODER = dict(hidden_channels=HIDDEN, max_steps=2, steps_per_epoch=1, batch_size=16,
               random_state=0)
NS = 1_000_000_000
DAY_NS = 86_400 * NS
# Origins of the generated times: today, just before the epoch (negative nanoseconds), and
# near both ends of the datetime64[ns] range (1677-09-21 .. 2262-04-11).
ORIGINS = tuple(pd.Timestamp(t).value for t in (
    "2020-01-01", "1969-12-31 23:59:58", "1677-09-22", "2262-03-25"))
TABLE_NAMES = ("users", "orders", "items", "t", "Order Items", "événements", "x_1", "0")
WORDS = ("red", "fast", "car", "blue", "old", "cheap", "late", "new")
FEATURE_KINDS = ("int", "int_na", "float", "float_wide", "bool", "bool_na", "category", "str",
                 "string", "datetime", "iso", "timedelta", "text", "list", "mixed", "const",
                 "null")


# -- strategies ----------------------------------------------------------------------------
@dataclass
class TableSpec:
    name: str
    primary_key: str | tuple[str, str] | None
    key_kind: str | None  # "int", "str" or "pair" (a composite key: an int and a str)
    time_column: str | None
    foreign_keys: dict[str, str] = field(default_factory=dict)
    features: dict[str, str] = field(default_factory=dict)
    keys: list = field(default_factory=list)
    num_rows: int = 0

    @property
    def key_columns(self) -> list[str]:
        return [] if self.primary_key is None else list(_columns(self.primary_key))

    def key_frame(self, keys: list) -> pd.DataFrame:
        """Key values (tuples for a composite key) as the key columns, in their dtypes."""
        if self.key_kind == "pair":
            return pd.DataFrame({"id": pd.Series([k[0] for k in keys], dtype="int64"),
                                 "id2": pd.Series([k[1] for k in keys], dtype="str")})
        return pd.DataFrame({"id": pd.Series(keys, dtype="int64" if self.key_kind == "int"
                                             else "str")})

    def schema(self) -> dict:
        return {"primary_key": self.primary_key, "foreign_keys": dict(self.foreign_keys),
                "time_column": self.time_column}


@dataclass
class Generated:
    """A random database: its tables and schema, the table specs and the target table."""

    tables: dict[str, pd.DataFrame]
    schema: dict[str, dict]
    specs: dict[str, TableSpec]
    target: str
    whole_seconds: bool
    origin: int  # ns since the epoch that generated times count from

    def database(self) -> RelationalDatabase:
        return RelationalDatabase(self.tables, self.schema, on_dangling="ignore")


def _columns(key) -> tuple:
    """The columns of a key: ``"id"`` -> ``("id",)``, ``("id", "id2")`` unchanged."""
    return (key,) if isinstance(key, str) else tuple(key)


def _key_values(spec: TableSpec, df: pd.DataFrame) -> list:
    """The primary-key values of ``df``'s rows (tuples for a composite key)."""
    if spec.key_kind == "pair":
        return list(zip(df["id"].tolist(), df["id2"].tolist(), strict=True))
    return df["id"].tolist()


def time_values(whole_seconds: bool, lo_ns: int = 0, hi_ns: int = 6 * DAY_NS):
    """Nanoseconds since the origin in ``[lo_ns, hi_ns]``: whole seconds, or any."""
    if whole_seconds:
        return st.integers(-(-lo_ns // NS), hi_ns // NS).map(lambda s: s * NS)
    return st.integers(lo_ns, hi_ns)


@st.composite
def row_times(draw, n: int, whole_seconds: bool) -> list[int]:
    """``n`` times (ns since the origin) from a small pool, so ties are common."""
    pool = draw(st.lists(time_values(whole_seconds), min_size=1, max_size=4))
    return draw(st.lists(st.one_of(st.sampled_from(pool), time_values(whole_seconds)),
                         min_size=n, max_size=n))


def _keys(kind: str, n: int):
    if kind == "pair":  # few values per column, so rows share each part of their key
        part = st.tuples(st.integers(-4, 4), st.sampled_from(["a", "b", "é", ""]))
        return st.lists(part, min_size=n, max_size=n, unique=True)
    if kind == "int":
        return st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n, unique=True)
    alphabet = string.ascii_letters[:6] + " é0"
    return st.lists(st.text(alphabet, max_size=4), min_size=n, max_size=n, unique=True)


@st.composite
def feature_column(draw, kind: str, n: int, whole_seconds: bool, origin: int) -> pd.Series:
    def maybe_null(values, null):
        mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return [null if m else v for v, m in zip(values, mask, strict=True)]

    def items(strategy):
        return draw(st.lists(strategy, min_size=n, max_size=n))

    if kind == "int":
        return pd.Series(items(st.integers(-(2**31), 2**31)), dtype="int64")
    if kind == "int_na":
        return pd.Series(maybe_null(items(st.integers(0, 5)), pd.NA), dtype="Int64")
    if kind == "float":
        values = items(st.floats(-1e6, 1e6, allow_nan=False) | st.just(np.nan))
        return pd.Series(values, dtype="float64")
    if kind == "float_wide":
        return pd.Series(items(st.floats(width=64)), dtype="float64")
    if kind == "bool":
        return pd.Series(items(st.booleans()), dtype=bool)
    if kind == "bool_na":
        return pd.Series(maybe_null(items(st.booleans()), pd.NA), dtype="boolean")
    if kind == "category":
        return pd.Series(maybe_null(items(st.sampled_from(WORDS[:3])), None), dtype="category")
    if kind == "str":
        return pd.Series(maybe_null(items(st.sampled_from(WORDS[:4])), None))
    if kind == "string":
        return pd.Series(maybe_null(items(st.sampled_from(WORDS[:4])), None), dtype="string")
    if kind == "iso":
        times = maybe_null(items(time_values(whole_seconds)), None)
        return pd.Series([None if t is None else pd.Timestamp(origin + t).isoformat()
                          for t in times], dtype=object)
    if kind == "timedelta":
        return pd.Series(pd.to_timedelta(maybe_null(items(st.integers(0, 10**12)), None)))
    if kind == "list":
        return pd.Series(maybe_null(items(st.lists(st.sampled_from(WORDS[:4]), max_size=3)),
                                    None), dtype=object)
    if kind == "mixed":
        return pd.Series(maybe_null(items(st.one_of(st.integers(0, 3), st.sampled_from(WORDS))),
                                    None), dtype=object)
    if kind == "datetime":
        times = maybe_null(items(time_values(whole_seconds)), None)
        return pd.Series([pd.NaT if t is None else pd.Timestamp(origin + t) for t in times],
                         dtype="datetime64[ns]")
    if kind == "text":
        sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
        return pd.Series(maybe_null(items(sentence), None))
    if kind == "const":
        return pd.Series([7.5] * n, dtype="float64")
    return pd.Series([None] * n, dtype=object)  # "null"


@st.composite
def generated_databases(draw, *, max_tables: int = 5, whole_seconds: bool | None = None,
                        timed_target: bool = False, dangling: bool = True,
                        max_rows: int = 8) -> Generated:
    """A valid random database. Table 0 is the target: it has a primary key and rows.
    ``dangling``: foreign keys may hold values absent from the referenced table (dropped
    links, as ``on_dangling="ignore"`` reads them)."""
    if whole_seconds is None:
        whole_seconds = draw(st.booleans())
    origin = draw(st.sampled_from(ORIGINS))
    n_tables = draw(st.integers(1, max_tables))
    names = draw(st.lists(st.sampled_from(TABLE_NAMES), min_size=n_tables,
                          max_size=n_tables, unique=True))
    specs = {}
    for i, name in enumerate(names):
        has_pk = i == 0 or draw(st.booleans())
        timed = (i == 0 and timed_target) or draw(st.booleans())
        key_kind = draw(st.sampled_from(["int", "str", "pair"])) if has_pk else None
        specs[name] = TableSpec(
            name, primary_key=("id", "id2") if key_kind == "pair" else "id" if has_pk else None,
            key_kind=key_kind,
            time_column=draw(st.sampled_from(["ts", "when"])) if timed else None,
            num_rows=draw(st.integers(2 if i == 0 else 0, max_rows)),
        )
    referable = [name for name, s in specs.items() if s.primary_key is not None]
    for spec in specs.values():
        refs = draw(st.lists(st.sampled_from(referable), max_size=2))
        spec.foreign_keys = {(f"fk{j}", f"fk{j}_2") if specs[ref].key_kind == "pair"
                             else f"fk{j}": ref for j, ref in enumerate(refs)}
        kinds = draw(st.lists(st.sampled_from(FEATURE_KINDS), max_size=4))
        spec.features = {f"c{j}": kind for j, kind in enumerate(kinds)}
        if spec.primary_key is not None:
            spec.keys = draw(_keys(spec.key_kind, spec.num_rows))

    tables = {}
    for spec in specs.values():
        n = spec.num_rows
        data = {}
        if spec.primary_key is not None:
            data.update(spec.key_frame(spec.keys))
        for cols, ref in spec.foreign_keys.items():
            data.update(zip(_columns(cols), draw(fk_columns(specs[ref], n, dangling)),
                            strict=True))
        if spec.time_column is not None:
            times = draw(row_times(n, whole_seconds))
            data[spec.time_column] = draw(time_column(times, origin))
        for col, kind in spec.features.items():
            data[col] = draw(feature_column(kind, n, whole_seconds, origin))
        order = draw(st.permutations(list(data)))  # column order is arbitrary
        tables[spec.name] = pd.DataFrame({c: data[c] for c in order}, index=pd.RangeIndex(n))
    gen = Generated(tables, {s.name: s.schema() for s in specs.values()}, specs, names[0],
                    whole_seconds, origin)
    note(f"schema={gen.schema}")
    note(f"tables={tables}")
    return gen


@st.composite
def fk_columns(draw, ref: TableSpec, n: int, dangling: bool = True) -> list[pd.Series]:
    """References to ``ref``'s keys, often to its first two (rows with many neighbours), with
    nulls and (if ``dangling``) absent values."""
    choices = [st.none()]
    if ref.keys:
        choices += [st.sampled_from(ref.keys), st.sampled_from(ref.keys[:2])]
    if dangling:
        choices.append(st.just(_fresh_keys(ref, 1)[0]))
    values = draw(st.lists(st.one_of(*choices), min_size=n, max_size=n))
    if ref.key_kind == "pair":  # a nullable int column and a str column
        return [pd.Series([None if v is None else v[0] for v in values], dtype="Int64"),
                pd.Series([None if v is None else v[1] for v in values], dtype=object)]
    return [draw(_fk_column(ref, values))]


@st.composite
def _fk_column(draw, ref: TableSpec, values: list) -> pd.Series:
    if ref.key_kind == "int":
        if any(v is None for v in values):
            dtype = draw(st.sampled_from(["Int64", "float64"]))
            if dtype == "float64":  # pandas' own choice; exact for keys below 2**53
                return pd.Series([np.nan if v is None else float(v) for v in values])
            return pd.Series(values, dtype="Int64")
        return pd.Series(values, dtype="int64")
    return pd.Series(values, dtype=draw(st.sampled_from([object, None])))


@st.composite
def time_column(draw, times_ns: list[int], origin: int) -> pd.Series:
    """A time column holding ``origin + times_ns`` exactly: naive or time-zone aware."""
    ser = pd.Series(pd.to_datetime(np.asarray(times_ns, dtype=np.int64) + origin, unit="ns"))
    if draw(st.booleans()):
        ser = ser.dt.tz_localize("UTC").dt.tz_convert("Asia/Kolkata")
    return ser


@st.composite
def transform_rows(draw, gen: Generated, max_rows: int = 6) -> pd.DataFrame:
    """Rows ``(entity, cutoff)`` of the target table, any entity at any time."""
    keys = gen.specs[gen.target].keys
    n = draw(st.integers(1, max_rows))
    ents = draw(st.lists(st.sampled_from(keys), min_size=n, max_size=n))
    times = draw(st.lists(time_values(gen.whole_seconds, 0, 7 * DAY_NS), min_size=n,
                          max_size=n))
    X = gen.specs[gen.target].key_frame(ents)
    if any(s.time_column for s in gen.specs.values()):
        X["at"] = pd.to_datetime(np.asarray(times, dtype=np.int64) + gen.origin, unit="ns")
        X["at"] = not_before_the_entity(gen, X)
    return X


def not_before_the_entity(gen: Generated, X: pd.DataFrame) -> pd.Series:
    """X's cutoffs, each moved up to its entity's own time when the target table is dated:
    a row whose entity did not exist yet is refused (``tests/test_bad_input.py``)."""
    db = gen.database()
    own = db.time_ns(gen.target)
    if own is None:
        return X["at"]
    index = db.key_to_index(gen.target, X[gen.specs[gen.target].key_columns])
    at = X["at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return pd.Series(pd.to_datetime(np.maximum(at, own[index]), unit="ns"), index=X.index)


def fit(gen: Generated) -> RelationalContrastiveEncoder:
    enc = RelationalContrastiveEncoder(target_table=gen.target, **ENCODER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return enc.fit(gen.database())


# -- property 1: valid databases fit and transform -------------------------------------------
@settings(max_examples=examples(40))
@given(data=st.data())
def test_valid_databases_fit_and_embed_finitely(data):
    gen = data.draw(generated_databases())
    enc = fit(gen)
    X = data.draw(transform_rows(gen))
    Z = enc.transform(X)
    assert Z.shape == (len(X), HIDDEN)
    assert np.isfinite(Z).all()


# -- property 2: no future leakage ---------------------------------------------------------
# transform's sampling: the default (4, 4) latest rows, and small fan-outs, where ties
# between rows of equal time decide which rows are read
SAMPLING = st.fixed_dictionaries({
    "temporal_strategy": st.sampled_from(["last", "uniform"]),
    "num_neighbors": st.tuples(*[st.sampled_from([4, 1, 2, -1])] * 2),
})


def _like(original: pd.Series, values: list) -> pd.Series:
    """``values`` as a column of ``original``'s dtype (categories: the union of both)."""
    dtype = original.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = sorted(set(dtype.categories) | {v for v in values if isinstance(v, str)})
        return pd.Series(values, dtype=pd.CategoricalDtype(cats))
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.Series(pd.to_datetime(values, utc=True)).dt.tz_convert(dtype.tz)
    if dtype == np.int64 and any(pd.isna(v) for v in values):  # a key column gains nulls
        return pd.Series(values, dtype="Int64")
    return pd.Series(values, dtype=dtype)


def _concat(original: pd.DataFrame, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of ``parts`` stacked, every column in ``original``'s dtype."""
    return pd.DataFrame({
        col: _like(original[col], [v for p in parts for v in p[col].tolist()])
        for col in original.columns
    })


@st.composite
def fresh_rows(draw, gen: Generated, spec: TableSpec, n: int, after_ns: int,
               keys: list, entity) -> pd.DataFrame:
    """``n`` new rows of ``spec``'s columns dated after ``after_ns`` (absolute ns); foreign
    keys often point at ``entity`` (so the rows neighbour the embedded row)."""
    data = {}
    if spec.primary_key is not None:
        data.update({c: v.tolist() for c, v in spec.key_frame(keys).items()})
    for cols, ref in spec.foreign_keys.items():
        targets = gen.specs[ref].keys
        choices = [st.none()] + ([st.sampled_from(targets)] if targets else [])
        if ref == gen.target:
            choices.append(st.just(entity))
        values = draw(st.lists(st.one_of(*choices), min_size=n, max_size=n))
        for i, col in enumerate(_columns(cols)):
            data[col] = [v if v is None or isinstance(cols, str) else v[i] for v in values]
    near = st.integers(1, 2 * NS) if not gen.whole_seconds else st.integers(1, 2).map(
        lambda s: s * NS)
    later = st.one_of(near, time_values(gen.whole_seconds, NS, 3 * DAY_NS))
    offsets = draw(st.lists(later, min_size=n, max_size=n))
    data[spec.time_column] = [pd.Timestamp(after_ns + d) for d in offsets]
    for col, kind in spec.features.items():
        data[col] = draw(feature_column(kind, n, gen.whole_seconds, gen.origin)).tolist()
    return pd.DataFrame(data, index=pd.RangeIndex(n))


def _fresh_keys(spec: TableSpec, n: int) -> list:
    """``n`` key values absent from every generated table."""
    if spec.key_kind == "pair":
        return [(2**41 + 1000 + i, "new") for i in range(n)]
    if spec.key_kind == "int":
        return [2**41 + 1000 + i for i in range(n)]
    return [f"new-{i}" for i in range(n)]


@st.composite
def changed_after(draw, gen: Generated, db: RelationalDatabase, t_ns: int,
                  entity) -> dict[str, pd.DataFrame]:
    """``gen``'s tables with rows dated after ``t_ns`` changed, deleted and added: every
    column of a later row may change (its time stays after ``t_ns``)."""
    tables = {}
    for name, spec in gen.specs.items():
        df = gen.tables[name]
        if spec.time_column is None:
            tables[name] = df
            continue
        later = db.time_ns(name) > t_ns
        old = df[later].reset_index(drop=True)
        n_new = draw(st.integers(0, 3))
        keys = (_key_values(spec, old) + _fresh_keys(spec, n_new) if spec.primary_key
                else None)
        fresh = draw(fresh_rows(gen, spec, len(old) + n_new, t_ns, keys, entity))
        # per later row: keep it, replace it by its fresh version, or delete it
        fate = draw(st.lists(st.sampled_from(["keep", "change", "delete"]), min_size=len(old),
                             max_size=len(old)))
        rows = [old.iloc[[i]] if f == "keep" else fresh.iloc[[i]]
                for i, f in enumerate(fate) if f != "delete"]
        parts = [df[~later], *rows, fresh.iloc[len(old):]]
        tables[name] = _concat(df, parts)
    return tables


def _leakage_property(data, whole_seconds: bool):
    gen = data.draw(generated_databases(whole_seconds=whole_seconds, timed_target=True))
    db = gen.database()
    target_times = db.time_ns(gen.target)
    entity_row = data.draw(st.integers(0, len(target_times) - 1))
    entity = gen.specs[gen.target].keys[entity_row]
    delta = data.draw(st.one_of(st.just(0), time_values(whole_seconds, 0, 2 * DAY_NS)))
    t_ns = int(target_times[entity_row]) + delta
    target = gen.specs[gen.target]
    X = gen.tables[gen.target].loc[target_times <= t_ns, target.key_columns]
    X["at"] = pd.Timestamp(t_ns)
    changed = data.draw(changed_after(gen, db, t_ns, entity))
    note(f"t={pd.Timestamp(t_ns)!r}, changed={changed}")
    enc = fit(gen).set_params(**data.draw(SAMPLING))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        later = enc.with_database(RelationalDatabase(changed, gen.schema, on_dangling="ignore"))
    np.testing.assert_array_equal(enc.transform(X), later.transform(X))


@settings(max_examples=examples(30))
@given(data=st.data())
def test_rows_after_t_never_change_embeddings_at_t(data):
    """Whole-second times: changing, deleting or adding rows dated after ``t`` leaves
    every embedding at ``t`` bitwise unchanged."""
    _leakage_property(data, whole_seconds=True)


@settings(max_examples=examples(30))
@given(data=st.data())
def test_rows_after_t_never_change_embeddings_at_t_sub_second(data):
    """As above with nanosecond times: a row 1 ns after ``t`` is already in the future."""
    _leakage_property(data, whole_seconds=False)


# -- property 3: row order -----------------------------------------------------------------
@settings(max_examples=examples(30))
@given(data=st.data())
def test_row_order_never_changes_embeddings(data):
    """A fitted encoder reading the same rows in another order embeds them identically."""
    gen = data.draw(generated_databases(max_rows=16))
    permuted = {}
    for name, df in gen.tables.items():
        order = data.draw(st.permutations(range(len(df))))
        permuted[name] = df.iloc[list(order)].reset_index(drop=True)
    enc = fit(gen).set_params(**data.draw(SAMPLING))
    X = data.draw(transform_rows(gen))
    every = gen.specs[gen.target].key_frame(gen.specs[gen.target].keys)
    if "at" in X:
        every["at"] = X["at"].iloc[0]
        every["at"] = not_before_the_entity(gen, every)
    X = pd.concat([X, every], ignore_index=True)  # every entity too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shuffled = enc.with_database(RelationalDatabase(permuted, gen.schema,
                                                        on_dangling="ignore"))
    np.testing.assert_array_equal(enc.transform(X), shuffled.transform(X))


@settings(max_examples=examples(40))
@given(data=st.data())
def test_row_rank_orders_rows_by_content_not_position(data):
    """What the sampler's tie-breaking rests on: the rows in ``row_rank`` order are the same
    sequence whatever order the table holds them in."""
    gen = data.draw(generated_databases(max_tables=2))
    for name, df in gen.tables.items():
        def rank(frame, cols=gen.specs[name].key_columns):
            keys = pd.MultiIndex.from_frame(frame[cols]) if cols else None
            return np.argsort(row_rank(frame, keys))

        order = list(data.draw(st.permutations(range(len(df)))))
        permuted = df.iloc[order].reset_index(drop=True)
        ranked = df.iloc[rank(df)].reset_index(drop=True)
        ranked_permuted = permuted.iloc[rank(permuted)]
        pd.testing.assert_frame_equal(ranked, ranked_permuted.reset_index(drop=True))


# -- invalid inputs: the documented errors ---------------------------------------------------
def _with_table(gen: Generated, name: str, df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {**gen.tables, name: df}


def _first_with(gen: Generated, data, predicate) -> TableSpec:
    candidates = [s for s in gen.specs.values() if predicate(s)]
    assume(candidates)
    return data.draw(st.sampled_from(candidates))


@st.composite
def broken_databases(draw):
    """``(kind, error type, table, tables, schema, on_dangling)``: a valid database with one
    documented defect in one table (``table`` is the text the error must hold instead when the
    defect leaves an empty schema)."""
    data = draw(st.data())
    gen = draw(generated_databases(max_tables=3, dangling=False))
    schema = {name: dict(s) for name, s in gen.schema.items()}
    kind = draw(st.sampled_from([
        "null_time", "numeric_time", "unparseable_time", "duplicate_key", "null_key",
        "unknown_reference", "reference_without_key", "key_kind_mismatch", "missing_column",
        "unknown_schema_key", "dangling_raise", "no_schema_entry", "not_a_dataframe",
    ]))
    on_dangling = "ignore"
    if kind in ("null_time", "numeric_time", "unparseable_time"):
        spec = _first_with(gen, data, lambda s: s.time_column and s.num_rows)
        df = gen.tables[spec.name].copy()
        row = data.draw(st.integers(0, spec.num_rows - 1))
        col = spec.time_column
        if kind == "null_time":
            df[col] = df[col].astype(object).where(df.index != row, None)
        elif kind == "numeric_time":
            df[col] = np.arange(spec.num_rows, dtype=np.int64)
        else:
            df[col] = df[col].astype(str).where(df.index != row, "not a date")
        error = TypeError if kind == "numeric_time" else ValueError
        return kind, error, spec.name, _with_table(gen, spec.name, df), schema, on_dangling
    if kind in ("duplicate_key", "null_key"):
        spec = _first_with(gen, data, lambda s: s.primary_key and s.num_rows >= 2)
        df = gen.tables[spec.name].copy()
        for col in spec.key_columns if kind == "duplicate_key" else ["id"]:
            ids = df[col].astype(object)
            ids.iloc[1] = ids.iloc[0] if kind == "duplicate_key" else None
            df[col] = ids
        return kind, ValueError, spec.name, _with_table(gen, spec.name, df), schema, on_dangling
    if kind in ("unknown_reference", "reference_without_key", "key_kind_mismatch",
                "dangling_raise"):
        spec = data.draw(st.sampled_from(list(gen.specs.values())))
        df = gen.tables[spec.name].copy()
        fks = dict(schema[spec.name]["foreign_keys"])
        if kind == "unknown_reference":
            fks["fk_new"] = "no such table"
            df["fk_new"] = None
        elif kind == "reference_without_key":
            ref = _first_with(gen, data, lambda s: s.primary_key is None)
            fks["fk_new"] = ref.name
            df["fk_new"] = None
        else:
            ref = _first_with(gen, data, lambda s: s.key_kind in ("int", "str"))
            assume(spec.num_rows and (kind == "dangling_raise" or ref.num_rows))
            if kind == "key_kind_mismatch":  # strings for integer keys and vice versa
                value = "1" if ref.key_kind == "int" else 1
                df["fk_new"] = pd.Series([value] * spec.num_rows, dtype=object)
            else:
                df["fk_new"] = pd.Series([_fresh_keys(ref, 1)[0]] * spec.num_rows)
                on_dangling = "raise"
            fks["fk_new"] = ref.name
        schema[spec.name] = {**schema[spec.name], "foreign_keys": fks}
        error = TypeError if kind == "key_kind_mismatch" else ValueError
        return kind, error, spec.name, _with_table(gen, spec.name, df), schema, on_dangling
    name = data.draw(st.sampled_from(list(gen.tables)))
    tables = dict(gen.tables)
    if kind == "missing_column":
        schema[name] = {**schema[name], "time_column": "no_such_column"}
    elif kind == "unknown_schema_key":
        schema[name] = {**schema[name], "primary_keys": "id"}
    elif kind == "no_schema_entry":
        del schema[name]
        if not schema:  # the documented error for an empty schema names no table
            return kind, ValueError, "schema is empty", tables, schema, on_dangling
    else:
        tables[name] = tables[name].to_dict("list")
    error = TypeError if kind == "not_a_dataframe" else ValueError
    return kind, error, name, tables, schema, on_dangling


@settings(max_examples=examples(80))
@given(broken=broken_databases())
def test_invalid_databases_raise_errors_naming_the_table(broken):
    kind, error, table, tables, schema, on_dangling = broken
    with pytest.raises((ValueError, TypeError)) as info:
        RelationalDatabase(tables, schema, on_dangling=on_dangling)
    assert info.type is error, (kind, info.value)
    named = table if kind == "no_schema_entry" and not schema else repr(table)
    assert named in str(info.value), (kind, str(info.value))


@settings(max_examples=examples(10))
@given(data=st.data())
def test_unknown_entities_and_columns_raise_errors_naming_the_table(data):
    gen = data.draw(generated_databases(max_tables=3))
    enc = fit(gen)
    X = data.draw(transform_rows(gen))
    target = gen.specs[gen.target]
    X = pd.concat([X.iloc[:-1], target.key_frame(_fresh_keys(target, 1)).assign(
        **({"at": X["at"].iloc[-1]} if "at" in X else {}))], ignore_index=True)
    with pytest.raises(ValueError, match="not found in table") as info:
        enc.transform(X)
    assert repr(gen.target) in str(info.value)
    table = data.draw(st.sampled_from(list(gen.tables)))
    bad = RelationalContrastiveEncoder(column_types={table: {"no_such_column": "numerical"}},
                                       **ENCODER)
    with pytest.raises(ValueError, match="unknown column 'no_such_column'") as info:
        bad.fit(gen.database())
    assert repr(table) in str(info.value)
