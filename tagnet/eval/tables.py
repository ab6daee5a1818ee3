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


__all__ = ["mean_std", "fmt_pct", "markdown_table", "summarise", "sweep_table"]


def sweep_table(records: Sequence[dict], metrics: Sequence[tuple[str, str]], *,
                reference: str | None = None, equivalents: dict | None = None,
                order: Sequence[str] | None = None, chance: dict | None = None,
                noise: tuple[str, str] | None = None, intervals: bool = True) -> tuple[str, dict]:
    """A sweep's table with statistics over seeds (see :mod:`tagnet.eval.stats`).

    One row per variant (in ``order``, else first-seen): for each metric ``(key,
    label)`` its mean ± sample std, the 95% t interval and the difference to the
    ``reference`` row paired by seed with its 95% interval, marked ``effect`` only
    when that interval excludes 0 (``n.s.`` otherwise). Rows in ``equivalents``
    (``{name: Equivalence}``) that were not run are listed as ``= <row>``. ``noise``
    names two variants that differ only in float rounding; their paired difference
    is the noise-floor line under the table. Returns ``(markdown, summary dict)``.
    """
    from tagnet.eval.stats import fmt_interval, paired_difference, t_interval

    equivalents = equivalents or {}
    by_variant: dict[str, dict[int, dict]] = {}
    for r in records:
        by_variant.setdefault(r["variant"], {})[r["seed"]] = r
    names = list(order) if order else list(by_variant)
    noise_names = set(noise or ())
    names = [n for n in names if n not in noise_names or n in (order or ())]
    reference = reference or next((n for n in names if n in by_variant), None)
    if reference is not None and reference not in by_variant:
        raise ValueError(f"reference row {reference!r} has no runs; rows: {', '.join(by_variant)}")

    def values(name, key):
        return {s: r.get(key, float("nan")) for s, r in by_variant.get(name, {}).items()}

    header = ["configuration"]
    for _, label in metrics:
        header += [label] + (["95% CI", f"Δ vs {reference} [95% CI]"] if intervals else [])
    header += ["params", "seeds"]
    rows, summary = [], {"reference": reference, "rows": [], "noise_floor": None}
    for name in names:
        if name not in by_variant:
            eq = equivalents.get(name)
            if eq is None:
                continue
            note = f"= {eq.same_as} (not run: same pooled features, deviation {eq.deviation:.1e})"
            rows.append([name, note] + [""] * (len(header) - 2))
            summary["rows"].append({"variant": name, "equivalent_to": eq.same_as,
                                    "deviation": eq.deviation, "run": False})
            continue
        runs = by_variant[name]
        label = name + (f" (= {equivalents[name].same_as})" if name in equivalents else "")
        row, info = [label], {"variant": name, "seeds": sorted(runs), "run": True,
                              "parameters": next(iter(runs.values())).get("parameters")}
        if name in equivalents:
            info["equivalent_to"] = equivalents[name].same_as
        for key, _ in metrics:
            vals = values(name, key)
            m, sd = mean_std(list(vals.values()))
            row.append(fmt_pct(m, sd))
            info[key] = {"mean": m, "std": sd}
            if intervals:
                iv = t_interval(list(vals.values()), what=f"{key} of {name!r}")
                row.append(fmt_interval(iv).split(" ", 1)[1])
                info[key].update(low=iv.low, high=iv.high)
                if name == reference:
                    row.append("(reference)")
                else:
                    d = paired_difference(vals, values(reference, key), what=f"{key} of {name!r}")
                    tag = "effect" if d.effect else "n.s."
                    row.append(f"{fmt_interval(d.interval, signed=True)} {tag}")
                    info[key].update(diff=d.interval.mean, diff_low=d.interval.low,
                                     diff_high=d.interval.high, effect=d.effect)
        params = info["parameters"]
        rows.append(row + [f"{params:,}" if params else "", str(len(runs))])
        summary["rows"].append(info)
    if chance:
        row = ["chance"]
        for key, _ in metrics:
            row += [fmt_pct(chance[key]) if key in chance else ""] + (["", ""] if intervals else [])
        rows.append(row + ["", ""])
    text = markdown_table(header, rows)
    if intervals:
        text += ("\n\nmean ± sample std over seeds; 95% CI: Student-t interval of the mean; "
                 f"Δ: difference to {reference} paired by seed, with its 95% t interval; "
                 "'effect' only when that interval excludes 0, 'n.s.' when it contains 0.")
    if noise and all(n in by_variant for n in noise) and intervals:
        parts = []
        for key, label in metrics:
            d = paired_difference(values(noise[1], key), values(noise[0], key),
                                  what=f"noise floor of {key}")
            parts.append(f"{label} {fmt_interval(d.interval, signed=True)} "
                         f"(sample std {100 * d.interval.std:.1f})")
            summary.setdefault("noise_floor", None)
            summary["noise_floor"] = (summary["noise_floor"] or {}) | {
                key: {"diff": d.interval.mean, "low": d.interval.low, "high": d.interval.high,
                      "std": d.interval.std}}
        text += (f"\n\nnoise floor ({noise[1]} - {noise[0]}: the same model computed two ways, "
                 "differing only in float rounding, paired by seed): " + "; ".join(parts) + ".")
    return text, summary
