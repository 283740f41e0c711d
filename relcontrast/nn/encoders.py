"""Attribute encoders: a table's TensorFrame rows -> one embedding per row.

Each table gets torch-frame stype encoders (one per semantic type present, shared by the
columns of that type) that map every cell to a ``channels``-sized vector, followed by a
tabular model (:mod:`relcontrast.nn.tabular`) that mixes a row's cells into one vector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch_frame
from torch import Tensor, nn
from torch_frame import TensorFrame
from torch_frame.data.multi_embedding_tensor import MultiEmbeddingTensor
from torch_frame.data.stats import StatType
from torch_frame.nn import (
    EmbeddingEncoder,
    LinearEmbeddingEncoder,
    LinearEncoder,
    MultiCategoricalEmbeddingEncoder,
    StypeWiseFeatureEncoder,
    TimestampEncoder,
)
from torch_geometric.nn.module_dict import ModuleDict

from relcontrast.nn.tabular import TABULAR_MODELS, LinearTabularModel


class NanSafeLinearEncoder(LinearEncoder):
    """torch-frame's :class:`~torch_frame.nn.LinearEncoder` with finite gradients on
    missing values.

    A missing (NaN or infinite) cell is encoded as the zero vector, as in torch-frame; but
    torch-frame computes ``NaN * weight`` first and zeroes the result, so the weight's
    gradient is ``0 * NaN = NaN`` and one missing value ruins the whole column's weights.
    Here missing cells are masked before they meet the weights.
    """

    def encode_forward(self, feat: Tensor, col_names: list[str] | None = None) -> Tensor:
        feat = (feat - self.mean) / self.std  # [num_rows, num_cols]
        missing = ~torch.isfinite(feat)  # [num_rows, num_cols]
        feat = feat.masked_fill(missing, 0.0)  # [num_rows, num_cols]
        x = torch.einsum("ij,jk->ijk", feat, self.weight)  # [num_rows, num_cols, channels]
        x = x + self.bias  # [num_rows, num_cols, channels]
        return x.masked_fill(missing.unsqueeze(-1), 0.0)  # [num_rows, num_cols, channels]


class NanSafeLinearEmbeddingEncoder(LinearEmbeddingEncoder):
    """torch-frame's :class:`~torch_frame.nn.LinearEmbeddingEncoder` with finite gradients
    when an embedding holds NaN: such a cell is encoded as the zero vector (torch-frame's
    output) without a NaN reaching the weights' gradient."""

    def encode_forward(self, feat: MultiEmbeddingTensor,
                       col_names: list[str] | None = None) -> Tensor:
        xs, masks = [], []
        start = 0
        for weight, dim in zip(self.weight_list, self.emb_dim_list, strict=True):
            values = feat.values[:, start:start + dim]  # [num_rows, emb_dim]
            missing = ~torch.isfinite(values).all(dim=1)  # [num_rows]
            values = values.masked_fill(missing.unsqueeze(1), 0.0)  # [num_rows, emb_dim]
            xs.append(values @ weight)  # [num_rows, channels]
            masks.append(missing)
            start += dim
        x = torch.stack(xs, dim=1) + self.biases  # [num_rows, num_cols, channels]
        missing = torch.stack(masks, dim=1)  # [num_rows, num_cols]
        return x.masked_fill(missing.unsqueeze(-1), 0.0)  # [num_rows, num_cols, channels]


#: Stype encoder class per (parent) stype. ``text_embedded`` columns are stored by
#: torch-frame under their parent stype ``embedding``.
STYPE_ENCODERS = {
    torch_frame.numerical: NanSafeLinearEncoder,
    torch_frame.categorical: EmbeddingEncoder,
    torch_frame.multicategorical: MultiCategoricalEmbeddingEncoder,
    torch_frame.timestamp: TimestampEncoder,
    torch_frame.embedding: NanSafeLinearEmbeddingEncoder,
}


def _canonical_col_names(col_names_dict: Mapping[torch_frame.stype, list[str]]
                         ) -> dict[torch_frame.stype, list[str]]:
    """Keys mapped to their parent stype, in torch-frame's canonical stype order (the order
    :attr:`TensorFrame.stypes` uses), empty stypes dropped."""
    by_parent = {stype.parent: list(cols) for stype, cols in col_names_dict.items() if cols}
    return {stype: by_parent[stype] for stype in torch_frame.stype if stype in by_parent}


