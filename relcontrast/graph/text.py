"""HashingTextEncoder: the default text embedder, which needs no download."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from relcontrast.graph.column_types import is_missing

# Texts hashed per call of a HashingVectorizer (bounds its sparse n-gram matrix), and the
# number of such chunks from which they are hashed in parallel processes.
_TEXT_CHUNK, _PARALLEL_CHUNKS = 1 << 16, 8


class HashingTextEncoder:
    """Embed texts by hashing word and character n-grams; needs no download.

    A text's vector is the sum of a word (1-2)-gram and a character (2-4)-gram
    :class:`~sklearn.feature_extraction.text.HashingVectorizer` (each L2-normalised), L2
    normalised again. Missing values and empty texts give the zero vector. Each distinct text
    is hashed once, in chunks of 65,536; from 8 chunks on (half a million distinct texts),
    the chunks are hashed in parallel processes (joblib), with the same values.

    Parameters
    ----------
    n_features : int, default=64
        Output dimension.

    Examples
    --------
    >>> from relcontrast.graph import HashingTextEncoder
    >>> HashingTextEncoder(n_features=16)(["red car", None]).shape
    torch.Size([2, 16])
    """

    def __init__(self, n_features: int = 64):
        if not isinstance(n_features, (int, np.integer)) or n_features < 1:
            raise ValueError(f"n_features must be a positive int, got {n_features!r}.")
        self.n_features = int(n_features)

    def _vectorizers(self):
        from sklearn.feature_extraction.text import HashingVectorizer

        common = dict(n_features=self.n_features, alternate_sign=True, norm="l2",
                      lowercase=True, dtype=np.float32)
        return (HashingVectorizer(analyzer="word", ngram_range=(1, 2), **common),
                HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), **common))

    def __call__(self, texts: Sequence[Any]) -> Tensor:
        texts = ["" if is_missing(t) else str(t) for t in texts]
        codes, distinct = pd.factorize(pd.Series(texts, dtype=object))  # each text once
        chunks = [list(distinct[i:i + _TEXT_CHUNK])  # bounded sparse intermediates
                  for i in range(0, len(distinct), _TEXT_CHUNK)]
        if len(chunks) >= _PARALLEL_CHUNKS:  # millions of texts: one process per core
            from joblib import Parallel, delayed

            parts = Parallel(n_jobs=-1)(delayed(self._hash)(c) for c in chunks)
        else:
            parts = [self._hash(c) for c in chunks]
        out = np.concatenate(parts) if parts else np.zeros((0, self.n_features), np.float32)
        return torch.from_numpy(out[codes])  # [num_texts, n_features]

    def _hash(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.n_features), dtype=np.float32)
        for vec in self._vectorizers():
            out += vec.transform(texts).toarray()  # [num_texts, n_features]
        norm = np.linalg.norm(out, axis=1, keepdims=True)  # [num_texts, 1]
        return np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.n_features == self.n_features

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.n_features))

    def __repr__(self) -> str:
        return f"HashingTextEncoder(n_features={self.n_features})"
