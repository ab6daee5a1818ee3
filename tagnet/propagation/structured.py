r"""Exact APPNP in :math:`O(N C)` per step for intra-frame cliques and time-aligned links.

TAG-Head's graph has a structure that a generic sparse product ignores. Let
:math:`w_c` be the weight of the intra-frame clique edges, :math:`w_\tau` that
of the temporal links (0 for an edge set the topology does not use),
:math:`P = HW` and :math:`n_t = [t > 0] + [t < T - 1]` the number of temporal
neighbours of frame :math:`t`. With the self loop that ``gcn_norm`` adds, every
node of frame :math:`t` has the degree

.. math::
    d_t = 1 + w_c (P - 1) + w_\tau n_t,

so :math:`D^{-1/2}` is one number per frame. Split :math:`M + I` into the
self loops and temporal links, which act along :math:`t` only, and the clique,
which sums a frame:

.. math::
    (A h)_{t} = \sum_{s} L_{ts}\, h_{s} + \frac{w_c}{d_t} \sum_{q} h_{t,q},
    \qquad L = D^{-1/2} \big((1 - w_c) I_T + w_\tau S_T\big) D^{-1/2},

with :math:`S_T` the :math:`T \times T` matrix of ones on the first off-diagonals
and :math:`h_s \in \mathbb{R}^{P \times C}` frame :math:`s`. One APPNP step
:math:`h \leftarrow (1 - \alpha) A h + \alpha h^{(0)}` is then a
:math:`T \times T` batched matrix product, a frame sum and two elementwise
passes over the :math:`N \times C` tokens: :math:`O(NC)` memory traffic and
:math:`O(TNC)` multiply-adds (:math:`T` is 4 to 16 for video backbones, and the
product is bound by memory), against :math:`O(EC)` with
:math:`E = T P (P - 1) + 2 (T - 1) P` for message passing.

:math:`A` is symmetric, so the whole propagation :math:`h^{(K)} = p(A)\, h^{(0)}`
is a symmetric polynomial in :math:`A` and its backward pass is the same
propagation applied to the incoming gradient. With fixed edge weights
:class:`StructuredAPPNP` uses that and keeps only the two small operators for
the backward pass; with learnable weights plain autograd runs through the same
ops and keeps :math:`O(K N C)` (never :math:`O(K E C)`).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from tagnet.graphs import TokenGrid, get_topology
from tagnet.graphs.caching import LRUCache, is_tracing
from tagnet.graphs.edge_sets import FunctionEdgeSet, intra_frame, no_edges, temporal

#: The edge-set builders the structured path reproduces exactly (plain, no parameters).
STRUCTURED_EDGE_SETS = {"intra_frame": intra_frame, "temporal": temporal, "none": no_edges}


def why_not_structured(topology) -> str | None:
    """``None`` when :func:`structured_appnp` is exact for ``topology``, else the reason."""
    topology = get_topology(topology)
    for edge_set in topology.edge_sets:
        if edge_set.dynamic:
            return f"edge set {edge_set.name!r} is data-dependent"
        fn = STRUCTURED_EDGE_SETS.get(edge_set.name)
        if not (isinstance(edge_set, FunctionEdgeSet) and fn is not None
                and edge_set.fn is fn and not edge_set.params):
            return (f"edge set {edge_set!r} is not one of the built-in "
                    f"{', '.join(STRUCTURED_EDGE_SETS)}")
    return None


def supports_structured(topology) -> bool:
    """True when ``topology`` has only the built-in intra_frame, temporal and none edge sets."""
    return why_not_structured(topology) is None


def _split_weights(topology, type_weights):
    """Per-type weights -> (clique weight, temporal weight); 0 for an absent edge set."""
    names = topology.edge_types
    w_c = type_weights[names.index("intra_frame")] if "intra_frame" in names else 0.0
    w_t = type_weights[names.index("temporal")] if "temporal" in names else 0.0
    return w_c, w_t


def frame_degree(grid: TokenGrid, w_c=1.0, w_t=1.0, dtype=None, device=None) -> Tensor:
    """Degree with self loop of the nodes of each frame, shape ``[T]`` (``d_t`` above).

    ``w_c`` and ``w_t`` are floats or 0-dim tensors (gradients flow through them).
    """
    n_t = torch.full((grid.T,), 2.0, dtype=dtype, device=device)
    n_t[0] -= 1
    n_t[-1] -= 1  # T = 1: no neighbour at all
    return 1 + w_c * (grid.num_sites - 1) + w_t * n_t


def time_operators(grid: TokenGrid, w_c=1.0, w_t=1.0, alpha: float = 0.1, dtype=None,
                   device=None) -> tuple[Tensor, Tensor]:
    r"""The two operators of one step: :math:`(1 - \alpha) L`, shape ``[T, T]``, and
    :math:`(1 - \alpha) w_c / d_t`, shape ``[T, 1, 1]``; differentiable in ``w_c``, ``w_t``.
    """
    T = grid.T
    d = frame_degree(grid, w_c, w_t, dtype, device)
    dinv = d.rsqrt()
    eye = torch.eye(T, dtype=d.dtype, device=d.device)
    ones = d.new_ones(T - 1)
    L = (1 - w_c) * eye + w_t * (torch.diag(ones, 1) + torch.diag(ones, -1))
    return (1 - alpha) * dinv[:, None] * L * dinv[None, :], ((1 - alpha) * w_c / d).view(T, 1, 1)


def _propagate(x: Tensor, L: Tensor, c: Tensor, K: int, alpha: float) -> Tensor:
    """K steps on ``x`` of shape ``(B, T, P, C)`` with preallocated buffers (no autograd)."""
    B, T, P, C = x.shape
    L = L.expand(B, T, T)
    h, buffers = x, (torch.empty_like(x), torch.empty_like(x))
    for k in range(K):
        out = buffers[k % 2]  # never h: two buffers suffice for any K
        torch.bmm(L, h.view(B, T, P * C), out=out.view(B, T, P * C))  # self loops + temporal
        out.addcmul_(c, h.sum(2, keepdim=True)).add_(x, alpha=alpha)  # + clique + teleport
        h = out
    return h if K else x.clone()


class StructuredAPPNP(torch.autograd.Function):
    """APPNP with fixed weights; backward = the same symmetric propagation of the gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, L: Tensor, c: Tensor, K: int, alpha: float) -> Tensor:
        ctx.save_for_backward(L, c)  # [T, T] and [T, 1, 1]: all the backward pass needs
        ctx.K, ctx.alpha = K, alpha
        return _propagate(x, L, c, K, alpha)

    @staticmethod
    def backward(ctx, grad: Tensor):
        L, c = ctx.saved_tensors
        # through apply(), so that double backward works as well
        return StructuredAPPNP.apply(grad.contiguous(), L, c, ctx.K, ctx.alpha), None, None, \
            None, None


