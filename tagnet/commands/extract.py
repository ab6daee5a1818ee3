"""``tagnet extract``: run a backbone over a dataset once and write token-grid shards."""
from __future__ import annotations

import argparse

from tagnet.commands._common import safe_path

HELP = "write a backbone's token grids for a dataset (shards with clip ids) to train heads on"
DESCRIPTION = """\
Run a (frozen) backbone over every clip of a dataset, in evaluation mode with
the test transform (short side --resize, centre crop --size), and write its
token grids (C x T' x H' x W') as shards with the clip ids and labels, plus an
index.json naming the backbone, weights and clip size. Train heads on them with
the `features` backbone:

  tagnet extract --backbone r2plus1d_34 --weights r2plus1d_34_32_ig65m.pth \\
      --dataset finegym --root /data/finegym --version gym99 --split train \\
      --frames 64 --out tokens/gym99_train --device cuda

  python -c "from tagnet.backbones import TokenShardDataset; from tagnet import create_model;
  ds = TokenShardDataset('tokens/gym99_train');
  model = create_model('tag_features', num_classes=99, **ds.model_kwargs())"

Datasets: finegym (--root, --version, --split), haa500 (--root, --split), csv (the
released CSV lists: --csv, --video-dir) and folder (one sub-folder per class: --root).
"""

DATASETS = ("finegym", "haa500", "csv", "folder")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", required=True, help="backbone name (tagnet.list_backbones())")
    parser.add_argument("--weights", help="local checkpoint file for the backbone")
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--root", help="dataset folder (finegym, haa500, folder)")
    parser.add_argument("--version", default="gym99", help="FineGym version (gym99)")
    parser.add_argument("--split", default="train", help="split (train)")
    parser.add_argument("--csv", help="released CSV list (dataset csv)")
    parser.add_argument("--video-dir", help="videos at VIDEO_DIR/{Class}/{FileName} (csv)")
    parser.add_argument("--frames", type=int, default=32, help="frames per clip (32)")
    parser.add_argument("--size", type=int, default=112, help="centre crop (112)")
    parser.add_argument("--resize", type=int, default=128, help="short side before the crop "
                        "(128)")
    parser.add_argument("--out", required=True, help="output folder for the shards")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float16", choices=("float16", "float32"),
                        help="storage dtype (float16)")
    parser.add_argument("--shard-size", type=int, default=256, help="clips per shard (256)")
    parser.add_argument("--on-error", default="raise", choices=("raise", "skip"),
                        help="missing or broken videos: stop (raise) or leave them out (skip)")


def build_dataset(args: argparse.Namespace):
    """The dataset the arguments name, with the evaluation transform."""
    from tagnet.backbones.pretrained import input_config
    from tagnet.datasets.transforms import test_transform

    inp = input_config(getattr(args, "backbone", None))  # what the backbone's weights expect
    transform = test_transform(args.size, resize=args.resize, mean=inp.mean, std=inp.std)
    common = dict(num_frames=args.frames, transform=transform, on_error=args.on_error)

    def need(*names):
        missing = [n for n in names if getattr(args, n.replace("-", "_")) is None]
        if missing:
            raise ValueError(f"--dataset {args.dataset} needs "
                             + ", ".join(f"--{n}" for n in missing))

    if args.dataset == "finegym":
        from tagnet.datasets.finegym import FineGym
        need("root")
        return FineGym(args.root, args.version, args.split, **common)
    if args.dataset == "haa500":
        from tagnet.datasets.haa500 import HAA500
        need("root")
        return HAA500(args.root, args.split, **common)
    if args.dataset == "csv":
        from tagnet.datasets.csv_dataset import CsvVideoDataset
        need("csv", "video-dir")
        return CsvVideoDataset(args.csv, args.video_dir, **common)
    from tagnet.datasets.csv_dataset import VideoFolderDataset
    need("root")
    return VideoFolderDataset(args.root, **common)


def run(args: argparse.Namespace) -> int:
    from tagnet.train.lock import FolderLock

    with FolderLock(args.out):  # one writer per output folder
        return _run_locked(args)


def _run_locked(args: argparse.Namespace) -> int:
    import torch

    from tagnet.backbones import TokenShardWriter, create_backbone, extract_tokens
    from tagnet.backbones.pretrained import input_config

    backbone = create_backbone(args.backbone, weights=args.weights)
    dataset = build_dataset(args)
    info = {"backbone": args.backbone, "backbone_kwargs": {}, "weights": args.weights,
            "num_frames": args.frames, "img_size": args.size, "dataset": args.dataset,
            "split": args.split, "classes": list(getattr(dataset, "classes", [])),
            "input": input_config(args.backbone).to_dict()}
    writer = TokenShardWriter(args.out, info, shard_size=args.shard_size,
                              dtype=getattr(torch, args.dtype))
    count = extract_tokens(backbone, dataset, writer, batch_size=args.batch_size,
                           num_workers=args.workers, device=args.device, progress=True)
    index = writer.close()
    print(f"wrote {count} token grids ({len(writer.shards)} shards) to "
          f"{safe_path(index.parent)}; index {safe_path(index)}")
    return 0
