"""Tests for the synthetic toy language (vepo.data.toy)."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from vepo.data.toy import (
    ADJECTIVES,
    AGENT_PARTICLE,
    CANONICAL_RATE,
    INDEFINITE,
    NOUNS,
    NUMBERS,
    PLURAL_SUFFIX,
    SHAD,
    SYNONYMS,
    TOY_SRC_CODE,
    TOY_TGT_CODE,
    TSHEG,
    VERB_SUFFIX,
    VERBS,
    ToyCorpus,
    back_translate,
    build_toy_corpus,
    canonicalise,
    change_content_word,
    generate_sentence,
    paraphrases,
    render,
    sample_translation,
    swap_roles,
    translate,
    write_flores_layout,
    write_parallel_tsv,
)


@pytest.fixture(scope="module")
def corpus() -> ToyCorpus:
    return build_toy_corpus(seed=0, n_train=500, n_dev=50, n_devtest=50)


def _all_pairs(c: ToyCorpus) -> list[tuple[str, str]]:
    return c.train + c.dev + c.devtest


def _syllables(roman_word: str) -> list[str]:
    """Tibetan syllables of one lexicon entry (render() minus the shad, split on tsheg)."""
    return render([roman_word])[:-1].split(TSHEG)


# --- Determinism -------------------------------------------------------------------------


def test_same_seed_same_corpus(corpus):
    assert build_toy_corpus(seed=0, n_train=500, n_dev=50, n_devtest=50) == corpus


def test_different_seed_different_corpus(corpus):
    other = build_toy_corpus(seed=1, n_train=500, n_dev=50, n_devtest=50)
    assert other.train != corpus.train
    assert other.dev != corpus.dev


def test_generate_sentence_uses_only_the_given_rng():
    random.seed(123)
    a = [generate_sentence(random.Random(7)) for _ in range(3)]
    random.seed(456)  # the global RNG must not matter
    b = [generate_sentence(random.Random(7)) for _ in range(3)]
    assert a == b


def test_deterministic_across_processes(corpus):
    # A different PYTHONHASHSEED would expose any reliance on hash() or set order.
    code = (
        "from vepo.data.toy import build_toy_corpus;"
        "c = build_toy_corpus(seed=0, n_train=500, n_dev=50, n_devtest=50);"
        "print(repr(c.train[-1]), repr(c.devtest[-1]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONIOENCODING": "utf-8"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
        encoding="utf-8",
    ).stdout.strip()
    assert out == f"{corpus.train[-1]!r} {corpus.devtest[-1]!r}"


# --- Splits ------------------------------------------------------------------------------


def test_split_sizes():
    c = build_toy_corpus(seed=3, n_train=123, n_dev=17, n_devtest=9)
    assert (len(c.train), len(c.dev), len(c.devtest)) == (123, 17, 9)


def test_default_split_sizes():
    c = build_toy_corpus()
    assert (len(c.train), len(c.dev), len(c.devtest)) == (2000, 200, 200)


def test_sources_distinct_and_splits_disjoint(corpus):
    sources = [s for s, _ in _all_pairs(corpus)]
    assert len(sources) == len(set(sources))
    splits = (corpus.train, corpus.dev, corpus.devtest)
    train, dev, devtest = ({s for s, _ in split} for split in splits)
    assert not train & dev
    assert not train & devtest
    assert not dev & devtest


def test_negative_size_rejected():
    with pytest.raises(ValueError):
        build_toy_corpus(n_train=-1)


# --- Source properties -------------------------------------------------------------------


def test_source_shape(corpus):
    for src, tgt in _all_pairs(corpus):
        words = src.split(" ")
        assert words[-1] == "." and "" not in words
        assert 5 <= len(words) - 1 <= 9
        assert src == src.lower()
        # The target is one valid translation (not necessarily the canonical one).
        assert tgt in paraphrases(src)
        assert back_translate(tgt) == src


# --- Target properties -------------------------------------------------------------------


def test_targets_are_tibetan_script(corpus):
    for _, tgt in _all_pairs(corpus):
        assert all("\u0f00" <= ch <= "\u0fff" for ch in tgt), tgt
        assert tgt.endswith(SHAD)
        assert TSHEG in tgt
        assert " " not in tgt


def test_lexicon_entries_are_distinct_and_renderable():
    entries = (
        [t for _, t in NOUNS.values()]
        + list(VERBS.values())
        + list(ADJECTIVES.values())
        + list(NUMBERS.values())
        + list(SYNONYMS.values())
        + [PLURAL_SUFFIX, INDEFINITE, VERB_SUFFIX, AGENT_PARTICLE]
    )
    assert len(entries) == len(set(entries))
    for entry in entries:
        syllables = _syllables(entry)
        assert 1 <= len(syllables) <= 2
        for syl in syllables:
            assert "\u0f40" <= syl[0] <= "\u0f66"  # starts with a consonant letter
            for ch in syl:
                assert "\u0f40" <= ch <= "\u0f66" or ch in "\u0f72\u0f74\u0f7a\u0f7c", syl


def test_example_syllables_match_spec():
    assert _syllables(PLURAL_SUFFIX) == ["ཚོ"]
    assert _syllables(INDEFINITE) == ["ཞིག"]


def test_sov_exact_target():
    # the big dog sees two red cats .  ->  dog big | cat red PL two | see V-SUFFIX
    expected_words = [
        NOUNS["dog"][1], ADJECTIVES["big"],
        NOUNS["cat"][1], ADJECTIVES["red"], PLURAL_SUFFIX, NUMBERS["two"],
        VERBS["sees"], VERB_SUFFIX,
    ]  # fmt: skip
    expected = TSHEG.join(s for w in expected_words for s in _syllables(w)) + SHAD
    assert translate("the big dog sees two red cats .") == expected
    # The verb's syllables come last, right before the suffix and the shad.
    tail = TSHEG.join(_syllables(VERBS["sees"]) + _syllables(VERB_SUFFIX)) + SHAD
    assert expected.endswith(TSHEG + tail)


def test_indefinite_and_definite():
    got = translate("a child eats the apple .")
    words = [NOUNS["child"][1], INDEFINITE, NOUNS["apple"][1], VERBS["eats"], VERB_SUFFIX]
    assert got == render(words)
    # "an" is the pre-vowel spelling of "a": same translation.
    assert translate("an old teacher reads a book .") == translate("a old teacher reads a book .")


def test_multiple_adjectives_follow_noun_in_order():
    got = translate("the old teacher reads three big white books .")
    assert got == render([
        NOUNS["teacher"][1], ADJECTIVES["old"],
        NOUNS["book"][1], ADJECTIVES["big"], ADJECTIVES["white"], PLURAL_SUFFIX, NUMBERS["three"],
        VERBS["reads"], VERB_SUFFIX,
    ])  # fmt: skip


def test_plural_suffix_iff_number(corpus):
    plural = _syllables(PLURAL_SUFFIX)[0]
    seen_with, seen_without = False, False
    for src, tgt in _all_pairs(corpus):
        has_number = any(w in NUMBERS for w in src.split())
        assert (plural in tgt.split(TSHEG)) == has_number, (src, tgt)
        seen_with |= has_number
        seen_without |= not has_number
    assert seen_with and seen_without


def _monotone_substitution(source: str) -> str:
    """Replace every content word (and "a") by its lexicon entry, keeping English order."""
    lexicon = {**VERBS, **ADJECTIVES, **NUMBERS, "a": INDEFINITE, "an": INDEFINITE}
    for lemma, (plural, target) in NOUNS.items():
        lexicon[lemma] = lexicon[plural] = target
    return render(lexicon[w] for w in source.split() if w in lexicon)


def test_more_than_word_substitution(corpus):
    src = "the big dog sees a cat ."
    assert _monotone_substitution(src) != translate(src)
    # Every sentence has an object, so none is a monotone substitution.
    for src, tgt in corpus.train:
        assert _monotone_substitution(src) != tgt


# --- Meaning-preserving variation ----------------------------------------------------------

EXAMPLE = "the big dog sees two red cats ."


def _is_tibetan_sentence(text: str) -> bool:
    """Only Tibetan letters + vowel signs, syllables joined by tsheg, one final shad."""
    if not text.endswith(SHAD) or SHAD in text[:-1]:
        return False
    for syl in text[:-1].split(TSHEG):
        if not syl or not "\u0f40" <= syl[0] <= "\u0f66":
            return False
        if any(not ("\u0f40" <= ch <= "\u0f66" or ch in "\u0f72\u0f74\u0f7a\u0f7c") for ch in syl):
            return False
    return True


def test_paraphrases_canonical_first_distinct_and_counted():
    variants = paraphrases(EXAMPLE)
    assert variants[0] == translate(EXAMPLE)
    assert len(variants) == len(set(variants))
    # big, sees, red have synonyms (dog, cat, two do not): 3 structures x 2**3 synonym choices.
    assert len(variants) == 3 * 2**3
    assert len(paraphrases("the dog finds a cat .")) == 3  # no synonym slot: structures only


def test_every_variant_means_the_source(corpus):
    sources = [s for s, _ in _all_pairs(corpus)][:150] + [EXAMPLE, "the big horse eats the big book ."]
    for src in sources:
        for variant in paraphrases(src):
            assert _is_tibetan_sentence(variant), variant
            assert back_translate(variant) == src, (src, variant)
            assert canonicalise(variant) == translate(src)


def test_example_paraphrase_from_docstring():
    variant = render("ji-la mar-po tsho nyi khi chen gis zig red".split())
    assert variant in paraphrases(EXAMPLE)
    assert back_translate(variant) == EXAMPLE


def test_object_first_only_with_agent_particle():
    # Without the particle, NP NP is always subject-object: swapping the NPs swaps the roles.
    dog, cat = NOUNS["dog"][1], NOUNS["cat"][1]
    swapped = render([cat, INDEFINITE, dog, VERBS["sees"], VERB_SUFFIX])
    assert back_translate(swapped) == "a cat sees the dog ."
    fronted = render([cat, INDEFINITE, dog, AGENT_PARTICLE, VERBS["sees"], VERB_SUFFIX])
    assert back_translate(fronted) == "the dog sees a cat ."
    assert fronted in paraphrases("the dog sees a cat .")
    assert swapped not in paraphrases("the dog sees a cat .")


@pytest.mark.parametrize(
    "bad",
    [
        ["khi", "gis", "ji-la", "gis", "thong", "red"],  # two agent particles
        ["khi", "ji-la", "thong"],  # no verb suffix
        ["ji-la", "tsho", "nyi", "gis", "khi", "thong", "red"],  # plural subject
        ["khi", "ji-la", "thong", "zig", "red"],  # two verbs
    ],
)
def test_invalid_targets_rejected(bad):
    with pytest.raises(ValueError):
        back_translate(render(bad))


def test_back_translate_rejects_non_toy_text():
    for text in ("the dog sees a cat .", "", "ཁི་ཇི་ལ་ཐོང་རེད", "ཀཀ་ཇི་ལ་ཐོང་རེད།"):
        with pytest.raises(ValueError):
            back_translate(text)


def test_paraphrase_has_much_lower_chrf_than_a_copy():
    # The point of the variation: chrF++ of a valid paraphrase against the canonical form is
    # far below a copy's 100 (and below a one-word meaning change that keeps the form).
    from sacrebleu.metrics import CHRF

    chrf = CHRF(word_order=2)
    canonical = translate(EXAMPLE)
    variant = render("ji-la mar-po tsho nyi khi chen gis zig red".split())
    assert chrf.sentence_score(canonical, [canonical]).score == pytest.approx(100.0)
    assert chrf.sentence_score(variant, [canonical]).score < 60
    assert chrf.sentence_score(canonical, [variant]).score < 60
    wrong = change_content_word(canonical, random.Random(0))
    assert back_translate(wrong) != EXAMPLE
    assert chrf.sentence_score(wrong, [canonical]).score > chrf.sentence_score(variant, [canonical]).score


def test_change_content_word_changes_exactly_one_word(corpus):
    rng = random.Random(0)
    for src, tgt in corpus.dev:
        wrong = change_content_word(tgt, rng)
        assert _is_tibetan_sentence(wrong)
        changed = back_translate(wrong)  # still a valid sentence, of another meaning
        diff = [(a, b) for a, b in zip(src.split(), changed.split()) if a != b]
        # One content word; "a"/"an" may follow a changed first adjective/noun.
        assert 1 <= len(diff) <= 2 and len(src.split()) == len(changed.split()), (src, changed)
        assert sum(a not in ("a", "an") for a, _ in diff) == 1, (src, changed)


def test_sample_translation_rates_and_determinism():
    sources = [generate_sentence(random.Random(i)) for i in range(300)]
    a = [sample_translation(s, random.Random(1)) for s in sources]
    assert a == [sample_translation(s, random.Random(1)) for s in sources]
    rng = random.Random(2)
    draws = [sample_translation(s, rng) for s in sources]
    assert all(d in paraphrases(s) for s, d in zip(sources, draws))
    canonical = sum(d == translate(s) for s, d in zip(sources, draws)) / len(sources)
    assert abs(canonical - CANONICAL_RATE) < 0.1  # 300 Bernoulli(0.5) draws: sd 0.03
    rng = random.Random(3)
    assert all(sample_translation(s, rng, canonical_rate=1.0) == translate(s) for s in sources)
    never = [sample_translation(s, rng, canonical_rate=0.0) for s in sources]
    assert all(d != translate(s) and d in paraphrases(s) for s, d in zip(sources, never))
    # Every structure and synonym occurs: the non-canonical draw is not stuck on one form.
    particle = render([AGENT_PARTICLE])[:-1]
    assert any(particle in d for d in never) and any(particle not in d for d in never)
    with pytest.raises(ValueError):
        sample_translation(EXAMPLE, rng, canonical_rate=1.5)


def test_corpus_targets_vary_at_the_documented_rate(corpus):
    pairs = _all_pairs(corpus)
    canonical = sum(t == translate(s) for s, t in pairs) / len(pairs)
    assert abs(canonical - CANONICAL_RATE) < 0.08  # 600 draws: sd 0.02
    # dev/devtest references vary too, not only the training targets.
    for split in (corpus.dev, corpus.devtest):
        assert any(t != translate(s) for s, t in split)
        assert any(t == translate(s) for s, t in split)


def test_canonical_rate_one_gives_canonical_corpus_with_the_same_sources(corpus):
    canon = build_toy_corpus(seed=0, n_train=500, n_dev=50, n_devtest=50, canonical_rate=1.0)
    assert [s for s, _ in _all_pairs(canon)] == [s for s, _ in _all_pairs(corpus)]
    assert all(t == translate(s) for s, t in _all_pairs(canon))


# --- translate errors --------------------------------------------------------------------


def test_unknown_word_raises_with_word():
    with pytest.raises(ValueError, match="zebra"):
        translate("the zebra sees a dog .")


@pytest.mark.parametrize(
    "bad",
    [
        "the dog sees .",  # missing object
        "the dog a cat .",  # missing verb
        "two dog sees a cat .",  # number with singular noun
        "the dogs sees a cat .",  # "the" with plural noun
        "the dog sees a cat the .",  # trailing word
    ],
)
def test_ungrammatical_raises(bad):
    with pytest.raises(ValueError):
        translate(bad)


# --- Writing -----------------------------------------------------------------------------


def test_flores_layout(tmp_path, corpus):
    root = write_flores_layout(corpus, tmp_path / "flores")
    assert root == tmp_path / "flores"
    for split, pairs in (("dev", corpus.dev), ("devtest", corpus.devtest)):
        src_path = root / split / f"{TOY_SRC_CODE}.{split}"
        tgt_path = root / split / f"{TOY_TGT_CODE}.{split}"
        assert src_path.name == f"eng_Latn.{split}" and tgt_path.name == f"toy_Tibt.{split}"
        src_text = src_path.read_text(encoding="utf-8")
        tgt_text = tgt_path.read_text(encoding="utf-8")
        assert src_text.endswith("\n") and tgt_text.endswith("\n")
        src_lines, tgt_lines = src_text.splitlines(), tgt_text.splitlines()
        assert len(src_lines) == len(tgt_lines) == len(pairs)
        assert list(zip(src_lines, tgt_lines)) == pairs
    # No temp files left behind.
    assert sorted(p.name for p in (root / "dev").iterdir()) == ["eng_Latn.dev", "toy_Tibt.dev"]


def test_flores_layout_overwrites(tmp_path, corpus):
    write_flores_layout(build_toy_corpus(seed=5, n_train=1, n_dev=3, n_devtest=3), tmp_path)
    write_flores_layout(corpus, tmp_path)
    lines = (tmp_path / "dev" / "toy_Tibt.dev").read_text(encoding="utf-8").splitlines()
    assert lines == [t for _, t in corpus.dev]


def test_parallel_tsv(tmp_path, corpus):
    path = write_parallel_tsv(corpus.train[:20], tmp_path / "sub" / "train.tsv")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert [tuple(line.split("\t")) for line in text.splitlines()] == corpus.train[:20]


def test_parallel_tsv_rejects_tab(tmp_path):
    with pytest.raises(ValueError):
        write_parallel_tsv([("a\tb", "c")], tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()


def test_swap_roles_exchanges_subject_and_object():
    for variant in paraphrases("the big dog sees a cat ."):
        swapped = swap_roles(variant)
        assert back_translate(swapped) == "a cat sees the big dog ."
        assert swapped in paraphrases("a cat sees the big dog .")  # same structure, same synonyms
        assert sorted(swapped[:-1].split(TSHEG)) == sorted(variant[:-1].split(TSHEG))
    with pytest.raises(ValueError):  # a numbered object cannot be the subject
        swap_roles(translate("the dog sees two cats ."))
    with pytest.raises(ValueError):  # nothing to swap
        swap_roles(translate("a stone sees a stone ."))
