"""Who may write a run directory, and what a failed command leaves in it.

A command that writes a run directory holds an OS lock (`flock`) on `<dir>/.vepo.lock` for as long as it runs; a
second command on the same directory is refused with one line naming the holder. The kernel drops the lock when its
process ends, however it ends (kill -9 included), so a dead run never blocks the next one; the file itself only
records who held it last. A failed command removes a directory it created when nothing in it is worth keeping.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from vepo.errors import VepoError

LOCK_FILE = ".vepo.lock"

# Locks this process holds, by directory: a command that calls another on the same directory (or a test calling a
# library entry twice) re-enters its own lock instead of refusing itself.
_held: dict[Path, int] = {}


def _key(directory: Path) -> Path:
    return Path(os.path.abspath(directory))


def _holder_text(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8"))
        return f"{info['command']} (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def in_use_error(directory: Path) -> VepoError:
    lock_path = directory / LOCK_FILE
    return VepoError(f"{directory} is in use by {_holder_text(lock_path)}; wait for it to end or stop it (if that "
                     f"process no longer exists, delete {lock_path})")


def refuse_if_locked(directory: Path) -> None:
    """Raise when another process holds `directory`'s lock. Reads only: nothing is created or changed."""
    directory = _key(directory)
    lock_path = directory / LOCK_FILE
    if directory in _held or not lock_path.is_file():
        return
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return  # gone, or not ours to read: the lock itself is taken (or refused) when the job starts
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise in_use_error(directory) from None
    finally:
        os.close(fd)  # closing drops the probe's shared lock


class RunDirLock:
    """`with RunDirLock(dir, "vepo train"):` holds `dir` for this process (created if missing) or raises VepoError
    when another process holds it."""

    def __init__(self, directory: Path, command: str) -> None:
        self.directory, self.command = _key(directory), command
        self._fd: int | None = None

    def __enter__(self) -> "RunDirLock":
        if self.directory in _held:
            _held[self.directory] += 1
            return self
        lock_path = self.directory / LOCK_FILE
        for _ in range(10):  # bounded: the file is only swapped under us while another holder lets go
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise VepoError(f"cannot write the run directory {self.directory}: {exc.strerror}; choose another "
                                f"directory") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise in_use_error(self.directory) from None
            # The previous holder unlinks the file before letting go: a lock on an unlinked file guards nothing.
            if _same_file(fd, lock_path):
                break
            os.close(fd)
        else:
            raise in_use_error(self.directory)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"command": self.command, "pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode() + b"\n")
        self._fd = fd
        _held[self.directory] = 1
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            _held[self.directory] -= 1
            return
        del _held[self.directory]
        (self.directory / LOCK_FILE).unlink(missing_ok=True)  # still held: no one can have locked this file
        os.close(self._fd)
        self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# What a command writes before any real work: Hydra's record (.hydra/) and log, the resolved config, the lock, and
# inputs it derives again on the next start (data/ records and the toy FLORES layout, models/init, launch/ files,
# the rarity-table cache, an empty segment cache). A directory holding only these has nothing worth keeping.
_DISPOSABLE_TOP = ("config.yaml", "eval_config.yaml", LOCK_FILE)
_DISPOSABLE_TREES = (".hydra", "data", "models/init", "launch")
_DISPOSABLE_PREFIXES = ("cache/token_counts_", "cache/identity.json")


def _disposable(relative: str) -> bool:
    if "/" not in relative and (relative in _DISPOSABLE_TOP or relative.endswith(".log")):
        return True
    if any(relative == tree or relative.startswith(tree + "/") for tree in _DISPOSABLE_TREES):
        return True
    return relative.startswith(_DISPOSABLE_PREFIXES)


def holds_nothing_of_value(directory: Path) -> bool:
    for path in directory.rglob("*"):
        if (path.is_symlink() or not path.is_dir()) and not _disposable(path.relative_to(directory).as_posix()):
            return False
    return True


@dataclass
class DirBefore:
    """A directory a command is about to write, as it was before the command started."""

    path: Path
    had_content: bool
    first_existing: Path  # the deepest ancestor (or itself) that existed

    @classmethod
    def snapshot(cls, path: Path) -> "DirBefore":
        path = _key(path)
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        had_content = path.is_dir() and any(path.iterdir())
        return cls(path, had_content or (path.exists() and not path.is_dir()), existing)


def remove_if_nothing_written(before: DirBefore) -> bool:
    """After a failed command: remove what it created in `before.path` (and the empty parents it created) when
    nothing worth keeping was written. A directory that held anything before the command is never touched."""
    path = before.path
    if before.had_content or not path.is_dir() or not holds_nothing_of_value(path):
        return False
    if before.first_existing == path:  # the directory existed, empty: keep it, empty again
        for child in list(path.iterdir()):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        return True
    shutil.rmtree(path)
    parent = path.parent
    while parent != before.first_existing and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    return True
