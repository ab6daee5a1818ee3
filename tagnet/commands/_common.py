"""Helpers the commands share: printing file names safely, argument types."""
from __future__ import annotations

import argparse
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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--topk 0`` fails at parsing, before any work)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
