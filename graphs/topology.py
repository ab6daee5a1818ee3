"""Topologies: ordered unions of typed edge sets, and their registry."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .edge_sets import EdgeSet, get_edge_set
from .grid import TokenGrid
from .registry import Registry

TOPOLOGIES: Registry[Topology] = Registry("topology")


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
        self.weights: tuple[float, ...] | None = weights
        self.name = name or "+".join(names)
        self._cache: dict[TokenGrid, tuple[Tensor, Tensor]] = {}
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
            self._static = (Topology([self.edge_sets[i] for i in ids]), torch.tensor(ids))
        return self._static

    def type_weights(self) -> Tensor:
        """Per-type weights as a float tensor ``[num_edge_types]`` (ones by default)."""
        if self.weights is None:
            return torch.ones(self.num_edge_types)
        return torch.tensor(self.weights, dtype=torch.float)

    def edges(self, grid: TokenGrid | str | tuple) -> tuple[Tensor, Tensor]:
        """``(edge_index [2, E] long, edge_type [E] long)`` of one clip on ``grid``.

        Static topologies only; the result is cached per grid (on the CPU).
        """
        grid = TokenGrid.parse(grid)
        if self.dynamic:
            raise ValueError(
                f"topology {self.name!r} has data-dependent edge sets "
                f"{[e.name for e in self.edge_sets if e.dynamic]}; build its graphs with "
                "batch_graphs(tokens, grid, topology)"
            )
        if grid not in self._cache:
            parts = [e(grid) for e in self.edge_sets]
            edge_index = torch.cat(parts, dim=1) if parts else torch.empty(2, 0, dtype=torch.long)
            edge_type = torch.cat([
                torch.full((p.size(1),), i, dtype=torch.long) for i, p in enumerate(parts)
            ]) if parts else torch.empty(0, dtype=torch.long)
            self._cache[grid] = (edge_index, edge_type)
        return self._cache[grid]

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


def get_topology(name_or_obj: str | Topology | EdgeSet | Sequence[str | EdgeSet]) -> Topology:
    """Resolve a topology: a registered name, a Topology, an EdgeSet or a list of edge sets.

    Unknown names raise ``ValueError`` listing the registered topologies.
    """
    if isinstance(name_or_obj, Topology):
        return name_or_obj
    if isinstance(name_or_obj, str):
        return TOPOLOGIES.get(name_or_obj)
    if isinstance(name_or_obj, (EdgeSet, list, tuple)):
        return Topology(name_or_obj)
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
