"""The interface every reward component follows, and the robustness rules they share.

A component scores a batch::

    component.score_batch(sources, hypotheses, references, src_langs, tgt_langs) -> list[float]  # each in [0, 1]

``hypotheses`` may be raw completions: unless a component sets ``clean_hypotheses = False`` (FormatCheck, which must
see the raw text to detect extra lines and markup), the base class reduces each to its first non-empty line with
``vepo.data.prompts.clean_hypothesis`` (idempotent, so passing already-cleaned text is fine).

Robustness (never an exception for bad *content*; the counters say how often each rule fired)
-------------------------------------------------------------------------------------------------
* invalid UTF-8 / lone surrogates in any input -> sanitised with ``.encode("utf-8", "replace").decode()``,
  warning ``invalid_utf8``;
* empty or whitespace-only hypothesis (after cleaning; also one made only of invalid code points) -> 0.0,
  warning ``empty_hypothesis``;
* missing reference (None / blank) for a component that needs one -> 0.0, warning ``missing_reference``;
  missing source for one that needs it -> 0.0, warning ``missing_source``;
* very long hypothesis -> cut to 4 x reference length + 200 characters (source length when there is no
  reference; 2000 otherwise) before comparing, warning ``truncated_hypothesis`` (the text is still scored);
* NaN / inf from a scorer (e.g. a model) -> 0.0, warning ``nan_score``; any other value is clipped to [0, 1]
  (warning ``out_of_range`` when it was outside by more than 1e-6).

``self.warnings`` is a ``collections.Counter`` keyed by reason; constraint components also count why they
returned 0 in ``self.failures``. Both accumulate until ``reset_counters()``.
Mismatched batch lengths are a programming error and raise ``ValueError``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from vepo.data.prompts import clean_hypothesis
from vepo.rewards.text import compare_limit, drop_invalid, is_blank, is_finite_number, sanitize, truncate

_EPS = 1e-6


@dataclass(frozen=True)
class Item:
    """One sanitised example as a component sees it."""

    source: str
    hypothesis: str
    reference: str
    src_lang: str
    tgt_lang: str


class RewardComponent:
    """Base class: subclasses set ``name`` and implement ``_score_one`` (or ``_score_items`` for batched models)."""

    name: ClassVar[str] = "component"
    # Instance-level flags (subclasses may set them per instance, e.g. LengthRatio(against="source")).
    needs_reference: bool = True
    needs_source: bool = False
    clean_hypotheses: bool = True

    def __init__(self) -> None:
        self.warnings: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    # -- public ------------------------------------------------------------------------------------------------
    def score_batch(
        self,
        sources: Sequence[str | None],
        hypotheses: Sequence[str | None],
        references: Sequence[str | None],
        src_langs: Sequence[str | None],
        tgt_langs: Sequence[str | None],
    ) -> list[float]:
        n = len(hypotheses)
        lengths = {"sources": len(sources), "references": len(references), "src_langs": len(src_langs),
                   "tgt_langs": len(tgt_langs)}
        bad = {k: v for k, v in lengths.items() if v != n}
        if bad:
            raise ValueError(f"{self.name}.score_batch: {n} hypotheses but {bad}")

        scores: list[float | None] = [None] * n
        todo: list[tuple[int, Item]] = []
        for i in range(n):
            item = self._prepare(sources[i], hypotheses[i], references[i], src_langs[i], tgt_langs[i])
            if item is None:
                scores[i] = 0.0
            else:
                todo.append((i, item))
        if todo:
            raw = self._score_items([it for _, it in todo])
            if len(raw) != len(todo):
                raise RuntimeError(f"{self.name}: scorer returned {len(raw)} scores for {len(todo)} items")
            for (i, _), value in zip(todo, raw):
                scores[i] = self._finalize(value)
        return [float(s) for s in scores]  # type: ignore[arg-type]

    def score(self, source: str | None, hypothesis: str | None, reference: str | None = None,
              src_lang: str | None = None, tgt_lang: str | None = None) -> float:
        """Score one example (convenience wrapper around score_batch)."""
        return self.score_batch([source], [hypothesis], [reference], [src_lang], [tgt_lang])[0]

    def reset_counters(self) -> None:
        self.warnings.clear()
        self.failures.clear()

    # -- for subclasses ----------------------------------------------------------------------------------------
    def _score_items(self, items: list[Item]) -> list[float]:
        return [self._score_one(it) for it in items]

    def _score_one(self, item: Item) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fail(self, reason: str) -> float:
        """Count why a constraint returned 0 and return 0.0."""
        self.failures[reason] += 1
        return 0.0

    # -- internals ---------------------------------------------------------------------------------------------
    def _text(self, value: object) -> str:
        text, changed = sanitize(value)
        if changed:
            self.warnings["invalid_utf8"] += 1
        return text

    def _prepare(self, source, hypothesis, reference, src_lang, tgt_lang) -> Item | None:
        src = self._text(source)
        hyp = self._text(hypothesis)
        if hyp and is_blank(drop_invalid(hypothesis)):  # nothing but invalid code points: as good as empty
            hyp = ""
        ref = self._text(reference)
        src_lang_s = self._text(src_lang).strip()
        tgt_lang_s = self._text(tgt_lang).strip()
        if self.clean_hypotheses:
            hyp = clean_hypothesis(hyp)
        if is_blank(hyp):
            self.warnings["empty_hypothesis"] += 1
            return None
        if self.needs_reference and is_blank(ref):
            self.warnings["missing_reference"] += 1
            return None
        if self.needs_source and is_blank(src):
            self.warnings["missing_source"] += 1
            return None
        hyp, cut = truncate(hyp, compare_limit(ref, src))
        if cut:
            self.warnings["truncated_hypothesis"] += 1
        return Item(source=src, hypothesis=hyp, reference=ref, src_lang=src_lang_s, tgt_lang=tgt_lang_s)

    def _finalize(self, value: object) -> float:
        if not is_finite_number(value):
            self.warnings["nan_score"] += 1
            return 0.0
        x = float(value)  # type: ignore[arg-type]
        if x < -_EPS or x > 1.0 + _EPS:
            self.warnings["out_of_range"] += 1
        return min(1.0, max(0.0, x))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
