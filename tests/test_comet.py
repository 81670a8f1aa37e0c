"""COMET on vepo's stack: a tiny COMET checkpoint built with comet's own classes, loaded and scored offline on CPU.

Proves that unbabel-comet 2.2.7 works on transformers 5 / numpy 2 / huggingface-hub >= 1 / torch >= 2.6 with
vepo.models.comet.compat, and checks CometScorer / CometComponent behaviour (offline errors, QE, NaN handling).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path

import pytest
import torch

from vepo.errors import VepoError
from vepo.models.comet.scorer import (
    CometScorer,
    clear_comet_scorers,
    get_comet_scorer,
    sanitize_scores,
)
from vepo.models.comet.compat import apply_comet_patches
from vepo.models.comet.tiny import build_tiny_comet_checkpoint
from vepo.rewards.comet import CometComponent

SRC = ["The cat sat on the mat.", "Hello world, this is a test.", "A quick brown fox jumps.",
       "Der Hund läuft schnell.", "El gato está sentado."]
MT = ["Le chat est assis sur le tapis.", "Hello world", "Un renard brun rapide saute.", "The dog runs fast.", ""]
REF = ["Le chat est assis sur le tapis.", "Bonjour le monde, ceci est un test.", "Un renard brun rapide saute.",
       "The dog runs quickly.", "The cat is sitting."]
GARBAGE = ["zq xv ## 0 0 0 qq", "kk kk kk kk", "!!! ??? ...", "q", "xxxxxxxxxxxxxxxx yyyy"]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny matrices gain nothing from intra-op threads, and on a busy 2-core runner OpenMP spin-waits made each
    32-wide linear layer take ~8 ms instead of ~15 us."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_comet")
    build_tiny_comet_checkpoint(out)
    return out


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_dir) -> Path:
    return tiny_dir / "checkpoints" / "model.ckpt"


@pytest.fixture(scope="module")
def scorer(tiny_ckpt) -> CometScorer:
    return CometScorer(str(tiny_ckpt), batch_size=2, device="cpu")


@pytest.fixture(scope="module")
def kiwi_ckpt(tmp_path_factory) -> Path:
    return build_tiny_comet_checkpoint(tmp_path_factory.mktemp("tiny_kiwi"), kind="unified")


def test_import_comet_and_patches_idempotent():
    apply_comet_patches()
    apply_comet_patches()
    import comet
    from comet.encoders.base import Encoder
    from comet.encoders.bert import BERTEncoder
    from comet.encoders.xlmr import XLMREncoder

    assert comet.__version__ == "2.2.7"
    for fn in (XLMREncoder.forward, BERTEncoder.forward, Encoder.concat_sequences):
        assert getattr(fn, "__vepo_patched__", False)
    # applying twice must not wrap the wrapper
    assert Encoder.concat_sequences.__closure__ is not None
    inner = [c.cell_contents for c in Encoder.concat_sequences.__closure__]
    assert not any(getattr(f, "__vepo_patched__", False) for f in inner if callable(f))


def test_checkpoint_layout(tiny_dir, tiny_ckpt):
    assert tiny_ckpt.is_file() and (tiny_dir / "hparams.yaml").is_file()
    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)  # loads under torch's safe default
    assert ckpt["hyper_parameters"]["class_identifier"] == "regression_metric"
    assert any(k.startswith("encoder.model.encoder.layer.1.") for k in ckpt["state_dict"])


def test_scores_finite_deterministic_and_match_comet_predict(scorer, tiny_ckpt):
    a = scorer.score(SRC, MT, REF)
    b = scorer.score(SRC, MT, REF)
    assert len(a) == len(SRC)
    assert all(isinstance(x, float) and math.isfinite(x) for x in a)
    assert a == b
    # same numbers as comet's own Lightning predict path (patched encoder under transformers 5)
    import comet

    model = comet.load_from_checkpoint(str(tiny_ckpt))
    ref = model.predict([{"src": s, "mt": m, "ref": r} for s, m, r in zip(SRC, MT, REF)], batch_size=2, gpus=0,
                        progress_bar=False)
    assert ref.scores == pytest.approx(a, abs=1e-5)
    assert scorer.system_score(SRC, MT, REF) == pytest.approx(sum(a) / len(a))


def test_identical_vs_garbage_differ(scorer):
    same = scorer.score(SRC, REF, REF)
    garbage = scorer.score(SRC, GARBAGE, REF)
    assert all(abs(x - y) > 1e-6 for x, y in zip(same, garbage))


def test_batch_size_does_not_change_scores(scorer):
    assert scorer.score(SRC, MT, REF, batch_size=1) == pytest.approx(scorer.score(SRC, MT, REF, batch_size=5),
                                                                     abs=1e-5)
    assert scorer.score([], [], []) == []


def test_reference_based_model_needs_references(scorer):
    assert scorer.requires_references
    with pytest.raises(VepoError, match="needs references"):
        scorer.score(SRC, MT)
    with pytest.raises(VepoError, match="references for"):
        scorer.score(SRC, MT, REF[:2])


@pytest.mark.parametrize("kind", ["unified", "referenceless"])
def test_qe_without_references(kind, kiwi_ckpt, tmp_path):
    ckpt = kiwi_ckpt if kind == "unified" else build_tiny_comet_checkpoint(tmp_path, kind=kind)
    qe = CometScorer(str(ckpt), batch_size=2)
    assert not qe.requires_references
    scores = qe.score(SRC, MT)
    assert len(scores) == len(SRC) and all(math.isfinite(x) for x in scores)
    assert scores == qe.score(SRC, MT)


def test_unified_joins_segments_like_transformers4(kiwi_ckpt):
    """Patch 2: `<s> mt </s></s> src </s>` — what XLMRobertaTokenizerFast.build_inputs_with_special_tokens gave."""
    enc = CometScorer(str(kiwi_ckpt)).model.encoder
    tok = enc.tokenizer
    mt, src = enc.prepare_sample(["Le chat."]), enc.prepare_sample(["The cat."])
    joined, _, _ = enc.concat_sequences([mt, src])
    ids = joined["input_ids"][0].tolist()
    mt_ids, src_ids = mt["input_ids"][0].tolist(), src["input_ids"][0].tolist()
    assert ids == [tok.cls_token_id] + mt_ids[1:-1] + [tok.sep_token_id] * 2 + src_ids[1:-1] + [tok.sep_token_id]


def test_missing_hub_model_offline_is_one_line_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(VepoError) as err:
        CometScorer("vepo-test/no-such-comet-model")
    msg = str(err.value)
    assert "\n" not in msg
    assert "vepo-test/no-such-comet-model" in msg and "HF_HOME" in msg and "checkpoint" in msg


def test_missing_local_checkpoint(tmp_path):
    with pytest.raises(VepoError, match="not found"):
        CometScorer(str(tmp_path / "nope" / "checkpoints" / "model.ckpt"))
    with pytest.raises(VepoError, match="not found"):  # a directory without checkpoints/model.ckpt
        CometScorer(str(tmp_path))


def test_model_directory_is_accepted(tiny_dir, scorer):
    assert CometScorer(str(tiny_dir), batch_size=2).score(SRC, MT, REF) == scorer.score(SRC, MT, REF)


def _fake_hub_cache(cache: Path, repo_id: str, model_dir: Path) -> None:
    """The Hugging Face cache layout for `repo_id` holding a COMET release (hparams.yaml + checkpoints/)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    snap = repo / "snapshots" / commit
    (snap / "checkpoints").mkdir(parents=True)
    shutil.copy(model_dir / "hparams.yaml", snap / "hparams.yaml")
    shutil.copy(model_dir / "checkpoints" / "model.ckpt", snap / "checkpoints" / "model.ckpt")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_hub_id_from_cache_offline(tiny_dir, scorer, tmp_path, monkeypatch):
    from huggingface_hub import constants

    _fake_hub_cache(tmp_path, "vepo-test/tiny-comet", tiny_dir)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = CometScorer("vepo-test/tiny-comet", batch_size=2)
    assert hub.checkpoint.is_relative_to(tmp_path)
    assert hub.score(SRC, MT, REF) == scorer.score(SRC, MT, REF)


