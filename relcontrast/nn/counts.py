"""Projection of a row's count inputs (how many rows reference it, per window)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn
from torch_geometric.nn.module_dict import ModuleDict


class HeteroCountEncoder(nn.Module):
    """A linear map of each node's count inputs, per node type.

    The inputs (``log1p`` counts of the rows referencing the node, all time and per window,
    :mod:`relcontrast.sampling.counts`) are computed by the sampler; this module holds only
    their projection, whose output is added to the node's attribute embedding.

    Parameters
    ----------
    in_channels : dict of str to int
        Number of count inputs per node type (types with none are left out).
    channels : int
        Output size.
    """

    def __init__(self, in_channels: Mapping[str, int], channels: int):
        super().__init__()
        self.in_channels = {nt: int(c) for nt, c in in_channels.items() if int(c) > 0}
        self.channels = int(channels)
        if self.channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}.")
        self.node_types = tuple(self.in_channels)
        self.lins = ModuleDict({nt: nn.Linear(c, self.channels)
                                for nt, c in self.in_channels.items()})
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in self.lins.values():
            lin.reset_parameters()

    def forward(self, counts_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{nt: [num_nodes, channels]}`` for the types of ``counts_dict`` this encoder knows.

        Parameters
        ----------
        counts_dict : dict of str to Tensor
            ``[num_nodes, in_channels[nt]]`` count inputs per node type.
        """
        out = {}
        for nt, counts in counts_dict.items():
            if nt not in self.lins:
                continue
            if counts.dim() != 2 or counts.size(1) != self.in_channels[nt]:
                raise ValueError(
                    f"Count inputs of {nt!r} have shape {tuple(counts.shape)}, expected "
                    f"[num_nodes, {self.in_channels[nt]}]; sample with the backbone's own "
                    f"count_windows (CountingSampler(sampler, backbone.count_windows)).")
            out[nt] = self.lins[nt](counts.to(self.lins[nt].weight.dtype))  # [num_nodes, channels]
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_node_types={len(self.node_types)}, "
                f"channels={self.channels})")


__all__ = ["HeteroCountEncoder"]
