"""`vepo tokenize-stats` with real tokenizers: the SentencePiece model mistral-common ships (trained by Mistral, not
here), a byte-level BPE, a WordLevel tokenizer.json; figures checked against counts made by hand."""

from __future__ import annotations

import csv
import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_vepo
from vepo.errors import VepoError
from vepo.config.tokenization import FloresSourceConfig, TokenizeStatsConfig
from vepo.tokenization.languages import resolve_languages, suite_languages
from vepo.tokenization.segmenters import segmenter_for
from vepo.tokenization.sources import BYTE_PIECES, PARTIAL_UTF8, load_tokenizer_source
from vepo.tokenization.stats import measure, tokens_per_word
from vepo.tokenization.tokenize_stats_command import run_tokenize_stats

MISTRAL_V1 = str(files("mistral_common") / "data" / "tokenizer.model.v1")

# Two parallel "FLORES" sentences per language, with Mistral v1's segmentation written out by hand (checked once
# against sentencepiece; the test below re-checks it so a changed model file cannot pass silently).
SENTENCES = {
    "eng_Latn": ["The cat sleeps.", "Tea is hot."],
    "bod_Tibt": ["བོད་སྐད།", "ཇ་ཚ་པོ་རེད།"],
    "zho_Hans": ["猫在睡觉。", "茶很热。"],
}
PIECES = {
    "eng_Latn": [["▁The", "▁cat", "▁sle", "eps", "."], ["▁Te", "a", "▁is", "▁hot", "."]],
    "bod_Tibt": [["▁", "བ", "ོ", "ད", "་", "ས", "<0xE0>", "<0xBE>", "<0x90>", "ད", "<0xE0>", "<0xBC>", "<0x8D>"],
                 ["▁", "<0xE0>", "<0xBD>", "<0x87>", "་", "<0xE0>", "<0xBD>", "<0x9A>", "་", "<0xE0>", "<0xBD>",
                  "<0x94>", "ོ", "་", "ར", "ེ", "ད", "<0xE0>", "<0xBC>", "<0x8D>"]],
    "zho_Hans": [["▁", "猫", "在", "<0xE7>", "<0x9D>", "<0xA1>", "觉", "。"], ["▁", "茶", "很", "热", "。"]],
}


def _write_flores(root: Path, split: str, sentences: dict[str, list[str]]) -> Path:
    (root / split).mkdir(parents=True, exist_ok=True)
    for code, lines in sentences.items():
        (root / split / f"{code}.{split}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def flores(tmp_path_factory) -> Path:
    return _write_flores(tmp_path_factory.mktemp("flores"), "devtest", SENTENCES)


def _rows(report: dict) -> dict[tuple[str, str], dict]:
    return {(r["tokenizer"], r["lang"]): r for r in report["rows"]}


def test_mistral_pieces_are_the_hand_written_ones():
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=MISTRAL_V1)
    for code, lines in SENTENCES.items():
        assert [sp.encode(s, out_type=str) for s in lines] == PIECES[code]


