"""Graph operators side by side at one grid: forward+backward time, memory, MACs, GPU estimate.

Operators (each maps tokens (B, N, C) to (B, N, C) over the ``tag`` clip graphs):

    appnp-structured   the released APPNP (K=2, alpha=0.1), closed form (propagation="structured")
    appnp-pyg          the released APPNP on PyG with the cached CSR graph (propagation="pyg")
    gatv2              GraphOperator("gatv2"): GATv2Conv, 4 heads, type embedding as edge_attr
    rgcn               GraphOperator("rgcn"): RGCNConv, one relation per edge type
    transformer        GraphOperator("transformer"): TransformerConv, 4 heads, type embedding

"fwd+bwd" runs forward and backward with respect to the tokens and every parameter
of the operator. "peak MB" is the peak memory of one forward+backward above what
was in use before it (CPU: peak resident set, temporaries included), "saved MB"
what autograd keeps for backward. MACs are per forward for the whole batch
(:mod:`tagnet.complexity`'s counts: matmuls seen by the FLOP counter plus the
message passing from the graph; APPNP's sparse count).

GPU estimate (no GPU was measured): a roofline lower bound per forward+backward,
``max(3 * MACs / peak_macs, 3 * saved_bytes / bandwidth)`` (every saved
activation written once and read once in backward, and as many bytes again for
its gradient); ``--gpu-macs`` and ``--gpu-bandwidth`` set the assumed device
(defaults: 30 TMAC/s fp32-TF32 effective and 2 TB/s, an A100/H100-class card at
typical efficiency). It says whether an operator fits in memory and its order of
magnitude, not its speed.

Example:
    OMP_NUM_THREADS=2 python benchmarks/bench_operators.py --batch-size 8 --frames 8 \\
        --repeats 3
"""

from __future__ import annotations

import argparse

import torch
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
from torch.utils.flop_counter import FlopCounterMode

from tagnet.complexity import propagation_macs
from tagnet.graphs import TokenGrid, batch_graphs
from tagnet.propagation import GraphOperator, GraphPropagation

OPERATORS = ("appnp-structured", "appnp-pyg", "gatv2", "rgcn", "transformer")


def build(name: str, dim: int, layers: int, topology: str):
    if name.startswith("appnp"):
        return GraphPropagation(topology, K=2, alpha=0.1, propagation=name.split("-")[1])
    return GraphOperator(topology, dim, name, num_layers=layers)


def count_macs(module, x: torch.Tensor, grid: TokenGrid, topology: str) -> int:
    B, N, C = x.shape
    edges = batch_graphs(x, grid, topology).edge_index.size(1)
    if isinstance(module, GraphPropagation):
        return propagation_macs(B * N, edges, C, module.K)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x, grid)
    return counter.get_total_flops() // 2 + module.message_macs(B * N, edges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8, help="T' (8: Gym99's 64 frames)")
    parser.add_argument("--size", type=int, default=7, help="H' = W' (7)")
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--layers", type=int, default=1, help="operator_layers (1)")
    parser.add_argument("--topology", default="tag")
    parser.add_argument("--operators", nargs="+", default=list(OPERATORS), choices=OPERATORS)
    parser.add_argument("--gpu-macs", type=float, default=30e12, help="assumed MAC/s (30e12)")
    parser.add_argument("--gpu-bandwidth", type=float, default=2e12, help="assumed B/s (2e12)")
    add_common_args(parser, "bench_operators.json")
    args = parser.parse_args()
    machine = setup(args)
    device = torch.device(args.device)
    grid = TokenGrid(args.frames, args.size, args.size)
    B, C = args.batch_size, args.channels
    torch.manual_seed(0)
    x0 = torch.randn(B, grid.num_nodes, C, device=device)
    edges = batch_graphs(x0, grid, args.topology).edge_index.size(1)
    print(f"grid {grid}, B={B}, C={C}, topology {args.topology}: {B * grid.num_nodes} nodes, "
          f"{edges} edges", flush=True)

    modules = {n: build(n, C, args.layers, args.topology).to(device) for n in args.operators}

    def step(module):
        x = x0.clone().requires_grad_()
        module(x, grid).square().mean().backward()

    rows = []
    for name, module in modules.items():
        t = time_fn(lambda m=module: step(m), device=device, warmup=args.warmup,
                    repeats=args.repeats, budget_s=args.cell_budget)
        macs = count_macs(module, x0, grid, args.topology)
        rows.append({"operator": name, "grid": str(grid), "B": B, "C": C,
                     "layers": 0 if name.startswith("appnp") else args.layers,
                     "params": sum(p.numel() for p in module.parameters()),
                     "gmacs_fwd": macs / 1e9, **t})
        print(f"{name}: {t['median_ms']:,.1f} ms", flush=True)
    track_memory()
    for row in rows:
        mem = memory_profile(lambda m=modules[row["operator"]]: step(m), device=device)
        row["peak_mb"], row["saved_mb"] = mem["peak_mb"], mem["saved_mb"]
        compute = 3 * row["gmacs_fwd"] * 1e9 / args.gpu_macs
        traffic = 3 * row["saved_mb"] * 2**20 / args.gpu_bandwidth
        row["gpu_est_ms"] = 1e3 * max(compute, traffic)
    base = next((r["median_ms"] for r in rows if r["operator"] == "appnp-structured"), None)
    for row in rows:
        row["x_structured"] = None if base is None else row["median_ms"] / base
    print_table(rows, ["operator", "layers", "params", "gmacs_fwd", "median_ms",
                              "x_structured", "peak_mb", "saved_mb", "gpu_est_ms"],
                       title=f"fwd+bwd, grid {grid}, B={B}, C={C}, {args.topology} "
                             f"({edges} edges), device {args.device}")
    print("\n" + (note := gpu_note(rows, B)))
    write_json(args.out, {"benchmark": f"Graph operators, fwd+bwd at grid {grid}, B={B}, C={C}",
                          "machine": machine, "command": command_line(), "edges": edges,
                          "gpu_note": note,
                          "gpu_assumed": {"macs_per_s": args.gpu_macs,
                                          "bytes_per_s": args.gpu_bandwidth},
                          "results": rows})


def gpu_note(rows: list[dict], B: int) -> str:
    """What the measured memory and the roofline estimate say about a GPU, per operator."""
    parts = []
    for r in rows:
        per_clip = (r["peak_mb"] or r["saved_mb"]) / B
        parts.append(f"{r['operator']}: >= {r['gpu_est_ms']:.2f} ms (roofline) and "
                     f"~{per_clip:,.1f} MB per clip per layer, so a 16 GB card holds "
                     f"~{int(16 * 1024 / per_clip):,} clips per layer")
    return "GPU estimate (not measured; kernel launches add ~0.01-0.05 ms per op): " + \
        "; ".join(parts) + "."


if __name__ == "__main__":
    main()
