"""Task heads on top of node embeddings (the contrastive projections are in
``relcontrast.pretraining.infonce``)."""

from __future__ import annotations

from torch import Tensor, nn


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


class MLPHead(nn.Module):
    """Multi-layer perceptron on embeddings: ``Linear`` alone, or
    ``(Linear-LayerNorm-ReLU-Dropout) x (num_layers - 1)`` then ``Linear``.

    Parameters
    ----------
    in_channels : int
        Embedding size.
    out_channels : int
        Output size (classes, regression targets, projection size).
    hidden_channels : int, default=None
        Size of the hidden layers; ``in_channels`` when None.
    num_layers : int, default=1
        Number of ``Linear`` layers; 1 is a linear head.
    dropout : float, default=0.0
        Dropout after each hidden layer.

    Examples
    --------
    >>> import torch
    >>> head = MLPHead(8, 3, num_layers=2)
    >>> head(torch.zeros(5, 8)).shape
    torch.Size([5, 3])
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int | None = None,
                 num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.in_channels = _check_positive("in_channels", in_channels)
        self.out_channels = _check_positive("out_channels", out_channels)
        self.hidden_channels = (self.in_channels if hidden_channels is None
                                else _check_positive("hidden_channels", hidden_channels))
        self.num_layers = _check_positive("num_layers", num_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        layers: list[nn.Module] = []
        size = self.in_channels
        for _ in range(self.num_layers - 1):
            layers += [nn.Linear(size, self.hidden_channels), nn.LayerNorm(self.hidden_channels),
                       nn.ReLU(), nn.Dropout(self.dropout)]
            size = self.hidden_channels
        layers.append(nn.Linear(size, self.out_channels))
        self.mlp = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.mlp:
            if isinstance(layer, (nn.Linear, nn.LayerNorm)):
                layer.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """``[..., in_channels]`` -> ``[..., out_channels]``."""
        return self.mlp(x)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"hidden_channels={self.hidden_channels}, num_layers={self.num_layers})")


__all__ = ["MLPHead"]
