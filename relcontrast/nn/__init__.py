"""Neural network modules: attribute encoders, tabular models, temporal encoding, the
heterogeneous GraphSAGE, heads, and the backbone that chains them."""

from __future__ import annotations

from relcontrast.nn.backbone import RelationalBackbone, batch_to_device
from relcontrast.nn.encoders import HeteroAttributeEncoder, TableEncoder
from relcontrast.nn.gnn import HeteroGraphSAGE
from relcontrast.nn.heads import MLPHead
from relcontrast.nn.tabular import LinearTabularModel, ResNetTabularModel
from relcontrast.nn.temporal import HeteroTemporalEncoder

__all__ = [
    "HeteroAttributeEncoder",
    "HeteroGraphSAGE",
    "HeteroTemporalEncoder",
    "LinearTabularModel",
    "MLPHead",
    "RelationalBackbone",
    "ResNetTabularModel",
    "TableEncoder",
    "batch_to_device",
]
