"""Shared helpers of the benchmark scripts: machine, timing, memory, tables, JSON.

Every script records the machine, the exact command and the date next to its
numbers, so that ``make_results.py`` can assemble RESULTS.md from the JSON
files alone.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import json
import os
import platform
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

HERE = Path(__file__).resolve().parent


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str = "cpu") -> dict:
    """CPU model, cores, threads, load, library versions, device and date (UTC)."""
    import torch_geometric

    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "platform": platform.platform(),
        "device": device,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if str(device).startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def command_line() -> str:
    """The command that ran this script, as typed from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(HERE.parent)
    except ValueError:
        pass
    env = (
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} "
        if "OMP_NUM_THREADS" in os.environ
        else ""
    )
    return env + shlex.join(["python", str(script), *sys.argv[1:]])


def add_common_args(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per cell (1)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per cell (10)")
    parser.add_argument(
        "--cell-budget",
        type=float,
        default=20.0,
        help="seconds per cell: slow cells get fewer repeats, at least 2 (20)",
    )
    parser.add_argument("--out", default=str(HERE / out), help=f"JSON output ({out})")


def synchronize(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def time_fn(
    fn: Callable[[], object],
    *,
    device="cpu",
    warmup: int = 1,
    repeats: int = 5,
    budget_s: float | None = None,
    first_s: float | None = None,
) -> dict:
    """Median wall time of ``fn()`` in ms after ``warmup`` untimed calls.

    When ``budget_s`` is given, a slow ``fn`` runs fewer times (never fewer than
    2), judged by the last warm-up call or by ``first_s``, the time of a call
    the caller made already.
    """
    first = first_s
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        first = time.perf_counter() - t0
    if budget_s is not None and first:
        repeats = max(2, min(repeats, int(budget_s / first)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "repeats": repeats,
        "times_ms": [round(t, 4) for t in times],
    }


def track_memory() -> None:
    """Make glibc map every block over 128 kB and unmap it on free, so that RSS follows tensors.

    Call it after the timings: it turns off glibc's adaptive thresholds for the
    rest of the process, and fresh mappings make later allocations slower.
    """
    _libc().mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: measurements fall back to what the RSS shows
        return type(
            "NoLibc",
            (),
            {"mallopt": staticmethod(lambda *a: 0), "malloc_trim": staticmethod(lambda *a: 0)},
        )()


def memory_profile(fn: Callable[[], object], device="cpu") -> dict:
    """Peak memory of one ``fn()`` call and what autograd saved for backward during it, in MB.

    Peak: above what was in use before the call. CUDA: ``max_memory_allocated``.
    CPU (Linux): the process's peak resident set (``VmHWM``) after resetting it
    through ``/proc/self/clear_refs``, temporaries included (call
    :func:`track_memory` first); ``None`` elsewhere. Saved: the distinct tensor
    storages that ``saved_tensors_hooks`` see (CSR parts counted).
    """
    storages: dict[int, int] = {}

    def pack(t: Tensor):
        parts = (
            (t.crow_indices(), t.col_indices(), t.values())
            if t.is_sparse_csr
            else (t,)
            if t.layout == torch.strided
            else ()
        )
        for part in parts:
            storages[part.untyped_storage().data_ptr()] = part.untyped_storage().nbytes()
        return t

    def run():
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn()

    peak = None
    if str(device).startswith("cuda"):
        dev = torch.device(device)
        synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        run()
        synchronize(dev)
        peak = torch.cuda.max_memory_allocated(dev) - base
    else:
        status = Path("/proc/self/status")
        try:
            _libc().malloc_trim(0)  # free heap pages leave the RSS: reusing them counts again
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            base = _status_kb(status, "VmRSS")
            run()
            peak = (_status_kb(status, "VmHWM") - base) * 1024
        except OSError:
            run()
    return {
        "peak_mb": None if peak is None else peak / 2**20,
        "saved_mb": sum(storages.values()) / 2**20,
    }


def _status_kb(path: Path, key: str) -> int:
    return int(re.search(rf"^{key}:\s+(\d+)", path.read_text(), re.M).group(1))


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(rows: list[dict], columns: list[str], title: str | None = None) -> str:
    """Print ``rows`` as a Markdown table with ``columns``; returns the text."""
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    text = (f"\n{title}\n\n" if title else "") + "\n".join(lines)
    print(text, flush=True)
    return text


#: per-run keys a sweep benchmark keeps in its JSON (enough to recompute every interval and p)
RECORD_KEYS = ("variant", "seed", "top1", "within_group_top1", "converged", "converged_epoch",
               "best_epoch", "train_time_s", "parameters")


def sweep_entry(result: dict, **extra) -> dict:
    """What a sweep benchmark commits of one ``tagnet ablate`` result (its ablation.json): the
    printed table, the per-row summary, Holm's settings and every run's record, trimmed."""
    return {**extra, "command": result.get("command"), "seeds": result["seeds"],
            "reference": result.get("reference"), "table": result["table"],
            "summary": result["summary"], "holm": result.get("holm"),
            "noise_floor": result.get("noise_floor"), "equivalent": result.get("equivalent"),
            "records": [{k: r[k] for k in RECORD_KEYS if k in r} for r in result["records"]]}


def add_override_args(parser: argparse.ArgumentParser, root: str) -> None:
    """The arguments every sweep benchmark takes: KEY=VALUE overrides and the sweeps' folder."""
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides for every run (e.g. train.epochs=2 for a smoke "
                        "run)")
    parser.add_argument("--root", default=root, help="folder of the sweeps")


def run_ablate(arguments: list[str], out: Path, what: str) -> dict:
    """``tagnet ablate ARGUMENTS --quiet -o OUT`` (finished runs reused); its ablation.json."""
    from tagnet.cli import main as tagnet

    code = tagnet(["ablate", *arguments, "--quiet", "-o", str(out)])
    if code:
        raise SystemExit(f"{what} failed (exit {code}); see above")
    return json.loads((out / "ablation.json").read_text())


def write_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` atomically: a crash mid-write leaves the previous file whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp, path)
    print(f"\nwrote {path}", flush=True)
    return path


def setup(args: argparse.Namespace) -> dict:
    """Apply --threads and return the machine record."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return machine_info(args.device)


class ReleaseStylePropagation(nn.Module):
    """Propagation as the authors' released head does it, for comparison.

    Every forward builds ``Batch.from_data_list`` from one ``Data`` per clip
    (a Python loop) and runs ``APPNP(K, alpha)``, which calls ``gcn_norm`` on
    the whole batch again; the clip's ``edge_index`` is built once.
    """

    def __init__(self, grid, topology="tag", K: int = 2, alpha: float = 0.1) -> None:
        super().__init__()
        from torch_geometric.nn import APPNP

        from tagnet.graphs import get_topology

        edge_index, _ = get_topology(topology).edges(grid)
        self.register_buffer("edge_index", edge_index.clone(), persistent=False)
        self.appnp = APPNP(K=K, alpha=alpha)

    def forward(self, x: Tensor, grid=None) -> Tensor:
        from torch_geometric.data import Batch, Data

        B, N, C = x.shape
        batch = Batch.from_data_list([Data(x=x[b], edge_index=self.edge_index) for b in range(B)])
        return self.appnp(batch.x, batch.edge_index).view(B, N, C)
