"""DPPO family (dppo_binary_tv/_kl, dppo_topk_tv/_kl) and DPPO-AV: hand-computed masks and losses, top-K divergences,
on-policy identity, finiteness, rarity table. Pure CPU, fast."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vepo.objectives import PolicyBatch, get_objective, list_objectives
from vepo.objectives.divergence import binary_kl, binary_tv, topk_distributions, topk_kl, topk_tv
from vepo.objectives.rarity import (
    COMMON,
    NEW,
    RARE,
    load_rarity_table,
    rarity_bucket,
    rarity_from_counts,
    save_rarity_table,
    token_counts,
)

DPPO_NAMES = ["dppo_binary_tv", "dppo_binary_kl", "dppo_topk_tv", "dppo_topk_kl"]
ALL_NAMES = DPPO_NAMES + ["dppo_av"]
L = math.log


# ---------------------------------------------------------------- hand-computed binary example
# 2×3 batch, L_max = 4 → normaliser B·L_max = 8. (m = rollout prob, p = current prob) of the sampled tokens:
#   row 0 (Â=+1): t0 (0.01, 0.12)  t1 (0.2, 0.4)  t2 (0.6, 0.3)
#   row 1 (Â=−1): t0 (0.5, 0.2)    t1 (0.1, 0.4)  t2 padding (junk)
M = [[0.01, 0.2, 0.6], [0.5, 0.1, 0.5]]
P = [[0.12, 0.4, 0.3], [0.2, 0.4, 0.5]]


def hand_batch() -> PolicyBatch:
    logp = torch.tensor(P, dtype=torch.float64).log()
    old = torch.tensor(M, dtype=torch.float64).log()
    logp[1, 2], old[1, 2] = 40.0, -80.0  # junk at the padding position
    return PolicyBatch(
        logp=logp.requires_grad_(True),
        old_logp=old,
        advantages=torch.tensor([1.0, -1.0], dtype=torch.float64),
        mask=torch.tensor([[1, 1, 1], [1, 1, 0]]),
    )


def test_binary_tv_hand_computed():
    # D = |p − m| = [0.11, 0.2, 0.3 | 0.3, 0.3], δ = 0.15.
    #   row 0 (Â>0, masked iff D > 0.15 and p > m): t0 D=0.11 kept; t1 D=0.2, p>m → MASKED; t2 D=0.3 but p<m → kept
    #   row 1 (Â<0, masked iff D > 0.15 and p < m): t0 D=0.3, p<m → MASKED; t1 D=0.3 but p>m → kept
    # ρ = min(p/m, 10) = [min(12, 10)=10, 2, 0.5 | 0.4, 4]
    # ℓ = −Â ρ valid logp:  row 0: −10·ln 0.12 = 21.202641, 0, −0.5·ln 0.3 = 0.601986
    #                       row 1: 0, +4·ln 0.4 = −3.665163
    # loss = (21.202641 + 0.601986 − 3.665163) / 8 = 18.139459 / 8 = 2.267432
    b = hand_batch()
    out = get_objective("dppo_binary_tv", max_completion_length=4)(b)
    expected = (-10 * L(0.12) - 0.5 * L(0.3) + 4 * L(0.4)) / 8
    assert out.loss.item() == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(2.2674324, abs=1e-6)
    out.loss.backward()
    # ∇ℓ = −Â ρ valid / 8
    grad = torch.tensor([[-10 / 8, 0.0, -0.5 / 8], [0.0, 4 / 8, 0.0]], dtype=torch.float64)
    assert torch.allclose(b.logp.grad, grad, atol=1e-12)
    m = out.metrics
    assert m["masked_frac"] == pytest.approx(2 / 5)
    assert m["masked_frac_pos"] == pytest.approx(1 / 3) and m["masked_frac_neg"] == pytest.approx(1 / 2)
    assert m["div_mean"] == pytest.approx((0.11 + 0.2 + 0.3 + 0.3 + 0.3) / 5)  # 0.242
    assert m["ratio_mean"] == pytest.approx((10 + 2 + 0.5 + 0.4 + 4) / 5)  # 3.38, capped ρ
    assert m["loss"] == pytest.approx(expected)
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())


def test_binary_kl_hand_computed():
    # D = m ln(m/p) + (1−m) ln((1−m)/(1−p))  (the 1e-8 terms move these by < 1e-7), δ = 0.05:
    #   (0.01, 0.12): 0.01 ln(1/12) + 0.99 ln(0.99/0.88) = −0.024849 + 0.116605 = 0.091756 > δ, p>m, Â>0 → MASKED
    #       (TV kept this token: a rare token's probability rising 12× is a small TV step but a large KL step)
    #   (0.2, 0.4):   0.2 ln 0.5 + 0.8 ln(0.8/0.6)    = −0.138629 + 0.230146 = 0.091516 → MASKED (p>m, Â>0)
    #   (0.6, 0.3):   0.6 ln 2 + 0.4 ln(0.4/0.7)      =  0.415888 − 0.223846 = 0.192042 → kept (p<m, Â>0)
    #   (0.5, 0.2):   0.5 ln 2.5 + 0.5 ln(0.5/0.8)    =  0.458145 − 0.235002 = 0.223144 → MASKED (p<m, Â<0)
    #   (0.1, 0.4):   0.1 ln 0.25 + 0.9 ln(0.9/0.6)   = −0.138629 + 0.364919 = 0.226289 → kept (p>m, Â<0)
    # loss = (−0.5·ln 0.3 + 4·ln 0.4) / 8 = (0.601986 − 3.665163) / 8 = −0.382897
    b = hand_batch()
    out = get_objective("dppo_binary_kl", max_completion_length=4)(b)
    expected = (-0.5 * L(0.3) + 4 * L(0.4)) / 8
    assert out.loss.item() == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(-0.3828971, abs=1e-6)
    out.loss.backward()
    grad = torch.tensor([[0.0, 0.0, -0.5 / 8], [0.0, 4 / 8, 0.0]], dtype=torch.float64)
    assert torch.allclose(b.logp.grad, grad, atol=1e-12)
    m = out.metrics
    assert m["masked_frac"] == pytest.approx(3 / 5)
    assert m["masked_frac_pos"] == pytest.approx(2 / 3) and m["masked_frac_neg"] == pytest.approx(1 / 2)
    kls = [0.0917561, 0.0915162, 0.1920420, 0.2231436, 0.2262892]
    assert m["div_mean"] == pytest.approx(sum(kls) / 5, abs=1e-6)


def test_binary_divergences_finite_at_the_edges():
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.3, 1e-30, 0.5])
    m = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.3, 0.5, 1e-30])
    kl = binary_kl(p, m)
    assert torch.isfinite(kl).all() and (kl >= 0).all()
    assert kl[0] == 0.0 and kl[4].item() == pytest.approx(0.0, abs=1e-6)
    assert kl[2] > 10 and kl[3] > 10  # certain moves are far outside any trust region
    assert torch.equal(binary_tv(p, m), (p - m).abs())
    # exact formula in the interior
    assert binary_kl(torch.tensor(0.4, dtype=torch.float64), torch.tensor(0.2, dtype=torch.float64)).item() == \
        pytest.approx(0.2 * L(0.5) + 0.8 * L(0.8 / 0.6), abs=1e-7)


# ---------------------------------------------------------------- top-K
# V = 6. Rollout m = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04], current q = [0.3, 0.3, 0.1, 0.2, 0.05, 0.05];
# K = 3 → ids 0, 1, 2.
M_FULL = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04], dtype=torch.float64)
Q_FULL = torch.tensor([0.3, 0.3, 0.1, 0.2, 0.05, 0.05], dtype=torch.float64)


def topk_batch(tokens, adv=1.0) -> PolicyBatch:
    """1×len(tokens) batch whose rollout/current top-3 come from M_FULL / Q_FULL."""
    T = len(tokens)
    ids = torch.tensor(tokens)[None]
    top = torch.tensor([0, 1, 2]).expand(1, T, 3)
    return PolicyBatch(
        logp=Q_FULL.log()[ids].clone().requires_grad_(True),
        old_logp=M_FULL.log()[ids],
        advantages=torch.tensor([adv], dtype=torch.float64),
        mask=torch.ones(1, T, dtype=torch.long),
        token_ids=ids,
        old_topk_logp=M_FULL.log()[top],
        old_topk_ids=top,
        cur_topk_logp=Q_FULL.log()[top],
    )


def test_topk_forced_token_and_rest_bucket():
    b = topk_batch([3, 1])
    m, q, m_rest, q_rest = topk_distributions(
        b.old_topk_logp, b.old_topk_ids, b.cur_topk_logp, b.token_ids, b.old_logp, b.logp.detach()
    )
    # token 3 is absent from the top-3: it replaces the last entry (id 2) → m = [.4, .25, .1], q = [.3, .3, .2]
    assert torch.allclose(m[0, 0], torch.tensor([0.4, 0.25, 0.1], dtype=torch.float64))
    assert torch.allclose(q[0, 0], torch.tensor([0.3, 0.3, 0.2], dtype=torch.float64))
    # rest = 1 − Σ: m_rest = 0.25, q_rest = 0.2
    assert m_rest[0, 0].item() == pytest.approx(0.25) and q_rest[0, 0].item() == pytest.approx(0.2)
    # token 1 is present: the top-3 stay as they are, rest m = 0.2, q = 0.3
    assert torch.allclose(m[0, 1], M_FULL[:3]) and torch.allclose(q[0, 1], Q_FULL[:3])
    assert m_rest[0, 1].item() == pytest.approx(0.2) and q_rest[0, 1].item() == pytest.approx(0.3)
    tv = topk_tv(m, q, m_rest, q_rest)[0]
    kl = topk_kl(m, q, m_rest, q_rest)[0]
    # TV: ½(0.1 + 0.05 + 0.1 + 0.05) = 0.15  and  ½(0.1 + 0.05 + 0.05 + 0.1) = 0.15
    assert torch.allclose(tv, torch.tensor([0.15, 0.15], dtype=torch.float64))
    # KL, token 3: 0.4 ln(4/3) + 0.25 ln(0.25/0.3) + 0.1 ln 0.5 + 0.25 ln 1.25 = 0.055964
    #     token 1: 0.4 ln(4/3) + 0.25 ln(0.25/0.3) + 0.15 ln 1.5 + 0.2 ln(2/3) = 0.049219
    kl3 = 0.4 * L(4 / 3) + 0.25 * L(0.25 / 0.3) + 0.1 * L(0.5) + 0.25 * L(1.25)
    kl1 = 0.4 * L(4 / 3) + 0.25 * L(0.25 / 0.3) + 0.15 * L(1.5) + 0.2 * L(2 / 3)
    assert kl.tolist() == pytest.approx([kl3, kl1], abs=1e-9)
    # through the objective (top_k 3): div_mean is the mean over the two tokens
    assert get_objective("dppo_topk_tv", top_k=3)(b).metrics["div_mean"] == pytest.approx(0.15)
    assert get_objective("dppo_topk_kl", top_k=3)(b).metrics["div_mean"] == pytest.approx((kl3 + kl1) / 2)
    # KL 0.055964 > 0.05 and p > m for token 3 (Â > 0): masked; token 1 (0.049219) kept
    out = get_objective("dppo_topk_kl", top_k=3, max_completion_length=4)(b)
    assert out.metrics["masked_frac"] == pytest.approx(0.5)
    out.loss.backward()
    assert b.logp.grad[0, 0] == 0.0 and b.logp.grad[0, 1].item() == pytest.approx(-(0.3 / 0.25) / 4)


def _random_topk(B, T, V, K, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    old_full = torch.log_softmax(torch.randn(B, T, V, generator=g, dtype=torch.float64) * scale, -1)
    cur_full = torch.log_softmax(torch.randn(B, T, V, generator=g, dtype=torch.float64) * scale, -1)
    tokens = torch.randint(0, V, (B, T), generator=g)
    old_topk_logp, old_topk_ids = old_full.topk(min(K, V), dim=-1)
    return old_full, cur_full, tokens, old_topk_logp, old_topk_ids, cur_full.gather(-1, old_topk_ids)


@pytest.mark.parametrize("seed,scale", [(0, 1.0), (1, 5.0), (2, 30.0)])
def test_topk_tv_in_unit_interval_and_kl_nonnegative(seed, scale):
    old_full, cur_full, tokens, otl, oti, ctl = _random_topk(6, 7, 40, 5, seed, scale)
    for dtype in (torch.float64, torch.float32):
        m, q, mr, qr = topk_distributions(
            otl.to(dtype), oti, ctl.to(dtype), tokens,
            old_full.gather(-1, tokens[..., None])[..., 0].to(dtype),
            cur_full.gather(-1, tokens[..., None])[..., 0].to(dtype),
        )
        assert (mr >= 0).all() and (qr >= 0).all()
        tv, kl = topk_tv(m, q, mr, qr), topk_kl(m, q, mr, qr)
        assert torch.isfinite(tv).all() and (tv >= 0).all() and (tv <= 1).all()
        assert torch.isfinite(kl).all() and (kl >= 0).all()
        # the sampled token is always one of the compared entries
        present = (oti == tokens[..., None]).any(-1)
        m_tok = old_full.gather(-1, tokens[..., None])[..., 0].exp().to(dtype)
        assert torch.allclose(torch.where(present, m_tok, m[..., -1]), m_tok)


def test_topk_covering_the_whole_vocab_is_full_tv_and_kl():
    # V = 5 ≤ K = 5: the top-K is the whole vocabulary, so rest = 0 and TV = ½ Σ_v |m_v − q_v| exactly.
    B, T, V = 3, 4, 5
    old_full, cur_full, tokens, otl, oti, ctl = _random_topk(B, T, V, V, seed=3)
    m_full, q_full = old_full.exp(), cur_full.exp()
    full_tv = 0.5 * (m_full - q_full).abs().sum(-1)
    full_kl = (m_full * (old_full - cur_full)).sum(-1)
    m, q, mr, qr = topk_distributions(otl, oti, ctl, tokens, old_full.gather(-1, tokens[..., None])[..., 0],
                                      cur_full.gather(-1, tokens[..., None])[..., 0])
    assert torch.allclose(mr, torch.zeros_like(mr), atol=1e-12) and torch.allclose(qr, torch.zeros_like(qr), atol=1e-12)
    assert torch.allclose(topk_tv(m, q, mr, qr), full_tv, atol=1e-12)
    assert torch.allclose(topk_kl(m, q, mr, qr), full_kl, atol=1e-12)
    batch = PolicyBatch(
        logp=cur_full.gather(-1, tokens[..., None])[..., 0].requires_grad_(True),
        old_logp=old_full.gather(-1, tokens[..., None])[..., 0],
        advantages=torch.randn(B, dtype=torch.float64), mask=torch.ones(B, T), token_ids=tokens,
        old_topk_logp=otl, old_topk_ids=oti, cur_topk_logp=ctl,
    )
    out = get_objective("dppo_topk_tv", top_k=V)(batch)
    assert out.metrics["div_mean"] == pytest.approx(full_tv.mean().item(), abs=1e-12)
    # vocabulary smaller than top_k (K = V < 20) is accepted; wider than top_k is a wiring bug
    assert get_objective("dppo_topk_tv")(batch).metrics["div_mean"] == pytest.approx(full_tv.mean().item())
    with pytest.raises(ValueError, match="top_k"):
        get_objective("dppo_topk_tv", top_k=3)(batch)


@pytest.mark.parametrize("name", ["dppo_topk_tv", "dppo_topk_kl"])
def test_topk_missing_tensors_are_named(name):
    b = topk_batch([3, 1])
    b.cur_topk_logp = None
    b.token_ids = None
    with pytest.raises(ValueError, match="missing: token_ids, cur_topk_logp|missing: cur_topk_logp, token_ids"):
        get_objective(name)(b)
    b = topk_batch([3, 1])
    b.old_topk_ids = b.old_topk_ids[..., :2]
    with pytest.raises(ValueError, match=r"\(B, T, K\)"):
        get_objective(name)(b)


# ---------------------------------------------------------------- helpers for the shared invariants
def _table_objective(name, **params):
    obj = get_objective(name, **params)
    if name == "dppo_av":
        counts = torch.arange(12) % 5  # ids 0, 5, 10 unseen
        obj.set_token_rarity(rarity_from_counts(counts), counts)
    return obj


def random_batch(B, T, seed, V=12, K=4, lo=-50.0, hi=50.0, mask=None, adv=None) -> PolicyBatch:
    """Top-K tensors from random full softmaxes over V; the sampled token's log-ratios spread over [lo, hi]."""
    g = torch.Generator().manual_seed(seed)
    old_full, cur_full, tokens, otl, oti, ctl = _random_topk(B, T, V, K, seed, scale=8.0)
    old_full, cur_full, otl, ctl = (x.float() for x in (old_full, cur_full, otl, ctl))
    logp = cur_full.gather(-1, tokens[..., None])[..., 0]
    log_r = torch.rand(B, T, generator=g) * (hi - lo) + lo
    if mask is None:
        mask = (torch.rand(B, T, generator=g) < 0.7).long()
    return PolicyBatch(
        logp=logp.clone().requires_grad_(True),
        old_logp=(logp - log_r).detach(),
        advantages=torch.randn(B, generator=g) if adv is None else adv,
        mask=mask,
        entropy=torch.rand(B, T, generator=g) * 3,
        token_ids=tokens,
        old_topk_logp=otl, old_topk_ids=oti, cur_topk_logp=ctl,
    )


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("case", ["wide_ratios", "all_masked_row", "all_masked_batch", "zero_adv", "length_one"])
def test_finite_loss_and_grad(name, case):
    if case == "wide_ratios":
        b = random_batch(8, 16, seed=1)
        b.logp.data[~b.mask.bool()] = 40.0  # junk log-probs at padding
    elif case == "all_masked_row":
        mask = torch.ones(4, 6, dtype=torch.long)
        mask[2] = 0
        b = random_batch(4, 6, seed=2, mask=mask)
    elif case == "all_masked_batch":
        b = random_batch(3, 5, seed=3, mask=torch.zeros(3, 5, dtype=torch.long))
    elif case == "zero_adv":
        b = random_batch(4, 5, seed=4, adv=torch.zeros(4))
    else:
        b = random_batch(5, 1, seed=5, mask=torch.ones(5, 1, dtype=torch.long))
    modes = ["frequency", "entropy", "combined"] if name == "dppo_av" else [None]
    for mode in modes:
        b.logp.grad = None
        obj = _table_objective(name, **({"mode": mode} if mode else {}))
        out = obj(b)
        assert torch.isfinite(out.loss)
        out.loss.backward()
        assert torch.isfinite(b.logp.grad).all()
        assert all(isinstance(v, float) and math.isfinite(v) for v in out.metrics.values()), out.metrics
        if case in ("all_masked_batch", "zero_adv"):
            assert out.loss.item() == 0.0 and torch.equal(b.logp.grad, torch.zeros_like(b.logp))


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("old_none", [False, True])
def test_on_policy_gradient_is_policy_gradient(name, old_none):
    B, T, L_max = 4, 6, 10
    b = random_batch(B, T, seed=7, mask=(torch.arange(T)[None, :] < torch.tensor([6, 3, 1, 0])[:, None]).long())
    b.logp = b.logp.detach().double().requires_grad_(True)
    b.old_logp = None if old_none else b.logp.detach().clone()
    b.cur_topk_logp = b.old_topk_logp.clone()  # same policy: q == m everywhere
    b.advantages = torch.randn(B, dtype=torch.float64)
    out = _table_objective(name, max_completion_length=L_max)(b)
    assert out.metrics["masked_frac"] == 0.0 and out.metrics["div_mean"] == pytest.approx(0.0, abs=1e-6)
    assert out.metrics["ratio_mean"] == pytest.approx(1.0 if b.mask.any() else 0.0)
    out.loss.backward()
    expected = -b.advantages[:, None] * b.mask / (B * L_max)
    assert torch.allclose(b.logp.grad, expected, atol=1e-12)


