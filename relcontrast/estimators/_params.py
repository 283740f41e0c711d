"""Parameter constraints of the estimators, in scikit-learn's ``_parameter_constraints`` form.

Each estimator declares its parameters once; ``fit`` checks them first (scikit-learn's
``_fit_context``), so a typo fails before any data is read or any step is trained, with
scikit-learn's message (``InvalidParameterError``, a ``ValueError`` and a ``TypeError``).
Built from the module constants (``TABULAR_MODELS``, ``AGGREGATIONS``, ...), so a new option
is declared where it is implemented.
"""

from __future__ import annotations

import datetime
import inspect
import numbers
import os
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from sklearn.utils._param_validation import Hidden, Interval, InvalidParameterError, StrOptions

from relcontrast.estimators._common import digest
from relcontrast.nn.gnn import AGGREGATIONS
from relcontrast.nn.tabular import TABULAR_MODELS
from relcontrast.pretraining.corruption import CORRUPTION_MODES
from relcontrast.pretraining.data import SEED_TIMES
from relcontrast.pretraining.fingerprint import FALSE_NEGATIVES
from relcontrast.pretraining.normalization import LOSS_NORMALIZATIONS
from relcontrast.pretraining.objectives import OBJECTIVES
from relcontrast.rows import TIME_BOUNDARIES
from relcontrast.sampling import SAMPLERS, TEMPORAL_STRATEGIES


def _positive(kind=numbers.Integral):
    return Interval(kind, 1, None, closed="left") if kind is numbers.Integral else Interval(
        kind, 0, None, closed="neither")


def _is_int(value, minimum) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def _fan_out(value) -> bool:
    return len(value) > 0 and all(_is_int(k, -1) for k in value)


def as_objectives(value) -> tuple:
    """The ``objectives`` parameter as a tuple (a single level may be given as a str)."""
    return (value,) if isinstance(value, str) else tuple(value)


def _objectives(value) -> bool:
    values = as_objectives(value)
    return len(values) > 0 and len(set(values)) == len(values) and set(values) <= set(OBJECTIVES)


def _quantile_pair(value) -> bool:
    return (len(value) == 2 and all(isinstance(q, numbers.Real) and not isinstance(q, bool)
                                    for q in value) and 0 <= value[0] < value[1] <= 1)


class ValidatedParams:
    """Mixin: scikit-learn's ``_validate_params`` (types, options and ranges from
    ``_parameter_constraints``), then the elements of container parameters (fan-outs,
    objective subsets, quantile pairs) from ``_parameter_values``:
    ``{name: (predicate, description)}``, with scikit-learn's message."""

    _parameter_values: dict = {}

    def _validate_params(self):
        super()._validate_params()
        for name, (valid, description) in self._parameter_values.items():
            value = getattr(self, name)
            if value is not None and not valid(value):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be {description}. "
                    f"Got {value!r} instead.")


# The backbone architecture, held by the encoder (RelationalContrastiveEncoder._make_backbone).
BACKBONE_CONSTRAINTS: dict = {
    "hidden_channels": [_positive()],
    "num_layers": [_positive()],
    "tabular_model": [StrOptions(set(TABULAR_MODELS))],
    "aggregation": [StrOptions(set(AGGREGATIONS))],
    "temporal_encoding": ["boolean"],
    "count_inputs": ["boolean"],
    "mean_inputs": ["boolean"],
    "column_types": [Mapping, None],
}

# The supervised estimators' deprecated copies of the architecture: "deprecated" (the
# default) leaves the architecture to the encoder.
DEPRECATED = "deprecated"
DEPRECATED_BACKBONE_CONSTRAINTS: dict = {
    name: [*options, Hidden(StrOptions({DEPRECATED}))]
    for name, options in BACKBONE_CONSTRAINTS.items()}

