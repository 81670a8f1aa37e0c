"""The tokenize-stats figure: characters per token for every language and tokenizer, languages sorted."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402

from vepo.tokenization.report import display_names  # noqa: E402



def plot_chars_per_token(rows: list[dict], path: Path, title: str) -> Path:
    """One marker line per tokenizer over the languages, sorted by the first tokenizer's chars/token (ascending),
    so the worst-served languages sit on the left."""
    tokenizers = list(dict.fromkeys(r["tokenizer"] for r in rows))
    value = {(r["tokenizer"], r["lang"]): r["chars_per_token"] for r in rows}
    labels = display_names(tokenizers)
    langs = list(dict.fromkeys(r["lang"] for r in rows))
    langs.sort(key=lambda code: (value.get((tokenizers[0], code)) or 0.0, code))
    width = min(max(6.0, 0.16 * len(langs) + 2.0), 40.0)
    fig, ax = plt.subplots(figsize=(width, 4.5), dpi=120)
    x = range(len(langs))
    for name in tokenizers:
        # Markers only: languages are categories, a line between neighbours would suggest a trend.
        ax.plot(x, [value.get((name, code)) for code in langs], marker="o", markersize=4, linestyle="none",
                label=labels[name])
    ax.set_xticks(list(x))
    ax.set_xticklabels(langs, rotation=90, fontsize=6 if len(langs) > 40 else 8)
    ax.set_xlim(-0.5, len(langs) - 0.5)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("characters per token")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", linewidth=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:  # temp file + rename: a reader never sees half a PNG
        fig.savefig(tmp, format="png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path
