"""`vepo eval`: a model (or hypothesis files) over a suite of FLORES directions; see vepo/evaluation/eval_command.py."""

from __future__ import annotations


from vepo.cli.hydra_runner import library_task, run_hydra


def run(args: list[str]) -> None:
    from vepo.config.run_dir_rules import guard_eval_dirs
    from vepo.evaluation.checks import check_eval_config

    run_hydra("eval", "eval", library_task("vepo.evaluation.eval_command:run_eval"), args, check=check_eval_config,
              guard=guard_eval_dirs)
