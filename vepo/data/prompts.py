"""Prompt templates (plain and chat) and the clean-up applied to every generated hypothesis.

Plain prompts end on ':' and their completion starts with a space, so the tokenized prompt is always a prefix of the
tokenized prompt+completion (SFT's completion mask and RL's generation see the same context). Chat prompts are the
tokenizer's own chat template around an instruction, rendered to text with the generation prompt appended; the
completion is the bare translation (TRL's SFT appends the end-of-turn token). Languages are named in English.
"""

from __future__ import annotations

from dataclasses import dataclass

from vepo.config.schema import PromptConfig
from vepo.data.languages import english_name
from vepo.errors import VepoError

TEMPLATES = ("auto", "plain", "chat")


def check_template(template: str) -> None:
    """Before a job: prompt.template names a known template (one config-error line)."""
    if template not in TEMPLATES:
        raise VepoError(f"config error: prompt.template='{template}' is not one of {', '.join(TEMPLATES)}")
DEFAULT_PLAIN = PromptConfig.plain


def make_prompt(source: str, src_name: str, tgt_name: str) -> str:
    """The default plain prompt (the embedded demo's)."""
    return DEFAULT_PLAIN.format(src=source, src_name=src_name, tgt_name=tgt_name)


def make_completion(target: str) -> str:
    return " " + target


def clean_hypothesis(text: str) -> str:
    """The translation is the first non-empty line of the completion, stripped."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def language_names(src: str, tgt: str, src_name: str | None = None, tgt_name: str | None = None) -> tuple[str, str]:
    """Names used in prompts: configured names win, else the English names of the codes."""
    return src_name or english_name(src), tgt_name or english_name(tgt)


@dataclass
class PromptBuilder:
    """Builds prompts and SFT completions for one tokenizer under one PromptConfig."""

    config: PromptConfig
    tokenizer: object = None

    def __post_init__(self) -> None:
        if self.config.template not in TEMPLATES:
            raise VepoError(f"prompt.template='{self.config.template}' is not one of {', '.join(TEMPLATES)}")
        has_chat = bool(getattr(self.tokenizer, "chat_template", None))
        if self.config.template == "chat" and not has_chat:
            raise VepoError("prompt.template=chat but the tokenizer has no chat template; use prompt.template=plain")
        self.chat = self.config.template == "chat" or (self.config.template == "auto" and has_chat)

    @property
    def kind(self) -> str:
        return "chat" if self.chat else "plain"

    def _fields(self, source: str, src_name: str, tgt_name: str) -> dict[str, str]:
        return {"src": source, "src_name": src_name, "tgt_name": tgt_name}

    def prompt(self, source: str, src_name: str, tgt_name: str) -> str:
        fields = self._fields(source, src_name, tgt_name)
        if not self.chat:
            return self._format(self.config.plain, fields, "prompt.plain")
        messages = [{"role": "user", "content": self._format(self.config.instruction, fields, "prompt.instruction")}]
        if self.config.system:
            messages.insert(0, {"role": "system", "content": self.config.system})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def completion(self, target: str) -> str:
        return target if self.chat else make_completion(target)

    @staticmethod
    def _format(template: str, fields: dict[str, str], key: str) -> str:
        try:
            return template.format(**fields)
        except (KeyError, IndexError) as exc:
            raise VepoError(f"{key}='{template}' uses an unknown field {exc}; available: "
                            f"{{src}}, {{src_name}}, {{tgt_name}}") from None
