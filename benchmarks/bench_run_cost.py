"""Seconds per headroom training run, and how to spend 2 cores on a sweep.

Every cell is a whole ``tagnet train`` process (import, data, training, test), timed
from the outside: wall seconds and the process's CPU seconds (user + system, from
``wait4``), which a shared machine's load disturbs far less than the wall time.

(a) ``--part code``: the same config run by two trees of the code, side by side as two
    1-thread processes (so both see the same load): ``--before PATH`` (a checkout of
    the older tagnet, put first on PYTHONPATH; ``tagnet.graphs`` and ``tagnet.datasets``
    still come from this tree's install) and this tree. Both runs write their
    ``last.pth``; the table says whether the weights are bit-identical.
(b) ``--part parallel``: two runs of one config as one process with 2 threads after
    the other, then as two 1-thread processes at once: the wall time of the pair.

Example (from the repository root; ``data.root`` keeps the generated tokens there; the
older tree is any commit, unpacked with ``git archive COMMIT | tar -x -C /tmp/tagnet_main``):
    python benchmarks/bench_run_cost.py --part code --before /tmp/tagnet_main \\
        --variant B+TE "model.kwargs.ablation=B+TE" \\
        --variant gatv2+max "model.kwargs.operator=gatv2 model.kwargs.readout=max"
    python benchmarks/bench_run_cost.py --part parallel --variant B+TE "model.kwargs.ablation=B+TE"
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import HERE, command_line, machine_info, print_table, write_json

ROOT = HERE.parent


def start(run_dir: Path, config: str, overrides: list[str], threads: int,
          pythonpath: str | None = None) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONWARNINGS": "ignore"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "tagnet", "train", "--config", config, "-o", str(run_dir),
           "--overwrite", "train.progress=false", *overrides]
    log = open(run_dir.parent / f"{run_dir.name}.out", "w")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return proc, time.perf_counter()


def finish(proc: subprocess.Popen, t0: float) -> dict:
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise RuntimeError(f"{shlex.join(proc.args)} failed (status {status})")
    return {"wall_s": time.perf_counter() - t0, "cpu_s": usage.ru_utime + usage.ru_stime}


def same_weights(a: Path, b: Path) -> bool:
    import torch

    wa = torch.load(a / "last.pth", weights_only=True)["model"]
    wb = torch.load(b / "last.pth", weights_only=True)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def part_code(args, work: Path) -> list[dict]:
    rows = []
    for name, overrides in args.variant:
        ov = [*shlex.split(overrides), *args.common]
        runs = {}
        procs = {tree: start(work / f"{name}_{tree}", args.config, ov, 1, path)
                 for tree, path in (("before", args.before), ("after", None))}
        for tree, (proc, t0) in procs.items():
            runs[tree] = finish(proc, t0)
        rows.append({"variant": name, "before wall s": runs["before"]["wall_s"],
                     "after wall s": runs["after"]["wall_s"],
                     "before cpu s": runs["before"]["cpu_s"], "after cpu s": runs["after"]["cpu_s"],
                     "cpu saved %": 100 * (1 - runs["after"]["cpu_s"] / runs["before"]["cpu_s"]),
                     "bit-identical": same_weights(work / f"{name}_before", work / f"{name}_after"),
                     "load1": os.getloadavg()[0]})
    return rows


def part_parallel(args, work: Path) -> list[dict]:
    rows = []
    for name, overrides in args.variant:
        ov = [*shlex.split(overrides), *args.common]
        t0 = time.perf_counter()
        serial = [finish(*start(work / f"{name}_t2_{i}", args.config, ov, 2)) for i in range(2)]
        serial_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        procs = [start(work / f"{name}_p1_{i}", args.config, ov, 1) for i in range(2)]
        par = [finish(*p) for p in procs]
        par_wall = time.perf_counter() - t0
        rows.append({"variant": name, "2 runs, 1 process x 2 threads, wall s": serial_wall,
                     "2 runs, 2 processes x 1 thread, wall s": par_wall,
                     "speed-up": serial_wall / par_wall,
                     "cpu s per run (2 threads)": sum(r["cpu_s"] for r in serial) / 2,
                     "cpu s per run (1 thread)": sum(r["cpu_s"] for r in par) / 2,
                     "load1": os.getloadavg()[0]})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=["code", "parallel"], required=True)
    p.add_argument("--config", default="headroom")
    p.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "OVERRIDES"),
                   required=True, help="a row: its name and its config overrides")
    p.add_argument("--common", nargs="*", default=[], metavar="KEY=VALUE",
                   help="overrides for every run (e.g. data.root=runs/data/headroom)")
    p.add_argument("--before", help="(code) a checkout of the older tagnet (PYTHONPATH)")
    p.add_argument("--work", help="folder for the runs (default: a temporary one)")
    p.add_argument("--out", default=str(HERE / "bench_run_cost.json"))
    args = p.parse_args()
    if args.part == "code" and not args.before:
        p.error("--part code needs --before PATH")
    info = machine_info("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = part_code(args, work) if args.part == "code" else part_parallel(args, work)
    info["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    text = print_table(rows, list(rows[0]), title=f"bench_run_cost --part {args.part}")
    write_json(args.out, {"command": command_line(), "machine": info, "part": args.part,
                          "config": args.config, "common": args.common, "rows": rows,
                          "table": text})


if __name__ == "__main__":
    main()
