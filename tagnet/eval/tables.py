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



def convergence(runs: dict[int, dict]) -> dict:
    """Whether a row's runs converged, from the ``converged`` key of their records.

    Returns ``{"converged": True | False | None, "not_converged_seeds": [...],
    "convergence_unknown_seeds": [...]}``: ``False`` when any run has ``converged:
    false``, ``None`` when none has but some record lacks the key (runs from before
    the flag), ``True`` when every run says it converged.
    """
    false = sorted(s for s, r in runs.items() if r.get("converged") is False)
    unknown = sorted(s for s, r in runs.items() if "converged" not in r)
    return {"converged": False if false else (None if unknown else True),
            "not_converged_seeds": false, "convergence_unknown_seeds": unknown}


def multiplicity_note(m: int, pairs: Sequence[int], alpha: float = 0.05) -> str:
    """The sentence under a table that says how its contrasts were corrected and what its
    seed count allows: the smallest two-sided sign-flip p with ``n`` seeds is ``2 / 2^n``."""
    from tagnet.eval.stats import fmt_p, seeds_needed, smallest_pvalue

    if not m:
        return ""
    n = min(pairs)
    seeds = f"n = {n} paired seeds" if len(set(pairs)) == 1 else \
        f"n = {n} to {max(pairs)} paired seeds (the fewest counts)"
    text = (f"Holm's correction over the {m} contrast{'s' * (m > 1)} of this table "
            f"(family-wise alpha {alpha:g}). With {seeds} the smallest possible two-sided "
            f"p is 2/2^{n} = {fmt_p(smallest_pvalue(n))}")
    if smallest_pvalue(n) >= alpha:
        return text + (f", so no contrast can reach p < {alpha:g} before or after any "
                       f"correction: at least {seeds_needed(m, alpha)} seeds are needed.")
    if m * smallest_pvalue(n) >= alpha:
        return text + (f"; Holm multiplies the smallest p by {m}, so no contrast can be "
                       f"called an effect whatever the data: at least "
                       f"{seeds_needed(m, alpha)} seeds are needed.")
    return text + "."


