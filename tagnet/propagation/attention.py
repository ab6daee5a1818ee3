r"""Encoder self-attention restricted to a topology's edges (plus each token itself).

With :math:`\mathcal N(i)` the sources of the edges into token :math:`i`, masked
attention computes

.. math::
    \mathrm{Attn}(Q, K, V)_i = \sum_{j \in \mathcal N(i) \cup \{i\}}
    \mathrm{softmax}_j\!\Big(\frac{q_i^\top k_j}{\sqrt d}\Big) v_j,

so the graph shapes the non-linear computation itself, not only a linear
smoothing after it. The ``global`` topology (every pair) gives the ordinary
encoder; ``none`` leaves each token attending to itself only.

:class:`GraphTransformerEncoder` is ``nn.TransformerEncoder`` with this
attention: the same layers, parameters and state-dict keys, and the method
chosen per call (:func:`~tagnet.propagation.sparse_attention.resolve_attention`):

.. code-block:: text

    dense       nn.TransformerEncoder(x, mask=GraphAttentionMask(...))   the reference
                (an (N, N) mask per static topology, one per clip for data-dependent ones,
                built from the encoder's input tokens and used by every layer)
    structured  each layer's attention by sparse_attention on the topology's
                AttentionPlan: frame blocks + gathered neighbours, O(N (WP + D) C)
    flex        FlexAttention with the topology's BlockMask (CUDA, eager, no dropout)
    auto        flex / structured where exact and cheaper, else dense (the default)
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from tagnet.graphs import TokenGrid, get_topology
from tagnet.propagation.sparse_attention import (
    allowed_pairs,
    attention_plan,
    check_attention_method,
    flex_attention_topology,
    resolve_attention,
    sparse_attention,
)


class GraphAttentionMask(nn.Module):
    r"""The encoder's attention mask for a topology on the grid the head is built for.

    Called with the encoder's input tokens, returns the mask that
    :class:`torch.nn.TransformerEncoder` takes (``True`` = may *not* attend):
    ``(N, N)`` for a static topology (built once per device), ``(B \cdot heads, N, N)``
    for a data-dependent one. It holds no parameters and no state-dict entries.

    Args:
        topology (str or Topology): the graph that restricts attention.
        grid (TokenGrid): the token grid the head is built for.
        num_heads (int): the encoder's attention heads.
    """

    def __init__(self, topology, grid: TokenGrid, num_heads: int) -> None:
        super().__init__()
        self.topology = get_topology(topology)
        self.grid = TokenGrid.parse(grid)
        self.num_heads = num_heads
        self._static: dict[tuple, Tensor] = {}

    def forward(self, x: Tensor, grid: TokenGrid) -> Tensor:
        self.check(x, grid)
        if self.topology.dynamic:
            blocked = ~allowed_pairs(grid, self.topology, x.detach())
            return blocked.repeat_interleave(self.num_heads, dim=0)  # (B*heads, N, N)
        key = (grid, x.device)
        if key not in self._static:
            self._static[key] = ~allowed_pairs(grid, self.topology, device=x.device)
        return self._static[key]

    def check(self, x: Tensor, grid: TokenGrid) -> None:
        """Raise ``ValueError`` naming both grids when ``x`` is not of the built grid."""
        grid = TokenGrid.parse(grid)
        if grid != self.grid or x.size(1) != grid.num_nodes:
            raise ValueError(
                f"attention_topology {self.topology.name!r} was built for grid {self.grid}, but "
                f"the tokens ({tuple(x.shape)}) come from grid {grid}; call "
                "model.resize_grid(grid) to rebuild it for the new grid"
            )

    def resize(self, grid: TokenGrid) -> None:
        self.grid = TokenGrid.parse(grid)

    def extra_repr(self) -> str:
        return f"topology={self.topology.name!r}, grid={self.grid}"


class GraphTransformerEncoder(nn.TransformerEncoder):
    r"""``nn.TransformerEncoder`` whose self-attention is restricted to a topology.

    Each token attends to the sources of its edges and to itself (module docstring).
    The layers are deep copies of ``encoder_layer`` exactly as in
    ``nn.TransformerEncoder`` (same parameters, same state-dict keys
    ``layers.{i}.self_attn.in_proj_weight`` ...); only how their attention is
    computed changes with ``method``, and every method gives the dense masked
    result up to float rounding (attention dropout: the same independent
    Bernoulli draws per allowed weight, so equal in distribution, not draw for draw).

    Args:
        encoder_layer (nn.TransformerEncoderLayer): the layer to copy (``batch_first=True``).
        num_layers (int): layers.
        topology (str or Topology): the graph that restricts attention.
        grid (TokenGrid): the token grid it runs on.
        method (str): ``"auto"`` (default), ``"structured"``, ``"flex"`` or ``"dense"``
            (:func:`~tagnet.propagation.sparse_attention.resolve_attention`).
        norm (nn.Module, optional): a final norm, as in ``nn.TransformerEncoder``.

    Shapes:
        - input: tokens ``(B, N, C)`` of ``grid``;
        - output: ``(B, N, C)``.
    """

    def __init__(self, encoder_layer: nn.TransformerEncoderLayer, num_layers: int, topology,
                 grid: TokenGrid, method: str = "auto", norm: nn.Module | None = None) -> None:
        super().__init__(encoder_layer, num_layers, norm=norm, enable_nested_tensor=False)
        attn = encoder_layer.self_attn
        if not attn.batch_first or not attn._qkv_same_embed_dim or attn.bias_k is not None:
            raise ValueError("GraphTransformerEncoder needs a batch_first layer whose attention "
                             "packs q, k, v in one projection without bias_k/bias_v")
        self.mask = GraphAttentionMask(topology, grid, attn.num_heads)
        self.method = check_attention_method(method)
        resolve_attention(method, self.mask.topology, self.mask.grid)  # raises now if it cannot

    @property
    def topology(self):
        return self.mask.topology

    @property
    def grid(self) -> TokenGrid:
        return self.mask.grid

    def resize(self, grid: TokenGrid) -> None:
        self.mask.resize(grid)

    def resolved_method(self, x: Tensor | None = None) -> str:
        """The method that runs for tokens like ``x`` in the current mode."""
        attn = self.layers[0].self_attn
        p = attn.dropout if self.training else 0.0
        return resolve_attention(self.method, self.topology, self.grid, x, p, attn.head_dim)

    def forward(self, src: Tensor, grid: TokenGrid | None = None) -> Tensor:
        grid = self.grid if grid is None else TokenGrid.parse(grid)
        self.mask.check(src, grid)
        method = self.resolved_method(src)
        if method == "dense":
            return super().forward(src, mask=self.mask(src, grid), is_causal=False)
        if method == "structured":
            plan = attention_plan(grid, self.topology, "self", src.device)
            if plan.full:  # every pair: the ordinary encoder
                return super().forward(src)

            def attend(q, k, v, p):
                return sparse_attention(q, k, v, plan, dropout_p=p)
        else:
            def attend(q, k, v, p):
                return flex_attention_topology(q, k, v, grid, self.topology)
        x = src
        for layer in self.layers:
            x = _encoder_layer(layer, x, attend)
        return x if self.norm is None else self.norm(x)

    def extra_repr(self) -> str:
        return f"topology={self.topology.name!r}, grid={self.grid}, method={self.method!r}"


def _self_attention(layer: nn.TransformerEncoderLayer, x: Tensor, attend) -> Tensor:
    """``layer._sa_block`` with the attention itself computed by ``attend(q, k, v, dropout_p)``.

    The projections are ``nn.MultiheadAttention``'s: one packed ``in_proj``, heads
    split from consecutive channels, ``out_proj`` after concatenation.
    """
    attn, (B, N, C) = layer.self_attn, x.shape
    h = attn.num_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)  # (B, N, 3C)
    q, k, v = qkv.view(B, N, 3, h, C // h).permute(2, 0, 3, 1, 4)  # each (B, h, N, d)
    out = attend(q, k, v, attn.dropout if layer.training else 0.0)
    return layer.dropout1(attn.out_proj(out.transpose(1, 2).reshape(B, N, C)))


def _encoder_layer(layer: nn.TransformerEncoderLayer, x: Tensor, attend) -> Tensor:
    """``nn.TransformerEncoderLayer.forward`` (its non-fused path) with ``attend``."""
    def ff(z):
        return layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(z)))))

    if layer.norm_first:
        x = x + _self_attention(layer, layer.norm1(x), attend)
        return x + ff(layer.norm2(x))
    x = layer.norm1(x + _self_attention(layer, x, attend))
    return layer.norm2(x + ff(x))


__all__ = ["GraphAttentionMask", "GraphTransformerEncoder", "allowed_pairs"]
