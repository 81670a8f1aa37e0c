"""The 204 FLORES-200 language codes with English names and scripts, the code aliases of FLORES+ and NLLB, and code
lookup with suggestions.

A code is ISO 639-3 + "_" + ISO 15924 script (bod_Tibt). FLORES-200 codes are canonical inside vepo; FLORES+ renamed a
few (zho_Hans -> cmn_Hans, ...) and NLLB tokenizers call Santali sat_Beng while its FLORES file is sat_Olck, so every
lookup goes through `canonical_code`, and the loaders try a code's aliases when its own file is missing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

from vepo.errors import VepoError

# code, English name (the FLORES-200 / NLLB naming)
_TABLE = """
ace_Arab Acehnese (Arabic script)
ace_Latn Acehnese (Latin script)
acm_Arab Mesopotamian Arabic
acq_Arab Ta'izzi-Adeni Arabic
aeb_Arab Tunisian Arabic
afr_Latn Afrikaans
ajp_Arab South Levantine Arabic
aka_Latn Akan
als_Latn Tosk Albanian
amh_Ethi Amharic
apc_Arab North Levantine Arabic
arb_Arab Modern Standard Arabic
arb_Latn Modern Standard Arabic (Romanized)
ars_Arab Najdi Arabic
ary_Arab Moroccan Arabic
arz_Arab Egyptian Arabic
asm_Beng Assamese
ast_Latn Asturian
awa_Deva Awadhi
ayr_Latn Central Aymara
azb_Arab South Azerbaijani
azj_Latn North Azerbaijani
bak_Cyrl Bashkir
bam_Latn Bambara
ban_Latn Balinese
bel_Cyrl Belarusian
bem_Latn Bemba
ben_Beng Bengali
bho_Deva Bhojpuri
bjn_Arab Banjar (Arabic script)
bjn_Latn Banjar (Latin script)
bod_Tibt Standard Tibetan
bos_Latn Bosnian
bug_Latn Buginese
bul_Cyrl Bulgarian
cat_Latn Catalan
ceb_Latn Cebuano
ces_Latn Czech
cjk_Latn Chokwe
ckb_Arab Central Kurdish
crh_Latn Crimean Tatar
cym_Latn Welsh
dan_Latn Danish
deu_Latn German
dik_Latn Southwestern Dinka
dyu_Latn Dyula
dzo_Tibt Dzongkha
ell_Grek Greek
eng_Latn English
epo_Latn Esperanto
est_Latn Estonian
eus_Latn Basque
ewe_Latn Ewe
fao_Latn Faroese
fij_Latn Fijian
fin_Latn Finnish
fon_Latn Fon
fra_Latn French
fur_Latn Friulian
fuv_Latn Nigerian Fulfulde
gaz_Latn West Central Oromo
gla_Latn Scottish Gaelic
gle_Latn Irish
glg_Latn Galician
grn_Latn Guarani
guj_Gujr Gujarati
hat_Latn Haitian Creole
hau_Latn Hausa
heb_Hebr Hebrew
hin_Deva Hindi
hne_Deva Chhattisgarhi
hrv_Latn Croatian
hun_Latn Hungarian
hye_Armn Armenian
ibo_Latn Igbo
ilo_Latn Ilocano
ind_Latn Indonesian
isl_Latn Icelandic
ita_Latn Italian
jav_Latn Javanese
jpn_Jpan Japanese
kab_Latn Kabyle
kac_Latn Jingpho
kam_Latn Kamba
kan_Knda Kannada
kas_Arab Kashmiri (Arabic script)
kas_Deva Kashmiri (Devanagari script)
kat_Geor Georgian
kaz_Cyrl Kazakh
kbp_Latn Kabiyè
kea_Latn Kabuverdianu
khk_Cyrl Halh Mongolian
khm_Khmr Khmer
kik_Latn Kikuyu
kin_Latn Kinyarwanda
kir_Cyrl Kyrgyz
kmb_Latn Kimbundu
kmr_Latn Northern Kurdish
knc_Arab Central Kanuri (Arabic script)
knc_Latn Central Kanuri (Latin script)
kon_Latn Kikongo
kor_Hang Korean
lao_Laoo Lao
lij_Latn Ligurian
lim_Latn Limburgish
lin_Latn Lingala
lit_Latn Lithuanian
lmo_Latn Lombard
ltg_Latn Latgalian
ltz_Latn Luxembourgish
lua_Latn Luba-Kasai
lug_Latn Ganda
luo_Latn Luo
lus_Latn Mizo
lvs_Latn Standard Latvian
mag_Deva Magahi
mai_Deva Maithili
mal_Mlym Malayalam
mar_Deva Marathi
min_Arab Minangkabau (Arabic script)
min_Latn Minangkabau (Latin script)
mkd_Cyrl Macedonian
mlt_Latn Maltese
mni_Beng Meitei (Bengali script)
mos_Latn Mossi
mri_Latn Maori
mya_Mymr Burmese
nld_Latn Dutch
nno_Latn Norwegian Nynorsk
nob_Latn Norwegian Bokmål
npi_Deva Nepali
nso_Latn Northern Sotho
nus_Latn Nuer
nya_Latn Nyanja
oci_Latn Occitan
ory_Orya Odia
pag_Latn Pangasinan
pan_Guru Eastern Panjabi
pap_Latn Papiamento
pbt_Arab Southern Pashto
pes_Arab Western Persian
plt_Latn Plateau Malagasy
pol_Latn Polish
por_Latn Portuguese
prs_Arab Dari
quy_Latn Ayacucho Quechua
ron_Latn Romanian
run_Latn Rundi
rus_Cyrl Russian
sag_Latn Sango
san_Deva Sanskrit
sat_Olck Santali
scn_Latn Sicilian
shn_Mymr Shan
sin_Sinh Sinhala
slk_Latn Slovak
slv_Latn Slovenian
smo_Latn Samoan
sna_Latn Shona
snd_Arab Sindhi
som_Latn Somali
sot_Latn Southern Sotho
spa_Latn Spanish
srd_Latn Sardinian
srp_Cyrl Serbian
ssw_Latn Swati
sun_Latn Sundanese
swe_Latn Swedish
swh_Latn Swahili
szl_Latn Silesian
tam_Taml Tamil
taq_Latn Tamasheq (Latin script)
taq_Tfng Tamasheq (Tifinagh script)
tat_Cyrl Tatar
tel_Telu Telugu
tgk_Cyrl Tajik
tgl_Latn Tagalog
tha_Thai Thai
tir_Ethi Tigrinya
tpi_Latn Tok Pisin
tsn_Latn Tswana
tso_Latn Tsonga
tuk_Latn Turkmen
tum_Latn Tumbuka
tur_Latn Turkish
twi_Latn Twi
tzm_Tfng Central Atlas Tamazight
uig_Arab Uyghur
ukr_Cyrl Ukrainian
umb_Latn Umbundu
urd_Arab Urdu
uzn_Latn Northern Uzbek
vec_Latn Venetian
vie_Latn Vietnamese
war_Latn Waray
wol_Latn Wolof
xho_Latn Xhosa
ydd_Hebr Eastern Yiddish
yor_Latn Yoruba
yue_Hant Yue Chinese
zho_Hans Chinese (Simplified)
zho_Hant Chinese (Traditional)
zsm_Latn Standard Malay
zul_Latn Zulu
"""

# ISO 15924 code -> English script name
SCRIPT_NAMES: dict[str, str] = {
    "Arab": "Arabic", "Armn": "Armenian", "Beng": "Bengali", "Cyrl": "Cyrillic", "Deva": "Devanagari",
    "Ethi": "Ethiopic", "Geor": "Georgian", "Grek": "Greek", "Gujr": "Gujarati", "Guru": "Gurmukhi",
    "Hang": "Hangul", "Hans": "Han (Simplified)", "Hant": "Han (Traditional)", "Hebr": "Hebrew", "Jpan": "Japanese",
    "Khmr": "Khmer", "Knda": "Kannada", "Laoo": "Lao", "Latn": "Latin", "Mlym": "Malayalam", "Mymr": "Myanmar",
    "Olck": "Ol Chiki", "Orya": "Odia", "Sinh": "Sinhala", "Taml": "Tamil", "Telu": "Telugu", "Tfng": "Tifinagh",
    "Thai": "Thai", "Tibt": "Tibetan",
}  # fmt: skip

# alternative code -> canonical FLORES-200 code (FLORES+ renames, NLLB's Santali code, common shorthands)
ALIASES: dict[str, str] = {
    "cmn_Hans": "zho_Hans", "cmn_Hant": "zho_Hant", "fil_Latn": "tgl_Latn", "zgh_Tfng": "tzm_Tfng",
    "ekk_Latn": "est_Latn", "gug_Latn": "grn_Latn", "ktu_Latn": "kon_Latn", "sat_Beng": "sat_Olck",
}  # fmt: skip

PIVOT = "eng_Latn"
# Names of codes outside FLORES-200 that vepo itself defines (the embedded toy language, vepo/data/toy.py).
EXTRA_NAMES: dict[str, str] = {"toy_Tibt": "Toy"}


@dataclass(frozen=True)
class Language:
    code: str
    name: str

    @property
    def iso639_3(self) -> str:
        return self.code.split("_")[0]

    @property
    def script(self) -> str:
        return self.code.split("_")[1]

    @property
    def script_name(self) -> str:
        return SCRIPT_NAMES.get(self.script, self.script)


@cache
def languages() -> dict[str, Language]:
    """All FLORES-200 languages, keyed by canonical code (sorted)."""
    rows = (line.split(" ", 1) for line in _TABLE.strip().splitlines())
    return {code: Language(code, name) for code, name in rows}


def canonical_code(code: str) -> str:
    """The FLORES-200 code for `code` (aliases resolved); raises VepoError naming the closest valid codes."""
    table = languages()
    if code in table:
        return code
    if code in ALIASES:
        return ALIASES[code]
    close = difflib.get_close_matches(code, [*table, *ALIASES], n=3, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else "codes look like bod_Tibt (ISO 639-3 + '_' + script)"
    raise VepoError(f"unknown FLORES-200 language code '{code}' ({hint}); `vepo.data.languages.languages()` "
                    f"lists all {len(table)}")


def language(code: str) -> Language:
    return languages()[canonical_code(code)]


def is_known(code: str) -> bool:
    return code in languages() or code in ALIASES


def file_codes(code: str) -> list[str]:
    """Codes under which `code`'s file may be stored: the canonical code first, then its aliases."""
    canon = canonical_code(code)
    return [canon, *(alias for alias, target in ALIASES.items() if target == canon)]


def script_of(code: str) -> str:
    """ISO 15924 part of any code, known or not: 'toy_Tibt' -> 'Tibt'."""
    return code.split("_", 1)[1] if "_" in code else ""


def english_name(code: str) -> str:
    """English name for prompts and tables; a code outside the table names itself."""
    return language(code).name if is_known(code) else EXTRA_NAMES.get(code, code)
