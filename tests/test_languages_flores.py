"""Language codes, suites and the FLORES-200 / FLORES+ loaders on synthetic directories made here."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vepo.data.flores import open_flores
from vepo.data.languages import SCRIPT_NAMES, canonical_code, language, languages
from vepo.errors import VepoError
from vepo.evaluation.suites import expand_suite, load_suite


def test_language_table_has_204_codes_with_names_and_known_scripts():
    table = languages()
    assert len(table) == 204
    for code, lang in table.items():
        iso, script = code.split("_")
        assert len(iso) == 3 and iso.islower() and lang.name
        assert script in SCRIPT_NAMES, code
    assert language("bod_Tibt").name == "Standard Tibetan"
    assert language("cmn_Hans").code == "zho_Hans"  # FLORES+ rename
    assert language("sat_Beng").code == "sat_Olck"  # NLLB's Santali code


def test_unknown_code_suggests_the_closest():
    with pytest.raises(VepoError, match="closest: bod_Tibt"):
        canonical_code("bod_Tibet")


def test_default90_has_90_distinct_valid_directions():
    directions = expand_suite(load_suite("default90"))
    assert len(directions) == len(set(directions)) == 90
    assert all(d.src in languages() and d.tgt in languages() for d in directions)
    assert sum(d.out_of_english for d in directions) == sum(d.into_english for d in directions) == 45
    china = expand_suite(load_suite("china4-zh"))
    assert len(china) == 8 and all("zho_Hans" in (d.src, d.tgt) for d in china)


def _write_original(root, lines_by_code, split="devtest"):
    (root / split).mkdir(parents=True, exist_ok=True)
    for code, lines in lines_by_code.items():
        (root / split / f"{code}.{split}").write_text("".join(x + "\n" for x in lines), encoding="utf-8")


def test_original_layout_detected_inside_flores200_dataset(tmp_path):
    _write_original(tmp_path / "flores200_dataset", {"eng_Latn": ["a", "b"], "bod_Tibt": ["ཀ", "ཁ"]})
    ds = open_flores(tmp_path)
    assert ds.layout == "flores200" and ds.root.name == "flores200_dataset"
    assert ds.read_pair("devtest", "eng_Latn", "bod_Tibt") == (["a", "b"], ["ཀ", "ཁ"])


def test_flores_plus_parquet_with_renamed_codes(tmp_path):
    (tmp_path / "devtest").mkdir()
    pq.write_table(pa.table({"text": ["hello", "world"]}), tmp_path / "devtest" / "eng_Latn.parquet")
    pq.write_table(pa.table({"sentence": ["你好", "世界"]}), tmp_path / "devtest" / "cmn_Hans.parquet")
    ds = open_flores(tmp_path)
    assert ds.layout == "flores_plus"
    # zho_Hans is found under its FLORES+ name; the legacy `sentence` column is read too.
    assert ds.read_pair("devtest", "eng_Latn", "zho_Hans") == (["hello", "world"], ["你好", "世界"])


def test_missing_language_names_the_expected_path(tmp_path):
    _write_original(tmp_path, {"eng_Latn": ["a"]})
    with pytest.raises(VepoError, match=r"devtest/uig_Arab\.devtest"):
        open_flores(tmp_path).read("devtest", "uig_Arab")


def test_malformed_files_are_reported_with_file_and_line(tmp_path):
    _write_original(tmp_path, {"eng_Latn": ["a", "b", "c"], "kaz_Cyrl": ["x", "y"]})
    (tmp_path / "devtest" / "khk_Cyrl.devtest").write_bytes(b"ok\n\xff\xfe bad\n")
    ds = open_flores(tmp_path)
    with pytest.raises(VepoError, match="has 3 lines but .*kaz_Cyrl.devtest has 2"):
        ds.read_pair("devtest", "eng_Latn", "kaz_Cyrl")
    with pytest.raises(VepoError, match=r"khk_Cyrl.devtest:2: not valid UTF-8"):
        ds.read("devtest", "khk_Cyrl")
    with pytest.raises(VepoError, match="is not a FLORES directory"):
        open_flores(tmp_path / "devtest")