class TableEncoder(nn.Module):
    """One table's rows -> ``[num_rows, out_channels]``: stype encoders, then a tabular model.

    Parameters
    ----------
    col_stats : dict of str to dict of StatType to Any
        torch-frame statistics of every column in ``col_names_dict``.
    col_names_dict : dict of torch_frame.stype to list of str
        The table's columns per stype, as ``TensorFrame.col_names_dict``.
    channels : int
        Size of each cell encoding and of the row embedding.
    tabular_model : {"linear", "resnet"}, default="linear"
        ``"linear"``: cell encodings concatenated, projected, LayerNorm. ``"resnet"``:
        torch-frame's ResNet blocks over the concatenation.
    num_layers : int, default=4
        Residual blocks of the ``"resnet"`` model (ignored by ``"linear"``).
    dropout : float, default=0.0
        Dropout inside the ``"resnet"`` blocks.
    name : str, default=None
        The table's name, for error messages.

    Notes
    -----
    A table with no feature column gets one learned vector shared by all of its rows.
    """

    def __init__(self, col_stats: Mapping[str, Mapping[StatType, Any]],
                 col_names_dict: Mapping[torch_frame.stype, list[str]], channels: int,
                 tabular_model: str = "linear", num_layers: int = 4, dropout: float = 0.0,
                 name: str | None = None):
        super().__init__()
        self.name = name
        where = "" if name is None else f" of table {name!r}"
        if tabular_model not in TABULAR_MODELS:
            raise ValueError(f"tabular_model must be one of {sorted(TABULAR_MODELS)}, got "
                             f"{tabular_model!r}.")
        self.tabular_model_name = tabular_model
        self.channels = int(channels)
        self.col_names_dict = _canonical_col_names(col_names_dict)
        for stype, cols in self.col_names_dict.items():
            if stype not in STYPE_ENCODERS:
                raise ValueError(
                    f"Columns {cols}{where} have stype {stype.value!r}, which relcontrast "
                    f"cannot encode; supported: "
                    f"{sorted(s.value for s in STYPE_ENCODERS)} (and text_embedded).")
            missing = [c for c in cols if c not in col_stats]
            if missing:
                raise ValueError(f"col_stats has no statistics for columns {missing}{where}.")
        self.stypes = tuple(self.col_names_dict)
        self.num_cols = sum(len(cols) for cols in self.col_names_dict.values())

        self.feature_encoder: StypeWiseFeatureEncoder | None = None
        self.tabular_model: nn.Module | None = None
        self.empty_embedding: nn.Parameter | None = None
        if self.num_cols == 0:
            self.empty_embedding = nn.Parameter(torch.empty(self.channels))
        else:
            used_stats = {c: dict(col_stats[c]) for cols in self.col_names_dict.values()
                          for c in cols}
            self.feature_encoder = StypeWiseFeatureEncoder(
                out_channels=self.channels, col_stats=used_stats,
                col_names_dict=self.col_names_dict,
                stype_encoder_dict={stype: STYPE_ENCODERS[stype]() for stype in self.stypes},
            )
            kwargs = ({"num_layers": num_layers, "dropout": dropout}
                      if tabular_model == "resnet" else {})
            self.tabular_model = TABULAR_MODELS[tabular_model](
                self.num_cols, self.channels, **kwargs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.empty_embedding is not None:
            nn.init.normal_(self.empty_embedding, std=1.0)
        if self.feature_encoder is not None:
            # StypeWiseFeatureEncoder.reset_parameters is a no-op: reset each stype encoder
            for stype_encoder in self.feature_encoder.encoder_dict.values():
                stype_encoder.reset_parameters()
            self.tabular_model.reset_parameters()

    def encode_columns(self, tf: TensorFrame) -> Tensor:
        """Cell encodings ``[num_rows, num_cols, channels]``, columns in stype-canonical
        order."""
        self._check_columns(tf)
        if self.feature_encoder is None:
            device = self.empty_embedding.device
            return torch.zeros(tf.num_rows, 0, self.channels, device=device)
        feats = {stype.parent: feat for stype, feat in tf.feat_dict.items()}
        if torch_frame.timestamp in feats:  # int16 in build_graph's frames; widened for
            # torch-frame's missing-value fill (int64); its encoder computes in float32
            feats[torch_frame.timestamp] = feats[torch_frame.timestamp].long()
        xs = [
            self.feature_encoder.encoder_dict[stype.value](feats[stype], cols)
            for stype, cols in self.col_names_dict.items()
        ]  # each [num_rows, num_cols_of_stype, channels]
        return torch.cat(xs, dim=1)  # [num_rows, num_cols, channels]

    def forward(self, tf: TensorFrame) -> Tensor:
        """Row embeddings ``[tf.num_rows, channels]``."""
        if self.feature_encoder is None:
            self._check_columns(tf)
            return self.empty_embedding.expand(tf.num_rows, self.channels)  # [num_rows, channels]
        if isinstance(self.tabular_model, LinearTabularModel):
            return self._linear_forward(tf)
        return self.tabular_model(self.encode_columns(tf))  # [num_rows, channels]

    def _linear_forward(self, tf: TensorFrame) -> Tensor:
        """The ``"linear"`` model's output, computed stype by stype: its projection of a
        block of cell encodings is that block times the matching columns of its weight,
        and for numerical cells, ``x * w + b`` (0 when missing), the projection of the
        encoding folds into ``x @ (W w) + present @ (W b)``: no ``[rows, cols, channels]``
        tensor for them. Equal to ``tabular_model(encode_columns(tf))``."""
        self._check_columns(tf)
        lin, norm = self.tabular_model.lin, self.tabular_model.norm
        weight = lin.weight.view(lin.out_features, self.num_cols, self.channels)  # [out, cols, C]
        feats = {stype.parent: feat for stype, feat in tf.feat_dict.items()}
        out, start = lin.bias, 0
        for stype, cols in self.col_names_dict.items():
            block = weight[:, start:start + len(cols)]  # [out, n, channels]
            start += len(cols)
            encoder = self.feature_encoder.encoder_dict[stype.value]
            if isinstance(encoder, NanSafeLinearEncoder):
                x = (feats[stype] - encoder.mean) / encoder.std  # [num_rows, n]
                present = torch.isfinite(x)  # [num_rows, n]
                x = x.masked_fill(~present, 0.0)
                scale = torch.einsum("onc,nc->no", block, encoder.weight)  # [n, out]
                shift = torch.einsum("onc,nc->no", block, encoder.bias)  # [n, out]
                out = out + x @ scale + present.to(x.dtype) @ shift  # [num_rows, out]
                continue
            feat = feats[stype]
            if stype == torch_frame.timestamp:  # as in encode_columns
                feat = feat.long()
            cells = encoder(feat, cols)  # [num_rows, n, channels]
            out = out + cells.flatten(1) @ block.flatten(1).t()  # [num_rows, out]
        return norm(out.expand(tf.num_rows, -1))  # [num_rows, out]

    def _check_columns(self, tf: TensorFrame) -> None:
        got = _canonical_col_names(tf.col_names_dict)
        if got != self.col_names_dict:
            where = "" if self.name is None else f" of table {self.name!r}"
            expected = {s.value: c for s, c in self.col_names_dict.items()}
            received = {s.value: c for s, c in got.items()}
            raise ValueError(
                f"The TensorFrame{where} has columns {received}, but the encoder was built "
                f"for {expected}. Encode frames built with the same column types as at fit.")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, num_cols={self.num_cols}, "
                f"channels={self.channels}, tabular_model={self.tabular_model_name!r})")


