"""Topologies: ordered unions of typed edge sets, their registry and the names that make them.

A topology is named by a registered name (``"tag"``), by a parametrised
topology (a *family*: ``"tag_directed:2"``, ``"random_temporal:tag"``) or by a
spec of edge sets joined with ``+`` (``"intra_frame+temporal_window:k=2"``);
:func:`get_topology` accepts all three, so a config's ``model.kwargs.topology``
can be any of them. The grammar is in :mod:`tagnet.graphs.spec`.
"""
from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .caching import LRUCache, is_tracing
from .edge_sets import EDGE_SETS, EdgeSet, get_edge_set
from .grid import TokenGrid
from .registry import Registry
from .spec import SpecPart, bind_params, split_spec

TOPOLOGIES: Registry[Topology] = Registry("topology")
#: Parametrised topologies: ``builder(**params) -> Topology or list of edge sets``.
FAMILIES: Registry[Callable[..., object]] = Registry("topology family")
_PARSED = LRUCache(64, "parsed topology specs")

#: Largest edge list (bytes of ``edge_index`` + ``edge_type``, 24 per edge) a grid or a batch
#: may allocate; the environment variable ``TAGNET_EDGE_MEMORY_BUDGET`` (bytes) overrides it.
EDGE_MEMORY_BUDGET = 4 << 30
_BYTES_PER_EDGE = 24


def _edge_budget() -> int:
    value = os.environ.get("TAGNET_EDGE_MEMORY_BUDGET")
    if value is None:
        return EDGE_MEMORY_BUDGET
    try:
        return int(float(value))
    except ValueError:
        raise ValueError(f"TAGNET_EDGE_MEMORY_BUDGET={value!r} is not a number of bytes") from None


def check_edge_budget(num_edges: int, what: str) -> None:
    """Raise ``MemoryError`` before allocating ``num_edges`` edges beyond the memory budget."""
    if not isinstance(num_edges, int):  # a symbolic size while tracing: checked in eager runs
        return
    need, budget = num_edges * _BYTES_PER_EDGE, _edge_budget()
    if need > budget:
        raise MemoryError(
            f"{what} would hold {num_edges:,} edges, about {need / 2**30:.2f} GiB of edge_index "
            f"and edge_type, over the edge memory budget of {budget / 2**30:.2f} GiB; use a "
            "smaller grid or batch, a sparser topology, or raise TAGNET_EDGE_MEMORY_BUDGET "
            "(bytes)"
        )


def check_node_ids(edge_index: Tensor, num_nodes: int, edge_set, where: str) -> None:
    """Raise ``ValueError`` naming ``edge_set`` when an id of ``edge_index`` is not a node."""
    if edge_index.numel() == 0:
        return
    lo, hi = int(edge_index.min()), int(edge_index.max())
    if lo < 0 or hi >= num_nodes:
        name = getattr(edge_set, "name", edge_set)
        raise ValueError(
            f"edge set {name!r} returned node ids in [{lo}, {hi}] on {where}, which has "
            f"{num_nodes} nodes (ids 0..{num_nodes - 1}); fix the edge set's builder"
        )


