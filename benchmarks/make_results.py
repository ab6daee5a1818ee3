"""Assemble benchmarks/RESULTS.md from the JSON files the benchmark scripts wrote.

Every number in RESULTS.md comes from a JSON file next to this script; each
section names the machine, the exact command and the date of its run. The
propagation and head benchmarks get their own sections and a check of the
performance goals; any other ``benchmarks/*.json`` is rendered generically.

Example:
    python benchmarks/make_results.py            # writes benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCALARS = (str, int, float, bool, type(None))


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 0.01 or abs(value) >= 1e6):
            return f"{value:.2e}"
        return f"{value:,.2f}"
    return str(value).replace("|", "\\|")


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "_(no rows)_\n"
    if columns is None:  # every scalar key, in first-seen order
        columns = []
        for row in rows:
            columns += [k for k, v in row.items() if isinstance(v, SCALARS) and k not in columns]
    columns = [c for c in columns if any(c in r for r in rows)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def provenance(data: dict, path: Path) -> str:
    m = data.get("machine", {})
    parts = [f"- source: `benchmarks/{path.name}`"]
    if m:
        parts.append(
            f"- machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores "
            f"({m.get('torch_threads', '?')} torch threads), device {m.get('device')}"
            + (f" ({m['gpu']})" if m.get("gpu") else "")
        )
        parts.append(
            f"- software: Python {m.get('python')}, torch {m.get('torch')}, "
            f"torch_geometric {m.get('torch_geometric')}"
        )
        if "load_average_1_5_15" in m:
            parts.append(
                f"- load average at start (1/5/15 min): {m['load_average_1_5_15']} "
                "(the machine is shared)"
            )
        parts.append(f"- date: {m.get('date', '?')}")
    if data.get("command"):
        parts.append(f"- command: `{data['command']}`")
    return "\n".join(parts) + "\n"


def find(rows, **where):
    """The first row matching ``where`` that has a measurement (skipped rows only as a fallback)."""
    match = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    measured = [r for r in match if "note" not in r]
    if measured:  # the run with the most repeats (a dedicated run beats a sweep)
        return max(measured, key=lambda r: r.get("repeats", r.get("steps", 0)))
    return match[0] if match else None


def goal(text: str, ok: bool | None, detail: str) -> str:
    verdict = {True: "**met**", False: "**not met**", None: "not measured"}[ok]
    return f"- {text}: {verdict}. {detail}"


def propagation_goals(data: dict) -> list[str]:
    rows, out = data["results"], []  # each row carries "file", the JSON it came from
    cell = dict(grid="8x7x7", B=8, K=2, mode="fwd+bwd")
    s = find(rows, method="structured", **cell)
    r = s and find(rows, method="release", file=s["file"], **cell)  # one run: same conditions
    if s and r and "median_ms" in s and "median_ms" in r:
        x = r["median_ms"] / s["median_ms"]
        out.append(
            goal(
                "structured >= 40x faster than release-style, forward+backward, Gym99 "
                "grid 8x7x7, B=8, K=2",
                x >= 40,
                f"{x:,.1f}x ({r['median_ms']:,.1f} ms vs {s['median_ms']:,.2f} ms, "
                f"medians; {s['file']})",
            )
        )
        pyg = [
            p
            for p in rows
            if p.get("method", "").startswith("pyg")
            and "median_ms" in p
            and p["file"] == s["file"]
            and all(p.get(k) == v for k, v in cell.items())
        ]
        if pyg:
            slower = all(p["median_ms"] > s["median_ms"] for p in pyg)
            out.append(
                goal(
                    "structured faster than every PyG variant measured in that cell",
                    slower,
                    ", ".join(f"{p['method']} {p['median_ms']:,.1f} ms" for p in pyg),
                )
            )
    else:
        out.append(
            goal(
                "structured >= 40x faster than release-style (8x7x7, B=8, K=2)",
                None,
                "the cell is missing from the JSON",
            )
        )
    cell = dict(grid="8x7x7", B=8, K=10, mode="fwd+bwd")
    s = find(rows, method="structured", **cell)
    for base in ("pyg-edge", "release", "pyg-csr"):
        b = s and find(rows, method=base, file=s["file"], **cell)
        if s and b and b.get("peak_mb") and s.get("peak_mb") is not None:
            ratio = s["peak_mb"] / b["peak_mb"]
            out.append(
                goal(
                    f"propagation memory at K=10 <= 1/20 of {base}'s (peak, "
                    "8x7x7, B=8, forward+backward)",
                    ratio <= 1 / 20,
                    f"structured {s['peak_mb']:,.1f} MB vs {base} {b['peak_mb']:,.1f} MB "
                    f"= 1/{1 / max(ratio, 1e-12):,.0f} ({b['file']})",
                )
            )
        else:
            out.append(
                goal(
                    f"propagation memory at K=10 <= 1/20 of {base}'s",
                    None,
                    "the cell is missing or was skipped",
                )
            )
    cell = dict(grid="8x7x7", B=8, K=10, mode="fwd+bwd+w")  # learnable per-type weights
    s = find(rows, method="structured", **cell)
    b = s and find(rows, method="pyg-edge", file=s["file"], **cell)
    if s and b and b.get("saved_mb"):
        out.append(
            f"- learnable edge weights, K=10 (8x7x7, B=8): autograd keeps {s['saved_mb']:,.1f} MB "
            f"for structured (K*N*C floats) vs {b['saved_mb']:,.1f} MB for pyg-edge (K*E*C); "
            f"peak {s['peak_mb']:,.1f} vs {b['peak_mb']:,.1f} MB ({s['file']})"
        )
    hit = find(data.get("batching", []), operation="gcn_graph cache hit, edge layout (pyg-edge)")
    if hit:
        out.append(
            goal(
                "batching a cached template < 0.1 ms",
                hit["median_ms"] < 0.1,
                f"cached normalised batched graph fetched in {hit['median_ms']:.4f} ms "
                f"(median; {hit['file']}); see the per-forward graph cost table for "
                "tiling without the per-batch-size cache",
            )
        )
    return out


def head_goals(data: dict) -> list[str]:
    rows, out = data["results"], []
    auto, rel = find(rows, part="b", variant="auto"), find(rows, part="b", variant="release")
    if auto and "propagation_share_pct" in auto:
        detail = (
            f"{auto['propagation_share_pct']:.2f}% of the step "
            f"({auto['propagation_ms']:,.1f} of {auto['step_ms']:,.0f} ms; {auto['file']})"
        )
        if rel and "propagation_share_pct" in rel:
            detail += f"; release-style: {rel['propagation_share_pct']:.1f}%"
        out.append(
            goal(
                "head-only training on tokens: propagation <= 2% of the step",
                auto["propagation_share_pct"] <= 2,
                detail,
            )
        )
        speeds = ", ".join(
            f"{r['variant']} {r['clips_per_s']:.2f}" for r in rows if r["part"] == "b"
        )
        out.append(f"- clips per second, head-only (batch {auto['batch']}): {speeds}")
    else:
        out.append(goal("head-only: propagation <= 2% of the step", None, "part (b) missing"))
    full = [r for r in rows if r["part"] == "a" and "head_share_pct" in r]
    if full:
        out.append(
            f"- full training step, {full[0]['grid']} tokens, batch {full[0]['batch']} "
            f"({full[0]['file']}): "
            + "; ".join(
                f"{r['variant']}: step {r['step_ms'] / 1e3:,.1f} s, head "
                f"{r['head_share_pct']:.1f}%, propagation "
                f"{r['propagation_share_pct']:.3f}%"
                for r in full
            )
        )
    return out


def propagation_section(data: dict, path: Path) -> str:
    cols = [
        "grid",
        "B",
        "K",
        "method",
        "mode",
        "median_ms",
        "min_ms",
        "speedup_vs_release",
        "peak_mb",
        "saved_mb",
        "max_abs_diff",
        "repeats",
        "note",
    ]
    text = [
        f"## Propagation: {path.name} (bench_propagation.py)\n",
        provenance(data, path),
        f"\n`pyg` runs `{data.get('pyg_default')}` by default. Speed-up = release-style "
        "median / method median in the same cell; `max_abs_diff` is against the first "
        "method of the cell (release-style when it ran). Peak memory: CPU peak resident "
        "set above the start of the call (CUDA: peak allocated); saved: what autograd "
        "keeps for backward.\n",
        table(data["results"], cols),
    ]
    if data.get("batching"):
        text += [
            "\n### Per-forward graph cost (grid 8x7x7, B=8)\n",
            table(data["batching"], ["operation", "median_ms", "min_ms", "repeats"]),
        ]
    return "\n".join(text)


def head_section(data: dict, path: Path) -> str:
    cols = [
        "part",
        "variant",
        "method",
        "grid",
        "batch",
        "step_ms",
        "min_step_ms",
        "clips_per_s",
        "head_ms",
        "head_share_pct",
        "propagation_ms",
        "propagation_share_pct",
        "steps",
    ]
    return "\n".join(
        [
            f"## Training step: {path.name} (bench_head.py)\n",
            provenance(data, path),
            table(data["results"], cols),
        ]
    )


def generic_section(data, path: Path) -> str:
    title = data.get("benchmark", path.stem) if isinstance(data, dict) else path.stem
    text = [f"## {title} ({path.stem}.py)\n"]
    if not isinstance(data, dict):
        return text[0] + (table(data) if isinstance(data, list) else f"`{data!r}`\n")
    text.append(provenance(data, path))
    scalars = {
        k: v
        for k, v in data.items()
        if isinstance(v, SCALARS) and k not in ("command", "benchmark")
    }
    if "command" not in data:
        text.append("- (this JSON records no command; see its script)\n")
    if scalars:
        text.append("\n" + "\n".join(f"- {k}: {fmt(v)}" for k, v in scalars.items()) + "\n")
    for key, value in data.items():
        if isinstance(value, dict) and key != "machine":  # e.g. a "meta" block
            items = [
                f"- {k}: " + (fmt(v) if isinstance(v, SCALARS) else f"`{json.dumps(v)}`")
                for k, v in value.items()
            ]
            text.append(f"\n{key}:\n\n" + "\n".join(items) + "\n")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            text += [f"\n### {key}\n", table(value)]
    return "\n".join(text)


GPU_COLUMNS = {
    "training": ["precision", "propagation", "batch", "frames", "clips_per_s", "step_ms",
                 "peak_memory_mb", "logits_max_abs_diff", "logits_rel_diff", "top1_agreement",
                 "loss_max_abs_diff", "skipped_steps", "finite", "error", "note"],
    "propagation": ["method", "mode", "grid", "B", "C", "K", "median_ms", "min_ms",
                    "max_abs_diff_vs_pyg_edge", "note"],
    "graph_heads": ["head", "precision", "attention", "grid", "B", "median_ms", "min_ms",
                    "peak_memory_mb", "note", "error"],
    "dataloader": ["workers", "clips", "frames", "source", "first_batch_s", "clips_per_s",
                   "clips_per_s_incl_start"],
}
GPU_PENDING = (
    "## GPU check (benchmarks/gpu_check.py)\n\n"
    "**Pending: no GPU was available to this project, so there are no CUDA figures yet.** "
    "On one GPU, `python benchmarks/gpu_check.py` (under 8 minutes) trains tag_r2plus1d_34 "
    "(gym99) in fp32, AMP fp16 and AMP bf16 (clips/s, peak memory, logits and loss agreement), "
    "times every propagation method at the Gym99 grid and measures DataLoader throughput on "
    "generated H.264 clips; then `python benchmarks/make_results.py` puts its "
    "`gpu_check.json` here. Its CPU-capable parts run with `--cpu --quick` and are tested "
    "(tests/test_benchmarks_gpu_check.py).\n"
)


def gpu_section(data: dict, path: Path) -> str:
    on_gpu = str(data.get("machine", {}).get("device", "")).startswith("cuda")
    title = f"## GPU check: {path.name} (gpu_check.py)"
    if not on_gpu:
        title += ", a CPU run: no GPU figures"
    text = [title + "\n", provenance(data, path)]
    if data.get("settings"):
        text.append("- settings: " + ", ".join(f"{k} {v}" for k, v in data["settings"].items()))
    if data.get("total_s") is not None:
        text.append(f"- total time: {data['total_s']:.0f} s")
    for key, columns in GPU_COLUMNS.items():
        if data.get(key):
            text += [f"\n### {key}\n", table(data[key], columns)]
    return "\n".join(text)


def graph_heads_section(data: dict, path: Path) -> str:
    """graph_heads.py: top-1 of every graph head with and without the graph, over seeds."""
    return "\n".join([
        f"## Graph heads with and without the graph: {path.name} (graph_heads.py)\n",
        provenance(data, path),
        f"- config: {data.get('config')}, seeds {' '.join(map(str, data.get('seeds', [])))}",
        *([f"- note: {data['note']}"] if data.get("note") else []),
        "\nTop-1 %, mean ± sample std over seeds; Δ: difference to the same head without "
        "the graph, paired by seed, with its 95% t interval.\n",
        data.get("table", ""), ""])


def sweeps_section(data: dict, path: Path) -> str:
    """table4.py / topology_ladder.py: one ``tagnet ablate`` table per setting or study, as the
    sweep printed it, with its command; the per-seed records stay in the JSON."""
    titles = {"table4": "Table 4 on the benchmarks with headroom",
              "topology_ladder": "The topology ladder: graph-only heads"}
    key = "settings" if data["benchmark"] == "table4" else "studies"
    text = [f"## {titles[data['benchmark']]}: {path.name} ({path.stem}.py)\n",
            provenance(data, path)]
    for name, entry in data.get(key, {}).items():
        seeds = " ".join(map(str, entry.get("seeds", [])))
        text += [f"\n### {name}: {entry.get('config')}, seeds {seeds}\n",
                 *([f"`{entry['command']}`\n"] if entry.get("command") else []),
                 entry.get("table", "_(no table)_"), ""]
    return "\n".join(text)


def plateau_section(data: dict, path: Path) -> str:
    """plateau_check.py: runs early stopping ended below their ceiling, on the whole budget."""
    left = sum(r["left_plateau"] for r in data.get("runs", []))
    return "\n".join([
        f"## Runs stopped on a plateau: {path.name} (plateau_check.py)\n", provenance(data, path),
        f"- runs stopped early more than {data.get('margin')} points (holdout top-1) below their "
        f"construction ceiling, retrained with train.early_stop=false: {len(data.get('runs', []))}"
        f", of which {left} gained more than {data.get('gain')} points of test top-1"
        + (f" (seeds {' '.join(map(str, data['seeds']))} only)" if data.get("seeds") else "")
        + "\n",
        data.get("table", ""), ""])


def _ratio(num: dict | None, den: dict | None, key: str) -> float | None:
    if not num or not den or num.get(key) is None or not den.get(key):
        return None
    return num[key] / den[key]


def attention_goals(data: dict) -> list[str]:
    """The targets of issue 28 that this file's cells measure (wall and CPU-time ratios)."""
    out = []
    ops = {r["operator"]: r for r in data.get("operators", [])}

    def both(a, b, key="median_ms"):
        return _ratio(a, b, key), _ratio(a, b, "cpu_ms")

    for new, ref, speed, mem in (("transformer structured", "transformer PyG", 20, 10),
                                 ("gatv2 chunked", "gatv2 PyG", None, 4)):
        a, b = ops.get(ref), ops.get(new)
        if not a or not b:
            continue
        wall, cpu = both(a, b)
        if speed:
            out.append(goal(f"{new} >= {speed}x faster than {ref} (8x7x7, B=8, fwd+bwd)",
                            wall is not None and wall >= speed,
                            f"{wall:,.1f}x wall ({a['median_ms']:,.0f} vs {b['median_ms']:,.0f} "
                            f"ms), {cpu:,.1f}x CPU time"))
        peak = _ratio(a, b, "peak_mb")
        if peak is not None:
            out.append(goal(f"{new} >= {mem}x less peak memory than {ref}", peak >= mem,
                            f"{peak:,.1f}x ({a['peak_mb']:,.0f} vs {b['peak_mb']:,.0f} MB for "
                            f"{a['B']} clips; {b['peak_mb'] / a['B']:,.0f} MB per clip)"))
    for row in data.get("attention", []):
        if row["method"] == "structured" and row.get("speedup_vs_dense") and \
                row["topology"] in ("intra_frame", "tag") and row["grid"] == "64x7x7":
            out.append(goal(f"attention_topology={row['topology']} >= 10x faster than the dense "
                            "mask (attention alone, 64x7x7)", row["speedup_vs_dense"] >= 10,
                            f"{row['speedup_vs_dense']:,.1f}x wall, "
                            f"{row['cpu_speedup_vs_dense']:,.1f}x CPU time"))
    heads = {(r["grid"], r["head"]): r for r in data.get("heads", [])}
    t = heads.get(("64x7x7", "operator=transformer (1 layer, tag)"))
    if t:
        out.append(goal("a head with one TransformerConv layer on tag <= 1.5x the released head "
                        "(64x7x7)", t["x_released"] <= 1.5,
                        f"{t['x_released']:.2f}x wall, {t['cpu_x_released']:.2f}x CPU time"))
    return out


