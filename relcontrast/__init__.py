"""relcontrast: task-agnostic contrastive pretraining for relational databases."""

from __future__ import annotations

from relcontrast.database import RelationalDatabase

__version__ = "0.1.0"

__all__ = ["RelationalDatabase", "__version__"]
