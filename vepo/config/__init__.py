from vepo.config.schema import EvalConfig, TrainConfig
from vepo.config.store import register_schemas

__all__ = ["EvalConfig", "TrainConfig", "register_schemas"]
