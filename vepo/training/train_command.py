"""`vepo train` end to end: data → model → SFT warm-up → RL → evaluation → summary, inside one run directory."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import torch
from accelerate import PartialState
from datasets import Dataset
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table
from transformers import set_seed

from vepo.config.run_dir_rules import check_train_dir
from vepo.config.schema import LoggerConfig, TrainConfig
from vepo.data.flores import FloresDataset
from vepo.data.prompts import PromptBuilder, language_names
from vepo.data.sources import load_training_data
from vepo.evaluation.stage_eval import evaluate_stage, evaluate_suite_after_training
from vepo.models.loading import load_model, load_tokenizer
from vepo.models.tiny import build_and_save_tiny
from vepo.rewards.encoders import resolve_semantic_models
from vepo.rewards.mixer import build_reward_mix
from vepo.training.checkpointing import carry_added_tokens, finish_stage, latest_checkpoint, stage_done, staging_dir
from vepo.training.launch import in_worker, launch, needs_launch
from vepo.training.objective_setup import build_objective
from vepo.training.progress import quiet_library_output
from vepo.training.rl import run_rl
from vepo.training.sft import run_sft
from vepo.training.wandb_logger import WandbSession
from vepo.utils.io import atomic_write_json, atomic_write_text
from vepo.utils.provenance import provenance
from vepo.utils.run_dir import RunDirLock

log = logging.getLogger("vepo")
console = Console()


def _setup(cfg: TrainConfig) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet_library_output()  # once, before any model load or dataset preparation: the stages' display is what counts
    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    set_seed(cfg.seed)


def _datasets(pairs: list[tuple[str, str]], cfg: TrainConfig, builder: PromptBuilder,
              names: tuple[str, str]) -> tuple[Dataset, Dataset]:
    lang = cfg.lang
    prompts = [builder.prompt(s, *names) for s, _ in pairs]
    sft_rows = [{"prompt": p, "completion": builder.completion(t)} for p, (_, t) in zip(prompts, pairs)]
    # RL rows carry src/ref/langs as columns: TRL hands every non-prompt column to the reward functions.
    rl_rows = [{"prompt": p, "src": s, "ref": t, "src_lang": lang.src, "tgt_lang": lang.tgt}
               for p, (s, t) in zip(prompts, pairs)]
    return Dataset.from_list(sft_rows), Dataset.from_list(rl_rows)


SFT_MODE = "sft"  # algo=sft: supervised training only, no RL stage


def sft_schedule(cfg: TrainConfig) -> tuple[int, float]:
    """SFT warm-up steps and learning rate; an algorithm's stage-1 settings (EGSPO) override train.*."""
    t, a = cfg.train, cfg.algo.trainer
    steps = a.sft_warmup_steps if a.sft_warmup_steps is not None else t.sft_steps
    lr = a.sft_warmup_lr if a.sft_warmup_lr is not None else t.sft_lr
    return steps, lr


def _window_mean(values: list[float], first: bool) -> float | None:
    if not values:
        return None
    k = max(1, len(values) // 10)
    chunk = values[:k] if first else values[-k:]
    return sum(chunk) / len(chunk)


def _reward_trend(metrics_path: Path) -> dict:
    """Steps logged and the mean reward of the first / last 10% of rollouts (with steps_per_generation > 1 or
    num_iterations > 1 only the steps that generate carry a reward)."""
    steps, rewards = 0, []
    if metrics_path.exists():
        for line in metrics_path.read_text().splitlines():
            rec = json.loads(line)
            steps += 1
            if rec.get("reward_mean") is not None:
                rewards.append(rec["reward_mean"])
    return {"rl_steps_logged": steps, "reward_first_10pct": _window_mean(rewards, True),
            "reward_last_10pct": _window_mean(rewards, False)}


def _evaluate(model_dir: Path, flores: FloresDataset | None, cfg: TrainConfig, label: str, run_dir: Path,
              prov: dict, builder: PromptBuilder, names: tuple[str, str]) -> dict:
    if flores is None:
        log.warning("no FLORES directory (data.flores_dir / $VEPO_FLORES_DIR): skipping the %s evaluation", label)
        return {}
    result = evaluate_stage(model_dir, flores, cfg, builder, names, {"stage": label, "provenance": prov})
    atomic_write_json(run_dir / "results" / f"{label}.json", result)
    return result


def _saved_result(run_dir: Path, label: str) -> dict | None:
    path = run_dir / "results" / f"{label}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _write_config(cfg: TrainConfig, run_dir: Path) -> None:
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))


