"""RelationalEstimator: what the encoder and the supervised estimators share."""

from __future__ import annotations

import contextlib
import copy

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from relcontrast.database import as_database
from relcontrast.estimators._common import (
    SavedStateFormat,
    deterministic,
    net_on_device,
    relational_input_tags,
    resolve_device,
)
from relcontrast.estimators._distributed import training_run
from relcontrast.estimators._params import (
    COMMON_CONSTRAINTS,
    FAN_OUT,
    ValidatedParams,
)
from relcontrast.graph import build_graph


class RelationalEstimator(SavedStateFormat, ValidatedParams, BaseEstimator):
    """Base of the estimators that train a skorch net over the graph of a database.

    It holds the constraints of the parameters they share (the data's, the sampling's, the
    training loop's and the runtime's), the fit skeleton (:meth:`_train`:
    the device, data-parallel group and seeded random state of a training run around
    the subclass's :meth:`_build_training`), the context of ``transform`` / ``predict``
    (:meth:`_inference`), :meth:`with_database` and ``module_``.

    Fitted attributes: ``net_`` (the skorch net), ``module_`` (its module), ``history_``,
    ``database_`` and ``graph_``, plus those a subclass's :meth:`_build_training` returns.
    """

    _parameter_constraints: dict = {**COMMON_CONSTRAINTS}
    _parameter_values: dict = {"num_neighbors": FAN_OUT}

    @property
    def module_(self):
        return self.net_.module_

    # -- fit ----------------------------------------------------------------------------
    def _build_training(self, *, device, ddp, seed, **data):  # pragma: no cover - abstract
        """``(net, X, y, fitted)`` of a fit: the skorch net to train on ``device`` (with
        ``ddp`` the data-parallel group or None, ``seed`` the run's seed), its training rows
        X and targets y, and the fitted attributes to set once it has trained."""
        raise NotImplementedError

    def _train(self, **data) -> None:
        """The fit skeleton: in a training run (``training_run``: the device, the
        data-parallel group, torch's random state seeded from ``random_state``),
        :meth:`_build_training` (given ``data``) builds the net, which trains; then
        ``net_``, ``history_`` and the attributes it returned are set."""
        with training_run(self.device, self.random_state) as (device, ddp, seed):
            net, X, y, fitted = self._build_training(device=device, ddp=ddp, seed=seed,
                                                     **data)
            try:
                net.fit(X, y)
            finally:
                net.distributed = None  # the fitted net is an ordinary one
        self.net_ = net
        self.history_ = net.history
        for name, value in fitted.items():
            setattr(self, name, value)

    # -- after fit ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _inference(self):
        """The context of ``transform`` / ``predict``: the fitted net moved to ``device``
        (a model fitted on one machine runs on another, or after ``set_params``), and
        deterministic algorithms when seeded. Yields the device."""
        check_is_fitted(self, "net_")
        device = resolve_device(self.device)
        net_on_device(self.net_, device)
        with deterministic(self.random_state is not None):
            yield device

    def with_database(self, database):
        """The fitted estimator reading another version of its database.

        Same weights and column statistics; only the rows that neighbour sampling reads
        change: pass today's database to use rows added since fitting, or
        ``database_.upto(t)`` to score as if the database had been frozen at ``t`` (how
        RelBench scores its test rows). The original estimator is left as it is.

        Parameters
        ----------
        database : RelationalDatabase
            Same tables and schema as ``database_``.

        Returns
        -------
        estimator : a fitted copy of this estimator
        """
        check_is_fitted(self, "net_")
        new = copy.copy(self)
        new.database_ = as_database(database)
        new.graph_ = build_graph(new.database_, reference=self.graph_)
        new._read_graph()
        return new

    def _read_graph(self) -> None:
        """Point what samples at ``graph_`` after :meth:`with_database` replaced it."""

    def __sklearn_tags__(self):
        return relational_input_tags(super().__sklearn_tags__(), self.random_state,
                                     self.device)
