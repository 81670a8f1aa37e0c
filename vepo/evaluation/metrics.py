"""Corpus metrics with their signatures: chrF++ (always), spBLEU (when the FLORES-200 SentencePiece model is on disk)
and COMET-22 (when asked for). Segment-level scores are kept for paired significance tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sacrebleu.metrics import BLEU, CHRF

# FLORES codes whose language XLM-R (COMET-22's encoder) was trained on. Scores for other targets are flagged:
# the encoder has never seen the language (Tibetan and Dzongkha in default90, for example).
XLMR_CODES = frozenset("""
afr_Latn amh_Ethi arb_Arab ary_Arab arz_Arab acm_Arab apc_Arab ajp_Arab ars_Arab aeb_Arab acq_Arab asm_Beng
azj_Latn bel_Cyrl bul_Cyrl ben_Beng bos_Latn cat_Latn ces_Latn cym_Latn dan_Latn deu_Latn ell_Grek eng_Latn
epo_Latn spa_Latn est_Latn eus_Latn pes_Arab prs_Arab fin_Latn fra_Latn gle_Latn gla_Latn glg_Latn guj_Gujr
hau_Latn heb_Hebr hin_Deva hrv_Latn hun_Latn hye_Armn ind_Latn isl_Latn ita_Latn jpn_Jpan jav_Latn kat_Geor
kaz_Cyrl khm_Khmr kan_Knda kor_Hang kmr_Latn kir_Cyrl lao_Laoo lit_Latn lvs_Latn plt_Latn mkd_Cyrl mal_Mlym
khk_Cyrl mar_Deva zsm_Latn mya_Mymr npi_Deva nld_Latn nob_Latn nno_Latn gaz_Latn ory_Orya pan_Guru pol_Latn
pbt_Arab por_Latn ron_Latn rus_Cyrl san_Deva snd_Arab sin_Sinh slk_Latn slv_Latn som_Latn als_Latn srp_Cyrl
sun_Latn swe_Latn swh_Latn tam_Taml tel_Telu tha_Thai tgl_Latn tur_Latn uig_Arab ukr_Cyrl urd_Arab uzn_Latn
vie_Latn xho_Latn ydd_Hebr zho_Hans zho_Hant
""".split())

SPM_NAME = "flores200sacrebleuspm"


def spbleu_model_path() -> str:
    """Where sacrebleu looks for the FLORES-200 SentencePiece model ($SACREBLEU/models/, default ~/.sacrebleu)."""
    from sacrebleu.utils import SACREBLEU_DIR

    return os.path.join(SACREBLEU_DIR, "models", SPM_NAME)


def spbleu_available() -> bool:
    return os.path.isfile(spbleu_model_path())


def comet_flagged(tgt: str) -> bool:
    return tgt not in XLMR_CODES


@dataclass
class DirectionScores:
    metrics: dict = field(default_factory=dict)  # name -> {"score", "signature", ...}
    segments: dict = field(default_factory=dict)  # name -> per-segment scores
    notes: list = field(default_factory=list)


class Scorer:
    """Scores one direction at a time with the metrics the settings ask for; heavy models load once."""

    def __init__(self, spbleu: bool = True, comet: bool = False, comet_model: str = "Unbabel/wmt22-comet-da",
                 comet_batch_size: int = 32, comet_device: str = "cpu") -> None:
        self.chrf = CHRF(word_order=2)
        self.spbleu = BLEU(tokenize="flores200") if spbleu and spbleu_available() else None
        self.spbleu_note = None
        if spbleu and self.spbleu is None:
            self.spbleu_note = (f"spBLEU skipped: the FLORES-200 SentencePiece model is not at {spbleu_model_path()} "
                                f"(sacrebleu downloads it when online; offline, copy it there)")
        self.comet = None
        if comet:
            from vepo.models.comet.scorer import get_comet_scorer

            self.comet = get_comet_scorer(comet_model, device=comet_device, batch_size=comet_batch_size)

    def score(self, tgt: str, sources: list[str], hypotheses: list[str], references: list[str]) -> DirectionScores:
        out = DirectionScores()
        chrf = self.chrf.corpus_score(hypotheses, [references])
        out.metrics["chrf++"] = {"score": round(chrf.score, 4), "signature": str(self.chrf.get_signature())}
        out.segments["chrf++"] = [round(self.chrf.sentence_score(h, [r]).score, 4)
                                  for h, r in zip(hypotheses, references)]
        if self.spbleu is not None:
            bleu = self.spbleu.corpus_score(hypotheses, [references])
            out.metrics["spbleu"] = {"score": round(bleu.score, 4), "signature": str(self.spbleu.get_signature())}
        elif self.spbleu_note:
            out.notes.append(self.spbleu_note)
        if self.comet is not None:
            segs = self.comet.score(sources, hypotheses, references)
            flagged = comet_flagged(tgt)
            out.metrics["comet"] = {"score": round(100 * sum(segs) / max(len(segs), 1), 4),
                                    "signature": f"comet:{self.comet.model_name}", "flagged": flagged}
            out.segments["comet"] = [round(s, 6) for s in segs]
            if flagged:
                out.notes.append(f"COMET: {tgt} is not among XLM-R's languages; its COMET score is unreliable")
        return out

