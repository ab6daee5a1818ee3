"""Run a classifier over a data loader: scores, labels, pre-logit features, paths.

Works for any ``nn.Module`` classifier. Pre-logit features need the timm-style
split ``forward_features`` / ``forward_head(x, pre_logits=True)`` that TAGNet
and the ``atr_*`` models offer.

Multi-view testing: a batch of shape ``(B, V, 3, T, H, W)`` holds ``V`` views
(clips x crops) of each video; their softmax scores (and features) are
averaged, the usual multi-clip protocol.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from tagnet.distributed import DistInfo


@dataclass
class Predictions:
    """Outputs over a dataset, in dataset order.

    Attributes:
        scores: ``(N, K)`` class probabilities (mean over views).
        labels: ``(N,)`` true labels.
        loss: mean cross-entropy of the averaged probabilities.
        features: ``(N, C)`` pre-logit features (mean over views) or ``None``.
        paths: the clips' files (``meta["path"]``) or clip ids (``meta["id"]``, token
            shards) when the dataset gives them.
        indices: ``(N,)`` dataset index of every scored clip (``meta["index"]``) or ``None``.
        skipped: ``(path, reason)`` of the clips left out because they could not be decoded
            (``data.on_error=skip``); they are in no other field.
    """

    scores: Tensor
    labels: Tensor
    loss: float
    features: Tensor | None = None
    paths: list[str] | None = None
    indices: Tensor | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DDP / ``torch.compile`` wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def forward_views(model: nn.Module, clips: Tensor, features: bool = False
                  ) -> tuple[Tensor, Tensor | None]:
    """Probabilities ``(B, K)`` (and features ``(B, C)``) averaged over the views."""
    views = 1
    if clips.dim() == 6:  # (B, V, 3, T, H, W)
        views = clips.size(1)
        clips = clips.flatten(0, 1)
    feats = None
    if features:
        net = unwrap(model)
        pooled = net.forward_features(clips)
        feats = net.forward_head(pooled, pre_logits=True)
        logits = net.forward_head(pooled)
    else:
        logits = model(clips)
    probs = logits.float().softmax(-1)
    probs = probs.view(-1, views, probs.size(-1)).mean(1)
    if feats is not None:
        feats = feats.float().view(-1, views, feats.size(-1)).mean(1)
    return probs, feats


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu", *,
            features: bool = False, amp: bool = False, dist: DistInfo | None = None,
            progress: bool = False, desc: str = "eval") -> Predictions:
    """Evaluate ``model`` (in eval mode) over ``loader``; gathers shards across ranks.

    In a distributed run each rank's loader holds the shard
    ``range(rank, N, world_size)`` of the dataset (see
    :func:`tagnet.data.eval_loader`); the shards are gathered and put back
    in dataset order on every rank.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    scores, labels, feats, paths, indices, skipped = [], [], [], [], [], []
    it = loader
    if progress:
        from tagnet.datasets.progress import progress

        it = progress(loader, desc=desc, leave=False, dynamic_ncols=True)
    use_amp = amp and device.type == "cuda"
    for batch in it:
        meta = batch[2] if len(batch) > 2 and isinstance(batch[2], dict) else {}
        skipped += [(str(p), str(r)) for p, r, *_ in meta.get("left_out", ())]
        if len(batch[1]) == 0:  # every clip of the batch was left out
            continue
        clips, y = batch[0].to(device, non_blocking=True), batch[1]
        with torch.autocast(device.type, enabled=use_amp):
            p, f = forward_views(model, clips, features)
        scores.append(p.cpu())
        labels.append(torch.as_tensor(y).long().cpu())
        if f is not None:
            feats.append(f.cpu())
        names = meta.get("path", meta.get("id"))  # video files, or token shards' clip ids
        if names is not None:
            paths.extend(str(s) for s in names)
        if meta.get("index") is not None:
            indices.extend(int(i) for i in meta["index"])
    model.train(was_training)
    num_classes = _num_classes(scores, model)
    out = Predictions(
        scores=torch.cat(scores) if scores else torch.empty(0, num_classes),
        labels=torch.cat(labels) if labels else torch.empty(0, dtype=torch.long),
        loss=0.0,
        features=torch.cat(feats) if feats else None,
        paths=paths or None,
        indices=torch.tensor(indices, dtype=torch.long) if indices else None,
        skipped=skipped,
    )
    if dist is not None and dist.distributed:
        out = _gather(out, dist)
    if out.labels.numel():
        out.loss = F.nll_loss(out.scores.clamp(min=1e-12).log(), out.labels).item()
    return out


def _num_classes(scores: list[Tensor], model: nn.Module) -> int:
    if scores:
        return scores[0].size(1)
    head = getattr(unwrap(model), "head", None)
    return int(getattr(head, "num_classes", 0))


def _gather(out: Predictions, dist: DistInfo) -> Predictions:
    """All ranks' strided shards -> the full dataset order (rank r held r, r+R, ...).

    Ordered by the clips' dataset indices when every rank has them (clips left out make
    the shards uneven), else by the stride pattern."""
    import torch.distributed as tdist

    parts: list = [None] * dist.world_size
    tdist.all_gather_object(parts, (out.scores, out.labels, out.features, out.paths,
                                    out.indices, out.skipped))
    n = sum(p[1].numel() for p in parts)
    skipped = [s for p in parts for s in p[5]]
    if all(p[4] is not None or p[1].numel() == 0 for p in parts):
        index = torch.cat([p[4] if p[4] is not None else torch.empty(0, dtype=torch.long)
                           for p in parts])
        inv = index.argsort(stable=True)
    else:
        order = torch.cat([torch.arange(r, n, dist.world_size) for r in range(dist.world_size)])
        inv = torch.empty_like(order)
        inv[order] = torch.arange(n)
        index = None
    scores = torch.cat([p[0] for p in parts])[inv]
    labels = torch.cat([p[1] for p in parts])[inv]
    # a rank that scored no clip has no features and no paths
    feats = [p[2] for p in parts if p[2] is not None]
    feats = torch.cat(feats)[inv] if feats else None
    paths = None
    if any(p[3] is not None for p in parts):
        flat = [s for p in parts for s in p[3] or ()]
        paths = [flat[i] for i in inv.tolist()]
    return Predictions(scores, labels, 0.0, feats, paths,
                       index[inv] if index is not None else None, skipped)


__all__ = ["Predictions", "predict", "forward_views", "unwrap"]
