"""Sequence-level and entropy-aware objectives: gspo, espo, egspo, vepo.

Hand-computed values, on-policy identity, finiteness, GSPO vs TRL's sequence-level importance sampling, ESPO grouping,
EGSPO gating and μ schedule, VEPO's λ controller and state. Pure CPU, fast.
"""

from __future__ import annotations

import math

import pytest
import torch

from vepo.objectives import PolicyBatch, get_objective, list_objectives
from vepo.objectives.espo import entropy_groups

LN = math.log
NEW = ["gspo", "espo", "egspo", "vepo"]


def hand_batch(entropy=None) -> PolicyBatch:
    """2×3 batch, row 1 has 2 valid tokens (position 2 is junk). Ratios r = exp(logp − old):
    row 0 (Â=+1): r = [1, 1.5, 0.5]; row 1 (Â=−1): r = [0.5, 1.5, junk]."""
    logp = torch.tensor([[-1.0, -0.5, -2.0], [-1.2, -0.3, 40.0]], dtype=torch.float64, requires_grad=True)
    log_r = torch.tensor([[0.0, LN(1.5), LN(0.5)], [LN(0.5), LN(1.5), 80.0]], dtype=torch.float64)
    return PolicyBatch(
        logp=logp,
        old_logp=(logp - log_r).detach(),
        advantages=torch.tensor([1.0, -1.0], dtype=torch.float64),
        mask=torch.tensor([[1, 1, 1], [1, 1, 0]]),
        entropy=None if entropy is None else torch.tensor(entropy, dtype=torch.float64),
    )


def random_batch(B, T, seed, lo=-50.0, hi=50.0, mask=None, dtype=torch.float32) -> PolicyBatch:
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(B, T, generator=g, dtype=dtype) * 5).requires_grad_(True)
    log_r = (torch.rand(B, T, generator=g, dtype=dtype) * (hi - lo) + lo)
    if mask is None:
        mask = (torch.rand(B, T, generator=g) < 0.7).long()
    return PolicyBatch(
        logp=logp,
        old_logp=(logp - log_r).detach(),
        advantages=torch.randn(B, generator=g, dtype=dtype),
        mask=mask,
        entropy=torch.rand(B, T, generator=g, dtype=dtype) * 3,
        ref_logp=logp.detach() + torch.rand(B, T, generator=g, dtype=dtype) * 2 - 1,
    )


def lengths_mask(lengths, T):
    return (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).long()


