"""`vepo extend-vocab` on the toy tiny model: fewer tokens for toy Tibetan, old logits untouched, new rows equal
to the means they are defined as, a checkpoint that loads like any model, new ids rare for DPPO-AV, and bad inputs
as one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import run_vepo
from vepo.config.schema import LangConfig, ModelConfig, TinyModelConfig
from vepo.errors import VepoError
from vepo.tokenization.added_tokens import ADDED_TOKENS_FILE
from vepo.config.tokenization import ExtendVocabConfig
from vepo.tokenization.embeddings import extend_embeddings
from vepo.tokenization.checks import check_extend_vocab_config
from vepo.tokenization.extend_vocab_command import run_extend_vocab

TINY = TinyModelConfig(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict:
    """The toy tiny model as `vepo train` builds it (tokenizer trained on both sides of the toy corpus), toy Tibetan
    training text, held-out toy Tibetan, and extend-vocab run on them (in-process: the CLI costs seconds of imports;
    test_cli_* drives the command line)."""
    from vepo.data.toy import build_toy_corpus
    from vepo.models.tiny import build_and_save_tiny

    root = tmp_path_factory.mktemp("extend")
    corpus = build_toy_corpus(seed=0, n_train=1500, n_dev=0, n_devtest=100)
    base = build_and_save_tiny([s for s, _ in corpus.train] + [t for _, t in corpus.train], TINY, root / "base", 0)
    (root / "tib.txt").write_text("\n".join(t for _, t in corpus.train) + "\n", encoding="utf-8")
    heldout = [t for _, t in corpus.devtest]
    (root / "heldout.txt").write_text("\n".join(heldout) + "\n", encoding="utf-8")
    run_dir = root / "run"
    cfg = ExtendVocabConfig(model=ModelConfig(path=str(base)), lang=LangConfig(tgt="toy_Tibt"),
                            corpus=str(root / "tib.txt"), added_tokens=150, heldout=str(root / "heldout.txt"))
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        run_extend_vocab(cfg, run_dir)
    return {"root": root, "base": base, "ckpt": run_dir / "checkpoint", "heldout": heldout,
            "report": json.loads((run_dir / "extend_vocab.json").read_text(encoding="utf-8")),
            "stdout": stdout.getvalue()}


def _tokens_per_char(tokenizer, texts: list[str]) -> float:
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return sum(map(len, ids)) / sum(map(len, texts))


def test_fewer_tokens_per_character_on_heldout_toy_tibetan(toy):
    from transformers import AutoTokenizer

    base = AutoTokenizer.from_pretrained(toy["base"])
    extended = AutoTokenizer.from_pretrained(toy["ckpt"])
    before, after = _tokens_per_char(base, toy["heldout"]), _tokens_per_char(extended, toy["heldout"])
    assert after <= 0.7 * before  # at least 30% fewer tokens per character
    assert len(extended) == len(base) + 150
    # the report says the same, in the tokenize-stats metrics
    stats = toy["report"]["heldout_stats"]
    assert stats["before"]["tokens"] == round(before * stats["before"]["chars"])
    assert stats["tokens_per_char_reduction"] == pytest.approx(1 - after / before)
    assert stats["after"]["segmenter"] == "tibetan-syllables" and "compression gain" in toy["stdout"]
    # tokenize-stats' offsets derived from ids hold with added tokens too
    from vepo.tokenization.sources import load_tokenizer_source

    source = load_tokenizer_source(str(toy["ckpt"]))
    fast, exact = source.encode(toy["heldout"]), source.encode_with_offsets(toy["heldout"])
    assert all(np.array_equal(getattr(fast, f), getattr(exact, f)) for f in ("ids", "lengths", "starts", "ends"))
    assert (fast.ids >= len(base)).any()
    # the new tokens only shorten the segmentation: decoding gives the text back
    for text in toy["heldout"][:20]:
        assert extended.decode(extended(text, add_special_tokens=False)["input_ids"]) == text


def test_old_logits_unchanged_and_new_rows_are_means(toy):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_tok = AutoTokenizer.from_pretrained(toy["base"])
    base = AutoModelForCausalLM.from_pretrained(toy["base"]).eval()
    ext = AutoModelForCausalLM.from_pretrained(toy["ckpt"]).eval()
    v_old = len(base_tok)
    ids = torch.tensor([base_tok("the red dog sees a monk . " + toy["heldout"][0], add_special_tokens=False)
                        ["input_ids"]])
    with torch.no_grad():
        old_logits, new_logits = base(ids).logits, ext(ids).logits
    assert new_logits.shape[-1] == v_old + 150
    torch.testing.assert_close(new_logits[..., :v_old], old_logits, rtol=1e-5, atol=1e-5)

    record = json.loads((toy["ckpt"] / ADDED_TOKENS_FILE).read_text(encoding="utf-8"))
    assert record["new_ids"] == list(range(v_old, v_old + 150))
    old_rows = base.get_input_embeddings().weight
    new_rows = ext.get_input_embeddings().weight
    assert torch.equal(new_rows[:v_old], old_rows)
    for entry in record["tokens"]:
        segmentation = base_tok(entry["content"], add_special_tokens=False)["input_ids"]  # the old segmentation
        assert len(segmentation) >= 2 and entry["base_ids"] == segmentation
        torch.testing.assert_close(new_rows[entry["id"]], old_rows[segmentation].mean(0))
    assert ext.config.tie_word_embeddings and torch.equal(ext.get_output_embeddings().weight, new_rows)


def test_checkpoint_loads_like_any_model_and_new_ids_are_rare(toy, tmp_path):
    from vepo.models.loading import load_model, load_tokenizer
    from vepo.objectives.rarity import RARE, rarity_bucket
    from vepo.training.objective_setup import rarity_table

    tokenizer = load_tokenizer(toy["ckpt"])
    model = load_model(toy["ckpt"])
    prompt = tokenizer(["English: the dog sleeps .\nToy:"], return_tensors="pt")
    out = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]

    new_ids = json.loads((toy["ckpt"] / ADDED_TOKENS_FILE).read_text(encoding="utf-8"))["new_ids"]
    rarity, counts, _ = rarity_table(tokenizer, toy["heldout"], tmp_path / "cache")
    plain, _, _ = rarity_table(tokenizer, toy["heldout"], tmp_path / "cache", new_ids=[])
    used = [i for i in new_ids if counts[i] > 0]
    assert used and plain[used].max() < 1.0  # frequency alone would call some new ids common
    assert torch.all(rarity[new_ids] == 1.0)
    assert torch.all(rarity_bucket(rarity, counts)[used] == RARE)
    old = torch.ones_like(rarity, dtype=torch.bool)
    old[new_ids] = False
    assert torch.equal(rarity[old], plain[old])


def test_untied_output_embeddings_get_their_own_means():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=20, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False))
    inp, out = model.get_input_embeddings().weight.clone(), model.get_output_embeddings().weight.clone()
    info = extend_embeddings(model, [20, 21], [[3, 4, 5], [7, 19]])
    assert info == {"rows_before": 20, "rows_after": 22, "tied_embeddings": False, "output_bias": False}
    new_inp, new_out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    torch.testing.assert_close(new_inp[20], inp[[3, 4, 5]].mean(0))
    torch.testing.assert_close(new_out[21], out[[7, 19]].mean(0))
    assert torch.equal(new_inp[:20], inp) and torch.equal(new_out[:20], out)
    assert not torch.equal(new_inp[20], new_out[20])


def _cfg(toy, **kw) -> ExtendVocabConfig:
    values = dict(model=ModelConfig(path=str(toy["base"])), lang=LangConfig(tgt="toy_Tibt"),
                  corpus=str(toy["root"] / "tib.txt"), added_tokens=10)
    values.update(kw)
    return ExtendVocabConfig(**values)


def test_bad_inputs_are_user_errors(toy, tmp_path):
    from transformers import ByT5Tokenizer

    with pytest.raises(VepoError, match="does not exist"):
        check_extend_vocab_config(_cfg(toy, corpus=str(tmp_path / "missing.txt")))
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(VepoError, match="corpus is empty"):
        run_extend_vocab(_cfg(toy, corpus=str(tmp_path / "empty.txt")), tmp_path / "r1")
    with pytest.raises(VepoError, match=r"added_tokens=100000 but the corpus supports only \d+ new pieces"):
        run_extend_vocab(_cfg(toy, added_tokens=100000), tmp_path / "r2")
    slow = tmp_path / "slow"  # a checkpoint whose tokenizer has no fast version
    slow.mkdir()
    (slow / "config.json").write_text((Path(toy["base"]) / "config.json").read_text())
    ByT5Tokenizer().save_pretrained(slow)
    with pytest.raises(VepoError, match="no fast version"):
        run_extend_vocab(_cfg(toy, model=ModelConfig(path=str(slow))), tmp_path / "r3")
    with pytest.raises(VepoError, match="added_tokens=0"):
        check_extend_vocab_config(_cfg(toy, added_tokens=0))
    assert not (tmp_path / "r2" / "checkpoint").exists()  # nothing half-written


def test_cli_bad_input_is_one_line_exit_2(toy, tmp_path):
    proc = run_vepo("extend-vocab", f"model={toy['base']}", f"corpus={tmp_path / 'missing.txt'}", "lang=bod_Tibt",
                    f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "missing.txt" in proc.stderr

