"""Token-grid shards: extract a backbone's grids once, train heads on them many times.

A shard directory holds ``index.json`` and ``shard_00000.pt``, ``shard_00001.pt``,
...; each shard is ``{"tokens": (n, C, T', H', W'), "labels": (n,), "ids": [n clip
ids], "positions": (n,) dataset indices}``. The index records the backbone (name,
options, weights file), the clip size and the grid, so ``create_model("tag_features",
**ds.model_kwargs())`` builds a head for exactly these grids. Shards are read
memory-mapped: random access touches only the clips it reads.

Extraction can be split and resumed: every shard is written under a temporary name
and renamed when complete, a writer with ``resume=True`` continues a folder that has
shards but no index, and under ``torchrun`` each rank writes its own shards
(``shard_r<rank>_00000.pt``, ...). :func:`write_index` then merges whatever shards the
folder holds into one index whose ``order`` puts the clips back in dataset order, so
the result reads exactly like a single-process extraction.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from tagnet.graphs import TokenGrid

INDEX = "index.json"
FORMAT = "tagnet-token-shards"
_SHARD = re.compile(r"^(?P<prefix>shard(?:_r\d+)?)_(?P<num>\d{5})\.pt$")


def shard_files(root: str | Path) -> list[Path]:
    """The complete shard files of a folder, sorted by name (temporary files left out)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _SHARD.match(p.name))


def _load(path: Path) -> dict:
    return torch.load(path, mmap=True, weights_only=True)


def _positions(shard: dict) -> list[int]:
    pos = shard.get("positions")
    return list(range(len(shard["ids"]))) if pos is None else [int(p) for p in pos]


def extracted(root: str | Path) -> tuple[set[str], set[int]]:
    """Clip ids and dataset positions already written to the shards of ``root``."""
    ids, positions = set(), set()
    for path in shard_files(root):
        shard = _load(path)
        ids.update(shard["ids"])
        positions.update(_positions(shard))
    return ids, positions


def write_index(root: str | Path, info: dict) -> Path:
    """Merge every shard of ``root`` into ``index.json``; returns its path.

    Clips are listed by dataset position (``order``: ``[shard, row]`` pairs, left out
    when it is the file order); a clip id found twice is kept once.
    """
    root = Path(root)
    files = shard_files(root)
    if not files:
        raise ValueError(f"no clip was added to '{root}'; nothing to write")
    shards, entries, seen, grid, dtype = [], [], set(), None, None
    for k, path in enumerate(files):
        shard = _load(path)
        g = tuple(shard["tokens"].shape[1:])
        if grid is None:
            grid, dtype = g, shard["tokens"].dtype
        elif g != grid:
            raise ValueError(f"'{path}' holds token grids {g}, other shards {grid}; "
                             "shards of different extractions share this folder")
        for row, (cid, pos) in enumerate(zip(shard["ids"], _positions(shard), strict=True)):
            if cid not in seen:
                seen.add(cid)
                entries.append((pos, k, row))
        shards.append({"file": path.name, "count": len(shard["ids"])})
    entries.sort()
    order = [[k, row] for _, k, row in entries]
    C, T, H, W = grid
    index = {"format": FORMAT, "version": 1, **info, "channels": C, "grid": [T, H, W],
             "dtype": str(dtype).removeprefix("torch."), "num_clips": len(order),
             "shards": shards}
    if order != [[k, r] for k, s in enumerate(shards) for r in range(s["count"])]:
        index["order"] = order
    path = root / INDEX
    tmp = root / f".{INDEX}.part"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, path)
    return path


