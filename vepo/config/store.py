"""Every command's root schema, registered with Hydra's ConfigStore: `conf/<command>.yaml` extends its schema, so
every group option is merged into (and type-checked against) its typed field."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from vepo.config.compare import CompareConfig
from vepo.config.schema import EvalConfig, TrainConfig
from vepo.config.tokenization import ExtendVocabConfig, TokenizeStatsConfig


def register_schemas() -> None:
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="eval_schema", node=EvalConfig)
    cs.store(name="compare_schema", node=CompareConfig)
    cs.store(name="tokenize_stats_schema", node=TokenizeStatsConfig)
    cs.store(name="extend_vocab_schema", node=ExtendVocabConfig)
