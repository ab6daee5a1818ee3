r"""Graph operators that are non-linear or read the edge types, and their registry.

The released head moves tokens with APPNP (:class:`~tagnet.propagation.GraphPropagation`):
linear, parameter free and blind to the edge types. The operators here run PyG
layers on the batched typed clip graph of :func:`tagnet.graphs.batch_graphs`, so
every registered topology, static or data-dependent, works with every operator.
A :class:`GraphOperator` stacks ``num_layers`` of them, each with a residual and a
LayerNorm (post-norm, like the encoder):

.. math::
    H^{(l+1)} = \mathrm{LN}_l\big(H^{(l)} + \mathrm{Dropout}(\mathrm{ReLU}(
        \mathrm{Conv}_l(H^{(l)}, \mathcal E, \tau)))\big),

with :math:`\mathcal E` the edges and :math:`\tau` their types.

============  ================================================================  =================
operator      :math:`\mathrm{Conv}` (PyG layer)                                 edge types
============  ================================================================  =================
``gatv2``     :class:`~torch_geometric.nn.conv.GATv2Conv`, multi-head           learned embedding
                                                                                as ``edge_attr``
``rgcn``      :class:`~torch_geometric.nn.conv.RGCNConv`, mean per relation     one weight per type
``transformer``  :class:`~torch_geometric.nn.conv.TransformerConv`, multi-head  learned embedding
                                                                                as ``edge_attr``
============  ================================================================  =================

The attention layers run by exact fast paths by default (``method="auto"``), the
PyG layer kept as the reference (``method="pyg"``):

* ``transformer`` on a static topology:
  :func:`~tagnet.propagation.sparse_attention.sparse_attention` over the topology's
  :class:`~tagnet.propagation.sparse_attention.AttentionPlan` (frame
  blocks plus gathered neighbours, one softmax over each node's edges), on the
  ``(B, N, C)`` tokens, without building the batched edge list; data-dependent
  topologies run PyG.
* ``gatv2``: :func:`~tagnet.propagation.gatv2.gatv2_chunked`, the same layer in edge
  chunks with recomputation in backward (no :math:`E \times C` activation is kept).

``"appnp"`` (the released operator, with its structured fast path) is built by
:func:`build_operator` as a :class:`~tagnet.propagation.GraphPropagation`.

Registering your own operator: a builder ``fn(dim, num_edge_types, **kwargs)``
returning a module whose ``forward(x, edge_index, edge_type)`` maps ``(N, C)``
node features to ``(N, C)``:

.. code-block:: python

    from torch_geometric.nn import GCNConv
    from tagnet.propagation import register_operator

    @register_operator("gcn")
    class GCN(torch.nn.Module):
        def __init__(self, dim, num_edge_types, **kwargs):
            super().__init__()
            self.conv = GCNConv(dim, dim)

        def forward(self, x, edge_index, edge_type):
            return self.conv(x, edge_index)

    model = tagnet.create_model("tag_r2plus1d_tiny", operator="gcn", operator_layers=2)
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from tagnet.graphs import Registry, TokenGrid, batch_graphs, get_topology, tile_edges
from tagnet.graphs.batching import edge_template
from tagnet.graphs.caching import is_tracing
from tagnet.graphs.topology import check_edge_budget

#: Layer builders ``fn(dim, num_edge_types, **kwargs) -> module(x, edge_index, edge_type)``.
OPERATORS: Registry[Callable[..., nn.Module]] = Registry("operator")
#: The released operator; not a layer of the registry (see :func:`build_operator`).
APPNP_NAME = "appnp"


def register_operator(name: str | None = None):
    """Decorator registering a layer builder (a class or function) under ``name``."""
    return OPERATORS.decorator(name)


def list_operators() -> list[str]:
    """Operator names: ``"appnp"`` (released) and the registered layers."""
    return [APPNP_NAME, *OPERATORS.names()]


def _check_heads(name: str, dim: int, heads: int) -> None:
    if heads < 1 or dim % heads:
        raise ValueError(f"operator {name!r} splits {dim} channels over heads={heads}, which "
                         f"does not divide it; pick heads from the divisors of {dim}")


class _TypedEdgeAttention(nn.Module):
    """A PyG attention layer whose edge feature is a learned embedding of the edge type.

    ``conv_cls`` is built as ``conv_cls(dim, dim // heads, heads=heads, edge_dim=edge_dim)``
    (concatenated heads give ``dim`` channels out).
    """

    def __init__(self, name: str, conv_cls, dim: int, num_edge_types: int, heads: int,
                 edge_dim: int) -> None:
        super().__init__()
        _check_heads(name, dim, heads)
        self.num_edge_types = num_edge_types
        self.type_embed = nn.Embedding(num_edge_types, edge_dim)
        self.conv = conv_cls(dim, dim // heads, heads=heads, edge_dim=edge_dim)

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        return self.conv(x, edge_index, edge_attr=self.type_embed(edge_type))

    def extra_repr(self) -> str:
        return f"method={self.method!r}"


def _check_method(name: str, method: str, methods: tuple[str, ...]) -> str:
    if method not in methods:
        raise ValueError(f"operator {name!r} method {method!r} is unknown; known: "
                         f"{', '.join(methods)}")
    return method


@register_operator("gatv2")
class TypedGATv2(_TypedEdgeAttention):
    r"""GATv2 attention with the edge type as a learned edge feature.

    .. math::
        h_i' = \big\Vert_{k=1}^{heads} \sum_{j \in \mathcal N(i) \cup \{i\}} \alpha^k_{ij}
        \Theta^k_s h_j, \quad
        \alpha^k_{ij} = \mathrm{softmax}_j\, a_k^\top \mathrm{LeakyReLU}(
        \Theta^k_s h_j + \Theta^k_t h_i + \Theta^k_e e_{\tau_{ij}}),

    with :math:`e_\tau` a learned embedding of edge type :math:`\tau`; self loops
    get the mean embedding of a node's incoming edges (PyG's ``fill_value="mean"``).

    Args:
        dim (int): channels in and out.
        num_edge_types (int): edge types of the topology.
        heads (int): attention heads (4); each has ``dim // heads`` channels.
        edge_dim (int): width of the type embedding (16).
        method (str): ``"auto"`` (default: ``"chunked"`` when the edges and self loops
            do not fit one chunk, else PyG's layer, faster on small graphs; PyG's layer
            while ``torch.export`` traces, and the chunked path runs eagerly inside
            ``torch.compile``), ``"chunked"`` (:func:`~tagnet.propagation.gatv2.gatv2_chunked`:
            edge chunks, recomputed in backward) or ``"pyg"`` (the reference).
        chunk_size (int, optional): edges per chunk (default: 16 MB temporaries).
    """

    METHODS = ("auto", "chunked", "pyg")

    def __init__(self, dim: int, num_edge_types: int, heads: int = 4, edge_dim: int = 16,
                 method: str = "auto", chunk_size: int | None = None) -> None:
        from torch_geometric.nn import GATv2Conv

        super().__init__("gatv2", GATv2Conv, dim, num_edge_types, heads, edge_dim)
        self.method = _check_method("gatv2", method, self.METHODS)
        self.chunk_size = chunk_size

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        from tagnet.propagation.gatv2 import chunk_edges, gatv2_chunked

        compiling = torch.compiler.is_dynamo_compiling() and not torch.compiler.is_exporting()
        if self.method == "auto":
            one_chunk = edge_index.size(1) + x.size(0) <= chunk_edges(
                x.size(1), x.element_size(), self.chunk_size)
            if one_chunk or (is_tracing(x) and not compiling):  # small: PyG's is faster
                return super().forward(x, edge_index, edge_type)
        if self.method == "pyg":
            return super().forward(x, edge_index, edge_type)
        if is_tracing(x) and not compiling:
            raise ValueError("gatv2 method 'chunked' cannot be exported or traced (a Python loop "
                             "over edge chunks); use method='auto' (PyG's layer while tracing, "
                             "the same values) or 'pyg'")
        run = _eager_gatv2 if compiling else gatv2_chunked  # torch.compile: a graph break
        return run(self.conv, x, edge_index, edge_type, self.type_embed.weight, self.chunk_size)

    @staticmethod
    def message_macs(num_nodes: int, num_edges: int, dim: int) -> int:
        """Per-edge multiply-adds the FLOP counter misses: logits and the weighted sum
        over ``E + N`` edges (self loops added)."""
        return 2 * (num_edges + num_nodes) * dim


def _gatv2_eager(*args):
    from tagnet.propagation.gatv2 import gatv2_chunked

    return gatv2_chunked(*args)


_eager_gatv2 = torch.compiler.disable(_gatv2_eager)  # a graph break: chunks run eagerly


@register_operator("rgcn")
class TypedRGCN(nn.Module):
    r"""Relational GCN: one weight matrix per edge type, mean over each type's neighbours.

    .. math::
        h_i' = \Theta_0 h_i + b + \sum_{\tau} \frac{1}{|\mathcal N_\tau(i)|}
        \sum_{j \in \mathcal N_\tau(i)} \Theta_\tau h_j.

    Uses :class:`~torch_geometric.nn.conv.RGCNConv` (aggregate, then transform:
    memory :math:`O(EC)`; ``FastRGCNConv`` would hold :math:`O(EC^2)`).

    Args:
        dim (int): channels in and out.
        num_edge_types (int): relations, one per edge type of the topology.
        num_bases (int, optional): basis decomposition of the relation weights.
    """

    def __init__(self, dim: int, num_edge_types: int, num_bases: int | None = None) -> None:
        super().__init__()
        from torch_geometric.nn import RGCNConv

        self.num_edge_types = num_edge_types
        self.conv = RGCNConv(dim, dim, num_relations=num_edge_types, num_bases=num_bases,
                             aggr="mean")

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        return self.conv(x, edge_index, edge_type)

    @staticmethod
    def message_macs(num_nodes: int, num_edges: int, dim: int) -> int:
        """The mean aggregation (one multiply-add per edge and channel)."""
        return num_edges * dim


@register_operator("transformer")
class TypedTransformer(_TypedEdgeAttention):
    r"""Graph Transformer attention over the neighbours, edge type as a learned feature.

    .. math::
        h_i' = W_1 h_i + \big\Vert_{k} \sum_{j \in \mathcal N(i)} \alpha^k_{ij}
        (W^k_2 h_j + W^k_e e_{\tau_{ij}}), \quad
        \alpha^k_{ij} = \mathrm{softmax}_j \frac{(W^k_3 h_i)^\top (W^k_4 h_j + W^k_e e_{\tau_{ij}})}
        {\sqrt{d}}.

    On a static topology the default computes exactly this from the tokens
    ``(B, N, C)`` and the topology's typed
    :class:`~tagnet.propagation.sparse_attention.AttentionPlan`
    (:meth:`forward_grid`): :math:`q_i^\top W^k_e e_\tau` is a per-node, per-type
    bias and :math:`\sum_j \alpha_{ij} W^k_e e_{\tau_{ij}}` a per-type sum of the
    weights, so no per-edge tensor of width :math:`C` is formed.

    Args:
        dim (int): channels in and out.
        num_edge_types (int): edge types of the topology.
        heads (int): attention heads (4); each has ``d = dim // heads`` channels.
        edge_dim (int): width of the type embedding (16).
        method (str): ``"auto"`` (default: ``"structured"`` on static topologies,
            else ``"pyg"``), ``"structured"`` or ``"pyg"`` (the reference).
    """

    METHODS = ("auto", "structured", "pyg")

    def __init__(self, dim: int, num_edge_types: int, heads: int = 4, edge_dim: int = 16,
                 method: str = "auto") -> None:
        from torch_geometric.nn import TransformerConv

        super().__init__("transformer", TransformerConv, dim, num_edge_types, heads, edge_dim)
        self.method = _check_method("transformer", method, self.METHODS)

    def runs_on_grid(self, topology) -> bool:
        """True when :meth:`forward_grid` runs for ``topology`` (raises if asked and it cannot)."""
        topology = get_topology(topology)
        if self.method == "structured" and topology.dynamic:
            raise ValueError(f"operator 'transformer' method 'structured' needs a static "
                             f"topology; {topology.name!r} has data-dependent edges: use "
                             "'auto' (PyG for it) or 'pyg'")
        return self.method != "pyg" and not topology.dynamic and not self.conv.beta \
            and self.conv.root_weight and self.conv.concat

    def forward_grid(self, x: Tensor, grid: TokenGrid, topology) -> Tensor:
        """The layer on tokens ``(B, N, C)`` of ``grid`` over a static ``topology``."""
        from tagnet.propagation.sparse_attention import attention_plan, sparse_attention

        conv, (B, N, _) = self.conv, x.shape
        H, d = conv.heads, conv.out_channels

        def heads(lin):
            return lin(x).view(B, N, H, d).transpose(1, 2)  # (B, H, N, d)

        plan = attention_plan(grid, topology, "typed", x.device)
        types = self.type_embed.weight[:plan.num_types]  # a layer may hold unused extra types
        edge = conv.lin_edge(types).view(-1, H, d).transpose(0, 1)  # (H, K, d)
        p = conv.dropout if self.training else 0.0
        out = sparse_attention(heads(conv.lin_query), heads(conv.lin_key), heads(conv.lin_value),
                               plan, scale=1.0 / math.sqrt(d), dropout_p=p, type_key=edge,
                               type_value=edge)
        return out.transpose(1, 2).reshape(B, N, H * d) + conv.lin_skip(x)

    @staticmethod
    def message_macs(num_nodes: int, num_edges: int, dim: int) -> int:
        """Per-edge multiply-adds the FLOP counter misses: q.k and the weighted sum."""
        return 2 * num_edges * dim


class GraphOperator(nn.Module):
    r"""``num_layers`` registered graph layers with residuals and LayerNorms (module docstring).

    Args:
        topology (str or Topology): the clip graph; static or data-dependent.
        dim (int): token channels ``C``.
        operator (str): a registered layer (:func:`list_operators`).
        num_layers (int): depth (1).
        dropout (float): dropout on each layer's output before the residual (0).
        num_edge_types (int, optional): the relation count the layers are built for
            (default: the topology's); at least the topology's, whose types take the first
            ids. A larger count gives a control with fewer edge types (``none``) the same
            parameters as its reference (``tag``), so both start from the same weights; the
            extra types never occur.
        **kwargs: passed to the layer builder (``heads``, ``edge_dim``, ``num_bases``).

    Shapes:
        - input: tokens ``(B, N, C)`` and their :class:`TokenGrid`;
        - output: ``(B, N, C)``.
    """

    def __init__(self, topology, dim: int, operator: str = "gatv2", num_layers: int = 1,
                 dropout: float = 0.0, num_edge_types: int | None = None, **kwargs) -> None:
        super().__init__()
        if operator == APPNP_NAME or operator not in OPERATORS:
            raise ValueError(f"operator {operator!r} is not a registered graph layer; known: "
                             f"{', '.join(OPERATORS.names())} (appnp is built by build_operator)")
        if num_layers < 1:
            raise ValueError(f"operator_layers must be >= 1, got {num_layers}")
        self.topology = get_topology(topology)
        n = self.topology.num_edge_types
        if num_edge_types is not None:
            if num_edge_types < n:
                raise ValueError(_mismatch(operator, num_edge_types, self.topology))
            n = num_edge_types
        self.name, self.dim, self.num_edge_types = operator, dim, n
        builder = OPERATORS.get(operator)
        _check_options(operator, builder, kwargs)
        self.layers = nn.ModuleList(builder(dim, n, **kwargs) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)

    def bind(self, topology) -> None:
        """Run on ``topology`` from now on; it may have at most the built edge-type count."""
        topology = get_topology(topology)
        if topology.num_edge_types > self.num_edge_types:
            raise ValueError(_mismatch(self.name, self.num_edge_types, topology))
        self.topology = topology

    def forward(self, x: Tensor, grid: TokenGrid) -> Tensor:
        B, N, C = x.shape
        if all(getattr(layer, "runs_on_grid", _no)(self.topology) for layer in self.layers):
            h = x  # every layer computes from the grid: no batched edge list needed
            for layer, norm in zip(self.layers, self.norms, strict=True):
                h = norm(h + self.dropout(layer.forward_grid(h, grid, self.topology).relu()))
            return h
        if self.topology.dynamic:
            graph = batch_graphs(x, grid, self.topology)
            h, edge_index, edge_type = graph.x, graph.edge_index, graph.edge_type
        else:  # batch_graphs' edges without a PyG Batch (which torch.compile cannot trace)
            ei, et = edge_template(grid, self.topology, x.device)
            check_edge_budget(ei.size(1) * B, f"{B} clips of topology {self.topology.name!r} "
                                              f"on grid {grid}")
            h, edge_index, edge_type = x.reshape(B * N, C), tile_edges(ei, N, B), et.repeat(B)
        for layer, norm in zip(self.layers, self.norms, strict=True):
            h = norm(h + self.dropout(layer(h, edge_index, edge_type).relu()))
        return h.view(B, N, C)

    def message_macs(self, num_nodes: int, num_edges: int) -> int:
        """Multiply-adds of the message passing itself (gathers, attention logits, weighted
        sums) that a FLOP counter does not see; the layers' matmuls it does see. Layers that
        run on the grid (``transformer``'s structured path) compute their logits and sums as
        matrix products the counter sees (all but the few gathered neighbour dot products)."""
        if getattr(self.layers[0], "runs_on_grid", _no)(self.topology):
            return 0
        count = getattr(type(self.layers[0]), "message_macs", None)
        return 0 if count is None else len(self.layers) * count(num_nodes, num_edges, self.dim)

    def extra_repr(self) -> str:
        return f"operator={self.name!r}, topology={self.topology.name!r}, dim={self.dim}, " \
               f"num_layers={len(self.layers)}"


def _no(topology) -> bool:
    return False


def _check_options(operator: str, builder, kwargs: dict) -> None:
    params = inspect.signature(builder).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    known = list(params)[2:]  # after (dim, num_edge_types)
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ValueError(f"operator {operator!r} has no option(s) {unknown}; its options: "
                         f"{', '.join(known + ['dropout'])}")


def _mismatch(operator: str, built: int, topology) -> str:
    n = topology.num_edge_types
    return (f"operator {operator!r} was built for {built} edge type(s) (relations), but topology "
            f"{topology.name!r} has {n} ({', '.join(topology.edge_types)}); its layers keep "
            f"weights per edge type, so they cannot read this graph: build the operator for "
            f"at least {n} edge type(s) or pick a topology with at most {built}")


def build_operator(operator: str | nn.Module, topology, dim: int, *, num_layers: int = 1,
                   appnp_kwargs: dict | None = None, **kwargs) -> nn.Module | None:
    """The module that moves tokens over ``topology``, or ``None`` when nothing moves.

    ``"appnp"`` gives a :class:`~tagnet.propagation.GraphPropagation` (``appnp_kwargs``:
    K, alpha, edge_weights, learn_edge_weights, propagation), or ``None`` on the
    ``"none"`` topology, as released. A registered layer name gives a
    :class:`GraphOperator` (also on ``"none"``: its layers then see self loops only,
    so a "no graph" control has the same parameters). A :class:`GraphOperator`
    instance passes through after its edge-type count is checked against ``topology``.
    """
    from tagnet.propagation.appnp import GraphPropagation

    topology = get_topology(topology)
    if isinstance(operator, GraphOperator):
        operator.bind(topology)
        return operator
    if isinstance(operator, nn.Module):
        return operator
    if operator == APPNP_NAME:
        if topology.edge_types == ("none",):
            return None
        return GraphPropagation(topology, **(appnp_kwargs or {}))
    if operator not in OPERATORS:
        raise ValueError(f"operator {operator!r} is unknown; known: {', '.join(list_operators())}")
    return GraphOperator(topology, dim, operator, num_layers=num_layers, **kwargs)


__all__ = ["OPERATORS", "GraphOperator", "TypedGATv2", "TypedRGCN", "TypedTransformer",
           "build_operator", "list_operators", "register_operator"]
