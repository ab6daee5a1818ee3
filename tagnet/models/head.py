"""TAG-Head: the Time-Aligned Graph Head."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tagnet.graphs import TokenGrid, get_topology
from tagnet.models.positional import build_pos_embed, resolve_pos_embed
from tagnet.models.readouts import resolve_readout
from tagnet.propagation import GraphTransformerEncoder, build_operator

#: The rows of the paper's Table 4 as head settings (B = backbone only,
#: TE = Transformer encoder, IF-FC = intra-frame cliques, TAT = time-aligned edges).
ABLATIONS: dict[str, dict] = {
    "B": dict(num_layers=0, pos_embed=False, topology="none"),
    "B+TE": dict(topology="none"),
    "B+TE+IF-FC": dict(topology="intra_frame"),
    "B+TE+TAT": dict(topology="temporal"),
    "full": dict(topology="tag"),
}

#: The settings that make the clip graph the only path across time (``graph_only=True`` of
#: :func:`tagnet.create_model`): no time code in the positional encoding and encoder
#: attention inside each frame. The operator and a node-permutation-invariant readout
#: (:data:`ORDER_FREE_READOUTS`) are the study's choice (``operator="gatv2"``,
#: ``readout="max"`` in the topology ladder).
GRAPH_ONLY: dict = dict(pos_embed="site", attention_topology="intra_frame")
#: Readouts that ignore the order of the nodes (a graph-only head may use only these).
ORDER_FREE_READOUTS = ("mean", "max", "attention")


class TAGHead(nn.Module):
    r"""The Time-Aligned Graph Head (TAG-Head) on a backbone's token grid.

    .. code-block:: text

        feature map (B, C_in, T, H, W)
          -> tokens (B, N, C_in), N = T*H*W, frame-major   [flatten(2).transpose(1, 2)]
          -> input adapter Linear(C_in, C) if C_in != C
          -> + learnable positional encoding e_{t,p}        [SpaceTimePositionalEncoding]
          -> Transformer encoder, num_layers x (MHA + FFN)  [nn.TransformerEncoder]
             (attention masked to a graph: attention_topology=)  [GraphTransformerEncoder]
          -> APPNP over the clip graphs, K steps, alpha     [GraphPropagation]
             (or operator="gatv2" | "rgcn" | "transformer")  [GraphOperator]
          -> mean over the N nodes of each clip             (B, C)   = forward_features
             (or readout="attention" | "max" | "frame_temporal")  [tagnet.models.readouts]
          -> LayerNorm -> Linear                            (B, classes) = forward_head

    The defaults (``operator="appnp"``, ``readout="mean"``, no attention topology)
    are the released head: same parameters, same state-dict keys, same logits.
    Under them a static regular graph cannot change the prediction (APPNP is linear
    and the mean undoes it); the options are the places where it can.

    The encoder layers are PyTorch's: post-norm with ReLU by default, as in the
    authors' released code; ``norm_first=True`` gives the pre-norm blocks of the
    paper's text, :math:`U = Z + \mathrm{MHA}(\mathrm{LN}(Z))`,
    :math:`Z' = U + \mathrm{MLP}(\mathrm{LN}(U))`.

    Args:
        grid (TokenGrid or "TxHxW"): the token grid the head is built for.
        num_classes (int): number of classes (0 gives an identity classifier).
        in_channels (int): backbone channels ``C_in`` (512).
        embed_dim (int, optional): token width ``C`` inside the head (default
            ``in_channels``); a learned adapter maps ``C_in`` to it.
        num_layers (int): encoder layers (2); 0 removes the encoder.
        num_heads (int): attention heads (8).
        ffn_dim (int): FFN width (1024; the released presets use 512/1024/2048).
        dropout (float): encoder dropout (0.5 as released).
        norm_first (bool): pre-norm encoder blocks (default post-norm, as released).
        pos_embed (bool or str): the positional encoding: ``True``/``"spacetime"`` (one vector
            per token, released), ``"site"`` (one per site, shared by all frames: no time
            code) or ``False``/``"none"`` (:mod:`tagnet.models.positional`).
        pos_init_std (float): its normal initialisation's std (1.0 as released).
        topology (str or Topology): the clip graph (``"tag"``); ``"none"`` skips it.
        K (int), alpha (float): APPNP steps and teleport (2, 0.1 as released).
        edge_weights (sequence of float, optional): per-edge-type weights.
        learn_edge_weights (bool): learn the per-type weights.
        propagation (str): how APPNP is computed: ``"auto"`` (default: ``"structured"``,
            the exact closed form, where the graph allows it, else ``"pyg"``) or a method.
        drop_rate (float): dropout before the classifier (0).
        readout (str or nn.Module): clip readout: ``"mean"`` (released), ``"attention"``,
            ``"max"``, ``"frame_temporal"`` (:mod:`tagnet.models.readouts`).
        operator (str or nn.Module): how tokens move over the graph: ``"appnp"`` (released;
            uses K, alpha, edge_weights, propagation) or a registered PyG layer
            (``"gatv2"``, ``"rgcn"``, ``"transformer"``; :mod:`tagnet.propagation.operators`).
        operator_layers (int): depth of a PyG operator (1).
        operator_kwargs (dict, optional): more options of the PyG operator (``heads``,
            ``edge_dim``, ``dropout``, ``num_bases``).
        attention_topology (str or Topology, optional): restrict the encoder's
            self-attention to this topology's edges plus self
            (:mod:`tagnet.propagation.attention`).
        attention_method (str): how that attention is computed: ``"auto"`` (default:
            the structured block-sparse path, or FlexAttention on CUDA, where exact and
            cheaper; the dense mask for data-dependent topologies), ``"structured"``,
            ``"flex"`` or ``"dense"`` (the reference: an ``(N, N)`` mask); the same
            result up to float rounding, the same parameters.
    """

    def __init__(
        self,
        grid: TokenGrid | str | tuple,
        num_classes: int,
        in_channels: int = 512,
        embed_dim: int | None = None,
        *,
        num_layers: int = 2,
        num_heads: int = 8,
        ffn_dim: int = 1024,
        dropout: float = 0.5,
        norm_first: bool = False,
        pos_embed: bool | str = True,
        pos_init_std: float = 1.0,
        topology="tag",
        K: int = 2,
        alpha: float = 0.1,
        edge_weights: Sequence[float] | None = None,
        learn_edge_weights: bool = False,
        propagation: str = "auto",
        drop_rate: float = 0.0,
        readout="mean",
        operator="appnp",
        operator_layers: int = 1,
        operator_kwargs: dict | None = None,
        attention_topology=None,
        attention_method: str = "auto",
    ) -> None:
        super().__init__()
        self.grid = TokenGrid.parse(grid)
        self.in_channels = in_channels
        self.embed_dim = dim = embed_dim or in_channels
        if num_layers and dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_classes = num_classes
        self.proj = nn.Linear(in_channels, dim) if in_channels != dim else nn.Identity()
        self.pos_embed = build_pos_embed(pos_embed, self.grid, dim, pos_init_std)
        self.encoder = None
        if attention_topology is not None and num_layers == 0:
            raise ValueError("attention_topology restricts the encoder's attention, but "
                             "num_layers=0 removes the encoder; drop one of them")
        if num_layers > 0:
            layer = nn.TransformerEncoderLayer(
                dim, num_heads, dim_feedforward=ffn_dim, dropout=dropout, activation="relu",
                batch_first=True, norm_first=norm_first)
            if attention_topology is None:
                self.encoder = nn.TransformerEncoder(layer, num_layers,
                                                     enable_nested_tensor=False)
            else:  # the same layers and state-dict keys; attention follows the topology
                self.encoder = GraphTransformerEncoder(layer, num_layers, attention_topology,
                                                       self.grid, method=attention_method)
        topology = get_topology(topology)
        if operator != "appnp" and (edge_weights is not None or learn_edge_weights):
            raise ValueError(f"edge_weights and learn_edge_weights belong to APPNP; operator "
                             f"{operator!r} reads the edge types itself: drop them")
        self._topology = topology
        self.propagation = self.operator = None
        # The operator draws its initial weights from a generator of its own, seeded from the
        # global generator's state without advancing it: every other parameter (readout, norm,
        # classifier) gets the same values whatever the topology or operator, and operators of
        # the same shapes get the same values on every topology (clean topology controls).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_fork_seed())
            moved = build_operator(operator, topology, dim, num_layers=operator_layers,
                                   appnp_kwargs=dict(K=K, alpha=alpha, edge_weights=edge_weights,
                                                     learn_edge_weights=learn_edge_weights,
                                                     propagation=propagation),
                                   **(operator_kwargs or {}))
        if operator == "appnp":
            self.propagation = moved  # the released module name: checkpoints load as released
        else:
            self.operator = moved
        self.readout = resolve_readout(readout, dim, self.grid)
        self.norm = nn.LayerNorm(dim)
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    @property
    def topology(self):
        return self._topology

    @property
    def attention_mask(self):
        """The encoder's :class:`~tagnet.propagation.GraphAttentionMask` (``None``: global)."""
        return getattr(self.encoder, "mask", None)

    def tokenize(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` feature map (or ``(B, N, C)`` tokens) -> ``(B, N, C_in)``."""
        if x.dim() == 5:
            grid = TokenGrid.from_feature_map(x)
            if grid != self.grid:
                raise ValueError(
                    f"feature map of shape {tuple(x.shape)} has grid {grid}, but the head was "
                    f"built for grid {self.grid}; build the model for the input's frames and "
                    "size, or call model.resize_grid(grid)"
                )
            x = x.flatten(2).transpose(1, 2)  # (B, N, C)
        if x.dim() != 3 or x.size(1) != self.grid.num_nodes or x.size(2) != self.in_channels:
            raise ValueError(
                f"tokens of shape {tuple(x.shape)} do not fit the head: expected a "
                f"(B, {self.in_channels}, {self.grid.T}, {self.grid.H}, {self.grid.W}) feature "
                f"map or (B, {self.grid.num_nodes}, {self.in_channels}) tokens"
            )
        return x

    def forward_tokens(self, x: Tensor) -> Tensor:
        """Refined node features ``(B, N, C)`` before pooling."""
        x = self.proj(self.tokenize(x))
        if self.pos_embed is not None:
            x = self.pos_embed(x)
        if self.encoder is not None:
            x = self.encoder(x)
        if self.propagation is not None:
            x = self.propagation(x, self.grid)
        if self.operator is not None:
            x = self.operator(x, self.grid)
        return x

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled clip features ``(B, C)`` (the readout; released: mean over the nodes)."""
        return self.readout(self.forward_tokens(x), self.grid)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pooled features -> logits ``(B, classes)`` (after LayerNorm if ``pre_logits``)."""
        x = self.head_drop(self.norm(x))
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    def resize_grid(self, grid: TokenGrid | str | tuple) -> None:
        """Adapt the head to another token grid (interpolates the positional encoding)."""
        grid = TokenGrid.parse(grid)
        if self.pos_embed is not None:
            self.pos_embed.resize(grid)
        if self.attention_mask is not None:
            self.attention_mask.resize(grid)
        self.grid = grid

    def extra_repr(self) -> str:
        return f"grid={self.grid}, in_channels={self.in_channels}, embed_dim={self.embed_dim}, " \
               f"num_classes={self.num_classes}"


def _fork_seed() -> int:
    """A seed that is a function of the global CPU generator's state, which it leaves as is."""
    digest = hashlib.blake2b(torch.get_rng_state().numpy().tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def check_graph_only(head_kwargs: dict) -> None:
    """Raise if ``head_kwargs`` (with :data:`GRAPH_ONLY` applied) let anything but the clip
    graph carry information across time: a time code, attention across frames, a readout
    that reads the node order."""
    pos = resolve_pos_embed(head_kwargs.get("pos_embed", True))
    if pos == "spacetime":
        raise ValueError("graph_only=True needs a positional encoding without a time code: "
                         "pos_embed='site' or 'none', not 'spacetime'")
    readout = head_kwargs.get("readout", "mean")
    if isinstance(readout, str) and readout not in ORDER_FREE_READOUTS:
        raise ValueError(f"graph_only=True needs a readout that ignores the node order "
                         f"({', '.join(ORDER_FREE_READOUTS)}); readout {readout!r} reads the "
                         "frames in order, a path across time besides the graph")
    attention = head_kwargs.get("attention_topology", "intra_frame")
    if head_kwargs.get("num_layers", 2) and attention not in ("intra_frame", "none"):
        raise ValueError(f"graph_only=True restricts encoder attention to each frame "
                         f"(attention_topology='intra_frame' or 'none'), got {attention!r}")
