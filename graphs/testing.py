r"""Assertion helpers for edge sets and topologies, to call in your own pytest suite.

The contract every edge set and topology of tagnet meets, as functions (in
the manner of :mod:`torch.testing`) that raise ``AssertionError`` with a
message naming the edge set or topology, the grid and the first offending
edge or node:

.. code-block:: text

    assert_valid_edge_set(edge_set)      [2, E] long, ids in range, no self loops, no duplicates,
                                         symmetric if declared (however the edge set is named:
                                         registered name, object, function, MODULE:ATTR),
                                         deterministic, no loop over nodes
    assert_valid_topology(topology)      every edge set above; edge type = position of the edge
                                         set; one positive weight per type
    assert_batch_equivalent(topo, grid)  batch_graphs == Batch.from_data_list of per-clip graphs
    assert_propagation_matches_dense(topo, grid)   every propagation method == dense closed form
    grids(), token_batches(grid)         hypothesis strategies (hypothesis is optional)

Example:
    >>> import torch
    >>> from tagnet.graphs.testing import assert_valid_edge_set
    >>> def skip2(grid):  # same site, two frames apart, both directions
    ...     n = torch.arange(max(grid.T - 2, 0) * grid.num_sites)
    ...     far = n + 2 * grid.num_sites
    ...     return torch.stack([torch.cat([n, far]), torch.cat([far, n])])
    >>> assert_valid_edge_set(skip2, symmetric=True)
    >>> assert_valid_edge_set(lambda grid: skip2(grid)[:, :1], symmetric=True)
    Traceback (most recent call last):
        ...
    AssertionError: edge set '<lambda>' on grid 4x1x1: edge 0 (0 -> 2) has no reverse edge (2 -> 0) though the edge set is declared symmetric; node 0 = (t, h, w) (0, 0, 0)
"""  # noqa: E501
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .edge_sets import EdgeSet, get_edge_set
from .grid import TokenGrid
from .topology import Topology

#: Grids every check runs on: one frame, one site per frame, and non-square frames.
DEFAULT_GRIDS = (TokenGrid(1, 2, 3), TokenGrid(4, 1, 1), TokenGrid(3, 2, 3), TokenGrid(2, 3, 2))
#: The loop check: a warm-up grid, then two grids of 24 and 200 nodes with the same frames.
LOOP_GRIDS = (TokenGrid(2, 3, 3), TokenGrid(2, 4, 3), TokenGrid(2, 10, 10))
_BATCH, _CHANNELS = 2, 4  # tokens given to data-dependent edge sets


def _tokens(grid: TokenGrid, batch_size: int = _BATCH, channels: int = _CHANNELS,
            dtype=torch.float32, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, grid.num_nodes, channels, generator=g).to(dtype)


def _as_edge_set(edge_set) -> EdgeSet:
    # one resolver for names, objects, classes and functions: each keeps its declared flags
    if isinstance(edge_set, (str, EdgeSet)) or callable(edge_set):
        return get_edge_set(edge_set)
    raise TypeError(f"expected an edge-set name, an EdgeSet or a function grid -> edge_index, "
                    f"got {edge_set!r}")


def _as_topology(topology) -> Topology:
    from .diagnostics import resolve  # names, '+' specs and objects

    return resolve(topology)


def _grids(grids) -> list[TokenGrid]:
    return [TokenGrid.parse(g) for g in (DEFAULT_GRIDS if grids is None else grids)]


def _node(n: int, grid: TokenGrid) -> str:
    b, n = divmod(int(n), grid.num_nodes)
    clip = f"clip {b} " if b else ""
    return f"{clip}node {n} = (t, h, w) {grid.coords(n)}"


def _edge(ei: Tensor, j: int) -> str:
    return f"edge {j} ({int(ei[0, j])} -> {int(ei[1, j])})"


def _first(mask: Tensor) -> int | None:
    idx = mask.nonzero()
    return int(idx[0, 0]) if idx.numel() else None


