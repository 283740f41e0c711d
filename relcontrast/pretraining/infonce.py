"""The pieces every contrastive level shares: the InfoNCE kernel and the projection head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["InfoNCEResult", "ProjectionHead", "info_nce", "spread_index"]

#: Largest ``[M, N]`` similarity matrix computed in full when only ``K < N`` candidates per
#: query are needed (64 MB of float32).
_MAX_DENSE_LOGITS = 2**24


class InfoNCEResult(NamedTuple):
    """Per-anchor InfoNCE of one group (one node type or one edge type).

    Attributes
    ----------
    loss : Tensor of shape [num_anchors]
        ``-log softmax`` of the positive among the positive and the anchor's negatives.
    num_negatives : LongTensor of shape [num_anchors]
        Negatives the anchor was actually contrasted with (after masking), ``K``: chance level
        of ``loss`` is ``log(K + 1)``.
    """

    loss: Tensor
    num_negatives: Tensor


def spread_index(n: int, k: int | None, device: torch.device | str | None = None) -> Tensor:
    """At most ``k`` indices evenly spread over ``range(n)`` (all of them if ``n <= k``).

    A deterministic sub-sample: batches are random already, so spreading the selection over
    the whole range (rather than taking the first ``k``, e.g. only the seeds) is unbiased
    enough and needs no random state inside the loss.
    """
    if k is None or n <= k:
        return torch.arange(n, device=device)
    return torch.arange(k, device=device) * n // k  # [k]


def info_nce(
    query: Tensor,
    keys: Tensor,
    positive: Tensor,
    *,
    temperature: float,
    key_ids: Tensor | Sequence[Tensor] | None = None,
    num_negatives: int | None = None,
) -> InfoNCEResult:
    """InfoNCE with cosine similarity of each query against its positive key and negatives.

    Negatives of query ``i`` are the keys other than ``positive[i]``, minus every key that
    shares an identity with the positive in any of ``key_ids`` (another copy of the same
    database row in the batch, or a key computed from identical inputs: a false negative).
    Queries left without any negative are dropped.

    Parameters
    ----------
    query : Tensor of shape [num_queries, channels]
    keys : Tensor of shape [num_keys, channels]
    positive : LongTensor of shape [num_queries]
        Index into ``keys`` of each query's positive.
    temperature : float
    key_ids : LongTensor of shape [num_keys] or sequence of them, default=None
        Identities of each key, e.g. its global row id ``n_id`` and the fingerprint of its
        inputs (:func:`~relcontrast.pretraining.fingerprint.input_fingerprints`); a key
        equal to the positive in any of them is masked. None: all keys are distinct.
    num_negatives : int, default=None
        None: every other key is a negative (``[num_queries, num_keys]`` logits). An int
        ``K < num_keys - 1``: ``K`` keys evenly spaced after the positive (cyclically), so
        each query sees a different, deterministic spread of the keys (``[num_queries, K]``
        logits).

    Returns
    -------
    InfoNCEResult
    """
    q = F.normalize(query, dim=-1)  # [M, C]
    k = F.normalize(keys, dim=-1)  # [N, C]
    n = k.size(0)
    pos_logit = (q * k[positive]).sum(-1) / temperature  # [M]
    if num_negatives is None or num_negatives >= n - 1:
        cand = None  # every key, in order: [M, N] comparisons broadcast, nothing gathered
        neg_logit = q @ k.t() / temperature  # [M, N]
        masked = torch.arange(n, device=k.device) == positive.unsqueeze(1)  # [M, N]
    else:
        steps = torch.arange(num_negatives, device=k.device) * (n - 1) // num_negatives  # [K]
        cand = (positive.unsqueeze(1) + 1 + steps) % n  # [M, K], never the positive itself
        if q.size(0) * n <= _MAX_DENSE_LOGITS:  # all similarities, then the candidates':
            # one product instead of a [M, K, C] gather, whose backward scatters M * K rows
            neg_logit = (q @ k.t()).gather(1, cand) / temperature  # [M, K]
        else:
            neg_logit = torch.einsum("mc,mkc->mk", q, k[cand]) / temperature  # [M, K]
        masked = torch.zeros_like(cand, dtype=torch.bool)
    for ids in [key_ids] if isinstance(key_ids, Tensor) else (key_ids or ()):
        ids = ids.to(k.device)
        masked = masked | ((ids if cand is None else ids[cand]) == ids[positive].unsqueeze(1))
    neg_logit = neg_logit.masked_fill(masked, float("-inf"))
    logits = torch.cat([pos_logit.unsqueeze(1), neg_logit], dim=1)  # [M, 1 + K]
    loss = torch.logsumexp(logits, dim=1) - pos_logit  # [M]
    count = (~masked).sum(1)  # [M]
    keep = count > 0
    return InfoNCEResult(loss[keep], count[keep])


class ProjectionHead(nn.Module):
    """Two-layer MLP projection head (``Linear -> ReLU -> Linear``), as in SimCLR.

    Parameters
    ----------
    channels : int
        Input, hidden and output size.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.lin1 = nn.Linear(channels, channels)
        self.lin2 = nn.Linear(channels, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.lin2(torch.relu(self.lin1(x)))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels})"
