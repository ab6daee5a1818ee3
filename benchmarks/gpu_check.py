"""GPU readiness check: mixed-precision training, propagation, graph heads, video loading.

Four parts, each a table and a block of ``gpu_check.json`` (rendered by make_results.py):

    training      tag_r2plus1d_34, preset gym99 (64 frames, 112 x 112, 99 classes), Adam
                  lr 1e-5: the same initial weights and batch in fp32, AMP fp16 (with a
                  GradScaler) and AMP bf16. Per precision: clips/s over the timed steps, peak
                  memory, the eval-mode logits' largest difference from fp32 and top-1
                  agreement, and the largest difference of the training losses from fp32's
                  step by step (dropout draws the same masks: one seed per precision run).
                  fp16's losses part from fp32's when the GradScaler skips steps (inf
                  gradients at its initial scale 2^16): counted in skipped_steps. A
                  precision that cannot run gets its error in the row instead.
    propagation   every propagation method (bench_propagation's) at the Gym99 grid 8 x 7 x 7,
                  C = 512, B = 8, K = 2, forward and forward + backward, with each method's
                  largest difference from pyg-edge.
    graph_heads   the released head and every graph head (attention_topology intra_frame /
                  tag by their default path, FlexAttention on CUDA where it applies, and by
                  the dense reference; operators transformer / gatv2 / rgcn) on tokens of the
                  Gym99 grid 64 x 7 x 7, C = 512, B = 8: forward + backward per precision
                  (fp32, AMP fp16, AMP bf16), ms per step, peak memory, the attention method
                  that ran. Written without a GPU at hand: its CUDA figures are its first run.
    dataloader    clips/s of VideoFolderDataset + DataLoader (64 frames, short side 128,
                  centre crop 112) over generated H.264 clips, per worker count.

On one GPU the default run takes a few minutes (under 8):

    python benchmarks/gpu_check.py                       # CUDA; writes benchmarks/gpu_check.json
    python benchmarks/make_results.py                    # renders it into RESULTS.md

``--cpu --quick`` runs every part on the CPU at tiny sizes (tag_r2plus1d_tiny, grid
2 x 3 x 3, a few small clips): what the tests run; its figures are no GPU figures.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch
import torch.nn.functional as F
from _common import HERE, command_line, machine_info, print_table, synchronize, time_fn, write_json

PRECISIONS = {"fp32": None, "amp_fp16": torch.float16, "amp_bf16": torch.bfloat16}

FULL = dict(arch="tag_r2plus1d_34", preset="gym99", model_kwargs={}, num_classes=99,
            num_frames=64, img_size=112, batch=8, steps=10, warmup=2,
            grid=(8, 7, 7), channels=512, prop_batch=8, K=2, repeats=20,
            clips=48, clip_frames=96, clip_size=(640, 360), load_frames=64, short_side=128,
            workers=[0, 2, 4, 8, 12], load_batch=8,
            head_grid=(64, 7, 7), head_batch=8, head_kwargs={"num_heads": 8, "ffn_dim": 1024})
QUICK = dict(arch="tag_r2plus1d_tiny", preset=None,
             model_kwargs={"backbone_kwargs": {"widths": [8, 8, 16, 16], "stem_mid": 8},
                           "ffn_dim": 16, "num_heads": 2},
             num_classes=5, num_frames=8, img_size=32, batch=2, steps=2, warmup=1,
             grid=(2, 3, 3), channels=16, prop_batch=2, K=2, repeats=2,
             clips=4, clip_frames=12, clip_size=(64, 48), load_frames=8, short_side=36,
             workers=[0, 1], load_batch=2,
             head_grid=(2, 3, 3), head_batch=2, head_kwargs={"num_heads": 2, "ffn_dim": 16})
#: Graph heads timed by the graph_heads part (TAGHead keyword arguments).
GRAPH_HEADS = {
    "released": {},
    "attention_topology=intra_frame": {"attention_topology": "intra_frame"},
    "attention_topology=tag": {"attention_topology": "tag"},
    "attention_topology=tag, dense": {"attention_topology": "tag", "attention_method": "dense"},
    "operator=transformer": {"operator": "transformer"},
    "operator=gatv2": {"operator": "gatv2"},
    "operator=rgcn": {"operator": "rgcn"},
}


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def check_training(cfg: dict, device: torch.device, seed: int = 0) -> list[dict]:
    """Train the same model from the same weights in each precision; one row each."""
    from tagnet import create_model

    torch.manual_seed(seed)
    kwargs = dict(cfg["model_kwargs"])
    if cfg["preset"] is None:
        kwargs.update(num_classes=cfg["num_classes"], num_frames=cfg["num_frames"],
                      img_size=cfg["img_size"])
    if cfg.get("propagation"):
        kwargs["propagation"] = cfg["propagation"]
    model = create_model(cfg["arch"], preset=cfg["preset"], **kwargs).to(device)
    prop = getattr(model.head, "propagation", None)
    method = prop.resolved_method() if prop is not None else None
    init = copy.deepcopy(model.state_dict())
    gen = torch.Generator().manual_seed(seed)
    shape = (cfg["batch"], 3, cfg["num_frames"], cfg["img_size"], cfg["img_size"])
    clips = torch.randn(shape, generator=gen).to(device)
    labels = torch.randint(0, cfg["num_classes"], (cfg["batch"],), generator=gen).to(device)
    rows, reference = [], None
    for name, dtype in PRECISIONS.items():
        row = {"precision": name, "arch": cfg["arch"], "preset": cfg["preset"],
               "propagation": method, "batch": cfg["batch"], "frames": cfg["num_frames"],
               "steps": cfg["steps"]}
        if dtype is torch.float16 and device.type == "cpu" and not _cpu_fp16_autocast():
            rows.append({**row, "note": "skipped: this torch has no float16 autocast on CPU"})
            continue
        try:
            row.update(_train(model, init, clips, labels, dtype, cfg, device, seed, reference))
        except (RuntimeError, NotImplementedError) as e:  # a precision this setup cannot run
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        if reference is None and "error" not in row:
            reference = (row.pop("_logits"), row.pop("_losses"))
        row.pop("_logits", None)
        row.pop("_losses", None)
        rows.append(row)
    return rows


def _train(model, init, clips, labels, dtype, cfg, device, seed, reference) -> dict:
    """One precision: eval-mode logits, then the timed training steps."""
    row = {}
    model.load_state_dict(init)
    amp = dict(device_type=device.type, dtype=dtype, enabled=dtype is not None)
    model.eval()
    with torch.no_grad(), torch.autocast(**amp):
        logits = model(clips).float()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    torch.manual_seed(seed + 1)  # the same dropout masks in every precision
    _peak_reset(device)
    losses, times, skipped = [], [], 0
    for step in range(cfg["warmup"] + cfg["steps"]):
        synchronize(device)
        t0 = time.perf_counter()
        with torch.autocast(**amp):
            out = model(clips)
        loss = F.cross_entropy(out.float(), labels)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scale = scaler.get_scale() if scaler.is_enabled() else None
        scaler.step(opt)
        scaler.update()
        skipped += scale is not None and scaler.get_scale() < scale  # inf/NaN: step skipped
        synchronize(device)
        if step >= cfg["warmup"]:
            times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    row.update(clips_per_s=cfg["batch"] * len(times) / sum(times),
               step_ms=1e3 * sum(times) / len(times), peak_memory_mb=_peak_mb(device),
               first_loss=losses[0], last_loss=losses[-1], skipped_steps=int(skipped),
               finite=bool(torch.isfinite(torch.tensor(losses)).all()))
    if reference is None:
        row.update(_logits=logits, _losses=losses)
    else:
        ref_logits, ref_losses = reference
        row.update(
            logits_max_abs_diff=float((logits - ref_logits).abs().max()),
            logits_rel_diff=float((logits - ref_logits).abs().max()
                                  / ref_logits.abs().max().clamp_min(1e-12)),
            top1_agreement=float((logits.argmax(1) == ref_logits.argmax(1)).float().mean()),
            loss_max_abs_diff=max(abs(a - b) for a, b in zip(losses, ref_losses,
                                                              strict=True)))
    return row


def _cpu_fp16_autocast() -> bool:
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            torch.ones(2, 2) @ torch.ones(2, 2)
        return True
    except (RuntimeError, AssertionError):
        return False


def check_propagation(cfg: dict, device: torch.device) -> list[dict]:
    """Each propagation method at the grid of ``cfg``: forward and forward + backward."""
    from bench_propagation import METHODS, make_call, make_method

    from tagnet.graphs import TokenGrid

    grid, B, C, K = TokenGrid(*cfg["grid"]), cfg["prop_batch"], cfg["channels"], cfg["K"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(B, grid.num_nodes, C, generator=gen).to(device)
    grad = torch.randn(x.shape, generator=gen).to(device)
    rows, reference = [], None
    for name in ("pyg-edge", *[m for m in METHODS if m != "pyg-edge"]):
        fn = make_method(name, grid, B, K, 0.1, device, torch.float32)
        for mode in ("fwd", "fwd+bwd"):
            row = {"method": name, "mode": mode, "grid": str(grid), "B": B, "C": C, "K": K}
            if isinstance(fn, str):
                rows.append({**row, "note": fn})
                continue
            with torch.no_grad():
                out = fn(x)
            if reference is None:
                reference = out
            row["max_abs_diff_vs_pyg_edge"] = float((out - reference).abs().max())
            call = make_call(fn, x.detach().requires_grad_(mode != "fwd"), grad, mode)
            t = time_fn(call, device=device, warmup=2, repeats=cfg["repeats"])
            rows.append({**row, "median_ms": t["median_ms"], "min_ms": t["min_ms"],
                         "repeats": t["repeats"]})
    return rows


def check_graph_heads(cfg: dict, device: torch.device) -> list[dict]:
    """Every head of :data:`GRAPH_HEADS` on tokens, forward + backward, in each precision."""
    from tagnet.graphs import TokenGrid
    from tagnet.models.head import TAGHead

    grid, B, C = TokenGrid(*cfg["head_grid"]), cfg["head_batch"], cfg["channels"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(B, C, grid.T, grid.H, grid.W, generator=gen).to(device)
    rows = []
    for name, kwargs in GRAPH_HEADS.items():
        torch.manual_seed(0)
        head = TAGHead(grid, cfg["num_classes"], in_channels=C, dropout=0.0,
                       **cfg["head_kwargs"], **kwargs).to(device).train()
        resolve = getattr(head.encoder, "resolved_method", None)
        probe = torch.empty(1, 1, C, device=device)  # tokens: the device is what counts
        for precision, dtype in PRECISIONS.items():
            row = {"head": name, "precision": precision, "grid": str(grid), "B": B, "C": C,
                   "attention": resolve(probe) if resolve else None}
            if dtype is torch.float16 and device.type == "cpu" and not _cpu_fp16_autocast():
                rows.append({**row, "note": "skipped: this torch has no float16 autocast on CPU"})
                continue

            def step(head=head, dtype=dtype):
                with torch.autocast(device.type, dtype=dtype or torch.float32,
                                    enabled=dtype is not None):
                    out = head(x)
                out.float().logsumexp(1).mean().backward()

            try:
                _peak_reset(device)
                t = time_fn(step, device=device, warmup=1, repeats=cfg["repeats"])
                row.update(median_ms=t["median_ms"], min_ms=t["min_ms"], repeats=t["repeats"],
                           peak_memory_mb=_peak_mb(device))
            except (RuntimeError, NotImplementedError) as e:  # a precision this path cannot run
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            rows.append(row)
    return rows


def write_clips(root: Path, count: int, frames: int, size: tuple[int, int], fps: int = 25
                ) -> list[Path]:
    """``count`` H.264 clips of moving noise in 4 class folders under ``root``."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    w, h = size
    base = rng.integers(0, 256, (h + frames, w + frames, 3), dtype=np.uint8)
    paths = []
    for k in range(count):
        path = root / f"class{k % 4}" / f"clip{k:03d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast",
                                                                   "crf": "23"})
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for i in range(frames):
                img = np.ascontiguousarray(base[i:i + h, (i + k) % frames:(i + k) % frames + w])
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        paths.append(path)
    return paths


