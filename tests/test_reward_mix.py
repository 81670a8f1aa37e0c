"""The reward mix: gates multiply, terms add with weights, the balance schedule moves the semantic weight."""

from __future__ import annotations

import pytest
from sacrebleu.metrics import CHRF

from vepo.config.schema import BalanceConfig, RewardConfig, RewardTermConfig
from vepo.errors import VepoError
from vepo.rewards.mixer import MixedRewardFunction, build_reward_mix, check_reward_config
from vepo.rewards.schedules import BalanceSchedule

TIBETAN_REF = "ཁི་ཆེན་ཇི་ལ་མར་ཚོ་ཉི་ཐོང་རེད།"

CHRF_ONLY = RewardConfig(terms={"chrf": RewardTermConfig(type="chrf")})


def test_default_mix_is_sentence_chrf():
    mix = build_reward_mix(CHRF_ONLY)
    hyps = [TIBETAN_REF, "ཁི་ཆེན་ཇི་ལ་ཐོང་རེད།", "the dog"]
    total, parts, _ = mix.score(["the big dog sees two red cats ."] * 3, hyps, [TIBETAN_REF] * 3,
                                ["eng_Latn"] * 3, ["toy_Tibt"] * 3)
    expected = [CHRF(word_order=2).sentence_score(h, [TIBETAN_REF]).score / 100 for h in hyps]
    assert total == pytest.approx(expected, abs=1e-12)
    assert parts["gate"] == [1.0, 1.0, 1.0]


def test_gates_multiply_and_terms_add():
    cfg = RewardConfig(
        terms={"chrf": RewardTermConfig(type="chrf", weight=2.0), "bleu": RewardTermConfig(type="bleu", weight=1.0)},
        gates={"script": RewardTermConfig(type="script", params={"threshold": 0.8}),
               "copy": RewardTermConfig(type="copy")},
    )
    mix = build_reward_mix(cfg)
    src = "the big dog sees two red cats ."
    hyps = [TIBETAN_REF, src]  # a Tibetan translation, and an untranslated copy of the source
    total, parts, weights = mix.score([src] * 2, hyps, [TIBETAN_REF] * 2, ["eng_Latn"] * 2, ["bod_Tibt"] * 2)
    assert weights == {"chrf": 2.0, "bleu": 1.0}
    assert parts["script"][0] == 1.0 and parts["copy"][0] == 1.0
    assert total[0] == pytest.approx(2.0 * parts["chrf"][0] + parts["bleu"][0])
    assert parts["gate"][1] == 0.0 and total[1] == 0.0  # wrong script and a copy: gated to zero


def test_balance_schedules():
    assert BalanceSchedule(BalanceConfig(schedule="constant", weight=0.3)).semantic_weight(50, 100) == 0.3
    lin = BalanceSchedule(BalanceConfig(schedule="linear", start=0.2, end=0.8))
    assert [lin.semantic_weight(s, 100) for s in (0, 50, 100, 200)] == pytest.approx([0.2, 0.5, 0.8, 0.8])
    ent = BalanceSchedule(BalanceConfig(schedule="entropy_coupled", w_min=0.2, w_max=0.8))
    assert ent.semantic_weight() == pytest.approx(0.8)  # before any entropy is seen: H̄/H0 taken as 1
    ent.observe_entropy(2.0)  # H0
    ent.observe_entropy(1.0)
    assert ent.semantic_weight() == pytest.approx(0.2 + 0.6 * 0.5)
    ent.observe_entropy(3.0)  # above H0: clamped
    assert ent.semantic_weight() == pytest.approx(0.8)
    with pytest.raises(ValueError):
        BalanceSchedule(BalanceConfig(schedule="cosine"))


def test_balance_moves_weights_between_literal_and_semantic_terms():
    # Two literal terms stand in for semantic/literal so the test needs no embedding model.
    cfg = RewardConfig(terms={"chrf": RewardTermConfig(type="chrf"), "bleu": RewardTermConfig(type="bleu")},
                       balance=BalanceConfig(schedule="linear", semantic_term="bleu", literal_term="chrf",
                                             start=0.0, end=1.0))
    mix = build_reward_mix(cfg)
    assert mix.balance.config is cfg.balance  # one object: the schedule reads reward.balance, it does not copy it
    fn = MixedRewardFunction(mix, total_steps=10)
    logged: dict[str, list[float]] = {}

    class State:
        global_step = 5

    out = fn(["p"], [" " + TIBETAN_REF], src=["x"], ref=[TIBETAN_REF], src_lang=["eng_Latn"], tgt_lang=["toy_Tibt"],
             log_metric=lambda k, v: logged.setdefault(k, []).append(v), trainer_state=State())
    assert logged["reward/weight/bleu"] == [0.5] and logged["reward/weight/chrf"] == [0.5]
    assert out[0] == pytest.approx(0.5 * logged["reward/chrf/mean"][0] + 0.5 * logged["reward/bleu/mean"][0])
    assert {"reward/chrf/std", "reward/gate/mean"} <= logged.keys()


def test_config_errors_are_one_line():
    with pytest.raises(VepoError, match="not a reward; available"):
        check_reward_config(RewardConfig(terms={"x": RewardTermConfig(type="nope")}))
    with pytest.raises(VepoError, match="balance.semantic_term"):
        check_reward_config(RewardConfig(terms=CHRF_ONLY.terms, balance=BalanceConfig(schedule="constant")))
    with pytest.raises(VepoError, match="reward.terms is empty"):
        check_reward_config(RewardConfig(terms={}))


def test_robust_inputs_give_zero_and_a_warning():
    mix = build_reward_mix(CHRF_ONLY)
    total, _, _ = mix.score(["s"] * 3, ["", "   ", "\ud800x"], [TIBETAN_REF, None, TIBETAN_REF],
                            ["eng_Latn"] * 3, ["toy_Tibt"] * 3)
    assert total[:2] == [0.0, 0.0]
    warnings = mix.warnings()
    assert warnings.get("chrf/empty_hypothesis", 0) >= 1 and warnings.get("chrf/invalid_utf8", 0) == 1
