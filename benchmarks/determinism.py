"""The cost of bitwise-reproducible seeded fits: deterministic algorithms on and off.

Seeded fits, ``transform`` and ``predict`` run under ``torch.use_deterministic_algorithms``
(``relcontrast.estimators._common.deterministic``). This script times, on F1 at the default
thread count (2 on the reference machine):

- pretraining: ``RelationalContrastiveEncoder(max_steps=100, random_state=0)``, cutoff
  2005-01-01, defaults otherwise (graph building included);
- transform of the 12.7k driver-dnf train rows;
- fine-tuning: ``RelationalClassifier(encoder=..., max_epochs=3)`` on driver-dnf;

each with deterministic algorithms on (the library) and off (``use_deterministic_algorithms``
made a no-op), in separate processes, alternating, three repeats; it also reports whether two
runs of each variant gave identical weights and embeddings.

Run: ``.venv/bin/python benchmarks/determinism.py`` on an otherwise idle machine; writes
``benchmarks/results/determinism.json`` and ``determinism.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
REPEATS = 3


def child(deterministic: bool) -> dict:
    import time

    import numpy as np
    import torch

    if not deterministic:
        torch.use_deterministic_algorithms = lambda *args, **kwargs: None
    from relcontrast import RelationalClassifier, RelationalContrastiveEncoder, RelationalDatabase
    from relcontrast.datasets import VAL_TIMESTAMP, load_f1, load_f1_task

    db = RelationalDatabase(*load_f1())
    train = load_f1_task("driver-dnf", "train")
    t0 = time.perf_counter()
    enc = RelationalContrastiveEncoder(max_steps=100, patience=None, cutoff_time=VAL_TIMESTAMP,
                                       random_state=0).fit(db)
    t1 = time.perf_counter()
    Z = enc.transform(train.X)
    t2 = time.perf_counter()
    clf = RelationalClassifier(encoder=enc, max_epochs=3, patience=None, random_state=0)
    proba = clf.fit(train.X, train.y).predict_proba(train.X)
    t3 = time.perf_counter()

    def digest(*arrays) -> str:
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    weights = [v.detach().cpu().numpy() for v in enc.backbone_.state_dict().values()]
    return {"threads": torch.get_num_threads(), "pretrain_s": round(t1 - t0, 2),
            "transform_s": round(t2 - t1, 2), "fine_tune_s": round(t3 - t2, 2),
            "weights": digest(*weights), "embeddings": digest(Z), "predictions": digest(proba)}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2] == "on")))
        return
    runs = {"on": [], "off": []}
    for _ in range(REPEATS):
        for variant in ("on", "off"):
            out = subprocess.run([sys.executable, __file__, "--child", variant], check=True,
                                 capture_output=True, text=True).stdout
            runs[variant].append(json.loads(out.strip().splitlines()[-1]))
            print(variant, runs[variant][-1], flush=True)
    summary = {}
    for variant, rs in runs.items():
        summary[variant] = {
            **{k: statistics.median(r[k] for r in rs)
               for k in ("pretrain_s", "transform_s", "fine_tune_s")},
            "identical_across_runs": {k: len({r[k] for r in rs}) == 1
                                      for k in ("weights", "embeddings", "predictions")}}
    import torch

    payload = {"benchmark": "F1: deterministic algorithms on vs off, seeded runs (median of "
                            f"{REPEATS}, separate processes)",
               "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                           "torch": torch.__version__, "threads": runs["on"][0]["threads"]},
               "summary": summary, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "determinism.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = ["| deterministic algorithms | pretraining, 100 steps (s) | transform 12.7k rows (s) "
             "| fine-tuning 3 epochs (s) | identical weights / embeddings / predictions over "
             f"{REPEATS} runs |", "|---|---|---|---|---|"]
    for variant, s in summary.items():
        same = " / ".join("yes" if v else "no" for v in s["identical_across_runs"].values())
        lines.append(f"| {variant} | {s['pretrain_s']} | {s['transform_s']} | "
                     f"{s['fine_tune_s']} | {same} |")
    (RESULTS / "determinism.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