class Topology:
    r"""An ordered union of edge sets on a token grid; edge type = position.

    TAG-Head's graph is ``Topology(["intra_frame", "temporal"])``:
    :math:`E = E_{intra} \cup E_{temp}` with type 0 for the intra-frame clique
    and type 1 for the time-aligned links.

    Args:
        edge_sets (sequence of str or EdgeSet): the edge sets, in type-id order.
            Strings are looked up in the edge-set registry.
        name (str, optional): a display name.
        weights (sequence of float, optional): one weight per edge type, used as
            PyG ``edge_weight`` (default: all ones). Learnable weights live in the
            model that propagates (they are parameters), initialised from these.

    Example:
        >>> topo = Topology(["intra_frame", "temporal"], name="tag")
        >>> edge_index, edge_type = topo.edges(TokenGrid(8, 7, 7))
        >>> edge_index.shape, edge_type.bincount().tolist()
        (torch.Size([2, 19502]), [18816, 686])
    """

    def __init__(
        self,
        edge_sets: Sequence[str | EdgeSet],
        *,
        name: str | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        if isinstance(edge_sets, (str, EdgeSet)):
            edge_sets = [edge_sets]
        self.edge_sets: tuple[EdgeSet, ...] = tuple(get_edge_set(e) for e in edge_sets)
        names = self.edge_types
        if len(set(names)) != len(names):
            raise ValueError(f"edge set names must be distinct within a topology, got {names}")
        if weights is not None:
            weights = tuple(float(w) for w in weights)
            if len(weights) != len(self.edge_sets):
                raise ValueError(
                    f"topology {name or names} has {len(self.edge_sets)} edge types "
                    f"{names} but {len(weights)} weights {weights}"
                )
            if not all(math.isfinite(w) and w > 0 for w in weights):
                raise ValueError(f"topology {name or names} weights {list(weights)} must be "
                                 f"finite positive numbers, one per edge type {names}")
        self.weights: tuple[float, ...] | None = weights
        self.name = name or "+".join(names)
        self._cache = LRUCache(8, f"edges of topology {self.name!r}")  # per grid
        self._static: tuple[Topology, Tensor] | None = None

    @property
    def edge_types(self) -> tuple[str, ...]:
        """Edge-set names in type-id order."""
        return tuple(e.name for e in self.edge_sets)

    @property
    def num_edge_types(self) -> int:
        return len(self.edge_sets)

    @property
    def dynamic(self) -> bool:
        """True when some edge set depends on the node features."""
        return any(e.dynamic for e in self.edge_sets)

    def static_part(self) -> tuple[Topology, Tensor]:
        """The static edge sets as a topology (``self`` when all are static) and their type ids."""
        if not self.dynamic:
            return self, torch.arange(self.num_edge_types)
        if self._static is None:
            ids = [i for i, e in enumerate(self.edge_sets) if not e.dynamic]
            static = (Topology([self.edge_sets[i] for i in ids]), torch.tensor(ids))
            if is_tracing():  # the id tensor would be a fake one
                return static
            self._static = static
        return self._static

    def type_weights(self) -> Tensor:
        """Per-type weights as a float tensor ``[num_edge_types]`` (ones by default)."""
        if self.weights is None:
            return torch.ones(self.num_edge_types)
        return torch.tensor(self.weights, dtype=torch.float)

    def edges(self, grid: TokenGrid | str | tuple) -> tuple[Tensor, Tensor]:
        """``(edge_index [2, E] long, edge_type [E] long)`` of one clip on ``grid``.

        Static topologies only; the result is cached for the last 8 grids (on the
        CPU). Raises ``ValueError`` when an edge set returns ids that are not nodes of
        ``grid`` (naming the edge set), and ``MemoryError`` before building when the
        edge sets' known sizes exceed the edge memory budget (``EDGE_MEMORY_BUDGET``).
        """
        grid = TokenGrid.parse(grid)
        if self.dynamic:
            raise ValueError(
                f"topology {self.name!r} has data-dependent edge sets "
                f"{[e.name for e in self.edge_sets if e.dynamic]}; build its graphs with "
                "batch_graphs(tokens, grid, topology)"
            )
        return self._cache.get(grid, lambda: self._build(grid))

    def num_edges(self, grid: TokenGrid | str | tuple) -> int | None:
        """Edges of one clip on ``grid``, not built; ``None`` when an edge set cannot say."""
        grid = TokenGrid.parse(grid)
        counts = [e.num_edges(grid) for e in self.edge_sets]
        return None if None in counts else sum(counts)

    def _build(self, grid: TokenGrid) -> tuple[Tensor, Tensor]:
        known = sum(c for c in (e.num_edges(grid) for e in self.edge_sets) if c is not None)
        check_edge_budget(known, f"topology {self.name!r} on grid {grid}")
        parts = [e(grid) for e in self.edge_sets]
        if not is_tracing(*parts):
            for edge_set, part in zip(self.edge_sets, parts, strict=True):
                check_node_ids(part, grid.num_nodes, edge_set, f"grid {grid}")
        edge_index = torch.cat(parts, dim=1) if parts else torch.empty(2, 0, dtype=torch.long)
        edge_type = torch.cat([
            torch.full((p.size(1),), i, dtype=torch.long) for i, p in enumerate(parts)
        ]) if parts else torch.empty(0, dtype=torch.long)
        return edge_index, edge_type

    def __add__(self, other: Topology) -> Topology:
        return Topology(self.edge_sets + get_topology(other).edge_sets)

    def __repr__(self) -> str:
        w = f", weights={self.weights}" if self.weights is not None else ""
        return f"Topology(name={self.name!r}, edge_types={self.edge_types}{w})"


def register_topology(
    name: str,
    topology: Topology | Sequence[str | EdgeSet] | None = None,
    *,
    weights: Sequence[float] | None = None,
) -> Topology:
    """Register a topology under ``name``; duplicate names raise ``ValueError``.

    ``topology`` is a :class:`Topology` or a list of edge sets (names or objects).

    Example:
        >>> register_topology("intra_plus_window", ["intra_frame", "temporal"])  # doctest: +SKIP
    """
    if topology is None:
        raise ValueError(f"register_topology({name!r}) needs a Topology or a list of edge sets")
    if not isinstance(topology, Topology):
        topology = Topology(topology, name=name, weights=weights)
    elif weights is not None:
        raise ValueError("pass weights to Topology(...) or to register_topology, not both")
    return TOPOLOGIES.register(name, topology)


def register_topology_family(name: str, builder: Callable | None = None):
    """Register a parametrised topology ``builder(**params)`` under ``name``; a decorator too.

    The builder returns a :class:`Topology` or a list of edge sets. ``NAME:ARGS``
    in a spec calls it (``tag_directed:2`` -> ``builder(2)``); when every parameter
    has a default, ``builder()`` is also registered as the topology ``name``, so
    the plain name, :func:`list_topologies` and the contract checks see it.

    Example:
        >>> @register_topology_family("tag_skip")  # doctest: +SKIP
        ... def tag_skip(k: int = 2):
        ...     return ["intra_frame", get_edge_set("temporal_window", k=k)]
    """

    def wrap(fn):
        if name in FAMILIES or name in TOPOLOGIES:
            raise ValueError(f"topology {name!r} is already registered; pick another name")
        params = inspect.signature(fn).parameters.values()
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params):
            default = get_topology(fn())
            register_topology(name, Topology(default.edge_sets, name=name,
                                             weights=default.weights))
        FAMILIES.register(name, fn)
        return fn

    return wrap if builder is None else wrap(builder)


