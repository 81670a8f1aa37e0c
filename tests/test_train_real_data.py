"""`vepo train` on real-language data: FLORES dev for any code (`lang=<code>`), parallel corpora, prompt templates."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import SMOKE_OVERRIDES, run_vepo
from vepo.config.schema import PromptConfig
from vepo.data.prompts import PromptBuilder
from vepo.errors import VepoError


def test_flores_dev_training_on_any_code(flores_dir, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_vepo("train", "lang=bod_Tibt", "data=flores_dev", f"data.flores_dir={flores_dir}", *SMOKE_OVERRIDES,
                    "train.eval_suite='eng_Latn-kaz_Cyrl,kaz_Cyrl-eng_Latn'", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run_dir / "data" / "report.json").read_text())
    assert report["pairs"] == 24 and report["flores"]["name"] == "flores200"
    rl = json.loads((run_dir / "results" / "rl.json").read_text())
    assert rl["direction"] == "eng_Latn-bod_Tibt" and rl["split"] == "devtest" and rl["n_segments"] == 24
    assert rl["prompt"] == "plain" and len((run_dir / "data" / "train.jsonl").read_text().splitlines()) == 24
    # The suite at the end of training is written like `vepo eval`'s output.
    assert sorted(p.stem for p in (run_dir / "eval" / "results").glob("*.json")) == [
        "eng_Latn-kaz_Cyrl", "kaz_Cyrl-eng_Latn"]
    assert (run_dir / "eval" / "summary.csv").exists()


@pytest.mark.parametrize("args,message", [
    (["lang=bod_Tibbt", "data=flores_dev"], "closest: bod_Tibt"),
    (["lang=bod_Tibt"], "data=toy is the eng_Latn->toy_Tibt toy language"),  # the toy corpus is not Tibetan
    (["data=parallel", "data.path=/nonexistent/missing.tsv", "lang=bod_Tibt"], "missing.tsv"),
    (["data=parallel", "lang=bod_Tibt"], "data=parallel needs data.path"),
])
def test_bad_language_and_data_combinations_fail_before_any_job(args, message):
    # The same validation `vepo train` runs before Hydra starts a job (the CLI contract itself is in test_cli.py).
    from vepo.training.checks import check_train_config
    from vepo.config.shorthands import expand_shorthands
    from vepo.config.validate import validate_overrides

    with pytest.raises(VepoError, match=re.escape(message)) as info:
        validate_overrides("train", expand_shorthands(args), check_train_config)
    assert "\n" not in str(info.value)


def test_chat_template_prompt_and_plain_prompt_prefix(tiny_policy):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_policy[0])
    plain = PromptBuilder(PromptConfig(template="auto"), tokenizer)  # no chat template: plain
    assert plain.kind == "plain"
    prompt = plain.prompt("the dog sees a cat .", "English", "Standard Tibetan")
    assert prompt == "English: the dog sees a cat .\nStandard Tibetan:"
    full = prompt + plain.completion("ཁི་")
    assert tokenizer(full)["input_ids"][: len(tokenizer(prompt)["input_ids"])] == tokenizer(prompt)["input_ids"]
    tokenizer.chat_template = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
                               "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    chat = PromptBuilder(PromptConfig(template="auto", system="Be exact."), tokenizer)
    text = chat.prompt("hello", "English", "Uyghur")
    assert chat.kind == "chat" and text.startswith("<|system|>Be exact.\n<|user|>Translate the following English")
    assert text.endswith("hello\n<|assistant|>") and chat.completion("سالام") == "سالام"