def attention_section(data: dict, path: Path) -> str:
    """bench_attention.py: operators, attention alone, encoder and heads, fwd+bwd."""
    text = [f"## {data['benchmark']}: {path.name} (bench_attention.py)\n",
            provenance(data, path),
            f"- settings: {data.get('settings')}",
            "- `cpu_ms`: the process's CPU time per call (one thread), which other jobs on the "
            "shared machine inflate far less than wall time (`median_ms`); ratios are given "
            "for both.\n",
            "\n".join(attention_goals(data)) + "\n"]
    columns = {
        "operators": ["operator", "grid", "median_ms", "cpu_ms", "x_appnp_structured",
                      "cpu_x_appnp_structured", "peak_mb", "peak_mb_per_clip", "saved_mb"],
        "attention": ["grid", "topology", "method", "edges_per_clip", "keys_per_query",
                      "median_ms", "cpu_ms", "speedup_vs_dense", "cpu_speedup_vs_dense",
                      "peak_mb"],
        "scaling": ["topology", "method", "grid", "B", "tokens", "cpu_ms", "us_per_token_cpu",
                    "median_ms", "peak_mb"],
        "encoder": ["grid", "topology", "method", "median_ms", "cpu_ms", "speedup_vs_dense",
                    "cpu_speedup_vs_dense", "peak_mb"],
        "heads": ["grid", "head", "median_ms", "cpu_ms", "x_released", "cpu_x_released",
                  "peak_mb", "saved_mb"],
    }
    for key, cols in columns.items():
        if data.get(key):
            text += [f"\n### {key}\n", table(data[key], cols)]
    return "\n".join(text)


