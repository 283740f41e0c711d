"""Row, link and context InfoNCE levels, their normalisation and ContrastiveLoss."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch_geometric.data import HeteroData

from relcontrast.pretraining import (
    ContextObjective,
    ContrastiveLoss,
    InfoNCEResult,
    LinkObjective,
    LossNormalizer,
    ProjectionHead,
    RowObjective,
)

FWD = ("a", "f2p_b_id", "b")
REV = ("b", "rev_f2p_b_id", "a")
NODE_TYPES = ["a", "b"]
EDGE_TYPES = [FWD, REV]
LEVELS = ["row", "link", "context"]


@pytest.fixture(autouse=True)
def _seeded():
    """Module initialisation draws from torch's global generator: fork and seed it."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n_a: int = 32, n_b: int = 16, dst: torch.Tensor | None = None,
           n_id_b: torch.Tensor | None = None) -> HeteroData:
    """Rows of ``a`` referencing rows of ``b`` (``a_i -> b_{dst_i}``), both edge directions."""
    batch = HeteroData()
    batch["a"].n_id = torch.arange(n_a)
    batch["b"].n_id = torch.arange(100, 100 + n_b) if n_id_b is None else n_id_b
    dst = torch.arange(n_a) % n_b if dst is None else dst
    edge_index = torch.stack([torch.arange(n_a), dst])  # [2, n_a]
    batch[FWD].edge_index = edge_index
    batch[REV].edge_index = edge_index.flip(0)
    return batch


def _random_z(batch: HeteroData, channels: int, seed: int) -> dict[str, torch.Tensor]:
    gen = _gen(seed)
    return {nt: torch.randn(batch[nt].n_id.numel(), channels, generator=gen)
            for nt in batch.node_types}


def _identity_heads(module: nn.Module) -> None:
    """Make every projection head the identity on non-negative inputs."""
    for head in module.modules():
        if isinstance(head, ProjectionHead):
            with torch.no_grad():
                for lin in (head.lin1, head.lin2):
                    lin.weight.copy_(torch.eye(head.channels))
                    lin.bias.zero_()


def _loss(channels: int, objectives=LEVELS, **kwargs) -> ContrastiveLoss:
    return ContrastiveLoss(NODE_TYPES, EDGE_TYPES, channels, objectives=objectives, **kwargs)


# Link level ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("num_negatives", "expected_k"), [(None, [2, 3]), (2, [1, 2])])
def test_link_true_reference_is_never_a_negative(num_negatives, expected_k):
    # b rows 0 and 2 are the same database row (n_id 10), sampled in two subgraphs.
    batch = _batch(n_a=2, n_b=4, dst=torch.tensor([0, 1]), n_id_b=torch.tensor([10, 11, 10, 12]))
    z = _random_z(batch, 8, seed=1)
    z["b"][2] = z["b"][0]
    link = LinkObjective(EDGE_TYPES, 8, num_negatives=num_negatives)
    result = link(z, batch)[FWD]
    assert result.num_negatives.tolist() == expected_k

    # The logits the loss must use: a_0 against b_0 (positive) and b_1, b_3, never b_2.
    q = nn.functional.normalize(link.src_heads[0](z["a"]), dim=-1)
    k = nn.functional.normalize(link.dst_heads[0](z["b"]), dim=-1)
    logits = q @ k.t() / link.temperature  # [2, 4]
    negatives_of_a0 = [1, 3] if num_negatives is None else [1]
    expected = torch.logsumexp(logits[0, [0, *negatives_of_a0]], 0) - logits[0, 0]
    torch.testing.assert_close(result.loss[0], expected)


def test_link_uses_only_foreign_key_direction_and_caps_negatives():
    link = LinkObjective(EDGE_TYPES, 8, num_negatives=5)
    assert link.edge_types == [FWD]
    result = link(_random_z(_batch(), 8, seed=0), _batch())[FWD]
    assert result.loss.shape == (32,) and int(result.num_negatives.max()) == 5


# Row and context levels ----------------------------------------------------------------------

def test_duplicate_rows_are_not_negatives_of_each_other():
    batch = _batch(n_a=6, n_b=4, n_id_b=torch.tensor([7, 8, 7, 9]))
    z = _random_z(batch, 8, seed=0)
    row = RowObjective(NODE_TYPES, 8)(z, _random_z(batch, 8, seed=1), batch)
    assert row["b"].num_negatives.tolist() == [2, 3, 2, 3]
    assert row["a"].num_negatives.tolist() == [5] * 6
    context = ContextObjective(NODE_TYPES, EDGE_TYPES, 8)(z, batch)
    assert context["b"].num_negatives.tolist() == [2, 3, 2, 3]


