"""t-SNE of pre-logit clip features (the paper's Fig. 3), with scikit-learn.

Features are what :meth:`forward_head(x, pre_logits=True)` returns: the pooled
clip representation right before the classifier (after TAG-Head's LayerNorm),
so a panel shows what the linear classifier sees.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from tagnet.eval.plots import plot_embeddings


def tsne_embed(features: Tensor, *, perplexity: float = 30.0, seed: int = 0,
               max_points: int | None = 2000) -> tuple[Tensor, Tensor]:
    """2-D t-SNE embedding of ``(N, C)`` features.

    Perplexity is capped at ``(N - 1) / 3`` (scikit-learn needs it below ``N``).
    With ``max_points`` the features are subsampled (evenly, deterministically)
    first; the kept row indices are returned with the embedding.

    Returns:
        ``(points (M, 2), kept (M,))``
    """
    from sklearn.manifold import TSNE

    x = torch.as_tensor(features).double()
    n = x.size(0)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 clips, got {n}")
    kept = torch.arange(n)
    if max_points is not None and n > max_points:
        kept = torch.linspace(0, n - 1, max_points).round().long()
        x, n = x[kept], max_points
    perplexity = min(perplexity, (n - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    points = torch.from_numpy(tsne.fit_transform(x.numpy()))
    return points, kept


def plot_tsne(features: Mapping[str, tuple[Tensor, Tensor]], path: str | Path,
              class_names: Sequence[str] | None = None, seed: int = 0,
              max_points: int | None = 2000) -> Path:
    """One t-SNE panel per model: ``{title: (features (N, C), labels (N,))}`` -> PNG."""
    panels = {}
    for title, (feats, labels) in features.items():
        points, kept = tsne_embed(feats, seed=seed, max_points=max_points)
        panels[title] = (points, torch.as_tensor(labels)[kept])
    return plot_embeddings(panels, path, class_names)


__all__ = ["tsne_embed", "plot_tsne"]
