"""torch.distributed set-up for ``torchrun``: one process per device, rank 0 writes.

Launch a multi-GPU (or multi-node) run with::

    torchrun --nproc_per_node 4 -m tagnet.cli train --config gym99 data.root=...

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; without them the
run is a single process and nothing here touches torch.distributed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` when available, else ``cpu``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} asked for, but CUDA is not available; "
                               "use device=cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when launched by ``torchrun`` (NCCL on CUDA, else gloo)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over ranks (identity in a single process)."""
    if info.distributed:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_cat(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate equally long per-rank tensors along dim 0 (rank order)."""
    if not info.distributed:
        return t
    parts = [torch.empty_like(t) for _ in range(info.world_size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def shard_indices(n: int, rank: int, world_size: int) -> list[int]:
    """Indices ``rank, rank + world_size, ...`` of ``range(n)``: evaluation shards, no padding."""
    return list(range(rank, n, world_size))


__all__ = ["DistInfo", "init_distributed", "cleanup_distributed", "resolve_device",
           "all_reduce_sum", "all_gather_cat", "barrier", "shard_indices"]
