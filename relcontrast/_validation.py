"""Helpers shared by the error messages and input declarations of every module."""

from __future__ import annotations

import difflib

from scipy import sparse


def did_you_mean(name, options) -> str:
    """``" Did you mean 'x'?"`` for the option closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def describe_input(X) -> str:
    """The type of an unsupported input X, for error messages; sparse inputs say so."""
    if sparse.issparse(X):
        return f"sparse {type(X).__name__} (sparse input is not supported)"
    return type(X).__name__


def relational_input_tags(tags):
    """The input tags of every estimator that reads rows X of a database: X is a DataFrame of
    entity keys (any dtype) and cutoff times. ``two_d_array`` keeps its default True: X is
    2-D, and scikit-learn's common checks run only for two_d_array estimators."""
    tags.input_tags.string = True
    tags.input_tags.categorical = True
    return tags
