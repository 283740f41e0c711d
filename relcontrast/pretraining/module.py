"""PretrainingModule: the backbone and the pretraining objectives in one module."""

from __future__ import annotations

from torch import nn
from torch.profiler import record_function

from relcontrast.nn import RelationalBackbone
from relcontrast.pretraining.objectives import ContrastiveLoss

__all__ = ["PretrainingModule"]


class PretrainingModule(nn.Module):
    """Backbone plus the contrastive objectives; ``forward`` returns the loss.

    Parameters
    ----------
    backbone : RelationalBackbone
    loss : ContrastiveLoss
    """

    def __init__(self, backbone: RelationalBackbone, loss: ContrastiveLoss):
        super().__init__()
        self.backbone = backbone
        self.loss = loss

    def forward(self, batch, tf_corrupt=None):
        with record_function("relcontrast.backbone"):
            z_clean = self.backbone(batch)
        z_corrupt = None
        if tf_corrupt is not None:  # the row level contrasts the seeds' corrupted views only
            with record_function("relcontrast.backbone_corrupt"):
                z_corrupt = self.backbone(batch, tf_dict=tf_corrupt, seeds_only=True)
        return self.loss(z_clean, z_corrupt, batch)
