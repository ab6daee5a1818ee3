"""How tokens move over the clip graph: one package for every propagation operator.

=================  ===========================================================
module             holds
=================  ===========================================================
``appnp``          :class:`GraphPropagation`, the released parameter-free APPNP
``functional``     :func:`propagate`: APPNP by several exact methods
``structured``     the closed form for intra-frame cliques + time-aligned links
``graph_cache``    normalised batched clip graphs, built once per key and reused
``operators``      the operator registry; GATv2, R-GCN, graph Transformer layers
``attention``      encoder attention masked by a topology (``attention_topology=``)
``sparse_attention`` that attention at a cost that follows the edges (plans, FlexAttention)
``gatv2``          GATv2 in edge chunks, recomputed in backward
=================  ===========================================================
"""
from tagnet.propagation.appnp import GraphPropagation, appnp_dense_reference
from tagnet.propagation.attention import (
    GraphAttentionMask,
    GraphTransformerEncoder,
    allowed_pairs,
)
from tagnet.propagation.functional import METHODS, check_method, propagate, resolve_method
from tagnet.propagation.operators import (
    OPERATORS,
    GraphOperator,
    build_operator,
    list_operators,
    register_operator,
)
from tagnet.propagation.sparse_attention import (
    ATTENTION_METHODS,
    AttentionPlan,
    attention_plan,
    resolve_attention,
    sparse_attention,
)
from tagnet.propagation.structured import structured_appnp, supports_structured

__all__ = ["GraphPropagation", "appnp_dense_reference", "propagate", "METHODS", "check_method",
           "resolve_method", "structured_appnp", "supports_structured", "OPERATORS",
           "GraphOperator", "build_operator", "list_operators", "register_operator",
           "GraphAttentionMask", "GraphTransformerEncoder", "allowed_pairs",
           "AttentionPlan", "attention_plan", "sparse_attention", "resolve_attention",
           "ATTENTION_METHODS"]
