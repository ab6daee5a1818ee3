"""Printing file names from the commands: never fail on a name that is not valid UTF-8."""
from __future__ import annotations

import os


def safe_path(path: str | bytes | os.PathLike) -> str:
    r"""``path`` as text that any terminal encoding can print.

    A file name that is not valid UTF-8 reaches Python as ``str`` holding lone surrogates
    (PEP 383: byte ``0xff`` becomes ``'\udcff'``), which a strict UTF-8 stdout refuses
    (``UnicodeEncodeError``). Those bytes are shown as ``\xff`` escapes instead; every other
    character is kept. Files written by the commands (JSON, CSV) keep the original name.

    Example:
        >>> safe_path(os.fsdecode(b"clip_\xff.mp4"))
        'clip_\\xff.mp4'
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")
