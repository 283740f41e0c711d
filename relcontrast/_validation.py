"""Helpers shared by the error messages of every module."""

from __future__ import annotations

import difflib


def did_you_mean(name, options) -> str:
    """``" Did you mean 'x'?"`` for the option closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