def test_beta_adds_k3_and_needs_ref():
    b = hand_batch()
    obj = get_objective("dppo_binary_tv", beta=0.1, max_completion_length=4)
    assert obj.needs().ref_logp and not get_objective("dppo_binary_tv").needs().ref_logp
    with pytest.raises(ValueError, match="ref_logp"):
        obj(b)
    b.ref_logp = b.logp.detach().clone()  # k3 = 0 where ref == logp
    assert obj(b).loss.item() == pytest.approx(get_objective("dppo_binary_tv", max_completion_length=4)(b).loss.item())


# ---------------------------------------------------------------- rarity
def test_rarity_from_counts_known_values():
    counts = torch.tensor([0, 5, 3, 3, 10, 1, 0])
    # seen n = 5; decreasing counts 10, 5, 3, 3, 1 → ranks 1, 2, 3.5 (tie of ranks 3 and 4), 3.5, 5
    # r = (rank − 1)/n = 0, 0.2, 0.5, 0.5, 0.8; unseen → 1
    r = rarity_from_counts(counts)
    assert r.dtype == torch.float32
    assert torch.allclose(r, torch.tensor([1.0, 0.2, 0.5, 0.5, 0.0, 0.8, 1.0]))
    assert torch.equal(rarity_bucket(r, counts), torch.tensor([NEW, COMMON, COMMON, COMMON, COMMON, RARE, NEW]))
    assert torch.equal(rarity_bucket(r), rarity_bucket(r, counts))  # r == 1 ⟺ unseen
    assert torch.equal(rarity_bucket(r, counts, rare_threshold=0.5)[2], torch.tensor(RARE))
    assert torch.equal(rarity_from_counts(torch.zeros(4, dtype=torch.long)), torch.ones(4))
    assert torch.equal(rarity_from_counts(torch.tensor([0, 7])), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError):
        rarity_from_counts(torch.tensor([1, -1]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=30))
