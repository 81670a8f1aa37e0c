"""What a person sees while a stage trains: one progress bar per stage with the few numbers worth watching, and a
compact table every `train.log_table_every` steps. Everything else goes to metrics.jsonl / sft_metrics.jsonl, W&B,
and one line per step in the run's log file (train.log).

transformers prints every log dict (60+ keys a line for RL) through its PrinterCallback / ProgressCallback;
`use_console_progress` swaps those for `ConsoleProgressCallback`.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from dataclasses import dataclass
from typing import Callable

from rich import box
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table
from rich.text import Text
from transformers import PrinterCallback, ProgressCallback

from vepo.training.callbacks import StepRecordCallback

console = Console()
# One line per logged step, to the run's log file only (the console has the bar and the tables).
_step_log = logging.getLogger("vepo.steps")
_step_log.propagate = False


@dataclass(frozen=True)
class Column:
    label: str
    value: Callable[[dict], float | None]
    fmt: str  # a format spec, or "%" for a fraction shown as a percentage


def _key(name: str) -> Callable[[dict], float | None]:
    return lambda record: record.get(name)


def _chrf(record: dict) -> float | None:
    """chrF++ of the sampled translations: the chrF reward term (0–1) × 100, when the reward mix has one."""
    value = record.get("reward/chrf/mean")
    return None if value is None else 100 * value


RL_COLUMNS = (
    Column("reward", _key("reward_mean"), ".3f"),
    Column("chrF++", _chrf, ".1f"),
    Column("entropy", _key("entropy_mean"), ".3f"),
    Column("clip", _key("clip_frac"), "%"),
    Column("KL", _key("objective/kl"), ".4f"),
    Column("loss", _key("loss"), ".4f"),
    Column("grad norm", _key("grad_norm"), ".3f"),
    Column("length", _key("completion_length_mean"), ".1f"),
    Column("gen s", _key("rollout/generation_s"), ".2f"),  # seconds generating each rollout (rollout= backend)
    Column("tok/s", _key("tokens_per_second"), ".0f"),
    Column("s/step", _key("step_seconds"), ".2f"),
)
SFT_COLUMNS = (
    Column("loss", _key("loss"), ".4f"),
    Column("entropy", _key("entropy_mean"), ".3f"),
    Column("token acc", _key("mean_token_accuracy"), "%"),
    Column("grad norm", _key("grad_norm"), ".3f"),
    Column("lr", _key("learning_rate"), ".2e"),
    Column("tok/s", _key("tokens_per_second"), ".0f"),
    Column("s/step", _key("step_seconds"), ".2f"),
)
# The bar shows these; the table shows every column of the stage.
BAR_LABELS = {"rl": ("reward", "chrF++", "entropy", "clip", "KL", "s/step"), "sft": ("loss", "entropy", "s/step")}


def fmt(value: float | None, spec: str) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    return f"{100 * value:.1f}%" if spec == "%" else format(value, spec)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class StageProgress(Progress):
    """A progress bar with the watched numbers on a line of their own below it (fits an 80-column terminal)."""

    stats = ""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        if self.stats:
            yield Text("  " + self.stats, no_wrap=True, overflow="ellipsis")


class ConsoleProgressCallback(StepRecordCallback):
    """Rank 0's console: a rich progress bar for the stage (steps, the watched numbers, ETA) and, every
    `table_every` steps (0: never), a table of the window's means, their change since the previous window, and the
    last value."""

    def __init__(self, stage: str, table_every: int, out: Console | None = None) -> None:
        super().__init__(stage)
        self.table_every = max(int(table_every), 0)
        self.console = out or console
        self.columns = RL_COLUMNS if stage == "rl" else SFT_COLUMNS
        self.progress: Progress | None = None
        self.task = None
        self.max_steps = 0
        self.latest: dict[str, float] = {}  # the last value of each column (rewards come only on rollout steps)
        self.window: dict[str, list[float]] = {}
        self.window_start = 1
        self.previous: dict[str, float | None] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.max_steps = state.max_steps
        self.window_start = state.global_step + 1
        _step_log.handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
        self.progress = StageProgress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=30),
                                      MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                      TimeRemainingColumn(), console=self.console)
        self.task = self.progress.add_task(self.stage.upper(), total=state.max_steps, completed=state.global_step)
        streams = {id(sys.stdout): "stdout", id(sys.stderr): "stderr"}
        self.progress.start()
        self._route_logging(streams)

    def on_step_end(self, args, state, control, **kwargs):
        super().on_step_end(args, state, control, **kwargs)
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def _route_logging(self, streams: dict[int, str]) -> None:
        """On a terminal the live display redirects sys.stdout/stderr so prints land above the bar; log handlers
        (Hydra's console handler) still hold the original streams, so they follow the redirect while it lasts."""
        self._rerouted = []
        for handler in logging.getLogger().handlers:
            name = streams.get(id(getattr(handler, "stream", None)))
            if type(handler) is logging.StreamHandler and name and getattr(sys, name) is not handler.stream:
                self._rerouted.append((handler, handler.setStream(getattr(sys, name))))

    def close(self) -> None:
        """Stop the live display (also when training raised: the terminal gets its cursor back)."""
        for handler, stream in getattr(self, "_rerouted", []):
            handler.setStream(stream)
        self._rerouted = []
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def write(self, record: dict) -> None:
        values = {c.label: c.value(record) for c in self.columns}
        for label, value in values.items():
            if value is not None:
                self.latest[label] = value
                self.window.setdefault(label, []).append(value)
        _step_log.info("%s step %d/%d | %s", self.stage, record["step"], self.max_steps,
                       " | ".join(f"{c.label} {fmt(values[c.label], c.fmt)}" for c in self.columns
                                  if values[c.label] is not None))
        if self.progress is not None:
            shown = [c for c in self.columns if c.label in BAR_LABELS[self.stage] and c.label in self.latest]
            self.progress.stats = "  ".join(f"{c.label} {fmt(self.latest[c.label], c.fmt)}" for c in shown)
        step = record["step"]
        if self.table_every and (step % self.table_every == 0 or step == self.max_steps):
            self.console.print()
            self.console.print(self.table(step))
            self.window_start = step + 1

    def table(self, step: int) -> Table:
        table = Table(title=f"{self.stage.upper()} · steps {self.window_start}–{step} of {self.max_steps}",
                      box=box.SIMPLE, show_edge=False, title_justify="left", pad_edge=False)
        for name in ("", "mean", "Δ prev", "last"):
            table.add_column(name, justify="left" if not name else "right")
        means = {label: _mean(values) for label, values in self.window.items()}
        for c in self.columns:
            mean = means.get(c.label)
            if mean is None:
                continue
            before = self.previous.get(c.label)
            delta = "" if before is None or not math.isfinite(mean) or not math.isfinite(before) else \
                ("+" if mean >= before else "-") + fmt(abs(mean - before), c.fmt)
            table.add_row(c.label, fmt(mean, c.fmt), delta, fmt(self.latest.get(c.label), c.fmt))
        self.previous, self.window = means, {}
        return table


def use_console_progress(trainer, stage: str, table_every: int) -> ConsoleProgressCallback:
    """Replace transformers' console printers on `trainer` with vepo's progress display."""
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    callback = ConsoleProgressCallback(stage, table_every)
    trainer.add_callback(callback)
    return callback


def quiet_library_output() -> None:
    """Progress bars of dataset preparation and weight saving/loading, and a deprecation warning TRL triggers on
    every RL step, say nothing a researcher acts on."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
