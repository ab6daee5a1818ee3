"""``SkipSummary``: which files a dataset skipped and why."""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger("tagnet.datasets")


class SkipSummary:
    """Files skipped under ``on_error="skip"``, each with its reason, reported once.

    Example:
        >>> s = SkipSummary()
        >>> s.add("a.mp4", "missing", log_it=False)
        >>> s.update_from_meta({"skipped": ["b.mp4\\tcorrupt", ""]})
        >>> print(s)
        2 files skipped (1 missing, 1 undecodable): 'a.mp4' (missing), 'b.mp4' (corrupt)
    """

    def __init__(self):
        self._reasons: dict[str, str] = {}

    def add(self, path: str, reason: str, *, log_it: bool = True) -> None:
        """Record ``path``; logs a warning the first time a file is seen (if ``log_it``)."""
        if path not in self._reasons:
            self._reasons[path] = reason
            if log_it:
                log.warning("skipping video '%s': %s", path, reason)

    def update_from_meta(self, meta) -> None:
        """Merge the ``skipped`` field of a sample's meta or a collated batch's meta
        (``str`` or list of ``str``, lines ``path<TAB>reason``), e.g. from DataLoader workers."""
        field = meta["skipped"] if isinstance(meta, dict) else meta
        for text in [field] if isinstance(field, str) else field:
            for line in filter(None, text.split("\n")):
                path, _, reason = line.partition("\t")
                self.add(path, reason, log_it=False)

    def __contains__(self, path: str) -> bool:
        return path in self._reasons

    def __len__(self) -> int:
        return len(self._reasons)

    def reason(self, path: str) -> str:
        return self._reasons[path]

    def items(self) -> list[tuple[str, str]]:
        """``(path, reason)`` pairs in the order they were first skipped."""
        return list(self._reasons.items())

    def counts(self) -> Counter:
        """How many files were ``missing`` and how many ``undecodable``."""
        return Counter(
            "missing" if r == "missing" else "undecodable" for r in self._reasons.values()
        )

    def __str__(self) -> str:
        if not self._reasons:
            return "no files skipped"
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(self.counts().items()))
        shown = ", ".join(
            f"'{p}' ({r if len(r) < 40 else r[:36] + ' ...'})"
            for p, r in list(self._reasons.items())[:5]
        )
        more = f", ... ({len(self) - 5} more)" if len(self) > 5 else ""
        n = len(self)
        return f"{n} file{'s' * (n != 1)} skipped ({kinds}): {shown}{more}"

    def __repr__(self) -> str:
        return f"SkipSummary({len(self)} files)"