class HeteroAttributeEncoder(nn.Module):
    """Per-table attribute encoders: ``{table: TensorFrame}`` -> ``{table: [N, channels]}``.

    Parameters
    ----------
    col_stats_dict : dict of str to dict of str to dict of StatType to Any
        torch-frame column statistics per table.
    col_names_dict : dict of str to dict of torch_frame.stype to list of str
        ``TensorFrame.col_names_dict`` per table; its keys are the node types encoded.
    channels : int
        Size of the row embeddings.
    tabular_model : {"linear", "resnet"}, default="linear"
        See :class:`TableEncoder`.
    num_layers : int, default=4
        Residual blocks of the ``"resnet"`` tabular model.
    dropout : float, default=0.0
        Dropout inside the ``"resnet"`` blocks.
    """

    def __init__(self, col_stats_dict: Mapping[str, Mapping[str, Mapping[StatType, Any]]],
                 col_names_dict: Mapping[str, Mapping[torch_frame.stype, list[str]]],
                 channels: int, tabular_model: str = "linear", num_layers: int = 4,
                 dropout: float = 0.0):
        super().__init__()
        self.node_types = tuple(col_names_dict)
        self.channels = int(channels)
        self.tabular_model = tabular_model
        missing = [nt for nt in self.node_types if nt not in col_stats_dict]
        if missing:
            raise ValueError(f"col_stats_dict has no statistics for tables {missing}.")
        self.encoders = ModuleDict({
            nt: TableEncoder(col_stats_dict[nt], col_names_dict[nt], channels,
                             tabular_model=tabular_model, num_layers=num_layers,
                             dropout=dropout, name=nt)
            for nt in self.node_types
        })
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for encoder in self.encoders.values():
            encoder.reset_parameters()

    def forward(self, tf_dict: Mapping[str, TensorFrame]) -> dict[str, Tensor]:
        """Row embeddings ``{table: [tf.num_rows, channels]}`` for every table of
        ``tf_dict``."""
        unknown = [nt for nt in tf_dict if nt not in self.encoders]
        if unknown:
            raise ValueError(f"No attribute encoder for tables {unknown}; the encoder knows "
                             f"{list(self.node_types)}.")
        return {nt: self.encoders[nt](tf) for nt, tf in tf_dict.items()}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_tables={len(self.node_types)}, "
                f"channels={self.channels}, tabular_model={self.tabular_model!r})")


__all__ = ["STYPE_ENCODERS", "HeteroAttributeEncoder", "NanSafeLinearEmbeddingEncoder",
           "NanSafeLinearEncoder", "TableEncoder"]
