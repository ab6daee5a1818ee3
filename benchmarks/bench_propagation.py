"""Propagation methods side by side: time, speed-up over the release-style path, memory.

Methods (all compute PyG's APPNP(K, alpha) on the clip graphs of a token batch):

    release           Batch.from_data_list every forward + APPNP (gcn_norm every call)
    pyg-edge          PyG message passing on the cached, normalised batched edge list
    pyg-csr           PyG APPNP on a cached torch.sparse CSR adjacency ("pyg" default)
    pyg-torch_sparse  PyG APPNP on a torch_sparse SparseTensor (only when installed)
    dense             one clip's dense N x N matrix, batched matmul
    structured        a T x T product along t and frame sums (tagnet.propagation.structured)

"fwd" runs under torch.no_grad(); "fwd+bwd" runs forward and backward with
respect to the tokens; "fwd+bwd+w" also with respect to learnable per-type
edge weights. Memory (backward modes): "peak MB" is the peak memory of one
call above what was in use before it (CPU: peak resident set; CUDA: peak
allocated), "saved MB" what autograd keeps for the backward pass. Memory is
measured after all timings, with glibc told to unmap freed blocks.

Example:
    OMP_NUM_THREADS=1 python benchmarks/bench_propagation.py --batch-sizes 8 --frames 8 \\
        --steps 2 10 --repeats 5
"""

from __future__ import annotations

import argparse
import time

import torch
import torch_geometric.typing as pyg_typing
from _common import (
    ReleaseStylePropagation,
    add_common_args,
    command_line,
    memory_profile,
    print_table,
    setup,
    time_fn,
    track_memory,
    write_json,
)

from tagnet.graphs import TokenGrid, batch_graphs, get_topology, tile_edges
from tagnet.graphs.batching import edge_template
from tagnet.propagation.functional import propagate, resolve_method
from tagnet.propagation.graph_cache import gcn_graph

METHODS = ("release", "pyg-edge", "pyg-csr", "pyg-torch_sparse", "dense", "structured")
MODES = ("fwd", "fwd+bwd", "fwd+bwd+w")
#: Methods whose cost grows with the edge count E (used to predict slow cells).
EDGE_METHODS = ("release", "pyg-edge", "pyg-torch_sparse")


def make_method(name: str, grid: TokenGrid, B: int, K: int, alpha: float, device, dtype):
    """A function ``(tokens, weights=None) -> tokens``, or a string saying why it cannot run."""
    if name == "release":
        module = ReleaseStylePropagation(grid, "tag", K, alpha).to(device)
        return lambda x, w=None: module(x)
    if name == "pyg-torch_sparse":
        if not pyg_typing.WITH_TORCH_SPARSE:
            return "skipped: torch_sparse is not installed (pip install -e .[sparse])"
        from torch_geometric.nn import APPNP
        from torch_sparse import SparseTensor

        (src, dst), w = gcn_graph(grid, "tag", B, device=device, dtype=dtype, layout="edge")
        n = B * grid.num_nodes
        adj_t = SparseTensor(row=dst, col=src, value=w, sparse_sizes=(n, n))
        appnp = APPNP(K, alpha, normalize=False)
        return lambda x, w=None: appnp(x.reshape(n, -1), adj_t).view_as(x)
    return lambda x, w=None: propagate(x, grid, "tag", K, alpha, method=name, edge_weights=w)


def make_call(fn, x, grad, mode: str):
    """The timed unit of ``mode``: forward only, or forward + backward."""
    if mode == "fwd":

        def call():
            with torch.no_grad():
                return fn(x)

        return call
    w = torch.ones(2, device=x.device, requires_grad=True) if mode == "fwd+bwd+w" else None

    def call():
        x.grad = None
        out = fn(x, w)
        out.backward(grad)
        return out

    return call


