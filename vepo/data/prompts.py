"""Prompt template for plain (non-chat) models, and the clean-up applied to every generated hypothesis.

The prompt ends on ':' and the completion starts with a space, so the tokenized prompt is always a prefix of the
tokenized prompt+completion (SFT's completion mask and RL's generation see the same context).
"""

from __future__ import annotations


def make_prompt(source: str, src_name: str, tgt_name: str) -> str:
    return f"{src_name}: {source}\n{tgt_name}:"


def make_completion(target: str) -> str:
    return " " + target


def clean_hypothesis(text: str) -> str:
    """The translation is the first non-empty line of the completion, stripped."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""
