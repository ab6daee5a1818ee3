"""``tagnet complexity``: parameters per part, GMACs, latency and peak memory of a model."""
from __future__ import annotations

import argparse
import json

HELP = "parameters per part, GMACs, latency and peak memory of a model for one clip"
DESCRIPTION = """\
Report a model's complexity for one clip of --frames x --size x --size:
parameters per part (backbone, positional, encoder, propagation, classifier,
total; "atr" for the ATR blocks of the atr_* models, with their efficient (ER)
vs graph (GR) reasoner cost, both measured), multiply-adds in GMACs
(a multiply-add counted once, as video papers count "FLOPs"; APPNP's
propagation counted exactly from the graph), the median latency of --runs
forward passes after --warmup, and peak memory (CUDA allocator peak on a GPU;
the process's peak RSS on a CPU).

examples:
  tagnet complexity --arch tag_r2plus1d_34 --preset haa500
  tagnet complexity --arch tag_r2plus1d_34 --frames 32 --ffn 2048 --classes 500 --no-timing
  tagnet complexity --arch tag_slow_r50 --frames 8 --size 224 --device cuda --json
  tagnet complexity --arch atr_tsm_r50 --frames 8 --size 224 -O ear_taps=channel --no-timing
  tagnet complexity --arch atr_tsm_r50 --frames 8 --size 224 -O stages=[S5-3] -O locator=false \
      --no-timing     # ATR-sim, one block: ER vs GR as in ATR's Table 2
  tagnet complexity --arch tag_r2plus1d_34 --preset gym99 --operator gatv2 --readout attention
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True, help="model name (see tagnet.list_models())")
    parser.add_argument("--preset", default=None, help="released configuration: gym99, gym288, "
                        "haa500 (sets classes, frames and FFN width)")
    parser.add_argument("--frames", type=int, default=None, help="input frames (model default "
                        "32, or the preset's)")
    parser.add_argument("--size", type=int, default=None, help="input height and width (the "
                        "model's default, 112)")
    parser.add_argument("--ffn", type=int, default=None, help="Transformer FFN width")
    parser.add_argument("--classes", type=int, default=None, help="number of classes")
    parser.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                        help="another model option (YAML value), repeatable, e.g. "
                        "-O ear_taps=channel -O stages=[S5-3]")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (cpu)")
    parser.add_argument("--runs", type=int, default=10, help="timed forward passes (10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes first (2)")
    parser.add_argument("--no-timing", action="store_true", help="skip latency and memory: "
                        "counts only, on the meta device (no weights, instant)")
    parser.add_argument("--readout", default=None, help="clip readout: mean (released), "
                        "attention, max, frame_temporal; counted as its own part")
    parser.add_argument("--operator", default=None, help="graph operator: appnp (released), "
                        "gatv2, rgcn, transformer; counted as its own part")
    parser.add_argument("--attention-topology", default=None,
                        help="restrict the encoder's attention to this topology")
    parser.add_argument("--json", action="store_true", help="print one JSON object with keys "
                        "params, gmacs, latency_ms, peak_mem_mb")


def _table(args, model, report) -> str:
    p, m = report.params, report.macs
    head = getattr(model, "head", None)
    grid = f", token grid {head.grid}" if hasattr(head, "grid") else ""
    lines = [f"{args.arch}" + (f" (preset {args.preset})" if args.preset else "")
             + f": input {'x'.join(map(str, report.input_shape))}{grid}, device {report.device}",
             "", f"{'part':<14}{'parameters':>14}"]
    head_parts = ("positional", "encoder", "propagation")  # a TAG-Head's; absent elsewhere
    lines += [f"{k:<14}{v:>14,}" for k, v in p.items()
              if k != "total" and (grid or v or k not in head_parts)]
    lines += [f"{'total':<14}{p['total']:>14,}", ""]
    if "atr_parts" in report.extra:
        lines[-1:-1] = ["  ATR: " + ", ".join(f"{k} {v:,}"
                                              for k, v in report.extra["atr_parts"].items())]
    cmp = report.extra.get("atr_reasoners")
    if cmp:  # both kinds measured in these blocks (tagnet.complexity.compare_reasoners)
        er, gr = cmp["efficient"], cmp["graph"]
        lines += [f"ATR reasoners ER {er['macs'] / 1e9:.4f} vs GR {gr['macs'] / 1e9:.4f} GMACs"
                  f" ({cmp['reasoner_saving']:.1%} less), {er['params']:,} vs {gr['params']:,}"
                  " parameters",
                  f"ATR blocks    with ER {er['block_macs'] / 1e9:.4f} vs with GR "
                  f"{gr['block_macs'] / 1e9:.4f} GMACs ({cmp['block_saving']:.1%} less)", ""]
    inp = getattr(model, "input_config", None)
    if inp is not None:
        lines += [f"input         {inp.describe()}", ""]
    atr = f", ATR blocks {m['atr'] / 1e9:.3f}" if "atr" in m else ""
    lines.append(f"GMACs         {report.gmacs:.3f}  (backbone {m['backbone'] / 1e9:.3f}{atr}, "
                 f"head {m['head'] / 1e9:.3f}, propagation {m['propagation'] / 1e9:.4f}"
                 + "".join(f", {k} {m[k] / 1e9:.4f}" for k in ("operator", "readout") if k in m)
                 + ")")
    if report.latency_ms is not None:
        lines.append(f"latency       {report.latency_ms:.1f} ms (median of {args.runs} after "
                     f"{args.warmup} warm-up, batch 1)")
        kind = "CUDA allocator peak" if report.memory_kind == "cuda_max_allocated" \
            else "process peak RSS"
        lines.append(f"peak memory   {report.peak_mem_mb:.1f} MiB ({kind})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import yaml

    from tagnet.complexity import complexity_report
    from tagnet.models.factory import create_model

    options = {}
    for item in args.option:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option {item!r} is not KEY=VALUE (e.g. ear_taps=channel)")
        options[key.strip()] = yaml.safe_load(raw)
    flags = dict(num_frames=("--frames", args.frames), img_size=("--size", args.size),
                 ffn_dim=("--ffn", args.ffn), num_classes=("--classes", args.classes),
                 readout=("--readout", args.readout), operator=("--operator", args.operator),
                 attention_topology=("--attention-topology", args.attention_topology))
    kwargs = {key: value for key, (_, value) in flags.items()}
    for key, value in options.items():
        flag, given = flags.get(key, (None, None))
        if given is not None and given != value:
            raise ValueError(f"--option {key}={value} contradicts {flag} {given}; give one")
        kwargs[key] = value
    model = create_model(args.arch, preset=args.preset, **kwargs)
    device = "meta" if args.no_timing else args.device
    report = complexity_report(model, device=device, runs=args.runs, warmup=args.warmup,
                               timing=not args.no_timing)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(_table(args, model, report))
    return 0
