"""Core objective math: hand-computed values, finiteness, on-policy identity, aggregation properties,
registry errors. Pure CPU, fast."""

from __future__ import annotations

import math
import pathlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vepo.objectives import (
    ObjectiveOutput,
    PolicyBatch,
    aggregate,
    get_objective,
    list_objectives,
)
from vepo.objectives.aggregation import AGGREGATION_MODES
from vepo.objectives.clipping import clip_fractions, clipped_surrogate, k3_kl, log_ratio_to_ratio
from vepo.objectives.masked import masked_mean, masked_sum, masked_var

LN2 = math.log(2.0)
MODES = list(AGGREGATION_MODES)


# ---------------------------------------------------------------- hand-computed example
def hand_batch(with_ref: bool = True) -> PolicyBatch:
    """2×3 batch, row 1 has 2 valid tokens. Ratios r = exp(logp − old):
    row 0 (Â=+1): r = [1, 1.5, 0.5]; row 1 (Â=−1): r = [0.5, 1.5, junk (masked)].
    ref − logp = +ln2 at (0,0), −ln2 at (1,0), 0 elsewhere."""
    logp = torch.tensor([[-1.0, -0.5, -2.0], [-1.2, -0.3, 40.0]], dtype=torch.float64, requires_grad=True)
    log_r = torch.tensor([[0.0, math.log(1.5), math.log(0.5)], [math.log(0.5), math.log(1.5), 80.0]], dtype=torch.float64)
    old = (logp - log_r).detach()
    ref = logp.detach().clone()
    ref[0, 0] += LN2
    ref[1, 0] -= LN2
    return PolicyBatch(
        logp=logp,
        old_logp=old,
        advantages=torch.tensor([1.0, -1.0], dtype=torch.float64),
        mask=torch.tensor([[1, 1, 1], [1, 1, 0]]),
        ref_logp=ref if with_ref else None,
    )


def test_grpo_hand_computed_with_kl():
    # ε = 0.2, β = 0.04, seq_mean_token_mean. Per-token −min(r·Â, clip(r, 0.8, 1.2)·Â):
    #   row 0 (Â=+1): r=1 → −1;  r=1.5 → −min(1.5, 1.2) = −1.2 (clipped high);  r=0.5 → −min(0.5, 0.8) = −0.5
    #   row 1 (Â=−1): r=0.5 → −min(−0.5, −0.8) = 0.8 (clipped low);  r=1.5 → −min(−1.5, −1.2) = 1.5
    # k3(d) = e^d − d − 1:  d=+ln2 → 2 − ln2 − 1 = 1 − ln2;  d=−ln2 → 0.5 + ln2 − 1 = ln2 − 0.5;  0 elsewhere.
    #   row 0 mean = (−1 − 1.2 − 0.5 + 0.04(1 − ln2)) / 3 = (−2.7 + 0.0122741) / 3 = −0.8959086
    #   row 1 mean = (0.8 + 1.5 + 0.04(ln2 − 0.5)) / 2   = (2.3 + 0.0077259) / 2  =  1.1538629
    #   loss = (−0.8959086 + 1.1538629) / 2 = 0.1289772
    # Clip stats over the 5 valid tokens: 1 high, 1 low → 0.2 / 0.2 / 0.4. ratio_mean = (1+1.5+.5+.5+1.5)/5 = 1.
    # kl = ((1 − ln2) + (ln2 − 0.5)) / 5 = 0.1.
    out = get_objective("grpo")(hand_batch())
    assert isinstance(out, ObjectiveOutput)
    expected = 0.5 * ((-2.7 + 0.04 * (1 - LN2)) / 3 + (2.3 + 0.04 * (LN2 - 0.5)) / 2)
    assert out.loss.item() == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.1289772, abs=1e-7)
    m = out.metrics
    assert m["loss"] == pytest.approx(expected, abs=1e-12)
    assert (m["clip_frac_low"], m["clip_frac_high"], m["clip_frac"]) == pytest.approx((0.2, 0.2, 0.4))
    assert m["ratio_mean"] == pytest.approx(1.0)
    assert m["kl"] == pytest.approx(0.1)
    assert m["adv_mean"] == pytest.approx(0.0) and m["adv_std"] == pytest.approx(1.0)
    assert "entropy_mean" not in m
    assert all(isinstance(v, float) for v in m.values())