def _launch_workers(cfg: TrainConfig, run_dir: Path) -> dict:
    """The Hydra job of a multi-process run: write the config, start the workers, return rank 0's summary."""
    _write_config(cfg, run_dir)
    launch(cfg, run_dir)
    return json.loads((run_dir / "summary.json").read_text())


def run_training(cfg: TrainConfig, run_dir: Path) -> dict:
    if in_worker():  # one process of a launched run: the Hydra job that started it holds the directory
        return _run_training(cfg, run_dir)
    # One run per directory, one process writing it: a second command on the directory is refused while this one
    # holds it, and a directory holding another run (or results) is refused unless this run resumes it.
    with RunDirLock(run_dir, "vepo train"):
        check_train_dir(cfg, run_dir)
        return _run_training(cfg, run_dir)


def _run_training(cfg: TrainConfig, run_dir: Path) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    if needs_launch(cfg):
        return _launch_workers(cfg, run_dir)
    # One process, or one worker of a launched run: rank 0 writes the run directory and logs, the others train.
    ranks = PartialState(cpu=cfg.hardware.device == "cpu")
    # One W&B run per training run (logger=wandb), always finished: a sweep's next job must not inherit it.
    logger = cfg.logger if ranks.is_main_process else LoggerConfig(name="none")
    session = WandbSession(logger).start(cfg, run_dir)
    failed = True
    try:
        summary = _train(cfg, run_dir, session, ranks)
        failed = False
        return summary
    finally:
        session.finish(failed)


