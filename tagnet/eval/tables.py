"""Result tables as Markdown: one row per model or configuration, mean and spread over seeds."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value), NaNs ignored."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def fmt_pct(mean: float, std: float | None = None) -> str:
    """``93.1`` or ``93.1 ± 0.4`` (fractions shown as percentages)."""
    if math.isnan(mean):
        return "-"
    return f"{100 * mean:.1f}" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one letter per column (``l`` or ``r``)."""
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells):
        out = [str(c).ljust(w) if a == "l" else str(c).rjust(w)
               for c, w, a in zip(cells, widths, align, strict=True)]
        return "| " + " | ".join(out) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":" if a == "r" else ":" + "-" * (w + 1))
                          for w, a in zip(widths, align, strict=True)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def summarise(records: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """Group per-seed records by ``variant`` (first-seen order); mean/std of ``keys``."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["variant"], []).append(r)
    out = []
    for name, rs in groups.items():
        row = {"variant": name, "seeds": [r["seed"] for r in rs],
               "parameters": rs[0].get("parameters")}
        for k in keys:
            row[k], row[f"{k}_std"] = mean_std([r.get(k, float("nan")) for r in rs])
        out.append(row)
    return out


__all__ = ["mean_std", "fmt_pct", "markdown_table", "summarise"]
