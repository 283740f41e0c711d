"""``python -m benchmarks.suite``: see :mod:`benchmarks.suite.run`."""

from __future__ import annotations

from benchmarks.suite.run import main

main()
