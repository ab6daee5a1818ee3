"""Atomic file writes: a reader sees the old file or the new one, never half of one.

.. code-block:: text

    write <path>.tmp -> flush + fsync(file) -> rename onto <path> -> fsync(folder)

The rename is the commit: a process killed before it leaves the previous file (and at most
an orphan ``.tmp``); the folder fsync makes the rename itself survive a power loss. A write
that fails (disk full, file-size limit) removes its temporary file and re-raises.

Used for every file tagnet writes: the frame cache's shards, FineSynth's videos and
annotation files, checkpoints, weights, sweep records, config.yaml, evaluation reports
(JSON, CSV, PNG), predictions, sliding-window tables and annotated videos, exports, prepared
clips. :func:`atomic_path` serves writers that take a file name (``keep_suffix`` for those
that read the format from it: matplotlib, PyAV), :func:`atomic_open` those that write to a
file object (``csv``), :func:`atomic_write` bytes or text.

Before writing, a command checks its outputs with :func:`check_outputs`: no output may be
one of the command's inputs (the same resolved path, or the same file through a hard or
symbolic link: equal ``st_dev``/``st_ino``), another output of the same run, or an existing
folder. Standard library only, so :mod:`tagnet.datasets` and the model package can both
import it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
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


def temporary_name(path: str | os.PathLike, keep_suffix: bool = False) -> Path:
    """The temporary name :func:`atomic_path` writes before the rename: ``<name>.tmp``, or
    with ``keep_suffix`` ``<stem>.tmp<suffix>`` (``confusion.tmp.png``) for writers that
    pick the format from the name."""
    path = Path(path)
    if keep_suffix and path.suffix:
        return path.with_name(f"{path.stem}{TMP_SUFFIX}{path.suffix}")
    return path.with_name(path.name + TMP_SUFFIX)


@contextmanager
def atomic_path(path: str | os.PathLike, *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary name next to ``path``; write it by name, and on a clean exit it
    replaces ``path`` atomically (fsync, rename, fsync of the folder).

    For writers that take a file name (``torch.save``, ``av.open``, ``fig.savefig``;
    ``keep_suffix=True`` for those that read the format from the name). If the block leaves
    no temporary file, nothing is replaced (a writer may decide it has nothing to write); if
    it raises (a failed write, or a check of the written file), the temporary file is
    removed and ``path`` is untouched.

    Example:
        >>> with atomic_path("model.pth") as tmp:  # doctest: +SKIP
        ...     torch.save(state, tmp)
    """
    path = Path(path)
    tmp = temporary_name(path, keep_suffix)
    try:
        yield tmp
        if not tmp.exists():
            return
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is not None and \
                os.fspath(exc.filename) == os.fspath(tmp):
            exc.filename = os.fspath(path)  # name the file the user asked for (disk full, ...)
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


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """``open(path, mode, **kwargs)`` whose file replaces ``path`` atomically when the
    block ends cleanly (a CSV writer: ``atomic_open(p, "w", newline="")``); if the block
    raises, ``path`` keeps its previous content.

    Example:
        >>> with atomic_open("table.csv", newline="") as f:  # doctest: +SKIP
        ...     csv.writer(f).writerows(rows)
    """
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes whole files (mode 'w' or 'wb'), not {mode!r}")
    kwargs.setdefault("encoding", None if "b" in mode else "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


# ------------------------------------------------------------------------- output checks
def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: the same absolute or resolved path, or the same
    ``(st_dev, st_ino)`` (a hard link, a symbolic link, another spelling)."""
    a, b = Path(a), Path(b)
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop: compare what stat() says
        pass
    ia = _identity(a)
    return ia is not None and ia == _identity(b)


def _show(path) -> str:
    text = os.fsdecode(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _pairs(named) -> list[tuple[str, Path]]:
    items = named.items() if isinstance(named, Mapping) else (named or [])
    return [(k, Path(v)) for k, v in items if v is not None]


def check_outputs(outputs: Mapping[str, str | os.PathLike] | Iterable[tuple],
                  inputs: Mapping[str, str | os.PathLike] | Iterable[tuple] | None = None
                  ) -> None:
    """Refuse, before anything is written, outputs that would destroy something.

    Args:
        outputs: ``{what: path}`` (or ``(what, path)`` pairs) of the files a command will
            write (``"--json"``, ...); ``None`` paths are skipped.
        inputs: the same for the files it reads (``"--checkpoint"``, ``"the input
            video"``, ...).

    Raises:
        ValueError: an output is an existing folder, lies under a file, is one of the
            inputs (see :func:`same_file`: hard links count) or is another output of the
            same command; the message names both and says what to do.
    """
    outs, ins = _pairs(outputs), _pairs(inputs)
    for i, (what, path) in enumerate(outs):
        if path.is_dir():
            raise ValueError(f"{what} '{_show(path)}' is a folder; give a file name (in it "
                             "or elsewhere)")
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ValueError(f"{what} '{_show(path)}': '{_show(parent)}' is a file, not a "
                             "folder; write the output elsewhere")
        for src, src_path in ins:
            if same_file(path, src_path):
                also = "" if str(src_path) == str(path) else f" '{_show(src_path)}'"
                raise ValueError(f"{what} '{_show(path)}' is {src}{also}: writing it would "
                                 "destroy that input; choose another name")
        for other, other_path in outs[:i]:
            if same_file(path, other_path):
                raise ValueError(f"{other} and {what} both write '{_show(path)}'; give each "
                                 "output its own name")


def check_output_folder(what: str, path: str | os.PathLike) -> Path:
    """Refuse an output folder that is an existing file or lies under one; returns it."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "is a file" if p == path else f"lies under '{_show(p)}', a file"
                raise ValueError(f"{what} '{_show(path)}' {where}, not a folder; give a folder "
                                 "(it is created if missing)")
            break
    return path


__all__ = ["atomic_path", "atomic_write", "atomic_open", "temporary_name", "fsync_dir",
           "TMP_SUFFIX", "same_file", "check_outputs", "check_output_folder"]
