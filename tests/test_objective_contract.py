"""The objective ↔ trainer contract: needs(), the rollout engine's importance weight, token stats and the per-bucket
diagnostics (pure tensors; the trainer side is in test_trainer_wiring.py)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.test_objectives_core import hand_batch
from vepo.objectives import Needs, get_objective, list_objectives
from vepo.objectives.batch import PolicyBatch
from vepo.objectives.diagnostics import bucket_diagnostics, entropy_buckets, rarity_buckets
from vepo.objectives.rarity import rarity_from_counts


def test_needs_declares_what_each_objective_reads():
    for name in list_objectives():
        assert isinstance(get_objective(name).needs(), Needs), name
    assert get_objective("grpo").needs() == Needs(advantage="group", ref_logp=True)
    assert get_objective("dppo_binary_tv").needs() == Needs(advantage="dr_grpo")
    assert get_objective("dppo_topk_kl", top_k=7).needs().rollout_topk == 7
    assert get_objective("egspo", mu_max=0.3).needs().reference_tokens
    assert not get_objective("egspo").needs().reference_tokens
    assert get_objective("dppo_av", mode="combined").needs() == Needs(
        advantage="dr_grpo", entropy=True, token_rarity=True)
    assert get_objective("espo", beta=0.1).needs() == Needs(advantage="group", ref_logp=True, entropy=True)


def with_entropy(batch: PolicyBatch) -> PolicyBatch:
    batch.entropy = torch.tensor([[1.0, 2.0, 3.0], [0.5, 1.5, 9.0]], dtype=torch.float64)
    return batch


@pytest.mark.parametrize("name", ["grpo", "gspo", "dapo", "vepo", "egspo", "espo", "dppo_binary_tv", "dppo_av"])
def test_importance_weight_scales_the_policy_loss(name):
    obj = get_objective(name, beta=0.0)
    if name == "dppo_av":
        obj.set_token_rarity(torch.zeros(64))
    b = with_entropy(hand_batch())
    b.token_ids = torch.zeros(2, 3, dtype=torch.long)
    base = obj(b).loss
    half = with_entropy(hand_batch())
    half.token_ids = b.token_ids
    half.is_weight = torch.full((2, 1), 0.5, dtype=torch.float64)  # sequence-level weight
    assert obj(half).loss.item() == pytest.approx(0.5 * base.item(), rel=1e-9, abs=1e-12)
    zero = with_entropy(hand_batch())
    zero.token_ids = b.token_ids
    zero.is_weight = torch.zeros(2, 3, dtype=torch.float64)  # TRL's token_mask mode drops every token
    out = obj(zero)
    out.loss.backward()
    assert out.loss.item() == 0.0 and torch.all(zero.logp.grad == 0)


def test_importance_weight_shape_is_checked():
    b = hand_batch()
    b.is_weight = torch.ones(3, 3)
    with pytest.raises(ValueError, match="is_weight"):
        get_objective("grpo")(b)


def test_token_stats_mark_clipped_tokens_and_their_lost_gradient_weight():
    out = get_objective("grpo")(hand_batch())  # (0,1) clipped high with Â=+1, (1,0) clipped low with Â=−1
    clipped = out.token_stats.clipped
    assert clipped.tolist() == [[False, True, False], [True, False, False]]
    assert out.token_stats.grad_weight.tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
    # EGSPO's gate enters the weight: φ on the low-entropy tokens
    eg = get_objective("egspo", top_quantile=0.2, phi=0.1)(with_entropy(hand_batch()))
    w = eg.token_stats.grad_weight
    assert w[0, 2].item() == pytest.approx(1.0) and w[0, 0].item() == pytest.approx(0.1)
    # DPPO: the trust-region mask is the clip
    tv = get_objective("dppo_binary_tv", max_completion_length=3)(hand_batch())
    assert torch.equal(tv.token_stats.clipped.float().sum() / 5, torch.tensor(tv.metrics["masked_frac"]).float())


def test_bucket_diagnostics_hand_computed():
    from vepo.objectives.batch import TokenStats

    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    entropy = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5], [0.6, 0.7, 0.8, 0.9, 1.0]])
    assert entropy_buckets(entropy, mask.bool()).tolist() == [[0, 0, 1, 1, 2], [2, 3, 3, 4, 4]]
    rarity = torch.tensor([[0.0, 0.1, 0.5, 0.5, 1.0]] * 2)
    assert rarity_buckets(rarity).tolist() == [[0, 0, 2, 2, 4]] * 2
    clipped = torch.zeros(2, 5, dtype=torch.bool)
    clipped[1, 4] = True  # the highest-entropy token, a never-seen one
    weight = torch.where(clipped, torch.zeros(2, 5), torch.ones(2, 5))
    d = bucket_diagnostics(TokenStats(clipped, weight), mask, entropy, rarity, torch.zeros(2, 5), None)
    assert d["diag/entropy_q5/token_share"] == pytest.approx(0.2)
    assert d["diag/entropy_q5/clip_frac"] == pytest.approx(0.5)
    assert d["diag/entropy_q5/grad_share"] == pytest.approx(1 / 9)
    assert d["diag/entropy_q1/grad_share"] == pytest.approx(2 / 9)
    assert d["diag/rarity_q5/token_share"] == pytest.approx(0.2) and d["diag/rarity_q5/clip_frac"] == 0.5
    assert d["diag/rarity_q2/token_share"] == 0.0 and "diag/rarity_q2/clip_frac" not in d
    assert d["diag/kl_old"] == 0.0  # on-policy
    old = torch.full((2, 5), math.log(0.5))
    d = bucket_diagnostics(TokenStats(clipped, weight), mask, None, None, torch.zeros(2, 5), old)
    # k3 with r = π/π_old = 2: r − 1 − log r
    assert d["diag/kl_old"] == pytest.approx(1 - math.log(2)) and not any("entropy" in k for k in d)


def test_dppo_av_masks_fewer_rare_tokens_than_dppo_binary_tv():
    # 4 tokens whose probability rose by 0.2 under Â > 0 (TV 0.2 > δ = 0.15): two of them are rare ids.
    counts = torch.tensor([100, 90, 80, 70, 60, 50, 40, 30, 20, 1, 1, 0])
    ids = torch.tensor([[0, 1, 10, 11]])
    old = torch.log(torch.tensor([[0.3, 0.3, 0.3, 0.3]]))
    logp = torch.log(torch.tensor([[0.5, 0.5, 0.5, 0.5]])).requires_grad_(True)
    batch = PolicyBatch(logp=logp, old_logp=old, advantages=torch.tensor([1.0]), mask=torch.ones(1, 4),
                        token_ids=ids)
    tv = get_objective("dppo_binary_tv", max_completion_length=4)(batch)
    av = get_objective("dppo_av", max_completion_length=4)
    av.set_token_rarity(rarity_from_counts(counts), counts)
    out = av(batch)
    assert tv.token_stats.clipped.tolist() == [[True, True, True, True]]
    assert out.token_stats.clipped.tolist() == [[True, True, False, False]]  # rare / new ids keep their gradient
    assert out.metrics["masked_frac"] < tv.metrics["masked_frac"]
    assert out.metrics["masked_frac/common"] == 1.0 and out.metrics["masked_frac/new"] == 0.0
