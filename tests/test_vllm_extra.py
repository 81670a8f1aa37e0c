"""The `vllm` extra (pyproject.toml) is locked as its own uv resolution: reading pyproject.toml and uv.lock, check that
the extra reaches the pinned vLLM, that the default install reaches none of it, and that the versions the design relies
on hold (docs/benchmarks.md, "vLLM extra"). No install, no network: the lock is walked like uv walks it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "vepo"
EXTRA = "vllm"
# uv writes the extras of a conflict set into markers as extra-<len(project)>-<project>-<extra>.
LOCK_EXTRA = f"extra-{len(PROJECT)}-{PROJECT}-{EXTRA}"


def _env(sys_platform: str, machine: str, python: str) -> dict[str, str]:
    system = {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[sys_platform]
    return {"implementation_name": "cpython", "implementation_version": python, "os_name": "nt" if
            sys_platform == "win32" else "posix", "platform_machine": machine, "platform_python_implementation":
            "CPython", "platform_release": "", "platform_system": system, "platform_version": "",
            "python_full_version": python, "python_version": ".".join(python.split(".")[:2]),
            "sys_platform": sys_platform}


LINUX_311 = _env("linux", "x86_64", "3.11.7")
LINUX_312 = _env("linux", "x86_64", "3.12.4")
LINUX_ARM_313 = _env("linux", "aarch64", "3.13.1")
MAC_312 = _env("darwin", "arm64", "3.12.4")
WINDOWS_312 = _env("win32", "AMD64", "3.12.4")
GPU_HOSTS = [LINUX_311, LINUX_312, LINUX_ARM_313]
ALL_HOSTS = GPU_HOSTS + [MAC_312, WINDOWS_312]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def closure(lock: dict, env: dict[str, str], extra: str | None) -> dict[str, str]:
    """name -> version of what `uv sync` (default dev group, plus `--extra <extra>` if given) installs on `env`."""
    by_name: dict[str, list[dict]] = {}
    for pkg in lock["package"]:
        by_name.setdefault(pkg["name"], []).append(pkg)
    marker_env = {**env, "extra": f"extra-{len(PROJECT)}-{PROJECT}-{extra}" if extra else ""}

    def live(edge: dict) -> bool:
        return "marker" not in edge or Marker(edge["marker"]).evaluate(marker_env)

    def target(edge: dict) -> dict:
        candidates = [p for p in by_name[edge["name"]] if "version" not in edge or p["version"] == edge["version"]]
        assert len(candidates) == 1, f"lock edge {edge} names {len(candidates)} packages"
        return candidates[0]

    root = by_name[PROJECT][0]
    todo = [e for e in root.get("dependencies", []) + root.get("dev-dependencies", {}).get("dev", []) if live(e)]
    if extra:
        todo += [e for e in root.get("optional-dependencies", {}).get(extra, []) if live(e)]
    seen: dict[str, str] = {}
    done: set[tuple[str, str, tuple[str, ...]]] = set()
    while todo:
        edge = todo.pop()
        pkg = target(edge)
        key = (pkg["name"], pkg["version"], tuple(edge.get("extra", [])))
        if key in done:
            continue
        done.add(key)
        assert seen.setdefault(pkg["name"], pkg["version"]) == pkg["version"], \
            f"{pkg['name']} resolves to two versions on {env['sys_platform']} {env['python_full_version']}"
        todo += [e for e in pkg.get("dependencies", []) if live(e)]
        for name in edge.get("extra", []):
            todo += [e for e in pkg.get("optional-dependencies", {}).get(name, []) if live(e)]
    return seen


def _pin(requirements: list[str], name: str) -> Requirement:
    reqs = [Requirement(r) for r in requirements if Requirement(r).name == name]
    assert len(reqs) == 1, f"expected one {name} requirement, found {reqs}"
    return reqs[0]


def test_vllm_extra_pins_one_vllm_release_and_conflicts_with_the_base(pyproject):
    extras = pyproject["project"]["optional-dependencies"]
    vllm = _pin(extras[EXTRA], "vllm")
    assert str(vllm.specifier).startswith("=="), f"the vllm extra should pin one release, not {vllm.specifier}"
    # The conflict set is what keeps the base resolution apart from vLLM's torch pin; its partner extra is empty.
    conflict_sets = [{item.get("extra") for item in s} for s in pyproject["tool"]["uv"]["conflicts"]]
    assert {EXTRA, "no-vllm"} in conflict_sets
    assert extras["no-vllm"] == []


def test_the_lock_matches_the_extra_of_pyproject(pyproject, lock):
    vepo = next(p for p in lock["package"] if p["name"] == PROJECT)
    assert EXTRA in vepo["metadata"]["provides-extras"]
    locked = [r for r in vepo["metadata"]["requires-dist"] if r["name"] == "vllm"]
    wanted = _pin(pyproject["project"]["optional-dependencies"][EXTRA], "vllm")
    assert [r["specifier"] for r in locked] == [str(wanted.specifier)], "uv.lock is stale: run `uv lock`"


@pytest.mark.parametrize("env", ALL_HOSTS, ids=lambda e: f"{e['sys_platform']}-{e['python_version']}")
def test_the_default_install_reaches_no_vllm(lock, env):
    base = closure(lock, env, extra=None)
    assert "torch" in base and "trl" in base
    assert not {"vllm", "flashinfer-python", "xgrammar"} & set(base)


@pytest.mark.parametrize("env", GPU_HOSTS, ids=lambda e: f"{e['platform_machine']}-{e['python_version']}")
def test_the_vllm_extra_reaches_the_pinned_vllm(pyproject, lock, env):
    wanted = _pin(pyproject["project"]["optional-dependencies"][EXTRA], "vllm")
    assert wanted.specifier.contains(closure(lock, env, extra=EXTRA)["vllm"])


@pytest.mark.parametrize("env", GPU_HOSTS, ids=lambda e: f"{e['platform_machine']}-{e['python_version']}")
def test_the_base_stack_is_the_pinned_one_and_the_extra_shares_what_vepo_needs(pyproject, lock, env):
    deps = pyproject["project"]["dependencies"]
    base, extra = closure(lock, env, extra=None), closure(lock, env, extra=EXTRA)
    for name in ("torch", "transformers", "trl"):
        assert _pin(deps, name).specifier.contains(base[name]), f"base {name} {base[name]} is outside pyproject's pin"
    # trl: vepo overrides a private TRL method; transformers: vepo's trainer arguments need 5.23
    # (TrainingArguments.activation_checkpointing), while vLLM 0.33 declares transformers<5.21.
    assert extra["trl"] == base["trl"]
    assert Version(extra["transformers"]) >= Version("5.23") and extra["transformers"] == base["transformers"]
    # comet pins protobuf<5; the overrides hold both resolutions there, or uv would lift the base to vLLM's protobuf.
    assert Version(base["protobuf"]) < Version("5") and extra["protobuf"] == base["protobuf"]
    # numba (vLLM) needs numpy<2.5, which the project-wide numpy>=2 override would otherwise erase.
    assert Version(extra["numpy"]) < Version("2.5")


def test_the_walk_follows_the_conflict_markers(lock):
    """The walk itself: the lock marks the extra's edges with uv's conflict extra, and reading them as plain PEP 508
    markers must keep the two resolutions apart (here: vLLM's own torch on Linux, not the base's)."""
    assert f"extra == '{LOCK_EXTRA}'" in (ROOT / "uv.lock").read_text()
    base, extra = closure(lock, LINUX_311, extra=None), closure(lock, LINUX_311, extra=EXTRA)
    assert set(base) < set(extra)
    assert {name for name in base if base[name] != extra[name]} >= {"torch"}
