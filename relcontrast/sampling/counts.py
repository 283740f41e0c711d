"""Count inputs: how many rows reference each node of a batch, in time windows up to its bound.

A sampler reads a few neighbours per edge type (the 4 latest by default) and GraphSAGE
averages them, so an embedding cannot tell an entity with 5 rows from one with 500. The
neighbour index (:func:`~relcontrast.sampling.neighbor_index`) holds every node's
in-neighbours sorted by time, so the number of them with time <= a bound is one
:func:`torch.searchsorted` per node (:meth:`~relcontrast.sampling.NeighborStore.eligible_end`).
:class:`CountingSampler` wraps any sampler and attaches, per node of its batch and per
foreign key referencing the node's table, ``log1p`` of those counts at the node's time bound
(``ref_time``): all time, then per window ``w`` the rows with ``bound - w < time <= bound``.
The window lengths are fitted once from the data (:func:`fit_count_windows`) and kept with
the backbone, like column statistics.

With ``means=True`` the inputs also hold, per foreign key, the mean of every numerical
column of the referencing rows (standardised with the column statistics) and the share of
each of their most frequent categories, over all time and over the longest window: what an
entity's rows were like, not only how many there were, which the 4 latest neighbours cannot
show for an entity with hundreds of rows. Each mean is a difference of two prefix sums over
the neighbour index (:func:`window_values`), so it costs no more than a count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_frame import stype
from torch_frame.data.stats import StatType
from torch_geometric.data import HeteroData

from relcontrast.graph import EdgeType, RelationalGraph, is_foreign_key_edge_type
from relcontrast.sampling._common import NO_TIME_BOUND
from relcontrast.sampling.index import neighbor_index

__all__ = ["COUNT_WINDOW_MULTIPLES", "TOP_CATEGORIES", "CountingSampler", "WindowValues",
           "add_counts", "count_channels", "fit_count_windows", "mean_dims", "node_counts",
           "value_columns", "window_values"]

#: Window lengths, in multiples of the median gap between consecutive rows that reference
#: the same row (see :func:`fit_count_windows`).
COUNT_WINDOW_MULTIPLES = (1, 4, 16)
_INT64_MIN = torch.iinfo(torch.int64).min
_MAX_WINDOW = 2**62  # windows are capped here so that bound - window stays exact in int64
#: Categories per categorical column whose share in a window is a window value (the most
#: frequent ones in the data the column statistics were computed on).
TOP_CATEGORIES = 4


def value_columns(graph: RelationalGraph, table: str) -> np.ndarray:
    """``[num_rows, C]`` float64 values of a table's rows whose window means the count inputs
    and the predictive targets read, NaN where missing: the numerical columns standardised
    with the column statistics, then one indicator per frequent category (at most
    :data:`TOP_CATEGORIES` per categorical column); columns missing everywhere are left
    out."""
    tf = graph.tf_dict[table]
    stats = graph.col_stats_dict[table]
    parts = []
    num = tf.feat_dict.get(stype.numerical)
    if num is not None:
        for j, col in enumerate(tf.col_names_dict[stype.numerical]):
            mean = float(stats[col].get(StatType.MEAN, 0.0))
            std = float(stats[col].get(StatType.STD, 1.0))
            mean = mean if np.isfinite(mean) else 0.0
            std = std if np.isfinite(std) and std > 0 else 1.0
            parts.append(((num[:, j].double().numpy() - mean) / std)[:, None])
    cat = tf.feat_dict.get(stype.categorical)
    if cat is not None:
        for j in range(cat.shape[1]):
            code = cat[:, j].numpy()  # categories by frequency; -1 missing
            k = min(TOP_CATEGORIES, int(code.max()) + 1 if len(code) else 0)
            if k < 2:
                continue
            onehot = (code[:, None] == np.arange(k)[None, :]).astype(np.float64)
            onehot[code < 0] = np.nan
            parts.append(onehot)
    if not parts:
        return np.zeros((graph.num_nodes[table], 0))
    values = np.concatenate(parts, axis=1)
    values[~np.isfinite(values)] = np.nan  # an infinite cell is missing, as in the inputs
    return values[:, ~np.isnan(values).all(axis=0)]


class WindowValues:
    """Prefix sums of :func:`value_columns` of the rows referencing each row through one
    foreign key, in the neighbour index's order: the mean over any time slice of a node's
    referencing rows is a difference of two rows.

    The sums are exact: values are rounded to multiples of ``2**-20`` (and clipped to
    ``+-2**16`` standard deviations) and summed as int64, so a node's mean depends on its
    own rows only, not on how many rows of other nodes come before them in the index (a
    float running sum would round differently once a row is added anywhere before).

    Attributes
    ----------
    value_sum, value_count : LongTensor [num_edges + 1, C]
        Prefix sums of the present values (in units of ``2**-20``) and of their number.
    num_values : int
        ``C``.
    """

    SCALE = 2**20
    LIMIT = 2**16

    def __init__(self, graph: RelationalGraph, edge_type: EdgeType):
        col = neighbor_index(graph)[edge_type].col.numpy()
        values = value_columns(graph, edge_type[0])[col]  # [E, C]
        present = ~np.isnan(values)
        fixed = np.rint(np.clip(np.where(present, values, 0.0), -self.LIMIT, self.LIMIT)
                        * self.SCALE).astype(np.int64)
        zero = np.zeros((1, values.shape[1]), dtype=np.int64)
        self.value_sum = torch.from_numpy(np.concatenate([zero, np.cumsum(fixed, axis=0)]))
        self.value_count = torch.from_numpy(
            np.concatenate([zero, np.cumsum(present, axis=0, dtype=np.int64)]))
        self.num_values = values.shape[1]

    def mean(self, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
        """Mean of each value over index slices ``[lo, hi)`` (``[n]`` each) and whether the
        slice holds one: ``([n, C] float64, 0 where none; [n, C] bool)``."""
        count = self.value_count[hi] - self.value_count[lo]  # [n, C]
        total = (self.value_sum[hi] - self.value_sum[lo]).double() / self.SCALE
        return total / count.clamp_min(1).double(), count > 0


def window_values(graph: RelationalGraph, edge_type: EdgeType) -> WindowValues:
    """The :class:`WindowValues` of a foreign key, built on first use and kept with the
    graph like the neighbour index (but not pickled with it: 16 bytes per link and value)."""
    cache = graph.cached("window_values", lambda g: {}, pickled=False)
    edge_type = tuple(edge_type)
    if edge_type not in cache:
        cache[edge_type] = WindowValues(graph, edge_type)
    return cache[edge_type]


def fit_count_windows(graph: RelationalGraph,
                      rows: Mapping[str, np.ndarray | Tensor | None] | None = None,
                      multiples: Sequence[int] = COUNT_WINDOW_MULTIPLES,
                      ) -> dict[EdgeType, tuple[int, ...]]:
    """Window lengths of the count inputs, per foreign key, fitted on the data.

    For every foreign key ``(A, "f2p_c", B)`` (the rows of ``A`` that reference a row of
    ``B``): if ``A`` is timed, the median (lower median, so an exact integer) of the gaps
    between consecutive distinct times of rows of ``A`` referencing the same row of ``B``,
    times each of ``multiples``, in nanoseconds; a window of ``k`` median gaps holds about
    ``k`` rows of a typical entity. No windows (only the all-time count) when ``A`` is
    untimed or no row of ``B`` is referenced at two distinct times.

    Parameters
    ----------
    graph : RelationalGraph
    rows : dict of str to array of int, or None, default=None
        Per table, the positions of the rows to fit on (those up to the pretraining cutoff);
        tables absent or None are read whole.
    multiples : sequence of int, default=(1, 4, 16)
        Window lengths in median gaps.

    Returns
    -------
    dict of edge type to tuple of int
        One entry per foreign-key edge type of the graph, in graph order; window lengths
        in nanoseconds (ascending, at most 2**62), possibly empty.
    """
    rows = {} if rows is None else rows
    index = neighbor_index(graph)
    windows = {}
    for et in graph.edge_types:
        if not is_foreign_key_edge_type(et):
            continue
        src_type = et[0]
        store = index[et]
        if src_type not in graph.time_dict or store.num_edges == 0:
            windows[et] = ()
            continue
        col = store.col.numpy()
        dst = np.repeat(np.arange(len(store.rowptr) - 1), np.diff(store.rowptr.numpy()))
        keep = rows.get(src_type)
        if keep is not None:
            read = np.zeros(graph.num_nodes[src_type], dtype=bool)
            read[np.asarray(keep, dtype=np.int64)] = True
            col, dst = col[read[col]], dst[read[col]]
        # sorted by destination, then by time: consecutive rows of one destination
        times = graph.time_dict[src_type].numpy()[col].view(np.uint64)
        same = dst[1:] == dst[:-1]
        # modulo 2**64, later minus earlier is exact for any two int64 times
        gaps = (times[1:] - times[:-1])[same]
        gaps = gaps[gaps > 0]
        if len(gaps) == 0:
            windows[et] = ()
            continue
        gap = int(np.percentile(gaps, 50, method="lower"))
        windows[et] = tuple(min(int(k) * gap, _MAX_WINDOW) for k in multiples)
    return windows


def count_channels(windows: Mapping[EdgeType, Sequence[int]],
                   value_dims: Mapping[EdgeType, int] | None = None) -> dict[str, int]:
    """Number of count inputs per node type: per foreign key into it, 1 + its windows, plus
    with ``value_dims`` (values per foreign key, :func:`mean_dims`) two means of each value:
    over all time and over the longest window (one where it has none)."""
    out: dict[str, int] = {}
    for et, ws in windows.items():
        means = 0 if value_dims is None else (2 if ws else 1) * value_dims[et]
        out[et[2]] = out.get(et[2], 0) + 1 + len(ws) + means
    return out


def mean_dims(graph: RelationalGraph, windows: Mapping[EdgeType, Sequence[int]]
              ) -> dict[EdgeType, int]:
    """Number of values whose means the count inputs hold, per foreign key of ``windows``."""
    return {tuple(et): window_values(graph, et).num_values for et in windows}


def node_counts(graph: RelationalGraph, windows: Mapping[EdgeType, Sequence[int]],
                node_type: str, n_id: Tensor, bound: Tensor, means: bool = False) -> Tensor:
    """The count inputs of nodes ``n_id`` of ``node_type`` at time ``bound``.

    Per edge type of ``windows`` into ``node_type`` (in the order of ``windows``): ``log1p``
    of the number of in-neighbours with time <= ``bound``, then per window ``w`` of those
    with ``bound - w < time <= bound``. With ``means``, after all the counts, per edge type
    the mean of each of their :func:`value_columns` over all time and over the longest
    window (0 where it holds no value; all time only for a key without windows). A node
    whose bound is ``NO_TIME_BOUND`` counts every row, its windows ending at the latest row
    of that edge type. Rows of untimed tables count at every bound.

    Parameters
    ----------
    graph : RelationalGraph
    windows : dict of edge type to sequence of int
        As :func:`fit_count_windows` returns.
    node_type : str
    n_id : LongTensor [num_nodes]
        Node indices (row positions) in ``node_type``.
    bound : LongTensor [num_nodes]
        Time bound of each node in nanoseconds (a batch's ``ref_time``).

    Returns
    -------
    Tensor [num_nodes, count_channels(windows, value_dims)[node_type]]
        float32 (``value_dims`` is :func:`mean_dims` with ``means``, else None).
    """
    index = neighbor_index(graph)
    columns, means_parts = [], []
    for et, ws in windows.items():
        if et[2] != node_type:
            continue
        store = index[et]
        start = store.rowptr[n_id]
        end = store.eligible_end(n_id, bound)
        columns.append(end - start)  # [num_nodes]
        lower_end = start  # of the longest window
        if ws:
            latest = store.src_times[-1]
            at = torch.where(bound == NO_TIME_BOUND, latest, bound)  # [num_nodes]
            for w in ws:
                lower = at.clamp(min=_INT64_MIN + int(w)) - int(w)  # exact: no wrap-around
                lower_end = store.eligible_end(n_id, lower)  # [num_nodes]
                columns.append(end - lower_end)
        if means:
            values = window_values(graph, et)
            for lo in [start, lower_end] if ws else [start]:
                means_parts.append(values.mean(lo, end)[0].to(torch.float32))  # [num_nodes, C]
    if not columns:
        return torch.zeros(n_id.numel(), 0)  # [num_nodes, 0]
    counts = torch.stack(columns, dim=1).to(torch.float32).log1p()  # [num_nodes, channels]
    return torch.cat([counts, *means_parts], dim=1) if means_parts else counts


class CountingSampler:
    """A sampler whose batches also carry count inputs: ``batch[nt].counts``.

    Wraps :class:`~relcontrast.sampling.NeighborSampler` or
    :class:`~relcontrast.sampling.HGSampler` (anything with their ``sample`` interface and
    a ``graph``), and adds to every node type with count inputs ``counts``
    ``[num_nodes, channels]``: :func:`node_counts` at each node's ``ref_time``. The bound is
    the one the sampler gives the node (its seed's time, the cutoff of a row of X, already
    moved a nanosecond earlier under ``time_boundary="strict"``), so a row after it is
    never counted.

    Parameters
    ----------
    sampler : NeighborSampler or HGSampler
    windows : dict of edge type to sequence of int
        As :func:`fit_count_windows` returns (a backbone's ``count_windows``).
    means : bool, default=False
        Add the window means of the referencing rows' values (a backbone's
        ``mean_inputs``).
    """

    def __init__(self, sampler, windows: Mapping[EdgeType, Sequence[int]],
                 means: bool = False):
        graph = getattr(sampler, "graph", None)
        if not isinstance(graph, RelationalGraph):
            raise TypeError(f"sampler must have a RelationalGraph `graph` (a NeighborSampler "
                            f"or HGSampler), got {type(sampler).__name__}.")
        unknown = [et for et in windows if tuple(et) not in set(graph.edge_types)]
        if unknown:
            raise ValueError(f"Count windows name edge type(s) {unknown} that the graph does "
                             f"not have; fit them on this graph with fit_count_windows.")
        self.sampler = sampler
        self.graph = graph
        self.windows = {tuple(et): tuple(int(w) for w in ws) for et, ws in windows.items()}
        self.means = bool(means)
        self._channels = count_channels(self.windows,
                                        mean_dims(graph, self.windows) if means else None)

    def sample(self, seeds: Mapping[str, Tensor], seed_time: Mapping[str, Tensor] | None,
               generator: torch.Generator | None) -> HeteroData:
        """The wrapped sampler's batch, with ``counts`` per node type that has them."""
        batch = self.sampler.sample(seeds, seed_time, generator)
        return add_counts(batch, self.graph, self.windows, self.means)

    def __repr__(self) -> str:
        return f"CountingSampler({self.sampler!r}, count_channels={self._channels})"


def add_counts(batch: HeteroData, graph: RelationalGraph,
               windows: Mapping[EdgeType, Sequence[int]], means: bool = False) -> HeteroData:
    """Set ``batch[nt].counts`` (:func:`node_counts` at ``batch[nt].ref_time``, with
    ``means``) for every node type with count inputs; returns ``batch``, edited in place."""
    for nt in count_channels(windows):
        store = batch[nt]
        n_id = store.n_id
        bound = store.get("ref_time")
        if bound is None or bound.numel() != n_id.numel():
            raise ValueError(
                f"batch[{nt!r}] needs `ref_time`, one time bound per node (NO_TIME_BOUND for "
                f"none), to count the rows referencing its nodes; the sampler gave "
                f"{None if bound is None else tuple(bound.shape)} for {n_id.numel()} nodes.")
        store.counts = node_counts(graph, windows, nt, n_id, bound, means)
    return batch
