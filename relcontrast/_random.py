"""Seeded torch generators: what every sampler and corruption draws from."""

from __future__ import annotations

import torch


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (modulo 2**63)."""
    gen = torch.Generator()
    gen.manual_seed(int(seed) % 2**63)
    return gen


def eval_generator(seed: int, gen: torch.Generator | None = None) -> torch.Generator:
    """The generator of every evaluation pass (validation, ``transform``, ``predict``) of a
    model seeded with ``seed``: seeded with ``seed + 1`` (apart from training's), and
    restarted for each pass, so the same rows always sample the same neighbours. Reseeds
    ``gen`` when given."""
    if gen is None:
        return make_generator(int(seed) + 1)
    gen.manual_seed((int(seed) + 1) % 2**63)
    return gen


class GeneratorPair:
    """A training generator that runs on, and an evaluation generator that restarts.

    ``train_seed`` (default ``seed``) seeds the training generator alone: a data-parallel
    rank samples with its own, and evaluates with the evaluation generator of every rank.
    """

    def __init__(self, seed: int, train_seed: int | None = None):
        self.seed = int(seed)
        self.train = make_generator(self.seed if train_seed is None else train_seed)
        self.eval = eval_generator(self.seed)

    def reset_eval(self) -> None:
        eval_generator(self.seed, self.eval)

    def get(self, training: bool) -> torch.Generator:
        return self.train if training else self.eval

    def __getstate__(self):
        return {"seed": self.seed, "train": self.train.get_state(), "eval": self.eval.get_state()}

    def __setstate__(self, state):
        self.seed = state["seed"]
        self.train, self.eval = torch.Generator(), torch.Generator()
        self.train.set_state(state["train"])
        self.eval.set_state(state["eval"])
