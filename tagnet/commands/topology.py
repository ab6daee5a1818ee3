"""``tagnet topology``: edge counts, degrees and propagation diagnostics of a topology."""
from __future__ import annotations

import argparse
import json
import sys

from tagnet.commands._common import positive_int, safe_path

HELP = "edge counts, degree statistics and diagnostics of a graph topology on a token grid"
#: Largest diagnosis: the frame-mass diagnostics hold (nodes + edges) x frames numbers.
MAX_SIZE = 50_000_000
#: Largest grid for 'check': its propagation check builds a dense nodes x nodes matrix.
MAX_CHECK_NODES = 4096

DESCRIPTION = f"""\
Print the edges per type and the degrees of a topology on a token grid, the
spectrum of its normalised adjacency A = D^-1/2 (M+I) D^-1/2, how much of one
propagation step and of APPNP(K, alpha)'s output stays inside a node's own
frame, the weights that mean pooling after APPNP gives each frame, and
over-smoothing curves (Dirichlet energy, mean pairwise cosine vs K).

APPNP on a static graph is linear and the released head mean-pools right
after it, so the pooled feature is (1/N) sum_j w_j h_j with w = Pi_K^T 1. The
"mean readout" line prints the range of w and says whether the topology is
equivalent to no graph under the mean readout (max |w - 1| <= 1e-3): a regular
graph (intra_frame; tag at T=2) gives w = 1 exactly; otherwise it says by how
much the tokens are reweighted.

NAME is a registered topology, a parametrised one (NAME:VALUE or NAME:KEY=VALUE)
or edge sets joined by '+', each with optional parameters after ':' (positional
values first, then KEY=VALUE pairs, separated by ','):

  tagnet topology tag --grid 8x7x7
  tagnet topology tag_directed:2 --grid 8x4x4          # clique + forward + backward links
  tagnet topology intra_frame+temporal_window:2 --grid 8x7x7
  tagnet topology random_temporal:tag_directed,seed=1   # control: same counts per type
  tagnet topology random_typed:tag --grid 4x7x7          # control: degree-preserving, typed
  tagnet topology tag+knn_feature:k=4 --grid 4x7x7 --json
  tagnet topology spatial_grid:neighbours=8+similarity_aligned:k=2,radius=1 --plot out.png

`tagnet topology --list` prints every name. Data-dependent edge sets (knn_feature,
similarity_aligned) and the over-smoothing curves use --tokens (a saved tensor
(N, C) or (B, N, C), e.g. encoder outputs) or else Gaussian tokens (--channels,
--seed). --json prints every number (eigenvalues included); --plot draws them.

Size limit: the diagnostics hold about (nodes + edges) x frames numbers; a grid
and topology above {MAX_SIZE:,} of them (about 0.4 GB per copy) are refused
before any edge is built (raise it with --max-size). 'check' takes grids of at
most {MAX_CHECK_NODES} nodes (its propagation check is dense).

`tagnet topology check TARGET` runs the contract of tagnet.graphs.testing on a
topology, an edge set or a user's object MODULE:OBJECT (an EdgeSet, a function
grid -> edge_index, or a Topology), one PASS/FAIL line per check; the exit code
is 1 when a check fails. An edge set keeps the symmetric flag it was registered
with, however it is named:

  tagnet topology check tag
  tagnet topology check mypkg.topos:skip2 --grids 1x2x3 3x2x3
  tagnet topology check tag_skip2 --import mypkg.topos

--import MODULE imports a user's module first (its registrations run) for every
form of the command: diagnostics, --list and check.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help="topology name or spec such as 'intra_frame+temporal_window:k=2'")
    parser.add_argument("target", nargs="?", metavar="TARGET",
                        help="after 'check': a topology, an edge set or MODULE:OBJECT")
    parser.add_argument("--grid", default="8x7x7", help="token grid TxHxW (default 8x7x7)")
    parser.add_argument("--grids", nargs="+", metavar="TxHxW",
                        help="grids for 'check' (default 1x2x3 4x1x1 3x2x3 2x3x2)")
    parser.add_argument("--import", dest="imports", nargs="+", metavar="MODULE", default=[],
                        help="import these modules first, so that their registered edge sets "
                             "and topologies can be named (every form of the command)")
    parser.add_argument("--max-size", type=positive_int, default=MAX_SIZE, metavar="N",
                        help="refuse a diagnosis holding more than N = (nodes + edges) x frames "
                             f"numbers, before building anything (default {MAX_SIZE:,})")
    parser.add_argument("--K", type=int, default=2, help="APPNP steps (default 2, as released)")
    parser.add_argument("--alpha", type=float, default=0.1, help="APPNP teleport (0.1)")
    parser.add_argument("--edge-weights", type=float, nargs="+", metavar="W",
                        help="one weight per edge type (default: the topology's, else ones)")
    parser.add_argument("--tokens", metavar="PATH", help="token tensor file (torch.save)")
    parser.add_argument("--channels", type=int, default=64, help="channels of random tokens")
    parser.add_argument("--seed", type=int, default=0, help="seed of random tokens")
    parser.add_argument("--plot", metavar="PNG", help="write a figure of the diagnostics")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--list", action="store_true", help="list topologies and edge sets")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _tokens(args, grid):
    import torch

    if args.tokens:
        x = torch.load(args.tokens, map_location="cpu", weights_only=True)
        x = x if x.dim() == 3 else x.unsqueeze(0)
        if x.size(1) != grid.num_nodes:
            raise ValueError(f"tokens in {args.tokens!r} have shape {tuple(x.shape)}; grid {grid}"
                             f" needs (B, {grid.num_nodes}, C): pass the matching --grid")
        return x.float()
    g = torch.Generator().manual_seed(args.seed)
    return torch.randn(1, grid.num_nodes, args.channels, generator=g)


def _fmt(v: float) -> str:
    return f"{v:g}" if float(v).is_integer() else f"{v:.2f}"


def _print_tables(s: dict, curves) -> None:
    p = print
    n_types = len(s["edge_types"])
    p(f"topology {s['topology']!r} on grid {s['grid']}: {n_types} edge type(s), "
      f"weights {s['weights']}{', data-dependent' if s['dynamic'] else ''}")
    w = max([20] + [len(r["name"]) + 2 for r in s["edges"]])  # control types have long names
    p(f"{'type':<{w}}{'edges':>10}  {'in-degree min/mean/max':>24}  "
      f"{'out-degree min/mean/max':>24}  symmetric")
    for r in s["edges"]:
        deg = ["/".join(_fmt(v) for v in r[k]) for k in ("in_degree", "out_degree")]
        p(f"{r['name']:<{w}}{_fmt(r['edges']):>10}  {deg[0]:>24}  {deg[1]:>24}  "
          f"{'yes' if r['symmetric'] else 'no'}")
    d = s["degree"]
    p(f"degree with self loop (APPNP's D): min {_fmt(d['min'])}, mean {_fmt(d['mean'])}, "
      f"max {_fmt(d['max'])}; per frame {[_fmt(v) for v in d['per_frame']]}")
    if s["spectrum"] is not None:
        sp = s["spectrum"]
        # one node has no second eigenvalue: summarize() gives lambda_2 = None
        lam2 = "none (one node)" if sp["lambda_2"] is None else f"{sp['lambda_2']:.6f}"
        p(f"spectrum of A: lambda_2 = {lam2}, lambda_min = {sp['lambda_min']:.6f},"
          f" spectral gap 1 - lambda_2 = {sp['gap']:.6f}, components {sp['components']}"
          + ("" if sp["symmetric"] else " (A not symmetric: real parts)"))
    else:
        p("spectrum of A: skipped (more than 2048 nodes; call tagnet.graphs.spectrum directly)")
    p("one step of A, share of a node's update (mean per frame):")
    p(f"  {'frame':>5}  {'self':>8}  {'same frame':>10}  {'other frames':>12}")
    for t, parts in enumerate(zip(*s["step"]["per_frame"], strict=True)):
        p(f"  {t:>5}  {parts[0]:>8.4f}  {parts[1]:>10.4f}  {parts[2]:>12.4f}")
    a = s["appnp"]
    p(f"APPNP(K={a['K']}, alpha={a['alpha']}) output mass: own frame {a['own_frame']:.4f}, "
      f"other frames {a['other_frames']:.4f}; by |dt|: "
      + ", ".join(f"{dt}: {v:.4f}" for dt, v in enumerate(a["by_offset"]) if v > 0))
    pool = s["pooling"]
    p(f"mean pooling after APPNP weighs frames by {[round(v, 5) for v in pool['per_frame']]} "
      f"(1 = uniform; node range {pool['min']:.5f}..{pool['max']:.5f})")
    p(_mean_readout_line(s["mean_readout"]))
    if "time_symmetry" in s:
        p("time symmetry (graph-only heads, tagnet.graphs.time_symmetry): "
          + s["time_symmetry"]["describe"])
    if curves is not None:
        p("over-smoothing (energy relative to input / mean pairwise cosine):")
        p(f"  {'K':>4}  " + "  ".join(f"{'alpha=' + format(al, 'g'):>20}" for al in curves.alphas))
        for j, k in enumerate(curves.Ks):
            ratio, cos = curves.energy_ratio[:, j].tolist(), curves.cosine[:, j].tolist()
            cells = [f"{r:>9.4f} / {c:>7.4f}" for r, c in zip(ratio, cos, strict=True)]
            p(f"  {k:>4}  " + "  ".join(f"{c:>20}" for c in cells))


def _mean_readout_line(m: dict) -> str:
    from tagnet.graphs.diagnostics import MeanReadoutEquivalence

    keys = ("w_min", "w_max", "deviation", "tol", "dynamic")
    return "mean readout: " + MeanReadoutEquivalence(**{k: m[k] for k in keys}).describe()


def _check_size(topology, grid, limit: int) -> None:
    """Refuse, before building any edge, a diagnosis larger than ``limit`` numbers."""
    edges = topology.num_edges(grid)
    size = (grid.num_nodes + (edges or 0)) * grid.T
    if size > limit:
        count = f"{edges:,} edges" if edges is not None else "edges built from the tokens"
        raise ValueError(
            f"grid {grid} with topology {topology.name!r} has {grid.num_nodes:,} nodes and "
            f"{count}: its diagnostics would hold (nodes + edges) x frames = {size:,} numbers, "
            f"over the limit of {limit:,}; use a smaller grid or a sparser topology, or raise "
            "--max-size")


def _list() -> None:
    import inspect

    from tagnet.graphs import list_edge_sets, list_topologies, list_topology_families
    from tagnet.graphs.topology import FAMILIES

    print("topologies:", ", ".join(list_topologies()))
    print("parametrised topologies:", ", ".join(
        f"{n}:{','.join(inspect.signature(FAMILIES.get(n)).parameters)}"
        for n in list_topology_families()))
    print("edge sets:", ", ".join(list_edge_sets()))


def run(args: argparse.Namespace) -> int:
    from tagnet.graphs import TokenGrid
    from tagnet.graphs.diagnostics import oversmoothing_curves, resolve, summarize

    for module in args.imports:
        _import(module, " given to --import")
    if args.name == "check" and not args.list:
        return _check(args)
    if args.target is not None:
        raise ValueError(f"unexpected argument {args.target!r} after {args.name!r}; to check "
                         f"a topology: tagnet topology check {args.target}")
    if args.list or args.name is None:
        _list()
        return 0 if args.list else 2
    topology, grid = resolve(args.name), TokenGrid.parse(args.grid)
    _check_size(topology, grid, args.max_size)
    if args.plot:
        from tagnet.datasets.atomic import check_outputs

        check_outputs({"--plot": args.plot}, {"--tokens": args.tokens})
    tokens = _tokens(args, grid) if topology.dynamic or args.tokens else None
    try:
        summary = summarize(topology, grid, args.K, args.alpha, tokens=tokens,
                            edge_weights=args.edge_weights)
    except MemoryError as exc:  # the edge memory budget of tagnet.graphs, or a real one
        raise ValueError(str(exc) or f"out of memory on grid {grid}; use a smaller grid") from exc
    if not topology.dynamic:
        from tagnet.graphs import time_symmetry

        sym = time_symmetry(topology, grid)
        summary["time_symmetry"] = {"crosses_frames": sym.crosses_frames,
                                    "reversal_invariant": sym.reversal_invariant,
                                    "describe": sym.describe()}
    curves = None
    if 2 <= grid.num_nodes <= 20000:  # one node has no pairs to smooth
        x = tokens if tokens is not None else _tokens(args, grid)
        curves = oversmoothing_curves(x, grid, topology, alphas=(0.0, args.alpha, 0.5),
                                      edge_weights=args.edge_weights)
        summary["oversmoothing"] = dict(K=curves.Ks, alphas=curves.alphas,
                                        energy=curves.energy.tolist(),
                                        energy_ratio=curves.energy_ratio.tolist(),
                                        cosine=curves.cosine.tolist())
    if args.plot:
        from tagnet.datasets.atomic import atomic_path
        from tagnet.graphs.plotting import plot_diagnostics

        with atomic_path(args.plot, keep_suffix=True) as tmp:  # a failed write keeps the old
            plot_diagnostics(summary, topology, grid, tokens, curves, path=tmp)
        summary["plot"] = args.plot
    if args.json:
        from tagnet.eval.report import jsonable

        json.dump(jsonable(summary), sys.stdout, indent=1, allow_nan=False)  # NaN -> null
        print()
    else:
        _print_tables(summary, curves)
        if args.plot:
            print(f"figure written to {safe_path(args.plot)}")
    return 0


def _import(module: str, where: str):
    """Import a user's module; any failure is one line naming the file and line."""
    import importlib
    import importlib.util
    import traceback

    try:
        return importlib.import_module(module)
    except SyntaxError as exc:  # IndentationError included; maybe in a module it imports
        raise ValueError(f"cannot import module {module!r}{where}: {exc.msg} "
                         f"({safe_path(exc.filename or '?')}, line {exc.lineno})") from exc
    except ImportError as exc:
        raise ValueError(f"cannot import module {module!r}{where}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a user's module may raise anything at import
        try:
            origin = importlib.util.find_spec(module).origin
        except (ImportError, AttributeError, ValueError):
            origin = None
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.startswith("<frozen")]
        own = [f for f in frames if f.filename == origin] or frames
        at = f" ({safe_path(own[-1].filename)}, line {own[-1].lineno})" if own else ""
        text = " ".join(str(exc).split())
        raise ValueError(f"importing module {module!r}{where} raised "
                         f"{type(exc).__name__}: {text}{at}") from exc


