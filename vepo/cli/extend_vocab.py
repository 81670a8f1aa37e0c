"""`vepo extend-vocab`: compose the config, extend the model's vocabulary, save the checkpoint in the run dir.
(`model=<id or path>` and `lang=<code>` are the shorthands of vepo/config/shorthands.py, applied by run_hydra.)"""

from __future__ import annotations


from vepo.cli.hydra_runner import library_task, run_hydra


def run(args: list[str]) -> None:
    from vepo.tokenization.checks import check_extend_vocab_config

    run_hydra(
        "extend-vocab",
        "extend_vocab",
        library_task("vepo.tokenization.extend_vocab_command:run_extend_vocab"),
        args,
        check=check_extend_vocab_config,
    )
