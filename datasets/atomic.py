"""Atomic file writes: a reader sees the old file or the new one, never half of one.

.. code-block:: text

    write <path>.tmp -> flush + fsync(file) -> rename onto <path> -> fsync(folder)

The rename is the commit: a process killed before it leaves the previous file (and at most
an orphan ``.tmp``); the folder fsync makes the rename itself survive a power loss. A write
that fails (disk full, file-size limit) removes its temporary file and re-raises.

Used for everything tagnet writes that another process may read: the frame cache's shards,
FineSynth's videos and annotation files, checkpoints, sweep records. Standard library only,
so :mod:`tagnet.datasets` and the model package can both import it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_SUFFIX = ".tmp"


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entry table (a rename in it) to disk; a no-op where folders cannot
    be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary name next to ``path``; write it by name, and on a clean exit it
    replaces ``path`` atomically (fsync, rename, fsync of the folder).

    For writers that take a file name (``torch.save``, ``av.open``). If the block leaves no
    temporary file, nothing is replaced (a writer may decide it has nothing to write); if it
    raises, the temporary file is removed and ``path`` is untouched.

    Example:
        >>> with atomic_path("model.pth") as tmp:  # doctest: +SKIP
        ...     torch.save(state, tmp)
    """
    path = Path(path)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        yield tmp
        if not tmp.exists():
            return
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` (bytes, or text encoded with ``encoding``) to ``path`` atomically."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode(encoding)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return path


__all__ = ["atomic_path", "atomic_write", "fsync_dir", "TMP_SUFFIX"]
