"""`vepo compare`: compose the compare config, build the tables and curves in the Hydra run directory."""

from __future__ import annotations

from vepo.cli.hydra_runner import library_task, run_hydra, user_errors
from vepo.errors import VepoError


def format_flag_to_override(args: list[str]) -> list[str]:
    """`--format latex,csv` (or `--format=latex`) is shorthand for the override `compare.formats=[latex,csv]`,
    put where the flag was so it stays among the other overrides (Hydra reads them as one positional run)."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--format" or arg.startswith("--format="):
            if arg == "--format":
                if i + 1 >= len(args):
                    raise VepoError("--format needs a value, e.g. --format markdown,latex")
                value, i = args[i + 1], i + 2
            else:
                value, i = arg.split("=", 1)[1], i + 1
            out.append(f"compare.formats=[{','.join(f.strip() for f in value.split(',') if f.strip())}]")
            continue
        out.append(arg)
        i += 1
    return out


def run(args: list[str]) -> None:
    from vepo.reporting.checks import check_compare_config

    with user_errors():
        args = format_flag_to_override(args)
    run_hydra(
        "compare", "compare", library_task("vepo.reporting.compare_command:run_compare"), args,
        check=check_compare_config
    )
