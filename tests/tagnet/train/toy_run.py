"""A tiny TAG-Head run on in-memory toy clips, for the engine tests.

Imported by the tests (``ToyClips``, ``toy_config``) and run as a script for the
kill/resume and DDP tests::

    python toy_run.py OUT_DIR [--resume CKPT] [--subset] [--dump-rank-weights] [KEY=VALUE ...]
    torchrun --standalone --nproc_per_node 2 toy_run.py OUT_DIR train.batch_size=2 ...
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from torch.utils.data import Dataset, Subset

from tagnet.config import Config, load_config
from tagnet.train.data import RunData
from tagnet.train.run import train

CLASSES = ["left", "right", "still"]


class ToyClips(Dataset):
    """``n`` clips of 3x8x32x32: class ``c`` has a bright blob moving left, right, or still.

    Augmentation draws from torch's global generator (random flip of time and
    noise), as the video transforms do; ``delay`` seconds of sleep per item make
    a run slow enough to be killed mid-epoch.
    """

    classes = CLASSES

    def __init__(self, n: int = 24, seed: int = 0, augment: bool = True, delay: float = 0.0):
        g = torch.Generator().manual_seed(seed)
        self.targets = [i % 3 for i in range(n)]
        self.base = torch.randn(n, 3, 8, 32, 32, generator=g) * 0.3
        t = torch.arange(8)
        for i, y in enumerate(self.targets):
            x0 = int(torch.randint(4, 28, (1,), generator=g))
            pos = x0 + {0: -2, 1: 2, 2: 0}[y] * (t - 4) // 2
            for k in range(8):
                c = int(pos[k].clamp(2, 29))
                self.base[i, :, k, 12:20, c - 2:c + 2] += 2.0
        self.augment, self.delay = augment, delay

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        if self.delay:
            time.sleep(self.delay)
        x = self.base[i]
        if self.augment:
            x = x + 0.1 * torch.randn_like(x)
            if torch.rand(()) < 0.5:
                x = x.flip(-2)  # vertical flip keeps the direction of motion
        return x, self.targets[i], {"path": f"toy_{i:03d}.mp4"}


def toy_config(out_dir: str, *overrides: str) -> Config:
    """A tiny model (35k parameters) and a short schedule on the toy clips."""
    return load_config(None, [
        "model.arch=tag_r2plus1d_tiny",
        "model.kwargs={backbone_kwargs: {widths: [8, 8, 16, 16], stem_mid: 4}, ffn_dim: 32, "
        "num_heads: 2, dropout: 0.2}",
        "data.num_frames=8", "data.img_size=32", "data.num_workers=0",
        "train.epochs=2", "train.batch_size=4", "train.lr=3e-3", "train.progress=false",
        "train.log_every=1", "eval.topk=[1,2]", "eval.batch_size=4",
        f"output_dir={out_dir}", *overrides])


def toy_data(delay: float = 0.0, subset: bool = False) -> RunData:
    """Train / holdout / test toy clips; ``subset`` wraps the training clips in a
    :class:`~torch.utils.data.Subset`, as :func:`build_run_data` does with its holdout."""
    train = ToyClips(24, 0, delay=delay)
    if subset:
        train = Subset(train, list(range(len(train))))
    return RunData(train, ToyClips(6, 1, augment=False), ToyClips(9, 2, augment=False),
                   CLASSES, "holdout", "test")


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--resume")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--subset", action="store_true")
    p.add_argument("--dump-rank-weights", action="store_true")
    args = p.parse_intermixed_args(argv)
    torch.set_num_threads(1)
    cfg = toy_config(args.out_dir, *args.overrides)
    holder = {}
    if args.dump_rank_weights:  # keep a handle on the model to save every rank's weights
        import tagnet.train.run as run_mod

        build = run_mod.build_model

        def keep(*a, **k):
            holder["model"] = build(*a, **k)
            return holder["model"]

        run_mod.build_model = keep
    train(cfg, resume=args.resume, data=toy_data(args.delay, args.subset), evaluate_test=False)
    if args.dump_rank_weights:
        rank = int(os.environ.get("RANK", "0"))
        torch.save(holder["model"].state_dict(), os.path.join(args.out_dir, f"rank{rank}.pt"))
    return 0


def kill_mid_epoch_and_resume(run_dir, args: list[str], epoch: int) -> dict:
    """Run this script into ``run_dir``, SIGKILL it 3 steps into ``epoch`` (0-based), check it
    stopped mid-epoch, resume it from ``last.pth`` to the end; returns the final checkpoint."""
    import signal
    import subprocess
    from pathlib import Path

    from tagnet.weights import load_checkpoint

    run_dir = Path(run_dir)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen([sys.executable, __file__, str(run_dir), "--delay", "0.02", *args],
                            **quiet)
    log, deadline = run_dir / "log.jsonl", time.time() + 120
    marker = ('"step_in_epoch": 3', f'"epoch": {epoch}')
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and any(all(m in line for m in marker)
                                 for line in log.read_text().splitlines()):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = load_checkpoint(run_dir / "last.pth")
    assert state["epoch"] == epoch and 0 < state["step_in_epoch"] < 6  # stopped mid-epoch
    subprocess.run([sys.executable, __file__, str(run_dir), "--resume",
                    str(run_dir / "last.pth"), *args], check=True, timeout=120, **quiet)
    return load_checkpoint(run_dir / "last.pth")


if __name__ == "__main__":
    sys.exit(main())
