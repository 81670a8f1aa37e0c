"""A deterministic synthetic "low-resource language" for the embedded demo.

The source side is a tiny English-like grammar; the target side, ``toy_Tibt``, is a
pseudo-language written in Tibetan script. It is small and regular enough that a tiny
transformer learns it in minutes on a CPU, but it is *not* word substitution.

Canonical translation (``translate``):

* word order is subject-object-verb: ``[subject NP] [object NP] [verb] VERB_SUFFIX``;
* adjectives follow their noun (keeping their English order);
* "the" is dropped, "a"/"an" becomes the indefinite syllable ``zhig`` after the NP;
* a numeral NP is ``noun adj* tsho number`` (plural suffix, then the number word);
* the verb always takes the suffix syllable ``red``.

Example::

    the big dog sees two red cats .   ->   khi chen ji-la mar tsho nyi thong red
                                      =    ཁི་ཆེན་ཇི་ལ་མར་ཚོ་ཉི་ཐོང་རེད།

Meaning-preserving variation (``paraphrases`` lists every valid translation, canonical
first; ``sample_translation`` draws one). Exactly three things may vary, independently:

* synonyms: the words in ``SYNONYMS`` (4 nouns, 3 verbs, 4 adjectives) each have a second
  target word that may replace the canonical one, independently at each occurrence, e.g.
  book ``pe-cha`` or ``deb``, sees ``thong`` or ``zig``, big ``chen`` or ``chen-po``;
* the agent particle ``gis`` may follow the subject NP (after ``zhig`` if present);
* free order: only when the subject carries ``gis``, the object NP may come first
  (``[object NP] [subject NP] gis [verb] red``). Without the particle the order is SOV.

Everything else (NP-internal order, ``zhig``/``tsho``/number, the verb suffix) is fixed, so
``back_translate`` recovers the one English source from any valid variant and
``canonicalise`` maps a variant to the canonical translation; ``change_content_word`` and
``swap_roles`` make minimal edits that DO change the meaning (probes for rewards). ::

    the big dog sees two red cats .   ->   ji-la mar-po tsho nyi khi chen gis zig red

is a valid paraphrase of the example above (chrF++ against the canonical form ~50).

The corpus (``build_toy_corpus``) gives every training pair and every dev/devtest
reference ONE valid variant, drawn with a seeded rng: the canonical form with probability
``CANONICAL_RATE`` (0.5), else a uniformly random non-canonical choice of the three
variation points. As in real low-resource MT, the single reference is one of many valid
translations, so literal overlap (chrF++) under-rates correct paraphrases.

Target syllables are written in a Wylie-like romanisation in the tables below (so the
lexicon is a fixed, reviewable hand table) and rendered to Tibetan letters U+0F40-U+0F66
plus the vowel signs i/u/e/o. Syllables are joined by tsheg (U+0F0B), the sentence ends
with shad (U+0F0D), and there are no spaces, as in real Tibetan.

Subjects are always singular, so every verb is in the 3rd-person "-s" form.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vepo.utils.io import atomic_write_text

TOY_SRC_CODE = "eng_Latn"
TOY_TGT_CODE = "toy_Tibt"
TOY_VERSION = "2"  # bump when the grammar or lexicon changes: scores are comparable within one version
# Version 2 added meaning-preserving variation (synonyms, agent particle, free order) to targets.

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
AGENT_PARTICLE = "gis"  # གིས, optional after the subject NP; licenses object-first order

# English lemma (noun, verb or adjective) -> a second target word with the same meaning.
# Several are real Tibetan doublets (book pe-cha/deb, horse/honorific chib, adj + -po/-ngu).
SYNONYMS: dict[str, str] = {
    "horse": "chib",
    "child": "pu-gu",
    "teacher": "lob-pon",
    "book": "deb",
    "sees": "zig",
    "eats": "sol",
    "likes": "dod",
    "big": "chen-po",
    "small": "chung-ngu",
    "red": "mar-po",
    "white": "kar-po",
}
CANONICAL_RATE = 0.5  # corpus targets/references: P(canonical form); else a random paraphrase

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


@dataclass(frozen=True)
class _NounPhrase:
    det: str  # "the", "a" or a number word ("an" is normalised to "a")
    adjectives: tuple[str, ...]  # English lemmas, source order
    noun: str  # English lemma (singular)


@dataclass(frozen=True)
class _Clause:
    """The meaning of one sentence: what every valid translation of it shares."""

    subject: _NounPhrase
    verb: str  # English 3rd-person form, the VERBS key
    obj: _NounPhrase


def _known_words() -> set[str]:
    nouns = set(NOUNS) | set(_PLURAL_TO_LEMMA)
    function_words = {*DEFINITE_WORDS, *INDEFINITE_WORDS, "."}
    return nouns | set(VERBS) | set(ADJECTIVES) | set(NUMBERS) | function_words


def _parse_noun_phrase(words: list[str], pos: int, sentence: str) -> tuple[_NounPhrase, int]:
    """Parse ``det adj* noun`` at ``pos``; return the noun phrase and the next pos."""
    if pos >= len(words):
        raise ValueError(f"expected a noun phrase at end of {sentence!r}")
    det = words[pos]
    if det not in (*DEFINITE_WORDS, *INDEFINITE_WORDS, *NUMBERS):
        raise ValueError(f"expected a determiner or number, got {det!r} in {sentence!r}")
    pos += 1
    adjectives = []
    while pos < len(words) and words[pos] in ADJECTIVES:
        adjectives.append(words[pos])
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
    det = "a" if det in INDEFINITE_WORDS else det
    return _NounPhrase(det, tuple(adjectives), lemma), pos + 1


def _parse_source(source: str) -> _Clause:
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
    verb = words[pos]
    obj, pos = _parse_noun_phrase(words, pos + 1, source)
    if pos != len(words):
        raise ValueError(f"unexpected {words[pos]!r} after the object in {source!r}")
    return _Clause(subject, verb, obj)


# Sentence structures, canonical first. "agent": S gis O V; "fronted": O S gis V (the
# particle marks the subject, which is what makes the object-first order unambiguous).
STRUCTURES = ("plain", "agent", "fronted")


def _target_word(lemma: str, canonical: str, use_synonym: Iterator[bool]) -> str:
    """``canonical``, or the lemma's synonym when it has one and the next choice says so.
    ``use_synonym`` is consumed only for lemmas that have a synonym (one choice per slot)."""
    if lemma in SYNONYMS and next(use_synonym):
        return SYNONYMS[lemma]
    return canonical


def _np_target(np: _NounPhrase, choices: Iterator[bool]) -> list[str]:
    # Noun first, then its adjectives, then number marking (or the indefinite syllable).
    target = [_target_word(np.noun, NOUNS[np.noun][1], choices)]
    target += [_target_word(adj, ADJECTIVES[adj], choices) for adj in np.adjectives]
    if np.det in NUMBERS:
        target += [PLURAL_SUFFIX, NUMBERS[np.det]]
    elif np.det == "a":
        target.append(INDEFINITE)
    return target


def _synonym_slots(clause: _Clause) -> int:
    """How many word occurrences in the clause may independently take their synonym."""
    lemmas = [clause.subject.noun, *clause.subject.adjectives, clause.verb,
              clause.obj.noun, *clause.obj.adjectives]
    return sum(lemma in SYNONYMS for lemma in lemmas)


def _variant_romanised(clause: _Clause, structure: str, synonyms: tuple[bool, ...]) -> list[str]:
    """One valid translation: ``synonyms`` has one flag per synonym slot (subject NP, verb,
    object NP order); ``structure`` is one of STRUCTURES."""
    if len(synonyms) != _synonym_slots(clause):
        raise ValueError(f"expected {_synonym_slots(clause)} synonym flags, got {len(synonyms)}")
    choices = iter(synonyms)
    subject = _np_target(clause.subject, choices)
    verb = _target_word(clause.verb, VERBS[clause.verb], choices)
    obj = _np_target(clause.obj, choices)
    if structure == "plain":
        return [*subject, *obj, verb, VERB_SUFFIX]  # SOV: the verb moves to the end
    if structure == "agent":
        return [*subject, AGENT_PARTICLE, *obj, verb, VERB_SUFFIX]
    if structure == "fronted":
        return [*obj, *subject, AGENT_PARTICLE, verb, VERB_SUFFIX]
    raise ValueError(f"unknown structure {structure!r}; expected one of {STRUCTURES}")


def _canonical_romanised(clause: _Clause) -> list[str]:
    return _variant_romanised(clause, "plain", (False,) * _synonym_slots(clause))


def translate_romanised(source: str) -> list[str]:
    """The canonical reference translation as romanised words (before rendering to Tibetan script)."""
    return _canonical_romanised(_parse_source(source))


def render(romanised_words: Iterable[str]) -> str:
    """Join romanised words into a Tibetan-script sentence: tsheg between syllables, shad at end."""
    syllables = [syl for word in romanised_words for syl in to_tibetan_syllables(word)]
    return TSHEG.join(syllables) + SHAD


def translate(source: str) -> str:
    """Rule-based canonical translation of one source sentence (the grammar's ground truth):
    SOV, no particle, no synonyms. Deterministic; ``paraphrases`` lists the other valid ones.

    Raises ValueError naming the first unknown word, or describing the grammar violation.
    The final " ." is optional; "a" and "an" are interchangeable.
    """
    return render(translate_romanised(source))


def paraphrases(source: str) -> list[str]:
    """Every valid translation of ``source``, canonical (``translate``) first, no duplicates.

    3 structures x 2 ** (synonym slots) variants: at most 3 x 2**7 = 384, typically ~10-30."""
    clause = _parse_source(source)
    out: dict[str, None] = {}  # insertion-ordered set
    for structure in STRUCTURES:
        for synonyms in itertools.product((False, True), repeat=_synonym_slots(clause)):
            out[render(_variant_romanised(clause, structure, synonyms))] = None
    return list(out)


def sample_translation(source: str, rng: random.Random, canonical_rate: float = CANONICAL_RATE) -> str:
    """One valid translation drawn with ``rng``: the canonical one with probability
    ``canonical_rate``; otherwise a non-canonical one, each variation point drawn uniformly
    (structure among STRUCTURES, each synonym slot 50/50), i.e. uniform over ``paraphrases[1:]``."""
    if not 0.0 <= canonical_rate <= 1.0:
        raise ValueError(f"canonical_rate must be in [0, 1], got {canonical_rate}")
    clause = _parse_source(source)
    if rng.random() < canonical_rate:
        return render(_canonical_romanised(clause))
    slots = _synonym_slots(clause)
    # Rejection of the canonical draw: each try is canonical with probability <= 1/3, so 64
    # tries all failing has probability < 1e-30; the fallback keeps the loop bounded anyway.
    for _ in range(64):
        structure = rng.choice(STRUCTURES)
        synonyms = tuple(rng.random() < 0.5 for _ in range(slots))
        if structure != "plain" or any(synonyms):
            return render(_variant_romanised(clause, structure, synonyms))
    return render(_variant_romanised(clause, "agent", (False,) * slots))


# --- Reading a target back ----------------------------------------------------------------


@functools.cache
def _target_lexicon() -> dict[tuple[str, ...], tuple[str, str, str]]:
    """Tibetan syllables of every target word -> (romanised word, category, English lemma)."""
    entries: list[tuple[str, str, str]] = []  # (romanised, category, lemma)
    entries += [(t, "noun", lemma) for lemma, (_, t) in NOUNS.items()]
    entries += [(t, "verb", lemma) for lemma, t in VERBS.items()]
    entries += [(t, "adj", lemma) for lemma, t in ADJECTIVES.items()]
    entries += [(t, "num", lemma) for lemma, t in NUMBERS.items()]
    category = {**{n: "noun" for n in NOUNS}, **{v: "verb" for v in VERBS}, **{a: "adj" for a in ADJECTIVES}}
    entries += [(t, category[lemma], lemma) for lemma, t in SYNONYMS.items()]
    entries += [(PLURAL_SUFFIX, "plural", ""), (INDEFINITE, "indefinite", ""),
                (AGENT_PARTICLE, "agent", ""), (VERB_SUFFIX, "verb_suffix", "")]
    lexicon: dict[tuple[str, ...], tuple[str, str, str]] = {}
    for roman, cat, lemma in entries:
        key = tuple(to_tibetan_syllables(roman))
        if key in lexicon:
            raise ValueError(f"target word {roman!r} is spelled like {lexicon[key][0]!r}")
        lexicon[key] = (roman, cat, lemma)
    return lexicon


_Word = tuple[str, str, str]  # (romanised, category, English lemma)


def _segmentations(syllables: tuple[str, ...]) -> list[list[_Word]]:
    """All ways to cut the syllables into lexicon words (few: words are 1-2 syllables)."""
    lexicon = _target_lexicon()
    longest = max(len(k) for k in lexicon)
    memo: dict[int, list[list[_Word]]] = {len(syllables): [[]]}
    for start in range(len(syllables) - 1, -1, -1):  # right to left, so memo[end] exists
        memo[start] = [
            [lexicon[syllables[start:end]], *rest]
            for end in range(start + 1, min(start + longest, len(syllables)) + 1)
            if syllables[start:end] in lexicon
            for rest in memo[end]
        ]
    return memo[0]


def _parse_target_np(words: list[_Word], pos: int) -> tuple[_NounPhrase, int] | None:
    """``noun adj* (tsho number | zhig)?`` at ``pos``, or None."""
    if pos >= len(words) or words[pos][1] != "noun":
        return None
    noun = words[pos][2]
    pos += 1
    adjectives = []
    while pos < len(words) and words[pos][1] == "adj":
        adjectives.append(words[pos][2])
        pos += 1
    det = "the"
    if pos + 1 < len(words) and words[pos][1] == "plural" and words[pos + 1][1] == "num":
        det, pos = words[pos + 1][2], pos + 2
    elif pos < len(words) and words[pos][1] == "indefinite":
        det, pos = "a", pos + 1
    return _NounPhrase(det, tuple(adjectives), noun), pos


def _parse_target_words(words: list[_Word]) -> _Clause | None:
    """The clause of one segmentation: ``NP [gis] NP [gis] verb red`` with at most one
    ``gis``; a ``gis`` after the second NP makes it the subject (object fronted)."""
    first = _parse_target_np(words, 0)
    if first is None:
        return None
    np1, pos = first
    agent1 = pos < len(words) and words[pos][1] == "agent"
    pos += agent1
    second = _parse_target_np(words, pos)
    if second is None:
        return None
    np2, pos = second
    agent2 = pos < len(words) and words[pos][1] == "agent"
    pos += agent2
    if agent1 and agent2:
        return None
    if [w[1] for w in words[pos:]] != ["verb", "verb_suffix"]:
        return None
    subject, obj = (np2, np1) if agent2 else (np1, np2)
    if subject.det in NUMBERS:  # subjects are singular
        return None
    return _Clause(subject, words[pos][2], obj)


def _parse_target(target: str) -> tuple[_Clause, list[_Word]]:
    """The meaning of a toy_Tibt sentence and its words; ValueError if it is not exactly one
    valid translation of one sentence."""
    text = target.strip()
    if not text.endswith(SHAD):
        raise ValueError(f"a toy_Tibt sentence ends with shad (U+0F0D): {target!r}")
    syllables = tuple(text[: -len(SHAD)].split(TSHEG))
    parses = {}
    for words in _segmentations(syllables):
        clause = _parse_target_words(words)
        if clause is not None:
            parses.setdefault(clause, words)
    if not parses:
        raise ValueError(f"not a valid toy_Tibt sentence: {target!r}")
    if len(parses) > 1:  # the lexicon and grammar are designed so this never happens
        raise ValueError(f"ambiguous toy_Tibt sentence ({len(parses)} readings): {target!r}")
    return next(iter(parses.items()))


def _english_np(np: _NounPhrase) -> list[str]:
    noun = NOUNS[np.noun][0] if np.det in NUMBERS else np.noun
    words = [*np.adjectives, noun]
    det = "an" if np.det == "a" and words[0][0] in "aeiou" else np.det
    return [det, *words]


def back_translate(target: str) -> str:
    """The one English source sentence that ``target`` (any valid variant) translates, in the
    form ``generate_sentence`` writes it (``"an"`` before vowels, final ``" ."``).
    ValueError if ``target`` is not a valid toy_Tibt sentence."""
    clause, _ = _parse_target(target)
    return " ".join([*_english_np(clause.subject), clause.verb, *_english_np(clause.obj), "."])


def canonicalise(target: str) -> str:
    """The canonical translation with the same meaning as ``target`` (any valid variant)."""
    clause, _ = _parse_target(target)
    return render(_canonical_romanised(clause))


def source_words() -> list[str]:
    """Every English word the source grammar uses (sorted, without ".")."""
    return sorted(w for w in _known_words() if w != ".")


def target_syllables() -> list[str]:
    """Every Tibetan syllable any valid translation can contain (sorted)."""
    return sorted({syl for syllables in _target_lexicon() for syl in syllables})


CONTENT_CATEGORIES = ("noun", "verb", "adj")


def change_content_word(target: str, rng: random.Random) -> str:
    """``target`` with ONE noun, verb or adjective replaced by a different lemma's canonical
    word (same category), everything else (order, particle, other words) kept: a minimal
    edit that changes the meaning. Used to probe meaning-sensitivity of rewards/encoders."""
    _, words = _parse_target(target)
    positions = [i for i, w in enumerate(words) if w[1] in CONTENT_CATEGORIES]
    i = rng.choice(positions)
    _, category, lemma = words[i]
    table = {"noun": {k: t for k, (_, t) in NOUNS.items()}, "verb": VERBS, "adj": ADJECTIVES}[category]
    # Never an adjective already in the sentence: "big big dog" is not in the grammar.
    used = {w[2] for w in words if w[1] == "adj"} if category == "adj" else {lemma}
    new_lemma = rng.choice([k for k in table if k not in used])
    romanised = [w[0] for w in words]
    romanised[i] = table[new_lemma]
    return render(romanised)


def swap_roles(target: str) -> str:
    """``target`` with its two noun phrases exchanged and everything else kept in place (particle
    slot, verb, synonyms): subject and object swap roles, a minimal edit that changes the meaning
    ("the dog sees a cat" -> "a cat sees the dog"). ValueError when the object is numbered
    (subjects are singular) or equal to the subject (nothing would change)."""
    clause, words = _parse_target(target)
    if clause.obj.det in NUMBERS:
        raise ValueError(f"a numbered object cannot become the subject: {target!r}")
    if clause.obj == clause.subject:
        raise ValueError(f"subject and object are the same noun phrase: {target!r}")
    first = _parse_target_np(words, 0)
    assert first is not None  # _parse_target succeeded, so both noun phrases parse
    end1 = first[1]
    start2 = end1 + (words[end1][1] == "agent")
    second = _parse_target_np(words, start2)
    assert second is not None
    end2 = second[1]
    roman = [w[0] for w in words]
    return render(roman[start2:end2] + roman[end1:start2] + roman[:end1] + roman[end2:])


# --- Corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyCorpus:
    train: list[tuple[str, str]]  # (source, target)
    dev: list[tuple[str, str]]
    devtest: list[tuple[str, str]]


def build_toy_corpus(
    seed: int = 0,
    n_train: int = 2000,
    n_dev: int = 200,
    n_devtest: int = 200,
    canonical_rate: float = CANONICAL_RATE,
) -> ToyCorpus:
    """Distinct source sentences; dev and devtest share no source sentence with train
    or each other. Sentences are drawn in order from ``random.Random(seed)``.

    Each target (training target and dev/devtest reference alike) is one valid translation
    drawn by ``sample_translation`` with ``canonical_rate`` from a second rng seeded from
    ``seed``, so the sources are the same for every ``canonical_rate`` and
    ``canonical_rate=1.0`` gives the canonical targets of TOY_VERSION 1."""
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
    # A separate stream (str seeds hash with SHA-512: stable across processes) keeps the
    # source draw independent of the variant draw.
    variant_rng = random.Random(f"toy-variants:{seed}")
    pairs = [(s, sample_translation(s, variant_rng, canonical_rate)) for s in sources]
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