# ---------------------------------------------------------------- GSPO
def test_gspo_hand_computed():
    # ε_low = 3e-4, ε_high = 4e-4, seq_mean_token_mean.
    # row 0 (Â=+1): mean log r = (0 + ln1.5 + ln0.5)/3 = ln(0.75)/3 → s0 = 0.75^(1/3) = 0.9085603
    #   Â > 0 and s0 < 1: the low clip does not bind → ℓ = −s0 on each token, row mean −s0
    # row 1 (Â=−1): mean log r = (ln0.5 + ln1.5)/2 = ln(0.75)/2 → s1 = √0.75 = 0.8660254
    #   ℓ = −min(−s1, −clip(s1)) = max(s1, 0.9997) = 0.9997 (clipped low, no gradient)
    # loss = (−0.9085603 + 0.9997)/2 = 0.0455698
    b = hand_batch()
    out = get_objective("gspo")(b)
    s0, s1 = 0.75 ** (1 / 3), math.sqrt(0.75)
    assert out.loss.item() == pytest.approx((-s0 + 0.9997) / 2, abs=1e-12)
    out.loss.backward()
    # ∂/∂logp_{0,t} = −Â·s0 · (1/3 tokens) · (1/2 rows) = −s0/6; row 1 clipped → 0
    expected = torch.tensor([[-s0 / 6] * 3, [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(b.logp.grad, expected, atol=1e-12)
    m = out.metrics
    # clipped tokens: row 1's two (low) of 5 valid tokens
    assert (m["clip_frac"], m["clip_frac_low"], m["clip_frac_high"]) == pytest.approx((0.4, 0.4, 0.0))
    assert m["ratio_mean"] == pytest.approx((3 * s0 + 2 * s1) / 5)
    assert all(isinstance(v, float) for v in m.values())


def trl_sequence_grpo_loss(logp, old, adv, mask, eps_low, eps_high, beta=0.0, ref=None):
    """TRL 1.16 `GRPOTrainer._compute_loss` (trl/trainer/grpo_trainer.py) with importance_sampling_level="sequence",
    loss_type="grpo", transcribed line by line (no vLLM IS correction, no delta, no entropy mask)."""
    advantages = adv.unsqueeze(1) if adv.dim() == 1 else adv
    log_ratio = logp - old
    log_importance_weights = (log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    log_importance_weights = log_importance_weights.unsqueeze(-1)
    coef_1 = torch.exp(log_importance_weights)
    if beta != 0.0:
        per_token_kl = torch.exp(ref - logp) - (ref - logp) - 1
    coef_2 = torch.clamp(coef_1, 1 - eps_low, 1 + eps_high)
    per_token_loss1 = coef_1 * advantages
    per_token_loss2 = coef_2 * advantages
    per_token_loss = -torch.min(per_token_loss1, per_token_loss2)
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl
    return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gspo_matches_trl_sequence_level(dtype, tol, beta, seed):
    B, T = 8, 9
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(B, T, generator=g, dtype=torch.float64) * 4).to(dtype)
    # Per-row mean log-ratios (± token noise) and advantage signs chosen so that rows clip low (0, 2), clip high
    # (1, 3, 6), sit outside the band on the side the clip ignores (4: s > 1+ε with Â < 0; 7: s < 1−ε with Â > 0)
    # or inside it (5).
    offset = torch.tensor([-1e-3, 1e-3, -5e-4, 8e-4, 1e-3, -1e-4, 2e-3, -2e-3], dtype=torch.float64)
    sign = torch.tensor([-1.0, 1, -1, 1, -1, -1, 1, 1], dtype=torch.float64)
    noise = (torch.rand(B, T, generator=g, dtype=torch.float64) - 0.5) * 2e-4
    old = (logp - offset[:, None] - noise).to(dtype)
    ref = (logp + torch.rand(B, T, generator=g, dtype=torch.float64) - 0.5).to(dtype)
    adv = (sign * (0.1 + torch.rand(B, generator=g, dtype=torch.float64))).to(dtype)
    mask = lengths_mask([9, 5, 1, 0, 7, 9, 3, 2], T)
    mask[0, 4] = 0  # a hole inside a row too

    lp_ours = logp.clone().requires_grad_(True)
    ours = get_objective("gspo", beta=beta)(
        PolicyBatch(logp=lp_ours, old_logp=old, advantages=adv, mask=mask, ref_logp=ref)
    ).loss
    ours.backward()
    lp_trl = logp.clone().requires_grad_(True)
    theirs = trl_sequence_grpo_loss(lp_trl, old, adv, mask, 3e-4, 4e-4, beta, ref)
    theirs.backward()
    assert abs(ours.item() - theirs.item()) <= tol
    assert torch.allclose(lp_ours.grad, lp_trl.grad, atol=tol, rtol=0)
    if beta == 0.0:  # both clip sides and the unclipped branch are exercised (row 3 is empty)
        clipped = (lp_ours.grad == 0).all(-1) & (mask.sum(-1) > 0)
        assert clipped.tolist() == [True, True, True, False, False, False, True, False]


# ---------------------------------------------------------------- ESPO
def reference_groups(entropy, mask, q, K):
    """Loop reference of ESPO's split: rank valid tokens by (−H, position), top max(1, round-half-up(q·n)) → group 0
    when n ≥ 2, the rest into K−1 consecutive near-equal rank bins."""
    out = torch.full(entropy.shape, -1, dtype=torch.long)
    for i in range(entropy.shape[0]):
        pos = [t for t in range(entropy.shape[1]) if mask[i, t]]
        n = len(pos)
        order = sorted(pos, key=lambda t: (-float(entropy[i, t]), t))
        n_top = max(1, math.floor(q * n + 0.5)) if n >= 2 else 0
        for rank, t in enumerate(order):
            out[i, t] = 0 if rank < n_top else 1 + (rank - n_top) * (K - 1) // (n - n_top)
    return out


@pytest.mark.parametrize("K", [2, 3])
def test_espo_groups_match_loop_reference_and_respect_mask(K):
    g = torch.Generator().manual_seed(3)
    B, T = 12, 17
    ent = torch.randint(0, 4, (B, T), generator=g).double()  # many ties
    mask = lengths_mask([17, 16, 10, 5, 4, 3, 2, 1, 0, 9, 13, 7], T)
    ent = torch.where(mask.bool(), ent, torch.full_like(ent, 1e9))  # junk: huge entropy at padded positions
    ours = entropy_groups(ent, mask.bool(), 0.2, K)
    ref = reference_groups(ent, mask, 0.2, K)
    valid = mask.bool()
    assert torch.equal(ours[valid], ref[valid])
    n = mask.sum(-1)
    top = ((ours == 0) & valid).sum(-1)
    expected_top = torch.where(n >= 2, torch.floor(0.2 * n + 0.5).clamp(min=1), torch.zeros_like(n, dtype=torch.float))
    assert torch.equal(top, expected_top.long())


def espo_hand_batch() -> PolicyBatch:
    logV = LN(100)
    logp = torch.tensor([[-1.0, -0.5, -2.0, -0.7, -0.2], [-1.2, 30.0, 30.0, 30.0, 30.0]], dtype=torch.float64,
                        requires_grad=True)
    log_r = torch.tensor([[LN(1.2), LN(1.5), 0.0, 0.0, 0.0], [LN(0.5), 60.0, -60.0, 0.0, 0.0]], dtype=torch.float64)
    frac = torch.tensor([[0.1, 0.4, 0.2, 0.4, 0.0], [0.3, 9.0, 9.0, 9.0, 9.0]], dtype=torch.float64)
    return PolicyBatch(
        logp=logp,
        old_logp=(logp - log_r).detach(),
        advantages=torch.tensor([1.0, -1.0], dtype=torch.float64),
        mask=torch.tensor([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]),
        entropy=frac * logV,  # H = frac·log|V| with |V| = 100, so ε_τ = α·mean(frac)
    )


def test_espo_hand_computed_with_empty_group():
    # α = 0.5, |V| = 100, q = 0.2.
    # row 0 (Â=+1, n=5): n_top = round(0.2·5) = 1; H fracs [.1, .4, .2, .4, 0]: the tie .4/.4 goes to position 1.
    #   g0 = {1}: s = 1.5, ε = 0.5·0.4 = 0.2 → −min(1.5, 1.2) = −1.2 (clipped high)
    #   g1 = {0,2,3,4}: mean log r = ln1.2/4 → s = 1.2^(1/4) = 1.0466351; ε = 0.5·(.1+.2+.4+0)/4 = 0.0875
    #        s < 1.0875 → ℓ = −1.0466351 on each token
    #   row 0 = (−1.2 − 1.0466351)/2 = −1.1233175
    # row 1 (Â=−1, n=1): n < 2 → its only token in g1, g0 empty (skipped). s = 0.5, ε = 0.5·0.3 = 0.15
    #   −min(−0.5, −0.85) = 0.85 (clipped low); row 1 = 0.85
    # loss = (−1.1233175 + 0.85)/2 = −0.1366588
    b = espo_hand_batch()
    out = get_objective("espo", alpha=0.5, vocab_size=100)(b)
    s1 = 1.2 ** 0.25
    expected = ((-1.2 - s1) / 2 + 0.85) / 2
    assert out.loss.item() == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(-0.1366588, abs=1e-7)
    out.loss.backward()
    # only row 0's g1 tokens carry gradient: −Â·s · (1/4 in-group) · (1/2 groups) · (1/2 rows) = −s/16
    grad = torch.zeros(2, 5, dtype=torch.float64)
    grad[0, [0, 2, 3, 4]] = -s1 / 16
    assert torch.allclose(b.logp.grad, grad, atol=1e-12)
    assert torch.isfinite(b.logp.grad).all()
    m = out.metrics
    assert m["token_share/g0"] == pytest.approx(1 / 6) and m["token_share/g1"] == pytest.approx(5 / 6)
    assert m["eps/g0"] == pytest.approx(0.2) and m["eps/g1"] == pytest.approx((0.0875 + 0.15) / 2)
    assert m["clip_frac/g0"] == pytest.approx(1.0) and m["clip_frac/g1"] == pytest.approx(0.2)
    assert (m["clip_frac"], m["clip_frac_low"], m["clip_frac_high"]) == pytest.approx((2 / 6, 1 / 6, 1 / 6))
    assert "eps_low/g0" not in m
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())


def test_espo_eps_scales_with_entropy_and_vocab():
    b = espo_hand_batch()
    base = get_objective("espo", alpha=0.5, vocab_size=100)(b).metrics
    b2 = espo_hand_batch()
    b2.entropy = b2.entropy * 0.5
    half = get_objective("espo", alpha=0.5, vocab_size=100)(b2).metrics
    for k in (0, 1):
        assert half[f"eps/g{k}"] == pytest.approx(0.5 * base[f"eps/g{k}"])
    # ε ∝ 1/log|V|
    big = get_objective("espo", alpha=0.5, vocab_size=10_000)(espo_hand_batch()).metrics
    assert big["eps/g0"] == pytest.approx(base["eps/g0"] * LN(100) / LN(10_000))
    # α_high alone widens only the upper side: g0 (s = 1.5, Â > 0) unclips at ε_high ≥ 0.5
    asym = get_objective("espo", alpha=0.5, alpha_high=0.9, vocab_size=10_000)
    b3 = espo_hand_batch()
    b3.entropy = b3.entropy * LN(10_000) / LN(100) * 1.5  # g0 frac 0.6 → ε_high = 0.54, ε_low = 0.3
    m = asym(b3).metrics
    assert m["eps_high/g0"] == pytest.approx(0.54) and m["eps_low/g0"] == pytest.approx(0.3)
    assert m["clip_frac/g0"] == 0.0


@pytest.mark.parametrize("kwargs", [{}, {"alpha": 0.3, "alpha_high": 0.5}, {"num_groups": 3, "alpha": 0.2}])
def test_espo_sequence_and_token_advantages_agree(kwargs):
    # (B,) advantages take the group-level metric path, (B, T) ones the token-level path: same loss, grads, metrics
    b1 = random_batch(8, 24, seed=13, lo=-0.2, hi=0.2, dtype=torch.float64)
    b2 = random_batch(8, 24, seed=13, lo=-0.2, hi=0.2, dtype=torch.float64)
    b2.advantages = b2.advantages[:, None].expand(8, 24).clone()
    o1, o2 = get_objective("espo", **kwargs)(b1), get_objective("espo", **kwargs)(b2)
    o1.loss.backward()
    o2.loss.backward()
    assert o1.loss.item() == pytest.approx(o2.loss.item(), abs=1e-12)
    assert torch.allclose(b1.logp.grad, b2.logp.grad, atol=1e-12)
    assert o1.metrics.keys() == o2.metrics.keys()
    for k in o1.metrics:
        assert o1.metrics[k] == pytest.approx(o2.metrics[k], abs=1e-9), k
    assert 0.0 < o1.metrics["clip_frac"] < 1.0  # the draw clips some groups and not others


def test_espo_needs_entropy_and_validates():
    b = hand_batch()
    with pytest.raises(ValueError, match="entrop"):
        get_objective("espo")(b)
    for bad in ({"top_quantile": 0.0}, {"num_groups": 1}, {"alpha": -0.1}, {"vocab_size": 1}):
        with pytest.raises(ValueError):
            get_objective("espo", **bad)


def test_espo_three_groups_runs_and_reports_all_groups():
    b = random_batch(6, 20, seed=11, lo=-0.01, hi=0.01)
    m = get_objective("espo", num_groups=3)(b).metrics
    assert sum(m[f"token_share/g{k}"] for k in range(3)) == pytest.approx(1.0)
    assert all(f"clip_frac/g{k}" in m and f"eps/g{k}" in m for k in range(3))


# ---------------------------------------------------------------- EGSPO
def test_egspo_hand_computed():
    # valid H = [.1, .9, .3, .5, .7]; the 0.8 quantile (linear): sorted [.1, .3, .5, .7, .9], position 0.8·4 = 3.2
    #   → h = 0.7 + 0.2·(0.9 − 0.7) = 0.74. Only H = 0.9 (row 0, pos 1) keeps weight 1; the other 4 get φ = 0.1.
    # Per-token clipped loss (ε = 0.2): row 0 (Â=+1) [−1, −1.2 (clipped), −0.5]; row 1 (Â=−1) [0.8 (clipped), 1.5]
    # weighted: [−0.1, −1.2, −0.05, 0.08, 0.15] → sum −1.12 → token mean −0.224
    b = hand_batch(entropy=[[0.1, 0.9, 0.3], [0.5, 0.7, 99.0]])
    out = get_objective("egspo")(b)
    assert out.loss.item() == pytest.approx(-0.224, abs=1e-12)
    out.loss.backward()
    # ∂/∂logp = w·(−Â·r)/5 where unclipped: (0,0) −0.1·1/5; (0,2) −0.1·0.5/5; (1,1) +0.1·1.5/5; clipped tokens 0
    expected = torch.tensor([[-0.02, 0.0, -0.01], [0.0, 0.03, 0.0]], dtype=torch.float64)
    assert torch.allclose(b.logp.grad, expected, atol=1e-12)
    m = out.metrics
    assert m["entropy_threshold"] == pytest.approx(0.74)
    assert m["gated_frac"] == pytest.approx(0.8) and m["full_weight_frac"] == pytest.approx(0.2)
    assert m["mu"] == 0.0 and m["hybrid_active"] == 0.0 and "hybrid_loss" not in m
    assert (m["clip_frac_low"], m["clip_frac_high"]) == pytest.approx((0.2, 0.2))


def test_egspo_gated_fraction_tracks_quantile():
    g = torch.Generator().manual_seed(5)
    b = random_batch(32, 64, seed=5)
    b.entropy = torch.rand(32, 64, generator=g) * 4  # continuous: no ties
    for q in (0.1, 0.2, 0.5):
        m = get_objective("egspo", top_quantile=q)(b).metrics
        n = b.mask.sum().item()
        assert m["full_weight_frac"] == pytest.approx(q, abs=1.5 / n)  # top q share keeps full weight
        assert m["gated_frac"] == pytest.approx(1 - q, abs=1.5 / n)  # the rest is attenuated


@pytest.mark.parametrize("seed", [0, 1])
def test_egspo_phi_one_is_dapo_token_mean(seed):
    b1 = random_batch(6, 11, seed=seed, lo=-1.0, hi=1.0, dtype=torch.float64)
    b2 = random_batch(6, 11, seed=seed, lo=-1.0, hi=1.0, dtype=torch.float64)
    ours = get_objective("egspo", phi=1.0)(b1).loss
    dapo = get_objective("dapo", epsilon_high=0.2)(b2).loss
    ours.backward()
    dapo.backward()
    assert ours.item() == pytest.approx(dapo.item(), abs=1e-12)
    assert torch.allclose(b1.logp.grad, b2.logp.grad, atol=1e-12)


def test_egspo_mu_schedule_and_step_counter():
    obj = get_objective("egspo", mu_max=1.0, mu_warmup_steps=10, mu_total_steps=200)
    # warm-up: linear 0 → 1 over 10 steps; then cosine 1 → 0 over steps 10..200 (midpoint 105 → 0.5)
    assert obj.mu_at(0) == 0.0 and obj.mu_at(5) == pytest.approx(0.5) and obj.mu_at(10) == pytest.approx(1.0)
    assert obj.mu_at(105) == pytest.approx(0.5) and obj.mu_at(200) == 0.0 and obj.mu_at(500) == 0.0
    assert obj.mu_at(10 + 190 // 4) == pytest.approx(0.5 * (1 + math.cos(math.pi * 47 / 190)))
    assert get_objective("egspo").mu_at(50) == 0.0  # mu_max = 0 disables
    assert obj.state == {"step": 0}
    for _ in range(5):
        obj.on_step_end({})
    assert obj.state["step"] == 5
    b = hand_batch(entropy=[[0.1, 0.9, 0.3], [0.5, 0.7, 99.0]])
    m = obj(b).metrics
    assert m["mu"] == pytest.approx(0.5) and m["hybrid_active"] == 0.0  # no sft_logp → term skipped
    assert m["loss"] == pytest.approx(-0.224, abs=1e-12)
    # stage 1 (SFT warm-up) is a trainer setting (algo.trainer.sft_warmup_*), not a loss parameter
    assert "sft_warmup_steps" not in get_objective("egspo").params()


def test_egspo_hybrid_term_value_and_gradient():
    mu = 0.3
    g = torch.Generator().manual_seed(9)
    sft = (-torch.rand(3, 4, generator=g, dtype=torch.float64) * 3)
    sft_mask = lengths_mask([4, 2, 3], 4)
    sft = torch.where(sft_mask.bool(), sft, torch.full_like(sft, -math.inf))  # -inf junk at padded positions
    sft.requires_grad_(True)
    b = hand_batch(entropy=[[0.1, 0.9, 0.3], [0.5, 0.7, 99.0]])
    b.sft_logp, b.sft_mask = sft, sft_mask
    obj = get_objective("egspo", mu_max=mu, mu_warmup_steps=0)  # step 0 after a 0-step warm-up: μ = μ_max
    out = obj(b)
    out.loss.backward()
    n = sft_mask.sum().item()
    p = torch.where(sft_mask.bool(), sft.detach(), 0.0).exp()
    w = p * (1 - p)
    term = (-(w * torch.where(sft_mask.bool(), sft.detach(), 0.0))).sum() / n
    assert out.metrics["hybrid_active"] == 1.0 and out.metrics["mu"] == pytest.approx(mu)
    assert out.metrics["hybrid_loss"] == pytest.approx(term.item(), abs=1e-12)
    assert out.loss.item() == pytest.approx(-0.224 + mu * term.item(), abs=1e-12)
    # ∂/∂ log πθ(y*_t) = −μ·p(1−p)/n on valid reference tokens, 0 on padding
    expected = torch.where(sft_mask.bool(), -mu * w / n, 0.0)
    assert torch.allclose(sft.grad, expected, atol=1e-12)
    # the policy part is untouched by the hybrid term
    assert torch.allclose(b.logp.grad, torch.tensor([[-0.02, 0.0, -0.01], [0.0, 0.03, 0.0]], dtype=torch.float64))


# ---------------------------------------------------------------- VEPO
VEPO_H = [[1.0, 2.0, 3.0], [0.5, 3.5, 1e6]]


def test_vepo_hand_computed():
    # H̄ over valid = (1+2+3+0.5+3.5)/5 = 2; λ = 0.5, c = 0.5: f = clamp(1 + 0.5(H/2 − 1), 0.5, 1.5)
    #   = [0.75, 1, 1.25 | 0.625, 1.375] → A = [0.75, 1, 1.25 | −0.625, −1.375]
    # ε_low = 0.2, ε_high = 0.28, r = [1, 1.5, 0.5 | 0.5, 1.5]:
    #   (0,0) −0.75;  (0,1) −min(1.5, 1.28) = −1.28 (high);  (0,2) −min(0.625, 1.0) = −0.625
    #   (1,0) −min(−0.3125, −0.5) = 0.5 (low);  (1,1) −min(−2.0625, −1.76) = 2.0625
    # token mean = (−0.75 − 1.28 − 0.625 + 0.5 + 2.0625)/5 = −0.0925/5 = −0.0185
    b = hand_batch(entropy=VEPO_H)
    obj = get_objective("vepo")
    out = obj(b)
    assert out.loss.item() == pytest.approx(-0.0185, abs=1e-12)
    out.loss.backward()
    # unclipped tokens: ∂/∂logp = −A·r/5: (0,0) −0.75/5; (0,2) −1.25·0.5/5; (1,1) +1.375·1.5/5
    expected = torch.tensor([[-0.15, 0.0, -0.125], [0.0, 0.4125, 0.0]], dtype=torch.float64)
    assert torch.allclose(b.logp.grad, expected, atol=1e-12)
    m = out.metrics
    # spread: f mean 1, squared deviations .0625 + 0 + .0625 + .140625 + .140625 = .40625 → √(.40625/5) = 0.2850439
    assert m["adv_token_spread"] == pytest.approx(math.sqrt(0.40625 / 5))
    assert m["lambda"] == 0.5 and m["entropy_mean"] == pytest.approx(2.0) and "target_entropy" not in m
    assert (m["clip_frac_low"], m["clip_frac_high"]) == pytest.approx((0.2, 0.2))
    assert obj.state["last_entropy"] == pytest.approx(2.0)


def test_vepo_lambda_controller_sequence():
    obj = get_objective("vepo")  # λ0 = 0.5, η = 0.1, ρ = 0.8, λ_max = 2
    assert obj.state == {"lambda": 0.5, "H0": None, "target_entropy": None, "step": 0, "last_entropy": None}
    obj.on_step_end({})  # nothing seen yet: no update, step still counts
    assert obj.state["lambda"] == 0.5 and obj.state["H0"] is None and obj.state["step"] == 1
    # step 1: H̄ = 2 → H0 = 2, H* = 1.6; λ = 0.5 + 0.1·(1.6 − 2)/1.6 = 0.475
    obj.on_step_end({"entropy_mean": 2.0})
    assert (obj.state["H0"], obj.state["target_entropy"]) == pytest.approx((2.0, 1.6))
    assert obj.state["lambda"] == pytest.approx(0.475)
    # H̄ = 1 → + 0.1·0.6/1.6 = +0.0375 → 0.5125
    obj.on_step_end({"entropy_mean": 1.0})
    assert obj.state["lambda"] == pytest.approx(0.5125)
    # H̄ = H* → unchanged
    obj.on_step_end({"entropy_mean": 1.6})
    assert obj.state["lambda"] == pytest.approx(0.5125)
    # falls back to "entropy" (TRL's key): 0.8 → + 0.1·0.8/1.6 = +0.05 → 0.5625
    obj.on_step_end({"entropy": 0.8})
    assert obj.state["lambda"] == pytest.approx(0.5625)
    # falls back to the last batch entropy seen by __call__ (H̄ = 2) → − 0.025 → 0.5375
    out = obj(hand_batch(entropy=VEPO_H))
    assert out.metrics["lambda"] == pytest.approx(0.5625) and out.metrics["target_entropy"] == pytest.approx(1.6)
    obj.on_step_end({"loss": 0.1})
    assert obj.state["lambda"] == pytest.approx(0.5375) and obj.state["step"] == 6
    obj.on_step_end({"entropy_mean": float("nan")})  # non-finite: skipped
    assert obj.state["lambda"] == pytest.approx(0.5375)


def test_vepo_reads_trainer_log_keys_in_order():
    # vepo's trainer logs "objective/entropy_mean" and TRL's "entropy"; an explicit "entropy_mean" wins
    for metrics, h in [({"entropy_mean": 2.0, "objective/entropy_mean": 9.0, "entropy": 9.0}, 2.0),
                       ({"objective/entropy_mean": 2.0, "entropy": 9.0}, 2.0), ({"entropy": 2.0}, 2.0)]:
        obj = get_objective("vepo")
        obj.on_step_end(metrics)
        assert obj.state["H0"] == h


def test_vepo_lambda_clamps():
    obj = get_objective("vepo", eta=10.0)
    obj.on_step_end({"entropy_mean": 1.0})  # H* = 0.8; 0.5 + 10·(−0.25) < 0 → 0
    assert obj.state["lambda"] == 0.0
    obj.on_step_end({"entropy_mean": 5.0})
    assert obj.state["lambda"] == 0.0
    obj.on_step_end({"entropy_mean": 0.0})  # 0 + 10·1 → λ_max = 2
    assert obj.state["lambda"] == 2.0
    obj.on_step_end({"entropy_mean": 0.0})
    assert obj.state["lambda"] == 2.0
    # zero entropy at the first step cannot define H*: wait for a positive one
    z = get_objective("vepo")
    z.on_step_end({"entropy_mean": 0.0})
    assert z.state["H0"] is None and z.state["lambda"] == 0.5


def test_vepo_state_dict_round_trip():
    a = get_objective("vepo")
    a(hand_batch(entropy=VEPO_H))
    a.on_step_end({"entropy_mean": 2.0})
    a.on_step_end({"entropy_mean": 1.0})
    saved = a.state_dict()
    assert saved == a.state and saved is not a.state
    saved["lambda"] = 123.0  # a deep copy: editing it does not touch the live state
    assert a.state["lambda"] == pytest.approx(0.5125)
    saved["lambda"] = a.state["lambda"]
    b = get_objective("vepo")
    b.load_state_dict(saved)
    assert b.state == a.state and b.state is not saved
    for h in (1.2, 3.0):
        a.on_step_end({"entropy_mean": h})
        b.on_step_end({"entropy_mean": h})
    assert b.state == a.state
    la = a(hand_batch(entropy=VEPO_H)).loss.item()
    assert b(hand_batch(entropy=VEPO_H)).loss.item() == la
    # stateless objectives round-trip an empty state; egspo's step counter round-trips too
    e = get_objective("egspo")
    e.on_step_end({})
    e2 = get_objective("egspo")
    e2.load_state_dict(e.state_dict())
    assert e2.state == {"step": 1} and get_objective("gspo").state_dict() == {}


@pytest.mark.parametrize("seed", [0, 1])
def test_vepo_lambda_zero_is_dapo(seed):
    b1 = random_batch(6, 11, seed=seed, lo=-1.0, hi=1.0, dtype=torch.float64)
    b2 = random_batch(6, 11, seed=seed, lo=-1.0, hi=1.0, dtype=torch.float64)
    ours = get_objective("vepo", lambda_init=0.0)(b1).loss
    dapo = get_objective("dapo")(b2).loss
    ours.backward()
    dapo.backward()
    assert ours.item() == pytest.approx(dapo.item(), abs=1e-12)
    assert torch.allclose(b1.logp.grad, b2.logp.grad, atol=1e-12)


def test_vepo_zero_mean_entropy_means_no_tempering():
    b = hand_batch(entropy=[[0.0, 0.0, 0.0], [0.0, 0.0, 5.0]])  # only the padded position is nonzero
    m = get_objective("vepo")(b).metrics
    assert m["adv_token_spread"] == 0.0
    assert m["loss"] == pytest.approx(get_objective("dapo")(hand_batch()).loss.item(), abs=1e-12)


def test_vepo_entropy_bonus_needs_differentiable_entropy():
    assert not get_objective("vepo").needs().entropy_grad
    obj = get_objective("vepo", entropy_coef=0.1)
    assert obj.needs().entropy_grad
    base = get_objective("vepo")(hand_batch(entropy=VEPO_H)).loss.item()
    # before H* is known: no bonus
    m = obj(hand_batch(entropy=VEPO_H)).metrics
    assert m["entropy_bonus"] == 0.0 and m["entropy_bonus_active"] == 0.0
    obj.on_step_end({"entropy_mean": 4.0})  # H* = 3.2 > batch H̄ = 2 → gate open
    obj.state["lambda"] = 0.5  # keep the tempering identical to `base`
    # detached entropy: reported, not applied
    m = obj(hand_batch(entropy=VEPO_H)).metrics
    assert m["entropy_bonus"] == pytest.approx(0.2) and m["entropy_bonus_active"] == 0.0
    assert m["loss"] == pytest.approx(base, abs=1e-12)
    # differentiable entropy: loss −= 0.1·H̄, ∂loss/∂H_t = −0.1/5 on valid tokens
    b = hand_batch(entropy=VEPO_H)
    b.entropy.requires_grad_(True)
    out = obj(b)
    assert out.metrics["entropy_bonus_active"] == 1.0
    assert out.loss.item() == pytest.approx(base - 0.2, abs=1e-12)
    out.loss.backward()
    assert torch.allclose(b.entropy.grad, -0.02 * b.mask.double())
    # gate closed when H̄ ≥ H*
    obj.on_step_end({"entropy_mean": 1.0})
    obj.state["target_entropy"] = 1.0
    b = hand_batch(entropy=VEPO_H)
    b.entropy.requires_grad_(True)
    assert obj(b).metrics["entropy_bonus_active"] == 0.0


# ---------------------------------------------------------------- shared invariants
def _expected_on_policy_weights(name, entropy, mask, adv):
    """Each algorithm's policy-gradient weight: ∂loss/∂logp_{i,t} = −w_{i,t}·Â_i at logp == old."""
    B = mask.shape[0]
    m = mask.double()
    n = m.sum(-1, keepdim=True)
    if name == "gspo":  # seq_mean_token_mean; ∇s_i = mean_t ∇logp
        return m / (B * n.clamp(min=1))
    if name == "espo":  # 1/(B · G_i · |τ|)
        groups = reference_groups(entropy, mask, 0.2, 2)
        w = torch.zeros_like(m)
        for i in range(B):
            sizes = {k: int(((groups[i] == k) & mask[i].bool()).sum()) for k in (0, 1)}
            G = sum(1 for s in sizes.values() if s > 0)
            for t in range(mask.shape[1]):
                if mask[i, t]:
                    w[i, t] = 1.0 / (B * G * sizes[int(groups[i, t])])
        return w
    total = m.sum()
    if name == "egspo":  # w_t / Σm
        h = torch.quantile(entropy[mask.bool()], 0.8)
        return torch.where(entropy >= h, 1.0, 0.1) * m / total
    # vepo: tempered A_{i,t}/Σm, f = clamp(1 + 0.5(H/H̄ − 1), 0.5, 1.5)
    hbar = (entropy * m).sum() / total
    return (1 + 0.5 * (entropy / hbar - 1)).clamp(0.5, 1.5) * m / total


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("old_none", [False, True])
def test_on_policy_gradient_is_policy_gradient(name, old_none):
    B, T = 4, 6
    g = torch.Generator().manual_seed(7)
    logp = (-torch.rand(B, T, generator=g, dtype=torch.float64) * 3).requires_grad_(True)
    mask = lengths_mask([6, 3, 1, 0], T)  # unequal, with a length-1 and an empty completion
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    entropy = torch.rand(B, T, generator=g, dtype=torch.float64) * 2
    batch = PolicyBatch(logp=logp, old_logp=None if old_none else logp.detach().clone(), advantages=adv, mask=mask,
                        entropy=entropy)
    get_objective(name, beta=0.0)(batch).loss.backward()
    expected = -_expected_on_policy_weights(name, entropy, mask, adv) * adv[:, None]
    assert torch.allclose(logp.grad, expected, atol=1e-12)


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("case", ["wide_ratios", "all_masked_row", "all_masked_batch", "length_one", "zero_adv"])
def test_finite_loss_and_grad(name, case):
    if case == "wide_ratios":
        b = random_batch(8, 32, seed=1)
    elif case == "all_masked_row":
        mask = torch.ones(4, 6, dtype=torch.long)
        mask[2] = 0
        b = random_batch(4, 6, seed=2, mask=mask)
    elif case == "all_masked_batch":
        b = random_batch(3, 5, seed=3, mask=torch.zeros(3, 5, dtype=torch.long))
    elif case == "length_one":
        b = random_batch(5, 1, seed=4, mask=torch.ones(5, 1, dtype=torch.long))
    else:
        b = random_batch(4, 6, seed=5)
        b.advantages = torch.zeros(4)  # a group whose rewards are all equal
    obj = get_objective(name, beta=0.04)
    out = obj(b)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert torch.isfinite(b.logp.grad).all()
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.metrics.values()), out.metrics
    obj.on_step_end(out.metrics)
    assert all(v is None or math.isfinite(v) for v in obj.state.values() if not isinstance(v, int))
    if case == "all_masked_batch":
        assert out.loss.item() == 0.0 and torch.equal(b.logp.grad, torch.zeros_like(b.logp))
    if case == "zero_adv":  # Â = 0 and β = 0: no policy signal at all, exactly
        b2 = random_batch(4, 6, seed=5)
        b2.advantages = torch.zeros(4)  # a group whose rewards are all equal
        out2 = get_objective(name)(b2)
        out2.loss.backward()
        assert out2.loss.item() == 0.0 and torch.equal(b2.logp.grad, torch.zeros_like(b2.logp))


@pytest.mark.parametrize("name", ["espo", "egspo", "vepo"])
def test_entropy_objectives_require_entropy(name):
    with pytest.raises(ValueError, match="entrop"):
        get_objective(name)(hand_batch())


def test_registry_new_names_and_defaults():
    names = list_objectives()
    assert set(NEW) <= set(names)
    for name in NEW:
        with pytest.raises(ValueError) as e:
            get_objective(name, bad_param=1)
        assert "'bad_param'" in str(e.value) and "\n" not in str(e.value)
    gspo = get_objective("gspo")
    assert (gspo.epsilon_low, gspo.epsilon_high, gspo.beta, gspo.aggregation, gspo.advantage) == (
        3e-4, 4e-4, 0.0, "seq_mean_token_mean", "group")
    espo = get_objective("espo")
    assert (espo.top_quantile, espo.num_groups, espo.alpha, espo.alpha_low, espo.alpha_high, espo.vocab_size,
            espo.beta) == (0.2, 2, 0.02, None, None, 151936, 0.0)
    eg = get_objective("egspo")
    assert (eg.top_quantile, eg.phi, eg.epsilon_low, eg.epsilon_high, eg.aggregation, eg.beta, eg.mu_max,
            eg.mu_warmup_steps, eg.mu_total_steps) == (0.2, 0.1, 0.2, 0.2, "token_mean", 0.0, 0.0, 10, 200)
    v = get_objective("vepo")
    assert (v.epsilon_low, v.epsilon_high, v.aggregation, v.beta, v.lambda_init, v.lambda_max, v.eta, v.rho,
            v.temper_clip, v.entropy_coef) == (0.2, 0.28, "token_mean", 0.0, 0.5, 2.0, 0.1, 0.8, 0.5, 0.0)
    assert not any(get_objective(n).needs().ref_logp for n in NEW) and get_objective("gspo", beta=0.1).needs().ref_logp
    for name, bad in [("egspo", {"phi": 1.5}), ("egspo", {"mu_total_steps": 5}), ("vepo", {"lambda_init": 3.0}),
                      ("vepo", {"temper_clip": 1.0}), ("gspo", {"epsilon_low": 1.0})]:
        with pytest.raises(ValueError):
            get_objective(name, **bad)
