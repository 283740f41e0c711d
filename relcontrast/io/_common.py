"""Helpers shared by the modules of :mod:`relcontrast.io`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from relcontrast.io import servers

#: Rows sampled when a column is checked for date strings or key types.
DATE_SAMPLE = 1000


def show(value) -> str:
    """repr of a value, numpy scalars as plain Python ones (``1``, not ``np.int64(1)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def fmt_share(share: float) -> str:
    return f"{100 * share:.1f}%"


def describe_source(source) -> str:
    if isinstance(source, Mapping):
        return "the tables given"
    if servers.is_server_source(source):
        return servers.describe_server(source)  # without the password
    return repr(str(source))
