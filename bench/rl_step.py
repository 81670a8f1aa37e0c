"""One RL optimiser step: TRL's stock `GRPOTrainer` vs vepo's trainer (`VepoGRPOTrainer`, algo=grpo and algo=vepo).

Workload (defaults): 8 prompts x 8 generations per step (64 completions), 40-token prompts, exactly 128 completion
tokens (EOS, the pad token and ids beyond the tokenizer are made unsampleable for every system alike by a forward hook
on the output head; the bench asserts every completion has the requested length), steps_per_generation=1
(on-policy), no reference model (beta=0), a cheap deterministic reward (a byte checksum of the completion text), so a
step is generation + the policy's forward/backward + the optimiser. Random weights.

vepo's side is built the way `vepo train` builds it: the Hydra TrainConfig composed from conf/ with overrides
(train.prompts_per_step, train.num_generations, train.max_completion_length, train.steps_per_generation=1,
algo.params.beta=0 for grpo, hardware=cpu|gpu, rollout=...), `grpo_config()`, `build_objective()`, the rarity table,
vepo's callbacks and the non-finite guard. TRL's side is `GRPOConfig(loss_type="grpo")` with TRL's defaults except
what must match for a fair comparison: batch shape, sampling (temperature, top_p), learning-rate schedule,
gradient clipping, precision (bf16, model dtype), activation checkpointing, attention implementation, seed.

Timed: each optimiser step, from `on_step_begin` to `on_step_end` of a TrainerCallback added last (CUDA
synchronised), split into generation (the trainer's `_generate`), the rest of the rollout batch
(`_generate_and_score_completions` minus generation: rewards, advantages, any behaviour log-probs) and training (loss
forward/backward, optimiser, the other callbacks' on_step_end; for vepo, `finite_guard_s` of it is the non-finite
guard's scan of every weight). Reported: the median over steps 2..N (step 1 pays one-off costs) of every round
(`--rounds`: each round runs every system once, in a rotated order), and the process's CPU seconds in the same window
(on a shared CPU the wall time also counts waiting for a core). Peak memory: on CUDA,
`torch.cuda.max_memory_allocated` after a reset at the start of each system's `train()`; on CPU, the peak resident set
size (RSS) above the RSS at the start of `train()`, sampled every 5 ms by a thread (weights loaded before `train()` are
not counted; all systems run in one process, so memory one system freed may be reused by the next).

Usage: uv run python bench/rl_step.py [--device cpu|cuda] [--shape tiny|qwen0.5b|both]
       [--vepo-rollout hf[,static[:compile=true]]] [--prompts 8] [--generations 8] [--prompt-tokens 40]
       [--completion-tokens 128] [--steps 6] [--rounds 1] [--threads N] [--systems trl_grpo,vepo_grpo,vepo_vepo]
Writes bench/results/rl_step_<device>.json (per-shape sections are merged into an existing file of the same device,
so a reduced-workload run of one shape keeps the other shape's figures) and prints a table.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import PrinterCallback, TrainerCallback, set_seed

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Qwen2.5-0.5B's shape (random weights; the tokenizer is the tiny one, ids beyond it are never sampled).
QWEN_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                num_key_value_heads=2, vocab_size=151936)
SHAPES = ("tiny", "qwen0.5b")
SYSTEMS = ("trl_grpo", "vepo_grpo", "vepo_vepo")


@dataclass
class Workload:
    prompts: int = 8
    generations: int = 8
    prompt_tokens: int = 40
    completion_tokens: int = 128
    steps: int = 6

    @property
    def completions(self) -> int:
        return self.prompts * self.generations

    @property
    def completion_tokens_per_step(self) -> int:
        return self.completions * self.completion_tokens


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ---- model, prompts, reward ------------------------------------------------------------------------------------------
def _corpus_texts(n: int = 256) -> list[str]:
    from vepo.data.toy import build_toy_corpus

    corpus = build_toy_corpus(seed=0, n_train=n, n_dev=1, n_devtest=1)
    return [s for s, _ in corpus.train] + [t for _, t in corpus.train]


def build_policy(shape: str, out: Path, dtype: torch.dtype) -> Path:
    """The embedded tiny model (conf/model/tiny.yaml's shape), or a Qwen2.5-0.5B-shaped decoder with the tiny
    tokenizer; random weights, saved so both trainers load it the same way (from_pretrained)."""
    from vepo.config.schema import TinyModelConfig
    from vepo.models.tiny import build_and_save_tiny, tiny_model_config, train_tokenizer

    texts = _corpus_texts()
    if shape == "tiny":
        return build_and_save_tiny(texts, _composed_tiny_config(), out, seed=0)
    from transformers import Qwen2ForCausalLM

    tok = train_tokenizer(texts, TinyModelConfig().vocab_size)
    dims = {k: v for k, v in QWEN_05B.items() if k != "vocab_size"}
    config = tiny_model_config(TinyModelConfig(max_position_embeddings=32768, **dims), QWEN_05B["vocab_size"],
                               tok.eos_token_id, tok.pad_token_id)
    config.rope_theta, config.rms_norm_eps = 1e6, 1e-6  # Qwen2.5's values (no effect on cost)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(dtype)
    model.generation_config.eos_token_id, model.generation_config.pad_token_id = tok.eos_token_id, tok.pad_token_id
    model.generation_config.bos_token_id = None
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def _composed_tiny_config():
    from omegaconf import OmegaConf

    from vepo.config.validate import compose_config

    return OmegaConf.to_object(compose_config("train", [])).model.tiny


def fixed_length_prompts(tokenizer, n: int, length: int) -> list[dict]:
    """`n` distinct prompt rows whose text the trainers tokenize to exactly `length` tokens (toy text cut at a token
    boundary, kept only when it re-tokenizes to the same length). `ref` feeds vepo's rarity table."""
    stream = " ".join(_corpus_texts())
    ids = tokenizer(stream, add_special_tokens=False)["input_ids"]
    rows, start = [], 0
    while len(rows) < n:
        if start + length > len(ids):
            raise RuntimeError(f"toy corpus too short for {n} prompts of {length} tokens")
        text = tokenizer.decode(ids[start:start + length])
        if len(tokenizer(text)["input_ids"]) == length:
            rows.append({"prompt": text, "ref": text[: len(text) // 2]})
        start += length
    return rows


def cheap_reward(completions, **kwargs) -> list[float]:
    """Deterministic and nearly free: a byte checksum of the completion, in [0, 1)."""
    return [(sum(c.encode()) % 101) / 101 for c in completions]


# ---- trainers --------------------------------------------------------------------------------------------------------
def vepo_train_config(algo: str, rollout: str, device: str, w: Workload, model_path: Path, dtype: str):
    """The TrainConfig `vepo train` would run with these overrides, checked like the CLI checks it."""
    from omegaconf import OmegaConf

    from vepo.config.validate import compose_config
    from vepo.training.checks import check_train_config

    name, *settings = rollout.split(":")
    overrides = [
        f"algo={algo}", "reward=chrf", f"rollout={name}", *(f"rollout.{kv}" for kv in settings),
        f"hardware={'gpu' if device == 'cuda' else 'cpu'}",
        f"model.path={model_path}", f"model.dtype={dtype}", f"train.rl_steps={w.steps}",
        f"train.prompts_per_step={w.prompts}", f"train.num_generations={w.generations}",
        f"train.max_completion_length={w.completion_tokens}", "train.steps_per_generation=1",
        "train.num_iterations=1", "seed=0",
    ]
    if algo == "grpo":
        overrides.append("algo.params.beta=0.0")  # no reference model (vepo's grpo defaults to β=0.04)
    composed = compose_config("train", overrides)
    check_train_config(composed)
    return OmegaConf.to_object(composed), overrides


def build_vepo_trainer(algo: str, rollout: str, device: str, w: Workload, model_path: Path, dtype: str,
                       rows: list[dict], run_dir: Path):
    """VepoGRPOTrainer as vepo/training/rl.py::run_rl builds it, with the cheap reward instead of the reward mix."""
    from datasets import Dataset

    from vepo.models.loading import load_tokenizer
    from vepo.training.callbacks import MetricsJsonlCallback, StepControllersCallback
    from vepo.training.checkpointing import VepoStateCallback
    from vepo.training.finite_guard import FiniteGuardCallback
    from vepo.training.objective_setup import build_objective, rarity_table
    from vepo.training.rl import grpo_config
    from vepo.training.trainer import VepoGRPOTrainer
    from vepo.training.trainer_args import peft_config

    cfg, overrides = vepo_train_config(algo, rollout, device, w, model_path, dtype)
    tokenizer = load_tokenizer(model_path)
    objective = build_objective(cfg.algo.name, dict(cfg.algo.params), cfg.train.max_completion_length,
                                vocab_size=len(tokenizer))
    args = grpo_config(cfg, objective.needs(), run_dir)
    assert args.beta == 0.0, "the bench runs without a reference model"
    args.reward_weights = [1.0]  # as run_rl sets them (one reward function)
    dataset = Dataset.from_list(rows)
    rarity, counts, _ = rarity_table(tokenizer, list(dataset["ref"]), run_dir / "cache")
    trainer = VepoGRPOTrainer(
        model=str(model_path), reward_funcs=[cheap_reward], args=args, train_dataset=dataset,
        processing_class=tokenizer, objective=objective, algo_trainer=cfg.algo.trainer, rollout=cfg.rollout,
        token_rarity=rarity,
        token_counts=counts, peft_config=peft_config(cfg.model.lora),
        callbacks=[MetricsJsonlCallback(run_dir / "metrics.jsonl", stage="rl"), StepControllersCallback(objective),
                   VepoStateCallback(objective)],
    )
    # train_watched()'s guard; its console display is left out (cosmetic, and it runs outside the timed window).
    guard = FiniteGuardCallback("rl", "train.rl_lr", cfg.train.rl_lr, model_path)
    trainer.add_callback(guard)
    return trainer, {"overrides": overrides, "objective": objective.name, "objective_params": objective.params(),
                     "finite_guard_steps_s": time_calls(guard, "on_step_end", device)}


def time_calls(obj, name: str, device: str) -> list[float]:
    """Wrap obj.<name> on the instance; returns the list each call's seconds are appended to."""
    inner, times = getattr(obj, name), []

    def timed(*args, **kwargs):
        _sync(device)
        t0 = time.perf_counter()
        out = inner(*args, **kwargs)
        _sync(device)
        times.append(time.perf_counter() - t0)
        return out

    setattr(obj, name, timed)
    return times


# GRPOConfig fields TRL's side takes from vepo's arguments, so the two differ only in the trainer and its loss.
SHARED_ARGS = ("per_device_train_batch_size", "gradient_accumulation_steps", "num_generations", "steps_per_generation",
               "num_iterations", "max_completion_length", "temperature", "top_p", "learning_rate",
               "lr_scheduler_type", "warmup_steps", "max_steps", "max_grad_norm", "weight_decay", "use_cpu", "bf16",
               "activation_checkpointing", "model_init_kwargs", "seed", "data_seed", "logging_steps")


def build_trl_trainer(reference_args, model_path: Path, rows: list[dict], run_dir: Path):
    """TRL's stock GRPOTrainer with loss_type="grpo", beta=0 and model.generate rollouts."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from vepo.models.loading import load_tokenizer

    shared = {k: getattr(reference_args, k) for k in SHARED_ARGS}
    shared["lr_scheduler_type"] = str(getattr(shared["lr_scheduler_type"], "value", shared["lr_scheduler_type"]))
    args = GRPOConfig(output_dir=str(run_dir / "trl"), loss_type="grpo", beta=0.0, use_vllm=False, report_to="none",
                      save_strategy="no", disable_tqdm=True, gradient_checkpointing=None, **shared)
    trainer = GRPOTrainer(model=str(model_path), reward_funcs=[cheap_reward], args=args,
                          train_dataset=Dataset.from_list(rows), processing_class=load_tokenizer(model_path))
    return trainer, {"loss_type": "grpo", "shared_args": {k: str(v) for k, v in shared.items()}}


# ---- instrumentation -------------------------------------------------------------------------------------------------
class StepTimer(TrainerCallback):
    """Wall seconds of each optimiser step, and the process's CPU seconds in it (all its threads: on a shared CPU the
    CPU time shows the work done when the wall time also counts waiting for a core)."""

    def __init__(self, device: str) -> None:
        self.device, self.times, self.cpu_times = device, [], []
        self._t0 = self._c0 = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        _sync(self.device)
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        _sync(self.device)
        self.times.append(time.perf_counter() - self._t0)
        self.cpu_times.append(time.process_time() - self._c0)


class RssPeak:
    """Peak RSS above the RSS at start(), sampled every `interval` s by a daemon thread."""

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self._proc, self.interval = psutil.Process(), interval
        self.base = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self.interval)

    def start(self) -> "RssPeak":
        self.base = self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.base


def unsampleable_ids(tokenizer, vocab_size: int) -> list[int]:
    """EOS and pad (no early stop, no pad inside a completion) and ids the tokenizer cannot decode."""
    special = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    return sorted(special | set(range(len(tokenizer), vocab_size)))


def mask_output_head(model, ids: list[int]):
    """A forward hook on the output head: those logits become -inf for every system's sampler alike. TRL's and
    vepo's training passes compute log-probs from the head's weight (TRL's fused head), not through this module."""
    head = model.get_output_embeddings()
    index = torch.tensor(ids, device=head.weight.device)

    def hook(module, inputs, output):
        return output.index_fill(-1, index.to(output.device), float("-inf"))

    return head.register_forward_hook(hook)


class Probe:
    """Times generation and rollout-batch building on the trainer instance and checks every batch's shape."""

    def __init__(self, trainer, w: Workload, device: str) -> None:
        self.w, self.device = w, device
        self.gen_s: list[float] = []
        self.rollout_s: list[float] = []
        self.completions = 0
        self._wrap(trainer, "_generate", self.gen_s)
        score = self._wrap(trainer, "_generate_and_score_completions", self.rollout_s)

        def checked(inputs):
            out = score(inputs)
            self._check(out)
            return out

        trainer._generate_and_score_completions = checked

    def _wrap(self, trainer, name: str, sink: list[float]):
        inner = getattr(trainer, name)

        def timed(*args, **kwargs):
            _sync(self.device)
            t0 = time.perf_counter()
            out = inner(*args, **kwargs)
            _sync(self.device)
            sink.append(time.perf_counter() - t0)
            return out

        setattr(trainer, name, timed)
        return timed

    def _check(self, out: dict) -> None:
        lengths = out["completion_mask"].sum(1).tolist()
        prompt_lengths = out["prompt_mask"].sum(1).tolist()
        w = self.w
        assert len(lengths) == w.completions, f"{len(lengths)} completions in a batch, expected {w.completions}"
        assert set(lengths) == {w.completion_tokens}, f"completion lengths {sorted(set(lengths))}"
        assert set(prompt_lengths) == {w.prompt_tokens}, f"prompt lengths {sorted(set(prompt_lengths))}"
        self.completions += len(lengths)


def _free_memory(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    else:
        try:  # hand freed heap back to the OS, so the next system's RSS baseline is comparable
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass


def label(rollout: str) -> str:
    """`static:compile=true` -> `static_compile_true` (a JSON key part)."""
    return rollout.replace(":", "_").replace("=", "_").replace(".", "_")


def _after_first(runs: list[dict], key: str) -> list[float]:
    """Every round's values of `key` without its first step (which pays one-off costs), pooled."""
    return [x for r in runs for x in (r[key][1:] if len(r[key]) > 1 else r[key])]


def run_system(system: str, rollout: str, device: str, w: Workload, model_path: Path, dtype: str,
               rows: list[dict], run_dir: Path) -> dict:
    """Build one system's trainer, run w.steps optimiser steps, return its raw timings and peak memory (bytes)."""
    _free_memory(device)
    set_seed(0)
    if system == "trl_grpo":
        vepo_args = grpo_config_for(device, w, model_path, dtype, run_dir)
        trainer, info = build_trl_trainer(vepo_args, model_path, rows, run_dir)
    else:
        trainer, info = build_vepo_trainer(system.split("_", 1)[1], rollout, device, w, model_path, dtype, rows,
                                           run_dir)
    probe = Probe(trainer, w, device)
    handle = mask_output_head(trainer.model, unsampleable_ids(trainer.processing_class,
                                                             trainer.model.config.vocab_size))
    trainer.remove_callback(PrinterCallback)  # the same quiet console for every system (it acts on_log, untimed)
    timer = StepTimer(device)
    trainer.add_callback(timer)  # last, so the other callbacks' on_step_end is inside the timed step
    set_seed(0)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        rss = None
    else:
        rss = RssPeak().start()
    try:
        trainer.train()
    finally:
        peak = torch.cuda.max_memory_allocated() if device == "cuda" else rss.stop()
        handle.remove()
    assert len(timer.times) == w.steps and len(probe.gen_s) == w.steps, (len(timer.times), len(probe.gen_s))
    assert probe.completions == w.steps * w.completions
    del trainer  # the next system's _free_memory() returns its memory
    return {"steps_s": timer.times, "steps_cpu_s": timer.cpu_times, "generation_s": probe.gen_s,
            "rollout_batch_s": probe.rollout_s, "peak_bytes": peak, "info": info}


def summarise(system: str, rollout: str, w: Workload, runs: list[dict]) -> dict:
    """Medians over steps 2..N of every round; peak memory: the highest round."""
    step = statistics.median(_after_first(runs, "steps_s"))
    gen = statistics.median(_after_first(runs, "generation_s"))
    rollout_batch = statistics.median(_after_first(runs, "rollout_batch_s"))
    train = statistics.median(_after_first([{"x": [s - b for s, b in zip(r["steps_s"], r["rollout_batch_s"])]}
                                            for r in runs], "x"))
    return {"system": system, "rollout": "hf (TRL model.generate)" if system == "trl_grpo" else rollout,
            "step_s": round(step, 4), "step_cpu_s": round(statistics.median(_after_first(runs, "steps_cpu_s")), 4),
            "generation_s": round(gen, 4), "rollout_other_s": round(rollout_batch - gen, 4),
            "train_s": round(train, 4), "completion_tokens_per_s": round(w.completion_tokens_per_step / step, 1),
            "peak_mem_gb": round(max(r["peak_bytes"] for r in runs) / 2**30, 3),
            "steps_s": [[round(t, 4) for t in r["steps_s"]] for r in runs],
            "generation_steps_s": [[round(t, 4) for t in r["generation_s"]] for r in runs],
            **guard_summary(runs), **{k: v for k, v in runs[0]["info"].items() if k != "finite_guard_steps_s"}}


def guard_summary(runs: list[dict]) -> dict:
    """vepo's non-finite guard (a scan of every weight after each step), part of train_s: its median alone."""
    if "finite_guard_steps_s" not in runs[0]["info"]:
        return {}
    values = _after_first([{"x": r["info"]["finite_guard_steps_s"]} for r in runs], "x")
    return {"finite_guard_s": round(statistics.median(values), 4)}


def grpo_config_for(device: str, w: Workload, model_path: Path, dtype: str, run_dir: Path):
    """vepo's GRPOConfig for algo=grpo: the source of TRL's shared arguments."""
    from vepo.objectives import get_objective
    from vepo.training.rl import grpo_config

    cfg, _ = vepo_train_config("grpo", "hf", device, w, model_path, dtype)
    return grpo_config(cfg, get_objective("grpo", beta=0.0).needs(), run_dir / "trl_reference")


def measure_shape(shape: str, device: str, w: Workload, rollouts: list[str], systems=SYSTEMS,
                  rounds: int = 1) -> dict:
    """Every system on one model shape, `rounds` times (each round in a rotated order, so a slow spell of a shared
    machine does not always fall on the same system); returns the shape's section of the result."""
    dtype = "bfloat16" if device == "cuda" and shape != "tiny" else "float32"
    runs_of = {(s, r): (s if r == rollouts[0] or s == "trl_grpo" else f"{s}_{label(r)}")
               for s in systems for r in (["hf"] if s == "trl_grpo" else rollouts)}
    order = list(runs_of)
    raw: dict[str, list[dict]] = {key: [] for key in runs_of.values()}
    with tempfile.TemporaryDirectory(prefix="rl_step_") as tmp:
        tmp = Path(tmp)
        model_path = build_policy(shape, tmp / "model", getattr(torch, dtype))
        from vepo.models.loading import load_tokenizer

        rows = fixed_length_prompts(load_tokenizer(model_path), w.prompts * w.steps, w.prompt_tokens)
        for rnd in range(rounds):
            for system, rollout in order[rnd % len(order):] + order[:rnd % len(order)]:
                key = runs_of[(system, rollout)]
                print(f"[{shape}] round {rnd + 1}/{rounds}: {key} ...", flush=True)
                raw[key].append(run_system(system, rollout, device, w, model_path, dtype, rows,
                                           tmp / f"{key}-{rnd}"))
        n_params = count_parameters(model_path)
    results = {runs_of[k]: summarise(k[0], k[1], w, raw[runs_of[k]]) for k in order}
    section = {"workload": {**asdict(w), "rounds": rounds, "completions_per_step": w.completions,
                            "completion_tokens_per_step": w.completion_tokens_per_step},
               "model": {"shape": shape, "dtype": dtype, "parameters": n_params,
                         **({"dims": QWEN_05B} if shape != "tiny" else {})},
               "systems": results}
    if "trl_grpo" in results:
        base, base_cpu = results["trl_grpo"]["step_s"], results["trl_grpo"]["step_cpu_s"]
        section["ratios_step_time_vs_trl"] = {k: round(r["step_s"] / base, 3) for k, r in results.items()
                                              if k != "trl_grpo"}
        section["ratios_step_cpu_time_vs_trl"] = {k: round(r["step_cpu_s"] / base_cpu, 3)
                                                  for k, r in results.items() if k != "trl_grpo"}
    return section


def count_parameters(path: Path) -> int:
    """Parameters in the saved weights (tied embeddings: the head is stored once, as the embedding)."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        for key in f.keys():
            n = 1
            for d in f.get_slice(key).get_shape():
                n *= d
            total += n
    return total


# ---- result file -----------------------------------------------------------------------------------------------------
def device_label(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else f"cpu-{platform.machine()}"


def versions() -> dict:
    import transformers
    import trl

    import vepo

    return {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "vepo": vepo.__version__, "python": platform.python_version()}


def headline(section: dict) -> dict:
    """The top-level keys: one shape's step times, peak memory and vepo/TRL ratios."""
    out = {}
    for key, r in section["systems"].items():
        out[f"{key}_step_s"] = r["step_s"]
    for key, r in section["systems"].items():
        out[f"{'trl' if key == 'trl_grpo' else key}_peak_mem_gb"] = r["peak_mem_gb"]
    for key, ratio in section.get("ratios_step_time_vs_trl", {}).items():
        out[f"ratio_{key}_vs_trl"] = ratio
    for key, ratio in section.get("ratios_step_cpu_time_vs_trl", {}).items():
        out[f"ratio_cpu_time_{key}_vs_trl"] = ratio
    return out


def build_result(shapes: dict, device: str, previous: dict | None) -> dict:
    merged = dict(previous.get("shapes", {})) if previous else {}
    merged.update(shapes)
    main = "tiny" if "tiny" in merged else next(iter(merged))
    return {"benchmark": "rl_step", "device": device_label(device), "threads": torch.get_num_threads(),
            "main_shape": main, **headline(merged[main]),
            "memory_measure": ("torch.cuda.max_memory_allocated during train() (reset at its start)" if device == "cuda"
                               else "peak RSS above the RSS at the start of train(), sampled every 5 ms; one "
                                    "process for all systems (memory freed by an earlier one can be reused)"),
            "timing": "median over steps 2..N (of every round) of on_step_begin -> on_step_end, CUDA synchronised; "
                      "step_cpu_s: the process's CPU seconds in the same window",
            "shapes": merged, "versions": versions(), "date": dt.date.today().isoformat()}


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=170)
    for shape, section in result["shapes"].items():
        w = section["workload"]
        table = Table(title=f"RL step · {shape} · {result['device']} · {w['prompts']}x{w['generations']} "
                            f"completions, {w['prompt_tokens']}+{w['completion_tokens']} tokens, {w['steps']} steps")
        for col in ("system", "rollout", "step s", "x TRL", "step CPU s", "x TRL (CPU)", "gen s", "other rollout s",
                    "train s", "of it guard s", "tokens/s", "peak GB"):
            table.add_column(col, justify="right")
        trl = section["systems"].get("trl_grpo")
        for key, r in section["systems"].items():
            ratio = f"{r['step_s'] / trl['step_s']:.2f}" if trl else "-"
            cpu_ratio = f"{r['step_cpu_s'] / trl['step_cpu_s']:.2f}" if trl else "-"
            table.add_row(key, r["rollout"].split(" ")[0], f"{r['step_s']:.3f}", ratio, f"{r['step_cpu_s']:.3f}",
                          cpu_ratio, f"{r['generation_s']:.3f}", f"{r['rollout_other_s']:.3f}", f"{r['train_s']:.3f}",
                          f"{r['finite_guard_s']:.3f}" if "finite_guard_s" in r else "-",
                          f"{r['completion_tokens_per_s']:.0f}", f"{r['peak_mem_gb']:.2f}")
        console.print(table)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shape", choices=(*SHAPES, "both"), default="tiny")
    ap.add_argument("--vepo-rollout", default=None,
                    help="comma-separated rollout backends for vepo's systems (conf/rollout/<name>.yaml), each "
                         "optionally with settings: static:compile=true:batch_size=16. The first one gives the "
                         "vepo_grpo / vepo_vepo keys, the others vepo_<algo>_<label>. Default: the config's default")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--prompt-tokens", type=int, default=40)
    ap.add_argument("--completion-tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=1, help="repeat every system, in a rotated order each round")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default: torch's); 1 is steadier on a shared CPU")
    ap.add_argument("--out", default=None, help="result file (default bench/results/rl_step_<device>.json)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    rollouts = (a.vepo_rollout or _default_rollout()).split(",")
    w = Workload(a.prompts, a.generations, a.prompt_tokens, a.completion_tokens, a.steps)
    shapes = list(SHAPES) if a.shape == "both" else [a.shape]
    systems = tuple(a.systems.split(","))
    sections = {s: measure_shape(s, a.device, w, rollouts, systems, a.rounds) for s in shapes}
    command = "uv run python bench/rl_step.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for section in sections.values():  # what produced it: shapes of one file may come from different commands
        section.update(command=command, threads=torch.get_num_threads())
    name = device_label(a.device).replace(" ", "-").lower()
    out = Path(a.out or Path(__file__).parent / "results" / f"rl_step_{name}.json")
    previous = json.loads(out.read_text()) if out.is_file() else None
    if previous and previous.get("device") != device_label(a.device):
        previous = None
    result = build_result(sections, a.device, previous)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table({**result, "shapes": sections})
    print(f"wrote {out}")
    return result


def _default_rollout() -> str:
    from omegaconf import OmegaConf

    from vepo.config.validate import compose_config

    return OmegaConf.to_object(compose_config("train", [])).rollout.name


if __name__ == "__main__":
    main()
