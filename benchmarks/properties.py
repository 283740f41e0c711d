"""The property-based tests with the long hypothesis profile: 20 times the examples, fresh
randomness on every run.

``tests/test_properties.py`` runs a few derandomised examples per property in CI (about
30 s). This runner gives each property 20 times as many, drawn from a new random seed each
run unless ``--seed`` is given, single-threaded as in CI, and reports per test its outcome
and time. A failure prints hypothesis' reproduction blob (``@reproduce_failure``) and the
seed, so ``--seed`` replays the run.

Run: ``.venv/bin/python benchmarks/properties.py [--seed N] [-k EXPR]``; writes
``benchmarks/results/properties.json``. The same examples run under pytest with
``HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_properties.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
OUTCOME = re.compile(r"^(?P<test>tests/test_properties\.py::\S+) (?P<outcome>[A-Z]+)")
DURATION = re.compile(r"^(?P<seconds>[\d.]+)s call\s+(?P<test>\S+)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None,
                        help="hypothesis seed (default: a new random one, printed)")
    parser.add_argument("-k", default=None, help="pytest -k expression selecting properties")
    args = parser.parse_args(argv)
    seed = random.SystemRandom().randrange(2**32) if args.seed is None else args.seed
    cmd = [sys.executable, "-m", "pytest", "tests/test_properties.py", "-p", "no:cacheprovider",
           "-rA", "-v", "--durations=0", f"--hypothesis-seed={seed}"]
    if args.k:
        cmd += ["-k", args.k]
    env = {**os.environ, "HYPOTHESIS_PROFILE": "long", "OMP_NUM_THREADS": "1"}
    print(f"hypothesis seed {seed}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    tests: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        if m := OUTCOME.match(line):
            tests.setdefault(m["test"].split("::")[1], {})["outcome"] = m["outcome"]
        elif m := DURATION.match(line.strip()):
            tests.setdefault(m["test"].split("::")[1], {})["seconds"] = float(m["seconds"])
    result = {
        "seed": seed, "profile": "long", "returncode": proc.returncode,
        "seconds": round(elapsed, 1), "tests": tests,
        "python": platform.python_version(), "machine": platform.machine(),
    }
    if proc.returncode:
        sys.stdout.write(proc.stdout[-20_000:])
        sys.stderr.write(proc.stderr[-5_000:])
    for name, info in tests.items():
        print(f"{info.get('outcome', '?'):8} {info.get('seconds', float('nan')):7.1f} s  {name}")
    print(f"total {elapsed:.0f} s, exit code {proc.returncode}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "properties.json").write_text(json.dumps(result, indent=2) + "\n")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
