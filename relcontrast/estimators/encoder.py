"""RelationalContrastiveEncoder: label-free pretraining and frozen embeddings."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import LRScheduler, PassthroughScoring
from torch import nn

from relcontrast._random import eval_generator
from relcontrast._validation import describe_input
from relcontrast.database import RelationalDatabase, as_database
from relcontrast.estimators._base import RelationalEstimator
from relcontrast.estimators._callbacks import fit_callbacks
from relcontrast.estimators._net import PretrainingNet, fused_optimizer
from relcontrast.estimators._params import (
    BACKBONE_CONSTRAINTS,
    ENCODER_CONSTRAINTS,
    ENCODER_VALUES,
    as_objectives,
    check_depth,
    warn_ignored,
)
from relcontrast.estimators._splits import HoldOut
from relcontrast.graph import build_graph
from relcontrast.nn import RelationalBackbone, batch_to_device
from relcontrast.pretraining import (
    DEFAULT_OBJECTIVES,
    ContrastiveLoss,
    PretrainingBatcher,
    PretrainingModule,
    TargetingSampler,
    WindowTargets,
    distinct_value_pools,
    pretraining_rows,
    pretraining_seeds,
)
from relcontrast.rows import latest_visible_time, rows_to_seeds
from relcontrast.sampling import count_inputs_of, make_sampler
from relcontrast.sampling.counts import fit_count_windows

#: At most this many held-out seed rows validate early stopping: four batches at the default
#: batch size, so validation costs a few steps' time per epoch.
MAX_VALID_ROWS = 512


def _resolve_training_database(X, y, database):
    """``fit(tables, schema)``, ``fit(db)`` or ``fit(rows, y)`` with ``database`` set."""
    if isinstance(X, pd.DataFrame):
        if database is None:
            raise ValueError(
                "fit(X) got a DataFrame of rows, so the database must be given as the "
                "`database` parameter: RelationalContrastiveEncoder(database=db). To pretrain "
                "on tables directly call fit(tables, schema)."
            )
        return as_database(database), X
    tables = (isinstance(X, (Mapping, RelationalDatabase)) or hasattr(X, "table_dict")
              or hasattr(X, "get_db"))
    if tables and not sparse.issparse(X):  # a scipy dok_matrix is a Mapping too
        return as_database(X, y if isinstance(X, Mapping) else None), None
    raise TypeError(
        f"fit expects (tables, schema), a RelationalDatabase, a relbench database, or a "
        f"DataFrame of rows with `database` set; got {describe_input(X)}."
    )


class RelationalContrastiveEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                                   RelationalEstimator):
    """Task-agnostic contrastive pretraining of a relational GNN; embeddings per row.

    ``fit`` pretrains a heterogeneous GraphSAGE over the whole database without labels, with
    three InfoNCE objectives (row: a row vs its corrupted copy; link: a row vs the row it
    references; context: a row vs its sampled neighbourhood) and a predictive one (label-free
    statistics of the rows referencing a row, in past and future windows) on type-balanced,
    time-aware subgraphs. ``transform`` embeds rows ``(entity, cutoff time)`` using only
    database rows with time <= the cutoff (or strictly before it,
    ``time_boundary="strict"``). Its architecture parameters (``hidden_channels`` to
    ``mean_inputs``, and ``column_types``) are also those of a ``RelationalClassifier`` or
    ``RelationalRegressor`` given it, whether they start from its pretraining or, with
    ``pretrain=False``, from scratch.

    Parameters
    ----------
    hidden_channels : int, default=128
        Width of every embedding.
    num_layers : int, default=2
        Message-passing layers (also the depth of the pretraining subgraphs).
    tabular_model : {"linear", "resnet"}, default="linear"
        Row model on top of the column encodings.
    aggregation : {"mean", "sum"}, default="mean"
        Neighbour aggregation of the SAGE convolutions.
    temporal_encoding : bool, default=True
        Add an encoding of each row's age relative to its seed's time.
    count_inputs : bool, default=True
        Add to each row's input, before message passing, a projection of how many rows
        reference it per foreign key, at its time bound: over all time and over three
        windows of 1, 4 and 16 median gaps between the rows that reference one row (gaps
        fitted on the pretraining data), ``log1p``-scaled. The sampled neighbours alone
        cannot show these counts.
    mean_inputs : bool, default=False
        With ``count_inputs``, add the mean of every numerical column of the referencing
        rows (standardised) and the share of each of their 4 most frequent categories,
        over all time and over the longest window: what an entity's rows were like, which
        4 sampled neighbours cannot show for an entity with hundreds of them.
    objectives : tuple of {"row", "link", "context", "predictive"}, \
            default=("row", "link", "context", "predictive")
        Any non-empty subset. ``"predictive"`` regresses, from each seed row's embedding,
        label-free statistics of the rows that reference it: their counts in past and
        future windows (1, 4 and 16 median gaps between such rows), the means of their
        numerical columns and the shares of their frequent categories in the longest past
        and the middle future window, the time since the latest, the mean gap and the time
        until the next; future windows only where they end by the pretraining cutoff
        (:class:`~relcontrast.pretraining.WindowTargets`).
    objective_weights : dict or None, default=None
        ``{level: weight}``; a level not named (every level with None) weighs 3.0 if it
        is the predictive one, else 1.0.
    corruption_rate : float, default=0.4
        Probability that each non-key cell is corrupted for the row-level objective.
    corruption : {"uniform", "empirical"}, default="uniform"
        Replacement values drawn uniformly over the column's distinct values, or from
        another row.
    link_holdout : float, default=0.5
        Fraction of each step's foreign-key edges that the link objective predicts and
        message passing does not see (0: every edge in both).
    temperature : float, default=0.1
        InfoNCE temperature.
    loss_normalization : {"log_k", "running_mean"}, default="log_k"
        Each level divided by log(K + 1) (chance = 1) or by a running mean of itself.
    false_negatives : {"same_input", "same_row"}, default="same_input"
        InfoNCE candidates left out of each softmax: every node whose inputs (attribute
        values, age and sampled neighbourhood) equal the positive's, and other copies of
        the positive's row; or only those copies.
    sampler : {"neighbor", "hgsampling"}, default="neighbor"
        Pretraining subgraphs around the type-balanced seeds: the temporal neighbour
        subgraphs ``transform`` reads (``num_neighbors``, ``temporal_strategy``), or
        HGSampling (``num_samples`` nodes per type per layer), about twice as fast.
    num_samples : int, default=64
        HGSampling nodes per type per layer (``sampler="hgsampling"`` only).
    num_neighbors : tuple of int, default=(4, 4)
        Fan-out per hop and edge type of the temporal neighbour sampler used by
        ``transform`` (and by pretraining when ``sampler="neighbor"``); one hop per layer,
        so its length is ``num_layers`` (``fit`` raises otherwise).
    temporal_strategy : {"last", "uniform"}, default="last"
        Which eligible neighbours that sampler takes: the most recent ones (a row's current
        state), or a uniform sample (an average over its history).
    seed_times : {"events", "latest"}, default="events"
        When rows of untimed tables are pretraining seeds: also at the time of every timed
        row that references them (as ``transform`` embeds them), or at the latest time only.
    batch_size : int, default=128
        Seed rows per pretraining step, every table equally likely; per process under
        ``torchrun``.
    max_steps : int, default=120
        Upper bound on optimisation steps.
    steps_per_epoch : int, default=40
        Steps between two evaluations of the held-out loss (one skorch epoch).
    lr : float, default=2e-3
        Adam learning rate.
    lr_schedule : {None, "cosine"}, default=None
        None: a constant learning rate; "cosine": cosine annealing from ``lr`` to 0 over
        ``max_steps``, one step per batch.
    patience : int or None, default=4
        Epochs without held-out improvement before stopping early (the best epoch's
        weights are kept); None: no early stopping.
    valid_fraction : float, default=0.1
        Fraction of seed rows held out for the early-stopping loss (at most
        ``MAX_VALID_ROWS`` = 512 rows, four batches at the default ``batch_size``).
    cutoff_time : datetime-like or None, default=None
        Pretraining sees only rows with time <= cutoff_time (< cutoff_time with
        ``time_boundary="strict"``). None: the latest cutoff time of the rows X when
        fitting on rows, else the whole database.
    database : RelationalDatabase or None, default=None
        The database, for ``fit(X_rows)`` inside Pipelines. Never copied by ``clone``.
    target_table : str or None, default=None
        Table whose rows ``transform`` embeds; None: the table whose primary key is in X.
    time_column : str or None, default=None
        Cutoff time column of X; None: X's single datetime column.
    time_boundary : {"inclusive", "strict"}, default="inclusive"
        Which rows a row of X with cutoff time t reads: those with time <= t (RelBench's
        own samplers and task SQL), or those with time < t (the RelBench 3 leaderboard's
        rule); a row of X whose own row of the target table is dated exactly t then
        raises, as one dated after t always does. The same rule bounds pretraining: the
        rows up to ``cutoff_time`` (or up to the latest cutoff of X), and each pretraining
        seed at the time of a row that references it. A timed row is a seed at its own
        time under both rules, reading rows up to that time: the earliest embedding of it
        that ``transform`` can compute under either rule.
    column_types : dict or None, default=None
        ``{table: {column: stype}}`` overriding the inferred column types.
    device : str or torch.device, default="auto"
        "auto" uses CUDA when available, else CPU. ``transform`` moves the backbone to
        this device, so an encoder fitted on one machine embeds on another.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, sampling and corruption; a seeded CPU fit and its embeddings
        are bitwise reproducible at any thread count (not on CUDA, as the tags say).
    checkpoint_dir : str, path or None, default=None
        Write the whole training state there after every epoch; a later ``fit`` with the
        same directory, parameters and data resumes (also after a killed process) and ends
        as an uninterrupted run would. None: no checkpoints.
    verbose : int, default=0
        1 prints a per-epoch table of the losses (and a progress bar on a terminal).

    Attributes
    ----------
    database_ : RelationalDatabase
        The database transform reads (the full one, not cut at ``cutoff_time``).
    graph_ : RelationalGraph
        Attribute frames and edge stores of ``database_``, with column statistics of the
        pretraining data.
    net_ : PretrainingNet
        The skorch net that ran pretraining.
    module_ : PretrainingModule
    backbone_ : RelationalBackbone
        The pretrained backbone (what fine-tuning starts from).
    history_ : skorch.callbacks.History
        Per epoch: ``train_loss``, ``valid_loss`` and per level ``train_row``,
        ``valid_row``, ... ; per batch the same under ``batches``.
    cutoff_time_ : pandas.Timestamp or None
        The latest time of a row that pretraining read: ``cutoff_time`` (or the latest
        cutoff of X), one nanosecond before it with ``time_boundary="strict"``.
    n_features_in_ : int
        Present when fitted on rows X.

    Examples
    --------
    >>> from relcontrast import RelationalContrastiveEncoder
    >>> from relcontrast.testing import make_synthetic_database
    >>> tables, schema = make_synthetic_database()
    >>> enc = RelationalContrastiveEncoder(hidden_channels=16, max_steps=4, batch_size=32,
    ...                                    random_state=0)
    >>> enc = enc.fit(tables, schema)
    >>> X = tables["orders"][["order_id", "ts"]].head(3)
    >>> enc.transform(X).shape
    (3, 16)
    """

    def __init__(
        self,
        *,
        hidden_channels=128,
        num_layers=2,
        tabular_model="linear",
        aggregation="mean",
        temporal_encoding=True,
        count_inputs=True,
        mean_inputs=False,
        objectives=DEFAULT_OBJECTIVES,
        objective_weights=None,
        corruption_rate=0.4,
        corruption="uniform",
        link_holdout=0.5,
        temperature=0.1,
        loss_normalization="log_k",
        false_negatives="same_input",
        sampler="neighbor",
        num_samples=64,
        num_neighbors=(4, 4),
        temporal_strategy="last",
        seed_times="events",
        batch_size=128,
        max_steps=120,
        steps_per_epoch=40,
        lr=2e-3,
        lr_schedule=None,
        patience=4,
        valid_fraction=0.1,
        cutoff_time=None,
        database=None,
        target_table=None,
        time_column=None,
        time_boundary="inclusive",
        column_types=None,
        device="auto",
        random_state=None,
        checkpoint_dir=None,
        verbose=0,
    ):
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.tabular_model = tabular_model
        self.aggregation = aggregation
        self.temporal_encoding = temporal_encoding
        self.count_inputs = count_inputs
        self.mean_inputs = mean_inputs
        self.objectives = objectives
        self.objective_weights = objective_weights
        self.corruption_rate = corruption_rate
        self.corruption = corruption
        self.link_holdout = link_holdout
        self.temperature = temperature
        self.loss_normalization = loss_normalization
        self.false_negatives = false_negatives
        self.sampler = sampler
        self.num_samples = num_samples
        self.num_neighbors = num_neighbors
        self.temporal_strategy = temporal_strategy
        self.seed_times = seed_times
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.steps_per_epoch = steps_per_epoch
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.cutoff_time = cutoff_time
        self.database = database
        self.target_table = target_table
        self.time_column = time_column
        self.time_boundary = time_boundary
        self.column_types = column_types
        self.device = device
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose

    _parameter_constraints: dict = {**RelationalEstimator._parameter_constraints,
                                    **BACKBONE_CONSTRAINTS, **ENCODER_CONSTRAINTS}
    _parameter_values: dict = {**RelationalEstimator._parameter_values, **ENCODER_VALUES}

    def _make_backbone(self, graph, rows=None) -> RelationalBackbone:
        """A new backbone over ``graph`` of this architecture (the parameters of
        :data:`~relcontrast.estimators._params.BACKBONE_CONSTRAINTS`), for pretraining or a
        supervised model's training from scratch; the count inputs' windows are fitted on
        the rows ``rows`` (per table; absent or None: all)."""
        if not self.count_inputs:
            warn_ignored(self, ["mean_inputs"], "without count_inputs; set count_inputs=True "
                         "to read the means")
        return RelationalBackbone(
            graph, hidden_channels=self.hidden_channels, num_layers=self.num_layers,
            tabular_model=self.tabular_model, aggregation=self.aggregation,
            temporal_encoding=self.temporal_encoding,
            count_windows=fit_count_windows(graph, rows) if self.count_inputs else None,
            mean_inputs=self.count_inputs and self.mean_inputs,
        )

    @property
    def backbone_(self) -> RelationalBackbone:
        # derived from net_, so skorch's device-aware pickling covers the weights and
        # backbone_ is net_.module_.backbone after any round trip
        return self.net_.module_.backbone

    # -- fit ----------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pretrain on a database.

        Parameters
        ----------
        X : dict of DataFrame, RelationalDatabase, relbench Database, or DataFrame
            ``fit(tables, schema)``, ``fit(db)``, or rows (then the ``database``
            parameter is the database and ``cutoff_time`` defaults to the rows' latest
            cutoff time, so nothing later shapes the backbone).
        y : dict, array-like or None
            The schema when X is a dict of tables; ignored otherwise (no labels are used).

        Returns
        -------
        self : RelationalContrastiveEncoder
        """
        check_depth(type(self).__name__, self.num_neighbors, self.num_layers)
        objectives = as_objectives(self.objectives)
        db, rows = _resolve_training_database(X, y, self.database)
        cutoff = latest_visible_time(self.cutoff_time, self.time_boundary)
        if rows is not None:
            table, tcol, _, times = rows_to_seeds(db, rows, self.target_table, self.time_column,
                                                  self.time_boundary)
            validate_data(self, rows, skip_check_array=True)  # feature_names_in_ / n_features_in_
            if cutoff is None and tcol is not None and len(times):
                cutoff = pd.Timestamp(int(times.max()))
        self.cutoff_time_ = None if cutoff is None else pd.Timestamp(cutoff)
        fit_rows = pretraining_rows(db, cutoff)
        if sum(len(fit_rows[t]) if t in fit_rows else db.num_rows(t)
               for t in db.table_names) < 2:
            raise ValueError(
                f"The database has fewer than two rows up to cutoff_time={cutoff!r}; "
                f"nothing to pretrain on."
            )

        self._train(db=db, cutoff=cutoff, fit_rows=fit_rows, objectives=objectives)
        self._n_features_out = self.hidden_channels
        return self

    def _build_training(self, *, device, ddp, seed, db, cutoff, fit_rows, objectives):
        # One graph of the whole database, its column statistics from the rows up to the
        # cutoff: transform reads all of it (graph_); pretraining reads only the rows up to
        # the cutoff: seeds among them at times up to it, neighbours no later than their
        # seed (temporal sampling), corruption donors among them. No copy of those rows.
        graph = build_graph(db, column_types=self.column_types, stats_until=cutoff)
        backbone = self._make_backbone(graph, fit_rows)
        seeds = pretraining_seeds(graph, fit_rows, seed_times=self.seed_times,
                                  time_boundary=self.time_boundary)
        targets = None
        if "predictive" in objectives:
            windows = backbone.count_windows or fit_count_windows(graph, fit_rows)
            cutoff_ns = None if cutoff is None else pd.Timestamp(cutoff).as_unit("ns").value
            targets = WindowTargets(graph, windows, cutoff_ns, seeds)
        loss = ContrastiveLoss(
            graph.node_types, graph.edge_types, self.hidden_channels,
            objectives=objectives, objective_weights=self.objective_weights,
            temperature=self.temperature, loss_normalization=self.loss_normalization,
            target_dims=None if targets is None else targets.dims,
        )
        module = PretrainingModule(backbone, loss)
        seed_types = seeds[:, 0].astype(np.min_scalar_type(len(graph.node_types)))
        net = self._make_net(module, graph, seed, objectives, device,
                             seed_types=seed_types, ddp=ddp, rows=fit_rows, targets=targets)
        return net, seeds, None, {"database_": db, "graph_": graph, "seed_": seed}

    def _make_net(self, module, graph, seed, objectives, device, seed_types, ddp=None,
                  rows=None, targets=None):
        rows = {} if rows is None else rows  # the rows pretraining reads (absent: all)
        temporal = graph.time_dict != {}
        sampler = make_sampler(
            graph, num_neighbors=self.num_neighbors, strategy=self.temporal_strategy,
            temporal=temporal, **count_inputs_of(module.backbone),
            sampler=self.sampler, num_samples=self.num_samples, num_layers=self.num_layers)
        if targets is not None:
            sampler = TargetingSampler(sampler, targets)
        batcher = PretrainingBatcher(
            graph, sampler, seed, corruption_rate=float(self.corruption_rate),
            corruption=self.corruption,
            donor_pools=({nt: distinct_value_pools(graph.tf_dict[nt], rows.get(nt))
                          for nt in graph.node_types} if self.corruption == "uniform" else None),
            donor_rows=rows,
            corrupt="row" in objectives,
            link_holdout=float(self.link_holdout) if "link" in objectives else 0.0,
            fingerprint_rounds=self.num_layers if self.false_negatives == "same_input" else None,
            train_seed=None if ddp is None else ddp.rank_seed(seed),
        )
        holdout = (HoldOut(self.valid_fraction, MAX_VALID_ROWS, seed) if self.valid_fraction
                   else None)
        if holdout is not None and holdout.num_valid(len(seed_types)) < 1:
            holdout = None  # too few seed rows to hold any out: no early stopping
        valid_batches = 0 if holdout is None else math.ceil(  # validation: global batches
            holdout.num_valid(len(seed_types)) / (self.batch_size * getattr(ddp, "world_size", 1)))
        scores = [(f"{split}_{level}", PassthroughScoring(name=f"{split}_{level}",
                                                          on_train=split == "train"))
                  for level in objectives for split in ("train", "valid")]
        decisions = []
        if self.lr_schedule == "cosine":  # annealed over max_steps, a step after every batch
            decisions.append(("lr_schedule", LRScheduler(
                policy="CosineAnnealingLR", T_max=self.max_steps, step_every="batch")))
        callbacks, verbose = fit_callbacks(
            self, scores, decisions, early_stopping=holdout is not None, ddp=ddp,
            batches_per_epoch=self.steps_per_epoch + valid_batches,
            postfix_keys=["train_loss", *(f"train_{o}" for o in objectives)])
        return PretrainingNet(
            module, batcher=batcher, seed_types=seed_types,
            steps_per_epoch=self.steps_per_epoch, max_steps=self.max_steps,
            criterion=nn.Identity, optimizer=torch.optim.Adam, lr=self.lr,
            max_epochs=math.ceil(self.max_steps / self.steps_per_epoch),
            batch_size=self.batch_size,
            train_split=holdout,
            callbacks=callbacks, device=device, verbose=verbose, distributed=ddp,
            **fused_optimizer(device),
        )

    # -- transform ----------------------------------------------------------------------
    def transform(self, X):
        """Embed rows ``(entity, cutoff time)``.

        Parameters
        ----------
        X : DataFrame
            The target table's primary-key column and a cutoff time column.

        Returns
        -------
        Z : ndarray of shape (n_rows, hidden_channels)
        """
        with self._inference() as device:
            return embed_rows(self.backbone_, self.graph_, self.database_, X,
                              target_table=self.target_table, time_column=self.time_column,
                              time_boundary=self.time_boundary,
                              num_neighbors=self.num_neighbors,
                              strategy=self.temporal_strategy, batch_size=512,
                              seed=self.seed_, device=device)

    def plot_history(self, ax=None):
        """Plot the total and per-level losses (train and held-out) per epoch.

        Returns
        -------
        fig : matplotlib.figure.Figure
        """
        check_is_fitted(self, "history_")
        return plot_history(self.history_, ax=ax)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


