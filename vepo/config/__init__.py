from vepo.config.schema import EvalConfig, TrainConfig, register_schemas

__all__ = ["EvalConfig", "TrainConfig", "register_schemas"]