def test_grpo_requires_ref_when_beta_positive():
    with pytest.raises(ValueError, match="ref_logp"):
        get_objective("grpo")(hand_batch(with_ref=False))
    assert get_objective("grpo").needs().ref_logp and not get_objective("dapo").needs().ref_logp
    assert not get_objective("grpo", beta=0.0).needs().ref_logp


def test_dapo_token_mean_vs_grpo_seq_mean_unequal_lengths():
    b = hand_batch(with_ref=False)
    # grpo, β=0: row means (−1 − 1.2 − 0.5)/3 = −0.9 and (0.8 + 1.5)/2 = 1.15 → (−0.9 + 1.15)/2 = 0.125
    grpo = get_objective("grpo", beta=0.0)(b).loss.item()
    assert grpo == pytest.approx(0.125, abs=1e-12)
    # dapo, ε_high = 0.28: the r=1.5, Â>0 token becomes −1.28; token mean (−1 − 1.28 − 0.5 + 0.8 + 1.5)/5 = −0.096
    dapo = get_objective("dapo")(b).loss.item()
    assert dapo == pytest.approx(-0.096, abs=1e-12)
    # same per-token loss as grpo, only the aggregation differs: (−2.7 + 2.3)/5 = −0.08
    assert get_objective("grpo", beta=0.0, aggregation="token_mean")(b).loss.item() == pytest.approx(-0.08, abs=1e-12)
    # dr_grpo with L_max = 4: (−2.7 + 2.3)/(2·4) = −0.05
    assert get_objective("dr_grpo", max_completion_length=4)(b).loss.item() == pytest.approx(-0.05, abs=1e-12)


def test_entropy_and_token_advantages_metrics():
    b = hand_batch()
    b.entropy = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 1e6]])
    m = get_objective("grpo")(b).metrics
    assert m["entropy_mean"] == pytest.approx(3.0)
    # (B, T) advantages equal to the broadcast (B,) ones give the same loss
    b2 = hand_batch()
    b2.advantages = b2.advantages[:, None].expand(2, 3).clone()
    assert get_objective("grpo")(b2).loss.item() == pytest.approx(get_objective("grpo")(hand_batch()).loss.item())
    b2.advantages = torch.zeros(3)
    with pytest.raises(ValueError, match="advantages"):
        get_objective("grpo")(b2)


# ---------------------------------------------------------------- finiteness
def _random_batch(B, T, seed, lo=-50.0, hi=50.0, mask=None):
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(B, T, generator=g, dtype=torch.float32) * 5).requires_grad_(True)
    log_r = torch.rand(B, T, generator=g) * (hi - lo) + lo
    ref = logp.detach() + torch.rand(B, T, generator=g) * (hi - lo) + lo
    if mask is None:
        mask = (torch.rand(B, T, generator=g) < 0.7).long()
    return PolicyBatch(
        logp=logp,
        old_logp=(logp - log_r).detach(),
        advantages=torch.randn(B, generator=g),
        mask=mask,
        entropy=torch.rand(B, T, generator=g),
        ref_logp=ref,
    )


