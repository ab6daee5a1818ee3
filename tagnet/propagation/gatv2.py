r"""GATv2 attention in edge chunks: PyG's ``GATv2Conv`` without its per-edge activations.

PyG's :class:`~torch_geometric.nn.conv.GATv2Conv` forms, for every edge
:math:`j \to i` (self loops added), the vector

.. math::
    z_{ij} = \Theta_s h_j + \Theta_t h_i + \Theta_e e_{ij} \in \mathbb R^{H \times d},
    \qquad \ell_{ij} = a^\top \mathrm{LeakyReLU}(z_{ij}),

then :math:`\alpha = \mathrm{softmax}_j\, \ell_{ij}` and :math:`h'_i = \sum_j
\alpha_{ij} \Theta_s h_j`. Autograd keeps several :math:`E \times C` tensors per
layer (the gathered :math:`\Theta_s h_j`, :math:`\Theta_t h_i`,
:math:`\Theta_e e_{ij}`, their sum, the activation and the messages): at the
Gym99 grid that is gigabytes per clip.

Here the two per-edge steps are autograd Functions that walk the edges in chunks
of ``chunk_size`` and keep only node tensors and the :math:`E \times H` logits
and weights; the backward pass recomputes each chunk's :math:`z_{ij}`:

.. code-block:: text

    EdgeLogits      (Θs h, Θt h, edge table, a) -> ℓ  [E, H]     backward: recompute z per chunk
    softmax         PyG's softmax over each target's edges        [E, H]
    WeightedGather  (α, Θs h) -> Σ_j α_ij Θs h_j  [N, H, d]       backward: per chunk

Edge features come from a small table (one row per edge type, one per node for
the self loops' ``"mean"`` fill) indexed per edge, so no :math:`E \times C` edge
tensor is formed either. The results equal ``GATv2Conv``'s up to float rounding.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import scatter, softmax

#: Default bytes of one ``[chunk, H, d]`` temporary (the edge chunk adapts to the width).
CHUNK_BYTES = 16 << 20


def chunk_edges(num_channels: int, element_size: int, chunk_size: int | None = None) -> int:
    """Edges per chunk: ``chunk_size``, or as many as fit :data:`CHUNK_BYTES` per temporary."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 edge, got {chunk_size}")
        return chunk_size
    return max(1, CHUNK_BYTES // (num_channels * element_size))


class EdgeLogits(torch.autograd.Function):
    r""":math:`\ell_e = a^\top \mathrm{LeakyReLU}(x_l[s_e] + x_r[t_e] + f[r_e])`, per chunk.

    Inputs ``x_l``, ``x_r`` ``(N, H, d)``, edge-feature table ``f`` ``(R, H, d)``,
    ``att`` ``(1, H, d)``, index vectors ``src``, ``dst``, ``row`` ``[E]``; output ``[E, H]``.
    """

    @staticmethod
    def forward(ctx, x_l, x_r, table, att, src, dst, row, slope: float, chunk: int):
        E, H = src.numel(), x_l.size(1)
        dtype = torch.promote_types(torch.promote_types(x_l.dtype, x_r.dtype),
                                    torch.promote_types(table.dtype, att.dtype))  # as PyG's
        out = x_l.new_empty(E, H, dtype=dtype)
        for s in range(0, E, chunk):
            z = x_l[src[s:s + chunk]] + x_r[dst[s:s + chunk]] + table[row[s:s + chunk]]
            out[s:s + chunk] = (F.leaky_relu(z, slope) * att).sum(-1)
        ctx.save_for_backward(x_l, x_r, table, att, src, dst, row)
        ctx.slope, ctx.chunk = slope, chunk
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x_l, x_r, table, att, src, dst, row = ctx.saved_tensors
        slope, chunk = ctx.slope, ctx.chunk
        need = ctx.needs_input_grad
        g_l = torch.zeros_like(x_l) if need[0] else None
        g_r = torch.zeros_like(x_r) if need[1] else None
        g_f = torch.zeros_like(table) if need[2] else None
        g_a = torch.zeros_like(att) if need[3] else None
        for s in range(0, src.numel(), chunk):
            sl = slice(s, s + chunk)
            z = x_l[src[sl]] + x_r[dst[sl]] + table[row[sl]]
            g = grad[sl].unsqueeze(-1)  # (c, H, 1)
            if g_a is not None:
                g_a += (g * F.leaky_relu(z, slope)).sum(0, keepdim=True)
            gz = g * att * torch.full_like(z, slope).masked_fill_(z > 0, 1.0)  # LeakyReLU'
            if g_l is not None:  # (under autocast the inputs may be of another precision)
                g_l.index_add_(0, src[sl], gz.to(g_l.dtype))
            if g_r is not None:
                g_r.index_add_(0, dst[sl], gz.to(g_r.dtype))
            if g_f is not None:
                g_f.index_add_(0, row[sl], gz.to(g_f.dtype))
        return g_l, g_r, g_f, g_a, None, None, None, None, None


class WeightedGather(torch.autograd.Function):
    r""":math:`o_i = \sum_{e: t_e = i} \alpha_e\, x[s_e]`, per chunk: ``(E, H)``, ``(N, H, d)``
    -> ``(num_nodes, H, d)``."""

    @staticmethod
    def forward(ctx, alpha, x, src, dst, num_nodes: int, chunk: int):
        out = x.new_zeros(num_nodes, *x.shape[1:], dtype=torch.promote_types(alpha.dtype, x.dtype))
        for s in range(0, src.numel(), chunk):
            sl = slice(s, s + chunk)
            out.index_add_(0, dst[sl], alpha[sl].unsqueeze(-1) * x[src[sl]])
        ctx.save_for_backward(alpha, x, src, dst)
        ctx.chunk = chunk
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        alpha, x, src, dst = ctx.saved_tensors
        need = ctx.needs_input_grad
        g_alpha = torch.empty_like(alpha) if need[0] else None
        g_x = torch.zeros_like(x) if need[1] else None
        for s in range(0, src.numel(), ctx.chunk):
            sl = slice(s, s + ctx.chunk)
            g = grad[dst[sl]]  # (c, H, d)
            if g_alpha is not None:
                g_alpha[sl] = (g * x[src[sl]]).sum(-1).to(g_alpha.dtype)
            if g_x is not None:
                g_x.index_add_(0, src[sl], (alpha[sl].unsqueeze(-1) * g).to(g_x.dtype))
        return g_alpha, g_x, None, None, None, None


def gatv2_chunked(conv, x: Tensor, edge_index: Tensor, edge_type: Tensor, type_embed: Tensor,
                  chunk_size: int | None = None) -> Tensor:
    r"""``conv(x, edge_index, edge_attr=type_embed[edge_type])`` of a PyG ``GATv2Conv``, chunked.

    Self loops are removed and added again as PyG does (``fill_value="mean"``: a
    loop's edge feature is the mean embedding of its node's incoming edges, 0 for
    a node without any). Supports the options ``GATv2Conv`` is built with here
    (``concat``, ``bias``, ``residual``, ``share_weights``, ``dropout``).

    Args:
        conv (GATv2Conv): the layer whose parameters are used.
        x (Tensor): node features ``(N, C)``.
        edge_index (Tensor): ``[2, E]``; edge_type (Tensor): ``[E]`` type ids.
        type_embed (Tensor): ``(num_types, edge_dim)`` type embeddings.
        chunk_size (int, optional): edges per chunk (default: :func:`chunk_edges`).

    Shapes:
        output ``(N, heads * d)`` (``concat``) or ``(N, d)``.
    """
    if conv.fill_value != "mean" or not conv.add_self_loops or conv.lin_edge is None:
        raise ValueError("gatv2_chunked reproduces GATv2Conv(add_self_loops=True, "
                         "fill_value='mean', edge_dim=...) only; use the PyG path for others")
    N, H, d = x.size(0), conv.heads, conv.out_channels
    K = type_embed.size(0)
    res = conv.res(x) if conv.res is not None else None
    x_l = conv.lin_l(x).view(N, H, d)
    x_r = x_l if conv.share_weights else conv.lin_r(x).view(N, H, d)
    keep = edge_index[0] != edge_index[1]
    src, dst, typ = edge_index[0][keep], edge_index[1][keep], edge_type[keep]
    # the loops' "mean" edge feature: sum_tau (count_i,tau / in-degree_i) e_tau
    counts = scatter(F.one_hot(typ, K).to(x.dtype), dst, 0, dim_size=N, reduce="sum")
    loop_attr = (counts / counts.sum(1, keepdim=True).clamp(min=1)) @ type_embed
    table = conv.lin_edge(torch.cat([type_embed, loop_attr])).view(K + N, H, d)
    loops = torch.arange(N, device=x.device)
    src, dst = torch.cat([src, loops]), torch.cat([dst, loops])
    row = torch.cat([typ, loops + K])
    chunk = chunk_edges(H * d, x.element_size(), chunk_size)
    logits = EdgeLogits.apply(x_l, x_r, table, conv.att, src, dst, row, conv.negative_slope,
                              chunk)
    alpha = softmax(logits, dst, num_nodes=N)
    alpha = F.dropout(alpha, p=conv.dropout, training=conv.training)
    out = WeightedGather.apply(alpha, x_l, src, dst, N, chunk)
    out = out.reshape(N, H * d) if conv.concat else out.mean(dim=1)
    if res is not None:
        out = out + res
    if conv.bias is not None:
        out = out + conv.bias
    return out


__all__ = ["gatv2_chunked", "EdgeLogits", "WeightedGather", "chunk_edges", "CHUNK_BYTES"]
