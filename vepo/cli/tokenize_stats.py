"""`vepo tokenize-stats`: compose the config, measure the tokenizers on FLORES, write the results in the run dir."""

from __future__ import annotations


from vepo.cli.hydra_runner import library_task, run_hydra


def run(args: list[str]) -> None:
    from vepo.tokenization.checks import check_tokenize_stats_config

    run_hydra(
        "tokenize-stats",
        "tokenize_stats",
        library_task("vepo.tokenization.tokenize_stats_command:run_tokenize_stats"),
        args,
        check=check_tokenize_stats_config,
    )
