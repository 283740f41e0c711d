"""RelationalClassifier and RelationalRegressor: from scratch, fine-tuned, or frozen."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from skorch.callbacks import (
    EpochScoring,
    Freezer,
    LRScheduler,
    Unfreezer,
)
from torch import nn

from relcontrast.database import as_database
from relcontrast.estimators._base import RelationalEstimator
from relcontrast.estimators._callbacks import fit_callbacks
from relcontrast.estimators._net import SubgraphClassifier, SubgraphRegressor, fused_optimizer
from relcontrast.estimators._params import (
    BACKBONE_CONSTRAINTS,
    DEPRECATED,
    REGRESSOR_VALUES,
    SUPERVISED_CONSTRAINTS,
    check_depth,
    warn_ignored,
)
from relcontrast.estimators._splits import TimeOrderedSplit
from relcontrast.estimators.encoder import RelationalContrastiveEncoder
from relcontrast.graph import build_graph
from relcontrast.nn import MLPHead
from relcontrast.rows import rows_to_seeds
from relcontrast.sampling import NeighborBatcher, count_inputs_of, make_sampler

_BACKBONE = "backbone.*"  # parameter names of the backbone inside SupervisedModule
# backbone_lr="auto": a pretrained backbone fine-tunes at lr * PRETRAINED_LR_SCALE
# (docs/decisions.md says why)
PRETRAINED_LR_SCALE = 0.02


class SupervisedModule(nn.Module):
    """Backbone -> the seed rows' embeddings -> MLP head.

    Parameters
    ----------
    backbone : RelationalBackbone
    head : nn.Module
    target_type : str
        Node type of the seed rows.
    fine_tune : bool, default=True
        False freezes the backbone (no gradients, eval mode): only the head trains.
    """

    def __init__(self, backbone, head, target_type: str, fine_tune: bool = True):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.target_type = target_type
        self.fine_tune = fine_tune
        if not fine_tune:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.fine_tune:
            self.backbone.eval()
        return self

    def forward(self, batch):
        with torch.set_grad_enabled(self.fine_tune and torch.is_grad_enabled()):
            z = self.backbone(batch, seeds_only=True)[self.target_type]  # [batch, hidden]
        return self.head(z)  # [batch, out]


def _validate_y(X, y, *, numeric: bool, owner: str) -> np.ndarray:
    """y as a 1-D array (scikit-learn's ``column_or_1d`` and ``check_consistent_length``;
    float64 for regression), without missing or (regression) infinite values."""
    if y is None:
        raise ValueError(
            f"{owner} requires y to be passed, but the target y is None; pass the target of "
            f"each row of X."
        )
    y = column_or_1d(y, warn=True)  # also refuses complex values
    if numeric:
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must be numeric for regression, got dtype {y.dtype}.") from exc
    if isinstance(X, pd.DataFrame):  # other X: rows_to_seeds raises
        check_consistent_length(X, y)
    if pd.isna(y).any():
        raise ValueError(
            f"y has {int(pd.isna(y).sum())} missing value(s) (NaN/None); drop those rows or "
            f"fill them before fitting."
        )
    if numeric and not np.isfinite(y).all():
        raise ValueError("y has infinite values; drop those rows before fitting.")
    return y


class _RelationalSupervised(RelationalEstimator):
    """Shared fit machinery of RelationalClassifier and RelationalRegressor."""

    def __init__(
        self,
        *,
        encoder=None,
        fine_tune=True,
        pretrain=True,
        database=None,
        target_table=None,
        time_column=None,
        time_boundary="inclusive",
        hidden_channels="deprecated",
        num_layers="deprecated",
        tabular_model="deprecated",
        aggregation="deprecated",
        temporal_encoding="deprecated",
        count_inputs="deprecated",
        mean_inputs="deprecated",
        head_hidden_channels=128,
        head_layers=1,
        num_neighbors=None,
        temporal_strategy="last",
        batch_size=512,
        max_epochs=20,
        lr=0.005,
        backbone_lr="auto",
        warmup_epochs=0,
        weight_decay=0.0,
        lr_schedule=None,
        patience=5,
        valid_fraction=0.1,
        column_types="deprecated",
        device="auto",
        random_state=None,
        checkpoint_dir=None,
        verbose=0,
    ):
        self.encoder = encoder
        self.fine_tune = fine_tune
        self.pretrain = pretrain
        self.database = database
        self.target_table = target_table
        self.time_column = time_column
        self.time_boundary = time_boundary
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.tabular_model = tabular_model
        self.aggregation = aggregation
        self.temporal_encoding = temporal_encoding
        self.count_inputs = count_inputs
        self.mean_inputs = mean_inputs
        self.head_hidden_channels = head_hidden_channels
        self.head_layers = head_layers
        self.num_neighbors = num_neighbors
        self.temporal_strategy = temporal_strategy
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.backbone_lr = backbone_lr
        self.warmup_epochs = warmup_epochs
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.column_types = column_types
        self.device = device
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose

    _parameter_constraints: dict = {
        **RelationalEstimator._parameter_constraints,
        **SUPERVISED_CONSTRAINTS,
        "encoder": [RelationalContrastiveEncoder, FrozenEstimator, None]}

    # hooks the subclasses fill in
    _net_class = None

    def _prepare_targets(self, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _criterion(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _scoring(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _encoder(self):
        """The encoder parameter, unwrapped from a ``FrozenEstimator`` (which must hold a
        fitted encoder: freezing is what makes ``clone`` keep it fitted)."""
        enc = self.encoder
        if isinstance(enc, FrozenEstimator):
            enc = enc.estimator
            if not isinstance(enc, RelationalContrastiveEncoder) or not hasattr(enc,
                                                                                "backbone_"):
                raise ValueError(
                    f"encoder=FrozenEstimator(...) must wrap a fitted "
                    f"RelationalContrastiveEncoder, got {enc!r}; fit the encoder first, or "
                    f"pass it unwrapped to pretrain it inside fit.")
        return enc

    def _pretrained(self, enc) -> bool:
        """Whether the backbone starts from a pretrained encoder's (else from scratch)."""
        return enc is not None and self.pretrain

    def _architecture(self, enc):
        """What a backbone trained from scratch is built from: the encoder's architecture
        parameters, or with no encoder, an encoder's defaults updated with the deprecated
        copies set on this estimator."""
        if enc is not None:
            return enc
        return RelationalContrastiveEncoder(**self._deprecated_architecture())

    def _fan_out(self, architecture) -> tuple:
        """``num_neighbors``, or (None) that of the encoder holding the architecture."""
        fan_out = self.num_neighbors
        return tuple(architecture.num_neighbors if fan_out is None else fan_out)

    def _deprecated_architecture(self) -> dict:
        values = {name: getattr(self, name) for name in BACKBONE_CONSTRAINTS}
        return {name: value for name, value in values.items()
                if not (isinstance(value, str) and value == DEPRECATED)}

    def _database(self, enc):
        """The database the rows live in: the fitted encoder's when it brings the backbone,
        or the ``database`` parameter (the estimator's, else the encoder's)."""
        fitted = enc is not None and hasattr(enc, "backbone_")
        if fitted and self.pretrain:
            if self.database is not None and as_database(self.database) is not enc.database_:
                raise ValueError(
                    "database differs from the fitted encoder's database; leave database="
                    "None to use the encoder's, or pass an unfitted encoder."
                )
            return enc.database_
        database = self.database
        if database is None and enc is not None:
            database = enc.database_ if fitted else enc.database
        if database is None:
            raise ValueError(
                "No database: pass database=RelationalDatabase(tables, schema) (or an "
                "encoder that has one)."
            )
        if not self._pretrained(enc) and not self.fine_tune:
            raise ValueError(
                "fine_tune=False freezes the backbone, which needs a pretrained encoder; "
                "pass encoder=RelationalContrastiveEncoder(...) with pretrain=True, or set "
                "fine_tune=True."
            )
        return as_database(database)

    def _check_encoder_time_boundary(self, enc) -> None:
        """An unfitted encoder pretrains on the rows X, so under this estimator's time rule:
        refuse another one rather than read X by two rules."""
        if (not self._pretrained(enc) or hasattr(enc, "backbone_")
                or enc.time_boundary == self.time_boundary):
            return
        raise ValueError(
            f"{type(self).__name__}(time_boundary={self.time_boundary!r}) got an unfitted "
            f"encoder with time_boundary={enc.time_boundary!r}; the encoder pretrains on the "
            f"same rows X, so both must read them by the same rule. Set "
            f"RelationalContrastiveEncoder(time_boundary={self.time_boundary!r}), or pass an "
            f"encoder fitted beforehand.")

    def _backbone_and_graph(self, enc, architecture, X, db, latest_time, seed):
        """The starting backbone and the graph it reads, per encoder ``enc``: a copy of a
        fitted encoder's, a freshly pretrained one's, or (``pretrain=False`` or no encoder)
        a new backbone of ``architecture`` (:meth:`_architecture`) whose column statistics
        come from the database up to ``latest_time`` (the rows' latest cutoff, ns, or
        None)."""
        if self._pretrained(enc):
            if not hasattr(enc, "backbone_"):  # unfitted: pretrain it first on the rows
                enc = clone(enc).set_params(database=db)
                if enc.random_state is None:
                    enc.set_params(random_state=seed)
                if enc.target_table is None:
                    enc.set_params(target_table=self.target_table,
                                   time_column=self.time_column)
                enc.fit(X)
            self.encoder_ = enc
            return copy.deepcopy(enc.backbone_), enc.graph_
        self.encoder_ = None
        # column statistics from the rows up to the latest training row, the whole database
        # encoded with them, in one pass
        until = None if latest_time is None else pd.Timestamp(latest_time)
        graph = build_graph(db, column_types=architecture.column_types, stats_until=until)
        # count windows, like the statistics, from the same rows
        backbone = architecture._make_backbone(
            graph, None if until is None else db.rows_upto(until))
        return backbone, graph

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on rows X (primary key + cutoff time) and their targets y.

        Returns
        -------
        self
        """
        enc = self._encoder()
        deprecated = self._deprecated_architecture()
        if deprecated:
            warnings.warn(
                f"{type(self).__name__}: {', '.join(deprecated)} "
                f"{'is' if len(deprecated) == 1 else 'are'} deprecated and will be removed in "
                f"relcontrast 0.2: the encoder holds the architecture. From scratch, pass "
                f"encoder=RelationalContrastiveEncoder("
                f"{', '.join(f'{k}={v!r}' for k, v in deprecated.items())}), pretrain=False "
                f"(in a search, encoder__{next(iter(deprecated))}).",
                FutureWarning, stacklevel=3)  # the caller of fit
        if enc is not None:
            enc._validate_params()  # nested: every typo fails before any work
            warn_ignored(self, BACKBONE_CONSTRAINTS,
                         "with an encoder, which brings its own backbone")
        if not self._pretrained(enc):
            warn_ignored(self, ["warmup_epochs"], "without a pretrained encoder (training "
                         "from scratch)")
        architecture = self._architecture(enc)
        check_depth(type(self).__name__, self._fan_out(architecture), architecture.num_layers,
                    "the backbone" if enc is None else "the encoder's backbone",
                    "num_neighbors" if self.num_neighbors is not None else
                    "the encoder's num_neighbors")
        self._check_encoder_time_boundary(enc)
        y_prepared = self._prepare_targets(_validate_y(X, y, numeric=self._numeric_target,
                                                         owner=type(self).__name__))
        self._train(X=X, y=y_prepared, enc=enc, architecture=architecture)
        return self

    def _build_training(self, *, device, ddp, seed, X, y, enc, architecture):
        db = self._database(enc)
        table, tcol, index, times = rows_to_seeds(db, X, self.target_table,
                                                  self.time_column, self.time_boundary)
        latest = None if tcol is None or not len(times) else int(times.max())
        backbone, graph = self._backbone_and_graph(enc, architecture, X, db, latest, seed)
        validate_data(self, X, skip_check_array=True)  # feature_names_in_ / n_features_in_
        head = MLPHead(backbone.out_channels, self._n_outputs,
                       hidden_channels=self.head_hidden_channels,
                       num_layers=self.head_layers)
        module = SupervisedModule(backbone, head, table, fine_tune=self.fine_tune)
        fan_out = self._fan_out(architecture)
        batcher = self._batcher(graph, table, seed, tcol is not None, fan_out,
                                train_seed=None if ddp is None else ddp.rank_seed(seed),
                                backbone=backbone)
        net = self._make_net(module, batcher, times, device, ddp)
        return (net, np.stack([index, times], 1), y,
                {"database_": db, "graph_": graph, "target_table_": table,
                 "num_neighbors_": fan_out})

    def _make_net(self, module, batcher, times, device, ddp=None):
        split = TimeOrderedSplit(times, self.valid_fraction) if self.valid_fraction else None
        if split is not None and not 0 < split.num_valid(len(times)) < len(times):
            split = None  # too few rows to validate on: train on all, no early stopping
        scores = [] if split is None else [("valid_metric", EpochScoring(
            self._scoring(), lower_is_better=False, name="valid_" + self._metric_name))]
        decisions = []
        if self.lr_schedule == "cosine":
            decisions.append(("lr_schedule", LRScheduler(
                policy="CosineAnnealingLR", T_max=self.max_epochs)))
        tuning_pretrained = module.fine_tune and self.encoder_ is not None
        if self.warmup_epochs and tuning_pretrained:  # linear probing, then fine-tuning
            decisions += [("freeze_backbone", Freezer(_BACKBONE, at=1)),
                          ("unfreeze_backbone",
                           Unfreezer(_BACKBONE, at=self.warmup_epochs + 1))]
        callbacks, verbose = fit_callbacks(self, scores, decisions,
                                           early_stopping=split is not None, ddp=ddp)
        optimizer_kwargs = {"weight_decay": float(self.weight_decay)}
        backbone_lr = self.backbone_lr
        if backbone_lr == "auto":  # validated: "auto", None or a positive number
            backbone_lr = self.lr * PRETRAINED_LR_SCALE if tuning_pretrained else None
        if backbone_lr is not None:
            optimizer_kwargs["param_groups"] = [(_BACKBONE, {"lr": float(backbone_lr)})]
        return self._net_class(
            module, batcher=batcher, criterion=self._criterion(),
            optimizer=torch.optim.AdamW, lr=self.lr, max_epochs=self.max_epochs,
            batch_size=self.batch_size, train_split=split, callbacks=callbacks,
            device=device, verbose=verbose, iterator_train__shuffle=True, distributed=ddp,
            **{f"optimizer__{k}": v for k, v in optimizer_kwargs.items()},
            **fused_optimizer(device),
            **self._net_kwargs(),
        )

    def _net_kwargs(self):
        return {}

    def _batcher(self, graph, table, seed, temporal, num_neighbors, train_seed=None,
                 backbone=None) -> NeighborBatcher:
        sampler = make_sampler(graph, num_neighbors=num_neighbors,
                               strategy=self.temporal_strategy, temporal=temporal,
                               **count_inputs_of(backbone))
        return NeighborBatcher(sampler, table, seed, temporal=temporal, train_seed=train_seed)

    def _read_graph(self) -> None:
        self.net_ = copy.copy(self.net_)  # skorch's own state copy: modules, optimizer
        old = self.net_.batcher
        fan_out = getattr(self, "num_neighbors_", self.num_neighbors)  # saved before it
        self.net_.batcher = self._batcher(self.graph_, old.seed_type, old.generators.seed,
                                          old.temporal, fan_out, backbone=self.module_.backbone)

    def _seeds(self, X) -> np.ndarray:
        check_is_fitted(self, "net_")
        table, _, index, times = rows_to_seeds(self.database_, X, self.target_table_,
                                               self.time_column, self.time_boundary)
        return np.stack([index, times], 1)

    def _forward(self, X) -> np.ndarray:
        with self._inference():
            out = self.net_.forward(self._seeds(X))  # [n, outputs]
        return out.detach().cpu().numpy()

class RelationalClassifier(ClassifierMixin, _RelationalSupervised):
    """Predict a class per row ``(entity, cutoff time)`` from the entity's history.

    A heterogeneous GraphSAGE reads the temporal neighbourhood of each row (only rows with
    time <= the cutoff, or < it with ``time_boundary="strict"``) and an MLP head classifies
    its embedding. The backbone is trained from scratch (``encoder=None``, or
    ``pretrain=False``), pretrained first (an unfitted encoder), or taken from a fitted
    encoder (fine-tuned, or frozen with ``fine_tune=False``). The encoder holds the
    backbone's architecture in every case. skorch drives training with early stopping on
    the latest ``valid_fraction`` of rows and keeps the best epoch.

    Parameters
    ----------
    encoder : RelationalContrastiveEncoder, FrozenEstimator or None, default=None
        The backbone's architecture (its ``hidden_channels``, ``num_layers``,
        ``tabular_model``, ``aggregation``, ``temporal_encoding``, ``count_inputs``,
        ``mean_inputs`` and ``column_types``; in a search, ``encoder__hidden_channels``) and,
        with ``pretrain=True``, its weights. None trains the default architecture from
        scratch. An unfitted encoder is pretrained first on the rows' database (each
        ``clone``, so each ``GridSearchCV`` fold, pretrains again); a fitted one is copied
        and fine-tuned. ``sklearn.frozen.FrozenEstimator(fitted_encoder)`` does the same but
        survives ``clone``: ``GridSearchCV`` over the head's parameters pretrains once, not
        in every fold.
    fine_tune : bool, default=True
        False trains the head only on the frozen pretrained backbone (needs an encoder and
        ``pretrain=True``).
    pretrain : bool, default=True
        With an encoder: True starts from its pretrained backbone (pretraining an unfitted
        one first); False trains a new backbone of its architecture from scratch, reading
        no pretrained weights and running no pretraining. Ignored without an encoder.
    database : RelationalDatabase or None, default=None
        The database the rows of X live in; needed unless the encoder carries it. Never
        copied by ``clone``.
    target_table : str or None, default=None
        Table whose rows X holds; None: the table whose primary key is a column of X.
    time_column : str or None, default=None
        Cutoff time column of X; None: X's single datetime column.
    time_boundary : {"inclusive", "strict"}, default="inclusive"
        Which rows a row of X with cutoff time t reads, in ``fit``, ``predict`` and the
        column statistics of a backbone trained from scratch: those with time <= t
        (RelBench's own samplers and task SQL), or those with time < t (the RelBench 3
        leaderboard's rule); a row of X whose own row of the target table is dated exactly
        t then raises, as one dated after t always does. An unfitted encoder pretrains
        under the same rule: its ``time_boundary`` must be the same (``fit`` raises
        otherwise); a fitted one keeps the rule it was pretrained with.
    hidden_channels : deprecated
        Deprecated, as are ``num_layers``, ``tabular_model``, ``aggregation``,
        ``temporal_encoding``, ``count_inputs``, ``mean_inputs`` and ``column_types``: copies
        of the encoder's architecture parameters, removed in relcontrast 0.2. A value set
        here warns (``FutureWarning``) and, without an encoder, builds the backbone trained
        from scratch as ``encoder=RelationalContrastiveEncoder(...), pretrain=False`` does;
        with an encoder it is ignored (and warns).
    head_hidden_channels : int, default=128
        Width of the hidden layers of an MLP head.
    head_layers : int, default=1
        1: a linear head; more: an MLP with ``head_layers - 1`` hidden layers.
    num_neighbors : tuple of int or None, default=None
        Temporal neighbour fan-out per hop and edge type (-1: every eligible neighbour) of
        training and ``predict``. None: the encoder's ``num_neighbors`` (``(4, 4)`` without
        an encoder), which matches its depth. Given, one hop per layer: its length must be
        the encoder's ``num_layers`` (``fit`` raises otherwise).
    temporal_strategy : {"last", "uniform"}, default="last"
        The most recent eligible neighbours, or a uniform sample of them.
    batch_size : int, default=512
        Rows per training step; per process when launched data-parallel with ``torchrun``
        (``docs/distributed.md``).
    max_epochs : int, default=20
        Upper bound on passes over the training rows.
    lr : float, default=0.005
        Learning rate of the head (and of a backbone trained from scratch).
    backbone_lr : float, "auto" or None, default="auto"
        Learning rate of the backbone. ``"auto"``: ``lr / 50`` for a pretrained backbone
        being fine-tuned, so fine-tuning adapts the pretrained weights rather than
        overwriting them, and ``lr`` from scratch. None: ``lr`` always.
    warmup_epochs : int, default=0
        With a pretrained encoder: epochs that train the head alone on the frozen backbone
        before fine-tuning it (linear probing, then fine-tuning; skorch's ``Freezer`` /
        ``Unfreezer``). Ignored from scratch (a value other than 0 warns).
    weight_decay : float, default=0.0
        Decoupled weight decay (``torch.optim.AdamW``; 0 is plain Adam).
    lr_schedule : {None, "cosine"}, default=None
        None: constant learning rates; "cosine": cosine annealing over ``max_epochs``.
    patience : int or None, default=5
        Early stopping: epochs without validation-loss improvement before stopping; the
        best epoch's weights are kept. None disables it.
    valid_fraction : float, default=0.1
        The latest rows (by cutoff time) held out for early stopping; 0 trains on every row
        for ``max_epochs`` epochs.
    device : str or torch.device, default="auto"
        "auto" uses CUDA when available, else CPU. ``predict`` moves the model to this
        device, so a model fitted on one machine runs on another.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, sampling and the validation split; with a seed, a CPU fit is
        bitwise reproducible at any thread count.
    checkpoint_dir : str, path or None, default=None
        Write the whole training state there after every epoch (atomically); a later
        ``fit`` with the same ``checkpoint_dir``, parameters and rows resumes from it and
        ends with the same weights and history as an uninterrupted run with the same
        ``random_state``, also after the first process was killed. An unfitted encoder's
        pretraining checkpoints only with its own ``checkpoint_dir``.
    verbose : int, default=0
        1 shows a per-epoch table, and on a terminal a progress bar (not in logs, which get
        one line per epoch).

    Attributes
    ----------
    classes_ : ndarray
    encoder_ : RelationalContrastiveEncoder or None
    net_ : skorch net
    module_ : SupervisedModule
    history_ : skorch History with ``train_loss``, ``valid_loss`` and ``valid_<metric>``.
    num_neighbors_ : tuple of int
        The fan-out it samples with.
    database_, graph_, target_table_

    Examples
    --------
    >>> import numpy as np
    >>> from relcontrast import (RelationalClassifier, RelationalContrastiveEncoder,
    ...                          RelationalDatabase)
    >>> from relcontrast.testing import make_synthetic_database
    >>> tables, schema = make_synthetic_database()
    >>> X = tables["orders"][["order_id", "ts"]]
    >>> y = tables["orders"]["status"]
    >>> clf = RelationalClassifier(database=RelationalDatabase(tables, schema),
    ...                            encoder=RelationalContrastiveEncoder(hidden_channels=16),
    ...                            pretrain=False, max_epochs=2, random_state=0)
    >>> clf.fit(X, y).predict_proba(X).shape
    (300, 3)
    """

    _net_class = SubgraphClassifier
    _numeric_target = False
    _metric_name = "auc_or_accuracy"

    def _prepare_targets(self, y):
        check_classification_targets(y)  # continuous targets: use RelationalRegressor
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has a single class ({self.classes_.tolist()[0]!r}); a classifier needs at "
                f"least two."
            )
        self._n_outputs = len(self.classes_)
        self._metric_name = "roc_auc" if len(self.classes_) == 2 else "accuracy"
        return self._label_encoder.transform(y).astype(np.int64)

    def _criterion(self):
        return nn.CrossEntropyLoss

    def _scoring(self):
        return self._metric_name

    def _net_kwargs(self):
        return {"classes": np.arange(len(self.classes_))}

    def decision_function(self, X):
        """Logit margins: shape (n,) for binary problems, (n, n_classes) otherwise."""
        check_is_fitted(self, "net_")
        logits = self._forward(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X):
        """Class probabilities, columns ordered as ``classes_``."""
        check_is_fitted(self, "net_")
        logits = torch.as_tensor(self._forward(X))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X):
        """The most probable class of each row."""
        check_is_fitted(self, "net_")
        return self.classes_[self.predict_proba(X).argmax(1)]


class RelationalRegressor(RegressorMixin, _RelationalSupervised):
    """Predict a number per row ``(entity, cutoff time)``; see :class:`RelationalClassifier`.

    Parameters
    ----------
    loss : {"l1", "l2"}, default="l1"
        L1 (RelBench practice) or squared error.
    clip_quantiles : tuple of float or None, default=(0.02, 0.98)
        Predictions are clipped to these quantiles of the training target.
    encoder, fine_tune, database, ..., verbose
        As for :class:`RelationalClassifier`.

    Attributes
    ----------
    clip_range_ : tuple of float or None

    Examples
    --------
    >>> from relcontrast import (RelationalContrastiveEncoder, RelationalDatabase,
    ...                          RelationalRegressor)
    >>> from relcontrast.testing import make_synthetic_database
    >>> tables, schema = make_synthetic_database()
    >>> X = tables["orders"][["order_id", "ts"]]
    >>> reg = RelationalRegressor(database=RelationalDatabase(tables, schema),
    ...                           encoder=RelationalContrastiveEncoder(hidden_channels=16),
    ...                           pretrain=False, max_epochs=2, random_state=0)
    >>> reg.fit(X, tables["orders"]["quantity"]).predict(X).shape
    (300,)
    """

    _net_class = SubgraphRegressor
    _parameter_constraints: dict = {**_RelationalSupervised._parameter_constraints,
                                    "loss": [StrOptions({"l1", "l2"})],
                                    "clip_quantiles": [tuple, list, None]}
    _parameter_values: dict = {**_RelationalSupervised._parameter_values, **REGRESSOR_VALUES}
    _numeric_target = True
    _metric_name = "neg_mae"
    _n_outputs = 1

    def __init__(
        self,
        *,
        loss="l1",
        clip_quantiles=(0.02, 0.98),
        encoder=None,
        fine_tune=True,
        pretrain=True,
        database=None,
        target_table=None,
        time_column=None,
        time_boundary="inclusive",
        hidden_channels="deprecated",
        num_layers="deprecated",
        tabular_model="deprecated",
        aggregation="deprecated",
        temporal_encoding="deprecated",
        count_inputs="deprecated",
        mean_inputs="deprecated",
        head_hidden_channels=128,
        head_layers=1,
        num_neighbors=None,
        temporal_strategy="last",
        batch_size=512,
        max_epochs=20,
        lr=0.005,
        backbone_lr="auto",
        warmup_epochs=0,
        weight_decay=0.0,
        lr_schedule=None,
        patience=5,
        valid_fraction=0.1,
        column_types="deprecated",
        device="auto",
        random_state=None,
        checkpoint_dir=None,
        verbose=0,
    ):
        super().__init__(
            encoder=encoder,
            fine_tune=fine_tune,
            pretrain=pretrain,
            database=database,
            target_table=target_table,
            time_column=time_column,
            time_boundary=time_boundary,
            hidden_channels=hidden_channels,
            num_layers=num_layers,
            tabular_model=tabular_model,
            aggregation=aggregation,
            temporal_encoding=temporal_encoding,
            count_inputs=count_inputs,
            mean_inputs=mean_inputs,
            head_hidden_channels=head_hidden_channels,
            head_layers=head_layers,
            num_neighbors=num_neighbors,
            temporal_strategy=temporal_strategy,
            batch_size=batch_size,
            max_epochs=max_epochs,
            lr=lr,
            backbone_lr=backbone_lr,
            warmup_epochs=warmup_epochs,
            weight_decay=weight_decay,
            lr_schedule=lr_schedule,
            patience=patience,
            valid_fraction=valid_fraction,
            column_types=column_types,
            device=device,
            random_state=random_state,
            checkpoint_dir=checkpoint_dir,
            verbose=verbose,
        )
        self.loss = loss
        self.clip_quantiles = clip_quantiles

    def _prepare_targets(self, y):
        self.clip_range_ = (None if self.clip_quantiles is None else
                            tuple(float(q) for q in np.quantile(y, self.clip_quantiles)))
        return y.astype(np.float32).reshape(-1, 1)

    def _criterion(self):
        return nn.L1Loss if self.loss == "l1" else nn.MSELoss

    def _scoring(self):
        return "neg_mean_absolute_error"

    def predict(self, X):
        """Predicted targets, clipped to ``clip_range_``."""
        check_is_fitted(self, "net_")
        pred = self._forward(X)[:, 0].astype(np.float64)
        if self.clip_range_ is not None:
            pred = np.clip(pred, *self.clip_range_)
        return pred

