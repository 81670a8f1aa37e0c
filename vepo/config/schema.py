"""Structured-config schema: the dataclasses Hydra validates every override against.

Each dataclass mirrors one config group or one block of `conf/*.yaml`; a typo or a wrong type fails at compose time
with the key's path, before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from vepo.config.ranges import ranged, seed_field

# Every numeric field declares its allowed range with `ranged` (vepo/config/ranges.py); every command's check runs
# one generic walker over them before any work starts, and a test fails for a numeric field without a range.


@dataclass
class TinyModelConfig:
    """A small Qwen2-architecture decoder built from scratch (the embedded demo's model)."""

    vocab_size: int = ranged(1024, ge=1)  # BPE target size; never below the 258 byte-level symbols + specials
    hidden_size: int = ranged(128, ge=1)
    intermediate_size: int = ranged(256, ge=1)
    num_hidden_layers: int = ranged(2, ge=1)
    num_attention_heads: int = ranged(4, ge=1)
    num_key_value_heads: int = ranged(2, ge=1)
    max_position_embeddings: int = ranged(256, ge=2)


@dataclass
class LoraSettings:
    """LoRA adapters via PEFT (r=0: full fine-tuning). SFT merges its adapters into models/sft (RL starts from a
    plain model); RL saves adapters as the final checkpoint, or the merged model when `merge` (adapters then go to
    checkpoint-adapter/)."""

    r: int = ranged(0, ge=0, note="0: full fine-tuning")
    alpha: int = ranged(32, ge=1)
    dropout: float = ranged(0.05, ge=0, lt=1)
    target_modules: List[str] = field(default_factory=lambda: ["all-linear"])
    merge: bool = False


@dataclass
class ModelConfig:
    name: str = "tiny"
    path: Optional[str] = None  # HF id or local directory; None builds the tiny model
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    dtype: str = "float32"
    trust_remote_code: bool = False


@dataclass
class LangConfig:
    """A translation direction. Any FLORES-200 code works (`lang=bod_Tibt` sets tgt); names default to the English
    names of vepo/data/languages.py and are what prompts call the languages."""

    src: str = "eng_Latn"
    tgt: str = "toy_Tibt"
    src_name: Optional[str] = None
    tgt_name: Optional[str] = None


@dataclass
class DataConfig:
    """Training data and the FLORES directory evaluation reads.

    name: toy (the embedded synthetic language), flores_dev (train on FLORES dev, evaluate on devtest) or parallel
    (a corpus at `path`: .tsv, .jsonl, .parquet, a local HF dataset directory, or two aligned text files)."""

    name: str = "toy"
    seed: int = seed_field(0)  # the toy language's corpus seed (independent of the training seed)
    n_train: int = ranged(2000, ge=1)
    n_dev: int = ranged(200, ge=0)
    n_devtest: int = ranged(200, ge=1, note="the toy evaluation set")
    flores_dir: Optional[str] = None  # None: $VEPO_FLORES_DIR, else (toy) the layout written inside the run dir
    flores_version: Optional[str] = None  # recorded in results; None: what the directory says (dataset.json)
    path: Optional[str] = None  # parallel: the corpus file/directory (source side when tgt_path is set)
    tgt_path: Optional[str] = None  # parallel: target-side text file aligned line by line with `path`
    format: str = "auto"  # parallel: auto | tsv | jsonl | parquet | hf | text
    # parallel: the source / target field (JSONL, Parquet, HF) or TSV header column; a TSV without a header row is
    # read as source<TAB>target
    src_field: str = "src"
    tgt_field: str = "tgt"
    tsv_header: Optional[bool] = None  # parallel TSV: does the first row name the columns? None: detect it
    max_pairs: Optional[int] = ranged(None, ge=1, note="null: every pair")  # at most this many pairs (after cleaning)


@dataclass
class PromptConfig:
    """How a source sentence becomes a prompt. template: plain (a completion-style prompt for base models), chat
    (the tokenizer's chat template around `instruction`) or auto (chat when the tokenizer has a chat template)."""

    template: str = "auto"
    plain: str = "{src_name}: {src}\n{tgt_name}:"
    instruction: str = "Translate the following {src_name} text into {tgt_name}. Reply with the translation only.\n\n{src}"
    system: Optional[str] = None  # chat: an optional system message


@dataclass
class AlgoTrainerConfig:
    """What an algorithm asks of the trainer beyond its loss (rollout filtering, reward shaping, extra stages)."""

    dynamic_sampling: bool = False  # DAPO: replace groups whose rewards are all equal with fresh prompts
    max_resample_rounds: int = ranged(3, ge=0)  # retry budget for dynamic sampling
    overlong_penalty: bool = False  # DAPO: soft penalty on completions within the last L_c tokens of the limit
    overlong_cache_ratio: float = ranged(0.25, gt=0, le=1)  # L_c = ratio * max_completion_length
    sft_warmup_steps: Optional[int] = ranged(None, ge=0)  # EGSPO stage 1: overrides train.sft_steps when set
    sft_warmup_lr: Optional[float] = ranged(None, gt=0)  # EGSPO stage 1: overrides train.sft_lr when set


@dataclass
class AlgoConfig:
    name: str = "grpo"  # a registered objective, or "sft" (supervised training only, no RL)
    params: Dict[str, Any] = field(default_factory=dict)  # keyword arguments of the registered objective
    trainer: AlgoTrainerConfig = field(default_factory=AlgoTrainerConfig)


@dataclass
class RewardTermConfig:
    """One reward component: `type` is a registered reward (vepo/rewards/registry.py), `params` its arguments."""

    type: str = "chrf"
    # additive terms only; gates multiply
    weight: float = ranged(1.0, ge=0, note="components score in [0, 1]; a gate, not a negative weight, penalises")
    params: Dict[str, Any] = field(default_factory=dict)


@dataclass
class BalanceConfig:
    """VEPO's variable semantic-vs-literal balance; schedule none = fixed weights. The one definition of the schedule's
    fields: vepo/rewards/schedules.BalanceSchedule wraps this object with its runtime state."""

    schedule: str = "none"  # none | constant | linear | entropy_coupled
    semantic_term: str = "semantic"
    literal_term: str = "chrf"
    weight: float = ranged(0.5, ge=0, le=1)
    start: float = ranged(0.2, ge=0, le=1)
    end: float = ranged(0.8, ge=0, le=1)
    w_min: float = ranged(0.2, ge=0, le=1)
    w_max: float = ranged(0.8, ge=0, le=1)


@dataclass
class RewardConfig:
    """R = Π gates × Σ w_k · terms_k (each component in [0, 1])."""

    name: str = "chrf"
    # Empty by default: a preset's terms must replace, not extend, the defaults (Hydra merges dicts key by key).
    terms: Dict[str, RewardTermConfig] = field(default_factory=dict)
    gates: Dict[str, RewardTermConfig] = field(default_factory=dict)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    device: str = "cpu"  # where reward models (sentence embeddings, COMET) run: cpu | cuda | policy


@dataclass
class HardwareConfig:
    """Where and how training runs. num_processes > 1 makes `vepo train` start its workers itself (launcher
    accelerate or torchrun) with the `distributed` strategy; the Hydra job stays one process."""

    name: str = "cpu"
    device: str = "cpu"
    bf16: bool = False
    gradient_checkpointing: bool = False  # trades compute for memory: worth it on a GPU, only slower on the CPU
    num_threads: Optional[int] = ranged(None, ge=1)  # torch intra-op threads; None keeps torch's default
    attn_implementation: Optional[str] = None  # sdpa | flash_attention_2 | eager; None: transformers' default
    num_processes: Optional[int] = ranged(1, ge=1, note="null: one per visible GPU")
    launcher: str = "none"  # none | accelerate | torchrun
    distributed: str = "none"  # none | ddp | zero2 | zero3 | fsdp
    main_process_port: int = ranged(29517, ge=1, le=65535)


@dataclass
class RolloutConfig:
    """How RL completions are generated: static (the default: vepo's static-cache generator,
    vepo/training/static_rollout.py), hf (model.generate in the trainer), vllm_colocate (vLLM inside the training
    processes) or vllm_server (a `trl vllm-serve` server)."""

    name: str = "static"
    # static: rows per generation call, sorted by prompt length (0: every row of the rollout in one call)
    batch_size: int = ranged(0, ge=0, note="0 generates the whole rollout in one call")
    compile: bool = False  # static: torch.compile the decode step (CUDA graphs on GPU)
    # static: the rollout's own log-probs are the behaviour policy's (no extra forward pass) when the rollout ran at
    # training's precision; false always recomputes them, as TRL does
    reuse_logprobs: bool = True
    vllm_gpu_memory_utilization: float = ranged(0.3, gt=0, le=1)  # colocate: the share of GPU memory vLLM may take
    server_host: str = "127.0.0.1"
    server_port: int = ranged(8000, ge=1, le=65535)


@dataclass
class TrainLoopConfig:
    # SFT warm-up (TRL SFTTrainer) on the parallel corpus
    sft_steps: int = ranged(160, ge=0, note="0 skips the SFT warm-up")
    sft_lr: float = ranged(3e-3, gt=0)
    sft_batch_size: int = ranged(32, ge=1)
    # RL (vepo's GRPOTrainer subclass)
    rl_steps: int = ranged(150, ge=0, note="0 skips RL")
    rl_lr: float = ranged(3e-4, gt=0)
    prompts_per_step: int = ranged(16, ge=1)
    num_generations: int = ranged(8, ge=2, note="group advantages compare at least 2 completions per prompt")
    max_completion_length: int = ranged(48, ge=1)
    temperature: float = ranged(0.7, gt=0, note="RL samples its completions; 0.7-1.0 is usual")
    top_p: float = ranged(1.0, gt=0, le=1)
    gradient_accumulation_steps: int = ranged(1, ge=1)
    # Off-policy reuse (docs/objectives.md): one rollout batch of prompts_per_step × steps_per_generation prompts feeds
    # steps_per_generation optimiser steps (verl's PPO mini-batches), num_iterations passes over it (μ). Any value
    # above 1 makes later steps off-policy, which is what lets the clip and trust-region masks act.
    steps_per_generation: int = ranged(2, ge=1)
    num_iterations: int = ranged(1, ge=1)
    warmup_ratio: float = ranged(0.0, ge=0, le=1)
    weight_decay: float = ranged(0.0, ge=0)
    max_grad_norm: float = ranged(1.0, ge=0, note="0: no clipping")
    evaluate_after_sft: bool = True
    evaluate_at_end: bool = True
    # resumable checkpoint every N optimiser steps per stage (0: only the stage's final model)
    save_steps: int = ranged(0, ge=0, note="0: only each stage's final model")
    save_total_limit: int = ranged(2, ge=1)  # keep the last K checkpoints
    eval_suite: Optional[str] = None  # a suite (conf/suite/<name>.yaml) or inline directions (a-b,c-d) run at the end
    # console: a table of the watched metrics every N optimiser steps of each stage
    log_table_every: int = ranged(25, ge=0, note="0: no tables")


@dataclass
class EvalSettings:
    split: str = "devtest"
    batch_size: int = ranged(64, ge=1)  # sequences per generation batch
    max_new_tokens: int = ranged(64, ge=1)
    # evaluate only the first N segments per direction (quick checks)
    max_segments: Optional[int] = ranged(None, ge=1, note="null: every segment")
    engine: str = "hf"  # hf | static (vepo's static-cache generator) | vllm (when installed)
    do_sample: bool = False  # greedy by default
    temperature: float = ranged(1.0, gt=0, note="used with eval.do_sample=true; greedy is do_sample=false")
    top_p: float = ranged(1.0, gt=0, le=1)
    length_sorted: bool = True  # batch segments of similar length across directions (False: per direction)
    wave_segments: int = ranged(16384, ge=1)  # directions are generated in waves of about this many segments
    spbleu: bool = True  # skipped with a note when the FLORES-200 SentencePiece model is not available offline
    comet: bool = False
    comet_model: str = "Unbabel/wmt22-comet-da"
    comet_batch_size: int = ranged(32, ge=1)
    comet_device: Optional[str] = None  # None: the hardware device


@dataclass
class SuiteConfig:
    """Directions to evaluate: explicit `directions` ("src-tgt") plus every `langs` code paired with `pivot` (both
    ways when `both_ways`). kind=retention measures NLL/KL on a text file instead (RetentionConfig)."""

    name: str = "default90"
    kind: str = "translation"  # translation | retention
    pivot: Optional[str] = "eng_Latn"
    langs: List[str] = field(default_factory=list)
    both_ways: bool = True
    directions: List[str] = field(default_factory=list)
    dataset: Optional[str] = None  # toy: the embedded toy layout is written when no FLORES directory is given


@dataclass
class RetentionConfig:
    """Alignment tax (suite=retention, docs/evaluation.md): what a trained model loses against its base outside the
    trained direction: chrF++ on untrained directions, NLL and token-level KL(model || reference) on held-out text,
    and optionally multiple-choice accuracy. Mirrored one-to-one by the `retention:` block of conf/eval.yaml."""

    reference: Optional[str] = None  # the base model (HF id or directory) every number is compared with
    text_file: Optional[str] = None  # held-out general text; None: data=toy uses the toy dev split, else required
    max_length: int = ranged(512, ge=2, note="one predicted token")  # tokens per chunk
    max_chunks: Optional[int] = ranged(None, ge=1, note="null: all chunks")
    # untrained FLORES directions (src-tgt); None: a default handful (toy: toy_Tibt-eng_Latn); []: no translation
    directions: Optional[List[str]] = None
    trained_direction: str = "auto"  # src-tgt | auto (toy, or the model's training run config) | none
    mc_file: Optional[str] = None  # JSONL multiple-choice set: {"question", "context"?, "choices", "answer"}


@dataclass
class LoggerConfig:
    """Experiment logging besides metrics.jsonl (always written). name: none | wandb. mode auto: online when a W&B
    key is configured ($WANDB_API_KEY or a netrc entry), else offline (run files under <run_dir>/wandb, `wandb sync`
    later); $WANDB_MODE, when set, wins in auto mode."""

    name: str = "none"
    project: str = "vepo"
    entity: Optional[str] = None
    mode: str = "auto"  # auto | online | offline | disabled
    group: Optional[str] = None  # None: the sweep directory in multirun, else no group
    tags: List[str] = field(default_factory=list)  # added to the tags made from the command-line overrides
    # RL: sample translations at step 1, then from the first rollout ≥ N steps later (0: never)
    sample_every_steps: int = ranged(10, ge=0, note="0: never")
    num_samples: int = ranged(4, ge=0)  # rows per sample table
    # online: seconds to wait for the W&B server to answer before logging offline instead
    init_timeout: float = ranged(30.0, ge=0, note="0: no reachability check")


@dataclass
class TrainConfig:
    seed: int = seed_field(42)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    lang: LangConfig = field(default_factory=LangConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    # Continue a run from its last complete checkpoint: a run directory, or "auto" (this run directory, if it has
    # checkpoints; otherwise start fresh).
    resume: Optional[str] = None


@dataclass
class EvalConfig:
    seed: int = seed_field(42)
    suite: SuiteConfig = field(default_factory=SuiteConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    hyps: Optional[str] = None  # score the hypothesis files <hyps>/<src>-<tgt>.txt instead of generating
    output_dir: Optional[str] = None  # where results/ and summaries go; None: the Hydra run directory


__all__: List[str] = ["TrainConfig", "EvalConfig"]
