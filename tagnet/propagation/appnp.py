"""Parameter-free graph propagation of the tokens (APPNP on the clip graphs)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import APPNP

from tagnet.graphs import TokenGrid, get_topology
from tagnet.propagation.functional import check_method, propagate, resolve_method


class GraphPropagation(nn.Module):
    r"""Personalised-PageRank propagation (APPNP) over the typed clip graphs.

    With :math:`H^{(0)}` the encoder output and
    :math:`A = \tilde D^{-1/2} (M + I) \tilde D^{-1/2}` the symmetrically
    normalised adjacency with self loops (:math:`M_{ij}` = weight of the type
    of edge :math:`j \to i`, 1 by default),

    .. math::
        H^{(k+1)} = (1 - \alpha) A H^{(k)} + \alpha H^{(0)}, \quad k = 0..K-1.

    APPNP has no weights. Per-type edge weights are fixed numbers (a buffer, read
    once at construction: they key the graph cache) or, with
    ``learn_edge_weights=True``, parameters kept positive as ``exp(log_edge_weight)``.

    ``propagation`` picks how the same result is computed
    (:mod:`tagnet.propagation.functional`): ``"pyg"`` runs PyG's APPNP on the batched clip
    graphs, whose normalised adjacency is built once per (grid, batch size,
    device, dtype) and reused; ``"structured"`` uses the closed form of
    intra-frame cliques and time-aligned links (:mod:`tagnet.propagation.structured`,
    :math:`O(NC)` per step instead of :math:`O(EC)`); ``"auto"`` takes
    ``"structured"`` when the topology allows it and ``"pyg"`` otherwise.

    Args:
        topology (str or Topology): the graph (default ``"tag"``).
        K (int): propagation steps (2 in the released code; APPNP's paper uses 10).
        alpha (float): teleport probability (0.1).
        edge_weights (sequence of float, optional): one weight per edge type;
            defaults to the topology's weights, else ones.
        learn_edge_weights (bool): learn the per-type weights.
        propagation (str): ``"auto"`` (default), ``"pyg"`` or ``"structured"``
            (also ``"pyg-edge"``, ``"pyg-csr"``, ``"dense"``); every method gives the
            same result up to float rounding.

    Shapes:
        - input: tokens ``(B, N, C)`` and their :class:`TokenGrid`;
        - output: ``(B, N, C)``.
    """

    def __init__(
        self,
        topology="tag",
        K: int = 2,
        alpha: float = 0.1,
        edge_weights: Sequence[float] | None = None,
        learn_edge_weights: bool = False,
        propagation: str = "auto",
    ) -> None:
        super().__init__()
        if K < 0 or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"APPNP needs K >= 0 and 0 <= alpha <= 1, got K={K}, alpha={alpha}")
        self.topology = get_topology(topology)
        self.K, self.alpha = K, alpha
        self.method = check_method(propagation)
        resolve_method(propagation, self.topology)  # raises now for structured on a custom graph
        # the normalised graphs come from graph_cache, so APPNP must not normalise again
        self.appnp = APPNP(K=K, alpha=alpha, normalize=False)
        n = self.topology.num_edge_types
        if edge_weights is None:
            weights = self.topology.type_weights()
        else:
            weights = torch.as_tensor(edge_weights, dtype=torch.float).flatten()
        if weights.numel() != n or not bool((weights.isfinite() & (weights > 0)).all()):
            raise ValueError(
                f"edge_weights {weights.tolist()} must be {n} finite positive numbers, one per "
                f"edge type {self.topology.edge_types}"
            )
        self.learn_edge_weights = learn_edge_weights
        self._unit_weights = not learn_edge_weights and bool((weights == 1).all())
        if learn_edge_weights:
            self.log_edge_weight = nn.Parameter(weights.log())
        else:
            self.register_buffer("edge_weight", weights, persistent=False)
        self._fixed_weights = None if learn_edge_weights else tuple(weights.tolist())

    def type_weights(self) -> Tensor:
        """Current per-type edge weights, shape ``[num_edge_types]``."""
        return self.log_edge_weight.exp() if self.learn_edge_weights else self.edge_weight

    def resolved_method(self, dtype: torch.dtype = torch.float32) -> str:
        """The concrete method that runs for inputs of ``dtype`` (resolves ``"auto"``)."""
        return resolve_method(self.method, self.topology, dtype)

    def forward(self, x: Tensor, grid: TokenGrid) -> Tensor:
        if self.K == 0 or self.topology.edge_types == ("none",):
            return x  # A = I when there are no edges: every step returns its input
        # fixed weights travel as floats: cache keys without a device sync
        weights = self.type_weights() if self.learn_edge_weights else self._fixed_weights
        return propagate(x, grid, self.topology, self.K, self.alpha, self.method, weights,
                         appnp=self.appnp)

    def extra_repr(self) -> str:
        s = f"topology={self.topology.name!r}, K={self.K}, alpha={self.alpha}"
        if self.method != "auto":
            s += f", propagation={self.method!r}"
        if not self._unit_weights:
            w = [round(float(v), 4) for v in self.type_weights().detach()]
            s += f", edge_weights={w}, learnable={self.learn_edge_weights}"
        return s


def appnp_dense_reference(x: Tensor, edge_index: Tensor, edge_weight: Tensor | None,
                          K: int, alpha: float) -> Tensor:
    """Dense closed form of APPNP for tests and diagnostics (small graphs only).

    ``x`` is ``(N, C)``; builds ``M`` densely, adds ``I``, normalises symmetrically
    and iterates ``H <- (1 - alpha) A H + alpha H0`` ``K`` times.
    """
    N = x.size(0)
    w = torch.ones(edge_index.size(1), dtype=x.dtype) if edge_weight is None else edge_weight
    M = torch.zeros(N, N, dtype=x.dtype).index_put_(
        (edge_index[1], edge_index[0]), w.to(x.dtype), accumulate=True)
    M = M + torch.eye(N, dtype=x.dtype)
    d = M.sum(1).pow(-0.5)
    A = d[:, None] * M * d[None, :]
    h = x
    for _ in range(K):
        h = (1 - alpha) * A @ h + alpha * x
    return h


__all__ = ["GraphPropagation", "appnp_dense_reference"]
