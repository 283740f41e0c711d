"""Per-level loss normalisation, so that levels of different difficulty weigh alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from relcontrast.pretraining.infonce import InfoNCEResult

__all__ = ["LOSS_NORMALIZATIONS", "LossNormalizer"]

#: Valid values of ``mode`` in :class:`LossNormalizer`.
LOSS_NORMALIZATIONS = ("log_k", "running_mean")


class LossNormalizer(nn.Module):
    r"""Turns each level's per-group InfoNCE into one normalised scalar.

    A level's groups are its node types (row, context) or edge types (link).

    - ``"log_k"``: each anchor's loss is divided by :math:`\log(K + 1)`, :math:`K` the
      negatives it was contrasted with, i.e. by its chance level; anchors are averaged per
      group and groups averaged with equal weight (every table counts alike, in the spirit
      of type-balanced sampling). An uninformed encoder scores about 1 on every level, a
      perfect one 0.
    - ``"running_mean"``: the level's raw loss (the same equal-weight mean of group means)
      divided by an exponential moving average of itself (a detached buffer, updated in
      training mode only; the first update sets it to the current value). Each level then
      starts near 1 and reports its progress relative to its recent past.

    Parameters
    ----------
    levels : sequence of str
        Names of the levels (one running mean each).
    mode : {"log_k", "running_mean"}, default="log_k"
    momentum : float, default=0.05
        Weight of the newest raw loss in the moving average.
    """

    def __init__(self, levels: Sequence[str], mode: str = "log_k", momentum: float = 0.05):
        super().__init__()
        if mode not in LOSS_NORMALIZATIONS:
            raise ValueError(
                f"Unknown loss normalization {mode!r}; choose one of {LOSS_NORMALIZATIONS}."
            )
        if not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}.")
        self.levels = list(levels)
        self.mode = mode
        self.momentum = float(momentum)
        self.register_buffer("running_mean", torch.zeros(len(self.levels)))
        self.register_buffer("initialized", torch.zeros(len(self.levels), dtype=torch.bool))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.running_mean.zero_()
        self.initialized.zero_()

    def forward(self, level: str, groups: Iterable[InfoNCEResult]) -> Tensor | None:
        """The normalised loss of ``level``; None if no group has an anchor.

        Parameters
        ----------
        level : str
        groups : iterable of InfoNCEResult

        Returns
        -------
        Tensor of shape [] or None
        """
        groups = [g for g in groups if g.loss.numel() > 0]
        if not groups:
            return None
        if self.mode == "log_k":
            return torch.stack([
                (g.loss / torch.log1p(g.num_negatives.to(g.loss.dtype))).mean() for g in groups
            ]).mean()
        return self.scale(level, torch.stack([g.loss.mean() for g in groups]).mean())

    def scale(self, level: str, raw: Tensor) -> Tensor:
        """``raw`` divided by the running mean of ``level`` (updated in training) under
        ``"running_mean"``; unchanged under ``"log_k"`` (for a level whose chance value is
        already 1, such as the predictive one)."""
        if self.mode == "log_k":
            return raw
        i = self.levels.index(level)
        current = raw.detach().to(self.running_mean.dtype)
        if self.training:
            with torch.no_grad():
                updated = torch.where(
                    self.initialized[i],
                    (1.0 - self.momentum) * self.running_mean[i] + self.momentum * current,
                    current,
                )
                self.running_mean[i] = updated
                self.initialized[i] = True
        scale = torch.where(self.initialized[i], self.running_mean[i], current)
        return raw / scale.clamp_min(1e-8).to(raw.dtype)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mode={self.mode!r})"
