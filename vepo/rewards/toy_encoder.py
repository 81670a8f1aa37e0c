"""A tiny sentence encoder for the toy language, trained offline in code (the semantic reward's toy stand-in).

No downloadable encoder knows ``toy_Tibt`` (vepo.data.toy), so ``ensure_toy_encoder`` builds one in under a
minute on a CPU and saves it as an ordinary sentence-transformers directory, which
``vepo.rewards.semantic.load_encoder`` / ``SemanticSimilarity(model=<dir>)`` load like any other encoder.

Model: a word-level tokenizer built in code (every English word of the toy grammar + every Tibetan syllable of the
target lexicon; text is split on whitespace, tsheg U+0F0B, shad U+0F0D and "."), a 2-layer BERT (hidden 64) from a
``BertConfig``, and mean pooling.

Training: in-batch-negatives contrastive loss (InfoNCE, as sentence-transformers' MultipleNegativesRankingLoss, both
directions) in a plain torch loop over (anchor, positive, hard negative) triples drawn from the training split of
``build_toy_corpus`` only (never its dev/devtest sources):

* anchor: the English source or a toy variant (``paraphrases``) of it;
* positive: another toy variant of the same source (order, particle and synonyms differ: must embed alike);
* hard negative: a toy variant with ONE content word changed (``change_content_word``) or with subject and object
  swapped (``swap_roles``): must embed apart.

Deterministic for given settings (one torch thread by default, so the core count does not matter). The result
directory carries a marker file (``toy_encoder.json``: toy version + settings) and appears atomically (built in a
temp dir, then ``os.replace``), so an existing finished encoder is reused and a half-written one is never loaded.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vepo.data.toy import (
    TOY_VERSION,
    build_toy_corpus,
    change_content_word,
    paraphrases,
    source_words,
    swap_roles,
    target_syllables,
)

MARKER = "toy_encoder.json"
FORMAT = 1  # bump when the architecture or training recipe changes (invalidates cached encoders)

# Raw cosines on the toy devtest (200 held-out sources, seed 0 encoder; medians [5th-95th percentile]):
# paraphrase 0.97 [0.93-0.99], subject/object swapped 0.80 [0.59-0.98], one content word changed 0.77 [0.55-0.90],
# two changed 0.59 [0.22-0.83], unrelated 0.00 [-0.37-0.49] (max 0.67). tau 0.6 zeroes ~all unrelated pairs and
# leaves a graded reward: paraphrase ~0.92, one word wrong ~0.39, two wrong ~0.14, roles swapped ~0.50.
RECOMMENDED_TAU = 0.6

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SPLIT_PATTERN = r"[\s\u0f0b\u0f0d.]+"  # whitespace, tsheg, shad, "." separate words; none is a token


def _settings(seed: int, corpus_seed: int, n_train: int, n_dev: int, n_devtest: int, steps: int, batch_size: int,
              threads: int) -> dict[str, Any]:
    return {"format": FORMAT, "toy_version": TOY_VERSION, "seed": seed, "corpus_seed": corpus_seed,
            "n_train": n_train, "n_dev": n_dev, "n_devtest": n_devtest, "steps": steps, "batch_size": batch_size,
            "threads": threads}


def _read_marker(out_dir: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _is_finished(out_dir: Path, settings: dict[str, Any]) -> bool:
    record = _read_marker(out_dir)
    return record is not None and {k: record.get(k) for k in settings} == settings


def _vocabulary() -> list[str]:
    return SPECIAL_TOKENS + source_words() + target_syllables()


def _build_tokenizer(max_length: int) -> Any:
    """A word-level fast tokenizer: one id per English word / Tibetan syllable, [CLS] ... [SEP] around."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(_vocabulary())}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="removed")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=max_length,
    )