@torch.no_grad()
def embed_rows(backbone, graph, db, X, *, target_table, time_column, time_boundary,
               num_neighbors, strategy, batch_size, seed, device) -> np.ndarray:
    """Embeddings of rows X with temporal neighbour sampling, in eval mode, deterministic
    for a fixed ``seed``."""
    table, tcol, index, times = rows_to_seeds(db, X, target_table, time_column, time_boundary)
    sampler = make_sampler(graph, num_neighbors=num_neighbors, strategy=strategy,
                           temporal=tcol is not None, **count_inputs_of(backbone))
    gen = eval_generator(seed)
    was_training = backbone.training
    backbone.eval()
    out = []
    try:
        for start in range(0, len(index), batch_size):
            idx = torch.as_tensor(index[start:start + batch_size])
            t = None if tcol is None else {table: torch.as_tensor(times[start:start + batch_size])}
            batch = batch_to_device(sampler.sample({table: idx}, t, gen), device)
            z = backbone(batch, seeds_only=True)[table]  # [batch, hidden]
            out.append(z.float().cpu())
    finally:
        backbone.train(was_training)
    if not out:
        return np.zeros((0, backbone.out_channels), dtype=np.float32)
    return torch.cat(out).numpy()


def plot_history(history, ax=None):
    """Loss curves from a skorch history: total and each level, train (solid) and held-out
    (dashed)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    keys = [k for k in history[-1] if k.startswith(("train_", "valid_")) and not k.endswith(
        ("_batch_count", "_best", "_batch_size"))]
    epochs = history[:, "epoch"]
    for key in sorted(keys):
        values = [row.get(key, np.nan) for row in history]
        ax.plot(epochs, values, linestyle="-" if key.startswith("train") else "--", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("normalised loss")
    ax.legend(fontsize="small")
    return fig