class TokenShardWriter:
    """Append token grids with their labels and clip ids; :meth:`close` writes the index.

    Args:
        root (str or Path): output directory (created; must not hold an index already).
        info (dict): what made the grids: ``backbone``, ``backbone_kwargs``, ``weights``,
            ``num_frames``, ``img_size`` (stored in the index as given).
        shard_size (int): clips per shard (256).
        dtype (torch.dtype): storage dtype (``float16`` halves the disk; ``float32`` is exact).
        prefix (str): shard file names ``<prefix>_00000.pt``, ... (``"shard"``, or
            ``"shard_r<rank>"`` for one rank of a distributed extraction).
        resume (bool): continue a folder that holds shards but no index (its clip ids count
            as written); without it such a folder is refused.
    """

    def __init__(self, root: str | Path, info: dict, shard_size: int = 256,
                 dtype: torch.dtype = torch.float16, *, prefix: str = "shard",
                 resume: bool = False) -> None:
        self.root = Path(root)
        if (self.root / INDEX).exists():
            raise FileExistsError(f"'{self.root / INDEX}' exists; choose an empty output folder")
        if not _SHARD.match(f"{prefix}_00000.pt"):
            raise ValueError(f"shard prefix {prefix!r} must be 'shard' or 'shard_r<rank>'")
        existing = shard_files(self.root)
        if existing and not resume:
            raise FileExistsError(f"'{self.root}' holds {len(existing)} shards of an unfinished "
                                  "extraction; resume it or choose an empty output folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.info, self.shard_size, self.dtype = dict(info), int(shard_size), dtype
        self.prefix = prefix
        self.shards: list[dict] = []
        self._tokens: list[Tensor] = []
        self._labels: list[int] = []
        self._ids: list[str] = []
        self._positions: list[int] = []
        self._grid: tuple[int, ...] | None = None
        self._seen, done_positions = extracted(self.root) if existing else (set(), set())
        self._next_position = 1 + max(done_positions, default=-1)
        mine = [int(m["num"]) for p in existing if (m := _SHARD.match(p.name))["prefix"] == prefix]
        self._next_file = 1 + max(mine, default=-1)

    def add(self, tokens: Tensor, labels: Iterable[int], ids: Iterable[str],
            positions: Sequence[int] | None = None) -> None:
        """Add a batch: ``tokens (B, C, T', H', W')``, ``B`` labels, ``B`` unique clip ids and
        their dataset ``positions`` (default: in the order added)."""
        labels, ids = [int(v) for v in labels], [str(i) for i in ids]
        if positions is None:
            positions = range(self._next_position, self._next_position + len(ids))
        positions = [int(p) for p in positions]
        if tokens.dim() != 5 or not len(labels) == len(ids) == len(positions) == tokens.size(0):
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
        self._next_position = max(self._next_position, max(positions, default=-1) + 1)
        for row, label, cid, pos in zip(tokens.detach().to("cpu", self.dtype), labels, ids,
                                        positions, strict=True):
            self._tokens.append(row)
            self._labels.append(label)
            self._ids.append(cid)
            self._positions.append(pos)
            if len(self._tokens) == self.shard_size:
                self._flush()

    def _flush(self) -> None:
        if not self._tokens:
            return
        name = f"{self.prefix}_{self._next_file:05d}.pt"
        tmp = self.root / f".{name}.part"  # a killed run never leaves a partial shard
        torch.save({"tokens": torch.stack(self._tokens), "labels": torch.tensor(self._labels),
                    "ids": list(self._ids), "positions": torch.tensor(self._positions)}, tmp)
        os.replace(tmp, self.root / name)
        self.shards.append({"file": name, "count": len(self._ids)})
        self._next_file += 1
        self._tokens, self._labels, self._ids, self._positions = [], [], [], []

    def finish(self) -> None:
        """Write the last shard, without an index (one rank of a distributed extraction)."""
        self._flush()

    def close(self) -> Path:
        """Write the last shard and ``index.json`` over every shard of the folder; returns
        the index path."""
        self._flush()
        return write_index(self.root, self.info)

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
        self._shards = [_load(self.root / s["file"]) for s in self.info["shards"]]
        order = self.info.get("order")
        if order is None:
            self._where = [(i, j) for i, s in enumerate(self._shards) for j in range(len(s["ids"]))]
        else:
            self._where = [(int(i), int(j)) for i, j in order]
        self.ids = [self._shards[i]["ids"][j] for i, j in self._where]

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


class _Positions(Dataset):
    """``dataset`` restricted to ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]


@torch.inference_mode()
def extract_tokens(backbone: torch.nn.Module, dataset: Dataset, writer: TokenShardWriter, *,
                   batch_size: int = 8, num_workers: int = 0, device: str = "cpu",
                   progress: bool = False, indices: Sequence[int] | None = None,
                   skip_ids: Iterable[str] = ()) -> int:
    """Run ``backbone`` (eval mode) over ``dataset`` and write its grids; returns the clip count.

    ``dataset[i]`` is ``(clip (3, T, H, W), label, meta)``; the clip id is
    ``meta["id"]``, else ``meta["path"]``, else ``i``, and its position is
    ``meta["index"]``, else ``i``. A clip whose id was already written (or is in
    ``skip_ids``) is left out (datasets with ``on_error="skip"`` serve the next clip
    in place of a broken one, so that clip would appear twice). ``indices`` restricts
    the run to those dataset positions (one rank's part, or what a killed run left).
    """
    backbone = backbone.eval().to(device)
    order = list(range(len(dataset))) if indices is None else list(indices)
    if indices is not None:
        dataset = _Positions(dataset, order)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                        collate_fn=_collate, shuffle=False)
    if progress:
        from tagnet.datasets.progress import progress
        loader = progress(loader, desc="extract", unit="batch")
    done, seen, position = 0, set(skip_ids), 0
    for clips, labels, metas in loader:
        requested = order[position:position + len(metas)]
        ids = [_clip_id(m, i) for m, i in zip(metas, requested, strict=True)]
        where = [int(m["index"]) if isinstance(m, dict) and "index" in m else i
                 for m, i in zip(metas, requested, strict=True)]
        position += len(ids)
        keep = []
        for k, cid in enumerate(ids):
            if cid not in seen:
                seen.add(cid)
                keep.append(k)
        if not keep:
            continue
        tokens = backbone(clips[keep].to(device, non_blocking=True))
        writer.add(tokens, [int(labels[k]) for k in keep], [ids[k] for k in keep],
                   [where[k] for k in keep])
        done += len(keep)
    return done
