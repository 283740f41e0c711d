"""Bundled real data for development, examples and benchmarks.

The Ergast Formula 1 database as RelBench's rel-f1 (:func:`load_f1`), its driver tasks
(:func:`load_f1_task`), and a RelBench 3 export of both (:func:`export_relbench`).
"""

from __future__ import annotations

from relcontrast.datasets.f1 import (
    LEAKY_COLUMNS,
    SPLITS,
    TASK_NAMES,
    TEST_TIMESTAMP,
    VAL_TIMESTAMP,
    F1Task,
    export_relbench,
    load_f1,
    load_f1_task,
)

__all__ = [
    "LEAKY_COLUMNS",
    "SPLITS",
    "TASK_NAMES",
    "TEST_TIMESTAMP",
    "VAL_TIMESTAMP",
    "F1Task",
    "export_relbench",
    "load_f1",
    "load_f1_task",
]
