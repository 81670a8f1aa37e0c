"""The trainer fills PolicyBatch for every objective: top-K log-probs, reference tokens, dynamic sampling, rarity."""

from __future__ import annotations

import zlib

import pytest
import torch
from datasets import Dataset
from trl import GRPOConfig

from vepo.config.schema import AlgoTrainerConfig, RewardConfig, RewardTermConfig
from vepo.models.loading import load_tokenizer
from vepo.objectives import get_objective
from vepo.rewards.mixer import MixedRewardFunction, build_reward_mix
from vepo.rewards.overlong import OverlongPenalty
from vepo.training.batch_rows import concat_rows, degenerate_groups, select_rows
from vepo.training.objective_setup import rarity_table
from vepo.training.trainer import VepoGRPOTrainer

G = 4
MAX_LEN = 12

CHRF_ONLY = RewardConfig(terms={"chrf": RewardTermConfig(type="chrf")})


@pytest.fixture(scope="module")
def tiny(tiny_policy):
    return tiny_policy


def make_trainer(tiny, objective, reward_funcs=None, algo_trainer=None, **overrides):
    path, rows = tiny
    args = GRPOConfig(
        output_dir=str(path.parent / "trainer-wiring"), per_device_train_batch_size=4 * G, num_generations=G,
        max_completion_length=MAX_LEN, beta=0.0, use_cpu=True, bf16=False, report_to="none", temperature=0.9, seed=0,
        activation_checkpointing=False, gradient_checkpointing=None, **overrides,
    )
    return VepoGRPOTrainer(model=str(path), reward_funcs=reward_funcs or [MixedRewardFunction(build_reward_mix(CHRF_ONLY))], args=args,
                           train_dataset=Dataset.from_list(rows), processing_class=load_tokenizer(path),
                           objective=objective, algo_trainer=algo_trainer)


def group_rows(rows, n_prompts):
    return [r for r in rows[:n_prompts] for _ in range(G)]


def test_rollout_topk_is_consistent_with_trl_logps(tiny):
    # K above |V|: the "top-K" is the whole distribution, so every sampled token is in it. num_iterations=2 makes
    # the batch off-policy, so the anchor's top-K is taken at rollout.
    trainer = make_trainer(tiny, get_objective("dppo_topk_tv", max_completion_length=MAX_LEN, top_k=10_000),
                           num_iterations=2)
    torch.manual_seed(0)
    inputs = trainer._generate_and_score_completions(group_rows(tiny[1], 4))
    batch = trainer.policy_batch(trainer.model, inputs)
    V = len(trainer.processing_class)
    assert batch.old_topk_logp.shape == (*batch.logp.shape, V)
    assert torch.allclose(batch.old_topk_logp.exp().sum(-1), torch.ones(()), atol=1e-4)
    # Before any update the current policy is the rollout policy.
    assert torch.allclose(batch.old_topk_logp, batch.cur_topk_logp, atol=1e-5)
    # Where the sampled token is in the top-K, our plain-logits pass and TRL's fused head agree on its log-prob
    # (same temperature scaling).
    hit = batch.old_topk_ids == batch.token_ids.unsqueeze(-1)
    pos = hit.any(-1) & batch.mask.bool()
    assert pos.sum() == batch.mask.sum()
    ours = (batch.old_topk_logp * hit).sum(-1)[pos]
    assert torch.allclose(ours, batch.logp.detach()[pos], atol=1e-4)
    out = trainer.objective(batch)
    assert out.metrics["masked_frac"] == 0.0  # not yet moved: nothing leaves the trust region


def test_on_policy_batch_runs_no_topk_pass(tiny, monkeypatch):
    import vepo.training.trainer as trainer_module

    trainer = make_trainer(tiny, get_objective("dppo_topk_tv", max_completion_length=MAX_LEN, top_k=5))
    calls = []
    monkeypatch.setattr(trainer_module, "completion_log_softmax_topk", lambda *a, **k: calls.append(1))
    torch.manual_seed(0)
    inputs = trainer._generate_and_score_completions(group_rows(tiny[1], 4))
    assert "old_per_token_logps" not in inputs and "old_topk_logp" not in inputs
    batch = trainer.policy_batch(trainer.model, inputs)
    assert batch.old_logp is None and batch.cur_topk_logp is None and calls == []
    out = trainer.objective(batch)
    assert out.metrics["div_mean"] == 0.0 and out.metrics["masked_frac"] == 0.0 and torch.isfinite(out.loss)