@pytest.mark.parametrize("name", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("case", ["wide_ratios", "all_masked_row", "all_masked_batch", "length_one"])
def test_finite_loss_and_grad(name, case):
    if case == "wide_ratios":
        b = _random_batch(8, 32, seed=1)
    elif case == "all_masked_row":
        mask = torch.ones(4, 6, dtype=torch.long)
        mask[2] = 0
        b = _random_batch(4, 6, seed=2, mask=mask)
    elif case == "all_masked_batch":
        b = _random_batch(3, 5, seed=3, mask=torch.zeros(3, 5, dtype=torch.long))
    else:
        b = _random_batch(5, 1, seed=4, mask=torch.ones(5, 1, dtype=torch.long))
    obj = get_objective(name, beta=0.04)
    out = obj(b)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert torch.isfinite(b.logp.grad).all()
    assert all(math.isfinite(v) for v in out.metrics.values()), out.metrics
    if case == "all_masked_batch":
        assert out.loss.item() == 0.0 and torch.equal(b.logp.grad, torch.zeros_like(b.logp))


def test_zero_variance_rewards_through_objective_are_finite():
    b = _random_batch(4, 6, seed=5)
    b.advantages = torch.zeros(4)  # a group whose rewards are all equal
    out = get_objective("grpo")(b)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(b.logp.grad).all()


def test_clipping_helpers():
    big = torch.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    r = log_ratio_to_ratio(big)
    r.sum().backward()
    assert torch.isfinite(r).all() and torch.isfinite(big.grad).all()
    assert r[2].item() == 1.0
    x = torch.tensor([-3.0, 0.5, 19.9], dtype=torch.float64)  # inside the clamp band: exact exp
    assert torch.equal(log_ratio_to_ratio(x), torch.exp(x))
    assert torch.isfinite(k3_kl(torch.zeros(3), torch.tensor([-1e4, 0.0, 1e4]))).all()
    assert (k3_kl(torch.zeros(50), torch.linspace(-5, 5, 50)) >= -1e-7).all()
    ratio = torch.tensor([[0.5, 1.5], [0.5, 1.5]])
    adv = torch.tensor([1.0, -1.0])
    assert torch.allclose(clipped_surrogate(ratio, adv, 0.2, 0.2), torch.tensor([[-0.5, -1.2], [0.8, 1.5]]))
    fr = clip_fractions(ratio, adv, torch.ones(2, 2), 0.2, 0.2)
    assert fr == pytest.approx({"clip_frac": 0.5, "clip_frac_low": 0.25, "clip_frac_high": 0.25})


def test_masked_helpers_never_nan():
    x = torch.tensor([[1.0, float("inf")], [2.0, 3.0]])
    m = torch.tensor([[1, 0], [0, 0]])
    assert masked_sum(x, m).item() == 1.0
    assert torch.equal(masked_mean(x, m, dim=-1), torch.tensor([1.0, 0.0]))
    assert masked_var(x, m).item() == 0.0 and masked_var(x, m, unbiased=True).item() == 0.0
    assert masked_var(torch.tensor([1.0, 3.0]), torch.tensor([1, 1]), unbiased=True).item() == pytest.approx(2.0)


# ---------------------------------------------------------------- on-policy identity
@pytest.mark.parametrize("name", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("old_none", [False, True])
def test_on_policy_gradient_is_policy_gradient(name, old_none):
    B, T, L_max = 4, 6, 10
    g = torch.Generator().manual_seed(7)
    logp = (-torch.rand(B, T, generator=g, dtype=torch.float64) * 3).requires_grad_(True)
    lengths = torch.tensor([6, 3, 1, 0])  # unequal, including an empty completion
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    batch = PolicyBatch(logp=logp, old_logp=None if old_none else logp.detach().clone(), advantages=adv, mask=mask)
    obj = get_objective(name, beta=0.0, **({"max_completion_length": L_max} if name == "dr_grpo" else {}))
    obj(batch).loss.backward()
    if name == "grpo":
        w = 1.0 / (B * lengths.clamp(min=1).double())[:, None]
    elif name == "dapo":
        w = torch.tensor(1.0 / mask.sum().item(), dtype=torch.float64)
    else:
        w = torch.tensor(1.0 / (B * L_max), dtype=torch.float64)
    expected = -w * adv[:, None] * mask
    assert torch.allclose(logp.grad, expected, atol=1e-12)


# ---------------------------------------------------------------- aggregation properties (hypothesis)
@st.composite
def loss_and_mask(draw, equal_lengths=False):
    B = draw(st.integers(1, 5))
    T = draw(st.integers(1, 6))
    vals = draw(st.lists(st.floats(-100, 100, allow_nan=False), min_size=B * T, max_size=B * T))
    loss = torch.tensor(vals, dtype=torch.float64).view(B, T)
    if equal_lengths:
        n = draw(st.integers(1, T))
        mask = (torch.arange(T)[None, :] < n).expand(B, T).long()
    else:
        bits = draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T))
        mask = torch.tensor(bits).view(B, T).long()
    return loss, mask


def agg(loss, mask, mode):
    return aggregate(loss, mask, mode, max_completion_length=8)


FAST = settings(max_examples=60, deadline=None)


@FAST
@given(loss_and_mask(), st.randoms(use_true_random=False))
def test_aggregate_permutation_invariant(lm, rnd):
    loss, mask = lm
    perm = list(range(loss.shape[0]))
    rnd.shuffle(perm)
    for mode in MODES:
        assert torch.allclose(agg(loss, mask, mode), agg(loss[perm], mask[perm], mode), atol=1e-9)