def bench_batching(args, grid: TokenGrid, B: int, C: int) -> list[dict]:
    """Per-forward graph cost: building a batch vs fetching the cached normalised graph."""
    from torch_geometric.data import Batch, Data

    device, rows = args.device, []
    x = torch.randn(B, grid.num_nodes, C, device=device)
    ei, _ = edge_template(grid, "tag", device)
    cases = {
        "Batch.from_data_list (release, every forward)": lambda: Batch.from_data_list(
            [Data(x=x[b], edge_index=ei) for b in range(B)]
        ),
        "batch_graphs (cached template, tiled, PyG Batch)": lambda: batch_graphs(x, grid, "tag"),
        "tile_edges of the cached template": lambda: tile_edges(ei, grid.num_nodes, B),
        "gcn_graph cache hit, edge layout (pyg-edge)": lambda: gcn_graph(
            grid, "tag", B, device=device, layout="edge"
        ),
        "gcn_graph cache hit, CSR layout (pyg-csr)": lambda: gcn_graph(
            grid, "tag", B, device=device, layout="csr"
        ),
    }
    for name, fn in cases.items():
        t = time_fn(fn, device=device, warmup=3, repeats=max(50, args.repeats))
        rows.append({"operation": name, "grid": str(grid), "B": B, **t})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--frames",
        type=int,
        nargs="+",
        default=[4, 8],
        help="token frames T' (the grid is T' x 7 x 7)",
    )
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 10], help="APPNP K values")
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["fwd", "fwd+bwd"],
        choices=MODES,
        help="fwd, fwd+bwd, and fwd+bwd+w (learnable per-type weights too)",
    )
    parser.add_argument(
        "--max-call-s",
        type=float,
        default=10.0,
        help="skip cells of edge-bound methods predicted (from their smaller "
        "cells) to take longer than this per call (10)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory pass")
    parser.add_argument(
        "--no-batching", action="store_true", help="skip the graph-batching micro-benchmark"
    )
    add_common_args(parser, "bench_propagation.json")
    args = parser.parse_args(argv)
    machine = setup(args)
    device, dtype, C = torch.device(args.device), torch.float32, args.channels
    print(f"machine: {machine}\ncommand: {command_line()}")

    results, cells, unit_cost = [], [], {}
    for T in args.frames:
        grid = TokenGrid(T, 7, 7)
        E = get_topology("tag").edges(grid)[0].size(1) + grid.num_nodes
        for B in args.batch_sizes:
            for K in args.steps:
                gen = torch.Generator().manual_seed(0)
                x = torch.randn(B, grid.num_nodes, C, generator=gen).to(device)
                grad = torch.randn(x.shape, generator=gen).to(device)
                reference = None
                for name in args.methods:
                    fn = make_method(name, grid, B, K, args.alpha, device, dtype)
                    for mode in args.modes:
                        row = {
                            "T": T,
                            "grid": str(grid),
                            "B": B,
                            "K": K,
                            "method": name,
                            "mode": mode,
                        }
                        work = B * E * K * C
                        predicted = unit_cost.get((name, mode), 0.0) * work
                        if isinstance(fn, str):
                            row["note"] = fn
                        elif mode == "fwd+bwd+w" and name == "release":
                            row["note"] = "skipped: the released head has no edge weights"
                        elif name in EDGE_METHODS and predicted > args.max_call_s:
                            row["note"] = (
                                f"skipped: predicted {predicted:.0f} s per call > --max-call-s"
                            )
                        else:
                            xm = x.detach().requires_grad_(mode != "fwd")
                            call = make_call(fn, xm, grad, mode)
                            t0 = time.perf_counter()
                            out = call().detach()  # the first warm-up call
                            row.update(
                                time_fn(
                                    call,
                                    device=device,
                                    warmup=args.warmup - 1,
                                    repeats=args.repeats,
                                    budget_s=args.cell_budget,
                                    first_s=time.perf_counter() - t0,
                                )
                            )
                            unit_cost[(name, mode)] = row["min_ms"] / 1e3 / work
                            if reference is None:
                                reference = (name, out)
                            row["reference"] = reference[0]
                            row["max_abs_diff"] = (out - reference[1]).abs().max().item()
                            cells.append((row, call))
                        results.append(row)
                        print({k: v for k, v in row.items() if k != "times_ms"}, flush=True)
    for row in results:  # speed-up over the release-style path in the same cell
        ref = next(
            (
                r
                for r in results
                if r["method"] == "release"
                and "median_ms" in r
                and all(r[k] == row[k] for k in ("T", "B", "K", "mode"))
            ),
            None,
        )
        if ref is not None and "median_ms" in row:
            row["speedup_vs_release"] = ref["median_ms"] / row["median_ms"]
    if not args.no_memory:  # after all timings: see track_memory()
        track_memory()
        for row, call in cells:
            if row["mode"] != "fwd":
                row.update(memory_profile(call, device))
    cells.clear()

    columns = [
        "grid",
        "B",
        "K",
        "method",
        "mode",
        "median_ms",
        "speedup_vs_release",
        "peak_mb",
        "saved_mb",
        "max_abs_diff",
        "repeats",
        "note",
    ]
    print_table(results, columns, "propagation")
    batching = [] if args.no_batching else bench_batching(args, TokenGrid(8, 7, 7), 8, C)
    if batching:
        print_table(
            batching,
            ["operation", "grid", "B", "median_ms", "min_ms", "repeats"],
            "per-forward graph cost",
        )
    write_json(
        args.out,
        {
            "benchmark": "propagation",
            "machine": machine,
            "command": command_line(),
            "config": vars(args),
            "pyg_default": resolve_method("pyg", "tag", dtype),
            "results": results,
            "batching": batching,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
