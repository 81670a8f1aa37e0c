"""`vepo train --dry-run`: the resolved plan of a run (model, data, steps, batch shape, tokens per step, launch
command) without training or creating a run directory."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from vepo.config.schema import TrainConfig
from vepo.data.prompts import make_prompt

RUN_DIR_PLACEHOLDER = Path("<run dir>")


def _parameters(cfg: TrainConfig) -> str:
    """Parameter count from the model's config, on the meta device (no weights are loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        if cfg.model.path is None:
            from vepo.models.tiny import tiny_model_config

            config = tiny_model_config(cfg.model.tiny, cfg.model.tiny.vocab_size)
        else:
            config = AutoConfig.from_pretrained(cfg.model.path, trust_remote_code=cfg.model.trust_remote_code)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        return f"{sum(p.numel() for p in model.parameters()) / 1e6:,.1f} M"
    except (OSError, ValueError, ImportError):
        return "unknown (model config not available offline)"


def _training_pairs(cfg: TrainConfig) -> tuple[int | str, list[str]]:
    """How many training pairs, and a sample of sources (for prompt lengths)."""
    from vepo.data.sources import check_training_data

    data = cfg.data
    check_training_data(data, cfg.lang)
    if data.name == "toy":
        from vepo.data.toy import build_toy_corpus

        corpus = build_toy_corpus(data.seed, min(data.n_train, 256), 1, 1)
        return data.n_train, [s for s, _ in corpus.train]
    if data.name == "flores_dev":
        from vepo.data.flores import flores_root, open_flores

        sources = open_flores(flores_root(data.flores_dir)).read("dev", cfg.lang.src)
        n = len(sources) if data.max_pairs is None else min(len(sources), data.max_pairs)
        return n, sources[:256]
    from vepo.data.sources import read_corpus

    pairs, _ = read_corpus(data, cfg.lang)
    return len(pairs), [s for s, _ in pairs[:256]]


def _prompt_tokens(cfg: TrainConfig, sources: list[str]) -> tuple[float, str]:
    """Mean prompt length in tokens: with the model's tokenizer when it is at hand, else ~bytes/4."""
    prompts = [make_prompt(s, "English", cfg.lang.tgt) for s in sources] or [""]
    if cfg.model.path is not None:
        try:
            from vepo.models.loading import load_tokenizer

            tokenizer = load_tokenizer(cfg.model.path, cfg.model.trust_remote_code)
            ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
            return sum(map(len, ids)) / len(ids), "tokenizer"
        except Exception:  # an uncached hub model offline: fall back to the estimate
            pass
    return sum(len(p.encode()) for p in prompts) / len(prompts) / 4, "≈ bytes/4"


def off_policy_summary(t) -> str:
    """How rollout batches map to optimiser steps (train.steps_per_generation, train.num_iterations)."""
    per_rollout = t.steps_per_generation * t.num_iterations
    text = (f"steps_per_generation={t.steps_per_generation}, num_iterations={t.num_iterations}: one rollout of "
            f"{t.prompts_per_step * t.steps_per_generation} prompts feeds {per_rollout} optimiser step(s)")
    if per_rollout == 1:
        return text + "; on-policy (ratio ≡ 1: clips and trust regions never act)"
    return text + f"; {per_rollout - 1} of every {per_rollout} steps are off-policy (clips and trust regions act)"


def reward_summary(cfg: TrainConfig) -> str:
    """The reward mix in one line: gates × weighted terms, the balance schedule, where `auto` encoders come from."""
    from vepo.rewards.encoders import auto_encoder, auto_semantic_terms

    r = cfg.reward
    terms = " + ".join(f"{t.weight:g}·{n}" for n, t in r.terms.items())
    text = f"{r.name}: " + (f"{' · '.join(r.gates)} × ({terms})" if r.gates else terms)
    if r.balance.schedule != "none":
        text += f"; {r.balance.semantic_term} vs {r.balance.literal_term} balance {r.balance.schedule}"
    auto = auto_semantic_terms(r)
    if auto:
        text += f"; {', '.join(auto)} encoder: {auto_encoder(cfg.lang.tgt)}"
    return text


def objective_summary(cfg: TrainConfig) -> str:
    """The objective's effective parameters: its code defaults (vepo/objectives/) merged with `algo.params`, built
    the way training builds it; the yaml and `--cfg job` only show the overrides."""
    from vepo.training.objective_setup import build_objective

    params = build_objective(cfg.algo.name, dict(cfg.algo.params), cfg.train.max_completion_length).params()
    if "vocab_size" in params and cfg.algo.params.get("vocab_size") is None:
        params["vocab_size"] = "<the tokenizer's>"  # filled when the run loads the tokenizer
    return ", ".join(f"{k}={v}" for k, v in params.items())


def training_plan(cfg: TrainConfig) -> dict:
    from vepo.training.launch import launch_command, world_size
    from vepo.training.train_command import sft_schedule

    t, hw = cfg.train, cfg.hardware
    processes = world_size(hw) if hw.launcher != "none" else 1
    pairs, sources = _training_pairs(cfg)
    prompt_len, how = _prompt_tokens(cfg, sources)
    completions = t.prompts_per_step * t.num_generations
    sft_steps, sft_lr = sft_schedule(cfg)
    rl = cfg.algo.name != "sft" and t.rl_steps > 0
    plan = {
        "model": cfg.model.path or f"tiny (built: {cfg.model.tiny.num_hidden_layers} layers, hidden "
                                   f"{cfg.model.tiny.hidden_size}, vocabulary ≤ {cfg.model.tiny.vocab_size})",
        "parameters": _parameters(cfg),
        "data": f"{cfg.data.name}: {pairs} pairs, {cfg.lang.src} → {cfg.lang.tgt}",
        "algorithm / reward": f"{cfg.algo.name} / {cfg.reward.name}",
        "objective": objective_summary(cfg) if cfg.algo.name != "sft" else "—",
        "reward": reward_summary(cfg),
        "SFT": f"{sft_steps} steps, batch {t.sft_batch_size}, lr {sft_lr:g}" if sft_steps else "none",
        "RL": (f"{t.rl_steps} steps, {t.prompts_per_step} prompts × {t.num_generations} generations = {completions} "
               f"completions per step, lr {t.rl_lr:g}") if rl else "none",
        "effective batch": (f"{completions} completions = {processes} process(es) × "
                            f"{completions // (t.gradient_accumulation_steps * processes)} per device × "
                            f"{t.gradient_accumulation_steps} accumulation") if rl else "—",
        "off-policy reuse": off_policy_summary(t) if rl else "—",
        "tokens per RL step": (f"≤ {completions * (prompt_len + t.max_completion_length):,.0f} (prompt "
                               f"{prompt_len:.0f} tokens {how} + {t.max_completion_length} completion, × "
                               f"{completions})") if rl else "—",
        "hardware": f"{hw.name}: {hw.device}, {processes} process(es), {hw.distributed}, bf16={hw.bf16}",
        "rollout": cfg.rollout.name,
        "checkpoints": f"every {t.save_steps} steps, keep {t.save_total_limit}" if t.save_steps else "stage ends only",
    }
    if hw.launcher != "none":
        plan["launch"] = " ".join(launch_command(cfg, RUN_DIR_PLACEHOLDER))
    return plan


def print_plan(plan: dict, console: Console | None = None) -> None:
    table = Table(title="vepo train --dry-run (nothing is trained, no run directory is created)", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in plan.items():
        table.add_row(key, str(value))
    (console or Console()).print(table)
