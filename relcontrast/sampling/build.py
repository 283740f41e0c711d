"""The one place that turns an estimator's sampling values into a sampler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from relcontrast.graph import EdgeType, RelationalGraph
from relcontrast.sampling.counts import CountingSampler
from relcontrast.sampling.hgsampling import HGSampler
from relcontrast.sampling.neighbor import NeighborSampler

#: The encoder's ``sampler`` options.
SAMPLERS = ("neighbor", "hgsampling")


def count_inputs_of(backbone) -> dict:
    """The :func:`make_sampler` keywords that give ``backbone`` the count inputs it reads:
    its ``count_windows`` and ``mean_inputs`` (None / False for a backbone without them,
    or pickled before them)."""
    return {"count_windows": getattr(backbone, "count_windows", None),
            "mean_inputs": getattr(backbone, "mean_inputs", False)}


def make_sampler(graph: RelationalGraph, *, num_neighbors: Sequence[int],
                 strategy: str = "last", temporal: bool = True,
                 count_windows: Mapping[EdgeType, Sequence[int]] | None = None,
                 mean_inputs: bool = False, sampler: str = "neighbor", num_samples: int = 64,
                 num_layers: int | None = None):
    """The sampler of a fit, ``transform`` or ``predict``.

    Parameters
    ----------
    graph : RelationalGraph
    num_neighbors : sequence of int
        Fan-out per hop of the temporal :class:`NeighborSampler`.
    strategy : {"last", "uniform"}, default="last"
        Which eligible neighbours it takes.
    temporal : bool, default=True
        Bound neighbours by their seed's time.
    count_windows : dict of edge type to sequence of int, or None, default=None
        The backbone's count windows (``RelationalBackbone.count_windows``; with
        ``mean_inputs``, :func:`count_inputs_of` gives both): when given,
        the sampler is wrapped in a :class:`~relcontrast.sampling.counts.CountingSampler`,
        which adds the count inputs that backbone reads.
    mean_inputs : bool, default=False
        The backbone's ``mean_inputs``: the count inputs hold window means too.
    sampler : {"neighbor", "hgsampling"}, default="neighbor"
        ``"hgsampling"``: an :class:`HGSampler` of ``num_samples`` nodes per type and
        ``num_layers`` layers instead (pretraining only).
    num_samples : int, default=64
    num_layers : int or None, default=None

    Returns
    -------
    NeighborSampler, HGSampler or CountingSampler
    """
    if sampler == "hgsampling":
        out = HGSampler(graph, num_samples=num_samples, num_layers=num_layers,
                        temporal=temporal)
    else:
        out = NeighborSampler(graph, num_neighbors=tuple(num_neighbors), strategy=strategy,
                              temporal=temporal)
    return out if count_windows is None else CountingSampler(out, count_windows, mean_inputs)
