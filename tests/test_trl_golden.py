"""Golden test: vepo's trainer hook with a registry objective reproduces TRL's own loss on the same rollout batch.

`VepoGRPOTrainer._compute_loss` overrides a private TRL hook (trl==1.16.0 is pinned for that reason); if a TRL
upgrade changes what the hook receives, this test fails before any experiment silently changes.
"""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from vepo.config.schema import RewardConfig, RewardTermConfig
from vepo.models.loading import load_tokenizer
from vepo.objectives import get_objective, list_objectives
from vepo.objectives.advantages import ADVANTAGE_ESTIMATORS
from vepo.rewards.mixer import MixedRewardFunction, build_reward_mix
from vepo.training.trainer import VepoGRPOTrainer

G = 4
MAX_LEN = 12

CHRF_ONLY = RewardConfig(terms={"chrf": RewardTermConfig(type="chrf")})


@pytest.fixture(scope="module")
def rollout(tiny_policy, tmp_path_factory):
    path, rows = tiny_policy
    rows = rows[:4]
    args = GRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("golden")), per_device_train_batch_size=len(rows) * G, num_generations=G,
        max_completion_length=MAX_LEN, beta=0.04, loss_type="grpo", use_cpu=True, report_to="none",
        temperature=1.0, seed=0, activation_checkpointing=False, gradient_checkpointing=None,
    )
    trainer = VepoGRPOTrainer(model=str(path), reward_funcs=[MixedRewardFunction(build_reward_mix(CHRF_ONLY))],
                              args=args, train_dataset=Dataset.from_list(rows), processing_class=load_tokenizer(path),
                              objective=get_objective("grpo"))
    torch.manual_seed(0)
    inputs = trainer._generate_and_score_completions([r for r in rows for _ in range(G)])
    # Off-policy behaviour log-probs so that ratios leave [1-ε, 1+ε] and both clip sides are exercised.
    with torch.no_grad():
        prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
        logp, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, torch.cat([prompt_ids, completion_ids], 1),
            torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1), completion_ids.size(1))
    gen = torch.Generator().manual_seed(1)
    inputs["old_per_token_logps"] = logp + 0.4 * torch.randn(logp.shape, generator=gen)
    trainer.model.eval()  # no dropout, and no accumulation scaling on either side
    return trainer, inputs


def _loss_and_grad(fn, trainer, inputs):
    trainer.model.zero_grad()
    loss = fn(trainer.model, inputs)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
    return loss.detach(), grads


@pytest.mark.parametrize(
    "name, trl_loss_type, level, beta, eps_low, eps_high",
    [
        ("grpo", "grpo", "token", 0.04, 0.2, 0.2),
        ("dapo", "dapo", "token", 0.0, 0.2, 0.28),
        ("dr_grpo", "dr_grpo", "token", 0.0, 0.2, 0.2),
        ("gspo", "grpo", "sequence", 0.0, 3e-4, 4e-4),  # TRL's GSPO: importance_sampling_level="sequence"
    ],
)
def test_objective_matches_trl_loss(rollout, name, trl_loss_type, level, beta, eps_low, eps_high):
    trainer, inputs = rollout
    params = {"max_completion_length": MAX_LEN} if name == "dr_grpo" else {}
    trainer.objective = get_objective(name, **params)
    trainer.loss_type, trainer.beta, trainer.importance_sampling_level = trl_loss_type, beta, level
    trainer.epsilon_low, trainer.epsilon_high = eps_low, eps_high

    ours, our_grad = _loss_and_grad(trainer._compute_loss, trainer, inputs)
    theirs, their_grad = _loss_and_grad(lambda m, x: GRPOTrainer._compute_loss(trainer, m, x), trainer, inputs)

    assert torch.allclose(ours, theirs, atol=1e-6, rtol=0), (ours.item(), theirs.item())
    assert torch.allclose(our_grad, their_grad, atol=1e-6, rtol=1e-5)
    clip = trainer._metrics["eval"]["objective/clip_frac"][-1]
    assert clip > 0.0  # the perturbation really exercised the clipped branch


@pytest.mark.parametrize("estimator", sorted(ADVANTAGE_ESTIMATORS))
def test_training_advantages_are_trls_with_the_mapped_scale(rollout, estimator):
    """vepo has no advantage code: TRL computes them with the scale_rewards ADVANTAGE_ESTIMATORS maps each name to
    (vepo/training/rl.py passes it). Pins TRL's numbers to the formulas vepo documents (docs/objectives.md)."""
    trainer, _ = rollout
    assert {get_objective(n).needs().advantage for n in list_objectives()} <= set(ADVANTAGE_ESTIMATORS)
    rows = list(trainer.train_dataset)
    saved = trainer.scale_rewards
    trainer.scale_rewards = ADVANTAGE_ESTIMATORS[estimator]
    try:
        torch.manual_seed(2)
        with torch.no_grad():
            out = trainer._generate_and_score_completions([r for r in rows for _ in range(G)])
    finally:
        trainer.scale_rewards = saved
    n = len(rows) * G
    rewards = torch.tensor(list(trainer._logs["rewards"]["reward"])[-n:], dtype=torch.float32).view(-1, G)
    assert (rewards.amax(1) > rewards.amin(1)).any()  # at least one group carries a signal
    centred = rewards - rewards.mean(1, keepdim=True)
    expected = centred / (rewards.std(1, keepdim=True) + 1e-4) if estimator == "group" else centred
    assert torch.allclose(out["advantages"].cpu(), expected.reshape(-1), atol=1e-5, rtol=0)
