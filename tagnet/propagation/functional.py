r"""``propagate``: APPNP over the clip graphs of a token batch, by several exact methods.

All methods compute the same thing, PyG's ``APPNP(K, alpha)`` on
``batch_graphs(tokens, grid, topology)`` with ``edge_weight = w[edge_type]``:

.. math::
    H^{(k+1)} = (1 - \alpha) \tilde D^{-1/2} (M + I) \tilde D^{-1/2} H^{(k)} + \alpha H^{(0)}.

========== ================================================================ ===============
method     how                                                              cost per step
========== ================================================================ ===============
pyg-edge   PyG message passing on the cached, normalised batched edge list  :math:`O(EC)`
pyg-csr    PyG APPNP on a cached ``torch.sparse_csr`` adjacency             :math:`O(EC)`
pyg        ``pyg-csr`` where it applies (static topology, float32/float64),
           else ``pyg-edge``
structured a ``T x T`` product along ``t`` and frame sums                   :math:`O(NC)`
           (:mod:`tagnet.propagation.structured`); intra_frame / temporal / none only
dense      one clip's dense ``[N, N]`` matrix, batched matmul (small grids)  :math:`O(N^2C)`
auto       ``structured`` where it applies, else ``pyg``
========== ================================================================ ===============

The methods differ only by float rounding (the order of the sums). ``pyg``
takes the CSR layout because it measured fastest of the PyG variants on CPU
(``benchmarks/bench_propagation.py``; torch_sparse is an optional extra).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.nn import APPNP
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from tagnet.graphs import TokenGrid, batch_graphs, get_topology
from tagnet.graphs.caching import LRUCache
from tagnet.propagation.graph_cache import as_weight_tensor, gcn_graph
from tagnet.propagation.structured import structured_appnp, why_not_structured

METHODS = ("auto", "pyg", "structured", "pyg-edge", "pyg-csr", "dense")
_CSR_DTYPES = (torch.float32, torch.float64)  # torch.sparse.mm on CPU has no half kernels


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else a ``ValueError`` listing them."""
    if method not in METHODS:
        raise ValueError(f"propagation method {method!r} is unknown; known: {', '.join(METHODS)}")
    return method


def resolve_method(method: str, topology, dtype: torch.dtype = torch.float32) -> str:
    """The concrete method (``structured``, ``pyg-edge``, ``pyg-csr`` or ``dense``) that runs.

    ``"auto"`` gives ``"structured"`` exactly when
    :func:`~tagnet.propagation.structured.supports_structured`
    holds; ``"pyg"`` gives ``"pyg-csr"`` for static topologies in float32/float64.
    An explicit ``"structured"`` on another topology raises, naming the reason.
    """
    topology = get_topology(topology)
    check_method(method)
    if method == "auto":
        method = "structured" if why_not_structured(topology) is None else "pyg"
    if method == "pyg":
        method = "pyg-csr" if not topology.dynamic and dtype in _CSR_DTYPES else "pyg-edge"
    reason = why_not_structured(topology) if method == "structured" else None
    if reason is not None:
        raise ValueError(f"propagation='structured' cannot run topology {topology.name!r}: "
                         f"{reason}; use 'pyg' or 'auto'")
    if method in ("pyg-csr", "dense") and topology.dynamic:
        raise ValueError(f"propagation={method!r} needs a static topology; {topology.name!r} "
                         "has data-dependent edges: use 'pyg' or 'pyg-edge'")
    return method


_APPNPS = LRUCache(32, "APPNP modules")
_eager_gcn_graph = torch.compiler.disable(gcn_graph)


def _appnp(K: int, alpha: float) -> APPNP:
    """A shared parameter-free ``APPNP(K, alpha, normalize=False)`` (a fresh one while tracing)."""
    return _APPNPS.get((K, alpha), lambda: APPNP(K=K, alpha=alpha, normalize=False))


def _pyg_dynamic(x: Tensor, grid, topology, appnp: APPNP, type_weights) -> Tensor:
    """PyG on a topology with data-dependent edges: batch and normalise per call."""
    batch = batch_graphs(x, grid, topology)
    w = as_weight_tensor(type_weights, x.dtype, x.device)[batch.edge_type]
    edge_index, edge_weight = gcn_norm(batch.edge_index, w, batch.num_nodes, False, True,
                                       "source_to_target", x.dtype)
    return appnp(batch.x, edge_index, edge_weight)


