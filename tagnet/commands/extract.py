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

Under torchrun each rank takes every WORLD_SIZE-th remaining clip and writes its own
shards (shard_r<rank>_*.pt); rank 0 then writes one index over all of them, in
dataset order, so the folder reads exactly like a single-process extraction:

  torchrun --nproc_per_node 4 -m tagnet.cli extract --device cuda ... --out DIR

A killed extraction resumes when the same command runs again: shards are written
whole or not at all, and clips already in a shard are not extracted again (a run
with other settings into the same folder is refused).
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
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for a backbone built without --weights (0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


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


SETTINGS = ".extract.json"


def check_settings(out, settings: dict) -> None:
    """Record the settings of an extraction in ``out``, or refuse to resume one made with
    other settings (or a folder of shards without them)."""
    import json
    from pathlib import Path

    from tagnet.backbones.token_shards import INDEX, shard_files

    out = Path(out)
    if (out / INDEX).exists():
        raise ValueError(f"'{out / INDEX}' exists: this extraction is complete; choose an "
                              "empty output folder")
    path = out / SETTINGS
    if path.is_file():
        old = json.loads(path.read_text())
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if diff:
            raise ValueError(f"'{out}' holds an unfinished extraction with other settings "
                             f"({', '.join(f'{k}: {old.get(k)!r} there' for k in diff[:4])}); "
                             "rerun it with the same arguments or choose an empty output folder")
    elif shard_files(out):
        raise ValueError(f"'{out}' holds token shards but no {SETTINGS}; choose an empty "
                              "output folder")
    else:
        from tagnet.datasets.atomic import atomic_write

        out.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(settings, indent=1, sort_keys=True))


def run(args: argparse.Namespace) -> int:
    from tagnet.distributed import cleanup_distributed, init_distributed
    from tagnet.train.lock import FolderLock

    dist_info = init_distributed(args.device)
    try:
        if dist_info.is_main:  # one writer process per output folder (rank 0 holds the lock)
            with FolderLock(args.out):
                return extract(args, dist_info)
        return extract(args, dist_info)
    finally:
        cleanup_distributed()


def extract(args: argparse.Namespace, dist_info) -> int:
    """One rank's part of the extraction (all of it in a single process)."""
    import json

    import torch

    from tagnet.backbones import TokenShardWriter, create_backbone, extract_tokens
    from tagnet.backbones.pretrained import input_config
    from tagnet.backbones.token_shards import extracted, write_index

    def barrier():
        if dist_info.distributed:
            torch.distributed.barrier()

    torch.manual_seed(args.seed)
    backbone = create_backbone(args.backbone, weights=args.weights)
    dataset = build_dataset(args)
    info = {"backbone": args.backbone, "backbone_kwargs": {}, "weights": args.weights,
            "num_frames": args.frames, "img_size": args.size, "dataset": args.dataset,
            "split": args.split, "classes": list(getattr(dataset, "classes", [])),
            "input": input_config(args.backbone).to_dict()}
    if dist_info.is_main:
        check_settings(args.out, {**info, "resize": args.resize, "dtype": args.dtype,
                                  "seed": None if args.weights else args.seed,
                                  "num_samples": len(dataset)})
    barrier()
    done_ids, done_positions = extracted(args.out)
    barrier()  # every rank has read what is done before any rank writes
    todo = [i for i in range(len(dataset)) if i not in done_positions]
    if done_positions and dist_info.is_main:
        print(f"resuming: {len(done_ids)} clips already extracted, {len(todo)} to go")
    rank, world = dist_info.rank, dist_info.world_size
    writer = TokenShardWriter(args.out, info, shard_size=args.shard_size,
                              dtype=getattr(torch, args.dtype), resume=True,
                              prefix="shard" if world == 1 else f"shard_r{rank}")
    extract_tokens(backbone, dataset, writer, batch_size=args.batch_size,
                   num_workers=args.workers, device=dist_info.device,
                   progress=dist_info.is_main and not args.quiet, indices=todo[rank::world],
                   skip_ids=done_ids)
    writer.finish()
    barrier()
    if dist_info.is_main:
        index = write_index(args.out, info)
        meta = json.loads(index.read_text())
        print(f"wrote {meta['num_clips']} token grids ({len(meta['shards'])} shards"
              + (f" from {world} ranks" if world > 1 else "") + f") to "
              f"{safe_path(index.parent)}; index {safe_path(index)}")
    return 0