def check_dataloader(cfg: dict, device: torch.device, root: Path | None = None) -> list[dict]:
    """Clips/s of the video pipeline per DataLoader worker count (batches moved to device)."""
    from torch.utils.data import DataLoader

    from tagnet.datasets import VideoFolderDataset
    from tagnet.datasets.transforms import test_transform

    with tempfile.TemporaryDirectory(dir=root) as tmp:
        t0 = time.perf_counter()
        write_clips(Path(tmp), cfg["clips"], cfg["clip_frames"], cfg["clip_size"])
        made = time.perf_counter() - t0
        ds = VideoFolderDataset(tmp, num_frames=cfg["load_frames"], short_side=cfg["short_side"],
                                transform=test_transform(cfg["img_size"],
                                                         resize=cfg["short_side"]))
        rows = []
        for workers in cfg["workers"]:
            loader = DataLoader(ds, batch_size=cfg["load_batch"], num_workers=workers,
                                pin_memory=device.type == "cuda", collate_fn=_collate)
            t0 = time.perf_counter()
            first, n = None, 0
            for clips, _ in loader:
                clips = clips.to(device, non_blocking=True)
                n += clips.size(0)
                if first is None:
                    synchronize(device)
                    first = time.perf_counter()
            synchronize(device)
            end = time.perf_counter()
            rest = n - cfg["load_batch"]
            rows.append({"workers": workers, "clips": n, "frames": cfg["load_frames"],
                         "source": f"{cfg['clip_size'][0]}x{cfg['clip_size'][1]} H.264, "
                                   f"{cfg['clip_frames']} frames",
                         "first_batch_s": first - t0,
                         "clips_per_s": rest / (end - first) if rest > 0 else None,
                         "clips_per_s_incl_start": n / (end - t0),
                         "generate_s": made})
    return rows