def _step(h: Tensor, h0: Tensor, L: Tensor, c: Tensor, alpha: float) -> Tensor:
    """One differentiable step on ``(B, T, P, C)`` (learnable weights)."""
    B, T, P, C = h.shape
    out = torch.bmm(L.expand(B, T, T), h.reshape(B, T, P * C)).view(B, T, P, C)
    return out + c * h.sum(2, keepdim=True) + alpha * h0


def structured_appnp(x: Tensor, grid: TokenGrid | str | tuple, topology="tag", K: int = 2,
                     alpha: float = 0.1,
                     type_weights: Tensor | Sequence[float] | None = None) -> Tensor:
    r"""APPNP of PyG on the clip graphs of ``x``, computed from the graph's structure.

    Equals ``APPNP(K, alpha)`` on ``batch_graphs(x, grid, topology)`` with
    ``edge_weight = type_weights[edge_type]`` (forward and gradients, up to
    float rounding) for every topology :func:`supports_structured` accepts.

    Args:
        x (Tensor): tokens ``(B, N, C)``, frame-major.
        grid (TokenGrid): their grid, ``N = T * H * W``.
        topology (str or Topology): intra_frame and/or temporal (and none) edges.
        K (int), alpha (float): steps and teleport probability.
        type_weights (Tensor or sequence of float, optional): one positive weight
            per edge type (default: the topology's). Gradients flow into a
            tensor that requires them (plain autograd, :math:`O(KNC)` memory);
            otherwise :class:`StructuredAPPNP` runs (:math:`O(NC)`).

    Shapes:
        input ``(B, N, C)``, output ``(B, N, C)``.

    Example:
        >>> x = torch.randn(2, 8 * 7 * 7, 64)
        >>> structured_appnp(x, TokenGrid(8, 7, 7), "tag", K=2, alpha=0.1).shape
        torch.Size([2, 392, 64])
    """
    grid, topology = TokenGrid.parse(grid), get_topology(topology)
    reason = why_not_structured(topology)
    if reason is not None:
        raise ValueError(f"structured propagation cannot run topology {topology.name!r}: "
                         f"{reason}; use propagation='pyg' (or 'auto')")
    if x.dim() != 3 or x.size(1) != grid.num_nodes:
        raise ValueError(f"tokens of shape {tuple(x.shape)} do not match grid {grid} "
                         f"(expected (B, {grid.num_nodes}, C))")
    B, N, C = x.shape
    if type_weights is None:
        type_weights = topology.weights or (1.0,) * topology.num_edge_types
    h0 = x.reshape(B, grid.T, grid.num_sites, C)  # (B, T, P, C)
    learn = isinstance(type_weights, Tensor) and type_weights.requires_grad
    if learn or is_tracing(x):  # tracers record plain ops; out= buffers are eager-only
        type_weights = torch.as_tensor(type_weights)
        w_c, w_t = _split_weights(topology, type_weights.to(device=x.device, dtype=x.dtype))
        L, c = time_operators(grid, w_c, w_t, alpha, x.dtype, x.device)
        h = h0
        for _ in range(K):
            h = _step(h, h0, L, c, alpha)
    else:
        if isinstance(type_weights, Tensor):
            type_weights = type_weights.tolist()
        w_c, w_t = (float(w) for w in _split_weights(topology, list(type_weights)))
        L, c = _cached_operators(grid, w_c, w_t, alpha, x.dtype, x.device)
        h = StructuredAPPNP.apply(h0.contiguous(), L, c, K, alpha)
    return h.reshape(B, N, C)


_OPERATORS = LRUCache(64, "structured operators")


def _cached_operators(grid: TokenGrid, w_c: float, w_t: float, alpha: float, dtype,
                      device) -> tuple[Tensor, Tensor]:
    """:func:`time_operators`, kept per key in eager mode; built afresh while tracing."""
    def build():
        with torch.inference_mode(False):  # a cached inference tensor could not be saved
            return time_operators(grid, w_c, w_t, alpha, dtype, device)

    return _OPERATORS.get((grid, w_c, w_t, alpha, dtype, torch.device(device)), build)


__all__ = ["structured_appnp", "supports_structured", "why_not_structured", "frame_degree",
           "time_operators",
           "StructuredAPPNP", "STRUCTURED_EDGE_SETS"]
