"""``tagnet atr``: figures of a trained ATR model (ATR's Figs. 4a and 5).

``tagnet atr maps`` runs N test clips through an ``atr_*`` checkpoint and writes, to --output:

.. code-block:: text

    clip000.png ...  one per clip: a grid of (1 + B) rows x T_max columns of CELL px squares
                     row 0: the input frames; row b: block b's actionness map M_t over the
                     frame it covers (per-row min-max scaled); B = blocks with a locator,
                     T_max = the most frames any of them keeps; PNG (CELL(1+B), CELL T_max)
    relation.png     the first reasoner's T x T relation A of every block, averaged over the
                     clips (Fig. 4a: the banded matrix of the shared taps, or the graph
                     reasoner's mean adjacency); one 300 x 300 px panel per block
    js.png           Fig. 4b: the Jensen-Shannon divergence (bits, 0..1) between every two
                     rows of each clip's relation, averaged over the clips
                     (tagnet.models.atr.row_js_divergence); one 300 x 300 px panel per block
    maps.pt          the numbers: {"blocks", "actionness": {block: (N, T, H, W)},
                     "relation": {block: (T, T)}, "js": {block: (T, T)},
                     "js_mean": {block: mean over the pairs t != u}, "labels", "paths"}
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from tagnet.eval.plots import save_figure

HELP = ("ATR figures: actionness maps over frames, the learned temporal relation W and the "
        "JS divergence between its rows")
DESCRIPTION = """\
Figures of an atr_* model trained with `tagnet train` (ATR's Figs. 4a and 5).

  tagnet atr maps --checkpoint runs/atr/best.pth              # 4 test clips
  tagnet atr maps --checkpoint runs/atr -n 8 --split val -o figs/atr

maps: for the first N clips of the test split (the config saved in the checkpoint,
KEY=VALUE overrides such as data.root=/data), writes clip000.png ... (rows: the input
frames, then each ATR block's actionness map M over the frames), relation.png (each
block's T x T temporal relation, averaged over the clips), js.png (the Jensen-Shannon
divergence between the relation's rows, Fig. 4b) and maps.pt (the numbers).
"""

#: Edge of one grid cell of the clip figures, in pixels.
CELL = 96


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="atr_command", metavar="FIGURE", required=True)
    maps = sub.add_parser("maps", help="actionness maps and the average relation W",
                          description=__doc__.replace(".. code-block:: text\n\n", ""),
                          formatter_class=argparse.RawTextHelpFormatter)
    maps.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                      help="config overrides, e.g. data.root=/data")
    maps.add_argument("--checkpoint", "-k", required=True,
                      help="a .pth written by tagnet train, or a run folder (best.pth)")
    maps.add_argument("--clips", "-n", type=int, default=4, help="test clips to draw (4)")
    maps.add_argument("--split", help="split (default: the config's test_split)")
    maps.add_argument("--output", "-o", help="folder (default: <run folder>/atr_maps)")
    maps.add_argument("--device", help="cpu, cuda or auto (default: the config's)")
    maps.add_argument("--debug", action="store_true", help="show tracebacks")


def run(args: argparse.Namespace) -> int:
    from tagnet.config import Config
    from tagnet.data import build_dataset
    from tagnet.datasets.atomic import atomic_path
    from tagnet.distributed import resolve_device
    from tagnet.models.atr import row_js_divergence
    from tagnet.models.atr_models import ATRNet
    from tagnet.models.factory import build_model
    from tagnet.weights import load_checkpoint

    if args.clips < 1:
        raise ValueError(f"--clips must be at least 1, got {args.clips}")
    path = Path(args.checkpoint)
    path = path / "best.pth" if path.is_dir() else path
    ckpt = load_checkpoint(path)
    cfg = Config.from_dict(ckpt["config"], where=str(path)).override(args.overrides)
    model = build_model(cfg, len(ckpt["class_names"]), load_weights=False)
    if not isinstance(model, ATRNet) or not model.atr_blocks():
        raise ValueError(f"{path} holds a {cfg.model.arch} model without ATR blocks; "
                         "tagnet atr maps needs an atr_* model")
    model.load_state_dict(ckpt["model"])
    split = args.split or cfg.data.test_split
    dataset = build_dataset(cfg, split, train=False, views=False)
    n = min(args.clips, len(dataset))
    items = [dataset[i] for i in range(n)]
    clips = torch.stack([item[0] for item in items])  # (N, 3, T, H, W)
    device = resolve_device(args.device or cfg.device)
    model = model.to(device).eval()
    records: dict[str, list[dict]] = {}
    for start in range(0, n, cfg.eval.batch_size):
        _, out = model.explain_atr(clips[start:start + cfg.eval.batch_size].to(device))
        for block, rec in out.items():
            records.setdefault(block, []).append(rec)
    merged = {b: {k: None if recs[0][k] is None else torch.cat([r[k].cpu() for r in recs])
                  for k in ("actionness", "relation")} for b, recs in records.items()}
    output = Path(args.output) if args.output else path.parent / "atr_maps"
    paths = write_atr_figures(merged, clips, output)
    js = {b: row_js_divergence(r["relation"]).mean(0) for b, r in merged.items()}
    js_mean = {b: off_diagonal_mean(d) for b, d in js.items()}
    maps = {"blocks": list(merged),
                "actionness": {b: r["actionness"] for b, r in merged.items()},
                "relation": {b: r["relation"].mean(0) for b, r in merged.items()},
                "js": js, "js_mean": js_mean,
                "labels": torch.tensor([int(item[1]) for item in items]),
                "paths": [str(item[2].get("path", "")) if len(item) > 2 and
                          isinstance(item[2], Mapping) else "" for item in items]}
    with atomic_path(output / "maps.pt") as tmp:  # a failed write keeps the previous file
        torch.save(maps, tmp)
    print(f"{n} clip(s) of split {split!r}, {len(merged)} ATR block(s): "
          f"{len(paths) - 2} clip figure(s), relation.png, js.png and maps.pt in {output}")
    print("JS divergence between the rows of W (bits, mean over t != u): " + ", ".join(
        f"{b} {v:.4f}" for b, v in js_mean.items()))
    return 0


def off_diagonal_mean(d: Tensor) -> float:
    """Mean of a ``(T, T)`` matrix over ``t != u`` (0 for ``T = 1``)."""
    T = d.size(-1)
    return float((d.sum() - d.diagonal().sum()) / (T * T - T)) if T > 1 else 0.0


def write_atr_figures(records: Mapping[str, Mapping[str, Tensor | None]], clips: Tensor,
                      output: str | Path, cell: int = CELL) -> list[Path]:
    """Write ``clip{i:03d}.png`` per clip, ``relation.png`` and ``js.png`` (layout in the
    module docstring).

    Args:
        records: per block, ``actionness`` ``(N, T, H, W)`` (``None`` without a locator) and
            ``relation`` ``(N, T, T)``, as :meth:`~tagnet.models.atr_models.ATRNet.explain_atr`
            gives them.
        clips: the input clips ``(N, 3, T_in, H, W)`` (any scale; each is min-max scaled).
        output: folder (created).
        cell (int): pixels per grid cell.

    Returns:
        The written paths, clip figures first.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    mapped = {b: r["actionness"] for b, r in records.items() if r["actionness"] is not None}
    written = []
    for i in range(clips.size(0)):
        if mapped:
            written.append(_clip_grid(clips[i], {b: m[i] for b, m in mapped.items()},
                                      output / f"clip{i:03d}.png", cell))
    from tagnet.models.atr import row_js_divergence

    relation = {b: r["relation"].mean(0) for b, r in records.items()}
    written.append(_relation_panels(relation, output / "relation.png"))
    js = {b: row_js_divergence(r["relation"]).mean(0) for b, r in records.items()}
    written.append(_relation_panels(js, output / "js.png", divergence=True))
    return written


def _figure(width_px: int, height_px: int, dpi: int):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)


def _clip_grid(clip: Tensor, maps: Mapping[str, Tensor], path: Path, cell: int) -> Path:
    import torch.nn.functional as F

    T_in, H, W = clip.shape[1:]
    frames = clip.float().permute(1, 2, 3, 0)  # (T_in, H, W, 3)
    frames = (frames - frames.min()) / (frames.max() - frames.min()).clamp(min=1e-8)
    cols = max(m.size(0) for m in maps.values())
    rows = 1 + len(maps)
    fig = _figure(cols * cell, rows * cell, cell)  # 1 inch per cell: exact pixel sizes
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw=dict(wspace=0, hspace=0))
    fig.subplots_adjust(0, 0, 1, 1, 0, 0)
    for ax in axes.flat:
        ax.set_axis_off()

    def frame_at(t: int, T: int) -> Tensor:
        return frames[min(T_in - 1, int((t + 0.5) * T_in / T))]

    for c in range(cols):
        axes[0, c].imshow(frame_at(c, cols).numpy())
    label = dict(color="white", fontsize=max(5, cell // 12), va="top", ha="left")
    axes[0, 0].text(1, 1, "frames", **label)
    for r, (block, m) in enumerate(maps.items(), start=1):
        up = F.interpolate(m.float()[:, None], size=(H, W), mode="bilinear",
                           align_corners=False)[:, 0]  # (T, H, W)
        up = (up - up.min()) / (up.max() - up.min()).clamp(min=1e-8)
        for t in range(m.size(0)):
            ax = axes[r, t]
            ax.imshow(frame_at(t, m.size(0)).mean(-1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.imshow(up[t].numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[r, 0].text(1, 1, block, **label)
    return save_figure(fig, path, dpi=cell)


def _relation_panels(relation: Mapping[str, Tensor], path: Path, side: int = 300,
                     divergence: bool = False) -> Path:
    names: Sequence[str] = list(relation)
    fig = _figure(side * len(names), side, 100)
    fig.subplots_adjust(0.08, 0.1, 0.95, 0.88, 0.35)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        w = relation[name].float()
        T = w.size(0)
        if divergence:  # JS in bits lies in [0, 1]
            ax.imshow(w.numpy(), cmap="viridis", vmin=0, vmax=1)
        else:
            ax.imshow(w.numpy(), cmap="coolwarm", vmin=-w.abs().max().item(),
                      vmax=w.abs().max().item())
        ax.set_title(f"{name} (T={T})" + (": JS(row t, row u)" if divergence else ""),
                     fontsize=8)
        ax.set_xlabel("u" if divergence else "s", fontsize=7)
        ax.set_ylabel("t", fontsize=7)
        ax.set_xticks(range(T))
        ax.set_yticks(range(T))
        ax.tick_params(labelsize=6)
        if T <= 8:
            for t in range(T):
                for s in range(T):
                    ax.text(s, t, f"{w[t, s]:.2f}", ha="center", va="center", fontsize=6)
    return save_figure(fig, path, dpi=100)