def _collate(batch):
    return torch.stack([b[0] for b in batch]), torch.tensor([b[1] for b in batch])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda[:i] (default) or cpu")
    parser.add_argument("--cpu", action="store_true", help="same as --device cpu")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (tag_r2plus1d_tiny, a 2x3x3 grid, small clips)")
    parser.add_argument("--parts", nargs="+",
                        default=["training", "propagation", "graph_heads", "dataloader"],
                        choices=["training", "propagation", "graph_heads", "dataloader"])
    parser.add_argument("--batch-size", type=int, help="training batch (8; quick 2)")
    parser.add_argument("--steps", type=int, help="timed training steps (10; quick 2)")
    parser.add_argument("--workers", type=int, nargs="+", help="DataLoader worker counts")
    parser.add_argument("--propagation", help="the model's propagation= (its default; e.g. "
                        "auto, structured, pyg)")
    parser.add_argument("--tmp", help="folder for the generated clips (system temp)")
    parser.add_argument("--out", help="JSON output (benchmarks/gpu_check.json; with --cpu "
                        "benchmarks/gpu_check_cpu.json)")
    args = parser.parse_args(argv)
    device = torch.device("cpu" if args.cpu else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("CUDA is not available here; use --cpu --quick for the CPU-capable parts")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    cfg = dict(QUICK if args.quick else FULL)
    for key, value in (("batch", args.batch_size), ("steps", args.steps),
                       ("workers", args.workers), ("propagation", args.propagation)):
        if value is not None:
            cfg[key] = value
    out = Path(args.out or HERE / ("gpu_check_cpu.json" if device.type == "cpu"
                                   else "gpu_check.json"))
    machine = machine_info(str(device))
    print(f"machine: {machine}\ncommand: {command_line()}", flush=True)
    payload = {"benchmark": "gpu_check", "machine": machine, "command": command_line(),
               "quick": args.quick,
               "settings": {"cudnn_benchmark": torch.backends.cudnn.benchmark,
                            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                            "cuda": torch.version.cuda}}
    started = time.perf_counter()
    if "training" in args.parts:
        payload["training"] = check_training(cfg, device)
        print_table(payload["training"], ["precision", "clips_per_s", "step_ms",
                                          "peak_memory_mb", "logits_max_abs_diff",
                                          "top1_agreement", "loss_max_abs_diff", "note",
                                          "error"],
                    "training steps")
    if "propagation" in args.parts:
        payload["propagation"] = check_propagation(cfg, device)
        print_table(payload["propagation"], ["method", "mode", "grid", "median_ms", "min_ms",
                                             "max_abs_diff_vs_pyg_edge", "note"], "propagation")
    if "graph_heads" in args.parts:
        payload["graph_heads"] = check_graph_heads(cfg, device)
        print_table(payload["graph_heads"], ["head", "precision", "attention", "median_ms",
                                             "min_ms", "peak_memory_mb", "note", "error"],
                    "graph heads (fwd+bwd on tokens)")
    if "dataloader" in args.parts:
        payload["dataloader"] = check_dataloader(cfg, device, args.tmp and Path(args.tmp))
        print_table(payload["dataloader"], ["workers", "clips", "first_batch_s", "clips_per_s",
                                            "clips_per_s_incl_start"], "video loading")
    payload["total_s"] = time.perf_counter() - started
    os.makedirs(out.parent, exist_ok=True)
    write_json(out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