def _build_model(work: Path, seed: int) -> Any:
    """A freshly initialised SentenceTransformer (BERT + mean pooling) whose transformer lives under ``work``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel

    max_length = 32  # the longest toy sentence is ~20 syllables + [CLS]/[SEP]
    tokenizer = _build_tokenizer(max_length)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=max_length, type_vocab_size=1,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)  # the weights' initialisation
    BertModel(config).save_pretrained(work)  # with its (unused) pooler: loads without warnings
    tokenizer.save_pretrained(work)
    transformer = Transformer(str(work), max_seq_length=max_length)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[transformer, pooling], device="cpu")


def _hard_negative(variant: str, rng: random.Random) -> str:
    """A near-miss of ``variant`` with another meaning: subject and object swapped whenever the object can be the
    subject (about 1/3 of sentences; without these mean pooling learns a bag of words and misses who does what),
    else one content word changed."""
    try:
        return swap_roles(variant)
    except ValueError:  # numbered object (it cannot be the subject), or subject == object (no change)
        return change_content_word(variant, rng)


def _batches(sources: list[str], steps: int, batch_size: int, rng: random.Random):
    """Per step: (anchors, positives, hard negatives), one triple per distinct source."""
    variants = {}  # cache: paraphrases() of a source is deterministic
    for _ in range(steps):
        anchors, positives, negatives = [], [], []
        for src in rng.sample(sources, batch_size):  # distinct sources: no false in-batch negatives
            options = variants.get(src) or variants.setdefault(src, paraphrases(src))
            positive = rng.choice(options)
            if rng.random() < 0.5:
                anchor = src
            else:  # a different variant when there is one (every source has >= 3)
                anchor = rng.choice([v for v in options if v != positive])
            anchors.append(anchor)
            positives.append(positive)
            negatives.append(_hard_negative(rng.choice(options), rng))
        yield anchors, positives, negatives


def _train(model: Any, sources: list[str], seed: int, steps: int, batch_size: int, scale: float = 20.0,
           lr: float = 3e-3) -> list[float]:
    import torch
    import torch.nn.functional as F

    rng = random.Random(f"toy-encoder:{seed}")
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    model.train()
    losses = []
    for anchors, positives, negatives in _batches(sources, steps, batch_size, rng):
        features = model.preprocess(anchors + positives + negatives)
        emb = F.normalize(model(features)["sentence_embedding"], dim=-1)
        a, p, n = emb.split(len(anchors))
        labels = torch.arange(len(anchors))
        # anchor -> its positive among all positives and hard negatives; positive -> its anchor
        forward = F.cross_entropy(scale * a @ torch.cat([p, n]).T, labels)
        backward = F.cross_entropy(scale * p @ a.T, labels)
        loss = (forward + backward) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def ensure_toy_encoder(out_dir: str | Path, seed: int = 0, *, corpus_seed: int = 0, n_train: int = 2000,
                       n_dev: int = 200, n_devtest: int = 200, steps: int = 500, batch_size: int = 64,
                       threads: int = 1) -> Path:
    """The toy encoder's sentence-transformers directory ``out_dir``: reused when its marker matches these settings
    (and this TOY_VERSION), else trained (~45 s on a shared 2-core CPU, ~10 s of it importing transformers) and
    written atomically.

    Training sentences are the train split of ``build_toy_corpus(corpus_seed, n_train, n_dev, n_devtest)`` (pass
    the run's data settings so its dev/devtest stay unseen). ``threads``: torch CPU threads while training (restored
    afterwards). The default 1 keeps the weights independent of the core count (float reduction order) and is as fast
    as 2 for this model size; the result is deterministic per settings on one machine."""
    import torch

    out_dir = Path(out_dir)
    if min(steps, batch_size, threads) < 1:
        raise ValueError(f"steps, batch_size and threads must be >= 1, got {(steps, batch_size, threads)}")
    settings = _settings(seed, corpus_seed, n_train, n_dev, n_devtest, steps, batch_size, threads)
    if _is_finished(out_dir, settings):
        return out_dir
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and _read_marker(out_dir) is None)):
        raise ValueError(f"{out_dir} exists and is not a toy encoder directory; refusing to overwrite it")
    sources = [src for src, _ in build_toy_corpus(corpus_seed, n_train, n_dev, n_devtest).train]
    if len(sources) < batch_size:
        raise ValueError(f"batch_size {batch_size} needs at least as many training sentences, got {len(sources)}")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    old_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        model = _build_model(tmp / "init", seed)
        losses = _train(model, sources, seed, steps, batch_size)
        # sentence-transformers announces every save at INFO, which Hydra's root logger would print mid-run.
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        model.save(str(tmp / "model"))
        record = {**settings, "loss_first": losses[0], "loss_last": losses[-1]}
        (tmp / "model" / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if _is_finished(out_dir, settings):  # a concurrent builder finished first: keep its (identical) result
            return out_dir
        if _read_marker(out_dir) is not None:  # stale settings: move it out of the way
            os.replace(out_dir, tmp / "old")
        elif out_dir.exists():
            out_dir.rmdir()  # empty (checked above)
        os.replace(tmp / "model", out_dir)
    finally:
        torch.set_num_threads(old_threads)
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