def test_context_skips_nodes_without_neighbours():
    batch = _batch(n_a=4, n_b=6, dst=torch.tensor([0, 0, 1, 2]))  # b_3 .. b_5 unreferenced
    objective = ContextObjective(NODE_TYPES, EDGE_TYPES, 8)
    z = _random_z(batch, 8, seed=0)
    valid, context = objective.contexts(z, batch)["b"]
    assert valid.tolist() == [0, 1, 2] and context.shape == (3, 8)
    projected = objective.context_heads[0](z["a"])  # heads of the neighbours' type, a
    torch.testing.assert_close(context[0], projected[:2].mean(0))
    assert objective(z, batch)["b"].loss.shape == (3,)


# Normalisation and the combined loss ---------------------------------------------------------

@pytest.mark.parametrize("level", LEVELS)
def test_random_embeddings_score_near_one(level):
    batch = _batch(n_a=64, n_b=48, dst=torch.arange(64) % 48)
    loss = _loss(128, [level])
    _, levels = loss(_random_z(batch, 128, seed=1), _random_z(batch, 128, seed=2), batch)
    assert 0.85 < levels[level] < 1.15


@pytest.mark.parametrize("level", LEVELS)
def test_uninformative_encoder_scores_exactly_one(level):
    batch = _batch()
    z = {nt: torch.ones(batch[nt].n_id.numel(), 16) for nt in NODE_TYPES}
    _, levels = _loss(16, [level])(z, z, batch)
    assert levels[level] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("level", LEVELS)
def test_perfect_encoder_scores_far_below_one(level):
    # a_i references b_perm(i) and carries b_perm(i)'s one-hot embedding: every positive pair
    # (row / link / neighbourhood) is identical, every negative orthogonal.
    perm = torch.randperm(16, generator=_gen())
    batch = _batch(n_a=16, n_b=16, dst=perm)
    eye = torch.eye(16, 32)
    z = {"a": eye[perm], "b": eye}
    loss = _loss(32, [level])
    _identity_heads(loss)
    _, levels = loss(z, z, batch)
    assert levels[level] < 0.05


def test_gradients_flow_to_embeddings_and_heads():
    batch = _batch()
    z = {nt: v.requires_grad_() for nt, v in _random_z(batch, 16, seed=0).items()}
    z_corrupt = {nt: v + 0.1 for nt, v in z.items()}
    loss = _loss(16)
    total, _ = loss(z, z_corrupt, batch)
    total.backward()
    for nt in NODE_TYPES:
        assert torch.isfinite(z[nt].grad).all() and z[nt].grad.abs().sum() > 0
    for name, p in loss.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_falls_under_training(level):
    batch = _batch(n_a=32, n_b=16, dst=torch.arange(32) % 16)
    table = nn.ModuleDict({nt: nn.Embedding(batch[nt].n_id.numel(), 16) for nt in NODE_TYPES})
    noise = {nt: 0.5 * torch.randn(batch[nt].n_id.numel(), 16, generator=_gen(1))
             for nt in NODE_TYPES}
    loss = _loss(16, [level])
    optimizer = torch.optim.Adam([*table.parameters(), *loss.parameters()], lr=1e-2)
    history = []
    for _ in range(100):
        z = {nt: table[nt].weight for nt in NODE_TYPES}
        total, levels = loss(z, {nt: z[nt] + noise[nt] for nt in NODE_TYPES}, batch)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(levels[level])
    assert history[-1] < 0.5 * history[0]


def test_too_few_nodes_contribute_zero_not_nan():
    batch = HeteroData()
    batch["a"].n_id = torch.tensor([3])
    batch["b"].n_id = torch.tensor([4])
    batch[FWD].edge_index = torch.tensor([[0], [0]])
    batch[REV].edge_index = torch.tensor([[0], [0]])
    z = {"a": torch.randn(1, 8, requires_grad=True), "b": torch.randn(1, 8, requires_grad=True)}
    total, levels = _loss(8)(z, z, batch)
    assert levels == {"row": 0.0, "link": 0.0, "context": 0.0}
    assert total.item() == 0.0
    total.backward()  # still a valid loss for the training loop


def test_weights_make_a_weighted_sum():
    batch = _batch()
    z, zc = _random_z(batch, 16, seed=0), _random_z(batch, 16, seed=1)
    total, levels = _loss(16, objective_weights={"row": 2.0, "context": 0.0})(z, zc, batch)
    assert total.item() == pytest.approx(2.0 * levels["row"] + levels["link"], rel=1e-5)


