r"""Graph diagnostics for topologies on token grids.

All diagnostics use the operator TAG-Head propagates with: the weighted
adjacency :math:`M` (:math:`M_{ij}` = weight of the type of edge
:math:`j \to i`), self loops :math:`\tilde M = M + I`, in-degrees
:math:`\tilde D`, :math:`A = \tilde D^{-1/2} \tilde M \tilde D^{-1/2}` (PyG's
``gcn_norm``), and APPNP's

.. math::
    H^{(K)} = \Pi_K H^{(0)}, \qquad
    \Pi_K = (1-\alpha)^K A^K + \alpha \sum_{k=0}^{K-1} (1-\alpha)^k A^k .

Static topologies need only the grid; data-dependent ones also the tokens
``(B, N, C)``, and per-node results then cover all ``B * N`` nodes of the batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from .batching import batch_graphs
from .grid import TokenGrid
from .topology import Topology, get_topology, parse_topology


def resolve(topology) -> Topology:
    """A topology from a name, a spec string (see :func:`parse_topology`) or an object."""
    return parse_topology(topology) if isinstance(topology, str) else get_topology(topology)


def topology_graph(topology, grid, tokens: Tensor | None = None):
    """``(edge_index, edge_type, num_nodes)`` of one clip, or of the batch for dynamic graphs."""
    topology, grid = resolve(topology), TokenGrid.parse(grid)
    if not topology.dynamic:
        return (*topology.edges(grid), grid.num_nodes)
    if tokens is None:
        raise ValueError(f"topology {topology.name!r} is data-dependent; pass tokens of shape "
                         f"(B, {grid.num_nodes}, C)")
    batch = batch_graphs(tokens if tokens.dim() == 3 else tokens.unsqueeze(0), grid, topology)
    return batch.edge_index.cpu(), batch.edge_type.cpu(), batch.num_nodes


def type_edge_weight(topology, edge_type: Tensor, edge_weights: Sequence[float] | None = None,
                     dtype=torch.float64) -> Tensor:
    """Per-edge weights from per-type weights (the topology's own, else ones)."""
    topology = resolve(topology)
    w = topology.type_weights() if edge_weights is None else torch.as_tensor(edge_weights)
    return w.to(dtype=dtype, device=edge_type.device)[edge_type]


@dataclass
class EdgeTypeStats:
    """Edges of one type (or ``"total"``) per clip and the degrees they give each node."""

    name: str
    edges: float
    in_degree: tuple[float, float, float]  # min, mean, max
    out_degree: tuple[float, float, float]
    symmetric: bool
    self_loops: int
    duplicates: int


def _stats(name: str, ei: Tensor, num_nodes: int, clips: int) -> EdgeTypeStats:
    def mmm(deg: Tensor) -> tuple[float, float, float]:
        deg = deg.double()
        return float(deg.min()), float(deg.mean()), float(deg.max())

    keys = torch.unique(ei[0] * num_nodes + ei[1])
    reverse = torch.unique(ei[1] * num_nodes + ei[0])
    return EdgeTypeStats(
        name, ei.size(1) / clips, mmm(torch.bincount(ei[1], minlength=num_nodes)),
        mmm(torch.bincount(ei[0], minlength=num_nodes)), torch.equal(keys, reverse),
        int((ei[0] == ei[1]).sum()), ei.size(1) - keys.numel())


def edge_stats(topology, grid, tokens: Tensor | None = None) -> list[EdgeTypeStats]:
    """Edge count and in/out-degree (min, mean, max) per edge type, then a ``"total"`` row.

    Example:
        >>> [(s.name, s.edges, s.in_degree) for s in edge_stats("tag", "2x2x2")]
        [('intra_frame', 24.0, (3.0, 3.0, 3.0)), ('temporal', 8.0, (1.0, 1.0, 1.0)), ('total', 32.0, (4.0, 4.0, 4.0))]
    """  # noqa: E501
    topology, grid = resolve(topology), TokenGrid.parse(grid)
    ei, et, n = topology_graph(topology, grid, tokens)
    clips = n // grid.num_nodes
    rows = [_stats(name, ei[:, et == i], n, clips) for i, name in enumerate(topology.edge_types)]
    return rows + [_stats("total", ei, n, clips)]


def gcn_degree(topology, grid, tokens=None, edge_weights=None) -> Tensor:
    r"""Weighted in-degree with the self loop, :math:`\tilde D_{ii}`, per node (what APPNP normalises by)."""  # noqa: E501
    ei, et, n = topology_graph(topology, grid, tokens)
    w = type_edge_weight(topology, et, edge_weights)
    return torch.ones(n, dtype=w.dtype).index_add_(0, ei[1], w)


def normalized_adjacency(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                         dtype=torch.float64) -> Tensor:
    r"""Dense :math:`A = \tilde D^{-1/2}(M + I)\tilde D^{-1/2}`, ``A[i, j]`` for edge ``j -> i``."""
    w = None if edge_weight is None else edge_weight.to(dtype)
    ei, w = gcn_norm(edge_index, w, num_nodes, add_self_loops=True, dtype=dtype)
    return torch.zeros(num_nodes, num_nodes, dtype=dtype).index_put_((ei[1], ei[0]), w,
                                                                      accumulate=True)


def propagate(x: Tensor, edge_index: Tensor, num_nodes: int, K: int, alpha: float,
              edge_weight: Tensor | None = None, transpose: bool = False,
              trajectory: bool = False):
    r"""APPNP :math:`H^{(K)} = \Pi_K x` (:math:`\Pi_K^\top x` with ``transpose``) in plain torch.

    Equals ``torch_geometric.nn.APPNP(K, alpha)(x, edge_index, edge_weight)``.
    With ``trajectory=True`` returns the list :math:`[H^{(0)}, \dots, H^{(K)}]`.
    """
    w = None if edge_weight is None else edge_weight.to(x.dtype)
    ei, w = gcn_norm(edge_index, w, num_nodes, add_self_loops=True, dtype=x.dtype)
    rows = ei if transpose else ei.flip(0)  # A[target, source]
    A = torch.sparse_coo_tensor(rows, w, (num_nodes, num_nodes), check_invariants=False)
    A = A.coalesce()
    h, out = x, [x]
    for _ in range(K):
        h = (1 - alpha) * torch.sparse.mm(A, h) + alpha * x
        out.append(h)
    return out if trajectory else h


def _components(edge_index: Tensor, num_nodes: int) -> int:
    """Weakly connected components by min-label propagation."""
    label = torch.arange(num_nodes)
    src = torch.cat([edge_index[0], edge_index[1]])
    dst = torch.cat([edge_index[1], edge_index[0]])
    while True:
        new = label.scatter_reduce(0, dst, label[src], reduce="amin")
        if torch.equal(new, label):
            return int(torch.unique(label).numel())
        label = new


@dataclass
class Spectrum:
    """Eigenvalues of ``A`` (descending; real parts for directed graphs) and the spectral gap."""

    eigenvalues: Tensor
    gap: float  # 1 - lambda_2: 0 when the graph is disconnected
    components: int
    symmetric: bool


def spectrum(topology, grid, tokens=None, edge_weights=None, max_nodes: int = 4096) -> Spectrum:
    r"""Spectrum of :math:`A` for one clip (the first clip for data-dependent graphs).

    :math:`\lambda_1 = 1` for symmetric graphs; the gap :math:`1 - \lambda_2` is
    the smallest non-zero eigenvalue of the normalised Laplacian :math:`I - A`:
    the larger it is, the faster propagation mixes the clip towards one vector.
    """
    grid = TokenGrid.parse(grid)
    if tokens is not None and tokens.dim() == 3:
        tokens = tokens[:1]
    ei, et, n = topology_graph(topology, grid, tokens)
    if n > max_nodes:
        raise ValueError(f"spectrum of {n} nodes needs a dense {n}x{n} matrix; use a smaller "
                         f"grid than {grid} or raise max_nodes")
    A = normalized_adjacency(ei, n, type_edge_weight(topology, et, edge_weights))
    symmetric = torch.allclose(A, A.T)
    eig = torch.linalg.eigvalsh(A) if symmetric else torch.linalg.eigvals(A).real
    eig = eig.sort(descending=True).values
    gap = float(1 - eig[1]) if n > 1 else 0.0
    return Spectrum(eig, max(gap, 0.0), _components(ei, n), symmetric)


def _frames(grid: TokenGrid, num_nodes: int) -> Tensor:
    return grid.frame().repeat(num_nodes // grid.num_nodes)


def step_shares(topology, grid, tokens=None, edge_weights=None) -> Tensor:
    r"""Shares of one step of :math:`A` per node: ``[:, 0]`` self, ``[:, 1]`` other sites of
    the same frame, ``[:, 2]`` other frames (row ``i`` of ``A``, normalised to sum 1).

    For TAG-Head's graph a node of an inner frame has degree :math:`P + 2`, so with
    ``P = 49`` its step is 1/51 self, 48/51 same frame and 2/51 other frames.
    """
    grid = TokenGrid.parse(grid)
    ei, et, n = topology_graph(topology, grid, tokens)
    w = type_edge_weight(topology, et, edge_weights)
    ei, w = gcn_norm(ei, w, n, add_self_loops=True, dtype=w.dtype)
    frame = _frames(grid, n)
    kind = torch.where(ei[0] == ei[1], 0, torch.where(frame[ei[0]] == frame[ei[1]], 1, 2))
    out = torch.zeros(n * 3, dtype=w.dtype).index_add_(0, ei[1] * 3 + kind, w).view(n, 3)
    return out / out.sum(1, keepdim=True)


def frame_mass(topology, grid, K: int = 2, alpha: float = 0.1, tokens=None,
               edge_weights=None) -> Tensor:
    r"""Share of each node's APPNP output that comes from each frame, ``[num_nodes, T]``.

    Row ``i`` is :math:`\Pi_K[i, \text{frame } t]` summed over the frame's
    nodes and normalised to sum 1; ``mass[i, frame(i)]`` is the share that stays
    in the node's own frame. Computed as :math:`\Pi_K` applied to frame indicators.
    """
    grid = TokenGrid.parse(grid)
    ei, et, n = topology_graph(topology, grid, tokens)
    onehot = torch.nn.functional.one_hot(_frames(grid, n), grid.T).double()
    mass = propagate(onehot, ei, n, K, alpha, type_edge_weight(topology, et, edge_weights))
    return mass / mass.sum(1, keepdim=True)


def offset_shares(mass: Tensor, grid) -> Tensor:
    """Mean share of output mass from frames ``|dt| = 0, 1, ..., T-1`` away, ``[T]``."""
    grid = TokenGrid.parse(grid)
    dt = (_frames(grid, mass.size(0)).unsqueeze(1) - torch.arange(grid.T)).abs()  # (n, T)
    return torch.zeros_like(mass).scatter_add_(1, dt, mass).mean(0)


def pooling_weights(topology, grid, K: int = 2, alpha: float = 0.1, tokens=None,
                    edge_weights=None) -> Tensor:
    r"""Weights :math:`\omega = \Pi_K^\top \mathbf 1` with :math:`\frac1N\sum_i (\Pi_K H)_i = \frac1N\sum_j \omega_j h_j`.

    TAG-Head mean-pools right after APPNP, so for a static graph the propagation
    reaches the logits only as this fixed reweighting of the encoder tokens
    (all ones = propagation leaves the pooled features unchanged; regular graphs
    with symmetric normalisation give exactly that).
    """  # noqa: E501
    ei, et, n = topology_graph(topology, grid, tokens)
    ones = torch.ones(n, 1, dtype=torch.float64)
    w = type_edge_weight(topology, et, edge_weights)
    return propagate(ones, ei, n, K, alpha, w, transpose=True).squeeze(1)


def dirichlet_energy(x: Tensor, edge_index: Tensor, num_nodes: int | None = None,
                     edge_weight: Tensor | None = None) -> Tensor:
    r"""Normalised Dirichlet energy of node features ``x [n, C]`` on a graph:

    .. math::
        E(X) = \tfrac12 \sum_{(j \to i)} M_{ij}
               \Big\| \tfrac{x_i}{\sqrt{\tilde d_i}} - \tfrac{x_j}{\sqrt{\tilde d_j}} \Big\|^2
             = \operatorname{tr}\big(X^\top (I - A) X\big) \text{ (symmetric graphs)}.

    Zero exactly when :math:`x_i \propto \sqrt{\tilde d_i}` on every connected
    component: the over-smoothed state that APPNP with :math:`\alpha = 0` tends to.
    """
    n = x.size(0) if num_nodes is None else num_nodes
    w = torch.ones(edge_index.size(1), dtype=x.dtype, device=x.device) if edge_weight is None \
        else edge_weight.to(x.dtype)
    src, dst = edge_index
    deg = torch.ones(n, dtype=x.dtype, device=x.device).index_add_(0, dst, w)
    y = x / deg.sqrt().unsqueeze(1)
    sq = y.pow(2).sum(1)
    # expand the square: sparse products instead of gathering [E, C] differences
    M = torch.sparse_coo_tensor(torch.stack([dst, src]), w, (n, n), check_invariants=False)
    cross = (y * torch.sparse.mm(M.coalesce(), y)).sum()
    out_w = torch.zeros_like(deg).index_add_(0, src, w)
    return (0.5 * ((deg - 1) * sq).sum() + 0.5 * (out_w * sq).sum() - cross).clamp_min(0)


def mean_pairwise_cosine(x: Tensor) -> Tensor:
    r"""Mean cosine similarity over ordered pairs :math:`i \ne j` of each clip, ``(B, N, C) -> (B,)``.

    Uses :math:`\sum_{i \ne j} \hat x_i \cdot \hat x_j = \|\sum_i \hat x_i\|^2 - N`
    (for non-zero rows), so it costs :math:`O(NC)`.
    """  # noqa: E501
    xn = torch.nn.functional.normalize(x, dim=-1)
    N = x.size(1)
    self_terms = xn.pow(2).sum((1, 2))
    return (xn.sum(1).pow(2).sum(-1) - self_terms) / (N * (N - 1))


@dataclass
class OversmoothingCurves:
    """Dirichlet energy per node and mean pairwise cosine of ``H^(K)``, shape ``(alphas, Ks)``."""

    Ks: list[int]
    alphas: list[float]
    energy: Tensor
    cosine: Tensor

    @property
    def energy_ratio(self) -> Tensor:
        """Energy relative to the input's, :math:`E(H^{(K)}) / E(H^{(0)})`."""
        return self.energy / self.energy[:, :1]


def oversmoothing_curves(tokens: Tensor, grid, topology="tag",
                         Ks: Sequence[int] = (0, 1, 2, 4, 8, 16, 32),
                         alphas: Sequence[float] = (0.0, 0.1, 0.2, 0.5),
                         edge_weights=None) -> OversmoothingCurves:
    r"""How fast APPNP smooths the tokens ``(B, N, C)``: energy and cosine vs K and alpha.

    The graph is built once from the input tokens (as :class:`GraphPropagation`
    does) and the energy is measured on that same graph, averaged per node; the
    cosine is graph-free. One trajectory per alpha gives every ``K`` (APPNP with
    ``K`` steps is the ``K``-th iterate of the same recursion).
    """
    grid = TokenGrid.parse(grid)
    tokens = tokens if tokens.dim() == 3 else tokens.unsqueeze(0)
    topology = resolve(topology)
    B, N, C = tokens.shape
    batch = batch_graphs(tokens.detach().double(), grid, topology)
    ei, n = batch.edge_index, batch.num_nodes
    w = type_edge_weight(topology, batch.edge_type, edge_weights)
    Ks = sorted(int(k) for k in Ks)
    energy = torch.zeros(len(alphas), len(Ks), dtype=torch.float64)
    cosine = torch.zeros_like(energy)
    for a, alpha in enumerate(alphas):
        traj = propagate(batch.x, ei, n, Ks[-1], float(alpha), w, trajectory=True)
        for j, k in enumerate(Ks):
            energy[a, j] = dirichlet_energy(traj[k], ei, n, w) / n
            cosine[a, j] = mean_pairwise_cosine(traj[k].view(B, N, C)).mean()
    return OversmoothingCurves(Ks, [float(a) for a in alphas], energy, cosine)


def summarize(topology, grid, K: int = 2, alpha: float = 0.1, tokens=None, edge_weights=None,
              max_spectrum_nodes: int = 2048) -> dict:
    """All structural diagnostics of a topology on a grid as a JSON-ready dict.

    Keys: topology, grid, edge_types, dynamic, edges (per type and total),
    degree (with self loop: min/mean/max and per-frame mean), spectrum (None
    beyond ``max_spectrum_nodes``), step (one step of ``A``: mean and per-frame
    self / same frame / other frames), appnp (own-frame share, shares by
    ``|dt|``, per-frame own share), pooling (weights ``Pi^T 1``) and mean_readout
    (:func:`mean_readout_equivalence`: is the graph inert under the mean readout?).
    """
    topology, grid = resolve(topology), TokenGrid.parse(grid)
    kw = dict(tokens=tokens, edge_weights=edge_weights)
    per_frame = lambda v: v.view(-1, grid.T, grid.num_sites).mean((0, 2)).tolist()  # noqa: E731
    degree = gcn_degree(topology, grid, **kw)
    steps = step_shares(topology, grid, **kw)
    mass = frame_mass(topology, grid, K, alpha, **kw)
    own = mass.gather(1, _frames(grid, mass.size(0)).unsqueeze(1)).squeeze(1)
    pool = pooling_weights(topology, grid, K, alpha, **kw)
    inert = mean_readout_equivalence(topology, grid, K, alpha, **kw)
    spec = None
    if grid.num_nodes <= max_spectrum_nodes:
        s = spectrum(topology, grid, **kw)
        spec = dict(lambda_2=float(s.eigenvalues[1]) if s.eigenvalues.numel() > 1 else None,
                    lambda_min=float(s.eigenvalues[-1]), gap=s.gap, components=s.components,
                    symmetric=s.symmetric, eigenvalues=s.eigenvalues.tolist())
    return dict(
        topology=topology.name, grid=str(grid), edge_types=list(topology.edge_types),
        weights=topology.type_weights().tolist() if edge_weights is None else list(edge_weights),
        dynamic=topology.dynamic,
        edges=[vars(s) for s in edge_stats(topology, grid, tokens)],
        degree=dict(min=float(degree.min()), mean=float(degree.mean()), max=float(degree.max()),
                    per_frame=per_frame(degree)),
        spectrum=spec,
        step=dict(self=float(steps[:, 0].mean()), same_frame=float(steps[:, 1].mean()),
                  other_frames=float(steps[:, 2].mean()),
                  per_frame=[per_frame(steps[:, i]) for i in range(3)]),
        appnp=dict(K=K, alpha=alpha, own_frame=float(own.mean()),
                   other_frames=float(1 - own.mean()), by_offset=offset_shares(mass, grid).tolist(),
                   per_frame_own=per_frame(own)),
        pooling=dict(min=float(pool.min()), max=float(pool.max()), per_frame=per_frame(pool)),
        mean_readout=dict(vars(inert), equivalent=inert.equivalent),
    )


#: Default tolerance on :math:`\max_j |\omega_j - 1|` below which a topology counts as
#: equivalent to no graph under the mean readout.
MEAN_READOUT_TOL = 1e-3


@dataclass
class MeanReadoutEquivalence:
    r"""How far a topology's pooling weights :math:`\omega = \Pi_K^\top \mathbf 1` are from 1.

    Under the mean readout the pooled feature changes by
    :math:`\frac1N\sum_j (\omega_j - 1) h_j`, whose norm is at most
    ``deviation`` times the mean token norm: ``deviation <= tol`` means the graph
    is equivalent to no graph within ``tol`` (exactly, when ``deviation`` is 0).
    """

    w_min: float
    w_max: float
    deviation: float  # max_j |w_j - 1|
    tol: float
    dynamic: bool

    @property
    def equivalent(self) -> bool:
        return not self.dynamic and self.deviation <= self.tol

    def describe(self) -> str:
        """One sentence in words for ``tagnet topology``."""
        head = (f"pooling weights w = Pi_K^T 1 range {self.w_min:.6g}..{self.w_max:.6g} "
                f"(max |w - 1| = {self.deviation:.3g})")
        if self.dynamic:
            return (head + " for these tokens; the graph is built from the tokens, so it is "
                    "not a fixed reweighting and can change the pooled features")
        if self.deviation == 0:
            return (head + ": under the mean readout this topology is EXACTLY equivalent to no "
                    "graph (pooled features identical up to float rounding)")
        if self.equivalent:
            return (head + f": under the mean readout this topology is equivalent to no graph "
                    f"within tolerance {self.tol:g} (pooled features move by at most "
                    f"{self.deviation:.2g} x the mean token norm)")
        return (head + f": under the mean readout this topology is NOT equivalent to no graph "
                f"(beyond tolerance {self.tol:g}): it reweights the tokens by up to "
                f"{100 * self.deviation:.3g}% (w within 1 +- {self.deviation:.2g}), so pooled "
                f"features move by at most {self.deviation:.2g} x the mean token norm")


def mean_readout_equivalence(topology, grid, K: int = 2, alpha: float = 0.1, tokens=None,
                             edge_weights=None, tol: float = MEAN_READOUT_TOL
                             ) -> MeanReadoutEquivalence:
    r"""Whether APPNP on ``topology`` followed by the mean readout equals no graph on ``grid``.

    APPNP on a static graph is linear, so mean pooling after it gives
    :math:`\frac1N\sum_i (\Pi_K H)_i = \frac1N\sum_j \omega_j h_j` with
    :math:`\omega = \Pi_K^\top \mathbf 1` (:func:`pooling_weights`). With symmetric
    normalisation a regular graph has :math:`A\mathbf 1 = \mathbf 1`, hence
    :math:`\omega = \mathbf 1`: the graph has no effect at all on the logits.

    Example:
        >>> mean_readout_equivalence("tag", "2x7x7").deviation < 1e-12
        True
    """
    topology = resolve(topology)
    w = pooling_weights(topology, grid, K, alpha, tokens=tokens, edge_weights=edge_weights)
    dev = float((w - 1).abs().max())
    if dev < 1e-12:  # float64 rounding of an exact 1
        dev = 0.0
    return MeanReadoutEquivalence(float(w.min()), float(w.max()), dev, tol, topology.dynamic)
