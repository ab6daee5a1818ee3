"""An exclusive lock on an output folder (a run, a sweep, token shards).

.. code-block:: text

    <folder>/.tagnet.lock    {"pid", "host", "command", "started", "proc_start"}

The lock file is created atomically (written under a temporary name, then hard-linked
to its name, which fails if it exists), so a reader never sees half of it. It is
removed when the holder exits normally or with an exception. A holder killed with
SIGKILL (or a crashed machine) leaves it behind: a later process on the same host sees
that the pid is dead, or now belongs to another process (its start time differs), says
so and takes the lock over. A lock held from another host is never taken over; the
error says which file to delete once that process is known to be gone.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_NAME = ".tagnet.lock"


class FolderLockedError(RuntimeError):
    """Another live process holds the folder's lock."""


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, proc_start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    if proc_start is not None:
        now = _proc_start(pid)
        return now is None or now == proc_start
    return True


def _create(tmp: Path, path: Path) -> None:
    """Make ``path`` with ``tmp``'s content; ``FileExistsError`` if it exists."""
    try:
        os.link(tmp, path)  # atomic with its content
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system: exclusive create, then write
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(tmp.read_text())


#: The entries a lock file written by tagnet holds, with their types.
_FIELDS = {"pid": int, "host": str, "started": (int, float)}


def _describe(holder: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["started"]))
    command = f": {holder['command']!r}" if holder.get("command") else ""
    return f"pid {holder['pid']} on {holder['host']} since {started}{command}"


def _read_holder(text: str) -> dict | None:
    """The holder a lock file names, or ``None`` when the file is not a tagnet lock (not
    JSON, or without a pid, host and start time)."""
    try:
        holder = json.loads(text)
    except ValueError:
        return None
    if not isinstance(holder, dict) or not all(
            isinstance(holder.get(k), t) and not isinstance(holder.get(k), bool)
            for k, t in _FIELDS.items()):
        return None
    return holder


class FolderLock:
    """Hold ``<folder>/.tagnet.lock`` for the duration of a ``with`` block.

    Args:
        folder (str or Path): the folder to lock (created if needed).
        command (str, optional): what the holder runs, shown to a second process
            (default: this process's command line).

    Raises:
        FolderLockedError: a live process holds the lock (the message names it).

    Example:
        >>> with FolderLock("runs/gym99"):  # doctest: +SKIP
        ...     train(cfg)
    """

    def __init__(self, folder: str | Path, command: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self.held = False

    def acquire(self) -> FolderLock:
        from tagnet.datasets.atomic import check_output_folder

        check_output_folder("output folder", self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        me = {"pid": pid, "host": socket.gethostname(), "command": self.command,
              "started": round(time.time(), 3), "proc_start": _proc_start(pid)}
        tmp = self.folder / f"{LOCK_NAME}.{pid}.tmp"
        tmp.write_text(json.dumps(me) + "\n")
        try:
            for _ in range(3):
                try:
                    _create(tmp, self.path)
                    self.held = True
                    return self
                except FileExistsError:
                    self._take_over_if_stale()
        finally:
            tmp.unlink(missing_ok=True)
        raise FolderLockedError(f"'{self.folder}' is locked by another tagnet process that "
                                "keeps restarting; try again")

    def _take_over_if_stale(self) -> None:
        try:
            text = self.path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return  # released meanwhile: try again
        holder = _read_holder(text)
        if holder is None:
            shown = text[:40]
            raise FolderLockedError(
                f"'{self.folder}' has a lock file {self.path} that tagnet did not write or "
                f"cannot read (it holds {shown!r}{'...' if len(text) > 40 else ''}); if no "
                f"tagnet process is using the folder, delete {self.path} and try again")
        if holder["host"] != socket.gethostname():
            raise FolderLockedError(
                f"'{self.folder}' is in use by {_describe(holder)}; if that process is no "
                f"longer running, delete {self.path} and try again")
        if _alive(holder["pid"], holder.get("proc_start")):
            raise FolderLockedError(
                f"'{self.folder}' is in use by {_describe(holder)}; wait for it to finish, "
                "stop it, or choose another output folder")
        print(f"tagnet: taking over the stale lock of {self.folder} (process {holder['pid']}, "
              f"{holder.get('command')!r}, is no longer running)", file=sys.stderr)
        stale = self.folder / f"{LOCK_NAME}.stale.{os.getpid()}"
        try:  # rename, then delete: of two processes taking over, only one succeeds
            os.rename(self.path, stale)
        except FileNotFoundError:
            return
        if stale.read_bytes().decode("utf-8", "replace") != text:
            # another process took over first: give its lock back
            try:
                os.link(stale, self.path)
            except FileExistsError:
                pass
        stale.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            self.held = False
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


__all__ = ["FolderLock", "FolderLockedError", "LOCK_NAME"]
