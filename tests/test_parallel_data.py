"""Parallel training corpora in every supported format, and how their problems are reported."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from vepo.data.parallel import read_parallel
from vepo.errors import VepoError

PAIRS = [("one", "uno"), ("two", "dos"), ("three", "tres")]


def test_all_formats_read_the_same_pairs(tmp_path):
    (tmp_path / "c.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS), encoding="utf-8")
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"en": s, "es": t}) + "\n" for s, t in PAIRS))
    pq.write_table(pa.table({"en": [s for s, _ in PAIRS], "es": [t for _, t in PAIRS]}), tmp_path / "c.parquet")
    Dataset.from_dict({"en": [s for s, _ in PAIRS], "es": [t for _, t in PAIRS]}).save_to_disk(tmp_path / "hf")
    (tmp_path / "src.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "tgt.txt").write_text("uno\ndos\ntres\n")
    fields = {"src_field": "en", "tgt_field": "es"}
    assert read_parallel(str(tmp_path / "c.tsv"))[0] == PAIRS
    assert read_parallel(str(tmp_path / "c.jsonl"), **fields)[0] == PAIRS
    assert read_parallel(str(tmp_path / "c.parquet"), **fields)[0] == PAIRS
    assert read_parallel(str(tmp_path / "hf"), **fields)[0] == PAIRS
    assert read_parallel(str(tmp_path / "src.txt"), str(tmp_path / "tgt.txt"))[0] == PAIRS


def test_empty_and_duplicate_rows_are_dropped_with_a_count(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("one\tuno\n\tvacío\none\tuno\ntwo\t\ntwo\tdos\n", encoding="utf-8")
    pairs, report = read_parallel(str(path))
    assert pairs == [("one", "uno"), ("two", "dos")]
    assert (report.rows_read, report.empty, report.duplicates, report.pairs) == (5, 2, 1, 2)
    assert report.empty_at == ["c.tsv:2", "c.tsv:4"] and report.duplicate_at == ["c.tsv:3"]
    assert "dropped 2 with an empty side" in report.summary()


@pytest.mark.parametrize("name,content,kwargs,message", [
    ("bad.tsv", b"one\tuno\nno tab here\n", {}, r"bad.tsv:2: expected 'source<TAB>target'"),
    ("bad.tsv", b"one\tuno\n\xc3\x28\tx\n", {}, r"bad.tsv:2: not valid UTF-8"),
    ("bad.jsonl", b'{"src": "a", "tgt": "b"}\n{"src": "a"}\n', {}, r"bad.jsonl:2: needs fields 'src' and 'tgt'"),
    ("bad.jsonl", b'{"src": "a", "tgt": "b"}\n{oops\n', {}, r"bad.jsonl:2: not valid JSON"),
    ("bad.txt", b"a\n", {"fmt": "tsv"}, r"bad.txt:1: expected"),
    ("bad.xml", b"<a/>", {}, "cannot tell the format"),
])
def test_malformed_corpora_name_file_and_line(tmp_path, name, content, kwargs, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(VepoError, match=message):
        read_parallel(str(tmp_path / name), **kwargs)


def test_mismatched_text_files_and_missing_corpus(tmp_path):
    (tmp_path / "s.txt").write_text("a\nb\nc\n")
    (tmp_path / "t.txt").write_text("x\ny\n")
    with pytest.raises(VepoError, match="s.txt has 3 lines but .*t.txt has 2"):
        read_parallel(str(tmp_path / "s.txt"), str(tmp_path / "t.txt"))
    with pytest.raises(VepoError, match="does not exist"):
        read_parallel(str(tmp_path / "nope.tsv"))
    (tmp_path / "empty.tsv").write_text("\t\n")
    with pytest.raises(VepoError, match="no usable sentence pairs"):
        read_parallel(str(tmp_path / "empty.tsv"))