def _train(cfg: TrainConfig, run_dir: Path, session: WandbSession, ranks: PartialState) -> dict:
    main = ranks.is_main_process
    _setup(cfg)
    prov = provenance({k: v for k, v in asdict(cfg).items() if k != "resume"})  # a resumed run is the same run
    resuming = cfg.resume is not None
    if resuming and main:
        console.print(f"resuming in {run_dir} from its last complete checkpoint")
    if main:
        _write_config(cfg, run_dir)
    sft_only = cfg.algo.name == SFT_MODE
    # Reward models load now: one that cannot be loaded fails before any training. (Objective parameters were
    # already checked before the job started, in vepo.training.checks.) A semantic term with `model: auto` gets the
    # toy encoder (trained once by rank 0 into the run directory) or LaBSE.
    if main:
        resolve_semantic_models(cfg.reward, cfg.lang.tgt, run_dir, cfg.data)
    ranks.wait_for_everyone()
    reward_cfg, encoders = resolve_semantic_models(cfg.reward, cfg.lang.tgt, run_dir, cfg.data)
    if main and encoders:
        console.print("semantic reward encoder: " + ", ".join(f"{t} → {m}" for t, m in encoders.items()))
    reward_mix = build_reward_mix(reward_cfg, device=cfg.hardware.device)
    reward_mix.observers.append(session.observe_rewards)  # sample translations for W&B

    data = load_training_data(cfg.data, cfg.lang, run_dir, write=main)
    pairs, flores = data.pairs, data.flores

    models_dir = run_dir / "models"
    if cfg.model.path is None:
        init_dir = models_dir / "init"
        if main and not (resuming and (init_dir / "config.json").is_file()):
            texts = [s for s, _ in pairs] + [t for _, t in pairs]
            build_and_save_tiny(texts, cfg.model.tiny, init_dir, cfg.seed)
        ranks.wait_for_everyone()
    else:
        init_dir = Path(cfg.model.path)
    tokenizer = load_tokenizer(init_dir, cfg.model.trust_remote_code)
    builder = PromptBuilder(cfg.prompt, tokenizer)
    names = language_names(cfg.lang.src, cfg.lang.tgt, cfg.lang.src_name, cfg.lang.tgt_name)
    sft_data, rl_data = _datasets(pairs, cfg, builder, names)
    # Built once the policy's vocabulary size is known (ESPO's log|V|).
    objective = None if sft_only else build_objective(cfg.algo.name, dict(cfg.algo.params),
                                                      cfg.train.max_completion_length, vocab_size=len(tokenizer))

    results: dict[str, dict] = {}
    policy_dir = init_dir
    sft_steps, sft_lr = sft_schedule(cfg)
    if sft_steps > 0:
        sft_dir = models_dir / "sft"
        if resuming and stage_done(sft_dir):
            policy_dir = sft_dir
        else:
            model = load_model(init_dir, cfg.model.dtype, cfg.hardware.device, cfg.model.trust_remote_code)
            resume_from = latest_checkpoint(run_dir / "trainer" / "sft") if resuming else None
            policy_dir = run_sft(model, tokenizer, sft_data, cfg, run_dir, sft_dir, sft_steps, sft_lr, resume_from,
                                 extra_callbacks=session.callback("sft"))
            del model
        if cfg.train.evaluate_after_sft and not sft_only and main:
            earlier = _saved_result(run_dir, "sft") if resuming else None
            results["sft"] = earlier or _evaluate(policy_dir, flores, cfg, "sft", run_dir, prov, builder, names)
        ranks.wait_for_everyone()

    final_dir = run_dir / "checkpoint"
    if resuming and stage_done(final_dir):
        pass  # training finished before the interruption
    elif cfg.train.rl_steps > 0 and not sft_only:
        resume_from = latest_checkpoint(run_dir / "trainer" / "rl") if resuming else None
        run_rl(policy_dir, tokenizer, rl_data, reward_mix, objective, cfg, run_dir, final_dir, resume_from,
               extra_callbacks=session.callback("rl"))
    elif main:
        tmp = staging_dir(final_dir)
        load_model(policy_dir, cfg.model.dtype).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        carry_added_tokens(tokenizer, tmp)
        finish_stage(tmp, final_dir, {"stage": "sft"})
    if not main:
        return {}  # evaluation and the summary are rank 0's
    if cfg.train.evaluate_at_end:
        stage = "sft" if sft_only else "rl"
        results[stage] = _evaluate(final_dir, flores, cfg, stage, run_dir, prov, builder, names)
    suite_summary = None
    if cfg.train.eval_suite:
        if flores is None:
            log.warning("train.eval_suite=%s skipped: no FLORES directory", cfg.train.eval_suite)
        else:
            suite_summary = evaluate_suite_after_training(final_dir, flores, cfg, run_dir / "eval",
                                                          {"provenance": prov})

    summary = {
        "run_dir": str(run_dir),
        "algo": cfg.algo.name,
        "seed": cfg.seed,
        "chrf_sft": results.get("sft", {}).get("metrics", {}).get("chrf++", {}).get("score"),
        "chrf_rl": results.get("rl", {}).get("metrics", {}).get("chrf++", {}).get("score"),
        "signature": (results.get("rl") or results.get("sft") or {}).get("metrics", {}).get("chrf++", {})
        .get("signature"),
        **_reward_trend(run_dir / "metrics.jsonl"),
        "reward_models": encoders,
        # The effective objective parameters (code defaults + algo.params): config.yaml holds only the overrides.
        "objective_params": None if objective is None else objective.params(),
        "provenance": prov,
    }
    atomic_write_json(run_dir / "summary.json", summary)
    session.log_summary(summary, suite_summary)
    _print_summary(summary, cfg)
    return summary


def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _print_summary(summary: dict, cfg: TrainConfig) -> None:
    table = Table(title=f"{cfg.data.name} {cfg.eval.split} · {cfg.lang.src}→{cfg.lang.tgt} · algo={cfg.algo.name}")
    table.add_column("stage")
    table.add_column("chrF++", justify="right")
    table.add_column("train reward (first → last 10%)", justify="right")
    table.add_row("after SFT", _fmt(summary["chrf_sft"]), "")
    delta = (None if summary["chrf_sft"] is None or summary["chrf_rl"] is None
             else summary["chrf_rl"] - summary["chrf_sft"])
    rl_label = "—" if cfg.algo.name == SFT_MODE else f"{cfg.train.rl_steps} steps"
    table.add_row(f"after RL ({rl_label})", _fmt(summary["chrf_rl"]),
                  f"{_fmt(summary['reward_first_10pct'], 3)} → {_fmt(summary['reward_last_10pct'], 3)}")
    if delta is not None:
        table.add_row("Δ RL − SFT", f"{delta:+.2f}", "")
    console.print(table)
    if summary["signature"]:
        console.print(f"chrF++ signature: {summary['signature']}")
    console.print(f"run directory: {summary['run_dir']}")