def test_encoder_not_cached_offline(tiny_dir, tmp_path, monkeypatch):
    model_dir = tmp_path / "m"
    shutil.copytree(tiny_dir, model_dir)
    hp = model_dir / "hparams.yaml"
    hp.write_text("\n".join(line if not line.startswith("pretrained_model:") else
                            "pretrained_model: vepo-test/no-such-encoder"
                            for line in hp.read_text().splitlines()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(VepoError) as err:
        CometScorer(str(model_dir))
    assert "vepo-test/no-such-encoder" in str(err.value) and "\n" not in str(err.value)


def test_checkpoint_missing_weights_is_an_error(tiny_dir, tmp_path):
    model_dir = tmp_path / "m"
    shutil.copytree(tiny_dir, model_dir)
    path = model_dir / "checkpoints" / "model.ckpt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    del ckpt["state_dict"]["estimator.ff.0.weight"]
    torch.save(ckpt, path)
    with pytest.raises(VepoError, match="lacks 1 weight"):
        CometScorer(str(path))


def test_sanitize_scores():
    clean, bad = sanitize_scores([0.5, float("nan"), float("inf"), -float("inf"), -0.25])
    assert clean == [0.5, 0.0, 0.0, 0.0, -0.25] and bad == 3
    assert sanitize_scores([]) == ([], 0)


def test_device_and_gpus_validation(tiny_ckpt):
    with pytest.raises(VepoError, match="multi-GPU"):
        CometScorer(str(tiny_ckpt), gpus=2)
    if not torch.cuda.is_available():
        with pytest.raises(VepoError, match="CUDA is not available"):
            CometScorer(str(tiny_ckpt), device="cuda")
    assert CometScorer(str(tiny_ckpt), gpus=0).device == "cpu"


def test_cached_scorer_and_reward(tiny_ckpt, scorer):
    clear_comet_scorers()
    s1 = get_comet_scorer(str(tiny_ckpt), device="cpu")
    assert get_comet_scorer(str(tiny_ckpt), device="cpu") is s1
    reward = CometComponent(str(tiny_ckpt), device="cpu")
    assert reward.name == "comet" and reward.scorer is s1 and reward.needs_reference
    # the hypothesis is the first non-empty line of the completion; an empty one scores 0 without reaching COMET
    completions = [m + "\n\nNote: extra text" for m in MT[:4]] + ["\n" + MT[4]]
    n = len(MT)
    values = reward.score_batch(SRC, completions, REF, ["eng_Latn"] * n, ["fra_Latn"] * n)
    raw = scorer.score(SRC[:4], MT[:4], REF[:4])
    assert values[:4] == pytest.approx([min(1.0, max(0.0, x)) for x in raw], abs=1e-6)
    assert values[4] == 0.0 and reward.warnings["empty_hypothesis"] == 1
    assert all(0.0 <= v <= 1.0 for v in values)
    clear_comet_scorers()


def test_qe_reward_without_ref(kiwi_ckpt):
    reward = CometComponent(str(kiwi_ckpt), device="cpu")
    assert not reward.needs_reference
    values = reward.score_batch(SRC, MT, [None] * 5, [None] * 5, [None] * 5)
    assert len(values) == 5 and all(0.0 <= v <= 1.0 for v in values) and values[4] == 0.0
    clear_comet_scorers()


def test_multi_gpu_prediction_files_reload():
    """Patch 3: comet's multi-GPU writer reloads its own pickled Prediction files under torch >= 2.6."""
    import tempfile

    apply_comet_patches()
    from comet.models.predict_writer import CustomWriter
    from comet.models.utils import Prediction

    writer = CustomWriter()
    writer.output_dir = tempfile.mkdtemp()
    try:
        torch.save([Prediction(scores=torch.tensor([0.1, 0.2])), Prediction(scores=torch.tensor([0.3]))],
                   os.path.join(writer.output_dir, "pred_0.pt"))
        torch.save([[[1, 0], [2]]], os.path.join(writer.output_dir, "batch_indices_0.pt"))
        out = writer.gather_all_predictions()
        assert out.scores == pytest.approx([0.2, 0.1, 0.3])
    finally:
        writer.cleanup()


def test_importing_comet_through_vepo_leaves_root_logger_alone():
    """Patch 4: comet's import-time `logging.basicConfig(level=INFO)` handler is removed again."""
    from vepo.models.comet import compat as comet_compat

    apply_comet_patches()
    if not comet_compat.imported_comet_quietly:
        pytest.skip("comet was imported before vepo patched it in this process")
    comet_handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler
                      and h.formatter is not None and h.formatter._fmt == "%(message)s"]
    assert comet_handlers == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(tiny_ckpt, kiwi_ckpt, scorer):
    gpu = CometScorer(str(tiny_ckpt), device="cuda", batch_size=2)
    assert gpu.device.startswith("cuda")
    assert gpu.score(SRC, MT, REF) == pytest.approx(scorer.score(SRC, MT, REF), abs=1e-4)
    kiwi_cpu, kiwi_gpu = CometScorer(str(kiwi_ckpt)), CometScorer(str(kiwi_ckpt), gpus=1)
    assert kiwi_gpu.score(SRC, MT) == pytest.approx(kiwi_cpu.score(SRC, MT), abs=1e-4)