def test_rarity_properties(counts_list):
    counts = torch.tensor(counts_list)
    r = rarity_from_counts(counts)
    assert ((r >= 0) & (r <= 1)).all()
    assert (r[counts == 0] == 1.0).all() and (r[counts > 0] < 1.0).all()
    for i in range(len(counts_list)):
        for j in range(len(counts_list)):
            if counts_list[i] > counts_list[j]:
                assert r[i] < r[j]  # strictly rarer when strictly less frequent
            elif counts_list[i] == counts_list[j]:
                assert r[i] == r[j]
    top = counts.max()
    if top > 0 and (counts == top).sum() == 1:
        assert r[counts.argmax()] == 0.0


def test_token_counts():
    counts = token_counts([[1, 2, 2], torch.tensor([2, 4]), []], vocab_size=6)
    assert counts.dtype == torch.long and counts.tolist() == [0, 1, 3, 0, 1, 0]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        token_counts([[6]], vocab_size=6)


def test_rarity_table_round_trip(tmp_path):
    counts = torch.tensor([0, 5, 3, 3, 10, 1, 0])
    meta = {"tokenizer": "tiny", "vocab_size": 7, "corpus": {"name": "toy", "n": 64}}
    path = tmp_path / "cache" / "rarity.safetensors"
    save_rarity_table(path, counts, meta)
    got, got_meta = load_rarity_table(path)
    assert torch.equal(got, counts) and got.dtype == torch.long and got_meta == meta
    save_rarity_table(path, counts * 2, {"v": 2})  # overwrite in place
    assert torch.equal(load_rarity_table(path)[0], counts * 2)
    assert sorted(p.name for p in path.parent.iterdir()) == ["rarity.safetensors"]  # no temp files left
    (tmp_path / "bad.safetensors").write_bytes(b"not a table")
    with pytest.raises(ValueError, match="malformed rarity table"):
        load_rarity_table(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError):
        load_rarity_table(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="JSON"):
        save_rarity_table(tmp_path / "x.safetensors", counts, {"bad": object()})


