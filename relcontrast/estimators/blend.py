"""RelationalBlendClassifier and RelationalBlendRegressor: a relational model and gradient
boosting on window aggregates, fitted together and averaged, behind one ``fit``."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.utils import assert_all_finite, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from relcontrast.aggregate import RelationalAggregator
from relcontrast.estimators._common import relational_input_tags
from relcontrast.estimators.encoder import RelationalContrastiveEncoder
from relcontrast.estimators.supervised import RelationalClassifier, RelationalRegressor
from relcontrast.rows import TIME_BOUNDARIES

__all__ = ["RelationalBlendClassifier", "RelationalBlendRegressor"]

_PARTS = ("model", "aggregator", "booster")
# the data parameters a blend hands to an explicitly given part that leaves them at None
_SHARED = ("target_table", "time_column", "random_state")


class _RelationalBlend(BaseEstimator):
    """Shared fit machinery: the parts are built (or cloned) and fitted on the same rows."""

    _parameter_constraints: dict = {
        "encoder": [RelationalContrastiveEncoder, FrozenEstimator, None],
        "database": "no_validation",  # the parts check it, with their own messages
        "target_table": [str, None],
        "time_column": [str, None],
        "time_boundary": [StrOptions(set(TIME_BOUNDARIES))],
        "aggregator": [HasMethods(["fit", "transform"]), StrOptions({"auto"}), None],
        "model_weight": [Interval(numbers.Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    # filled in by the subclasses
    _model_class = None
    _prediction = "predict"

    def __init__(
        self,
        *,
        encoder=None,
        database=None,
        target_table=None,
        time_column=None,
        time_boundary="inclusive",
        model="auto",
        aggregator="auto",
        booster="auto",
        model_weight=0.5,
        random_state=None,
    ):
        self.encoder = encoder
        self.database = database
        self.target_table = target_table
        self.time_column = time_column
        self.time_boundary = time_boundary
        self.model = model
        self.aggregator = aggregator
        self.booster = booster
        self.model_weight = model_weight
        self.random_state = random_state

    # -- parameters -------------------------------------------------------------------------
    def set_params(self, **params):
        """Set parameters; ``model__lr`` and the like reach a part given as an estimator.

        Returns
        -------
        self
        """
        for key in params:
            part, _, sub = key.partition("__")
            if sub and part in _PARTS and isinstance(getattr(self, part, None), str):
                raise ValueError(
                    f"Cannot set {key!r}: {part}={getattr(self, part)!r} is built inside fit "
                    f"and has no parameters of its own. Pass the {part} as an estimator to "
                    f"tune it, e.g. {part}={self._example(part)}.")
        return super().set_params(**params)

    def _example(self, part: str) -> str:
        return {"model": f"{self._model_class.__name__}(lr=0.01)",
                "aggregator": "RelationalAggregator(windows=('all', '90D', 3))",
                "booster": f"{type(self._default_booster(None)).__name__}(max_iter=200)"}[part]

    def _database(self):
        """The database of the aggregates: the ``database`` parameter, else the encoder's."""
        if self.database is not None:
            return self.database
        enc = self.encoder
        if isinstance(enc, FrozenEstimator):
            enc = enc.estimator
        if enc is None:
            return None
        return enc.database_ if hasattr(enc, "database_") else enc.database

    def _check_time_boundary(self, part: str, est) -> None:
        boundary = est.get_params(deep=False).get("time_boundary", self.time_boundary)
        if boundary != self.time_boundary:
            raise ValueError(
                f"{type(self).__name__}(time_boundary={self.time_boundary!r}) got "
                f"{part}={type(est).__name__}(time_boundary={boundary!r}); both parts must read "
                f"the rows X by the same rule. Set time_boundary={self.time_boundary!r} on the "
                f"{part}, or time_boundary={boundary!r} on the blend.")

    def _filled(self, part: str, est, extra: dict):
        """A clone of an explicitly given part, with the blend's data parameters (and
        ``extra``) set where the part leaves them at None."""
        est = clone(est)
        own = est.get_params(deep=False)
        values = {**{k: getattr(self, k) for k in _SHARED}, **extra}
        est.set_params(**{k: v for k, v in values.items()
                          if k in own and own[k] is None and v is not None})
        self._check_time_boundary(part, est)
        return est

    def _make_model(self):
        if self.model is None:
            return None
        if isinstance(self.model, str):  # "auto"
            return self._model_class(
                encoder=self.encoder, database=self.database, target_table=self.target_table,
                time_column=self.time_column, time_boundary=self.time_boundary,
                random_state=self.random_state)
        own = self.model.get_params(deep=False)
        if isinstance(own.get("encoder"), RelationalContrastiveEncoder) and hasattr(
                own["encoder"], "backbone_"):
            raise ValueError(
                f"model={type(self.model).__name__}(encoder=...) holds a fitted encoder, which "
                f"the blend's clone of the model would drop (scikit-learn's clone returns it "
                f"unfitted, to pretrain again). Wrap it, encoder=FrozenEstimator(encoder) "
                f"(sklearn.frozen), or pass it to the blend: {type(self).__name__}("
                f"encoder=encoder, model=...) with the model's encoder left at None.")
        # a relational model with neither an encoder nor a database reads the blend's; one
        # whose unfitted encoder has no database (its architecture, say) the blend's database
        own_encoder, extra = own.get("encoder", 0), {}
        if own.get("database", 0) is None:
            if own_encoder is None:
                extra = {"encoder": self.encoder, "database": self.database}
            elif (isinstance(own_encoder, RelationalContrastiveEncoder)
                  and own_encoder.database is None):
                extra = {"database": self.database}
        return self._filled("model", self.model, extra)

    def _make_aggregator(self):
        if self.aggregator is None:
            return None
        database = self._database()
        if isinstance(self.aggregator, str):  # "auto"
            if database is None:
                raise ValueError(
                    f"{type(self).__name__}(aggregator='auto') needs the database to aggregate: "
                    f"pass database=RelationalDatabase(tables, schema) (or an encoder that "
                    f"holds one), or aggregator=None to use the relational model alone.")
            return RelationalAggregator(
                database=database, target_table=self.target_table,
                time_column=self.time_column, time_boundary=self.time_boundary)
        return self._filled("aggregator", self.aggregator, {"database": database})

    def _make_booster(self):
        if isinstance(self.booster, str):  # "auto"
            return self._default_booster(self.random_state)
        booster = clone(self.booster)
        if "random_state" in booster.get_params(deep=False) and booster.random_state is None:
            booster.set_params(random_state=self.random_state)
        return booster

    def _default_booster(self, random_state):  # pragma: no cover - abstract
        raise NotImplementedError

    def _weights(self) -> tuple[float, float]:
        """The weights of the model and of the aggregates part (1 for a part alone)."""
        if self.model_ is None:
            return 0.0, 1.0
        if self.aggregator_ is None:
            return 1.0, 0.0
        w = float(self.model_weight)
        return w, 1.0 - w

    # -- fit / predict ----------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)  # the parts validate their own
    def fit(self, X, y):
        """Fit the relational model and the aggregates + gradient boosting on rows X.

        Parameters
        ----------
        X : DataFrame
            The target table's primary-key column(s) and a cutoff time column.
        y : array-like of shape (n_rows,)
            The target of each row.

        Returns
        -------
        self
        """
        name = type(self).__name__
        if self.model is None and self.aggregator is None:
            raise ValueError(
                f"{name}(model=None, aggregator=None) has nothing to fit; keep at least one "
                f"part, e.g. model='auto' (the relational model) or aggregator='auto' (window "
                f"aggregates + gradient boosting).")
        y = self._validate_y(X, y)
        model, aggregator = self._make_model(), self._make_aggregator()
        booster = None if aggregator is None else self._make_booster()
        if model is not None:
            model.fit(X, y)
        if aggregator is not None:
            booster.fit(aggregator.fit_transform(X), y)
        self.model_, self.aggregator_, self.booster_ = model, aggregator, booster
        self._check_outputs()
        validate_data(self, X, skip_check_array=True)  # feature_names_in_ / n_features_in_
        return self

    def _validate_y(self, X, y) -> np.ndarray:
        """y as a 1-D array of the rows' targets, refused before any part is fitted."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target "
                             f"y is None; pass the target of each row of X.")
        y = column_or_1d(y, warn=True)  # also refuses complex values
        if isinstance(X, pd.DataFrame):  # other X: the parts raise
            check_consistent_length(X, y)
        return y

    def _check_outputs(self) -> None:
        """Subclass hook run after both parts are fitted."""

    def _blend(self, X) -> np.ndarray:
        """The weighted average of the parts' outputs; a part of weight 0 is not run."""
        check_is_fitted(self, "model_")
        w_model, w_agg = self._weights()
        out = 0.0
        if w_model:
            out = out + w_model * np.asarray(getattr(self.model_, self._prediction)(X),
                                             dtype=np.float64)
        if w_agg:
            z = self.aggregator_.transform(X)
            out = out + w_agg * np.asarray(getattr(self.booster_, self._prediction)(z),
                                           dtype=np.float64)
        return out

    def __sklearn_tags__(self):
        tags = relational_input_tags(super().__sklearn_tags__(), self.random_state, "auto")
        if self.model is None:
            tags.non_deterministic = self.random_state is None
        elif not isinstance(self.model, str):
            tags.non_deterministic = (get_tags(self.model).non_deterministic
                                      or self.random_state is None)
        return tags


