"""Encoding of a row's age relative to the time its embedding is computed for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn
from torch_geometric.nn import PositionalEncoding
from torch_geometric.nn.module_dict import ModuleDict

NS_PER_DAY = 86_400 * 1_000_000_000


class HeteroTemporalEncoder(nn.Module):
    """Sinusoidal encoding of relative time, then a linear map, per timed node type.

    For a node with timestamp ``time`` embedded at time bound ``ref_time`` (both in nanoseconds),
    the relative time ``(ref_time - time)`` in days goes through the transformer positional
    encoding (frequencies from 1 to 1e-4 per day), then a per-type ``Linear``. The result is
    added to the node's attribute embedding, so the model knows how old each row is.

    Parameters
    ----------
    node_types : iterable of str
        The timed node types.
    channels : int
        Output size (any positive integer; odd sizes are fine).
    """

    def __init__(self, node_types: Iterable[str], channels: int):
        super().__init__()
        self.node_types = tuple(node_types)
        self.channels = int(channels)
        if self.channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}.")
        # the sinusoid needs an even size; the linear map brings it back to `channels`
        self.encoding = PositionalEncoding(self.channels + self.channels % 2)
        self.lins = ModuleDict({
            nt: nn.Linear(self.encoding.out_channels, self.channels) for nt in self.node_types
        })
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.encoding.reset_parameters()
        for lin in self.lins.values():
            lin.reset_parameters()

    def forward(self, time_dict: Mapping[str, Tensor],
                ref_time_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Relative-time embeddings ``{nt: [num_nodes, channels]}``.

        Parameters
        ----------
        time_dict : dict of str to LongTensor
            Timestamp of each node in nanoseconds, for (a subset of) the timed node types.
        ref_time_dict : dict of str to LongTensor
            Time bound of each node in nanoseconds; needed for every type in ``time_dict``.

        Returns
        -------
        dict of str to Tensor
            One entry per type of ``time_dict`` that this encoder knows.
        """
        out = {}
        for nt, time in time_dict.items():
            if nt not in self.lins:
                continue
            rel = ref_time_dict[nt] - time  # [num_nodes] nanoseconds, exact in int64
            rel = (rel.to(torch.float64) / NS_PER_DAY).to(torch.float)  # [num_nodes] days
            x = self.encoding(rel)  # [num_nodes, even channels]
            out[nt] = self.lins[nt](x)  # [num_nodes, channels]
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_node_types={len(self.node_types)}, "
                f"channels={self.channels})")


__all__ = ["HeteroTemporalEncoder"]