@FAST
@given(loss_and_mask())
def test_token_mean_is_length_weighted_mean_of_sequence_means(lm):
    loss, mask = lm
    n = mask.sum(-1).double()
    seq_means = (loss * mask).sum(-1) / n.clamp(min=1)
    expected = (n * seq_means).sum() / n.sum().clamp(min=1)
    assert torch.allclose(agg(loss, mask, "token_mean"), expected, atol=1e-9)
    # and sum_norm is the same masked sum over a constant normaliser
    assert torch.allclose(agg(loss, mask, "seq_mean_token_sum_norm"), (loss * mask).sum() / (loss.shape[0] * 8), atol=1e-9)


@FAST
@given(loss_and_mask(equal_lengths=True))
def test_equal_lengths_token_mean_equals_seq_mean(lm):
    loss, mask = lm
    assert torch.allclose(agg(loss, mask, "token_mean"), agg(loss, mask, "seq_mean_token_mean"), atol=1e-9)


@FAST
@given(loss_and_mask(), st.floats(-10, 10, allow_nan=False))
def test_aggregate_is_linear_in_loss(lm, c):
    loss, mask = lm
    for mode in MODES:
        assert torch.allclose(agg(c * loss, mask, mode), c * agg(loss, mask, mode), atol=1e-7)


@FAST
@given(loss_and_mask(), st.lists(st.floats(-1e30, 1e30, allow_nan=False), min_size=30, max_size=30))
def test_masked_positions_never_matter(lm, junk):
    loss, mask = lm
    junk_t = torch.tensor(junk, dtype=torch.float64)[: loss.numel()].view_as(loss)
    junk_t[0, 0] = float("inf")  # even inf at a masked position
    dirty = torch.where(mask.bool(), loss, junk_t)
    for mode in MODES:
        out = agg(dirty, mask, mode)
        assert torch.isfinite(out)
        assert torch.equal(out, agg(loss, mask, mode))


def test_aggregate_errors_and_empty():
    loss, mask = torch.ones(2, 3), torch.zeros(2, 3)
    for mode in MODES:
        assert agg(loss, mask, mode).item() == 0.0
    with pytest.raises(ValueError, match="allowed: token_mean, seq_mean_token_mean, seq_mean_token_sum_norm"):
        aggregate(loss, mask, "mean")
    with pytest.raises(ValueError, match="max_completion_length"):
        aggregate(loss, mask, "seq_mean_token_sum_norm")


# ---------------------------------------------------------------- registry
def test_registry_lists_and_defaults():
    names = list_objectives()
    assert {"grpo", "dapo", "dr_grpo"} <= set(names) and names == sorted(names)
    grpo, dapo, dr = get_objective("grpo"), get_objective("dapo"), get_objective("dr_grpo")
    assert (grpo.epsilon_low, grpo.epsilon_high, grpo.beta, grpo.aggregation, grpo.advantage) == (
        0.2, 0.2, 0.04, "seq_mean_token_mean", "group")
    assert (dapo.epsilon_low, dapo.epsilon_high, dapo.beta, dapo.aggregation, dapo.advantage) == (
        0.2, 0.28, 0.0, "token_mean", "group")
    assert (dr.epsilon_low, dr.epsilon_high, dr.beta, dr.aggregation, dr.max_completion_length, dr.advantage) == (
        0.2, 0.2, 0.0, "seq_mean_token_sum_norm", 128, "dr_grpo")
    assert grpo.state == {} and grpo.on_step_end({"loss": 1.0}) is None
    assert get_objective("grpo", epsilon_high=0.3).epsilon_high == 0.3


def test_registry_errors_are_one_line_and_list_allowed():
    with pytest.raises(ValueError) as e:
        get_objective("nope")
    msg = str(e.value)
    assert "\n" not in msg and "'nope'" in msg
    assert all(name in msg.split("known:")[1] for name in ("dapo", "dr_grpo", "grpo"))
    with pytest.raises(ValueError) as e:
        get_objective("grpo", epsilon=0.1)
    msg = str(e.value)
    assert "\n" not in msg and "'epsilon'" in msg
    assert "allowed: advantage, aggregation, beta, epsilon_high, epsilon_low, max_completion_length" in msg
    with pytest.raises(ValueError, match="aggregation"):
        get_objective("grpo", aggregation="mean")
    with pytest.raises(ValueError, match="advantage"):
        get_objective("grpo", advantage="ppo")


def test_objectives_package_does_not_import_trl():
    pkg = pathlib.Path(__file__).resolve().parents[1] / "vepo" / "objectives"
    for f in pkg.glob("*.py"):
        for line in f.read_text().splitlines():
            s = line.strip()
            assert not (s.startswith(("import trl", "from trl"))), f"{f.name}: {s}"
