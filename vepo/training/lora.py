"""LoRA via PEFT: the adapter config for `model.lora` (r=0: full fine-tuning)."""

from __future__ import annotations

from vepo.config.schema import LoraSettings


def peft_config(lora: LoraSettings):
    if lora.r <= 0:
        return None
    from peft import LoraConfig

    modules = lora.target_modules
    # PEFT takes the string "all-linear" (every linear layer but the output head), or a list of module names.
    target = modules[0] if list(modules) == ["all-linear"] else list(modules)
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=target,
                      task_type="CAUSAL_LM")
