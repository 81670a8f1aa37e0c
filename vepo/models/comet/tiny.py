"""Build a random-weight COMET checkpoint with COMET's own model classes (no download).

The checkpoint has the on-disk layout of a Hugging Face COMET release::

    out_dir/
      encoder/                  XLM-R config + tokenizer (what `pretrained_model` points to)
      hparams.yaml              `class_identifier` and the model's hyper-parameters
      checkpoints/model.ckpt    Lightning-style dict: state_dict, hyper_parameters, pytorch-lightning_version

so `comet.load_from_checkpoint(out_dir / "checkpoints/model.ckpt")` and `vepo.models.comet.scorer.CometScorer` load it
exactly as they load `Unbabel/wmt22-comet-da`. Tests use the tiny default; benchmarks pass XLM-R-large dimensions
(`hidden=1024, layers=24, heads=16, intermediate=4096, vocab_size=250002, max_positions=512`) to time a
COMET-22-sized model without downloading it. The scores of a random model mean nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

# A few sentences in several scripts: enough for a Unigram vocabulary that tokenizes the test data.
DEFAULT_VOCAB_TEXTS: tuple[str, ...] = (
    "The cat sat on the mat and looked at the garden.",
    "A quick brown fox jumps over the lazy dog.",
    "Le chat est assis sur le tapis et regarde le jardin.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El gato está sentado en la alfombra.",
    "Кошка сидит на коврике и смотрит в сад.",
    "猫坐在垫子上看着花园。",
    "བོད་ཀྱི་སྐད་ཡིག་ནི་རྒྱ་ཆེན་པོ་ཡིན།",
    "Translate the following sentence into English.",
    "Hello world, this is a tiny COMET model for tests.",
)

# model kind -> (COMET class name, class_identifier written to hparams.yaml)
_KINDS = {
    "regression": "RegressionMetric",                   # reference-based, like Unbabel/wmt22-comet-da
    "referenceless": "ReferencelessRegression",         # QE (src, mt), like wmt20/21 comet-qe
    "unified": "UnifiedMetric",                         # QE (mt, src), like Unbabel/wmt22-cometkiwi-da
}


def _build_tokenizer(texts: Sequence[str], vocab_size: int):
    """An XLM-R tokenizer (transformers' own class) over a Unigram vocabulary trained on `texts`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import XLMRobertaTokenizer

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    # XLM-R's special-token layout: <s>=0, <pad>=1, </s>=2, <unk>=3, ..., <mask>=last.
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(list(texts), trainer)
    pieces = [(str(p), float(s)) for p, s in json.loads(tok.to_str())["model"]["vocab"]]
    return XLMRobertaTokenizer(vocab=pieces + [("<mask>", 0.0)])


def build_tiny_comet_checkpoint(
    out_dir: Path | str,
    hidden: int = 32,
    layers: int = 2,
    vocab_texts: Sequence[str] = DEFAULT_VOCAB_TEXTS,
    *,
    heads: int = 2,
    intermediate: int | None = None,
    vocab_size: int | None = None,
    max_positions: int = 128,
    estimator_sizes: Sequence[int] | None = None,
    kind: str = "regression",
    seed: int = 0,
) -> Path:
    """Write a random COMET checkpoint under `out_dir` and return the path of `checkpoints/model.ckpt`.

    hidden/layers/heads/intermediate: XLM-R encoder size (intermediate defaults to 4 * hidden).
    vocab_size: embedding rows; defaults to the tokenizer's size (larger values only add unused rows, e.g.
        250002 to match XLM-R's memory). max_positions: longest input in tokens (XLM-R large: 512).
    estimator_sizes: hidden sizes of the feed-forward regressor; default [3 * hidden, hidden] (wmt22: [3072, 1024]).
    kind: "regression" (src+mt+ref, like wmt22-comet-da), "referenceless" or "unified" (QE without references,
        "unified" like wmt22-cometkiwi-da).
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    import pytorch_lightning as ptl
    import torch
    import yaml
    from transformers import XLMRobertaConfig

    from vepo.models.comet.compat import apply_comet_patches

    apply_comet_patches()
    import comet.models as comet_models

    out_dir = Path(out_dir)
    encoder_dir = out_dir / "encoder"
    encoder_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = _build_tokenizer(vocab_texts, vocab_size=max(64, min(vocab_size or 8000, 8000)))
    tokenizer.model_max_length = max_positions
    tokenizer.save_pretrained(encoder_dir)
    config = XLMRobertaConfig(
        vocab_size=max(len(tokenizer), vocab_size or 0),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate or 4 * hidden,
        max_position_embeddings=max_positions + 2,  # XLM-R positions start after padding_idx=1
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config.save_pretrained(encoder_dir)

    hparams = dict(
        encoder_model="XLM-RoBERTa",
        pretrained_model=str(encoder_dir.resolve()),
        load_pretrained_weights=False,  # random encoder built from config.json: no weights to download
        layer_transformation="sparsemax",  # as the WMT22 models
        layer_norm=False,
        dropout=0.1,
        hidden_sizes=list(estimator_sizes or [3 * hidden, hidden]),
        activations="Tanh",
        final_activation=None,
        batch_size=16,
    )
    if kind == "unified":  # joint [mt </s></s> src] encoding, CLS embedding (wmt22-cometkiwi-da layout)
        hparams.update(input_segments=["mt", "src"], word_level_training=False, sent_layer="mix", word_layer=layers)
    else:  # separate sentence embeddings, mixed layers, average pooling (wmt22-comet-da layout)
        hparams.update(layer="mix", pool="avg")

    torch.manual_seed(seed)
    model = getattr(comet_models, _KINDS[kind])(**hparams)
    model.eval()

    saved_hparams = dict(model.hparams)
    ckpt_dir = out_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = ckpt_dir / "model.ckpt"
    checkpoint = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": ptl.__version__,
        "state_dict": model.state_dict(),
        "hyper_parameters": saved_hparams,
    }
    tmp = ckpt_path.with_suffix(".ckpt.tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(ckpt_path)
    (out_dir / "hparams.yaml").write_text(yaml.safe_dump(saved_hparams, sort_keys=True), encoding="utf-8")
    return ckpt_path