def test_topk_off_policy_takes_anchor_at_rollout(tiny):
    trainer = make_trainer(tiny, get_objective("dppo_topk_kl", max_completion_length=MAX_LEN, top_k=5),
                           num_iterations=2)
    torch.manual_seed(0)
    inputs = trainer._generate_and_score_completions(group_rows(tiny[1], 4))
    assert "old_per_token_logps" in inputs and inputs["old_topk_logp"].shape[-1] == 5
    with torch.no_grad():  # move the policy away from the rollout policy
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = trainer.policy_batch(trainer.model, inputs)
    assert not torch.allclose(batch.cur_topk_logp, batch.old_topk_logp)
    assert trainer.objective(batch).metrics["div_mean"] > 0.0


def test_hybrid_term_gets_reference_tokens(tiny):
    obj = get_objective("egspo", mu_max=0.5, mu_warmup_steps=0, mu_total_steps=10)
    trainer = make_trainer(tiny, obj)
    inputs = trainer._generate_and_score_completions(group_rows(tiny[1], 4))
    batch = trainer.policy_batch(trainer.model, inputs)
    assert batch.sft_logp is not None and batch.sft_logp.requires_grad
    tok = trainer.processing_class
    first = inputs["sft_ids"][0][inputs["sft_mask"][0].bool()].tolist()
    assert first[-1] == tok.eos_token_id and tok.decode(first[:-1]).strip() == tiny[1][0]["ref"]
    out = obj(batch)
    assert out.metrics["hybrid_active"] == 1.0 and torch.isfinite(out.loss)


def test_dynamic_sampling_replaces_degenerate_groups(tiny):
    path, rows = tiny
    even_prompts = {r["prompt"] for r in rows[::2]}

    def half_constant(prompts, completions, ref, **kwargs):
        """Odd prompts: every completion gets the same reward. Even prompts: a checksum of the text, so their groups
        are never degenerate whatever the sampler drew, and which groups need resampling depends only on the
        trainer's seeded prompt draws (the chrF of an untrained model's output is 0 for whole groups by chance)."""
        return [zlib.crc32(c.encode()) % 1000 / 1000 if p in even_prompts else 0.5
                for p, c in zip(prompts, completions)]

    trainer = make_trainer(tiny, get_objective("dapo"), reward_funcs=[half_constant],
                           algo_trainer=AlgoTrainerConfig(dynamic_sampling=True, max_resample_rounds=8))
    trainer.model.train()  # dynamic sampling acts on training batches only
    torch.manual_seed(0)
    out = trainer._generate_and_score_completions(group_rows(rows, 4))  # prompts 0..3: two degenerate groups
    m = trainer._metrics["train"]
    assert m["dynamic_sampling/degenerate_groups"][-1] == 2.0
    assert m["dynamic_sampling/degenerate_after"][-1] == 0.0
    assert not degenerate_groups(out["advantages"], G).any()
    B = 4 * G
    for key in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages"):
        assert out[key].shape[0] == B
    assert out["num_items_in_batch"] == out["completion_mask"].sum()
    trainer.model.eval()  # outside the training loop there is no accumulation state
    loss = trainer._compute_loss(trainer.model, out)  # the spliced batch goes through the loss
    assert torch.isfinite(loss)


def test_batch_rows_pad_on_the_right_side():
    a = {"prompt_ids": torch.tensor([[1, 2]]), "prompt_mask": torch.tensor([[1, 1]]),
         "completion_ids": torch.tensor([[5]]), "completion_mask": torch.tensor([[1]]),
         "advantages": torch.tensor([0.5]), "num_items_in_batch": torch.tensor(1)}
    b = {"prompt_ids": torch.tensor([[3, 4, 6]]), "prompt_mask": torch.tensor([[1, 1, 1]]),
         "completion_ids": torch.tensor([[7, 8]]), "completion_mask": torch.tensor([[1, 1]]),
         "advantages": torch.tensor([-0.5]), "num_items_in_batch": torch.tensor(2)}
    merged = concat_rows(a, b, pad_token_id=0)
    assert merged["prompt_ids"].tolist() == [[0, 1, 2], [3, 4, 6]]  # prompts: left padding
    assert merged["prompt_mask"].tolist() == [[0, 1, 1], [1, 1, 1]]
    assert merged["completion_ids"].tolist() == [[5, 0], [7, 8]]  # completions: right padding
    assert merged["num_items_in_batch"] == 3
    picked = select_rows(merged, torch.tensor([1]))
    assert picked["advantages"].tolist() == [-0.5] and picked["num_items_in_batch"] == 2


