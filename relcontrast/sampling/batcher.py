"""NeighborBatcher: a training step's seed rows of one table -> a temporal neighbour batch."""

from __future__ import annotations

import torch

from relcontrast._random import GeneratorPair

__all__ = ["NeighborBatcher"]


class NeighborBatcher:
    """Seed rows ``[B, 2]`` (node index, time in ns) of one table -> temporal neighbour batch."""

    def __init__(self, sampler, seed_type: str, seed: int, temporal: bool = True,
                 train_seed: int | None = None):
        self.sampler = sampler
        self.seed_type = seed_type
        self.temporal = temporal
        self.generators = GeneratorPair(seed, train_seed)

    def __call__(self, x: torch.Tensor, training: bool):
        x = torch.as_tensor(x).cpu()
        time = {self.seed_type: x[:, 1]} if self.temporal else None
        batch = self.sampler.sample({self.seed_type: x[:, 0]}, time,
                                    self.generators.get(training))
        return batch, {}
