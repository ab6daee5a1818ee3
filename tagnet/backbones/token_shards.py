"""Token-grid shards: extract a backbone's grids once, train heads on them many times.

A shard directory holds ``index.json`` and ``shard_00000.pt``, ``shard_00001.pt``,
...; each shard is ``{"tokens": (n, C, T', H', W'), "labels": (n,), "ids": [n clip
ids]}``. The index records the backbone (name, options, weights file), the clip
size and the grid, so ``create_model("tag_features", **ds.model_kwargs())`` builds
a head for exactly these grids. Shards are read memory-mapped: random access
touches only the clips it reads.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from tagnet.graphs import TokenGrid

INDEX = "index.json"
FORMAT = "tagnet-token-shards"


class TokenShardWriter:
    """Append token grids with their labels and clip ids; :meth:`close` writes the index.

    Args:
        root (str or Path): output directory (created; must not hold an index already).
        info (dict): what made the grids: ``backbone``, ``backbone_kwargs``, ``weights``,
            ``num_frames``, ``img_size`` (stored in the index as given).
        shard_size (int): clips per shard (256).
        dtype (torch.dtype): storage dtype (``float16`` halves the disk; ``float32`` is exact).
    """

    def __init__(self, root: str | Path, info: dict, shard_size: int = 256,
                 dtype: torch.dtype = torch.float16) -> None:
        self.root = Path(root)
        if (self.root / INDEX).exists():
            raise FileExistsError(f"'{self.root / INDEX}' exists; choose an empty output folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.info, self.shard_size, self.dtype = dict(info), int(shard_size), dtype
        self.shards: list[dict] = []
        self._tokens: list[Tensor] = []
        self._labels: list[int] = []
        self._ids: list[str] = []
        self._grid: tuple[int, ...] | None = None
        self._seen: set[str] = set()

    def add(self, tokens: Tensor, labels: Iterable[int], ids: Iterable[str]) -> None:
        """Add a batch: ``tokens (B, C, T', H', W')``, ``B`` labels and ``B`` unique clip ids."""
        labels, ids = [int(v) for v in labels], [str(i) for i in ids]
        if tokens.dim() != 5 or not len(labels) == len(ids) == tokens.size(0):
            raise ValueError(f"expected (B, C, T, H, W) tokens with B labels and ids, got "
                             f"{tuple(tokens.shape)}, {len(labels)} labels, {len(ids)} ids")
        if self._grid is None:
            self._grid = tuple(tokens.shape[1:])
        elif tuple(tokens.shape[1:]) != self._grid:
            raise ValueError(f"token grid {tuple(tokens.shape[1:])} differs from the first "
                             f"batch's {self._grid}; all clips must have one size")
        dup = [i for i in ids if i in self._seen]
        if dup or len(set(ids)) != len(ids):
            raise ValueError(f"clip ids must be unique; repeated: {dup[:5] or ids[:5]}")
        self._seen.update(ids)
        for row, label, cid in zip(tokens.detach().to("cpu", self.dtype), labels, ids,
                                   strict=True):
            self._tokens.append(row)
            self._labels.append(label)
            self._ids.append(cid)
            if len(self._tokens) == self.shard_size:
                self._flush()

    def _flush(self) -> None:
        if not self._tokens:
            return
        name = f"shard_{len(self.shards):05d}.pt"
        torch.save({"tokens": torch.stack(self._tokens), "labels": torch.tensor(self._labels),
                    "ids": list(self._ids)}, self.root / name)
        self.shards.append({"file": name, "count": len(self._ids)})
        self._tokens, self._labels, self._ids = [], [], []

    def close(self) -> Path:
        """Write the last shard and ``index.json``; returns the index path."""
        self._flush()
        if self._grid is None:
            raise ValueError("no clip was added; nothing to write")
        C, T, H, W = self._grid
        index = {"format": FORMAT, "version": 1, **self.info, "channels": C, "grid": [T, H, W],
                 "dtype": str(self.dtype).removeprefix("torch."),
                 "num_clips": sum(s["count"] for s in self.shards), "shards": self.shards}
        path = self.root / INDEX
        path.write_text(json.dumps(index, indent=1))
        return path

    def __enter__(self) -> TokenShardWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()


class TokenShardDataset(Dataset):
    """The clips of a shard directory as ``(tokens (C, T', H', W') float32, label, meta)``.

    ``meta`` is ``{"id": clip id, "index": position}``. ``info`` is the index
    (backbone, grid, clip size).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / INDEX
        if not path.is_file():
            raise FileNotFoundError(f"'{path}' does not exist; write token shards with "
                                    "`tagnet extract ... --out DIR` first")
        self.info = json.loads(path.read_text())
        if self.info.get("format") != FORMAT:
            raise ValueError(f"'{path}' is not a tagnet token-shard index")
        self._shards = [torch.load(self.root / s["file"], mmap=True, weights_only=True)
                        for s in self.info["shards"]]
        self._where = [(i, j) for i, s in enumerate(self._shards) for j in range(len(s["ids"]))]
        self.ids = [cid for s in self._shards for cid in s["ids"]]

    @property
    def grid(self) -> TokenGrid:
        return TokenGrid(*self.info["grid"])

    def model_kwargs(self) -> dict:
        """``create_model("tag_features", **kwargs)`` options that fit these grids."""
        source = dict(self.info.get("backbone_kwargs") or {}, source=self.info["backbone"])
        return {"num_frames": self.info["num_frames"], "img_size": self.info["img_size"],
                "backbone_kwargs": source}

    def __len__(self) -> int:
        return len(self._where)

    def __getitem__(self, index: int):
        i, j = self._where[index]
        shard = self._shards[i]
        return (shard["tokens"][j].float(), int(shard["labels"][j]),
                {"id": shard["ids"][j], "index": index})


def _collate(batch):
    clips, labels, metas = zip(*batch, strict=True)
    return torch.stack(clips), torch.tensor(labels), list(metas)


def _clip_id(meta, index: int) -> str:
    if isinstance(meta, dict):
        for key in ("id", "clip_id", "path"):
            if meta.get(key) is not None:
                return str(meta[key])
    return str(index)


@torch.inference_mode()
def extract_tokens(backbone: torch.nn.Module, dataset: Dataset, writer: TokenShardWriter, *,
                   batch_size: int = 8, num_workers: int = 0, device: str = "cpu",
                   progress: bool = False) -> int:
    """Run ``backbone`` (eval mode) over ``dataset`` and write its grids; returns the clip count.

    ``dataset[i]`` is ``(clip (3, T, H, W), label, meta)``; the clip id is
    ``meta["id"]``, else ``meta["path"]``, else ``i``. A clip whose id was already
    written is left out (datasets with ``on_error="skip"`` serve the next clip in
    place of a broken one, so that clip would appear twice).
    """
    backbone = backbone.eval().to(device)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                        collate_fn=_collate, shuffle=False)
    if progress:
        from tagnet.datasets.progress import progress
        loader = progress(loader, desc="extract", unit="batch")
    done, seen, position = 0, set(), 0
    for clips, labels, metas in loader:
        ids = [_clip_id(m, position + k) for k, m in enumerate(metas)]
        position += len(ids)
        keep = []
        for k, cid in enumerate(ids):
            if cid not in seen:
                seen.add(cid)
                keep.append(k)
        if not keep:
            continue
        tokens = backbone(clips[keep].to(device, non_blocking=True))
        writer.add(tokens, [int(labels[k]) for k in keep], [ids[k] for k in keep])
        done += len(keep)
    return done