def _seed_list(seeds: Sequence[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def sweep_table(records: Sequence[dict], metrics: Sequence[tuple[str, str]], *,
                reference: str | None = None, equivalents: dict | None = None,
                order: Sequence[str] | None = None, chance: dict | None = None,
                noise: tuple[str, str] | None = None, intervals: bool = True,
                alpha: float = 0.05, ceilings: dict | None = None) -> tuple[str, dict]:
    """A sweep's table with statistics over seeds (see :mod:`tagnet.eval.stats`).

    One row per variant (in ``order``, else first-seen): for each metric ``(key,
    label)`` its mean ± sample std, the 95% t interval, the difference Δ to the
    ``reference`` row paired by seed with its 95% t interval, and Δ's exact
    sign-flip p-value with its Holm-adjusted value over every contrast of the table
    (rows x metrics). A contrast is an ``effect`` only when its Holm-adjusted p is
    below ``alpha`` and no run of its row or of the reference has ``converged:
    false`` in its record; ``n.c.`` marks one that survives the correction with
    such runs, ``n.s.`` the rest. Rows with unconverged runs are marked ``†``, rows
    whose records lack ``converged`` (older runs) ``‡``, and the seeds are listed
    under the table. Rows in ``equivalents`` (``{name: Equivalence}``) that were
    not run are listed as ``= <row>``. ``noise`` names two variants that differ only
    in float rounding; their paired difference is the noise-floor line under the
    table (not a contrast of the correction). ``ceilings`` (``{name: (top-1, why)}``,
    :mod:`tagnet.train.ceilings`) adds each row's construction ceiling after the first
    metric, and a note naming any run above its ceiling (impossible by construction: a
    defect).

    Returns ``(markdown, summary)``; each run row of ``summary["rows"]`` holds its
    ``seeds`` and, per metric, the per-seed ``values`` (in the order of ``seeds``),
    so every number of the table can be recomputed from it; ``summary["holm"]``
    says what was corrected.
    """
    from tagnet.eval.stats import fmt_interval, fmt_p, holm, paired_difference, t_interval

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
        return {s: r.get(key, float("nan")) for s, r in sorted(by_variant.get(name, {}).items())}

    status = {name: convergence(runs) for name, runs in by_variant.items()}
    all_unknown = all("converged" not in r for r in records)  # older runs: one note, no marks
    marks = {name: ("†" if st["not_converged_seeds"] else "")
             + ("‡" if st["convergence_unknown_seeds"] and not all_unknown else "")
             for name, st in status.items()}

    # first pass: every statistic, the contrasts' raw p-values
    infos, contrasts = {}, []  # contrasts: (row name, metric key, PairedDifference)
    for name in names:
        if name not in by_variant:
            continue
        runs = by_variant[name]
        info = {"variant": name, "seeds": sorted(runs), "run": True,
                "parameters": next(iter(runs.values())).get("parameters"), **status[name]}
        if name in equivalents:
            info["equivalent_to"] = equivalents[name].same_as
        for key, _ in metrics:
            vals = values(name, key)
            m, sd = mean_std(list(vals.values()))
            info[key] = {"mean": m, "std": sd, "values": list(vals.values())}
            if intervals:
                iv = t_interval(list(vals.values()), what=f"{key} of {name!r}")
                info[key].update(low=iv.low, high=iv.high)
                if name != reference:
                    d = paired_difference(vals, values(reference, key), what=f"{key} of {name!r}")
                    contrasts.append((name, key, d))
        infos[name] = info
    adjusted = holm([d.p_value for _, _, d in contrasts])
    for (name, key, d), p_holm in zip(contrasts, adjusted, strict=True):
        survives = p_holm < alpha
        clean = status[name]["converged"] is not False and status[reference]["converged"] \
            is not False
        infos[name][key].update(diff=d.interval.mean, diff_low=d.interval.low,
                                diff_high=d.interval.high, pairs=list(d.seeds), p=d.p_value,
                                p_holm=p_holm, survives=survives, effect=survives and clean)

    ceilings = ceilings or {}
    header = ["configuration"]
    for i, (_, label) in enumerate(metrics):
        header += [label] + (["ceiling"] if ceilings and i == 0 else []) + \
            (["95% CI", f"Δ vs {reference} [95% CI]", "p (Holm)"] if intervals else [])
    header += ["params", "seeds"]
    rows, summary = [], {"reference": reference, "rows": [], "noise_floor": None, "holm": None}
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
        info = infos[name]
        label = name + (f" (= {equivalents[name].same_as})" if name in equivalents else "")
        row = [label + (f" {marks[name]}" if marks[name] else "")]
        if name in ceilings:
            info["ceiling"], info["ceiling_reason"] = ceilings[name]
        for i, (key, _) in enumerate(metrics):
            s = info[key]
            row.append(fmt_pct(s["mean"], s["std"]))
            if ceilings and i == 0:
                row.append(fmt_pct(ceilings[name][0]) if name in ceilings else "")
            if not intervals:
                continue
            row.append(f"[{100 * s['low']:.1f}, {100 * s['high']:.1f}]")
            if name == reference:
                row += ["(reference)", ""]
                continue
            tag = "effect" if s["effect"] else ("n.c." if s["survives"] else "n.s.")
            tainted = marks[name] + "".join(c for c in marks[reference] if c not in marks[name])
            row += [f"{100 * s['diff']:+.1f} [{100 * s['diff_low']:+.1f}, "
                    f"{100 * s['diff_high']:+.1f}]", f"{fmt_p(s['p'])} ({fmt_p(s['p_holm'])}) "
                    f"{tag}{tainted if s['survives'] else ''}"]
        params = info["parameters"]
        rows.append(row + [f"{params:,}" if params else "", str(len(info["seeds"]))])
        summary["rows"].append(info)
    if chance:
        row = ["chance"]
        for i, (key, _) in enumerate(metrics):
            row += [fmt_pct(chance[key]) if key in chance else ""] + \
                ([""] if ceilings and i == 0 else []) + (["", "", ""] if intervals else [])
        rows.append(row + ["", ""])
    text = markdown_table(header, rows)
    if ceilings:
        key = metrics[0][0]
        text += ("\n\nceiling: the best " + metrics[0][1] + " the row's model can reach by "
                 "construction (tagnet.train.ceilings): "
                 + "; ".join(f"{n}: {why}" for n, (top, why) in ceilings.items()
                             if n in infos and top < 1) + ".")
        above = [f"{n} seed {s} ({100 * v:.1f} > {100 * ceilings[n][0]:.1f})"
                 for n in names if n in infos and n in ceilings
                 for s, v in zip(infos[n]["seeds"], infos[n][key]["values"], strict=True)
                 if v > ceilings[n][0] + 1e-9]
        if above:
            text += (" ABOVE ITS CEILING, which construction rules out (a defect to find): "
                     + "; ".join(above) + ".")
    if intervals:
        text += ("\n\nmean ± sample std over seeds; 95% CI: Student-t interval of the mean; "
                 f"Δ: difference to {reference} paired by seed, with its 95% t interval; "
                 "p: exact two-sided sign-flip (paired permutation) p-value of the mean Δ, "
                 "Holm-adjusted in brackets; 'effect' only when the Holm-adjusted p is below "
                 f"{alpha:g}, 'n.s.' otherwise.")
        pairs = [len(d.seeds) for _, _, d in contrasts]
        if contrasts:
            text += " " + multiplicity_note(len(contrasts), pairs, alpha)
        summary["holm"] = {"alpha": alpha, "contrasts": len(contrasts),
                           "min_pairs": min(pairs) if pairs else None}
    text += _convergence_notes(names, status, by_variant, intervals)
    if noise and all(n in by_variant for n in noise) and intervals:
        parts = []
        for key, label in metrics:
            d = paired_difference(values(noise[1], key), values(noise[0], key),
                                  what=f"noise floor of {key}")
            parts.append(f"{label} {fmt_interval(d.interval, signed=True)} "
                         f"(sample std {100 * d.interval.std:.1f}, sign-flip p "
                         f"{fmt_p(d.p_value)})")
            summary["noise_floor"] = (summary["noise_floor"] or {}) | {
                key: {"diff": d.interval.mean, "low": d.interval.low, "high": d.interval.high,
                      "std": d.interval.std, "p": d.p_value, "pairs": list(d.seeds)}}
        text += (f"\n\nnoise floor ({noise[1]} - {noise[0]}: the same model computed two ways, "
                 "differing only in float rounding, paired by seed; not a contrast of the "
                 "correction): " + "; ".join(parts) + ".")
    return text, summary


def _convergence_notes(names: Sequence[str], status: dict, runs: dict, intervals: bool) -> str:
    """The † / ‡ lines under a sweep table (empty when every run says it converged)."""
    false = [f"{n} {_seed_list(status[n]['not_converged_seeds'])}" for n in names
             if n in status and status[n]["not_converged_seeds"]]
    unknown = [n for n in names if n in status and status[n]["convergence_unknown_seeds"]]
    text = ""
    if false:
        text += ("\n\n† not converged (`converged: false` in the run's record): "
                 + "; ".join(false) + "." + (" A contrast with such a row (or reference) is "
                                            "never called an effect: 'n.c.' where it survives "
                                            "the correction." if intervals else ""))
    if unknown and all(len(status[n]["convergence_unknown_seeds"]) == len(runs[n])
                       for n in runs):
        text += ("\n\nconvergence unknown for every run (records without `converged`, from "
                 "runs made before the flag).")
    elif unknown:
        text += ("\n\n‡ convergence unknown (records without `converged`, from runs made "
                 "before the flag): " + "; ".join(
                     f"{n} {_seed_list(status[n]['convergence_unknown_seeds'])}"
                     for n in unknown) + ".")
    return text


__all__ = ["mean_std", "fmt_pct", "markdown_table", "summarise", "sweep_table", "convergence",
           "multiplicity_note"]