def assert_valid_edge_index(edge_index, grid, *, symmetric: bool = False, batch_size: int = 1,
                            name: str = "edge_index") -> None:
    r"""Check one built ``edge_index`` on ``grid``: the per-grid part of the contract.

    Shape ``[2, E]``, dtype ``torch.long``, node ids in ``[0, B * N)``, no edge
    between two clips, no self loops, no duplicate edges and, with
    ``symmetric=True``, the reverse of every edge.

    Args:
        edge_index (Tensor): the edges, source in row 0.
        grid (TokenGrid or "TxHxW"): the token grid, ``N = T * H * W`` nodes per clip.
        symmetric (bool): also require :math:`(i, j) \in E \Rightarrow (j, i) \in E`.
        batch_size (int): clips in ``edge_index`` (node ids offset by ``b * N``).
        name (str): what to call the edges in messages (``"edge set 'x' on grid 2x2x2"``).
    """
    grid = TokenGrid.parse(grid)
    if not isinstance(edge_index, Tensor):
        raise AssertionError(f"{name}: returned {type(edge_index).__name__}, expected a Tensor "
                             "[2, E]")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise AssertionError(f"{name}: wrong shape {tuple(edge_index.shape)}; expected [2, E] "
                             "(source ids in row 0, target ids in row 1)")
    if edge_index.dtype != torch.long:
        raise AssertionError(f"{name}: dtype {edge_index.dtype}; expected torch.long (int64) "
                             "node ids")
    ei, N = edge_index.cpu(), grid.num_nodes
    n = N * batch_size
    j = _first(((ei < 0) | (ei >= n)).any(0))
    if j is not None:
        raise AssertionError(f"{name}: {_edge(ei, j)} has a node id out of range [0, {n}) "
                             f"({batch_size} clip(s) of {N} nodes)")
    j = _first(torch.div(ei[0], N, rounding_mode="floor") != torch.div(ei[1], N,
                                                                      rounding_mode="floor"))
    if j is not None:
        raise AssertionError(f"{name}: {_edge(ei, j)} joins two clips: {_node(ei[0, j], grid)}, "
                             f"{_node(ei[1, j], grid)}")
    j = _first(ei[0] == ei[1])
    if j is not None:
        raise AssertionError(f"{name}: self loop at {_edge(ei, j)}, {_node(ei[0, j], grid)}; "
                             "edge sets must not add self loops (gcn_norm adds them once)")
    keys = ei[0] * n + ei[1]
    order = torch.sort(keys, stable=True).indices
    repeat = keys[order][1:] == keys[order][:-1]
    if repeat.any():
        later = order[1:][repeat]
        j = int(later.min())
        first = int(order[(keys[order] == keys[j]).nonzero()[0, 0]])
        raise AssertionError(f"{name}: duplicate edge: {_edge(ei, j)} repeats edge {first}; "
                             f"{_node(ei[0, j], grid)}")
    if symmetric:
        j = _first(~torch.isin(ei[1] * n + ei[0], keys))
        if j is not None:
            raise AssertionError(
                f"{name}: {_edge(ei, j)} has no reverse edge ({int(ei[1, j])} -> "
                f"{int(ei[0, j])}) though the edge set is declared symmetric; "
                f"{_node(ei[0, j], grid)}")


