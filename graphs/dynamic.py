"""Data-dependent edge sets: graphs built per clip from the token features.

A dynamic edge set receives the tokens ``x`` of shape ``(B, N, C)`` of a whole
batch and returns the edges of every clip at once, node ids offset by
``b * N`` for clip ``b`` (the layout of :func:`~tagnet.graphs.batch_graphs`).
Edges are discrete choices, so they are computed without gradient; the
features still receive gradients through the propagation that uses them.

.. code-block:: text

    knn_feature(k)                 node i  <-  its k nearest tokens of the same clip
    similarity_aligned(k, radius)  (t, p) <->  its k most similar tokens of frame t+1
                                               within a (2r+1) x (2r+1) window around p
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .edge_sets import EdgeSet, register_edge_set
from .grid import TokenGrid
from .topology import Topology, register_topology

_METRICS = ("cosine", "euclidean")


def _check_tokens(name: str, grid: TokenGrid, x: Tensor | None) -> Tensor:
    if x is None:
        raise ValueError(f"edge set {name!r} is data-dependent: build it with the tokens, "
                         "batch_graphs(tokens, grid, topology)")
    if x.dim() != 3 or x.size(1) != grid.num_nodes:
        raise ValueError(f"edge set {name!r} got tokens of shape {tuple(x.shape)}; expected "
                         f"(B, {grid.num_nodes}, C) for grid {grid}")
    return x.detach().float()


def _scores(a: Tensor, b: Tensor, metric: str, equation: str) -> Tensor:
    """Similarity of every row of ``a`` with every row of ``b`` (higher = closer)."""
    if metric == "cosine":
        return torch.einsum(equation, F.normalize(a, dim=-1), F.normalize(b, dim=-1))
    dot = torch.einsum(equation, a, b)
    return 2 * dot - a.pow(2).sum(-1).unsqueeze(-1) - b.pow(2).sum(-1).unsqueeze(-2)


class KNNFeature(EdgeSet):
    r"""Each token receives edges from its ``k`` nearest tokens of the same clip.

    For node :math:`i` of clip :math:`b`, with :math:`s` the cosine similarity
    (or minus the squared Euclidean distance), the sources are
    :math:`\operatorname{top-}k_{j \ne i}\ s(x_i, x_j)` over all frames and sites,
    so every node has in-degree ``k``; the graph is directed. Edges are ordered
    by clip, target, then rank.

    Args:
        k (int): neighbours per token (8).
        metric (str): ``"cosine"`` (default) or ``"euclidean"``.
        max_elements (int): largest ``clips * N * N`` score block held at once.

    Shapes:
        - input: grid, tokens ``(B, N, C)``;
        - output: ``edge_index [2, B * N * k]`` with per-clip offsets ``b * N``.

    Example:
        >>> x = torch.tensor([0.0, 1.0, 3.0, 7.0]).view(1, 4, 1)
        >>> KNNFeature(k=1, metric="euclidean")(TokenGrid(1, 1, 4), x).tolist()
        [[1, 0, 1, 2], [0, 1, 2, 3]]
    """

    name = "knn_feature"
    dynamic = True

    def __init__(self, k: int = 8, metric: str = "cosine", max_elements: int = 1 << 24) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"knn_feature needs an integer k >= 1, got k={k!r}")
        if metric not in _METRICS:
            raise ValueError(f"knn_feature metric {metric!r} is unknown; known: {_METRICS}")
        self.k, self.metric, self.max_elements = k, metric, max_elements

    def build(self, grid: TokenGrid, x: Tensor | None = None) -> Tensor:
        x = _check_tokens(self.name, grid, x)
        B, N, _ = x.shape
        if self.k > N - 1:
            raise ValueError(f"knn_feature k={self.k} needs more than {self.k} tokens per clip; "
                             f"grid {grid} has {N}")
        chunk = max(1, self.max_elements // (N * N))
        sources = []
        with torch.no_grad():
            for xb in x.split(chunk):
                score = _scores(xb, xb, self.metric, "bnc,bmc->bnm")  # (b, N, N)
                score.diagonal(dim1=1, dim2=2).fill_(float("-inf"))
                sources.append(score.topk(self.k, dim=-1).indices)  # (b, N, k)
        offset = (torch.arange(B, device=x.device) * N).view(B, 1, 1)
        src = torch.cat(sources) + offset
        dst = torch.arange(N, device=x.device).view(1, N, 1) + offset
        return torch.stack([src.flatten(), dst.expand(B, N, self.k).flatten()])

    def extra_repr(self) -> str:
        return f"k={self.k}, metric={self.metric!r}"


class SimilarityAligned(EdgeSet):
    r"""Motion-compensated temporal edges: each token to its most similar tokens in the next frame.

    For token :math:`(t, p)`, :math:`t < T - 1`, with candidates
    :math:`\mathcal{W}(p)` the sites of frame :math:`t+1` within Chebyshev
    distance ``radius`` of :math:`p`, the partners are

    .. math::
        Q(t, p) = \operatorname{top-}k_{q \in \mathcal{W}(p)}\ s(x_{t,p}, x_{t+1,q}),

    and every pair is linked in both directions. With a still camera this
    recovers the time-aligned edges (``radius=0`` gives them exactly); when the
    camera pans by up to ``radius`` tokens per frame, a token still links to
    the token that shows the same content. Forward edges ``(t,p) -> (t+1,q)``
    come first (by clip, frame, site, rank), then their reverses.

    Args:
        k (int): partners per token (1), at most :math:`(2r+1)^2`.
        radius (int): search radius in tokens (1).
        metric (str): ``"cosine"`` (default) or ``"euclidean"``.

    Shapes:
        - input: grid, tokens ``(B, N, C)``;
        - output: ``edge_index [2, E]`` with per-clip offsets ``b * N``;
          ``E = 2 B (T-1) P k`` away from borders (corner windows can hold fewer
          than ``k`` candidates).

    Example:
        >>> x = torch.tensor([[1.0, 0], [0, 1], [0, 1], [1, 0]]).unsqueeze(0)  # frame 1 swapped
        >>> SimilarityAligned(k=1, radius=1)(TokenGrid(2, 1, 2), x).tolist()
        [[0, 1, 3, 2], [3, 2, 0, 1]]
    """

    name = "similarity_aligned"
    dynamic = True
    symmetric = True

    def __init__(self, k: int = 1, radius: int = 1, metric: str = "cosine") -> None:
        for key, value, low in (("k", k, 1), ("radius", radius, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"similarity_aligned needs an integer {key} >= {low}, "
                                 f"got {key}={value!r}")
        if k > (2 * radius + 1) ** 2:
            raise ValueError(f"similarity_aligned k={k} exceeds the {(2 * radius + 1) ** 2} "
                             f"candidates of radius {radius}; raise radius or lower k")
        if metric not in _METRICS:
            raise ValueError(f"similarity_aligned metric {metric!r} is unknown; known: {_METRICS}")
        self.k, self.radius, self.metric = k, radius, metric

    def candidates(self, grid: TokenGrid, device=None) -> tuple[Tensor, Tensor]:
        """Candidate sites ``[P, O]`` of the next frame for each site, and their validity mask."""
        r = torch.arange(-self.radius, self.radius + 1, device=device)
        dh, dw = r.repeat_interleave(r.numel()), r.repeat(r.numel())  # (O,)
        h = torch.arange(grid.H, device=device).repeat_interleave(grid.W).unsqueeze(1)
        w = torch.arange(grid.W, device=device).repeat(grid.H).unsqueeze(1)
        qh, qw = h + dh, w + dw  # (P, O)
        valid = (qh >= 0) & (qh < grid.H) & (qw >= 0) & (qw < grid.W)
        return qh.clamp(0, grid.H - 1) * grid.W + qw.clamp(0, grid.W - 1), valid

    def build(self, grid: TokenGrid, x: Tensor | None = None) -> Tensor:
        x = _check_tokens(self.name, grid, x)
        B, T, P = x.size(0), grid.T, grid.num_sites
        if T == 1:
            return torch.empty(2, 0, dtype=torch.long, device=x.device)
        q, valid = self.candidates(grid, x.device)  # (P, O)
        with torch.no_grad():
            x = x.view(B, T, P, -1)
            score = _scores(x[:, :-1], x[:, 1:], self.metric, "btpc,btqc->btpq")  # (B,T-1,P,P)
            score = score.gather(-1, q.expand(B, T - 1, P, -1))  # (B, T-1, P, O)
            best = score.masked_fill(~valid, float("-inf")).topk(self.k, dim=-1)
        partner = q.expand(B, T - 1, P, -1).gather(-1, best.indices)  # (B, T-1, P, k)
        keep = best.values > float("-inf")
        base = (torch.arange(B, device=x.device) * grid.num_nodes).view(B, 1, 1, 1) \
            + (torch.arange(T - 1, device=x.device) * P).view(1, T - 1, 1, 1)
        src = (base + torch.arange(P, device=x.device).view(1, 1, P, 1)).expand_as(partner)[keep]
        dst = (base + P + partner)[keep]
        return torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])

    def extra_repr(self) -> str:
        return f"k={self.k}, radius={self.radius}, metric={self.metric!r}"


register_edge_set("knn_feature", KNNFeature)
register_edge_set("similarity_aligned", SimilarityAligned)
register_topology("knn", ["knn_feature"])
register_topology("tag_knn", ["intra_frame", "temporal", "knn_feature"])
register_topology("tag_aligned", Topology(["intra_frame", SimilarityAligned(k=1, radius=1)],
                                          name="tag_aligned"))