SECTIONS = {"propagation": propagation_section, "head": head_section, "gpu_check": gpu_section,
            "graph_heads": graph_heads_section, "table4": sweeps_section,
            "topology_ladder": sweeps_section, "plateau_check": plateau_section,
            "Graph attention whose cost follows the edges (issue 28)": attention_section}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default=str(HERE), help="where the JSON files are")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args(argv)
    paths = sorted(Path(args.dir).glob("*.json"))
    order = ("bench_propagation", "bench_head")
    paths.sort(
        key=lambda p: (
            next((i for i, o in enumerate(order) if p.stem.startswith(o)), len(order)),
            p.name,
        )
    )
    loaded = [(path, json.loads(path.read_text())) for path in paths]
    merged = {"propagation": {"results": [], "batching": []}, "head": {"results": []}}
    for path, data in loaded:
        kind = data.get("benchmark") if isinstance(data, dict) else None
        for key, rows in merged.get(kind, {}).items():
            rows += [{**r, "file": path.name} for r in data.get(key, [])]
    parts = [
        "# Benchmark results\n",
        "Generated by `python benchmarks/make_results.py` from the JSON files in "
        "benchmarks/; do not edit by hand. Re-run a script, then this one. Each section "
        "below names its machine, command and date. The machine was shared with other "
        "engineers' jobs while these ran (see each load average): medians are inflated and "
        "noisy, the min columns show the least disturbed run.\n",
        "## Goals of issue 6\n",
        "\n".join(propagation_goals(merged["propagation"]) + head_goals(merged["head"])),
        "",
    ]
    for path, data in loaded:
        kind = data.get("benchmark") if isinstance(data, dict) else None
        parts.append(SECTIONS.get(kind, generic_section)(data, path))
    if not any(isinstance(d, dict) and d.get("benchmark") == "gpu_check"
               and str(d.get("machine", {}).get("device", "")).startswith("cuda")
               for _, d in loaded):
        parts.append(GPU_PENDING)
    Path(args.out).write_text("\n".join(parts))
    print(f"wrote {args.out} from {len(paths)} file(s): {', '.join(p.name for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
