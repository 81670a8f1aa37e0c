"""The `vepo` command: a thin Typer shell; each subcommand composes its Hydra config and calls the library."""

from __future__ import annotations

import typer

from vepo import __version__

# Subcommands pass every argument through to Hydra, so their `--help` must reach Hydra, not Typer.
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

app = typer.Typer(
    name="vepo",
    help="RL fine-tuning of LLMs for low-resource-language machine translation.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vepo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Hydra overrides follow each subcommand, e.g. `vepo train algo=grpo seed=1`; `vepo train --help` lists them."""


@app.command(context_settings=_PASS_THROUGH)
def train(ctx: typer.Context) -> None:
    """Train a policy (SFT warm-up, then RL). Hydra overrides and flags (-m, --cfg job, --info) follow."""
    from vepo.cli.train import run

    run(list(ctx.args))


@app.command(name="eval", context_settings=_PASS_THROUGH)
def eval_(ctx: typer.Context) -> None:
    """Evaluate a model on a FLORES suite (chrF++, spBLEU, COMET), resumable per direction. Example:
    `vepo eval model=<id or dir> suite=default90 data.flores_dir=<dir>`."""
    from vepo.cli.eval import run

    run(list(ctx.args))


@app.command(name="tokenize-stats", context_settings=_PASS_THROUGH)
def tokenize_stats(ctx: typer.Context) -> None:
    """Tokenization efficiency across FLORES languages. Example:
    `vepo tokenize-stats tokenizers=[<id, dir or .model>] langs=default90 data.flores_dir=<dir>`."""
    from vepo.cli.tokenize_stats import run

    run(list(ctx.args))


@app.command(name="extend-vocab", context_settings=_PASS_THROUGH)
def extend_vocab(ctx: typer.Context) -> None:
    """Add target-language subwords to a model's vocabulary. Example:
    `vepo extend-vocab model=<id or dir> corpus=<text file> lang=bod_Tibt added_tokens=2000`."""
    from vepo.cli.extend_vocab import run

    run(list(ctx.args))


@app.command(context_settings=_PASS_THROUGH)
def compare(ctx: typer.Context) -> None:
    """Tables, deltas, significance and training curves across runs. Example:
    `vepo compare runs=[<dir>,<dir>] baseline=<dir> --format markdown,latex`."""
    from vepo.cli.compare import run

    run(list(ctx.args))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