def _python_lines(fn: Callable[[], object]) -> int:
    """Python lines executed by ``fn()`` (every frame it enters); C code counts nothing."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        count += event == "line"
        return local

    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: local)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


def _build(edge_set: EdgeSet, grid: TokenGrid):
    x = _tokens(grid) if edge_set.dynamic else None
    return edge_set.build(grid, x)


def _check_edge_set(edge_set: EdgeSet, grids, symmetric, label: str,
                    vectorised: bool) -> list[TokenGrid]:
    """The edge-set contract; returns the grids the edge set accepted."""
    if symmetric is None:
        symmetric = bool(edge_set.symmetric)
    B = _BATCH if edge_set.dynamic else 1
    checked, declined = [], []
    for grid in _grids(grids):
        where = f"{label} on grid {grid}"
        try:
            first = _build(edge_set, grid)
        except ValueError as exc:  # the edge set says this grid is not for it
            declined.append(f"{grid} ({exc})")
            continue
        assert_valid_edge_index(first, grid, symmetric=symmetric, batch_size=B, name=where)
        again = _build(edge_set, grid)
        if not (isinstance(again, Tensor) and again.shape == first.shape
                and torch.equal(again, first)):
            diff = (f"{tuple(first.shape)} then {tuple(again.shape)}"
                    if not isinstance(again, Tensor) or again.shape != first.shape else
                    f"first at {_edge(first, _first((again != first).any(0)))} vs "
                    f"{_edge(again, _first((again != first).any(0)))}")
            raise AssertionError(f"{where}: not deterministic: a second call on the same "
                                 f"{'tokens' if edge_set.dynamic else 'grid'} returned different "
                                 f"edges, {diff}")
        checked.append(grid)
    if not checked:
        raise AssertionError(f"{label}: declined every grid: {'; '.join(declined)}")
    if vectorised:
        warm, small, large = LOOP_GRIDS
        try:
            _build(edge_set, warm)  # one-time work (imports, lazy state) happens here
            lines = [_python_lines(lambda g=g: _build(edge_set, g)) for g in (small, large)]
        except ValueError:
            return checked
        extra, more_nodes = lines[1] - lines[0], large.num_nodes - small.num_nodes
        if extra * 4 > more_nodes:
            raise AssertionError(
                f"{label} on grids {small} and {large}: built with a Python loop over nodes "
                f"or sites: {lines[0]} Python lines on {small.num_nodes} nodes, {lines[1]} on "
                f"{large.num_nodes}; build edges with tensor ops (arange, repeat, masks)")
    return checked


def assert_valid_edge_set(edge_set, grids=None, *, symmetric: bool | None = None,
                          vectorised: bool = True) -> None:
    """Check that an edge set meets the contract on several grids.

    On every grid (:data:`DEFAULT_GRIDS` by default: ``1x2x3``, ``4x1x1``,
    ``3x2x3``, ``2x3x2``) the edges pass :func:`assert_valid_edge_index`, and a
    second call returns the same edges. Data-dependent edge sets get two clips
    of Gaussian tokens. A grid the edge set rejects with ``ValueError`` (e.g.
    ``knn_feature`` with fewer than ``k + 1`` tokens) is skipped; rejecting all
    of them fails. With ``vectorised=True`` the builder runs once on ``2x3x3``
    (warm-up), then on ``2x4x3`` and ``2x10x10`` under :func:`sys.settrace`,
    counting the Python lines it executes: a Python loop over nodes or sites
    executes at least one line per iteration, 76 to 176 more on the larger
    grid (the check fails above 44), a vectorised builder the same count on
    both. A count, not a timing, so it cannot flake on a loaded machine. An
    edge set that rejects one of these grids skips this check.

    Args:
        edge_set (str, EdgeSet or callable): a registered name, an object, or a
            function ``grid -> edge_index``. An object's raw ``build`` output is
            checked (``EdgeSet.__call__`` would cast it to long).
        grids (sequence of TokenGrid or "TxHxW", optional): the grids.
        symmetric (bool, optional): require both directions of every edge
            (default: what the edge set declares in its ``symmetric`` attribute).
        vectorised (bool): run the loop check.
    """
    edge_set = _as_edge_set(edge_set)
    _check_edge_set(edge_set, grids, symmetric, f"edge set {edge_set.name!r}", vectorised)


def assert_valid_topology(topology, grids=None, *, vectorised: bool = True) -> None:
    """Check a topology: its edge sets, its edge types and its per-type weights.

    Every edge set passes :func:`assert_valid_edge_set`; ``edges(grid)``
    (static) or ``batch_graphs`` (data-dependent) gives ``edge_type`` ``[E]``
    long, and the edges of type ``i`` are exactly those of edge set ``i``;
    ``type_weights()`` holds one positive finite weight per edge type.

    Args:
        topology: anything :func:`~tagnet.graphs.get_topology` or
            :func:`~tagnet.graphs.parse_topology` accepts.
        grids (sequence, optional): the grids (default :data:`DEFAULT_GRIDS`).
        vectorised (bool): run the loop check on every edge set.
    """
    from .batching import batch_graphs, tile_edges

    topology = _as_topology(topology)
    label = f"topology {topology.name!r}"
    if not topology.num_edge_types:
        raise AssertionError(f"{label}: has no edge sets; use the 'none' edge set for no edges")
    w = topology.type_weights()
    if w.shape != (topology.num_edge_types,) or not bool(torch.isfinite(w).all() & (w > 0).all()):
        raise AssertionError(f"{label}: per-type weights {w.tolist()} must be "
                             f"{topology.num_edge_types} positive numbers, one per edge type "
                             f"{topology.edge_types}")
    accepted = None
    for edge_set in topology.edge_sets:
        ok = _check_edge_set(edge_set, grids, None, f"edge set {edge_set.name!r} of {label}",
                             vectorised)
        accepted = ok if accepted is None else [g for g in accepted if g in ok]
    for grid in accepted:
        where = f"{label} on grid {grid}"
        if topology.dynamic:
            x = _tokens(grid)
            batch = batch_graphs(x, grid, topology)
            ei, et = batch.edge_index, batch.edge_type
            parts = [e(grid, x) if e.dynamic else tile_edges(e(grid), grid.num_nodes, len(x))
                     for e in topology.edge_sets]
        else:
            ei, et = topology.edges(grid)
            parts = [e(grid) for e in topology.edge_sets]
        if not isinstance(et, Tensor) or et.dtype != torch.long or et.shape != (ei.size(1),):
            got = f"{getattr(et, 'dtype', type(et))} {tuple(getattr(et, 'shape', ()))}"
            raise AssertionError(f"{where}: edge_type must be a long tensor [{ei.size(1)}], "
                                 f"got {got}")
        j = _first((et < 0) | (et >= topology.num_edge_types))
        if j is not None:
            raise AssertionError(f"{where}: {_edge(ei, j)} has edge type {int(et[j])}; types are "
                                 f"0..{topology.num_edge_types - 1} {topology.edge_types}")
        n = grid.num_nodes * (_BATCH if topology.dynamic else 1)
        for i, (name, part) in enumerate(zip(topology.edge_types, parts, strict=True)):
            mine = ei[:, et == i]
            same = mine.shape == part.shape and torch.equal(
                (mine[0] * n + mine[1]).sort().values, (part[0] * n + part[1]).sort().values)
            if not same:
                keys = part[0] * n + part[1]
                j = _first((et == i) & ~torch.isin(ei[0] * n + ei[1], keys))
                at = f"; first stray {_edge(ei, j)}" if j is not None else ""
                raise AssertionError(
                    f"{where}: the {mine.size(1)} edges of type {i} are not the {part.size(1)} "
                    f"edges of edge set {i} ({name!r}): edge type must be the position of the "
                    f"edge set{at}")
        if not topology.dynamic and not torch.equal(et, torch.cat(
                [torch.full((p.size(1),), i, dtype=torch.long) for i, p in enumerate(parts)])):
            raise AssertionError(f"{where}: edges(grid) must list edge set 0's edges first, "
                                 "then edge set 1's, ... (edge type = position)")


def assert_batch_equivalent(topology, grid, batch_size: int = 3) -> None:
    """Check that ``batch_graphs`` equals ``Batch.from_data_list`` of the per-clip graphs.

    Static topologies: ``x``, ``edge_index``, ``edge_type``, ``frame``,
    ``batch`` and ``ptr`` are equal tensor for tensor, and ``to_data_list()``
    gives back every clip. Data-dependent topologies get Gaussian tokens, each
    clip's graph is built alone, and the batched edges must be the same
    (source, target, type) triples (the order may differ).
    """
    from torch_geometric.data import Batch, Data

    from .batching import batch_graphs

    topology, grid = _as_topology(topology), TokenGrid.parse(grid)
    where = f"topology {topology.name!r} on grid {grid}, batch of {batch_size}"
    x = _tokens(grid, batch_size, seed=1)
    batch = batch_graphs(x, grid, topology)
    clips = []
    for b in range(batch_size):
        if topology.dynamic:
            one = batch_graphs(x[b:b + 1], grid, topology)
            ei, et = one.edge_index, one.edge_type
        else:
            ei, et = topology.edges(grid)
        clips.append(Data(x=x[b], edge_index=ei, edge_type=et, frame=grid.frame()))
    ref = Batch.from_data_list(clips)
    for key in ("x", "frame", "batch", "ptr"):
        if not torch.equal(batch[key], ref[key]):
            j = _first(batch[key].reshape(len(batch[key]), -1).ne(
                ref[key].reshape(len(ref[key]), -1)).any(1)) if batch[key].shape == \
                ref[key].shape else None
            at = f" first at {_node(j, grid)}" if j is not None and key != "ptr" else ""
            raise AssertionError(f"{where}: {key} differs from Batch.from_data_list{at}")
    ei, et, rei, ret = batch.edge_index, batch.edge_type, ref.edge_index, ref.edge_type
    if ei.shape != rei.shape:
        raise AssertionError(f"{where}: {ei.size(1)} edges, Batch.from_data_list has "
                             f"{rei.size(1)}")
    if topology.dynamic:
        n, t = batch_size * grid.num_nodes, topology.num_edge_types
        keys, rkeys = (ei[0] * n + ei[1]) * t + et, (rei[0] * n + rei[1]) * t + ret
        j = _first(~torch.isin(keys, rkeys))
        if j is not None or not torch.equal(keys.sort().values, rkeys.sort().values):
            at = f"first at {_edge(ei, j)}, type {int(et[j])}" if j is not None else \
                "the same edges with other multiplicities"
            raise AssertionError(f"{where}: batched edges are not the per-clip graphs; {at}")
        return
    for key, a, b in (("edge_index", ei, rei), ("edge_type", et.unsqueeze(0), ret.unsqueeze(0))):
        if not torch.equal(a, b):
            j = _first((a != b).any(0))
            raise AssertionError(f"{where}: {key} differs from Batch.from_data_list at "
                                 f"{_edge(ei, j)} (expected {_edge(rei, j)}, type {int(ret[j])})")
    for b, data in enumerate(batch.to_data_list()):
        if not (torch.equal(data.x, x[b]) and torch.equal(data.edge_index, clips[b].edge_index)):
            raise AssertionError(f"{where}: to_data_list() does not give back clip {b}")


def dense_propagation(x: Tensor, edge_index: Tensor, edge_weight: Tensor | None, K: int,
                      alpha: float) -> Tensor:
    r"""APPNP in closed form with a dense matrix: the reference of the propagation check.

    .. math::
        A = \tilde D^{-1/2} (M + I) \tilde D^{-1/2}, \quad
        H^{(k+1)} = (1 - \alpha) A H^{(k)} + \alpha H^{(0)},

    with :math:`M_{ij}` the summed weights of the edges :math:`j \to i`.

    Shapes:
        ``x`` ``(N, C)`` or ``(B, N, C)`` (every clip on the same graph); output alike.
    """
    N = x.size(-2)
    w = torch.ones(edge_index.size(1), dtype=x.dtype) if edge_weight is None else edge_weight
    M = torch.zeros(N, N, dtype=x.dtype).index_put_((edge_index[1], edge_index[0]),
                                                    w.to(x.dtype), accumulate=True)
    M += torch.eye(N, dtype=x.dtype)
    d = M.sum(1).rsqrt()
    A = d[:, None] * M * d[None, :]
    h = x
    for _ in range(K):
        h = (1 - alpha) * (A @ h) + alpha * x
    return h


def assert_propagation_matches_dense(topology, grid, K: int = 2, alpha: float = 0.1,
                                     method: str | Sequence[str] | None = None,
                                     edge_weights: Sequence[float] | None = None) -> None:
    """Check that propagation equals :func:`dense_propagation` (float64, to ``1e-10``).

    Args:
        topology: a topology (name, spec or object).
        grid (TokenGrid or "TxHxW"): the token grid.
        K (int), alpha (float): APPNP's steps and teleport probability.
        method (str or sequence of str, optional): the methods of
            :func:`tagnet.propagate` to check; default every one that runs this
            topology (``structured`` only on the graphs it knows, ``dense`` and
            ``pyg-csr`` only on static ones).
        edge_weights (sequence of float, optional): per-type weights (default
            the topology's, else ``1, 1.5, 2, ...`` so that types matter).
    """
    from tagnet.propagation import METHODS, propagate, resolve_method

    from .batching import batch_graphs

    topology, grid = _as_topology(topology), TokenGrid.parse(grid)
    if edge_weights is None:
        edge_weights = topology.weights or [1.0 + 0.5 * i for i in range(topology.num_edge_types)]
    w = torch.tensor(edge_weights, dtype=torch.float64)
    x = _tokens(grid, 2, 3, torch.float64, seed=2)
    if topology.dynamic:  # one graph over both clips
        batch = batch_graphs(x, grid, topology)
        expected = dense_propagation(batch.x, batch.edge_index, w[batch.edge_type], K, alpha)
        expected = expected.view_as(x)
    else:
        ei, et = topology.edges(grid)
        expected = dense_propagation(x, ei, w[et], K, alpha)
    methods = [method] if isinstance(method, str) else list(method or METHODS)
    ran = []
    for m in methods:
        if method is None:
            try:
                resolve_method(m, topology, x.dtype)
            except ValueError:
                continue
        out = propagate(x, grid, topology, K, alpha, method=m, edge_weights=list(edge_weights))
        err = (out - expected).abs() > 1e-10 + 1e-10 * expected.abs()
        if out.shape != expected.shape or err.any():
            at = "shape " + str(tuple(out.shape)) if out.shape != expected.shape else \
                _node(int(err.any(-1).flatten().nonzero()[0, 0]), grid)
            raise AssertionError(
                f"topology {topology.name!r} on grid {grid}: propagation method {m!r} "
                f"(K={K}, alpha={alpha}, weights {list(edge_weights)}) differs from the dense "
                f"closed form at {at}, max error {(out - expected).abs().max().item():.3g}")
        ran.append(m)
    if not ran:
        raise AssertionError(f"topology {topology.name!r}: none of the methods {methods} runs it")


def _accepts(topology: Topology, grid: TokenGrid) -> bool:
    """Whether every edge set of ``topology`` builds on ``grid`` (no ``ValueError``)."""
    try:
        for edge_set in topology.edge_sets:
            edge_set.build(grid, _tokens(grid) if edge_set.dynamic else None)
    except ValueError:
        return False
    return True


def contract(target, grids=None) -> list[tuple[str, Callable[[], None]]]:
    """The whole contract for one edge set or topology, as ``(check name, check)`` pairs.

    An :class:`EdgeSet` (or a function ``grid -> edge_index``) gets ``"edge set"``
    (:func:`assert_valid_edge_set`); anything else is resolved as a topology and
    gets ``"topology"`` (:func:`assert_valid_topology`), ``"batching"``
    (:func:`assert_batch_equivalent`) and ``"propagation"``
    (:func:`assert_propagation_matches_dense`), the last two on every grid that
    all its edge sets accept. The pytest plugin (``pytest --tagnet-topologies``)
    and ``tagnet topology check`` run these.

    Example:
        >>> [name for name, _ in contract("tag")]
        ['topology', 'batching', 'propagation']
        >>> all(check() is None for _, check in contract("tag"))  # doctest: +SKIP
        True
    """
    if isinstance(target, type) and issubclass(target, EdgeSet):
        target = target()  # a class with default parameters
    if isinstance(target, EdgeSet) or (callable(target) and not isinstance(target, Topology)):
        edge_set = _as_edge_set(target)
        return [("edge set", lambda: assert_valid_edge_set(edge_set, grids))]
    topology = _as_topology(target)

    def on_grids(check):
        def run():
            usable = [g for g in _grids(grids) if _accepts(topology, g)]
            if not usable:
                raise AssertionError(f"topology {topology.name!r}: declined every grid "
                                     f"{[str(g) for g in _grids(grids)]}")
            for grid in usable:
                check(topology, grid)
        return run

    return [("topology", lambda: assert_valid_topology(topology, grids)),
            ("batching", on_grids(assert_batch_equivalent)),
            ("propagation", on_grids(assert_propagation_matches_dense))]


def _strategies():
    try:
        from hypothesis import strategies
    except ImportError:
        raise ImportError("tagnet.graphs.testing.grids() and token_batches() are hypothesis "
                          "strategies: pip install hypothesis (or tagnet[test])") from None
    return strategies


def grids(max_T: int = 5, max_H: int = 4, max_W: int = 4, *, min_nodes: int = 1):
    """Hypothesis strategy of :class:`TokenGrid` with ``1 <= T <= max_T`` etc.

    Example:
        >>> from hypothesis import given
        >>> @given(grid=grids())
        ... def test_symmetric(grid):
        ...     assert_valid_edge_index(my_edges(grid), grid, symmetric=True)  # doctest: +SKIP
    """
    st = _strategies()
    return st.builds(TokenGrid, st.integers(1, max_T), st.integers(1, max_H),
                     st.integers(1, max_W)).filter(lambda g: g.num_nodes >= min_nodes)


def token_batches(grid, *, max_batch: int = 3, max_channels: int = 8, dtype=torch.float32):
    """Hypothesis strategy of Gaussian tokens ``(B, N, C)`` for ``grid`` (``B``, ``C``, seed drawn).

    A third of the draws are rounded to ``{-1, 0, 1}``: ties are where
    data-dependent edge sets (top-k of similarities) tend to break.
    """
    st, grid = _strategies(), TokenGrid.parse(grid)

    def make(b: int, c: int, seed: int, coarse: bool) -> Tensor:
        x = _tokens(grid, b, c, dtype, seed)
        return x.round().clamp(-1, 1) if coarse else x

    return st.builds(make, st.integers(1, max_batch), st.integers(1, max_channels),
                     st.integers(0, 2 ** 31 - 1), st.sampled_from([False, False, True]))


__all__ = ["contract", "assert_valid_edge_index", "assert_valid_edge_set", "assert_valid_topology",
           "assert_batch_equivalent", "assert_propagation_matches_dense", "dense_propagation",
           "grids", "token_batches", "DEFAULT_GRIDS", "LOOP_GRIDS"]