def _target(spec: str):
    """A topology or edge set from a registered name, a '+' spec or MODULE:OBJECT."""
    import re

    from tagnet.graphs import get_edge_set
    from tagnet.graphs.edge_sets import EDGE_SETS
    from tagnet.graphs.topology import TOPOLOGIES

    m = re.fullmatch(r"([\w.]+):([\w.]+)", spec)
    if m:  # MODULE:OBJECT ('name:k=2' specs always hold '=')
        obj = _import(m[1], f" of {spec!r}")
        for attr in m[2].split("."):
            if not hasattr(obj, attr):
                raise ValueError(f"{m[1]!r} has no attribute {m[2]!r} (from {spec!r})")
            obj = getattr(obj, attr)
        return obj
    if spec not in TOPOLOGIES and spec in EDGE_SETS:
        return get_edge_set(spec)
    return spec  # a topology name or spec: contract() resolves it


def _check(args) -> int:
    from tagnet.graphs import TokenGrid
    from tagnet.graphs.testing import contract

    if args.target is None:
        print("tagnet topology check: error: name the topology, edge set or MODULE:OBJECT to "
              "check, e.g. 'tagnet topology check tag'", file=sys.stderr)
        return 2
    for grid in map(TokenGrid.parse, args.grids or []):
        if grid.num_nodes > MAX_CHECK_NODES:
            raise ValueError(f"grid {grid} has {grid.num_nodes:,} nodes; 'check' takes grids of "
                             f"at most {MAX_CHECK_NODES} nodes (its propagation check builds a "
                             "dense nodes x nodes matrix)")
    failed = 0
    checks = contract(_target(args.target), args.grids)
    for name, check in checks:
        try:
            check()
        except AssertionError as exc:
            failed += 1
            print(f"FAIL  {args.target}  {name}: {exc}")
        else:
            print(f"PASS  {args.target}  {name}")
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0