def list_topology_families() -> list[str]:
    """Names of the parametrised topologies (``NAME:ARGS`` in a spec)."""
    return FAMILIES.names()


def _unknown(name: str, where: str) -> ValueError:
    families = ", ".join(f"{n}:{','.join(inspect.signature(FAMILIES.get(n)).parameters)}"
                         for n in FAMILIES.names())
    return ValueError(
        f"topology or edge set {name!r}{where} is unknown; topologies: "
        f"{', '.join(TOPOLOGIES.names())}; parametrised topologies: {families or 'none'}; "
        f"edge sets (join with '+', parameters after ':'): {', '.join(EDGE_SETS.names())}")


def _resolve_part(part: SpecPart, spec: str) -> Topology:
    """The topology one part of ``spec`` names (edge sets and weights)."""
    where = "" if part.text == spec else f" in {spec!r}"
    given = bool(part.args or part.kwargs)
    if part.name in EDGE_SETS:
        factory = EDGE_SETS.get(part.name)
        fn = getattr(factory, "fn", None)  # a registered function; else an EdgeSet class
        params = bind_params(fn or factory, part, f"edge set {part.name!r}{where}",
                             skip=1 if fn is not None else 0)
        return Topology([get_edge_set(part.name, **params)])
    if part.name in TOPOLOGIES and not given:
        return TOPOLOGIES.get(part.name)
    if part.name in FAMILIES:
        builder = FAMILIES.get(part.name)
        out = builder(**bind_params(builder, part, f"topology {part.name!r}{where}"))
        return out if isinstance(out, Topology) else Topology(out)
    if part.name in TOPOLOGIES:
        raise ValueError(f"topology {part.name!r}{where} takes no parameters; parametrised "
                         f"topologies: {', '.join(FAMILIES.names()) or 'none'}")
    raise _unknown(part.name, where)