# ---------------------------------------------------------------- DPPO-AV
def av_with_rarity(r_per_id, **params):
    obj = get_objective("dppo_av", **params)
    obj.set_token_rarity(torch.tensor(r_per_id))
    return obj


def one_row(p, m, token_ids, adv=1.0, entropy=None):
    return PolicyBatch(
        logp=torch.tensor([p], dtype=torch.float64).log().requires_grad_(True),
        old_logp=torch.tensor([m], dtype=torch.float64).log(),
        advantages=torch.tensor([adv], dtype=torch.float64),
        mask=torch.ones(1, len(p), dtype=torch.long),
        token_ids=torch.tensor([token_ids]),
        entropy=None if entropy is None else torch.tensor([entropy], dtype=torch.float64),
    )


def test_frequency_thresholds_grow_with_rarity_and_clamp():
    r = [0.0, 0.2, 0.5, 0.8, 1.0]
    b = one_row([0.5] * 6, [0.5] * 6, [0, 1, 2, 3, 4, 99])  # id 99 is beyond the table: never seen, r = 1
    # κ = 1: 0.15·(1 + r) = 0.15, 0.18, 0.225, 0.27, 0.3, 0.3; δ_low unchanged
    low, high = av_with_rarity(r).thresholds(b)
    assert torch.allclose(high[0], torch.tensor([0.15, 0.18, 0.225, 0.27, 0.3, 0.3], dtype=torch.float64))
    assert torch.equal(low, torch.full_like(low, 0.15))
    # κ = 3: 0.15·(1 + 3r) = 0.15, 0.24, then clamped at δ_max = 0.3
    _, high = av_with_rarity(r, kappa=3.0).thresholds(b)
    assert torch.allclose(high[0], torch.tensor([0.15, 0.24, 0.3, 0.3, 0.3, 0.3], dtype=torch.float64))
    _, high = av_with_rarity(r, kappa=3.0, delta_max=0.2).thresholds(b)
    assert torch.allclose(high[0], torch.tensor([0.15, 0.2, 0.2, 0.2, 0.2, 0.2], dtype=torch.float64))
    assert (high[0].diff() >= 0).all()
    kl = get_objective("dppo_av", divergence="binary_kl")
    assert (kl.delta_low, kl.delta_high, kl.delta_max) == (0.05, 0.05, 0.1)