def test_chars_per_token_and_premium_equal_hand_counts(flores, tmp_path):
    cfg = TokenizeStatsConfig(tokenizers=[MISTRAL_V1], langs=["eng_Latn", "bod_Tibt", "zho_Hans"],
                              data=FloresSourceConfig(flores_dir=str(flores)), zh_segmenter="chars",
                              show_table=False)
    report = run_tokenize_stats(cfg, tmp_path)
    rows = _rows(report)
    eng, bod, zho = (rows[(MISTRAL_V1, c)] for c in ("eng_Latn", "bod_Tibt", "zho_Hans"))
    # eng: 15 + 11 characters, 5 + 5 pieces
    assert (eng["chars"], eng["tokens"]) == (26, 10)
    assert eng["chars_per_token"] == pytest.approx(2.6) and eng["premium"] == pytest.approx(1.0)
    # bod: 8 + 11 characters (3 UTF-8 bytes each), 13 + 20 pieces, 6 + 12 of them <0xNN> byte pieces
    assert (bod["chars"], bod["bytes"], bod["tokens"]) == (19, 57, 33)
    assert bod["chars_per_token"] == pytest.approx(19 / 33)
    assert bod["bytes_per_token"] == pytest.approx(57 / 33)
    assert bod["premium"] == pytest.approx(33 / 10)
    assert bod["byte_fallback_rate"] == pytest.approx(18 / 33)
    # six syllables (བོད སྐད | ཇ ཚ པོ རེད), every one split into several pieces
    assert (bod["segmenter"], bod["words"], bod["continued_words"]) == ("tibetan-syllables", 6, 6)
    assert bod["fertility"] == pytest.approx(33 / 6)
    # zho: 9 characters, 8 + 5 pieces; as words (characters), 猫 and 茶 carry the "▁" piece, 睡 three bytes
    assert (zho["chars"], zho["tokens"], zho["premium"]) == (9, 13, pytest.approx(1.3))
    assert (zho["segmenter"], zho["words"], zho["continued_words"]) == ("characters", 9, 3)
    assert all(r["unk_rate"] == 0.0 for r in rows.values())
    # files: CSV and JSON hold the same rows, the plot is a PNG
    with open(tmp_path / "tokenize_stats.csv", newline="", encoding="utf-8") as f:
        csv_rows = list(csv.DictReader(f))
    assert [(r["lang"], int(r["tokens"])) for r in csv_rows] == [("eng_Latn", 10), ("bod_Tibt", 33), ("zho_Hans", 13)]
    saved = json.loads((tmp_path / "tokenize_stats.json").read_text(encoding="utf-8"))
    assert saved["rows"] == report["rows"] and saved["tokenizers"][0]["kind"] == "sentencepiece"
    assert saved["tokenizers"][0]["byte_fallback_detection"] == BYTE_PIECES
    assert saved["provenance"]["vepo_version"] and saved["dataset"]["split"] == "devtest"
    assert (tmp_path / "tokenize_stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sentencepiece_offsets_from_ids_equal_its_offset_mapping():
    """The fast path derives offsets from ids; on every text it trusts they must be sentencepiece's own, and the
    texts it does not trust (normalised whitespace, leading spaces) fall back to the offset mapping."""
    import random

    source = load_tokenizer_source(MISTRAL_V1)
    rng = random.Random(0)
    alphabet = "ab ་\u00a0\t中😀ü\u0301Ａ①\u200bབོ"
    texts = [s for lines in SENTENCES.values() for s in lines] + ["", " ", "  two", "a  b", "tab\tx", "end "]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(500)]
    fast, exact = source.encode(texts), source.encode_with_offset_mapping(texts)
    for field in ("ids", "lengths", "starts", "ends"):
        assert np.array_equal(getattr(fast, field), getattr(exact, field)), field


def test_byte_level_partial_utf8_and_gain_over_first(flores, tmp_path):
    """A byte-level BPE that never saw Tibetan writes it one byte per token: every token is a partial UTF-8
    sequence. The gain of each tokenizer is tokens(first) / tokens(it)."""
    from vepo.models.tiny import train_tokenizer

    english = ["the cat sleeps", "tea is hot", "the tea is hot and the cat sleeps"] * 20
    train_tokenizer(english, 300).save_pretrained(tmp_path / "bytebpe")
    # offsets derived from the ids are the library's own, also around special tokens and odd whitespace
    source = load_tokenizer_source(str(tmp_path / "bytebpe"))
    texts = [s for lines in SENTENCES.values() for s in lines] + ["", "  two  spaces", "a<|endoftext|>b", "e\u0301 😀"]
    fast, exact = source.encode(texts), source.encode_with_offsets(texts)
    for field in ("ids", "lengths", "starts", "ends"):
        assert np.array_equal(getattr(fast, field), getattr(exact, field)), field
    cfg = TokenizeStatsConfig(tokenizers=[MISTRAL_V1, str(tmp_path / "bytebpe")], langs=["bod_Tibt", "eng_Latn"],
                              data=FloresSourceConfig(flores_dir=str(flores)), plot=False, show_table=False)
    report = run_tokenize_stats(cfg, tmp_path / "out")
    rows = _rows(report)
    bod = rows[(str(tmp_path / "bytebpe"), "bod_Tibt")]
    assert bod["tokens"] == 57 and bod["byte_fallback_rate"] == 1.0  # 19 characters × 3 bytes
    assert report["tokenizers"][1]["byte_fallback_detection"] == PARTIAL_UTF8
    assert bod["gain_vs_first"] == pytest.approx(33 / 57)
    assert rows[(MISTRAL_V1, "bod_Tibt")]["gain_vs_first"] == 1.0
    eng = rows[(str(tmp_path / "bytebpe"), "eng_Latn")]
    assert eng["byte_fallback_rate"] == 0.0 and bod["premium"] == pytest.approx(57 / eng["tokens"])


