"""Decoding throughput of ``tagnet.datasets.read_clip``: sequential vs seek, cold vs frame cache.

Generates 10 s H.264 test videos (340x256 and 1080p, each with x264's default 10 s keyframe
interval and with a 1 s one), then measures clips per second for uniformly sampled clips
(32 frames, decoded at short side 128 like the release) with each decoding strategy, with the
per-file packet index cold (first read of a file: demux pass + decode) and warm (later reads in
the same process), and from a memory-mapped FrameCache. Prints a table and writes JSON next
to this script.

    python benchmarks/bench_decode.py --frames 32 8   # ~2.5 min on 2 cores (1.5 min reusing
                                                      # the videos of --workdir)
    python benchmarks/bench_decode.py --quick         # 4 s videos, 1 repeat

With sparse sampling (``--frames 8``) and a short keyframe interval seeking wins; with 32
frames from 250 sequential decoding does; ``auto`` follows the faster one.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from _common import command_line, machine_info

from tagnet.datasets import FrameCache, read_frames, uniform_indices
from tagnet.datasets.video import INDEX_CACHE


def make_video(path: Path, width: int, height: int, seconds: float, fps: int, gop: int):
    """A moving random texture with a bright bar sweeping across: every frame differs."""
    if path.is_file():
        return path
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (height // 16 + 2, width // 16 + 2, 3), dtype=np.uint8)
    tex = np.repeat(np.repeat(tex, 16, 0), 16, 1)
    tmp = path.with_name(path.name + ".tmp")
    opts = {"crf": "23", "preset": "veryfast", "g": str(gop), "keyint_min": str(min(gop, 25))}
    with av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options=opts)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = np.roll(tex, (i, 2 * i), (0, 1))[:height, :width].copy()
            x = (i * 7) % width
            frame[:, x : x + max(width // 40, 2)] = 255
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(vf))
        out.mux(stream.encode())
    os.replace(tmp, path)
    return path


def clips_per_second(fn, repeats: int) -> tuple[float, float, float]:
    """``(clips/s, wall ms per clip, CPU ms per clip)``; CPU time (all threads of this
    process) is the steadier number on a machine shared with other jobs."""
    fn()  # warm-up: imports, OS file cache
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    dt, dc = (time.perf_counter() - t) / repeats, (time.process_time() - c) / repeats
    return 1 / dt, dt * 1000, dc * 1000


def run(args, work: Path) -> list[dict]:
    work.mkdir(parents=True, exist_ok=True)
    # the packet index only matters on a file's first read: cold/warm is measured for "auto"
    configs = [(s, "warm") for s in args.strategies if s != "auto"]
    configs += [("auto", i) for i in ("cold", "warm") if "auto" in args.strategies]
    rows = []
    for size in args.sizes:
        w, h = map(int, size.split("x"))
        for gop in args.gops:
            name = f"{w}x{h}_gop{gop}_{args.seconds:g}s.mp4"
            path = make_video(work / name, w, h, args.seconds, args.fps, gop)
            n = int(args.seconds * args.fps)
            for frames in args.frames:
                idx = uniform_indices(n, frames)
                base = {"video": f"{w}x{h}", "gop": gop, "frames": frames, "n": n}
                for strategy, index in configs:
                    used = []

                    def read(strategy=strategy, index=index, used=used, idx=idx, path=path):
                        if index == "cold":
                            INDEX_CACHE.data.clear()
                        clip = read_frames(path, idx, short_side=128, strategy=strategy)
                        used.append(
                            f"{clip.strategy} {clip.seeks}" if clip.seeks else clip.strategy
                        )

                    cps, ms, cpu = clips_per_second(read, args.repeats)
                    rows.append(
                        {
                            **base,
                            "source": f"decode, index {index}",
                            "strategy": strategy,
                            "used": used[-1],
                            "clips_per_s": cps,
                            "ms_per_clip": ms,
                            "cpu_ms_per_clip": cpu,
                        }
                    )
                    print(_line(rows[-1]), flush=True)
                cache = FrameCache(work / f"cache_{name}", short_side=128)
                t = time.perf_counter()
                added = cache.build([path], progress=False)["added"]
                build_s = time.perf_counter() - t if added else None  # built by an earlier row
                cps, ms, cpu = clips_per_second(
                    lambda cache=cache, path=path, idx=idx: cache.read(path, idx), args.repeats * 10
                )
                rows.append(
                    {
                        **base,
                        "source": "frame cache",
                        "strategy": "-",
                        "used": "-",
                        "clips_per_s": cps,
                        "ms_per_clip": ms,
                        "cpu_ms_per_clip": cpu,
                        "build_s": build_s,
                    }
                )
                print(_line(rows[-1]), flush=True)
    return rows


def _line(r: dict) -> str:
    return (
        f"{r['video']:>9} {r['gop']:>4} {r['frames']:>3}  {r['source']:<18} "
        f"{r['strategy']:<10} {r['used']:<10} {r['clips_per_s']:>9.2f} "
        f"{r['ms_per_clip']:>9.1f} {r['cpu_ms_per_clip']:>9.1f}"
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--sizes",
        nargs="+",
        default=["340x256", "1920x1080"],
        help="video sizes WxH (default: 340x256 1920x1080)",
    )
    p.add_argument(
        "--gops",
        nargs="+",
        type=int,
        default=[250, 25],
        help="keyframe intervals in frames (default: 250 = x264's, and 25 = 1 s)",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="video length (default: 10)")
    p.add_argument("--fps", type=int, default=25, help="frame rate (default: 25)")
    p.add_argument(
        "--frames",
        nargs="+",
        type=int,
        default=[32],
        help="frames per clip, uniformly sampled (default: 32)",
    )
    p.add_argument(
        "--strategies",
        nargs="+",
        default=["sequential", "seek", "auto"],
        choices=["sequential", "seek", "auto"],
    )
    p.add_argument("--repeats", type=int, default=3, help="timed reads per row (default: 3)")
    p.add_argument("--workdir", help="keep the generated videos here (default: a temp dir)")
    p.add_argument("--quick", action="store_true", help="4 s videos, 1 repeat")
    p.add_argument(
        "--out",
        default=str(Path(__file__).with_suffix(".json")),
        help="JSON output (default: next to this script)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 4.0, 1
    torch.set_num_threads(1)
    print(
        f"{'video':>9} {'gop':>4} {'T':>3}  {'source':<18} {'strategy':<10} {'used':<10} "
        f"{'clips/s':>9} {'ms/clip':>9} {'cpu ms':>9}"
    )
    machine = machine_info()  # the project's record: CPU, cores, load, versions, date
    machine.update(
        av=av.__version__, libavcodec=".".join(map(str, av.library_versions["libavcodec"]))
    )
    if args.workdir:
        rows = run(args, Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="bench_decode_") as tmp:
            rows = run(args, Path(tmp))
    payload = {"benchmark": "decode", "machine": machine, "command": command_line(),
               "settings": {k: v for k, v in vars(args).items() if k != "out"},
               "results": rows}  # fmt: skip
    tmp = Path(args.out + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