def test_kappa_zero_equals_dppo_binary_tv_exactly():
    for seed in range(3):
        b1, b2 = random_batch(6, 9, seed=seed, lo=-2, hi=2), random_batch(6, 9, seed=seed, lo=-2, hi=2)
        av = _table_objective("dppo_av", kappa=0.0)
        o1, o2 = av(b1), get_objective("dppo_binary_tv")(b2)
        assert 0 < o2.metrics["masked_frac"] < 1
        assert torch.equal(o1.loss, o2.loss)
        o1.loss.backward()
        o2.loss.backward()
        assert torch.equal(b1.logp.grad, b2.logp.grad)
        assert {k: v for k, v in o1.metrics.items() if k in o2.metrics} == o2.metrics


def test_rare_token_masked_by_dppo_is_kept_by_dppo_av():
    # Both tokens: m = 0.2 → p = 0.4, Â > 0: TV 0.2 > 0.15 and p > m, so DPPO masks both.
    # Token 0 is rare (r = 0.8): δ_high,t = 0.15·1.8 = 0.27 > 0.2 → kept. Token 1 is common (r = 0): δ = 0.15 → masked.
    b = one_row([0.4, 0.4], [0.2, 0.2], [0, 1])
    counts = torch.tensor([1, 9, 5, 4, 3])  # r = [0.8, 0, 0.2, 0.4, 0.6]
    rarity = rarity_from_counts(counts)
    assert rarity[:2].tolist() == pytest.approx([0.8, 0.0])
    assert get_objective("dppo_binary_tv")(b).metrics["masked_frac"] == 1.0
    av = get_objective("dppo_av", max_completion_length=4)
    av.set_token_rarity(rarity, counts)
    out = av(b)
    assert out.metrics["masked_frac"] == 0.5
    assert out.metrics["masked_frac/rare"] == 0.0 and out.metrics["masked_frac/common"] == 1.0
    assert "masked_frac/new" not in out.metrics  # no token in that bucket: not reported
    assert out.metrics["delta_high_mean"] == pytest.approx((0.27 + 0.15) / 2)
    out.loss.backward()
    assert b.logp.grad[0].tolist() == pytest.approx([-2.0 / 4, 0.0])  # ρ = 2, Â = 1, B·L_max = 4


