"""Tokenization efficiency (`vepo tokenize-stats`) and target-language vocabulary extension (`vepo extend-vocab`).

Library code only; the CLI modules compose the config and call `run_tokenize_stats` / `run_extend_vocab`.
"""