def test_overlong_penalty_values():
    pen = OverlongPenalty(max_completion_length=100, cache_ratio=0.25)
    assert [pen.penalty(n) for n in (10, 75, 80, 100, 101)] == [0.0, 0.0, -0.2, -1.0, -1.0]
    assert pen(None, None, completion_ids=[[1] * 90]) == [-0.6]


def test_rarity_table_is_cached_and_marks_unseen_ids(tiny, tmp_path):
    path, rows = tiny
    tok = load_tokenizer(path)
    targets = [r["ref"] for r in rows]
    rarity, counts, cache = rarity_table(tok, targets, tmp_path)
    assert cache.is_file() and rarity.shape == (len(tok),)
    assert torch.all(rarity[counts == 0] == 1.0) and rarity[counts.argmax()] == 0.0
    mtime = cache.stat().st_mtime_ns
    rarity2, _, cache2 = rarity_table(tok, targets, tmp_path)
    assert cache2 == cache and cache.stat().st_mtime_ns == mtime and torch.equal(rarity, rarity2)
    _, _, other = rarity_table(tok, targets[:-1], tmp_path)  # another corpus → another table
    assert other != cache


def test_egspo_stage_one_overrides_sft_schedule():
    from vepo.config.schema import TrainConfig
    from vepo.training.train_command import sft_schedule

    cfg = TrainConfig()
    assert sft_schedule(cfg) == (cfg.train.sft_steps, cfg.train.sft_lr)
    cfg.algo.trainer.sft_warmup_steps, cfg.algo.trainer.sft_warmup_lr = 7, 2e-5
    assert sft_schedule(cfg) == (7, 2e-5)


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_vepo_entropy_bonus_gets_a_differentiable_entropy_and_changes_the_update(tiny):
    torch.manual_seed(0)
    plain = make_trainer(tiny, get_objective("vepo"))
    inputs = plain._generate_and_score_completions(group_rows(tiny[1], 4))
    assert not plain.policy_batch(plain.model, inputs).entropy.requires_grad
    grads = {}
    for coef in (0.0, 0.5):
        obj = get_objective("vepo", entropy_coef=coef)
        obj.state.update(H0=10.0, target_entropy=10.0)  # H̄ < H*: the bonus gate is open
        trainer = make_trainer(tiny, obj)
        batch = trainer.policy_batch(trainer.model, inputs)
        assert batch.entropy.requires_grad == (coef > 0)
        out = obj(batch)
        assert out.metrics.get("entropy_bonus_active", 0.0) == (1.0 if coef > 0 else 0.0)
        trainer.model.zero_grad()
        out.loss.backward()
        grads[coef] = _grads(trainer.model)
    assert (grads[0.5] - grads[0.0]).abs().max() > 1e-6  # the bonus moved the gradient


def test_importance_sampling_ratio_reaches_the_objective(tiny):
    trainer = make_trainer(tiny, get_objective("dapo"))
    torch.manual_seed(0)
    inputs = trainer._generate_and_score_completions(group_rows(tiny[1], 4))
    inputs["old_per_token_logps"] = inputs["completion_mask"].float() * 0  # stands for TRL's vLLM path
    base = trainer.objective(trainer.policy_batch(trainer.model, inputs)).loss
    # TRL puts the truncated vLLM correction under this key when rollout=vllm_*; the loss must be weighted by it.
    inputs["importance_sampling_ratio"] = torch.full_like(inputs["completion_mask"], 0.25, dtype=torch.float32)
    batch = trainer.policy_batch(trainer.model, inputs)
    assert batch.is_weight is not None
    assert trainer.objective(batch).loss.item() == pytest.approx(0.25 * base.item(), rel=1e-5)


def test_loss_logs_bucket_diagnostics(tiny):
    trainer = make_trainer(tiny, get_objective("grpo", beta=0.0), num_iterations=2)
    rarity = torch.linspace(0, 1, len(trainer.processing_class))
    trainer.token_rarity = rarity
    torch.manual_seed(0)
    inputs = trainer._generate_and_score_completions(group_rows(tiny[1], 4))
    trainer.model.eval()
    trainer._compute_loss(trainer.model, inputs)
    logged = trainer._metrics["eval"]
    shares = [logged[f"diag/entropy_q{k}/token_share"][-1] for k in range(1, 6)]
    assert sum(shares) == pytest.approx(1.0) and all(s > 0 for s in shares)
    rarity_shares = [logged[f"diag/rarity_q{k}/token_share"][-1] for k in range(1, 6)]
    assert sum(rarity_shares) == pytest.approx(1.0)
    assert logged["diag/kl_old"][-1] == pytest.approx(0.0, abs=1e-6)  # not moved yet
