"""rollout=static: vepo's static-cache engine as the RL rollout (vepo/training/static_rollout.py and the trainer hook):
length buckets, row order, behaviour log-probs standing in for TRL's extra pass, and a compiled decode step that
stays valid while the weights change in place."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM
from trl import GRPOConfig

from vepo.config.schema import RewardConfig, RewardTermConfig, RolloutConfig
from vepo.models.loading import load_tokenizer
from vepo.models.static_generation import StaticCacheGenerator
from vepo.objectives import get_objective
from vepo.rewards.mixer import MixedRewardFunction, build_reward_mix
from vepo.training.static_rollout import SamplingSettings, StaticRollout, length_buckets
from vepo.training.trainer import VepoGRPOTrainer

G = 4
MAX_LEN = 10


@pytest.fixture(scope="module")
def policy(tiny_policy):
    """The tiny policy with weights redrawn at a larger scale (varied tokens and EOS at varied steps)."""
    path, rows = tiny_policy
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return model, load_tokenizer(path), rows


def _forward_logprobs(model, prompt: list[int], completion: list[int], temperature: float) -> torch.Tensor:
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float() / temperature
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)


def test_length_buckets_sort_stably_and_cover_every_row():
    lengths = [5, 3, 5, 3, 9, 1, 9]
    chunks = length_buckets(lengths, 3)
    assert chunks == [[5, 1, 3], [0, 2, 4], [6]]
    assert sorted(i for c in chunks for i in c) == list(range(len(lengths)))
    assert length_buckets(lengths, 0) == [[5, 1, 3, 0, 2, 4, 6]]


def test_bucketed_rollout_keeps_row_order_and_returns_the_behaviour_logprobs(policy):
    model, tok, rows = policy
    prompts = [tok(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows[:6] for _ in range(2)]
    assert len({len(p) for p in prompts}) > 2, "want prompts of different lengths"
    sampling = SamplingSettings(max_new_tokens=MAX_LEN, temperature=0.8, top_p=0.95, top_k=None,
                                eos_ids=[], pad_id=tok.pad_token_id)
    engine = StaticRollout(RolloutConfig(name="static", batch_size=4), sampling)
    torch.manual_seed(0)
    free, _ = engine.generate(model, prompts)
    # A stop token that some rows sampled and others did not: rerun with the same seed, some rows stop on it early.
    stop = max({t for c in free for t in c if not all(t in other for other in free)},
               key=lambda t: sum(t in c for c in free))
    sampling.eos_ids = [stop]
    torch.manual_seed(0)
    completions, logprobs = engine.generate(model, prompts)
    assert engine.last_stats["rollout/chunks"] == 3.0
    assert len(completions) == len(prompts)
    ended = 0
    for prompt, completion, logp in zip(prompts, completions, logprobs):
        assert 1 <= len(completion) == len(logp) <= MAX_LEN
        ended += completion[-1] == stop
        # Against a forward pass over *this row's* prompt: a row returned in another row's place would not match.
        ref = _forward_logprobs(model, prompt, completion, sampling.temperature)
        torch.testing.assert_close(torch.tensor(logp), ref, atol=1e-5, rtol=0)
    assert 0 < ended < len(prompts), "want some rows to stop at EOS and some to run to the limit"


def _trainer(tiny_policy, rollout: RolloutConfig, **overrides) -> VepoGRPOTrainer:
    path, rows = tiny_policy
    args = GRPOConfig(**{
        **dict(output_dir=str(path.parent / "static-rollout"), per_device_train_batch_size=2 * G, num_generations=G,
               max_completion_length=MAX_LEN, beta=0.0, use_cpu=True, bf16=False, report_to="none", temperature=0.9,
               seed=0, activation_checkpointing=False, gradient_checkpointing=None),
        **overrides})
    reward = MixedRewardFunction(build_reward_mix(RewardConfig(terms={"chrf": RewardTermConfig(type="chrf")})))
    trainer = VepoGRPOTrainer(model=str(path), reward_funcs=[reward], args=args,
                              train_dataset=Dataset.from_list(rows), processing_class=load_tokenizer(path),
                              rollout=rollout, objective=get_objective("grpo", max_completion_length=MAX_LEN))
    trainer.model.train()  # as inside trainer.train(): rollout metrics go to the "train" record
    return trainer


@pytest.mark.parametrize("checkpointing", [False, True])
def test_reused_rollout_takes_its_old_logprobs_from_the_engine(tiny_policy, checkpointing):
    """steps_per_generation=2: TRL would run a no-grad pass for old_per_token_logps; the engine's values replace it
    and equal what that pass computes. With activation checkpointing on (which turns a model's KV cache off) the
    rollout still decodes with its cache, as TRL's generate path does."""
    trainer = _trainer(tiny_policy, RolloutConfig(name="static", batch_size=4), steps_per_generation=2,
                       activation_checkpointing=checkpointing)
    rows = [r for r in tiny_policy[1][:2] for _ in range(G)]
    torch.manual_seed(0)
    out = trainer._generate_and_score_completions(rows)
    assert trainer._metrics["train"]["rollout/logprob_pass_saved"] == [1.0]
    assert trainer._rollout_logps is None  # consumed by the one pass it stands in for
    ids = torch.cat([out["prompt_ids"], out["completion_ids"]], 1)
    mask = torch.cat([out["prompt_mask"], out["completion_mask"]], 1)
    with torch.no_grad():
        trl_pass, _, _ = VepoGRPOTrainer.__mro__[1]._get_per_token_logps_and_entropies(
            trainer, trainer.model, ids, mask, out["completion_ids"].size(1))
    m = out["completion_mask"].bool()
    torch.testing.assert_close(out["old_per_token_logps"][m], trl_pass[m], atol=1e-5, rtol=0)
    assert (out["old_per_token_logps"][~m] == 0).all()


@pytest.mark.parametrize("rollout, steps_per_generation", [
    (RolloutConfig(name="static"), 1),  # on-policy: TRL runs no pass, nothing to replace
    (RolloutConfig(name="static", reuse_logprobs=False), 2),  # asked to recompute
])
def test_no_pass_is_replaced_unless_asked_and_reused(tiny_policy, rollout, steps_per_generation):
    trainer = _trainer(tiny_policy, rollout, steps_per_generation=steps_per_generation)
    torch.manual_seed(0)
    out = trainer._generate_and_score_completions([r for r in tiny_policy[1][:2] for _ in range(G)])
    assert trainer._metrics["train"]["rollout/logprob_pass_saved"] == [0.0]
    assert ("old_per_token_logps" in out) == (steps_per_generation > 1)


def test_mixed_precision_training_is_not_the_rollout_precision(tiny_policy):
    trainer = _trainer(tiny_policy, RolloutConfig(name="static"))
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert trainer._rollout_precision_is_training_precision(model)
    trainer.args.bf16 = True  # fp32 weights under bf16 autocast: the log-prob pass would not match the rollout
    assert not trainer._rollout_precision_is_training_precision(model)


def test_compiled_decode_step_follows_in_place_weight_updates(policy):
    """The compiled step reads the parameters at their storage: after an in-place update (what an optimiser step
    does) it generates what the eager engine generates with the new weights, and not what it generated before."""
    model, tok, rows = policy
    model = AutoModelForCausalLM.from_config(model.config).eval()
    model.load_state_dict(policy[0].state_dict())
    prompts = [tok(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows[:4]]
    compiled = StaticCacheGenerator(model, 4, 64, 6, compile=True)
    ids, mask = compiled.pad_prompts(prompts, tok.pad_token_id)
    greedy = dict(do_sample=False, eos_token_id=[], pad_token_id=tok.pad_token_id)

    before = compiled.generate(ids, mask, **greedy)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    logits = model(input_ids=ids, attention_mask=mask).logits
    (-logits[..., 7].mean()).backward()  # push every position towards token 7
    optimiser.step()
    after = compiled.generate(ids, mask, **greedy)
    eager = StaticCacheGenerator(model, 4, 64, 6).generate(ids, mask, **greedy)
    assert torch.equal(after.completion_ids, eager.completion_ids)
    torch.testing.assert_close(after.logprobs, eager.logprobs, atol=1e-5, rtol=0)
    assert not torch.equal(after.completion_ids, before.completion_ids)


def test_static_rollout_passes_the_train_checks_without_vllm():
    """rollout=static needs nothing beyond the base environment: the pre-job checks accept it (and its options) on a
    CPU, where the vLLM rollouts are refused."""
    from vepo.config.validate import validate_overrides
    from vepo.training.checks import check_train_config
    from vepo.training.trainer_args import rollout_args

    seen = []

    def check(cfg):
        check_train_config(cfg)
        seen.append(cfg)

    validate_overrides("train", ["rollout=static", "rollout.batch_size=16", "rollout.compile=true"], check)
    (cfg,) = seen
    assert (cfg.rollout.name, cfg.rollout.batch_size, cfg.rollout.compile) == ("static", 16, True)
    assert rollout_args(cfg) == {"use_vllm": False}
