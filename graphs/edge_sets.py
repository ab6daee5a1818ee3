"""Edge sets: named rules that put directed edges on a token grid.

An edge set is one *type* of edge. Topologies (:mod:`tagnet.graphs.topology`)
are ordered unions of edge sets, and the position of an edge set in that union
is the type id of its edges. Builders here are pure and vectorised (no Python
loop over nodes) and never add self loops: ``gcn_norm`` inside APPNP adds them.

Static edge sets depend on the grid only; *dynamic* ones (``dynamic = True``)
also look at the node features and are built per clip at run time.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor

from .grid import TokenGrid
from .registry import Registry

EDGE_SETS: Registry[Callable[..., EdgeSet]] = Registry("edge set")


class EdgeSet:
    """One type of directed edge on a :class:`TokenGrid`.

    Subclasses implement :meth:`build`. A static edge set returns the edges of
    one clip as ``edge_index`` of shape ``[2, E]`` (source row 0, target row 1,
    node ids as in :class:`TokenGrid`). A dynamic edge set sets
    ``dynamic = True`` and receives the node features ``x`` of shape
    ``(B, N, C)``; it returns the edges of the whole batch, node ids offset by
    ``b * N`` for clip ``b``.

    ``symmetric = True`` promises that every edge's reverse is in the set too;
    :mod:`tagnet.graphs.testing` checks the promise. ``False`` declares a directed
    edge set (``temporal_forward``), ``None`` makes no promise; neither is checked
    for reverse edges.
    """

    name: str = "edge_set"
    dynamic: bool = False
    symmetric: bool | None = None

    def build(self, grid: TokenGrid, x: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def __call__(self, grid: TokenGrid, x: Tensor | None = None) -> Tensor:
        edge_index = self.build(grid, x)
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(
                f"edge set {self.name!r} returned edge_index of shape {tuple(edge_index.shape)};"
                " expected [2, E]"
            )
        return edge_index.long()

    def num_edges(self, grid: TokenGrid) -> int | None:
        """Edges of one clip on ``grid`` before building them (``None``: unknown)."""
        return None

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.extra_repr()})"


class FunctionEdgeSet(EdgeSet):
    """An edge set made from a pure function ``fn(grid, **params) -> edge_index``."""

    def __init__(self, name: str, fn: Callable[..., Tensor], **params) -> None:
        self.name = name
        self.fn = fn
        self.params = params
        # the declaration travels with the function (see register_edge_set)
        self.symmetric = getattr(fn, "symmetric", None)

    def build(self, grid: TokenGrid, x: Tensor | None = None) -> Tensor:
        return self.fn(grid, **self.params)

    def num_edges(self, grid: TokenGrid) -> int | None:
        """``fn.num_edges(grid, **params)`` when the function defines it, else ``None``."""
        count = getattr(self.fn, "num_edges", None)
        return None if count is None else int(count(grid, **self.params))

    def extra_repr(self) -> str:
        args = [repr(self.name)] + [f"{k}={v!r}" for k, v in self.params.items()]
        return ", ".join(args)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, FunctionEdgeSet) and self.fn is other.fn
                and self.params == other.params)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))


def _declare(obj, name: str, symmetric: bool | None) -> None:
    """Refuse a declaration that contradicts the one ``obj`` already carries."""
    declared = getattr(obj, "symmetric", None)
    if symmetric is not None and declared is not None and declared != symmetric:
        raise ValueError(f"cannot register {obj!r} as edge set {name!r} with "
                         f"symmetric={symmetric}: it is already declared symmetric={declared}")


def register_edge_set(name: str, fn_or_cls=None, *, symmetric: bool | None = None):
    """Register an edge-set builder under ``name``; usable as a decorator.

    ``fn_or_cls`` is either a pure function ``fn(grid, **params) -> edge_index``
    or an :class:`EdgeSet` subclass (its constructor takes the parameters).
    ``symmetric=True`` declares that the edges come in both directions,
    ``symmetric=False`` that they need not (directed edge sets).

    The declaration is recorded on the function or class itself (its
    ``symmetric`` attribute), so every way of naming the edge set keeps it: the
    registered name, the object (``get_edge_set(fn)``, ``Topology([fn])``,
    :mod:`tagnet.graphs.testing`) and ``MODULE:ATTR`` in ``tagnet topology check``.
    A declaration that contradicts the object's own raises ``ValueError``.

    Example:
        >>> @register_edge_set("first_frame_star")
        ... def first_frame_star(grid):
        ...     p = torch.arange(1, grid.num_sites)
        ...     return torch.stack([p, torch.zeros_like(p)])
    """

    def wrap(obj):
        if inspect.isclass(obj) and issubclass(obj, EdgeSet):
            factory = obj
        elif callable(obj):
            def factory(**params):
                return FunctionEdgeSet(name, obj, **params)

            factory.fn = obj
        else:
            raise TypeError(f"cannot register {obj!r} as edge set {name!r}")
        _declare(obj, name, symmetric)
        EDGE_SETS.register(name, factory)
        if symmetric is not None:
            obj.symmetric = symmetric
        return obj

    return wrap if fn_or_cls is None else wrap(fn_or_cls)


def registered_name(fn: Callable) -> str | None:
    """The name a function was registered under with :func:`register_edge_set` (else None)."""
    for name in EDGE_SETS:
        if getattr(EDGE_SETS.get(name), "fn", None) is fn:
            return name
    return None


def get_edge_set(name_or_obj: str | EdgeSet | Callable, **params) -> EdgeSet:
    """Resolve an edge set: a registered name, an object, a class or a builder function.

    Parameters go to the registered builder (or the class, or the function). A
    function that was registered resolves to its registered edge set (name and
    declared ``symmetric`` flag included); any other function ``grid ->
    edge_index`` becomes a :class:`FunctionEdgeSet` named after it.
    """
    if isinstance(name_or_obj, EdgeSet):
        if params:
            raise ValueError(f"parameters {params} given with an EdgeSet object {name_or_obj!r}")
        return name_or_obj
    if inspect.isclass(name_or_obj) and issubclass(name_or_obj, EdgeSet):
        return name_or_obj(**params)
    if callable(name_or_obj):
        name = registered_name(name_or_obj) or getattr(name_or_obj, "__name__", "edge_set")
        return FunctionEdgeSet(name, name_or_obj, **params)
    return EDGE_SETS.get(name_or_obj)(**params)


def list_edge_sets() -> list[str]:
    """Names of the registered edge sets."""
    return EDGE_SETS.names()


@register_edge_set("intra_frame", symmetric=True)
def intra_frame(grid: TokenGrid) -> Tensor:
    r"""Complete graph over the ``P = H * W`` sites of each frame (IF-FC).

    All ordered pairs :math:`((t,p),(t,q)),\ p \neq q`: ``T * P * (P - 1)`` edges,
    ordered by frame, then source, then target.
    """
    P = grid.num_sites
    p = torch.arange(P)
    src, dst = p.repeat_interleave(P), p.repeat(P)
    keep = src != dst
    offset = (torch.arange(grid.T) * P).unsqueeze(1)  # (T, 1)
    src = (src[keep].unsqueeze(0) + offset).flatten()
    dst = (dst[keep].unsqueeze(0) + offset).flatten()
    return torch.stack([src, dst])


@register_edge_set("temporal", symmetric=True)
def temporal(grid: TokenGrid) -> Tensor:
    r"""Time-aligned edges (TAT): the same site in neighbouring frames.

    ``(t, p) -> (t + 1, p)`` for every ``t < T - 1``, then the reverse edges:
    ``2 * (T - 1) * P`` edges in all, none when ``T = 1``.
    """
    n = torch.arange((grid.T - 1) * grid.num_sites)
    later = n + grid.num_sites
    return torch.stack([torch.cat([n, later]), torch.cat([later, n])])


@register_edge_set("none", symmetric=True)
def no_edges(grid: TokenGrid) -> Tensor:
    """No edges at all (propagation then leaves the tokens unchanged)."""
    return torch.empty(2, 0, dtype=torch.long)


# edge counts known before building: Topology.edges checks them against the memory budget
intra_frame.num_edges = lambda grid: grid.T * grid.num_sites * (grid.num_sites - 1)
temporal.num_edges = lambda grid: 2 * (grid.T - 1) * grid.num_sites
no_edges.num_edges = lambda grid: 0