def test_running_mean_normalisation():
    batch = _batch()
    z, zc = _random_z(batch, 16, seed=0), _random_z(batch, 16, seed=1)
    loss = _loss(16, loss_normalization="running_mean")
    _, first = loss(z, zc, batch)
    assert first == pytest.approx(dict.fromkeys(LEVELS, 1.0))
    running = loss.normalizer.running_mean.clone()
    assert (running > 0).all() and loss.normalizer.initialized.all()
    loss.eval()
    _, again = loss(z, zc, batch)  # evaluation does not update the running mean
    assert torch.equal(loss.normalizer.running_mean, running)
    assert again == pytest.approx(first)
    assert "normalizer.running_mean" in loss.state_dict()


def test_log_k_divides_each_anchor_by_its_chance_level():
    norm = LossNormalizer(["row"])
    groups = [InfoNCEResult(torch.tensor([math.log(4.0), 0.0]), torch.tensor([3, 7])),
              InfoNCEResult(torch.tensor([math.log(2.0)]), torch.tensor([1]))]
    assert norm("row", groups).item() == pytest.approx((0.5 + 1.0) / 2)
    assert norm("row", []) is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"objectives": []}, ValueError, "at least one of"),
        ({"objectives": ["row", "graph"]}, ValueError,
         r"Unknown objectives \['graph'\]; valid objectives are \('row', 'link', 'context', "
         r"'predictive'\)"),
        ({"objectives": ["row"], "objective_weights": {"link": 1.0}}, ValueError,
         r"objective_weights names \['link'\]"),
        ({"objective_weights": {"row": -1.0}}, ValueError, "finite number >= 0, got -1.0"),
        ({"objective_weights": [1.0]}, TypeError, "objective_weights must be a dict"),
        ({"temperature": 0.0}, ValueError, "temperature must be a finite number > 0"),
        ({"loss_normalization": "softmax"}, ValueError, "Unknown loss_normalization 'softmax'"),
        ({"num_negatives": 0}, ValueError, "num_negatives must be a positive integer"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ContrastiveLoss(NODE_TYPES, EDGE_TYPES, 8, **kwargs)


def test_row_level_needs_corrupted_embeddings():
    batch = _batch()
    with pytest.raises(ValueError, match="row objective needs z_corrupt"):
        _loss(8)(_random_z(batch, 8, seed=0), None, batch)
    _, levels = _loss(8, ["link", "context"])(_random_z(batch, 8, seed=0), None, batch)
    assert set(levels) == {"link", "context"}


def test_hold_out_links_moves_edges_out_of_message_passing():
    from torch_geometric.data import HeteroData

    from relcontrast.pretraining import hold_out_links

    batch = HeteroData()
    batch["a"].num_nodes, batch["b"].num_nodes = 6, 3
    fwd = torch.tensor([[0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2]])
    batch["a", "f2p_b", "b"].edge_index = fwd
    batch["b", "rev_f2p_b", "a"].edge_index = fwd.flip(0)
    gen = torch.Generator().manual_seed(0)
    hold_out_links(batch, 0.5, gen)
    target = batch["a", "f2p_b", "b"].target_edge_index
    kept = batch["a", "f2p_b", "b"].edge_index
    rev = batch["b", "rev_f2p_b", "a"].edge_index
    assert 0 < target.size(1) < 6
    pairs = lambda ei: {tuple(p) for p in ei.t().tolist()}  # noqa: E731
    assert pairs(target) | pairs(kept) == pairs(fwd)
    assert not pairs(target) & pairs(kept)
    assert pairs(rev.flip(0)) == pairs(kept)  # the reverse of a held-out link is gone too
    assert "target_edge_index" not in batch["b", "rev_f2p_b", "a"]


def test_row_level_anchors_are_the_rows_with_a_corrupted_view():
    """The corrupted pass embeds the seeds (the first nodes of each type) only: they are the
    anchors, every node of the type still a candidate."""
    batch = _batch(n_a=6, n_b=4)
    z = _random_z(batch, 8, seed=0)
    z_corrupt = {"a": z["a"][:2] + 0.1, "b": z["b"][:0]}
    objective = RowObjective(NODE_TYPES, 8)
    row = objective(z, z_corrupt, batch)
    assert set(row) == {"a"}
    assert row["a"].num_negatives.tolist() == [5, 5]
    full = objective(z, {"a": z["a"] + 0.1, "b": z["b"]}, batch)
    torch.testing.assert_close(row["a"].loss, full["a"].loss[:2])