# Data, sampling for transform / fine-tuning, training loop and runtime, shared too.
COMMON_CONSTRAINTS: dict = {
    "database": "no_validation",  # as_database checks it in fit, with its own message
    "target_table": [str, None],
    "time_column": [str, None],
    "time_boundary": [StrOptions(set(TIME_BOUNDARIES))],
    "num_neighbors": [tuple, list],
    "temporal_strategy": [StrOptions(set(TEMPORAL_STRATEGIES))],
    "batch_size": [_positive()],
    "lr": [_positive(numbers.Real)],
    "lr_schedule": [StrOptions({"cosine"}), None],
    "patience": [_positive(), None],
    "valid_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
    "device": [str, torch.device],
    "checkpoint_dir": [str, os.PathLike, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

# The parameters of one estimator only; RelationalEstimator (_base.py) holds the common ones.
ENCODER_CONSTRAINTS: dict = {
    "objectives": [tuple, list, str],
    "objective_weights": [Mapping, None],
    "corruption_rate": [Interval(numbers.Real, 0, 1, closed="both")],
    "corruption": [StrOptions(set(CORRUPTION_MODES))],
    "link_holdout": [Interval(numbers.Real, 0, 1, closed="left")],
    "temperature": [_positive(numbers.Real)],
    "loss_normalization": [StrOptions(set(LOSS_NORMALIZATIONS))],
    "false_negatives": [StrOptions(set(FALSE_NEGATIVES))],
    "sampler": [StrOptions(set(SAMPLERS))],
    "num_samples": [_positive()],
    "seed_times": [StrOptions(set(SEED_TIMES))],
    "max_steps": [_positive()],
    "steps_per_epoch": [_positive()],
    "cutoff_time": [str, datetime.date, np.datetime64, None],
}

FAN_OUT = (_fan_out, "a non-empty tuple of ints >= -1, one fan-out per hop (-1: all), "
                     "e.g. (4, 4)")
ENCODER_VALUES = {"objectives": (_objectives, f"a non-empty subset of {OBJECTIVES}")}
REGRESSOR_VALUES = {"clip_quantiles": (
    _quantile_pair, "a pair (low, high) of quantiles with 0 <= low < high <= 1")}

SUPERVISED_CONSTRAINTS: dict = {
    **DEPRECATED_BACKBONE_CONSTRAINTS,
    "num_neighbors": [tuple, list, None],
    "fine_tune": ["boolean"],
    "pretrain": ["boolean"],
    "head_hidden_channels": [_positive()],
    "head_layers": [_positive()],
    "max_epochs": [_positive()],
    "backbone_lr": [_positive(numbers.Real), StrOptions({"auto"}), None],
    "warmup_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
    "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
}


def check_depth(owner: str, fan_out, depth: int, whose: str = "the backbone",
                name: str = "num_neighbors") -> None:
    """One fan-out per message-passing layer: ``fan_out`` (the parameter ``name`` of
    ``owner``) must sample as many hops as the backbone (``whose``) has layers, ``depth``.
    Fewer hops leave the last layers nothing new to read; more sample rows whose messages
    never reach the seed."""
    fan_out = tuple(fan_out)
    if len(fan_out) != depth:
        raise ValueError(
            f"{owner}: {name}={fan_out} samples {len(fan_out)} hop(s), but {whose} has "
            f"num_layers={depth} message-passing layer(s). Give one fan-out per layer, e.g. "
            f"num_neighbors={(fan_out + fan_out[-1:] * depth)[:depth]}.")


def warn_ignored(estimator, names, reason: str) -> None:
    """Warn about parameters among ``names`` set away from their defaults, which the
    estimator ignores in its current configuration (``reason`` says why)."""
    defaults = {name: p.default for name, p in
                inspect.signature(type(estimator).__init__).parameters.items()}
    changed = [n for n in names if not _same(getattr(estimator, n), defaults[n])]
    if changed:
        warnings.warn(f"{type(estimator).__name__}: {', '.join(changed)} "
                      f"{'is' if len(changed) == 1 else 'are'} ignored {reason}.",
                      UserWarning, stacklevel=4)  # the caller of fit


def _same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return tuple(a) == tuple(b)
    try:
        return a is b or bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays
        return False


def fingerprint(estimator) -> str:
    """What a training run depends on besides its rows: the class and every parameter but
    ``checkpoint_dir``, ``verbose`` and ``device`` (nested estimators likewise, a fitted
    encoder with a hash of its weights; a database by its table sizes)."""
    from sklearn.base import BaseEstimator
    from sklearn.frozen import FrozenEstimator

    items = []
    for name, value in sorted(estimator.get_params(deep=False).items()):
        if name in ("checkpoint_dir", "verbose", "device"):
            continue
        if isinstance(value, FrozenEstimator):
            value = value.estimator
        if isinstance(value, BaseEstimator):
            text = fingerprint(value)
            if hasattr(value, "backbone_"):
                text += f"[fitted {digest(value.backbone_)}]"
            value = text
        items.append(f"{name}={value!r}")
    return f"{type(estimator).__name__}({', '.join(items)})"
