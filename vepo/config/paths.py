"""Where the Hydra configs live: `vepo/conf` in an installed wheel, `<repo>/conf` in a source checkout."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> Path:
    package_conf = Path(__file__).resolve().parents[1] / "conf"
    if package_conf.is_dir():
        return package_conf
    repo_conf = Path(__file__).resolve().parents[2] / "conf"
    if repo_conf.is_dir():
        return repo_conf
    raise FileNotFoundError(f"vepo's config directory is missing (looked in {package_conf} and {repo_conf})")
