"""Tabular models: per-column encodings of one row -> one row embedding.

Both models take the stype encoders' output ``[num_rows, num_cols, channels]`` and return
``[num_rows, out_channels]``; they differ in depth only.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch_frame.nn.models.resnet import FCResidualBlock


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


class LinearTabularModel(nn.Module):
    """Column encodings concatenated and projected: ``LayerNorm(W [x_1 | ... | x_C] + b)``.

    Parameters
    ----------
    num_cols : int
        Number of columns ``C`` of the table (at least one).
    channels : int
        Size of each column encoding.
    out_channels : int, default=None
        Size of the row embedding; ``channels`` when None.
    """

    def __init__(self, num_cols: int, channels: int, out_channels: int | None = None):
        super().__init__()
        self.num_cols = _check_positive("num_cols", num_cols)
        self.channels = _check_positive("channels", channels)
        self.out_channels = self.channels if out_channels is None else _check_positive(
            "out_channels", out_channels)
        self.lin = nn.Linear(self.num_cols * self.channels, self.out_channels)
        self.norm = nn.LayerNorm(self.out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """``x`` of shape ``[num_rows, num_cols, channels]`` -> ``[num_rows, out_channels]``."""
        x = x.reshape(x.size(0), self.num_cols * self.channels)  # [num_rows, num_cols * channels]
        return self.norm(self.lin(x))  # [num_rows, out_channels]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_cols={self.num_cols}, channels={self.channels}, "
                f"out_channels={self.out_channels})")


class ResNetTabularModel(nn.Module):
    """The ResNet of Gorishniy et al. (2021) over the flattened column encodings.

    ``num_layers`` fully connected residual blocks (Linear-LayerNorm-ReLU-Dropout twice, plus
    the skip connection), then LayerNorm-ReLU-Linear, exactly as
    :class:`torch_frame.nn.models.ResNet` after its feature encoder.

    Parameters
    ----------
    num_cols : int
        Number of columns ``C`` of the table (at least one).
    channels : int
        Size of each column encoding and of the hidden layers.
    out_channels : int, default=None
        Size of the row embedding; ``channels`` when None.
    num_layers : int, default=4
        Number of residual blocks.
    dropout : float, default=0.0
        Dropout probability inside the blocks.
    """

    def __init__(self, num_cols: int, channels: int, out_channels: int | None = None,
                 num_layers: int = 4, dropout: float = 0.0):
        super().__init__()
        self.num_cols = _check_positive("num_cols", num_cols)
        self.channels = _check_positive("channels", channels)
        self.out_channels = self.channels if out_channels is None else _check_positive(
            "out_channels", out_channels)
        self.num_layers = _check_positive("num_layers", num_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        in_channels = self.num_cols * self.channels
        self.blocks = nn.Sequential(*[
            FCResidualBlock(in_channels if i == 0 else self.channels, self.channels,
                            normalization="layer_norm", dropout_prob=self.dropout)
            for i in range(self.num_layers)
        ])
        self.decoder = nn.Sequential(
            nn.LayerNorm(self.channels), nn.ReLU(), nn.Linear(self.channels, self.out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for block in self.blocks:
            block.reset_parameters()
        self.decoder[0].reset_parameters()
        self.decoder[2].reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """``x`` of shape ``[num_rows, num_cols, channels]`` -> ``[num_rows, out_channels]``."""
        x = x.reshape(x.size(0), self.num_cols * self.channels)  # [num_rows, num_cols * channels]
        x = self.blocks(x)  # [num_rows, channels]
        return self.decoder(x)  # [num_rows, out_channels]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_cols={self.num_cols}, channels={self.channels}, "
                f"out_channels={self.out_channels}, num_layers={self.num_layers})")


TABULAR_MODELS = {"linear": LinearTabularModel, "resnet": ResNetTabularModel}

__all__ = ["TABULAR_MODELS", "LinearTabularModel", "ResNetTabularModel"]