def test_entropy_mode_thresholds_and_clamp():
    # H = [0.25, 1, 4 | padding 1e6]; H̄ over the 3 completion tokens = 5.25/3 = 1.75
    # factors √(H/H̄) = 0.378 → clamped 0.5, 0.755929, 1.511858
    b = one_row([0.5] * 4, [0.5] * 4, [0, 1, 2, 3], entropy=[0.25, 1.0, 4.0, 1e6])
    b.mask[0, 3] = 0
    obj = get_objective("dppo_av", mode="entropy")
    low, high = obj.thresholds(b)
    f = [0.5, math.sqrt(1 / 1.75), math.sqrt(4 / 1.75)]
    assert high[0].tolist() == pytest.approx([0.15 * x for x in f] + [0.15])
    assert low[0].tolist() == pytest.approx([0.15 * x for x in f] + [0.15])
    # wild entropies stay within [0.5δ, 2δ]
    g = torch.Generator().manual_seed(0)
    b = random_batch(5, 20, seed=0)
    b.entropy = torch.exp(torch.randn(5, 20, generator=g) * 6)
    low, high = get_objective("dppo_av", mode="entropy", divergence="binary_kl").thresholds(b)
    assert ((high >= 0.025 - 1e-9) & (high <= 0.1 + 1e-9)).all() and ((low >= 0.025 - 1e-9) & (low <= 0.1 + 1e-9)).all()
    assert (high == 0.025).any() and (high == 0.1).any()
    # all-zero entropy: factor 1
    b.entropy = torch.zeros(5, 20)
    low, high = obj.thresholds(b)
    assert torch.allclose(high, torch.full_like(high, 0.15)) and torch.allclose(low, torch.full_like(low, 0.15))
    b.entropy = None
    with pytest.raises(ValueError, match="entropy"):
        obj(b)