def test_unk_rate_from_a_tokenizer_json(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "the": 1, "cat": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(tmp_path / "tokenizer.json"))
    source = load_tokenizer_source(str(tmp_path / "tokenizer.json"))
    stats = measure(source, ["the cat sleeps", "the dog"], segmenter_for("eng_Latn"))
    assert (stats.tokens, stats.unk_tokens, stats.words, stats.continued_words) == (5, 2, 5, 0)
    assert stats.unk_rate == pytest.approx(2 / 5) and stats.fertility == 1.0


def test_segmenters_name_their_words():
    text = "Hello, wörld  again"
    assert segmenter_for("eng_Latn").spans(text).tolist() == [[0, 6], [7, 12], [14, 19]]
    tib = "བོད་ཀྱི་སྐད། ཡིག༎"  # tsheg, shad, space and double shad separate syllables
    assert [tib[a:b] for a, b in segmenter_for("bod_Tibt").spans(tib)] == ["བོད", "ཀྱི", "སྐད", "ཡིག"]
    assert segmenter_for("dzo_Tibt").name == segmenter_for("toy_Tibt").name == "tibetan-syllables"
    zh = "我爱北京天安门"
    assert [zh[a:b] for a, b in segmenter_for("zho_Hans").spans(zh)] == ["我", "爱", "北京", "天安门"]
    assert segmenter_for("zho_Hant", "chars").spans("天 安").tolist() == [[0, 1], [2, 3]]
    assert segmenter_for("tha_Thai") is None and segmenter_for("jpn_Jpan") is None
    with pytest.raises(VepoError, match="zh_segmenter"):
        segmenter_for("zho_Hans", "pkuseg")


def test_tokens_per_word_counts_overlaps():
    # tokens: [0,3) [3,5) [5,5) zero-width byte piece of char 5, [5,6) [6,9); words [0,5) [5,6) [6,9)
    starts, ends = np.array([0, 3, 5, 5, 6]), np.array([3, 5, 5, 6, 9])
    words = np.array([[0, 5], [5, 6], [6, 9]])
    assert tokens_per_word(starts, ends, words).tolist() == [2, 2, 1]


def test_language_selection(flores, tmp_path):
    from vepo.data.flores import open_flores

    dataset = open_flores(flores)
    assert resolve_languages("all", dataset, "devtest") == ["bod_Tibt", "eng_Latn", "zho_Hans"]
    assert resolve_languages(["cmn_Hans", "bod_Tibt", "zho_Hans"], dataset, "devtest") == ["zho_Hans", "bod_Tibt"]
    assert set(suite_languages("china4-zh")) == {"zho_Hans", "bod_Tibt", "uig_Arab", "khk_Cyrl", "kaz_Cyrl"}
    with pytest.raises(VepoError, match="uig_Arab"):  # in the suite, not in this directory: names the file
        resolve_languages("china4-zh", dataset, "devtest")
    with pytest.raises(VepoError, match="closest: bod_Tibt"):
        resolve_languages(["bod_Tibx"], dataset, "devtest")
    with pytest.raises(VepoError, match="neither a suite"):
        resolve_languages("nosuchsuite", dataset, "devtest")


def test_slow_only_tokenizer_is_refused(tmp_path):
    from transformers import ByT5Tokenizer

    ByT5Tokenizer().save_pretrained(tmp_path / "byt5")
    with pytest.raises(VepoError, match="no fast version"):
        load_tokenizer_source(str(tmp_path / "byt5"))
    with pytest.raises(VepoError, match="not found"):
        load_tokenizer_source(str(tmp_path / "missing"))
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(VepoError, match="not a SentencePiece model"):
        load_tokenizer_source(str(tmp_path / "junk.model"))


def test_cli_writes_table_files_and_plot(flores, tmp_path):
    out = tmp_path / "run"
    proc = run_vepo("tokenize-stats", f"tokenizers=[{MISTRAL_V1}]", "langs=[bod_Tibt,eng_Latn]",
                    f"data.flores_dir={flores}", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bod_Tibt" in proc.stdout and "tibetan-syllables" in proc.stdout
    assert {p.name for p in out.iterdir()} >= {"tokenize_stats.csv", "tokenize_stats.json", "tokenize_stats.png"}
