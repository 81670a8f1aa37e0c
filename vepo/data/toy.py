"""A deterministic synthetic "low-resource language" for the embedded demo.

The source side is a tiny English-like grammar; the target side, ``toy_Tibt``, is a
pseudo-language written in Tibetan script. It is small and regular enough that a tiny
transformer learns it in minutes on a CPU, but it is *not* word substitution:

* word order is subject-object-verb: ``[subject NP] [object NP] [verb] VERB_SUFFIX``;
* adjectives follow their noun (keeping their English order);
* "the" is dropped, "a"/"an" becomes the indefinite syllable ``zhig`` after the NP;
* a numeral NP is ``noun adj* tsho number`` (plural suffix, then the number word);
* the verb always takes the suffix syllable ``red``.

Example::

    the big dog sees two red cats .   ->   khi chen ji-la mar tsho nyi thong red
                                      =    ཁི་ཆེན་ཇི་ལ་མར་ཚོ་ཉི་ཐོང་རེད།

Target syllables are written in a Wylie-like romanisation in the tables below (so the
lexicon is a fixed, reviewable hand table) and rendered to Tibetan letters U+0F40-U+0F66
plus the vowel signs i/u/e/o. Syllables are joined by tsheg (U+0F0B), the sentence ends
with shad (U+0F0D), and there are no spaces, as in real Tibetan.

Subjects are always singular, so every verb is in the 3rd-person "-s" form.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vepo.utils.io import atomic_write_text

TOY_SRC_CODE = "eng_Latn"
TOY_TGT_CODE = "toy_Tibt"
TOY_VERSION = "1"  # bump when the grammar or lexicon changes: scores are comparable within one version

TSHEG = "\u0f0b"  # ་ syllable separator
SHAD = "\u0f0d"  # ། end of sentence

# --- Lexicon: English lemma -> romanised target syllables (hyphen-separated) -------------

# noun -> (plural English form, target)
NOUNS: dict[str, tuple[str, str]] = {
    "dog": ("dogs", "khi"),
    "cat": ("cats", "ji-la"),
    "horse": ("horses", "ta-mo"),
    "bird": ("birds", "ja-gu"),
    "child": ("children", "bu"),
    "woman": ("women", "bu-mo"),
    "teacher": ("teachers", "ge-gan"),
    "farmer": ("farmers", "zhing-pa"),
    "monk": ("monks", "da-pa"),
    "book": ("books", "pe-cha"),
    "apple": ("apples", "ku-shu"),
    "stone": ("stones", "do"),
}
VERBS: dict[str, str] = {
    "sees": "thong",
    "eats": "za",
    "reads": "log",
    "likes": "ga",
    "finds": "nyed",
    "carries": "khur",
    "helps": "rog",
    "follows": "je-zung",
}
ADJECTIVES: dict[str, str] = {
    "big": "chen",
    "small": "chung",
    "old": "nying",
    "young": "zhon",
    "red": "mar",
    "white": "kar",
}
NUMBERS: dict[str, str] = {
    "two": "nyi",
    "three": "sum",
    "four": "zhi",
    "five": "nga",
}
PLURAL_SUFFIX = "tsho"  # ཚོ, after noun + adjectives, before the number word
INDEFINITE = "zhig"  # ཞིག, replaces "a"/"an" at the end of the noun phrase
VERB_SUFFIX = "red"  # རེད, closes every clause

DEFINITE_WORDS = ("the",)
INDEFINITE_WORDS = ("a", "an")  # "an" is only the pre-vowel spelling of "a"
MAX_ADJECTIVES = 2  # per noun phrase: keeps sentences within 5-9 words + " ."
ADJ_COUNT_WEIGHTS = (0.5, 0.35, 0.15)  # P(0, 1, 2 adjectives): mostly short sentences

_PLURAL_TO_LEMMA = {plural: lemma for lemma, (plural, _) in NOUNS.items()}

# --- Romanisation -> Tibetan script ------------------------------------------------------

_CONSONANTS = {
    "k": "\u0f40", "kh": "\u0f41", "g": "\u0f42", "ng": "\u0f44",
    "c": "\u0f45", "ch": "\u0f46", "j": "\u0f47", "ny": "\u0f49",
    "t": "\u0f4f", "th": "\u0f50", "d": "\u0f51", "n": "\u0f53",
    "p": "\u0f54", "ph": "\u0f55", "b": "\u0f56", "m": "\u0f58",
    "ts": "\u0f59", "tsh": "\u0f5a", "dz": "\u0f5b", "w": "\u0f5d",
    "zh": "\u0f5e", "z": "\u0f5f", "'": "\u0f60", "y": "\u0f61",
    "r": "\u0f62", "l": "\u0f63", "sh": "\u0f64", "s": "\u0f66",
}  # fmt: skip
# The inherent vowel "a" has no sign; the others are combining vowel signs.
_VOWELS = {"a": "", "i": "\u0f72", "u": "\u0f74", "e": "\u0f7a", "o": "\u0f7c"}


def _take_consonant(text: str) -> tuple[str, str]:
    """Split off the longest consonant at the start of ``text`` (so "tsh" beats "ts")."""
    for size in (3, 2, 1):
        if text[:size] in _CONSONANTS:
            return _CONSONANTS[text[:size]], text[size:]
    raise ValueError(f"no Tibetan consonant at start of {text!r}")


def _syllable_to_tibetan(roman: str) -> str:
    """Render one romanised syllable: consonant + vowel + optional final consonant."""
    onset, rest = _take_consonant(roman)
    if not rest or rest[0] not in _VOWELS:
        raise ValueError(f"syllable {roman!r} needs a vowel after its first consonant")
    out = onset + _VOWELS[rest[0]]
    rest = rest[1:]
    if rest:
        coda, rest = _take_consonant(rest)
        if rest:
            raise ValueError(f"syllable {roman!r} has trailing {rest!r}")
        out += coda
    return out


def to_tibetan_syllables(roman: str) -> list[str]:
    """Render a hyphen-separated romanised word as a list of Tibetan syllables."""
    return [_syllable_to_tibetan(s) for s in roman.split("-")]


# --- Source generation -------------------------------------------------------------------


def _noun_phrase_words(rng: random.Random, allow_number: bool) -> list[str]:
    n_adj = rng.choices(range(MAX_ADJECTIVES + 1), weights=ADJ_COUNT_WEIGHTS)[0]
    adjectives = rng.sample(list(ADJECTIVES), n_adj)  # sample: never "big big dog"
    # English order: size, age, colour, i.e. the table's order ("old red", not "red old").
    adjectives.sort(key=list(ADJECTIVES).index)
    lemma = rng.choice(list(NOUNS))
    determiners = list(DEFINITE_WORDS) + ["a"] + (list(NUMBERS) if allow_number else [])
    det = rng.choice(determiners)
    noun = NOUNS[lemma][0] if det in NUMBERS else lemma
    words = [*adjectives, noun]
    if det == "a" and words[0][0] in "aeiou":
        det = "an"
    return [det, *words]


def generate_sentence(rng: random.Random) -> str:
    """One source sentence: singular subject NP, verb, object NP (possibly numbered), "."."""
    subject = _noun_phrase_words(rng, allow_number=False)
    verb = rng.choice(list(VERBS))
    obj = _noun_phrase_words(rng, allow_number=True)
    return " ".join([*subject, verb, *obj, "."])


# --- Reference translation ---------------------------------------------------------------


def _known_words() -> set[str]:
    nouns = set(NOUNS) | set(_PLURAL_TO_LEMMA)
    function_words = {*DEFINITE_WORDS, *INDEFINITE_WORDS, "."}
    return nouns | set(VERBS) | set(ADJECTIVES) | set(NUMBERS) | function_words


def _parse_noun_phrase(words: list[str], pos: int, sentence: str) -> tuple[list[str], int]:
    """Parse ``det adj* noun`` at ``pos``; return its target (romanised) and the next pos."""
    if pos >= len(words):
        raise ValueError(f"expected a noun phrase at end of {sentence!r}")
    det = words[pos]
    if det not in (*DEFINITE_WORDS, *INDEFINITE_WORDS, *NUMBERS):
        raise ValueError(f"expected a determiner or number, got {det!r} in {sentence!r}")
    pos += 1
    adjectives = []
    while pos < len(words) and words[pos] in ADJECTIVES:
        adjectives.append(ADJECTIVES[words[pos]])
        pos += 1
    if pos >= len(words):
        raise ValueError(f"noun phrase without a noun in {sentence!r}")
    noun = words[pos]
    plural = det in NUMBERS
    if plural and noun not in _PLURAL_TO_LEMMA:
        raise ValueError(f"number {det!r} needs a plural noun, got {noun!r} in {sentence!r}")
    if not plural and noun not in NOUNS:
        raise ValueError(f"{det!r} needs a singular noun, got {noun!r} in {sentence!r}")
    lemma = _PLURAL_TO_LEMMA[noun] if plural else noun
    # Noun first, then its adjectives, then number marking (or the indefinite syllable).
    target = [NOUNS[lemma][1], *adjectives]
    if plural:
        target += [PLURAL_SUFFIX, NUMBERS[det]]
    elif det in INDEFINITE_WORDS:
        target.append(INDEFINITE)
    return target, pos + 1


def translate_romanised(source: str) -> list[str]:
    """The reference translation as romanised words (before rendering to Tibetan script)."""
    words = source.split()
    unknown = [w for w in words if w not in _known_words()]
    if unknown:
        raise ValueError(f"unknown word {unknown[0]!r} in {source!r}")
    if words and words[-1] == ".":
        words = words[:-1]
    if "." in words:
        raise ValueError(f"'.' may only end the sentence: {source!r}")
    subject, pos = _parse_noun_phrase(words, 0, source)
    if pos >= len(words) or words[pos] not in VERBS:
        got = words[pos] if pos < len(words) else "end of sentence"
        raise ValueError(f"expected a verb after the subject, got {got!r} in {source!r}")
    verb = VERBS[words[pos]]
    obj, pos = _parse_noun_phrase(words, pos + 1, source)
    if pos != len(words):
        raise ValueError(f"unexpected {words[pos]!r} after the object in {source!r}")
    return [*subject, *obj, verb, VERB_SUFFIX]  # SOV: the verb moves to the end


def render(romanised_words: Iterable[str]) -> str:
    """Join romanised words into a Tibetan-script sentence: tsheg between syllables, shad at end."""
    syllables = [syl for word in romanised_words for syl in to_tibetan_syllables(word)]
    return TSHEG.join(syllables) + SHAD


def translate(source: str) -> str:
    """Rule-based reference translation of one source sentence (the grammar's ground truth).

    Raises ValueError naming the first unknown word, or describing the grammar violation.
    The final " ." is optional; "a" and "an" are interchangeable.
    """
    return render(translate_romanised(source))


# --- Corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyCorpus:
    train: list[tuple[str, str]]  # (source, target)
    dev: list[tuple[str, str]]
    devtest: list[tuple[str, str]]


def build_toy_corpus(
    seed: int = 0, n_train: int = 2000, n_dev: int = 200, n_devtest: int = 200
) -> ToyCorpus:
    """Distinct source sentences; dev and devtest share no source sentence with train
    or each other. Sentences are drawn in order from ``random.Random(seed)``."""
    sizes = (n_train, n_dev, n_devtest)
    if min(sizes) < 0:
        raise ValueError(f"split sizes must be non-negative, got {sizes}")
    total = sum(sizes)
    rng = random.Random(seed)
    seen: set[str] = set()
    sources: list[str] = []  # generation order, so the split is deterministic
    # The grammar has millions of sentences; the cap only guards against absurd sizes.
    for _ in range(20 * total + 1000):
        if len(sources) == total:
            break
        sentence = generate_sentence(rng)
        if sentence not in seen:
            seen.add(sentence)
            sources.append(sentence)
    if len(sources) < total:
        raise ValueError(f"could not draw {total} distinct sentences from the toy grammar")
    pairs = [(s, translate(s)) for s in sources]
    return ToyCorpus(
        train=pairs[:n_train],
        dev=pairs[n_train : n_train + n_dev],
        devtest=pairs[n_train + n_dev :],
    )


# --- Writing -----------------------------------------------------------------------------


def _atomic_write_lines(lines: Iterable[str], path: Path) -> None:
    """Write one line per item, UTF-8, via a temp file in the same dir + os.replace,
    so readers never see a half-written file."""
    lines = list(lines)
    for line in lines:
        if "\n" in line or "\r" in line:
            raise ValueError(f"line contains a newline: {line!r}")
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def write_flores_layout(corpus: ToyCorpus, root: Path) -> Path:
    """Write root/dev/eng_Latn.dev, root/dev/toy_Tibt.dev, root/devtest/eng_Latn.devtest,
    root/devtest/toy_Tibt.devtest (one sentence per line, line i parallel: the FLORES-200
    layout). Return root."""
    root = Path(root)
    for split, pairs in (("dev", corpus.dev), ("devtest", corpus.devtest)):
        _atomic_write_lines((src for src, _ in pairs), root / split / f"{TOY_SRC_CODE}.{split}")
        _atomic_write_lines((tgt for _, tgt in pairs), root / split / f"{TOY_TGT_CODE}.{split}")
    # Names the dataset in every result file (vepo.data.flores reads it).
    atomic_write_text(root / "dataset.json", json.dumps({"name": "toy", "version": TOY_VERSION}) + "\n")
    return root


def write_parallel_tsv(pairs: Iterable[tuple[str, str]], path: Path) -> Path:
    """Write "src\\ttgt" lines atomically. Return path."""
    path = Path(path)
    lines = []
    for src, tgt in pairs:
        if "\t" in src or "\t" in tgt:
            raise ValueError(f"tab inside a sentence pair: {(src, tgt)!r}")
        lines.append(f"{src}\t{tgt}")
    _atomic_write_lines(lines, path)
    return path
