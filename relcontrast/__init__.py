"""relcontrast: task-agnostic contrastive pretraining for relational databases.

Public API: :class:`RelationalDatabase`, :class:`RelationalContrastiveEncoder`,
:class:`RelationalClassifier`, :class:`RelationalRegressor`,
:class:`RelationalAggregator`, :class:`RelationalBlendClassifier`,
:class:`RelationalBlendRegressor`; :func:`read_database` and :func:`infer_schema` (from
:mod:`relcontrast.io`) read your own database from files; data in
:mod:`relcontrast.datasets`; a synthetic test database in :mod:`relcontrast.testing`.
The estimators are imported on first use, so ``relcontrast.datasets`` loads without torch.
"""

from __future__ import annotations

import importlib

from relcontrast.database import RelationalDatabase

__version__ = "0.1.0"

_ESTIMATORS = ("RelationalClassifier", "RelationalContrastiveEncoder", "RelationalRegressor")

_IO = ("infer_schema", "read_database")

_BLENDS = ("RelationalBlendClassifier", "RelationalBlendRegressor")

__all__ = [*_ESTIMATORS, *_IO, *_BLENDS, "RelationalAggregator", "RelationalDatabase",
           "__version__"]


def __getattr__(name):
    if name in _ESTIMATORS:
        return getattr(importlib.import_module("relcontrast.estimators"), name)
    if name in _IO:
        return getattr(importlib.import_module("relcontrast.io"), name)
    if name in _BLENDS:
        return getattr(importlib.import_module("relcontrast.estimators.blend"), name)
    if name == "RelationalAggregator":
        return importlib.import_module("relcontrast.aggregate").RelationalAggregator
    raise AttributeError(f"module 'relcontrast' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
