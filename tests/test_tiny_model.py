"""The tiny model and tokenizer survive save_pretrained / from_pretrained unchanged."""

from __future__ import annotations

import torch

from vepo.config.schema import TinyModelConfig
from vepo.data.toy import build_toy_corpus
from vepo.models.loading import load_model, load_tokenizer
from vepo.models.tiny import EOS_TOKEN, build_and_save_tiny


def test_round_trip(tmp_path):
    corpus = build_toy_corpus(seed=0, n_train=200, n_dev=5, n_devtest=5)
    texts = [s for s, _ in corpus.train] + [t for _, t in corpus.train]
    cfg = TinyModelConfig(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=1)
    out = build_and_save_tiny(texts, cfg, tmp_path / "tiny", seed=0)
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not list(out.glob("*.bin"))  # safetensors only

    tok = load_tokenizer(out)
    model = load_model(out)
    assert tok.eos_token == EOS_TOKEN and tok.pad_token_id != tok.eos_token_id
    assert model.generation_config.eos_token_id == tok.eos_token_id
    assert model.config.vocab_size == len(tok)
    assert model.config.num_hidden_layers == 1

    # Tibetan target text round-trips through the byte-level tokenizer exactly, with no unknown pieces.
    target = corpus.devtest[0][1]
    ids = tok(target, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == target
    assert len(ids) < len(target.encode("utf-8"))  # BPE merged the Tibetan bytes

    # Reloading gives the same function: identical logits for the same input.
    again = load_model(out)
    x = torch.tensor([ids[:8]])
    with torch.no_grad():
        assert torch.equal(model(x).logits, again(x).logits)
