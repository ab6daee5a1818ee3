r"""Controls at equal edge budget and equal typing: rewired copies of a reference topology.

A topology effect means something only against a control that differs from
the reference in the one property under test. Both families here keep the
reference's typing (one edge type per reference edge set, the same number of
edges of each type, the same per-type weights) and change only the wiring:

.. code-block:: text

    random_temporal:REF[,seed=S]   every edge between two frames keeps both frames; its
                                   endpoint in the later frame moves from site q to
                                   pi(q), pi a random cycle of the P sites drawn per
                                   frame pair; edges within a frame are kept.
                                   Tests "time-aligned" against "any temporal link".
    random_typed:REF[,seed=S,rounds=R]
                                   degree-preserving rewiring of the whole graph, type
                                   by type (double edge swaps): every node keeps its in-
                                   and out-degree of every type. Tests "this wiring"
                                   against "any wiring with these degrees".
    random[:REF]                   (one edge type, kept for compatibility) undirected
                                   degree-preserving rewiring of REF's union of types

``REF`` is a topology name or a one-part spec (``tag``, ``tag_directed``,
``tag_window:3``; default ``tag``); in Python pass any topology. Names look
like ``random_temporal:tag_directed`` or ``random_typed:tag,seed=2``.

``random_temporal`` keeps every node's degree per type whenever the reference
treats all sites alike (all built-in edge sets). A random cycle has no fixed
point, so no edge stays time-aligned when ``P >= 2`` (with one site per frame
the control is the reference). One cycle per frame pair serves every edge
type, so a reverse pair stays a reverse pair: ``random_temporal:tag_directed``
still has each backward edge as the reverse of a forward one, and the
undirected ``temporal`` edges stay symmetric.

``random_typed`` rewires symmetric types as undirected graphs and other types
as directed ones; a type that is the exact reverse of an earlier type (the
backward edges of ``tag_directed``) is rewired with it and stays its reverse.
No swap creates a self loop, a duplicate, or an edge that another type holds,
so the types stay disjoint.

Determinism: the randomness comes from ``torch.Generator().manual_seed(seed)``
on the CPU, so a topology gives the same edges on every call, in every process
and whatever the thread count (for a given torch version); another ``seed``
gives another control.

Example:
    >>> from tagnet.graphs import get_topology
    >>> ctrl = get_topology("random_temporal:tag_directed")
    >>> ctrl.edge_types
    ('intra_frame', 'random_temporal(temporal_forward)', 'random_temporal(temporal_backward)')
    >>> [int(n) for n in ctrl.edges("4x3x3")[1].bincount()]
    [288, 27, 27]
"""
from __future__ import annotations

import torch
from torch import Tensor

from .caching import LRUCache
from .edge_sets import EdgeSet, get_edge_set
from .grid import TokenGrid
from .rewire import rewire_temporal, rewire_typed
from .topology import Topology, get_topology, register_topology_family

_PROBE = TokenGrid(3, 2, 2)  # an edge set that crosses frames anywhere does so here


class _TypedRewiring:
    """The typed rewiring of one reference topology, cached for the last 4 grids."""

    def __init__(self, reference: Topology, seed: int, rounds: int) -> None:
        self.reference, self.seed, self.rounds = reference, int(seed), int(rounds)
        self._cache = LRUCache(4, f"typed rewiring of {reference.name!r}")

    def edges(self, grid: TokenGrid) -> list[Tensor]:
        def build():
            ei, et = self.reference.edges(grid)
            return rewire_typed(ei, et, grid.num_nodes, self.reference.num_edge_types,
                                self.rounds, self.seed)
        return self._cache.get(grid, build)


class RandomTyped(EdgeSet):
    """Edge type ``index`` of a :class:`_TypedRewiring`: the reference's type, rewired."""

    def __init__(self, rewiring: _TypedRewiring, index: int) -> None:
        self.rewiring, self.index = rewiring, index
        original = rewiring.reference.edge_sets[index]
        self.name = f"random_typed({original.name})"
        self.symmetric = original.symmetric

    def build(self, grid: TokenGrid, x: Tensor | None = None) -> Tensor:
        return self.rewiring.edges(grid)[self.index].clone()

    def num_edges(self, grid: TokenGrid) -> int | None:
        return self.rewiring.reference.edge_sets[self.index].num_edges(grid)

    def extra_repr(self) -> str:
        return (f"{self.rewiring.reference.name!r}, type={self.index}, seed={self.rewiring.seed}, "
                f"rounds={self.rewiring.rounds}")


class RandomTemporal(EdgeSet):
    """A reference edge set whose edges between frames are rewired by :func:`rewire_temporal`."""

    def __init__(self, reference: EdgeSet | str, seed: int = 0) -> None:
        self.reference, self.seed = get_edge_set(reference), int(seed)
        if self.reference.dynamic:
            raise ValueError(f"random_temporal rewires static edge sets; {self.reference.name!r} "
                             "is built from the tokens")
        self.name = f"random_temporal({self.reference.name})"
        self.symmetric = self.reference.symmetric

    def build(self, grid: TokenGrid, x: Tensor | None = None) -> Tensor:
        return rewire_temporal(self.reference(grid), grid, self.seed)

    def num_edges(self, grid: TokenGrid) -> int | None:
        return self.reference.num_edges(grid)

    def extra_repr(self) -> str:
        return f"{self.reference!r}, seed={self.seed}"


def _static(reference, family: str) -> Topology:
    ref = get_topology(reference)
    if ref.dynamic:
        raise ValueError(f"{family} needs a static reference topology; {ref.name!r} has "
                         f"data-dependent edge sets {[e.name for e in ref.edge_sets if e.dynamic]}")
    return ref


def _crosses_frames(edge_set: EdgeSet) -> bool:
    try:
        ei = edge_set(_PROBE)
    except ValueError:  # the probe grid is not for it: rewire to be safe
        return True
    frame = torch.div(ei, _PROBE.num_sites, rounding_mode="floor")
    return bool((frame[0] != frame[1]).any())


@register_topology_family("random_temporal")
def random_temporal(reference: str | Topology = "tag", seed: int = 0) -> Topology:
    """The reference with its edges between frames rewired to random sites, per type.

    Edge sets that never cross frames (``intra_frame``, ``spatial_grid``, ...)
    are kept as they are; every other edge set ``E`` becomes
    ``random_temporal(E)`` (:func:`rewire_temporal`), with as many edges.
    """
    ref = _static(reference, "random_temporal")
    edge_sets = [RandomTemporal(e, seed) if _crosses_frames(e) else e for e in ref.edge_sets]
    return Topology(edge_sets, name=f"random_temporal:{ref.name},seed={int(seed)}",
                    weights=ref.weights)


@register_topology_family("random_typed")
def random_typed(reference: str | Topology = "tag", seed: int = 0, rounds: int = 20) -> Topology:
    """The reference rewired type by type, keeping every node's degree of every type."""
    ref = _static(reference, "random_typed")
    rewiring = _TypedRewiring(ref, seed, rounds)
    return Topology([RandomTyped(rewiring, i) for i in range(ref.num_edge_types)],
                    name=f"random_typed:{ref.name},seed={int(seed)}", weights=ref.weights)


__all__ = ["random_temporal", "random_typed", "RandomTemporal", "RandomTyped"]
