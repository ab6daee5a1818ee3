"""Drawings of clip graphs and of their diagnostics (matplotlib, imported lazily).

Every function draws into given axes or into a new ``matplotlib.figure.Figure``
(no pyplot state is touched, so it works headless and in notebooks alike).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .diagnostics import OversmoothingCurves, resolve, topology_graph
from .grid import TokenGrid


def _axes(ax, ncols: int = 1, size=(4.5, 3.5)):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1]), layout="constrained")
    return fig, fig.subplots(1, ncols)


def layout(grid) -> Tensor:
    """2-D positions ``[N, 2]``: frames side by side, each an oblique ``H x W`` patch."""
    grid = TokenGrid.parse(grid)
    t, h, w = grid.coords(torch.arange(grid.num_nodes))
    x = t * (grid.W + 0.6 * grid.H + 1.0) + w + 0.6 * h
    return torch.stack([x, -0.8 * h], dim=1).double()


def _arcs(pos: Tensor, edge_index: Tensor, bend: float = 0.12, steps: int = 9) -> Tensor:
    """Quadratic Bezier arcs ``[E, steps, 2]`` bent to the left of each edge, so that both
    directions of a pair and collinear edges stay apart."""
    a, b = pos[edge_index[0]], pos[edge_index[1]]
    d = b - a
    length = d.norm(dim=1, keepdim=True).clamp_min(1e-9)
    normal = torch.stack([-d[:, 1], d[:, 0]], dim=1) / length
    ctrl = (a + b) / 2 + bend * length.clamp_max(4.0) * normal
    s = torch.linspace(0, 1, steps, dtype=pos.dtype).view(1, -1, 1)
    return (1 - s) ** 2 * a[:, None] + 2 * s * (1 - s) * ctrl[:, None] + s ** 2 * b[:, None]


def draw_topology(topology, grid, tokens: Tensor | None = None, ax=None, bend: float = 0.12,
                  linewidth: float = 0.8, node_size: float = 30.0):
    """Draw the clip graph of ``topology`` on a small ``grid``, edges coloured by type.

    Data-dependent topologies need ``tokens`` (one clip, ``(N, C)`` or ``(1, N, C)``).
    Returns the matplotlib ``Figure``.
    """
    from matplotlib.collections import LineCollection

    topology, grid = resolve(topology), TokenGrid.parse(grid)
    if tokens is not None and tokens.dim() == 3:
        tokens = tokens[:1]
    edge_index, edge_type, _ = topology_graph(topology, grid, tokens)
    fig, ax = _axes(ax, size=(1.8 * grid.T + 1.5, 1.0 * grid.H + 1.5))
    pos = layout(grid)
    colours = [f"C{i % 10}" for i in range(topology.num_edge_types)]
    for i, name in enumerate(topology.edge_types):
        ei = edge_index[:, edge_type == i]
        arcs = _arcs(pos, ei, bend).numpy()
        ax.add_collection(LineCollection(arcs, colors=colours[i], linewidths=linewidth,
                                         alpha=0.6, label=f"{name} ({ei.size(1)})"))
    ax.scatter(pos[:, 0].numpy(), pos[:, 1].numpy(), s=node_size, c="k", zorder=3)
    for t in range(grid.T):
        x0 = float(pos[t * grid.num_sites, 0])
        ax.text(x0, 0.3, f"t={t}", fontsize=8)
    ax.set_title(f"{topology.name} on {grid}", pad=14)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.autoscale_view()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, fontsize=8, frameon=False)
    return fig


def plot_adjacency(topology, grid, tokens: Tensor | None = None, ax=None):
    """Image of the ``N x N`` adjacency (row = target), one colour per edge type."""
    from matplotlib.colors import ListedColormap

    topology, grid = resolve(topology), TokenGrid.parse(grid)
    if tokens is not None and tokens.dim() == 3:
        tokens = tokens[:1]
    edge_index, edge_type, n = topology_graph(topology, grid, tokens)
    image = torch.zeros(n, n)
    image[edge_index[1], edge_index[0]] = edge_type.float() + 1
    fig, ax = _axes(ax, size=(4, 4))
    cmap = ListedColormap(["white"] + [f"C{i % 10}" for i in range(topology.num_edge_types)])
    ax.imshow(image.numpy(), cmap=cmap, vmin=0, vmax=topology.num_edge_types,
              interpolation="nearest")
    ax.set_title(f"adjacency ({', '.join(topology.edge_types)})", fontsize=9)
    ax.set_xlabel("source node")
    ax.set_ylabel("target node")
    return fig


def plot_oversmoothing(curves: OversmoothingCurves, axes=None, label: str = ""):
    """Energy ratio (log scale) and mean pairwise cosine vs K, one line per alpha."""
    fig, axes = _axes(axes, ncols=2) if axes is None else (axes[0].figure, axes)
    for a, alpha in enumerate(curves.alphas):
        name = f"{label} α={alpha:g}".strip()
        axes[0].plot(curves.Ks, curves.energy_ratio[a].clamp_min(1e-12).numpy(), "o-",
                     label=name, ms=3)
        axes[1].plot(curves.Ks, curves.cosine[a].numpy(), "o-", label=name, ms=3)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("Dirichlet energy / input's")
    axes[1].set_ylabel("mean pairwise cosine")
    for ax in axes:
        ax.set_xlabel("APPNP steps K")
        ax.legend(fontsize=7)
    return fig


def plot_diagnostics(summary: dict, topology=None, grid=None, tokens: Tensor | None = None,
                     curves: OversmoothingCurves | None = None, path=None,
                     max_image_nodes: int = 1500):
    """Panels for :func:`~tagnet.graphs.diagnostics.summarize` output; saved to ``path`` if given.

    Panels: degree per frame; shares of one step per frame; spectrum of ``A``;
    APPNP output mass by frame distance; the adjacency (when ``topology`` and
    ``grid`` are given and small); over-smoothing curves (when given).
    """
    from matplotlib.figure import Figure

    panels = 4 + (topology is not None and grid is not None
                  and TokenGrid.parse(grid).num_nodes <= max_image_nodes) + 2 * (curves is not None)
    cols = {4: 2, 5: 3, 6: 3}.get(panels, 4)
    rows = -(-panels // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows), layout="constrained")
    axes = list(fig.subplots(rows, cols).flat)
    T = len(summary["degree"]["per_frame"])
    frames = list(range(T))
    ax = axes.pop(0)
    ax.bar(frames, summary["degree"]["per_frame"], color="C0")
    ax.set(title="degree with self loop (mean per frame)", xlabel="frame t")
    ax = axes.pop(0)
    bottom = [0.0] * T
    parts = zip(summary["step"]["per_frame"], ("C7", "C0", "C1"),
                ("self", "same frame", "other frames"), strict=True)
    for part, colour, label in parts:
        ax.bar(frames, part, bottom=bottom, color=colour, label=label)
        bottom = [b + p for b, p in zip(bottom, part, strict=True)]
    ax.set(title="shares of one step of A", xlabel="frame t", ylim=(0, 1))
    ax.legend(fontsize=7, loc="lower right")
    ax = axes.pop(0)
    if summary["spectrum"] is not None:
        eig = summary["spectrum"]["eigenvalues"]
        ax.plot(range(1, len(eig) + 1), eig, ".", ms=2)
        ax.set(title=f"spectrum of A (gap 1-λ2 = {summary['spectrum']['gap']:.4f})",
               xlabel="index", ylabel="eigenvalue")
    else:
        ax.set_title("spectrum skipped (grid too large)")
    ax = axes.pop(0)
    ax.bar(range(T), summary["appnp"]["by_offset"], color="C2")
    ax.set(title=f"APPNP(K={summary['appnp']['K']}, α={summary['appnp']['alpha']}) "
           "output mass by |dt|", xlabel="|dt|", yscale="log")
    if panels - 4 - 2 * (curves is not None):
        plot_adjacency(topology, grid, tokens, ax=axes.pop(0))
    if curves is not None:
        plot_oversmoothing(curves, axes=[axes.pop(0), axes.pop(0)])
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"{summary['topology']} on {summary['grid']}")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
