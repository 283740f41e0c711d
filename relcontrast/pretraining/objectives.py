"""ContrastiveLoss: the row, link and context InfoNCE levels and the predictive level,
normalised and weighted."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.profiler import record_function
from torch_geometric.data import HeteroData

from relcontrast.pretraining.context import ContextObjective
from relcontrast.pretraining.link import LinkObjective
from relcontrast.pretraining.normalization import LOSS_NORMALIZATIONS, LossNormalizer
from relcontrast.pretraining.predictive import PredictiveObjective
from relcontrast.pretraining.row import RowObjective

__all__ = ["DEFAULT_OBJECTIVES", "DEFAULT_WEIGHTS", "OBJECTIVES", "ContrastiveLoss"]

logger = logging.getLogger("relcontrast")

#: The pretraining levels, in their canonical order: three contrastive, one predictive.
OBJECTIVES = ("row", "link", "context", "predictive")
#: The levels an encoder pretrains with by default.
DEFAULT_OBJECTIVES = OBJECTIVES
#: The weight of a level that ``objective_weights`` does not name: 3 for the predictive
#: level (chosen on the multi-database suite's val splits), 1 for the others.
DEFAULT_WEIGHTS = {"row": 1.0, "link": 1.0, "context": 1.0, "predictive": 3.0}


def _check_objectives(objectives) -> list[str]:
    if isinstance(objectives, str):
        objectives = (objectives,)
    objectives = list(dict.fromkeys(objectives))  # unique, in the given order
    if not objectives:
        raise ValueError(f"objectives must name at least one of {OBJECTIVES}, got none.")
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"Unknown objectives {unknown}; valid objectives are {OBJECTIVES}.")
    return objectives


def _check_weights(weights: Mapping[str, float] | None, objectives: list[str]) -> dict:
    if weights is None:
        weights = {}
    if not isinstance(weights, Mapping):
        raise TypeError(
            f"objective_weights must be a dict {{objective: weight}} or None, got "
            f"{type(weights).__name__}."
        )
    extra = [k for k in weights if k not in objectives]
    if extra:
        raise ValueError(
            f"objective_weights names {extra}, which are not among the selected objectives "
            f"{objectives}; drop them or add them to objectives."
        )
    out = {}
    for level in objectives:
        w = float(weights.get(level, DEFAULT_WEIGHTS[level]))
        if not math.isfinite(w) or w < 0:
            raise ValueError(
                f"objective_weights[{level!r}] must be a finite number >= 0, got {w}."
            )
        out[level] = w
    return out


class ContrastiveLoss(nn.Module):
    """Task-agnostic contrastive pretraining loss over a sampled relational subgraph.

    The weighted sum of up to three normalised InfoNCE levels (see
    :class:`~relcontrast.pretraining.RowObjective`,
    :class:`~relcontrast.pretraining.LinkObjective`,
    :class:`~relcontrast.pretraining.ContextObjective`,
    :class:`~relcontrast.pretraining.LossNormalizer`) and the predictive level
    (:class:`~relcontrast.pretraining.PredictiveObjective`, a regression of label-free
    statistics of each seed's history and near future). All similarities are cosine
    similarities of projected embeddings divided by ``temperature``.

    Parameters
    ----------
    node_types : sequence of str
    edge_types : sequence of tuple of str
        All edge types of the graph, both directions of each foreign key; the link level uses
        the ``(A, "f2p_c", B)`` ones, the context level all of them.
    channels : int
        Embedding size of the backbone.
    objectives : sequence of {"row", "link", "context", "predictive"}, \
            default=("row", "link", "context", "predictive")
        Any non-empty subset, for ablations.
    objective_weights : dict of str to float, default=None
        Weight of each selected level; levels not named (all with None) weigh
        :data:`DEFAULT_WEIGHTS`: 3.0 the predictive level, 1.0 the others.
    temperature : float, default=0.1
        Softmax temperature of every level (SimCLR's common choice for cosine similarity).
    loss_normalization : {"log_k", "running_mean"}, default="log_k"
    num_negatives : int, default=64
        Negatives per positive at the link level (None: every node of the referenced type in
        the batch). The row and context levels use every other node of the type.
    max_anchors : int, default=1024
        At most this many anchors per node type (row, context) and positives per edge type
        (link) in one batch, evenly spread, to bound the cost.
    target_dims : dict of str to int or None, default=None
        Predictive targets per table (:attr:`~relcontrast.pretraining.WindowTargets.dims`);
        the predictive level needs them in the batch as ``target`` and ``target_mask``.

    Attributes
    ----------
    objectives : list of str
    objective_weights : dict of str to float
    levels : ModuleDict
        The objective module of each selected level.
    normalizer : LossNormalizer

    Examples
    --------
    >>> import torch
    >>> from torch_geometric.data import HeteroData
    >>> batch = HeteroData()
    >>> batch["a"].n_id = torch.arange(4)
    >>> batch["a", "f2p_b", "a"].edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    >>> loss = ContrastiveLoss(["a"], [("a", "f2p_b", "a")], 8, objectives=["row", "link"])
    >>> z = {"a": torch.randn(4, 8)}
    >>> total, levels = loss(z, {"a": torch.randn(4, 8)}, batch)
    >>> sorted(levels)
    ['link', 'row']
    """

    def __init__(
        self,
        node_types: Sequence[str],
        edge_types: Sequence[tuple[str, str, str]],
        channels: int,
        *,
        objectives: Iterable[str] = DEFAULT_OBJECTIVES,
        objective_weights: Mapping[str, float] | None = None,
        temperature: float = 0.1,
        loss_normalization: str = "log_k",
        num_negatives: int | None = 64,
        max_anchors: int | None = 1024,
        target_dims: Mapping[str, int] | None = None,
    ):
        super().__init__()
        self.objectives = _check_objectives(objectives)
        self.objective_weights = _check_weights(objective_weights, self.objectives)
        temperature = float(temperature)
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {temperature}.")
        if loss_normalization not in LOSS_NORMALIZATIONS:
            raise ValueError(
                f"Unknown loss_normalization {loss_normalization!r}; choose one of "
                f"{LOSS_NORMALIZATIONS}."
            )
        for name, value in (("num_negatives", num_negatives), ("max_anchors", max_anchors)):
            if value is not None and (isinstance(value, bool) or int(value) != value
                                      or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}.")
        if isinstance(channels, bool) or int(channels) != channels or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}.")
        self.temperature = temperature
        self.loss_normalization = loss_normalization
        self.num_negatives = num_negatives
        self.max_anchors = max_anchors

        node_types, edge_types = list(node_types), [tuple(et) for et in edge_types]
        levels = {}
        if "row" in self.objectives:
            levels["row"] = RowObjective(node_types, channels, temperature=temperature,
                                         max_anchors=max_anchors)
        if "link" in self.objectives:
            levels["link"] = LinkObjective(edge_types, channels, temperature=temperature,
                                           num_negatives=num_negatives, max_edges=max_anchors)
            if not levels["link"].edge_types:
                logger.warning("The link objective has no foreign-key ('f2p_') edge type to "
                               "learn from; its loss will be 0.")
        if "context" in self.objectives:
            levels["context"] = ContextObjective(node_types, edge_types, channels,
                                                 temperature=temperature,
                                                 max_anchors=max_anchors)
            if not edge_types:
                logger.warning("The context objective has no edge type to learn from; its "
                               "loss will be 0.")
        if "predictive" in self.objectives:
            # no table referenced by a timed one (an untimed database): its loss is 0
            levels["predictive"] = PredictiveObjective(target_dims or {}, channels)
        self.levels = nn.ModuleDict(levels)
        self.normalizer = LossNormalizer(self.objectives, loss_normalization)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.levels.values():
            module.reset_parameters()
        self.normalizer.reset_parameters()

    def forward(
        self,
        z_clean: Mapping[str, Tensor],
        z_corrupt: Mapping[str, Tensor] | None,
        batch: HeteroData,
    ) -> tuple[Tensor, dict[str, float]]:
        """The weighted total loss and each level's normalised value.

        Parameters
        ----------
        z_clean : dict of str to Tensor of shape [num_nodes, channels]
            Backbone embeddings of the batch.
        z_corrupt : dict of str to Tensor of shape [num_anchors, channels] or None
            Backbone embeddings with corrupted features (same graph) of the first
            ``num_anchors`` nodes of each type, the seeds; required by the row level only.
        batch : HeteroData
            The sampled subgraph (``edge_index`` per edge type, ``n_id`` per node type).

        Returns
        -------
        total : Tensor of shape []
            ``sum(weight[level] * normalised[level])``. A level with no usable group (e.g. no
            node type with 2 nodes) contributes 0; if none contributes, ``total`` is a zero
            that still supports ``backward()``.
        levels : dict of str to float
            Each selected level's normalised loss, detached (0.0 when it contributed nothing).
        """
        if "row" in self.levels and z_corrupt is None:
            raise ValueError(
                "The row objective needs z_corrupt, the embeddings of the batch with corrupted "
                "features; pass them or drop 'row' from objectives."
            )
        total, logs = None, {}
        for level in self.objectives:
            with record_function(f"relcontrast.objective.{level}"):
                value = self._level(level, z_clean, z_corrupt, batch)
            if value is None:
                logs[level] = 0.0
                continue
            logs[level] = float(value.detach())
            term = self.objective_weights[level] * value
            total = term if total is None else total + term
        if total is None:
            device = next((z.device for z in z_clean.values()), torch.device("cpu"))
            total = torch.zeros((), device=device, requires_grad=torch.is_grad_enabled())
        return total, logs

    def _level(self, level, z_clean, z_corrupt, batch) -> Tensor | None:
        """One level's normalised loss, None when it has nothing to score."""
        module = self.levels[level]
        if level == "predictive":
            value = module(z_clean, batch)
            return None if value is None else self.normalizer.scale(level, value)
        if level == "row":
            return self.normalizer(level, module(z_clean, z_corrupt, batch).values())
        return self.normalizer(level, module(z_clean, batch).values())

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(objectives={self.objectives}, "
                f"temperature={self.temperature}, "
                f"loss_normalization={self.loss_normalization!r})")