def test_combined_mode():
    # token 0: r = 1, H/H̄ = 4/2.5 → δ_high = 0.15·2·√1.6 = 0.379 → clamped to δ_max = 0.3; δ_low = 0.15·√1.6 = 0.1897
    # token 1: r = 0, H/H̄ = 1/2.5 → δ_high = 0.15·√0.4 = 0.0949; δ_low = 0.0949 (both above 0.5δ = 0.075)
    b = one_row([0.5, 0.5], [0.5, 0.5], [0, 1], entropy=[4.0, 1.0])
    low, high = av_with_rarity([1.0, 0.0], mode="combined").thresholds(b)
    assert high[0].tolist() == pytest.approx([0.3, 0.15 * math.sqrt(0.4)])
    assert low[0].tolist() == pytest.approx([0.15 * math.sqrt(1.6), 0.15 * math.sqrt(0.4)])


def test_av_missing_table_or_token_ids():
    b = hand_batch()
    b.token_ids = torch.zeros(2, 3, dtype=torch.long)
    for mode in ("frequency", "combined"):
        with pytest.raises(ValueError, match="call set_token_rarity; the trainer builds it from the training corpus"):
            get_objective("dppo_av", mode=mode)(b)
    b.entropy = torch.ones(2, 3, dtype=torch.float64)
    out = get_objective("dppo_av", mode="entropy")(b)  # no table needed: no bucket metrics
    assert not any(k.startswith("masked_frac/") for k in out.metrics)
    b.token_ids = None
    with pytest.raises(ValueError, match="token_ids"):
        av_with_rarity([0.5])(b)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        get_objective("dppo_av").set_token_rarity(torch.tensor([0.5, 1.5]))