def propagate(
    tokens: Tensor,
    grid: TokenGrid | str | tuple,
    topology="tag",
    K: int = 2,
    alpha: float = 0.1,
    method: str = "auto",
    edge_weights: Tensor | Sequence[float] | None = None,
    *,
    appnp: APPNP | None = None,
) -> Tensor:
    r"""APPNP of ``tokens`` over their clip graphs (see the table in this module).

    Args:
        tokens (Tensor): ``(B, N, C)`` frame-major tokens, ``N = T * H * W``.
        grid (TokenGrid or "TxHxW"): the token grid.
        topology (str or Topology): the clip graph (``"tag"``).
        K (int): propagation steps (2). alpha (float): teleport probability (0.1).
        method (str): ``"auto"``, ``"pyg"``, ``"structured"``, ``"pyg-edge"``,
            ``"pyg-csr"`` or ``"dense"``.
        edge_weights (Tensor or sequence of float, optional): one weight per
            edge type (default: the topology's weights, else ones); gradients
            flow into a tensor that requires them.
        appnp (APPNP, optional): the ``APPNP(normalize=False)`` module to run
            for the ``pyg*`` methods (a shared one by default).

    Shapes:
        input ``(B, N, C)``, output ``(B, N, C)``.

    Example:
        >>> x = torch.randn(2, 4 * 7 * 7, 64)
        >>> y = propagate(x, "4x7x7", "tag", K=2, alpha=0.1)  # structured
        >>> torch.allclose(y, propagate(x, "4x7x7", method="pyg"), atol=1e-5)
        True
    """
    grid, topology = TokenGrid.parse(grid), get_topology(topology)
    if tokens.dim() != 3 or tokens.size(1) != grid.num_nodes:
        raise ValueError(f"tokens of shape {tuple(tokens.shape)} do not match grid {grid} "
                         f"(expected (B, {grid.num_nodes}, C))")
    if K < 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"APPNP needs K >= 0 and 0 <= alpha <= 1, got K={K}, alpha={alpha}")
    method = resolve_method(method, topology, tokens.dtype)
    if edge_weights is None:
        edge_weights = topology.weights or (1.0,) * topology.num_edge_types
    n = len(edge_weights)
    if n != topology.num_edge_types:
        raise ValueError(f"{n} edge weights given for the {topology.num_edge_types} edge types "
                         f"{topology.edge_types} of topology {topology.name!r}")
    if not isinstance(edge_weights, Tensor) and not all(
            math.isfinite(w) and w > 0 for w in map(float, edge_weights)):
        raise ValueError(f"edge_weights {list(edge_weights)} must be finite positive numbers, "
                         f"one per edge type {topology.edge_types}")
    if method == "structured":
        return structured_appnp(tokens, grid, topology, K, alpha, edge_weights)
    B, N, C = tokens.shape
    if K == 0:
        return tokens
    if method == "dense":
        A, _ = gcn_graph(grid, topology, 1, device=tokens.device, dtype=tokens.dtype,
                         type_weights=edge_weights, layout="dense")
        h = tokens
        for _ in range(K):
            h = (1 - alpha) * (A @ h) + alpha * tokens  # A (N, N) @ h (B, N, C)
        return h
    appnp = appnp if appnp is not None else _appnp(K, alpha)
    if appnp.normalize or appnp.K != K or appnp.alpha != alpha:
        raise ValueError(f"propagate needs APPNP(K={K}, alpha={alpha}, normalize=False), got "
                         f"{appnp!r} with normalize={appnp.normalize}")
    x = tokens.reshape(B * N, C)
    if topology.dynamic:
        return _pyg_dynamic(tokens, grid, topology, appnp, edge_weights).view(B, N, C)
    layout = "csr" if method == "pyg-csr" else "edge"
    # under torch.compile the cached graph is looked up eagerly (one graph break), not traced
    graph = _eager_gcn_graph if torch.compiler.is_compiling() else gcn_graph
    adj, edge_weight = graph(grid, topology, B, device=tokens.device, dtype=tokens.dtype,
                         type_weights=edge_weights, layout=layout)
    return appnp(x, adj, edge_weight).view(B, N, C)


__all__ = ["propagate", "resolve_method", "check_method", "METHODS"]
