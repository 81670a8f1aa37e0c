"""COMET models: the scorer evaluation and the reward share (`scorer`), the patches that let unbabel-comet run on
transformers 5 (`compat`), and a tiny COMET checkpoint built in code for tests and benchmarks (`tiny`)."""
