"""Make unbabel-comet 2.2.7 work on vepo's stack (transformers 5, numpy 2, huggingface-hub >= 1, torch >= 2.6,
pytorch-lightning 2.6, torchmetrics 1.x).

comet 2.2.7 pins transformers<5, numpy<2, huggingface-hub<1 and torchmetrics<0.11; pyproject.toml lifts those pins
(`[tool.uv] override-dependencies`) and this module patches what then breaks, at import time, with small targeted
replacements of single methods (docs/design/architecture.md). `apply_comet_patches()` is idempotent; call it before using
comet (vepo.models.comet.scorer does). tests/test_comet.py proves the result on a COMET checkpoint built with comet's own
classes.

What breaks and why (each patch below names its problem):
1. transformers 5 model outputs: `model(..., return_dict=False)` returns `ModelOutput.to_tuple()`, which drops
   `None` fields. comet's XLM-R/BERT encoders build the model with `add_pooling_layer=False`, so the pooler output is
   None and the tuple has 2 items, not the 3 that `last, _, all_layers = self.model(...)` unpacks
   ("ValueError: not enough values to unpack (expected 3, got 2)"). Patched: read the named fields of the output.
2. transformers 5 tokenizers: the tokenizers-backed classes (`XLMRobertaTokenizerFast` is now an alias of
   `XLMRobertaTokenizer(TokenizersBackend)`) no longer have `build_inputs_with_special_tokens`, which
   `Encoder.concat_sequences` uses to join mt/src/ref for UnifiedMetric / XCOMET (COMET-Kiwi)
   ("AttributeError: XLMRobertaTokenizer has no attribute build_inputs_with_special_tokens"). Patched: the encoder
   supplies the same joining rule (`<s> A </s></s> B </s>` for XLM-R, `[CLS] A [SEP] B [SEP]` for BERT/RemBERT).
3. torch >= 2.6 loads with `weights_only=True` by default: comet's multi-GPU predict writer saves its own
   `Prediction` objects to a temporary folder and reloads them with a bare `torch.load`, which now refuses them
   (upstream PR Unbabel/COMET#258). Patched: that module's `torch.load` unpickles those trusted temporary files in
   full; checkpoint loading (Lightning) keeps torch's safe default.
4. `import comet` calls `logging.basicConfig(level=INFO)`, which installs a root handler and turns every library's
   INFO logs on for the whole process (a CLI that imports the reward would print "Encoder model frozen." etc.).
   Patched: when this module performs the first import of comet, the root logger is restored afterwards.
Not patched (harmless): `comet.models.load_from_checkpoint` imports `pkg_resources` in a try/except for the
"sparsemax_patch" hparams workaround; without pkg_resources it passes "sparsemax_patch" on, which LayerwiseAttention
also maps to softmax, so the result is the same. torchmetrics 0.10 (comet's pin) imports pkg_resources at import
time: that one is fixed in pyproject.toml by overriding torchmetrics to 1.x.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

_lock = threading.Lock()
_applied = False
# True when apply_comet_patches() performed the process's first `import comet` (and so undid its logging setup).
imported_comet_quietly = False


def _import_comet_quietly() -> bool:
    """Import comet, undoing its `logging.basicConfig(level=INFO)` on the root logger (problem 4)."""
    if "comet" in sys.modules:  # someone imported it already: their logging setup is theirs to keep
        return False
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import comet  # noqa: F401

    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return True


def _patch_encoder_forward() -> None:
    """Problem 1: transformers 5 drops the None pooler output from tuple outputs; use named fields instead."""
    from comet.encoders.bert import BERTEncoder
    from comet.encoders.xlmr import XLMREncoder

    def xlmr_forward(self, input_ids, attention_mask, **kwargs):
        # Replaces `last_hidden_states, _, all_layers = self.model(..., return_dict=False)`.
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                         return_dict=True)
        last = out.last_hidden_state
        return {"sentemb": last[:, 0, :], "wordemb": last, "all_layers": out.hidden_states,
                "attention_mask": attention_mask}

    def bert_forward(self, input_ids, attention_mask, token_type_ids=None, **kwargs):
        # Replaces `last_hidden_states, pooler_output, all_layers = self.model(..., return_dict=False)`.
        out = self.model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                         output_hidden_states=True, return_dict=True)
        return {"sentemb": out.pooler_output, "wordemb": out.last_hidden_state, "all_layers": out.hidden_states,
                "attention_mask": attention_mask}

    xlmr_forward.__vepo_patched__ = bert_forward.__vepo_patched__ = True
    XLMREncoder.forward = xlmr_forward  # also MiniLM, RemBERT and XLM-R XL encoders (subclasses)
    BERTEncoder.forward = bert_forward


def _build_inputs_with_special_tokens(tokenizer: Any, size_separator: int):
    """The transformers 4 joining rule: <cls> A <sep> (single) or <cls> A <sep>*size_separator B <sep> (pair)."""

    def build(token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        cls, sep = [tokenizer.cls_token_id], [tokenizer.sep_token_id]
        if token_ids_1 is None:
            return cls + list(token_ids_0) + sep
        return cls + list(token_ids_0) + sep * size_separator + list(token_ids_1) + sep

    return build


def _patch_concat_sequences() -> None:
    """Problem 2: transformers 5 tokenizers lack build_inputs_with_special_tokens (used to join mt/src/ref)."""
    from comet.encoders.base import Encoder

    original = Encoder.concat_sequences

    def concat_sequences(self, inputs, return_label_ids=False):
        tokenizer = self.tokenizer
        if not hasattr(tokenizer, "build_inputs_with_special_tokens"):
            tokenizer.build_inputs_with_special_tokens = _build_inputs_with_special_tokens(
                tokenizer, self.size_separator)
        return original(self, inputs, return_label_ids=return_label_ids)

    concat_sequences.__vepo_patched__ = True
    Encoder.concat_sequences = concat_sequences


class _TorchWithTrustedLoad:
    """`torch` for comet.models.predict_writer, whose `load` reads comet's own temporary files in full."""

    def __getattr__(self, name: str) -> Any:
        import torch

        return getattr(torch, name)

    @staticmethod
    def load(*args: Any, **kwargs: Any) -> Any:
        import torch

        kwargs.setdefault("weights_only", False)  # files this process group just wrote to its own mkdtemp()
        return torch.load(*args, **kwargs)


def _patch_predict_writer() -> None:
    """Problem 3: torch >= 2.6 `weights_only=True` default rejects comet's pickled multi-GPU predictions."""
    from comet.models import predict_writer

    predict_writer.torch = _TorchWithTrustedLoad()


def apply_comet_patches() -> None:
    """Patch comet for transformers 5 / torch >= 2.6 (see the module docstring). Safe to call many times."""
    global _applied, imported_comet_quietly
    if _applied:
        return
    with _lock:
        if _applied:
            return
        imported_comet_quietly = _import_comet_quietly()
        _patch_encoder_forward()
        _patch_concat_sequences()
        _patch_predict_writer()
        _applied = True