@pytest.mark.parametrize("divergence", ["topk_tv", "topk_kl"])
def test_av_with_topk_divergence(divergence):
    b = random_batch(4, 6, seed=11, lo=-3, hi=3)
    out = _table_objective("dppo_av", divergence=divergence, top_k=4)(b)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(b.logp.grad).all()
    b.old_topk_logp = None
    with pytest.raises(ValueError, match="old_topk_logp"):
        _table_objective("dppo_av", divergence=divergence)(b)


# ---------------------------------------------------------------- registry
def test_registry_names_and_defaults():
    assert set(ALL_NAMES) <= set(list_objectives())
    tv, kl, ttv, tkl = (get_objective(n) for n in DPPO_NAMES)
    for obj in (tv, kl, ttv, tkl):
        assert (obj.ratio_cap, obj.beta, obj.aggregation, obj.max_completion_length, obj.advantage) == (
            10.0, 0.0, "seq_mean_token_sum_norm", 128, "dr_grpo")
    assert (tv.delta_low, tv.delta_high, ttv.delta_low, ttv.delta_high) == (0.15, 0.15, 0.15, 0.15)
    assert (kl.delta_low, kl.delta_high, tkl.delta_low, tkl.delta_high) == (0.05, 0.05, 0.05, 0.05)
    assert (ttv.top_k, tkl.top_k, ttv.needs().rollout_topk, tv.needs().rollout_topk) == (20, 20, 20, None)
    av = get_objective("dppo_av")
    assert av.params() == {
        "advantage": "dr_grpo", "delta_low": 0.15, "delta_high": 0.15, "ratio_cap": 10.0, "beta": 0.0,
        "aggregation": "seq_mean_token_sum_norm", "max_completion_length": 128, "divergence": "binary_tv",
        "mode": "frequency", "kappa": 1.0, "delta_max": 0.3, "gamma": 0.5, "rare_threshold": 0.8, "top_k": 20,
    }
    assert av.needs().token_rarity and not get_objective("dppo_av", mode="entropy").needs().token_rarity


def test_registry_errors():
    with pytest.raises(ValueError, match="'top_k'"):
        get_objective("dppo_binary_tv", top_k=5)  # binary variants have no top-K
    with pytest.raises(ValueError, match="'epsilon'"):
        get_objective("dppo_av", epsilon=0.2)
    for bad in ({"mode": "both"}, {"divergence": "js"}, {"delta_high": 0.0}, {"delta_max": 0.1}, {"kappa": -1.0},
                {"aggregation": "mean"}, {"top_k": 0}, {"advantage": "ppo"}):
        with pytest.raises(ValueError):
            get_objective("dppo_av", **bad)
    with pytest.raises(ValueError, match="ratio_cap"):
        get_objective("dppo_topk_kl", ratio_cap=0.0)
