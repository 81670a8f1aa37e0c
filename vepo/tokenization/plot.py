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
    """A dot chart: one row per language, one marker per tokenizer, languages sorted by the first tokenizer's
    chars/token so the worst-served languages sit at the top. The figure grows with the number of languages."""
    tokenizers = list(dict.fromkeys(r["tokenizer"] for r in rows))
    labels = display_names(tokenizers)
    value = {(r["tokenizer"], r["lang"]): r["chars_per_token"] for r in rows}
    langs = list(dict.fromkeys(r["lang"] for r in rows))
    langs.sort(key=lambda code: (value.get((tokenizers[0], code)) or 0.0, code))
    fig, ax = plt.subplots(figsize=(8.0, max(3.0, 0.14 * len(langs) + 1.6)), dpi=110)
    y = range(len(langs))
    for name in tokenizers:
        # Markers only: languages are categories, a line between neighbours would suggest a trend.
        ax.plot([value.get((name, code)) for code in langs], y, marker="o", markersize=4, linestyle="none",
                label=labels[name])
    ax.set_yticks(list(y))
    ax.set_yticklabels(langs, fontsize=7 if len(langs) > 40 else 9)
    ax.set_ylim(len(langs) - 0.5, -0.5)  # first (worst) language on top
    ax.set_xlim(left=0)
    ax.set_xlabel("characters per token")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", linewidth=0.3)
    # Below the axis: inside it, the legend would cover the best-served languages.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.6 / fig.get_figheight()),
              ncol=min(3, len(tokenizers)), frameon=False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:  # temp file + rename: a reader never sees half a PNG
        fig.savefig(tmp, format="png", bbox_inches="tight")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path
