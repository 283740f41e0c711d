"""Sampling ahead of the model step: the next batches' subgraphs are drawn in a background
thread while the current step runs.

A step's input pipeline (neighbour sampling, corruption, fingerprints, count inputs and
predictive targets) runs on the CPU. Run inline, a GPU waits for it every step; run
ahead, it overlaps the step. The nets prefetch on CUDA only (``_net.PREFETCH_DEVICES``): on
the CPU the worker and the step would share the same cores. The seed rows of an epoch are
drawn first, in the calling thread, exactly when skorch's loop would draw them (a
``DataLoader`` over a ``WeightedRandomSampler`` draws all of an epoch's rows on its first
batch), and the worker
prepares their batches in order with the batcher's own generators, so a seeded fit gives
the same batches, bitwise, as without prefetching.
"""

from __future__ import annotations

import queue
import threading
import time

import torch

#: Batches prepared ahead of the step that consumes them.
PREFETCH_DEPTH = 2
_DONE = object()


class Prepared:
    """A batch sampled ahead of its step: ``(batch, extra)`` as the batcher returns them, on
    the CPU (in pinned memory when the step runs on CUDA). ``len`` is its seed rows, as
    skorch counts a batch."""

    __slots__ = ("batch", "extra", "num_rows")

    def __init__(self, batch, extra, num_rows: int):
        self.batch, self.extra, self.num_rows = batch, extra, num_rows

    def __len__(self) -> int:
        return self.num_rows


def _pinned(batch, extra):
    batch = batch.pin_memory()
    extra = {k: ({nt: tf.pin_memory() for nt, tf in v.items()} if isinstance(v, dict) else v)
             for k, v in extra.items()}
    return batch, extra


def prefetch(iterator, batcher, *, training: bool, device, depth: int = PREFETCH_DEPTH,
             timing: dict | None = None):
    """Yield skorch batches ``(Prepared, y)`` for the batches ``(X, y)`` of ``iterator``,
    each sampled by ``batcher(X, training)`` in a background thread up to ``depth`` steps
    ahead of the consumer; the worker adds its seconds to ``timing["seconds"]``.

    An exception in the worker is raised in the consumer at the batch it belongs to; a
    consumer that stops early (early stopping, ``max_steps``) stops the worker.
    """
    items = list(iterator)  # the epoch's seed rows, drawn here, in the caller's thread
    pin = torch.device(device).type == "cuda"
    out: queue.Queue = queue.Queue(maxsize=max(int(depth), 1))
    stop = threading.Event()

    def work():
        try:
            for x, y in items:
                if stop.is_set():
                    return
                start = time.perf_counter()
                batch, extra = batcher(x, training=training)
                if pin:
                    batch, extra = _pinned(batch, extra)
                if timing is not None:
                    timing["seconds"] = timing.get("seconds", 0.0) + time.perf_counter() - start
                out.put((Prepared(batch, extra, len(x)), y))
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(exc)
            return
        out.put(_DONE)

    worker = threading.Thread(target=work, name="relcontrast-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a worker waiting on a full queue
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