class RelationalBlendClassifier(ClassifierMixin, _RelationalBlend):
    """A relational classifier and gradient boosting on window aggregates, averaged.

    One ``fit`` trains (a) a relational model, by default a :class:`RelationalClassifier`
    fine-tuned from ``encoder`` (or trained from scratch on ``database``), and (b) gradient
    boosting on :class:`RelationalAggregator` features of the same rows; ``predict_proba``
    is ``model_weight * model + (1 - model_weight) * boosting``, like a soft
    ``sklearn.ensemble.VotingClassifier`` over the two, with the data parameters given
    once. ``model=None`` or ``aggregator=None`` switches a part off.

    Parameters
    ----------
    encoder : RelationalContrastiveEncoder, FrozenEstimator or None, default=None
        The pretrained encoder that ``model="auto"`` fine-tunes, as for
        :class:`RelationalClassifier`: a fitted one is copied and fine-tuned, an unfitted one
        is pretrained first (in every ``clone``), ``FrozenEstimator(fitted_encoder)``
        survives ``clone``. None: the model trains from scratch on ``database``.
    database : RelationalDatabase or None, default=None
        The database the rows of X live in; None takes the encoder's. Never copied.
    target_table : str or None, default=None
        Table whose rows X holds; None: the table whose primary key is a column of X.
    time_column : str or None, default=None
        Cutoff time column of X; None: X's single datetime column.
    time_boundary : {"inclusive", "strict"}, default="inclusive"
        Which rows a row of X with cutoff time t reads (time <= t, or < t), in both parts;
        a part given as an estimator must have the same (``fit`` raises otherwise).
    model : estimator, "auto" or None, default="auto"
        The relational model. ``"auto"``: ``RelationalClassifier(encoder=encoder,
        database=database, target_table=..., time_column=..., time_boundary=...,
        random_state=...)`` at its defaults. An estimator is cloned; where it leaves
        ``target_table``, ``time_column`` or ``random_state`` at None it gets the blend's,
        a relational model with neither an encoder nor a database gets the blend's
        ``encoder`` and ``database``, one whose unfitted encoder has no database (only its
        architecture, with ``pretrain=False``) the blend's ``database`` (its own fitted
        encoder must be wrapped in ``FrozenEstimator``, which the clone keeps fitted;
        ``fit`` raises otherwise). Its parameters are ``model__*`` (``GridSearchCV`` can
        tune them). None: no model; the blend is the aggregates part alone.
    aggregator : transformer, "auto" or None, default="auto"
        The features of the aggregates part. ``"auto"``:
        ``RelationalAggregator(database=...)`` at its defaults, on ``database`` or the
        encoder's. A transformer is cloned and gets the database (and ``target_table``,
        ``time_column``) where it leaves them at None. None: no aggregates; the blend is
        the model alone.
    booster : estimator or "auto", default="auto"
        Fitted on the aggregator's output. ``"auto"``:
        ``HistGradientBoostingClassifier(random_state=random_state)``. An estimator is
        cloned and gets ``random_state`` where it leaves it at None.
    model_weight : float in [0, 1], default=0.5
        Weight of the model's class probabilities; the aggregates part gets
        ``1 - model_weight``. Both parts are fitted whatever the weight (a part of weight 0
        is just not run in ``predict_proba``), so the weight may also be changed after
        ``fit`` with ``set_params``. Ignored when a part is None.
    random_state : int, RandomState or None, default=None
        Seeds both parts (passed to each as it is; a part given as an estimator keeps its
        own unless it is None). With a seed, a CPU fit is reproducible.

    Attributes
    ----------
    model_ : estimator or None
        The fitted relational model.
    aggregator_ : transformer or None
        The fitted aggregator.
    booster_ : estimator or None
        The gradient boosting fitted on ``aggregator_``'s features.
    feature_names_in_ : ndarray of str
        The columns of X seen in ``fit``.
    n_features_in_ : int
        Their number.
    classes_ : ndarray
        The class labels, in the columns' order of ``predict_proba``.

    See Also
    --------
    RelationalBlendRegressor : the same for a numeric target.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from relcontrast import (RelationalBlendClassifier, RelationalClassifier,
    ...                          RelationalContrastiveEncoder, RelationalDatabase)
    >>> from relcontrast.testing import make_synthetic_database
    >>> tables, schema = make_synthetic_database()
    >>> users = tables["users"]
    >>> X = pd.DataFrame({"user_id": users["user_id"],
    ...                   "cutoff": users["signup"] + pd.Timedelta("180D")})
    >>> y = users["country"].fillna("none") == "de"
    >>> blend = RelationalBlendClassifier(
    ...     database=RelationalDatabase(tables, schema), random_state=0,
    ...     model=RelationalClassifier(encoder=RelationalContrastiveEncoder(hidden_channels=16),
    ...                                pretrain=False, max_epochs=2))
    >>> blend.fit(X, y).predict_proba(X).shape
    (60, 2)
    >>> parts = (0.5 * blend.model_.predict_proba(X)
    ...          + 0.5 * blend.booster_.predict_proba(blend.aggregator_.transform(X)))
    >>> bool(np.allclose(blend.predict_proba(X), parts))
    True
    >>> blend.get_params()["model__encoder__hidden_channels"]
    16
    """

    _parameter_constraints: dict = {
        **_RelationalBlend._parameter_constraints,
        "model": [HasMethods(["fit", "predict_proba"]), StrOptions({"auto"}), None],
        "booster": [HasMethods(["fit", "predict_proba"]), StrOptions({"auto"})],
    }
    _model_class = RelationalClassifier
    _prediction = "predict_proba"

    def _default_booster(self, random_state):
        return HistGradientBoostingClassifier(random_state=random_state)

    def _validate_y(self, X, y) -> np.ndarray:
        y = super()._validate_y(X, y)
        check_classification_targets(y)  # continuous targets: RelationalBlendRegressor
        if pd.isna(y).any():
            raise ValueError(f"y has {int(pd.isna(y).sum())} missing value(s) (NaN/None); drop "
                             f"those rows or fill them before fitting.")
        if len(np.unique(y)) < 2:
            raise ValueError(f"y has a single class ({y[0]!r}); a classifier needs at least "
                             f"two.")
        return y

    def _check_outputs(self) -> None:
        fitted = [p for p in (self.model_, self.booster_) if p is not None]
        classes = [np.asarray(p.classes_) for p in fitted]
        if len(classes) == 2 and not np.array_equal(classes[0], classes[1]):
            raise ValueError(
                f"The model's classes_ {classes[0].tolist()} differ from the booster's "
                f"{classes[1].tolist()}; both must be fitted on the same labels y.")
        self.classes_ = classes[0]

    def predict_proba(self, X):
        """Class probabilities, the weighted average of the parts', columns as ``classes_``.

        Parameters
        ----------
        X : DataFrame
            Rows (primary key + cutoff time) as in ``fit``.

        Returns
        -------
        ndarray of shape (n_rows, n_classes)
        """
        return self._blend(X)

    def predict(self, X):
        """The most probable class of each row.

        Parameters
        ----------
        X : DataFrame
            Rows (primary key + cutoff time) as in ``fit``.

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(1)]


class RelationalBlendRegressor(RegressorMixin, _RelationalBlend):
    """A relational regressor and gradient boosting on window aggregates, averaged.

    See :class:`RelationalBlendClassifier`: the same two parts, a
    :class:`RelationalRegressor` (L1 loss, clipped predictions) and gradient boosting with
    absolute-error loss on :class:`RelationalAggregator` features; ``predict`` is
    ``model_weight * model + (1 - model_weight) * boosting``, like a
    ``sklearn.ensemble.VotingRegressor`` over the two.

    Parameters
    ----------
    model : estimator, "auto" or None, default="auto"
        The relational model; ``"auto"``: ``RelationalRegressor(encoder=encoder,
        database=database, ...)`` at its defaults. As for
        :class:`RelationalBlendClassifier` otherwise.
    booster : estimator or "auto", default="auto"
        ``"auto"``: ``HistGradientBoostingRegressor(loss="absolute_error",
        random_state=random_state)``.
    model_weight : float in [0, 1], default=0.4
        Weight of the model's predictions; the aggregates part gets ``1 - model_weight``
        (otherwise as for :class:`RelationalBlendClassifier`).
    encoder, database, target_table, time_column, time_boundary, aggregator, random_state
        As for :class:`RelationalBlendClassifier`.

    Attributes
    ----------
    model_, aggregator_, booster_, feature_names_in_, n_features_in_
        As for :class:`RelationalBlendClassifier`.

    See Also
    --------
    RelationalBlendClassifier : the same for class labels.

    Examples
    --------
    >>> import pandas as pd
    >>> from relcontrast import (RelationalBlendRegressor, RelationalContrastiveEncoder,
    ...                          RelationalDatabase, RelationalRegressor)
    >>> from relcontrast.testing import make_synthetic_database
    >>> tables, schema = make_synthetic_database()
    >>> users = tables["users"]
    >>> X = pd.DataFrame({"user_id": users["user_id"],
    ...                   "cutoff": users["signup"] + pd.Timedelta("180D")})
    >>> blend = RelationalBlendRegressor(
    ...     database=RelationalDatabase(tables, schema), model_weight=0.7, random_state=0,
    ...     model=RelationalRegressor(encoder=RelationalContrastiveEncoder(hidden_channels=16),
    ...                               pretrain=False, max_epochs=2))
    >>> blend.fit(X, users["age"].fillna(50.0)).predict(X).shape
    (60,)
    """

    _parameter_constraints: dict = {
        **_RelationalBlend._parameter_constraints,
        "model": [HasMethods(["fit", "predict"]), StrOptions({"auto"}), None],
        "booster": [HasMethods(["fit", "predict"]), StrOptions({"auto"})],
    }
    _model_class = RelationalRegressor
    _prediction = "predict"

    def __init__(
        self,
        *,
        encoder=None,
        database=None,
        target_table=None,
        time_column=None,
        time_boundary="inclusive",
        model="auto",
        aggregator="auto",
        booster="auto",
        model_weight=0.4,
        random_state=None,
    ):
        super().__init__(
            encoder=encoder, database=database, target_table=target_table,
            time_column=time_column, time_boundary=time_boundary, model=model,
            aggregator=aggregator, booster=booster, model_weight=model_weight,
            random_state=random_state)

    def _default_booster(self, random_state):
        return HistGradientBoostingRegressor(loss="absolute_error", random_state=random_state)

    def _validate_y(self, X, y) -> np.ndarray:
        y = super()._validate_y(X, y)
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must be numeric for regression, got dtype {y.dtype}.") from exc
        assert_all_finite(y, input_name="y")
        return y

    def predict(self, X):
        """Predicted targets, the weighted average of the parts'.

        Parameters
        ----------
        X : DataFrame
            Rows (primary key + cutoff time) as in ``fit``.

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        return self._blend(X)

