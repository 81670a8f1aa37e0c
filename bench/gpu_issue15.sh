#!/usr/bin/env bash
# The fast-rollout GPU figures (issue 15) in one run on one H100/H200. From the repo root:
#   bash bench/gpu_issue15.sh                 # base environment: RL step, generation, eval throughput, COMET
#   VEPO_VLLM=1 bash bench/gpu_issue15.sh     # also the vLLM engine, from the locked extra in its own environment
#   EVAL_LINES=200 bash bench/gpu_issue15.sh  # a shorter eval job (the full default90 is 1012 lines x 90
#                                             # directions in three runs, roughly an hour; the rest ~10 minutes)
# Results land in bench/results/*_<gpu name>.json (static_generation_cuda*.json); docs/benchmarks.md reads them.
set -euo pipefail
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

# RL step: TRL's stock GRPOTrainer vs vepo (grpo, vepo) with model.generate and with the compiled static engine;
# 8 prompts x 8 generations, 40-token prompts, 128 completion tokens, median of steps 2-6; both shapes.
uv run python bench/rl_step.py --device cuda --shape both --vepo-rollout hf,static:compile=true

# The engine alone against model.generate, eager and compiled (CUDA graphs).
uv run python bench/static_generation.py --device cuda --batch 64 --new-tokens 128 --out bench/results/static_generation_cuda.json
uv run python bench/static_generation.py --device cuda --batch 64 --new-tokens 128 --compile \
  --out bench/results/static_generation_cuda_compiled.json

# default90 (91,080 segments, <= 128 new tokens), Qwen2.5-0.5B-shaped, hf and static engines, and the naive baseline.
uv run python bench/eval_throughput.py --shape qwen2.5-0.5b --device cuda --engines hf,static --lines "${EVAL_LINES:-1012}"

# COMET-22-sized scoring (random-weight XLM-R-large checkpoint built in code).
uv run python bench/rewards.py --device cuda --comet-size large --segments 4096

if [[ "${VEPO_VLLM:-0}" == "1" ]]; then
  # eval_throughput writes eval_throughput_<gpu name>.json: the vLLM run goes to its own file.
  gpu=$(uv run python -c "import torch; print(torch.cuda.get_device_name(0).replace(' ', '-').lower())")
  base=bench/results/eval_throughput_${gpu}.json
  cp "$base" "${base%.json}_hf_static.json"
  UV_PROJECT_ENVIRONMENT=.venv-vllm uv run --extra vllm python bench/eval_throughput.py --shape qwen2.5-0.5b \
    --device cuda --engines hf,vllm --lines "${EVAL_LINES:-1012}"
  mv "$base" "${base%.json}_vllm.json" && mv "${base%.json}_hf_static.json" "$base"
fi
