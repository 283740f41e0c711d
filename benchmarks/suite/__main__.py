"""``python -m benchmarks.suite``: see :mod:`benchmarks.suite.run`."""

from benchmarks.suite.run import main

main()
