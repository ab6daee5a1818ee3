"""The propagation's share of a training step, with tagnet's head and a release-style head.

(a) full model: R(2+1)D-34 at 32x112x112 (token grid 4x7x7), batch 2, one
    training step after a warm-up step (forward, cross-entropy, backward, Adam);
    the head's and the propagation's share of the step. Heavy on a CPU: keep
    --full-steps at 2.
(b) head only, on token grids (the ``features`` backbone, Gym99 preset: grid
    8x7x7, 512 channels, FFN 1024, 99 classes), batch 8: clips per second and
    the propagation's share of the step.

Head variants: ``release`` rebuilds the batch with Batch.from_data_list and runs
PyG's APPNP every forward (the authors' released head; the same encoder and
classifier as tagnet's); ``pyg``, ``auto`` (structured here) are tagnet's.
Forward and backward times of the head and of the propagation are taken inside
the step with module and tensor hooks (autograd runs them in one thread). The
variants take their steps in turn, so that load changes on a shared machine
hit them alike.

Example:
    OMP_NUM_THREADS=1 python benchmarks/bench_head.py --parts b --steps 20
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from _common import (
    ReleaseStylePropagation,
    add_common_args,
    command_line,
    print_table,
    setup,
    synchronize,
    write_json,
)
from torch import nn

import tagnet

VARIANTS = ("release", "pyg", "auto")


class StageClock:
    """Forward and backward wall time of a module inside a training step (hooks)."""

    def __init__(self, module: nn.Module, device) -> None:
        self.device, self.fwd, self.bwd = device, [], []
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _now(self) -> float:
        synchronize(self.device)
        return time.perf_counter()

    def _pre(self, module, inputs):
        self._t0 = self._now()

    def _post(self, module, inputs, output):
        self.fwd.append(self._now() - self._t0)
        if output.requires_grad and inputs[0].requires_grad:
            start = []  # hooks must return None, or they replace the gradient
            output.register_hook(lambda g: start.append(self._now()) and None)
            inputs[0].register_hook(lambda g: self.bwd.append(self._now() - start[0]))

    def step_times(self) -> list[float] | None:
        """Forward + backward per step; None when the input needs no gradient (no clock)."""
        if not self.bwd or len(self.bwd) != len(self.fwd):
            return None
        return [f + b for f, b in zip(self.fwd, self.bwd, strict=True)]


class HeadClock(StageClock):
    """The head's time in a step: backbone output -> loss, backward start -> gradient at the
    backbone output. (TAGNet calls the head's methods, not ``head()``: hooks go on the trunk.)
    """

    def __init__(self, backbone: nn.Module, device) -> None:
        self.device, self.fwd, self.bwd = device, [], []
        backbone.register_forward_hook(self._post)

    def _post(self, module, inputs, output):
        self._t0 = self._now()
        if output.requires_grad:
            output.register_hook(lambda g: self.bwd.append(self._now() - self._t_loss))

    def loss_ready(self) -> None:
        self._t_loss = self._now()
        self.fwd.append(self._t_loss - self._t0)


def make_variant(model: nn.Module, variant: str) -> nn.Module:
    """A copy of ``model`` whose head propagates the ``variant`` way (same weights)."""
    model = copy.deepcopy(model)
    head = model.head
    K, alpha = head.propagation.K, head.propagation.alpha
    if variant == "release":
        head.propagation = ReleaseStylePropagation(head.grid, "tag", K, alpha)
    else:
        head.propagation.method = variant
    return model


def run_interleaved(
    models: dict[str, nn.Module], inputs, labels, steps: int, warmup: int, device
) -> dict[str, dict]:
    """Training steps of every model in turn (a load change on the shared machine hits all)."""
    runs = {}
    for name, model in models.items():
        model.train()
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        clocks = {
            "head": HeadClock(model.backbone, device),
            "propagation": StageClock(model.head.propagation, device),
        }
        runs[name] = (model, opt, clocks, [])
    for _ in range(warmup + steps):
        for model, opt, clocks, times in runs.values():
            synchronize(device)
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(inputs), labels)
            clocks["head"].loss_ready()
            loss.backward()
            opt.step()
            synchronize(device)
            times.append(time.perf_counter() - t0)
    rows = {}
    for name, (_, _, clocks, times) in runs.items():
        keep = slice(warmup, None)
        step = statistics.median(times[keep])
        row = rows[name] = {
            "step_ms": step * 1e3,
            "min_step_ms": min(times[keep]) * 1e3,
            "clips_per_s": inputs.size(0) / step,
            "steps": steps,
            "step_times_ms": [round(t * 1e3, 3) for t in times],
        }
        for stage, clock in clocks.items():
            per_step = clock.step_times()  # head-only training: the head is the whole step
            if per_step is not None:
                row[f"{stage}_ms"] = statistics.median(per_step[keep]) * 1e3
                row[f"{stage}_share_pct"] = 100 * row[f"{stage}_ms"] / row["step_ms"]
    return rows


def part(
    name: str, model: nn.Module, variants, inputs, labels, steps: int, warmup: int, device
) -> list:
    models = {v: make_variant(model, v).to(device) for v in variants}
    timed = run_interleaved(models, inputs, labels, steps, warmup, device)
    rows = []
    for variant, m in models.items():
        row = {
            "part": name,
            "variant": variant,
            "batch": inputs.size(0),
            "grid": str(model.head.grid),
            **timed[variant],
        }
        if variant != "release":
            row["method"] = m.head.propagation.resolved_method(inputs.dtype)
        rows.append(row)
        print({k: v for k, v in row.items() if k != "step_times_ms"}, flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", nargs="+", default=["a", "b"], choices=["a", "b"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=20, help="timed steps, part (b) (20)")
    parser.add_argument(
        "--full-steps",
        type=int,
        default=1,
        help="timed steps, part (a), after one warm-up step (1)",
    )
    parser.add_argument(
        "--full-variants",
        nargs="+",
        default=["release", "auto"],
        choices=VARIANTS,
        help="head variants for part (a)",
    )
    parser.add_argument("--batch", type=int, default=8, help="part (b) batch (8)")
    parser.add_argument("--full-batch", type=int, default=2, help="part (a) batch (2)")
    add_common_args(parser, "bench_head.json")
    args = parser.parse_args(argv)
    machine = setup(args)
    print(f"machine: {machine}\ncommand: {command_line()}")
    gen = torch.Generator().manual_seed(0)
    rows = []
    if "b" in args.parts:
        torch.manual_seed(0)
        model = tagnet.create_model(
            "tag_features", preset="gym99", backbone_kwargs={"source": "r2plus1d_34"}
        )
        grid = model.head.grid
        tokens = torch.randn(args.batch, 512, *grid.shape, generator=gen).to(args.device)
        labels = torch.randint(0, 99, (args.batch,), generator=gen).to(args.device)
        rows += part(
            "b", model, args.variants, tokens, labels, args.steps, args.warmup, args.device
        )
    if "a" in args.parts:
        torch.manual_seed(0)
        model = tagnet.create_model(
            "tag_r2plus1d_34", num_classes=99, num_frames=32, img_size=112, ffn_dim=1024
        )
        clips = torch.randn(args.full_batch, 3, 32, 112, 112, generator=gen).to(args.device)
        labels = torch.randint(0, 99, (args.full_batch,), generator=gen).to(args.device)
        rows += part("a", model, args.full_variants, clips, labels, args.full_steps, 1, args.device)
    columns = [
        "part",
        "variant",
        "method",
        "grid",
        "batch",
        "step_ms",
        "clips_per_s",
        "head_ms",
        "head_share_pct",
        "propagation_ms",
        "propagation_share_pct",
        "steps",
    ]
    print_table(rows, columns, "training step")
    write_json(
        args.out,
        {
            "benchmark": "head",
            "machine": machine,
            "command": command_line(),
            "config": vars(args),
            "results": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
