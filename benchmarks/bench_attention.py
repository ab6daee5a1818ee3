"""Graph attention whose cost follows the edges (issue 28): fwd+bwd time and peak memory.

Four tables, every cell measured in one run (same machine, same load):

    operators   at 8x7x7: each graph operator alone on tag tokens (B, N, C), the new exact
                paths beside their references: transformer structured vs PyG TransformerConv,
                gatv2 chunked vs PyG GATv2Conv, rgcn (PyG), APPNP structured (the ratio's base)
    attention   the encoder's masked attention alone (q, k, v -> out; 8 heads, d = 64) per
                attention topology, structured vs the dense masked SDPA, with the keys per
                query of each plan: the cost follows W*P + D, not N^2
    scaling     (--parts scaling) that attention with the same B * N at 16x7x7 (B = 8) and
                64x7x7 (B = 2): the structured cost per token stays, the dense one grows 4x
    encoder     two encoder layers (C = 512, FFN 1024, 8 heads) with attention_topology
                intra_frame / tag: structured vs the dense masked nn.TransformerEncoder
    heads       the released head (global encoder + structured APPNP) and every graph head
                (attention topologies, operators gatv2 / rgcn / transformer, one layer, on
                tag), time and peak memory, with the ratio to the released head

All cells: forward + backward w.r.t. the input tokens and every parameter, C = 512,
B = 8, train mode with dropout 0 (with the released dropout 0.5 the dense path falls
back to materialising B x heads x N^2 attention weights; the structured path drops
weights of allowed pairs only). Peak MB: peak resident set above the start of the
call (CPU; CUDA: peak allocated), temporaries included; saved MB: what autograd keeps.

The default run (a few minutes on one core) uses 8x7x7 for the operators and heads and
16x7x7 for attention; ``--gym99`` adds the Gym99 grid 64x7x7 to attention, encoder and
heads (about half an hour on one core), where the PyG references are skipped (their
edge tensors alone exceed 10 GB); ``--grids`` names the grids instead.

Example:
    OMP_NUM_THREADS=1 python benchmarks/bench_attention.py --threads 1
    OMP_NUM_THREADS=1 python benchmarks/bench_attention.py --threads 1 --parts attention heads \
        --grids 64x7x7 --out benchmarks/bench_attention_gym99.json
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from _common import (
    add_common_args,
    command_line,
    memory_profile,
    print_table,
    setup,
    time_fn,
    track_memory,
    write_json,
)
from torch import nn

from tagnet.graphs import TokenGrid, get_topology
from tagnet.propagation import (
    GraphOperator,
    GraphPropagation,
    GraphTransformerEncoder,
    allowed_pairs,
    attention_plan,
    sparse_attention,
)

ATTENTION_TOPOLOGIES = ("none", "temporal", "intra_frame", "tag", "tag_window", "tag_dense",
                        "global")


def head_variants(grid: TokenGrid, C: int) -> dict:
    """name -> TAGHead kwargs: the released head and every graph head (cheapest last-but-one:
    an interrupted --gym99 run keeps the cells with targets)."""
    return {
        "released (global encoder + APPNP)": {},
        "operator=transformer (1 layer, tag)": dict(operator="transformer"),
        "attention_topology=tag": dict(attention_topology="tag"),
        "attention_topology=intra_frame": dict(attention_topology="intra_frame"),
        "attention_topology=tag (dense reference)": dict(attention_topology="tag",
                                                         attention_method="dense"),
        "operator=rgcn (1 layer, tag)": dict(operator="rgcn"),
        "operator=gatv2 (1 layer, tag)": dict(operator="gatv2"),
    }


def build_head(grid: TokenGrid, C: int, kwargs: dict):
    from tagnet import TAGHead

    torch.manual_seed(0)
    return TAGHead(grid, 99, in_channels=C, num_heads=8, ffn_dim=1024, dropout=0.0, **kwargs)


def operator_modules(C: int) -> dict:
    torch.manual_seed(0)
    transformer = GraphOperator("tag", C, "transformer")
    gatv2 = GraphOperator("tag", C, "gatv2")
    pyg_t, pyg_g = copy.deepcopy(transformer), copy.deepcopy(gatv2)
    pyg_t.layers[0].method = pyg_g.layers[0].method = "pyg"
    return {"appnp structured": GraphPropagation("tag", propagation="structured"),
            "transformer structured": transformer, "transformer PyG": pyg_t,
            "gatv2 chunked": gatv2, "gatv2 PyG": pyg_g,
            "rgcn PyG": GraphOperator("tag", C, "rgcn")}


#: (row, step) pairs whose memory is measured after every timing (track_memory slows allocation)
PENDING: list = []
CHECKPOINT: list = []  # (path, payload) written after every cell


def measure(row: dict, fn, args, device) -> dict:
    """Time ``fn`` into ``row`` (its memory comes later, see :data:`PENDING`); returns ``row``.

    Besides wall time, the process's CPU time per call (``cpu_ms``): with one thread it is
    the compute itself, which other jobs on a shared machine inflate far less than wall time.
    """
    cpu = []

    def timed():
        t0 = time.process_time()
        fn()
        cpu.append((time.process_time() - t0) * 1e3)

    t = time_fn(timed, device=device, warmup=args.warmup, repeats=args.repeats,
                budget_s=args.cell_budget)
    cpu = cpu[-t["repeats"]:]
    row.update(median_ms=t["median_ms"], min_ms=t["min_ms"], repeats=t["repeats"],
               times_ms=t["times_ms"], cpu_ms=statistics.median(cpu),
               cpu_times_ms=[round(c, 3) for c in cpu])
    PENDING.append((row, fn))
    if CHECKPOINT:
        write_json(*CHECKPOINT)  # partial results survive an interrupted run
    return row


def measure_memory(device) -> None:
    track_memory()
    for row, fn in PENDING:
        row.update(memory_profile(fn, device))
    PENDING.clear()


def ratios_to_first(rows: list[dict], key: str) -> list[dict]:
    """Each row's wall and CPU time as a multiple of the first row's (``key``, ``cpu_key``)."""
    for row in rows:
        row[key] = row["median_ms"] / rows[0]["median_ms"]
        row[f"cpu_{key}"] = row["cpu_ms"] / rows[0]["cpu_ms"]
    return rows


def part_operators(args, device, B, C) -> list[dict]:
    grid = TokenGrid(8, 7, 7)
    x0 = torch.randn(B, grid.num_nodes, C, device=device)
    rows = []
    for name, module in operator_modules(C).items():
        module = module.to(device).train()

        def step(m=module):
            x = x0.clone().requires_grad_()
            m(x, grid).square().mean().backward()

        row = measure({"operator": name, "grid": str(grid), "B": B, "C": C}, step, args, device)
        rows.append(row)
        print(f"  {name}: {row['median_ms']:,.1f} ms", flush=True)
    return ratios_to_first(rows, "x_appnp_structured")


def part_attention(args, device, B, grid) -> list[dict]:
    h, d = 8, 64
    gen = torch.Generator().manual_seed(0)
    q0, k0, v0 = (torch.randn(B, h, grid.num_nodes, d, generator=gen).to(device)
                  for _ in range(3))
    rows = []
    for name in args.topologies:
        plan = attention_plan(grid, name, device=device)
        mask = allowed_pairs(grid, name, device=device)
        edges = get_topology(name).num_edges(grid)
        methods = {"structured": lambda q, k, v, p=plan: sparse_attention(q, k, v, p)}
        if name in ("intra_frame", "tag") or grid.T <= 16:
            methods["dense mask"] = lambda q, k, v, m=mask: F.scaled_dot_product_attention(
                q, k, v, attn_mask=m)
        for method, fn in methods.items():
            def step(fn=fn):
                q, k, v = (t.clone().requires_grad_() for t in (q0, k0, v0))
                fn(q, k, v).square().mean().backward()

            row = measure({"topology": name, "method": method, "grid": str(grid), "B": B,
                           "edges_per_clip": edges,
                           "keys_per_query": plan.keys_per_query if method == "structured"
                           else grid.num_nodes}, step, args, device)
            rows.append(row)
            print(f"  {name} {method}: {row['median_ms']:,.1f} ms", flush=True)
    for row in rows:
        if row["method"] == "structured":
            dense = next((r for r in rows if r["topology"] == row["topology"]
                          and r["method"] == "dense mask"), None)
            row["speedup_vs_dense"] = dense and dense["median_ms"] / row["median_ms"]
            row["cpu_speedup_vs_dense"] = dense and dense["cpu_ms"] / row["cpu_ms"]
    return rows


def part_scaling(args, device) -> list[dict]:
    """Attention alone with the same B * N (and tensor sizes) at 16x7x7, B=8 and 64x7x7, B=2:
    per token, the structured cost stays while the dense one grows with N."""
    h, d = 8, 64
    rows = []
    for name in ("intra_frame", "tag"):
        for grid, B in ((TokenGrid(16, 7, 7), 8), (TokenGrid(64, 7, 7), 2)):
            plan = attention_plan(grid, name, device=device)
            mask = allowed_pairs(grid, name, device=device)
            gen = torch.Generator().manual_seed(0)
            q0, k0, v0 = (torch.randn(B, h, grid.num_nodes, d, generator=gen).to(device)
                          for _ in range(3))
            for method, fn in (("structured", lambda q, k, v, p=plan: sparse_attention(q, k, v, p)),
                               ("dense mask", lambda q, k, v, m=mask:
                                F.scaled_dot_product_attention(q, k, v, attn_mask=m))):
                def step(fn=fn, q0=q0, k0=k0, v0=v0):
                    q, k, v = (t.clone().requires_grad_() for t in (q0, k0, v0))
                    fn(q, k, v).square().mean().backward()

                row = measure({"topology": name, "method": method, "grid": str(grid), "B": B,
                               "tokens": B * grid.num_nodes}, step, args, device)
                row["us_per_token_cpu"] = 1e3 * row["cpu_ms"] / row["tokens"]
                rows.append(row)
                print(f"  {name} {method} {grid} B={B}: {row['cpu_ms']:,.1f} ms CPU", flush=True)
    return rows


def part_encoder(args, device, B, C, grid) -> list[dict]:
    x0 = torch.randn(B, grid.num_nodes, C, device=device)
    rows = []
    for name in ("intra_frame", "tag"):
        for method in ("structured", "dense"):
            torch.manual_seed(0)
            layer = nn.TransformerEncoderLayer(C, 8, 1024, dropout=0.0, batch_first=True)
            enc = GraphTransformerEncoder(layer, 2, name, grid, method).to(device).train()

            def step(m=enc):
                x = x0.clone().requires_grad_()
                m(x).square().mean().backward()

            row = measure({"topology": name, "method": method, "grid": str(grid), "B": B,
                           "C": C, "layers": 2}, step, args, device)
            rows.append(row)
            print(f"  encoder {name} {method}: {row['median_ms']:,.1f} ms", flush=True)
    for row in rows:
        if row["method"] == "structured":
            dense = next(r for r in rows if r["topology"] == row["topology"]
                         and r["method"] == "dense")
            row["speedup_vs_dense"] = dense["median_ms"] / row["median_ms"]
            row["cpu_speedup_vs_dense"] = dense["cpu_ms"] / row["cpu_ms"]
    return rows


def part_heads(args, device, B, C, grid) -> list[dict]:
    x0 = torch.randn(B, C, grid.T, grid.H, grid.W, device=device)
    rows = []
    for name, kwargs in head_variants(grid, C).items():
        if grid.T > 16 and "dense reference" in name:
            continue  # measured in the encoder table
        head = build_head(grid, C, kwargs).to(device).train()

        def step(m=head):
            x = x0.clone().requires_grad_()
            m(x).logsumexp(1).mean().backward()

        row = measure({"head": name, "grid": str(grid), "B": B, "C": C}, step, args, device)
        rows.append(row)
        print(f"  {name} at {grid}: {row['median_ms']:,.1f} ms", flush=True)
    return ratios_to_first(rows, "x_released")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--gym99", action="store_true",
                        help="run attention, encoder and heads at the Gym99 grid 64x7x7 too")
    parser.add_argument("--grids", nargs="+", default=None,
                        help="grids of the attention, encoder and heads parts (default: 16x7x7 "
                             "for attention and encoder, 8x7x7 for heads; --gym99 adds 64x7x7)")
    parser.add_argument("--topologies", nargs="+", default=list(ATTENTION_TOPOLOGIES),
                        help="attention topologies of the attention part")
    parser.add_argument("--parts", nargs="+", default=["operators", "attention", "encoder",
                                                       "heads"],
                        choices=["operators", "attention", "scaling", "encoder", "heads"])
    add_common_args(parser, "bench_attention.json")
    parser.set_defaults(repeats=3, cell_budget=60.0)
    args = parser.parse_args()
    machine = setup(args)
    device = torch.device(args.device)
    B, C = args.batch_size, args.channels
    torch.manual_seed(0)
    big = [TokenGrid(64, 7, 7)] if args.gym99 else []
    grids = [TokenGrid.parse(g) for g in args.grids] if args.grids else None
    payload = {"benchmark": "Graph attention whose cost follows the edges (issue 28)",
               "machine": machine, "command": command_line(),
               "settings": {"B": B, "C": C, "mode": "train, dropout 0, fwd+bwd",
                            "repeats": args.repeats, "warmup": args.warmup}}
    CHECKPOINT[:] = [args.out, payload]
    if "operators" in args.parts:
        print("operators at 8x7x7", flush=True)
        payload["operators"] = part_operators(args, device, B, C)
    if "attention" in args.parts:
        payload["attention"] = []
        for grid in grids or [TokenGrid(16, 7, 7), *big]:
            print(f"attention at {grid}", flush=True)
            payload["attention"] += part_attention(args, device, B, grid)
    if "scaling" in args.parts:
        print("scaling: the same B * N at two grids", flush=True)
        payload["scaling"] = part_scaling(args, device)
    if "encoder" in args.parts:
        payload["encoder"] = []
        for grid in grids or [TokenGrid(16, 7, 7), *big]:
            payload["encoder"] += part_encoder(args, device, B, C, grid)
    if "heads" in args.parts:
        payload["heads"] = []
        for grid in grids or [TokenGrid(8, 7, 7), *big]:
            payload["heads"] += part_heads(args, device, B, C, grid)
    print("peak memory of every cell", flush=True)
    measure_memory(device)
    for row in payload.get("operators", []):
        row["peak_mb_per_clip"] = row["peak_mb"] / B if row["peak_mb"] is not None else None
    if "operators" in payload:
        print_table(payload["operators"], ["operator", "median_ms", "cpu_ms",
                                           "x_appnp_structured", "cpu_x_appnp_structured",
                                           "peak_mb", "peak_mb_per_clip", "saved_mb"],
                    "operators (fwd+bwd, tag, 8x7x7)")
    if "attention" in payload:
        print_table(payload["attention"], ["grid", "topology", "method", "edges_per_clip",
                                           "keys_per_query", "median_ms", "cpu_ms",
                                           "speedup_vs_dense", "cpu_speedup_vs_dense",
                                           "peak_mb"],
                    "encoder attention alone (q, k, v -> out; 8 heads, d 64)")
    if "scaling" in payload:
        print_table(payload["scaling"], ["topology", "method", "grid", "B", "tokens", "cpu_ms",
                                         "us_per_token_cpu", "median_ms", "peak_mb"],
                    "attention alone, the same tokens per batch at two grids")
    if "encoder" in payload:
        print_table(payload["encoder"], ["grid", "topology", "method", "median_ms", "cpu_ms",
                                         "speedup_vs_dense", "cpu_speedup_vs_dense", "peak_mb"],
                    "two encoder layers with attention_topology")
    if "heads" in payload:
        print_table(payload["heads"], ["grid", "head", "median_ms", "cpu_ms", "x_released",
                                       "cpu_x_released", "peak_mb", "saved_mb"],
                    "heads (fwd+bwd)")
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
