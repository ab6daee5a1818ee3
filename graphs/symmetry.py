r"""The symmetries in time of a topology: what a head whose only path across time is the graph
can never tell apart.

For a *graph-only* head (no time code in the positional encoding, encoder attention inside
each frame, a readout that ignores the node order; :data:`tagnet.models.head.GRAPH_ONLY`)
every part but the graph treats frames alike, so the symmetries of the typed edge set are
symmetries of the whole model:

==========================  =======================================  ==========================
the typed edges ...         the head's logits are invariant to ...   so it cannot separate
==========================  =======================================  ==========================
never cross frames          any permutation of the frames            clips that are the same
                                                                     frames in another order
map onto themselves under   reversing time                           a clip and its time
:math:`t \mapsto T-1-t`     (:math:`t \mapsto T-1-t`)                 reverse
(type by type)
==========================  =======================================  ==========================

The paper's ``tag`` (undirected time-aligned links, one type) is reversal-symmetric;
``tag_directed`` (forward and backward links as two types) is not: reversing time swaps its
two temporal types. :func:`time_symmetry` checks both on a grid, exactly, from the edges.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .grid import TokenGrid
from .topology import get_topology


@dataclass(frozen=True)
class TimeSymmetry:
    """The time symmetries of a static topology on a grid (:func:`time_symmetry`)."""

    topology: str
    grid: TokenGrid
    crosses_frames: bool  # some edge joins two different frames
    reversal_invariant: bool  # t -> T-1-t maps every edge type onto itself

    @property
    def frame_order_invariant(self) -> bool:
        """No edge crosses frames: a graph-only head sees the frames as a set."""
        return not self.crosses_frames

    def describe(self) -> str:
        if self.frame_order_invariant:
            return (f"{self.topology!r} has no edge between frames: a graph-only head on it is "
                    "blind to the order of the frames")
        if self.reversal_invariant:
            return (f"{self.topology!r} maps onto itself when time is reversed: a graph-only "
                    "head on it cannot tell a clip from its time reverse")
        return (f"{self.topology!r} joins frames and is not symmetric in time: a graph-only "
                "head on it can see order and direction")


def _key(edge_index: Tensor, num_nodes: int) -> Tensor:
    return torch.unique(edge_index[0] * num_nodes + edge_index[1])


def time_symmetry(topology, grid) -> TimeSymmetry:
    """Whether ``topology``'s typed edges cross frames and survive time reversal on ``grid``.

    Raises ``ValueError`` for a data-dependent topology (its edges, hence its symmetries,
    depend on the tokens).

    Example:
        >>> [time_symmetry(t, "4x2x2").reversal_invariant for t in ("tag", "tag_directed")]
        [True, False]
        >>> time_symmetry("intra_frame", "4x2x2").frame_order_invariant
        True
    """
    topology, grid = get_topology(topology), TokenGrid.parse(grid)
    if topology.dynamic:
        raise ValueError(f"topology {topology.name!r} builds its edges from the tokens; its "
                         "symmetries depend on the clip and are not fixed by construction")
    edge_index, edge_type = topology.edges(grid)
    P, N = grid.num_sites, grid.num_nodes
    frame = edge_index // P
    crosses = bool((frame[0] != frame[1]).any())
    mirrored = (grid.T - 1 - frame) * P + edge_index % P  # (t, p) -> (T-1-t, p)
    reversal = all(
        torch.equal(_key(edge_index[:, edge_type == k], N), _key(mirrored[:, edge_type == k], N))
        for k in range(topology.num_edge_types))
    return TimeSymmetry(topology.name, grid, crosses, reversal)


__all__ = ["TimeSymmetry", "time_symmetry"]