def parse_topology(spec: str | Topology) -> Topology:
    """Make a topology from a string: a registered name, ``FAMILY:ARGS`` or a ``+`` spec.

    Grammar (:mod:`tagnet.graphs.spec`): ``SPEC := PART ("+" PART)*``,
    ``PART := NAME [":" ARG ("," ARG)*]``, ``ARG := VALUE | KEY=VALUE``. ``NAME`` is
    an edge set (with optional parameters), a parametrised topology or a registered
    topology; the edge sets of a topology are spliced in, in order, with their
    per-type weights (ones for parts without). The result is named ``spec``.

    Example:
        >>> parse_topology("intra_frame+temporal_window:k=2").edge_types
        ('intra_frame', 'temporal_window')
        >>> parse_topology("tag_directed:2").edge_types
        ('intra_frame', 'temporal_forward', 'temporal_backward')
        >>> parse_topology("tag+knn_feature:k=4").edge_types
        ('intra_frame', 'temporal', 'knn_feature')
    """
    if isinstance(spec, Topology):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"a topology spec is a string, got {spec!r}")
    spec = spec.strip()
    if spec in TOPOLOGIES:
        return TOPOLOGIES.get(spec)
    # the same spec gives the same object (and its edge cache) until a registry changes
    key = (spec, EDGE_SETS.version, TOPOLOGIES.version, FAMILIES.version)
    return _PARSED.get(key, lambda: _parse(spec))


def _parse(spec: str) -> Topology:
    parts: list[Topology] = []
    for part in split_spec(spec):
        try:
            parts.append(_resolve_part(part, spec))
        except TypeError as exc:  # a builder's own argument checks
            raise ValueError(f"{part.text!r} in topology {spec!r}: {exc}") from None
    weights = None
    if any(p.weights is not None for p in parts):
        weights = [w for p in parts for w in p.type_weights().tolist()]
    return Topology([e for p in parts for e in p.edge_sets], name=spec, weights=weights)


def get_topology(name_or_obj: str | Topology | EdgeSet | Sequence[str | EdgeSet]) -> Topology:
    """Resolve a topology: a name or spec string, a Topology, an EdgeSet or a list of edge sets.

    Registered names return the registered object; ``FAMILY:ARGS`` and ``+``
    specs go through :func:`parse_topology` (the same object for the same spec while
    the registries are unchanged). Unknown names raise ``ValueError`` listing the
    registered topologies.
    """
    if isinstance(name_or_obj, Topology):
        return name_or_obj
    if isinstance(name_or_obj, str):
        name = name_or_obj.strip()
        if name in TOPOLOGIES:
            return TOPOLOGIES.get(name)
        if re.fullmatch(r"\w+", name) and name not in EDGE_SETS and name not in FAMILIES:
            raise ValueError(
                f"topology {name!r} is unknown; known: {', '.join(TOPOLOGIES.names())}; or "
                f"FAMILY:ARGS ({', '.join(FAMILIES.names())}) or edge sets joined by '+', e.g. "
                f"'intra_frame+temporal_window:2' (edge sets: {', '.join(EDGE_SETS.names())})")
        return parse_topology(name)
    if isinstance(name_or_obj, (EdgeSet, list, tuple)) or callable(name_or_obj):
        return Topology(name_or_obj if isinstance(name_or_obj, (list, tuple)) else [name_or_obj])
    raise ValueError(
        f"cannot make a topology from {name_or_obj!r}; pass one of "
        f"{', '.join(TOPOLOGIES.names())}, a Topology or a list of edge-set names"
    )


def list_topologies() -> list[str]:
    """Names of the registered topologies."""
    return TOPOLOGIES.names()


register_topology("tag", ["intra_frame", "temporal"])
register_topology("intra_frame", ["intra_frame"])
register_topology("temporal", ["temporal"])
register_topology("none", ["none"])
