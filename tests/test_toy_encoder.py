"""The toy language's sentence encoder (vepo.rewards.toy_encoder): a real sentence-transformers directory, trained
once per session in code, that embeds meaning (paraphrases together, content changes and unrelated sentences apart)
on held-out toy sentences, and drives SemanticSimilarity the way the semantic reward needs."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from vepo.data.toy import (
    AGENT_PARTICLE,
    TSHEG,
    back_translate,
    build_toy_corpus,
    change_content_word,
    paraphrases,
    render,
    swap_roles,
    translate,
)
from vepo.rewards.toy_encoder import MARKER, RECOMMENDED_TAU, ensure_toy_encoder

PARTICLE = render([AGENT_PARTICLE])[:-1]  # the Tibetan syllable


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return ensure_toy_encoder(tmp_path_factory.mktemp("toy_encoder") / "encoder", seed=0)


@pytest.fixture(scope="module")
def encoder(encoder_dir):
    from vepo.rewards.semantic import load_encoder

    return load_encoder(encoder_dir)


@pytest.fixture(scope="module")
def heldout() -> list[str]:
    """Devtest sources of the default toy corpus: never seen in training (the encoder trains on its train split)."""
    return [src for src, _ in build_toy_corpus().devtest]


def _embed(encoder, texts: list[str]) -> np.ndarray:
    return np.asarray(encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False), dtype=np.float64)


def _cos(encoder, a: list[str], b: list[str]) -> np.ndarray:
    return np.sum(_embed(encoder, a) * _embed(encoder, b), axis=1)


def test_saved_as_a_sentence_transformers_directory(encoder_dir):
    from sentence_transformers import SentenceTransformer

    assert (encoder_dir / "modules.json").is_file()
    marker = json.loads((encoder_dir / MARKER).read_text(encoding="utf-8"))
    assert marker["toy_version"] == "2" and marker["seed"] == 0
    assert marker["loss_last"] < marker["loss_first"] / 10  # it trained
    model = SentenceTransformer(str(encoder_dir), device="cpu")
    emb = model.encode(["the dog sees a cat .", translate("the dog sees a cat .")], normalize_embeddings=True)
    assert emb.shape == (2, model.get_embedding_dimension())
    # Word-level tokens: English words and Tibetan syllables (tsheg/shad split off), no [UNK] for toy text.
    tok = model.tokenizer
    tokens = tok.tokenize(translate("the big dog sees two red cats ."))
    assert "[UNK]" not in tokens and len(tokens) == 9
    assert tok.tokenize("The dog sees a cat.") == ["the", "dog", "sees", "a", "cat"]


def test_finished_encoder_is_reused(encoder_dir):
    before = (encoder_dir / MARKER).stat().st_mtime_ns
    assert ensure_toy_encoder(encoder_dir, seed=0) == encoder_dir  # would take seconds if it retrained
    assert (encoder_dir / MARKER).stat().st_mtime_ns == before


def test_deterministic_and_replaced_atomically_when_settings_change(tmp_path):
    import torch
    from safetensors.torch import load_file

    small = {"steps": 3, "batch_size": 8, "n_train": 40, "n_dev": 5, "n_devtest": 5}
    a = ensure_toy_encoder(tmp_path / "a", seed=0, **small)
    b = ensure_toy_encoder(tmp_path / "b", seed=0, **small)
    c = ensure_toy_encoder(tmp_path / "c", seed=1, **small)
    wa, wb, wc = (load_file(str(d / "model.safetensors")) for d in (a, b, c))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    # Other settings: rebuilt in place, the old one replaced, no temp dirs left beside it.
    ensure_toy_encoder(tmp_path / "a", seed=0, **{**small, "steps": 4})
    assert json.loads((a / MARKER).read_text(encoding="utf-8"))["steps"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]


def test_refuses_to_overwrite_a_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a toy encoder"):
        ensure_toy_encoder(tmp_path / "mine", steps=1, batch_size=2, n_train=4, n_dev=0, n_devtest=0)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_paraphrases_close_unrelated_far_on_heldout(encoder, heldout):
    rng = random.Random(0)
    pairs = [rng.sample(paraphrases(src), 2) for src in heldout]  # two different valid variants
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    paraphrase = _cos(encoder, a, b)
    unrelated = _cos(encoder, a, b[1:] + b[:1])  # variants of different sources
    assert paraphrase.mean() - unrelated.mean() >= 0.3, (paraphrase.mean(), unrelated.mean())
    changed = _cos(encoder, a, [change_content_word(y, rng) for y in b])
    # One content word changed sits in between: the encoder sees content, not just the sentence frame.
    assert np.median(paraphrase) > np.median(changed) > np.median(unrelated)
    assert (paraphrase > changed).mean() >= 0.95


def test_english_source_retrieves_its_translation(encoder, heldout):
    rng = random.Random(1)
    sources = heldout[:100]
    candidates = [rng.choice(paraphrases(src)) for src in sources]  # any valid variant, not only the canonical
    sims = _embed(encoder, sources) @ _embed(encoder, candidates).T
    top1 = float((sims.argmax(axis=1) == np.arange(len(sources))).mean())
    assert top1 >= 0.8, top1


def test_role_swap_scores_below_paraphrase(encoder, heldout):
    rng = random.Random(2)
    a, b, swapped = [], [], []
    for src in heldout:
        x, y = rng.sample(paraphrases(src), 2)
        try:
            s = swap_roles(y)
        except ValueError:  # numbered object, or subject == object
            continue
        assert back_translate(s) != src
        a.append(x), b.append(y), swapped.append(s)
    assert len(a) >= 40
    paraphrase, role_swap = _cos(encoder, a, b), _cos(encoder, a, swapped)
    # Weaker than for content words (mean pooling over a 2-layer model): a majority, not all.
    assert (paraphrase > role_swap).mean() >= 0.65
    assert paraphrase.mean() > role_swap.mean()


def test_semantic_reward_prefers_paraphrase_over_content_change(encoder_dir, heldout):
    from sacrebleu.metrics import CHRF

    from vepo.rewards.semantic import SemanticSimilarity

    sem = SemanticSimilarity(model=encoder_dir, tau=RECOMMENDED_TAU)
    rng = random.Random(3)
    refs, reordered, wrong = [], [], []
    for src in heldout:
        ref = translate(src)  # canonical: SOV, no particle
        # Same meaning, other form: the agent particle, with the object fronted or not (and maybe synonyms).
        with_particle = [v for v in paraphrases(src) if PARTICLE in v[:-1].split(TSHEG)]
        refs.append(ref)
        reordered.append(rng.choice(with_particle))
        wrong.append(change_content_word(ref, rng))  # same form, one content word changed
    n = len(refs)
    r_para = np.array(sem.score_batch([None] * n, reordered, refs, ["eng_Latn"] * n, ["toy_Tibt"] * n))
    r_wrong = np.array(sem.score_batch([None] * n, wrong, refs, ["eng_Latn"] * n, ["toy_Tibt"] * n))
    assert r_para.mean() - r_wrong.mean() >= 0.3, (r_para.mean(), r_wrong.mean())
    assert (r_para > r_wrong).mean() >= 0.95
    assert r_para.mean() >= 0.8
    # chrF++ ranks them the other way round: the reason the toy language needs a semantic reward.
    chrf = CHRF(word_order=2)
    c_para = np.mean([chrf.sentence_score(h, [r]).score for h, r in zip(reordered, refs)])
    c_wrong = np.mean([chrf.sentence_score(h, [r]).score for h, r in zip(wrong, refs)])
    assert c_wrong > c_para


def test_unrelated_and_garbage_get_no_reward(encoder_dir, heldout):
    from vepo.rewards.semantic import SemanticSimilarity

    sem = SemanticSimilarity(model=encoder_dir, tau=RECOMMENDED_TAU)
    refs = [translate(src) for src in heldout[:50]]
    others = refs[1:] + refs[:1]
    n = len(refs)
    r = sem.score_batch([None] * n, others, refs, ["eng_Latn"] * n, ["toy_Tibt"] * n)
    assert np.mean(r) < 0.05
    junk = sem.score_batch([None], [render(["red"])], refs[:1], ["eng_Latn"], ["toy_Tibt"])
    assert junk[0] < 0.2
