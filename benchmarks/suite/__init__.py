"""The multi-database benchmark suite: real databases from installed packages, entity-level
tasks with time, and the arms every default is chosen on (run ``python -m benchmarks.suite``;
see ``run.py``)."""
