"""Pretraining: feature corruption, the row, link and context objectives and the predictive
one, the module that holds them with the backbone, and the pretraining data path (the rows
read, the seed rows, the batcher)."""

from __future__ import annotations

from relcontrast.pretraining.context import ContextObjective
from relcontrast.pretraining.corruption import (
    CORRUPTION_MODES,
    column_order,
    corrupt_tensor_frame,
    distinct_value_pools,
)
from relcontrast.pretraining.data import (
    SEED_TIMES,
    PretrainingBatcher,
    pretraining_rows,
    pretraining_seeds,
)
from relcontrast.pretraining.fingerprint import (
    FALSE_NEGATIVES,
    input_fingerprints,
    row_fingerprints,
)
from relcontrast.pretraining.infonce import InfoNCEResult, ProjectionHead, info_nce
from relcontrast.pretraining.link import LinkObjective, hold_out_links
from relcontrast.pretraining.module import PretrainingModule
from relcontrast.pretraining.normalization import LOSS_NORMALIZATIONS, LossNormalizer
from relcontrast.pretraining.objectives import DEFAULT_OBJECTIVES, OBJECTIVES, ContrastiveLoss
from relcontrast.pretraining.predictive import (
    PredictiveObjective,
    TargetingSampler,
    WindowTargets,
)
from relcontrast.pretraining.row import RowObjective

__all__ = [
    "CORRUPTION_MODES",
    "DEFAULT_OBJECTIVES",
    "FALSE_NEGATIVES",
    "LOSS_NORMALIZATIONS",
    "OBJECTIVES",
    "SEED_TIMES",
    "ContextObjective",
    "ContrastiveLoss",
    "InfoNCEResult",
    "LinkObjective",
    "LossNormalizer",
    "PredictiveObjective",
    "PretrainingBatcher",
    "PretrainingModule",
    "ProjectionHead",
    "RowObjective",
    "TargetingSampler",
    "WindowTargets",
    "column_order",
    "corrupt_tensor_frame",
    "distinct_value_pools",
    "hold_out_links",
    "info_nce",
    "input_fingerprints",
    "pretraining_rows",
    "pretraining_seeds",
    "row_fingerprints",
]
