r"""The ATR block (Action-centric Temporal-relational Reasoning), a residual plug-in.

.. code-block:: text

    X (B, C, T, H, W)  [or (B*T, C, H, W) with num_frames=T]
      |-> ARL: reduce 1x1 C -> C/r = X_r
      |        motion     = condense(dw3x3_m(X_r(t+1) - X_r(t)))   (X_r(T+1) := X_r(T))
      |        appearance = condense(dw3x3_a(X_r(t)))             (the SAME condense conv)
      |        M_t = motion + appearance    (locator_cues: both / appearance / motion)
      |-> EAR: v_t = sum_ij softmax_ij(M_t) X_t(i, j)   (aggregation="action"; "uniform": mean)
      |        r = R_n(... ReLU(LN(R_1(v))) ...),  R(v)_t = W_up W_down sum_s A_ts v_s + b
      |            each R_i: C -> C/r -> C (reasoner_widths="bottleneck")
      |            A: banded T x T from 2k+1 taps (reasoner="efficient", ER)
      |               or softmax(theta(v) phi(v)^T / sqrt(C)) (reasoner="graph", GR:
      |               the similarity-graph GCN step, theta, phi: C -> C)
      |        D_t = BN(r_t) + gamma * sigmoid(M_t)        (distribution="add")
      |           or BN(r_t) * sigmoid(M_t)                ("gate")
      |           or X_t * BN(r_t) * sigmoid(M_t)          ("scale")
      '-> Y = X + D

Every operation with multiply-adds is a plain module (convolutions, linears) or a matrix
product, so :class:`torch.utils.flop_counter.FlopCounterMode` counts the block's multiply-adds.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

REASONERS = ("efficient", "graph")
REASONER_WIDTHS = ("bottleneck", "stack")
EAR_TAPS = ("shared", "channel")
LOCATOR_CUES = ("both", "appearance", "motion")
AGGREGATIONS = ("action", "uniform")
DISTRIBUTIONS = ("add", "gate", "scale")
DISTRIBUTION_MAPS = ("action", "uniform")


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} {value!r} is unknown; known: {', '.join(choices)}")


def banded(taps: Tensor, T: int) -> Tensor:
    r"""The ``T x T`` banded Toeplitz matrix of ``2k+1`` taps: :math:`A_{ts} = w_{s-t}`.

    ``taps`` is ``(..., 2k+1)`` with ``taps[..., j + k]`` = :math:`w_j`; the result is
    ``(..., T, T)``, zero outside the band (the zero padding of a temporal convolution).

    Example:
        >>> banded(torch.tensor([1., 2., 3.]), 3)
        tensor([[2., 3., 0.],
                [1., 2., 3.],
                [0., 1., 2.]])
    """
    k = (taps.size(-1) - 1) // 2
    t = torch.arange(T, device=taps.device)
    offset = t[None, :] - t[:, None] + k  # (T, T): s - t + k
    inside = (offset >= 0) & (offset <= 2 * k)
    return taps[..., offset.clamp(0, 2 * k)] * inside


def row_js_divergence(relation: Tensor) -> Tensor:
    r"""Jensen-Shannon divergence between every pair of rows of a relation matrix (ATR's Fig. 4b).

    Row ``t`` of :math:`W` (``T x T``: how frame ``t`` gathers from the frames ``s``) is read
    as a distribution over ``s``, :math:`p_t = |W_t| / \sum_s |W_{ts}|` (the graph
    reasoner's rows already are distributions; the shared taps of the efficient reasoner can
    be negative, so magnitudes are used). Then, in bits (base-2 logarithm, so values lie in
    ``[0, 1]``) and with :math:`0 \log 0 = 0`,

    .. math::
        \mathrm{JS}(p_t, p_u) = \tfrac12 \mathrm{KL}(p_t \,\|\, m) + \tfrac12
        \mathrm{KL}(p_u \,\|\, m), \qquad m = \tfrac12 (p_t + p_u).

    Small values mean every frame relates to the others in the same way. A row of zeros
    stays the zero vector (its KL term is 0), so its divergence from any distribution is
    1/2 bit.

    Args:
        relation (Tensor): ``(..., T, T)``.

    Returns:
        Tensor: ``(..., T, T)``, symmetric, zero on the diagonal.

    Example:
        >>> row_js_divergence(torch.tensor([[1., 0.], [0., 1.]]))
        tensor([[0., 1.],
                [1., 0.]])
    """
    p = relation.abs()
    p = p / p.sum(-1, keepdim=True).clamp_min(torch.finfo(p.dtype).tiny)
    P, Q = p[..., :, None, :], p[..., None, :, :]  # (..., T, 1, T), (..., 1, T, T)
    m = (P + Q) / 2

    def kl(a: Tensor) -> Tensor:
        terms = a * (torch.log2(a) - torch.log2(m))
        return torch.where(a > 0, terms, torch.zeros_like(terms)).sum(-1)

    return (kl(P) + kl(Q)) / 2


class ActionRegionLocator(nn.Module):
    r"""ARL: the actionness map :math:`M_t` of every frame.

    .. math::
        X_r = W_{\downarrow} X, \qquad
        M_t = \mathrm{cond}(\mathrm{dw}_m(X_r(t+1) - X_r(t)))
            + \mathrm{cond}(\mathrm{dw}_a(X_r(t)))

    ``dw_m``, ``dw_a`` are depth-wise 3x3 convolutions (one per path) and ``cond`` is one
    1x1 convolution ``C/r -> 1`` whose weights both paths share. ``cues="appearance"`` or
    ``"motion"`` keeps one term (and builds only its convolution; ATR's Table 3).

    The paper does not define the last frame's difference. Here
    :math:`X_r(T+1) := X_r(T)`, so the last frame's difference is zero and its motion term is
    ``cond(0)``, the condense bias alone: there is no later frame to give motion evidence (the
    zero padding of TEA's and ACTION-Net's motion excitation). With ``T = 1`` the map is
    appearance only.

    Args:
        channels (int): input channels ``C``.
        hidden (int): reduced channels ``C/r`` (at least 1).
        cues (str): ``"both"``, ``"appearance"`` or ``"motion"``.

    Shapes:
        - input: ``(B, C, T, H, W)``; output: ``(B, 1, T, H, W)``.
    """

    def __init__(self, channels: int, hidden: int, cues: str = "both") -> None:
        super().__init__()
        _check_choice("locator_cues", cues, LOCATOR_CUES)
        self.cues = cues
        self.reduce = nn.Conv3d(channels, hidden, 1, bias=False)
        dw = dict(kernel_size=(1, 3, 3), padding=(0, 1, 1), groups=hidden, bias=False)
        self.motion = nn.Conv3d(hidden, hidden, **dw) if cues != "appearance" else None
        self.appearance = nn.Conv3d(hidden, hidden, **dw) if cues != "motion" else None
        self.condense = nn.Conv3d(hidden, 1, 1)

    def parts(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """The motion and appearance terms, each ``(B, 1, T, H, W)`` (``None`` when off)."""
        xr = self.reduce(x)  # (B, C/r, T, H, W)
        motion = appearance = None
        if self.motion is not None:
            diff = torch.cat([xr[:, :, 1:] - xr[:, :, :-1], torch.zeros_like(xr[:, :, -1:])], 2)
            motion = self.condense(self.motion(diff))
        if self.appearance is not None:
            appearance = self.condense(self.appearance(xr))
        return motion, appearance

    def forward(self, x: Tensor) -> Tensor:
        motion, appearance = self.parts(x)
        if motion is None:
            return appearance
        return motion if appearance is None else motion + appearance


def channel_transform(in_channels: int, out_channels: int, hidden: int | None = None
                      ) -> nn.Module:
    r"""A reasoner's channel transform: ``Linear(c_in, c_out)``, or with ``hidden`` the
    low-rank bottleneck ``c_in -> hidden -> c_out``.

    .. math::
        W_c v + b \quad\text{or}\quad W_{up} W_{down} v + b, \qquad
        W_{down} \in \mathbb{R}^{h \times c_{in}},\; W_{up} \in \mathbb{R}^{c_{out} \times h}

    The bottleneck has no inner non-linearity and no inner bias (a bias before a linear map
    folds into the outer one): it is a rank-``h`` linear map in ``c_in h + h c_out + c_out``
    parameters (``down``: no bias, ``up``: with bias).
    """
    if hidden is None:
        return nn.Linear(in_channels, out_channels)
    return nn.Sequential(OrderedDict(down=nn.Linear(in_channels, hidden, bias=False),
                                     up=nn.Linear(hidden, out_channels)))


class TemporalReasoner(nn.Module):
    r"""One efficient reasoner (ER): a temporal relation shared over time, then a channel transform.

    .. math::
        r_t = W_c \sum_{j=-k}^{k} w_j v_{t+j} + b
            = W_c \sum_{s=1}^{T} A_{ts} v_s + b, \qquad A_{ts} = w_{s-t},\; v_s = 0
        \text{ outside } 1..T

    With ``taps="shared"`` (the paper's operator) :math:`w_{-k} \dots w_k` are ``2k+1``
    scalars, the same for every time step, channel and clip: :math:`A` is the banded
    ``T x T`` matrix of :func:`banded` (instance-agnostic). ``taps="channel"`` gives every
    channel its own ``2k+1`` taps (a depth-wise convolution, ``c_in (2k+1)`` weights), a
    generalisation. ``W_c, b`` is :func:`channel_transform` ``c_in -> c_out`` (through
    ``hidden`` channels when given: :math:`W_c = W_{up} W_{down}`).

    Args:
        in_channels (int), out_channels (int): ``c_in``, ``c_out``.
        k (int): the half-window, ``2k+1`` taps (1).
        taps (str): ``"shared"`` or ``"channel"``.
        hidden (int, optional): the channel transform's bottleneck width.

    Shapes:
        - input: ``(B, T, c_in)``; output: ``(B, T, c_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, k: int = 1,
                 taps: str = "shared", hidden: int | None = None) -> None:
        super().__init__()
        _check_choice("ear_taps", taps, EAR_TAPS)
        self.k, self.mode = k, taps
        if taps == "shared":
            self.taps = nn.Parameter(torch.empty(2 * k + 1))
            bound = 1 / math.sqrt(2 * k + 1)  # nn.Conv1d's default for a fan-in of 2k+1
            nn.init.uniform_(self.taps, -bound, bound)
        else:
            self.temporal = nn.Conv1d(in_channels, in_channels, 2 * k + 1, padding=k,
                                      groups=in_channels, bias=False)
        self.channel = channel_transform(in_channels, out_channels, hidden)

    def relation(self, v: Tensor) -> Tensor:
        """The ``T x T`` relation :math:`A` ``(B, T, T)`` (the channel mean for ``"channel"``)."""
        B, T = v.shape[:2]
        if self.mode == "shared":
            return banded(self.taps, T).expand(B, T, T)
        return banded(self.temporal.weight[:, 0], T).mean(0).expand(B, T, T)

    def forward(self, v: Tensor) -> Tensor:
        C = v.size(-1)
        weight = self.taps.expand(C, 1, -1) if self.mode == "shared" else self.temporal.weight
        v = F.conv1d(v.transpose(1, 2), weight, padding=self.k, groups=C)  # (B, c_in, T)
        return self.channel(v.transpose(1, 2))

    def extra_repr(self) -> str:
        return f"k={self.k}, taps={self.mode!r}"


class GraphReasoner(nn.Module):
    r"""The graph-based reasoner (GR) ATR compares with: a learned, per-clip ``T x T`` graph.

    .. math::
        A = \mathrm{softmax}_s\!\Big(\frac{(v W_\theta)(v W_\phi)^\top}{\sqrt d}\Big),
        \qquad r_t = W_c \sum_{s=1}^{T} A_{ts} v_s + b

    The reference relation block of this family: one GCN step over the fully connected graph
    of the ``T`` frame vectors whose adjacency is the softmax-normalised feature similarity
    (the similarity graph of space-time region graphs, the embedded-Gaussian form of the
    non-local block), instance-specific, then the same channel transform as
    :class:`TemporalReasoner`, so ER and GR differ in :math:`A` only. ``W_theta, W_phi`` map
    ``c_in -> d`` without bias, ``d = c_in`` by default (the reference's full-width
    embeddings; ``embed`` reduces it). The ``1/sqrt(d)`` keeps the softmax out of saturation
    at ``d = 2048`` (our choice; it costs no multiply-add).

    Args:
        in_channels (int), out_channels (int): ``c_in``, ``c_out``.
        embed (int, optional): ``d`` (default ``c_in``).
        hidden (int, optional): the channel transform's bottleneck width.

    Shapes:
        - input: ``(B, T, c_in)``; output: ``(B, T, c_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, embed: int | None = None,
                 hidden: int | None = None) -> None:
        super().__init__()
        self.embed = embed or in_channels
        self.theta = nn.Linear(in_channels, self.embed, bias=False)
        self.phi = nn.Linear(in_channels, self.embed, bias=False)
        self.channel = channel_transform(in_channels, out_channels, hidden)

    def relation(self, v: Tensor) -> Tensor:
        """The adjacency :math:`A` ``(B, T, T)``, rows summing to 1."""
        scores = torch.bmm(self.theta(v), self.phi(v).transpose(1, 2))  # (B, T, T)
        return (scores / math.sqrt(self.embed)).softmax(dim=-1)

    def forward(self, v: Tensor) -> Tensor:
        return self.channel(torch.bmm(self.relation(v), v))

    def extra_repr(self) -> str:
        return f"embed={self.embed}"


class ActionCentricReasoner(nn.Module):
    r"""EAR: aggregate each frame into one vector, reason over time, distribute back.

    Aggregation (``aggregation="action"``, the action-centric feature aggregation, AFA):

    .. math::
        a_t = \mathrm{softmax}_{ij}(M_t), \qquad v_t = \sum_{ij} a_{t,ij} X_t(i, j)

    and with ``"uniform"`` :math:`a_{t,ij} = 1/(HW)` (global average pooling). Reasoning:
    :math:`r = R_n(\dots \mathrm{ReLU}(\mathrm{LN}(R_1(v))))`, ``n = num_reasoners`` stacked
    :class:`TemporalReasoner` s (``reasoner="efficient"``, ER) or :class:`GraphReasoner` s
    (``"graph"``, GR). Widths (``reasoner_widths``, ``h = C/r``):

    - ``"bottleneck"`` (default): every reasoner maps ``C -> h -> C`` (its channel transform
      is the rank-``h`` bottleneck of :func:`channel_transform`), and LayerNorm + ReLU join
      them at width ``C``. ER x n then holds exactly ``n`` times one reasoner,
      :math:`n\,(2k+1 + 2Ch + C)` parameters with shared taps, so ER x1 / x2 / x3 (ATR's
      Table 2) compare depth at a fixed width per reasoner. GR x n holds
      :math:`n\,(2Cd + 2Ch + C)`, ``d = C``.
    - ``"stack"`` (tagnet's former reading): the stack as a whole is one bottleneck,
      ``C -> h -> ... -> h -> C`` with one ``Linear`` per reasoner; one reasoner is then
      ``C -> C`` (``C^2 + C`` weights, ``r/2`` times two reasoners' ``2Ch``), which is why the
      default changed. GR's ``d`` is ``h`` there, as before. Checkpoints of the former
      default load with ``reasoner_widths="stack", ear_taps="channel", distribution="gate"``.

    Distribution, with :math:`\hat r_t = \mathrm{BN}(r_t)` broadcast over the positions and
    :math:`g_t = \sigma(M_t)` broadcast over the channels:

    .. math::
        D_t = \hat r_t + \gamma \odot g_t \;(\text{add}), \qquad
        D_t = \hat r_t \odot g_t \;(\text{gate}), \qquad
        D_t = X_t \odot \hat r_t \odot g_t \;(\text{scale})

    with a per-channel gain :math:`\gamma \in \mathbb{R}^C`. ``distribution_map="uniform"``
    replaces :math:`g_t` by 1 in ``gate``/``scale`` and drops the map term of ``add`` (so
    ``add`` and ``gate`` coincide: :math:`D_t = \hat r_t`).

    Why ``add`` is the default. The sources give the paper's words, not its equation
    (PAPER.md, section 2), so the form is argued from its two sentences:

    1. the reasoner's output is distributed "mainly to action-related regions" by the
       actionness map. Both ``add`` and ``gate`` do this: the part of :math:`D_t` that varies
       over positions grows with :math:`\sigma(M_t)` in both. This sentence does not choose.
    2. adding keeps the derivatives of the two modules, the locator (``M``) and the reasoner
       (``r``), independent. With the sum,

       .. math::
           \frac{\partial D_t}{\partial r_t} = \mathrm{diag}(\mathrm{BN}'), \qquad
           \frac{\partial D_t}{\partial M_t} = \gamma\,\sigma'(M_t):

       the reasoner's gradient does not depend on ``M`` and the locator's does not depend on
       ``r``. The product :math:`\hat r_t g_t` (``gate``) couples them:
       :math:`\partial D/\partial r = \mathrm{BN}'\,\sigma(M)` and
       :math:`\partial D/\partial M = \hat r\,\sigma'(M)`; with the zero-initialised BN
       the locator even gets no gradient through the distribution at the start. Only the
       sum satisfies this sentence, so ``add`` is the default; the product of the two
       modules' outputs is a scaling of the relation by the map, on the "scaling" side of
       the paper's comparison.

    ``gate`` (the form the project's notes wrote as "X + BN(r) sigmoid(M)", and tagnet's
    ``"add"`` before) is one switch away, as is ``scale`` (the scaling form, which also
    multiplies by ``X``). A run's record names the form it used
    (:meth:`~tagnet.models.atr_models.ATRNet.run_record`).

    Args:
        channels (int): ``C``. hidden (int): ``h = C/r``.
        k (int): the efficient reasoner's temporal half-window.
        num_reasoners (int): stacked reasoners (2).
        reasoner_widths (str): ``"bottleneck"`` or ``"stack"`` (above).
        distribution (str): ``"add"``, ``"gate"`` or ``"scale"``.
        reasoner (str): ``"efficient"`` or ``"graph"``.
        ear_taps (str): ``"shared"`` or ``"channel"`` (efficient reasoners only).
        aggregation (str): ``"action"`` or ``"uniform"``.
        distribution_map (str): ``"action"`` (use :math:`\sigma(M)`) or ``"uniform"``.
    """

    def __init__(self, channels: int, hidden: int, k: int = 1, num_reasoners: int = 2,
                 distribution: str = "add", *, reasoner: str = "efficient",
                 ear_taps: str = "shared", aggregation: str = "action",
                 distribution_map: str = "action",
                 reasoner_widths: str = "bottleneck") -> None:
        super().__init__()
        _check_choice("distribution", distribution, DISTRIBUTIONS)
        _check_choice("reasoner_widths", reasoner_widths, REASONER_WIDTHS)
        _check_choice("reasoner", reasoner, REASONERS)
        _check_choice("aggregation", aggregation, AGGREGATIONS)
        _check_choice("distribution_map", distribution_map, DISTRIBUTION_MAPS)
        if reasoner_widths == "bottleneck":
            widths = [channels] * (num_reasoners + 1)
            inner, embed = hidden, None  # each reasoner C -> h -> C; GR's d = C
        else:
            widths = [channels] + [hidden] * (num_reasoners - 1) + [channels]
            inner, embed = None, hidden
        pairs = list(zip(widths[:-1], widths[1:], strict=True))
        if reasoner == "efficient":
            layers = (TemporalReasoner(a, b, k, ear_taps, hidden=inner) for a, b in pairs)
        else:
            layers = (GraphReasoner(a, b, embed, hidden=inner) for a, b in pairs)
        self.reasoners = nn.ModuleList(layers)
        self.norms = nn.ModuleList(nn.LayerNorm(w) for w in widths[1:-1])
        self.reasoner_widths = reasoner_widths
        self.channels, self.hidden, self.k = channels, hidden, k
        self.bn = nn.BatchNorm1d(channels)
        self.map_gain = nn.Parameter(torch.ones(channels)) \
            if distribution == "add" and distribution_map == "action" else None
        self.distribution, self.reasoner_kind = distribution, reasoner
        self.aggregation, self.distribution_map = aggregation, distribution_map

    def with_reasoner(self, reasoner: str) -> ActionCentricReasoner:
        """A fresh EAR with the same options but reasoners of kind ``reasoner`` (ER <-> GR),
        for cost comparisons (:func:`tagnet.complexity.compare_reasoners`)."""
        taps = self.reasoners[0].mode if self.reasoner_kind == "efficient" else "shared"
        return ActionCentricReasoner(
            self.channels, self.hidden, self.k, len(self.reasoners), self.distribution,
            reasoner=reasoner, ear_taps=taps, aggregation=self.aggregation,
            distribution_map=self.distribution_map, reasoner_widths=self.reasoner_widths)

    @property
    def uses_map(self) -> bool:
        """Whether aggregation or distribution reads the actionness map."""
        return "action" in (self.aggregation, self.distribution_map)

    @staticmethod
    def aggregation_weights(m: Tensor) -> Tensor:
        """Spatial softmax of ``M`` ``(B, 1, T, H, W)`` -> ``(B, T, H*W)``, summing to 1."""
        return m.flatten(3).squeeze(1).softmax(dim=-1)

    def aggregate(self, x: Tensor, m: Tensor | None) -> Tensor:
        """Frame vectors ``v`` ``(B, T, C)``."""
        if self.aggregation == "uniform":
            return x.mean(dim=(3, 4)).transpose(1, 2)
        return torch.einsum("bcts,bts->btc", x.flatten(3), self.aggregation_weights(m))

    def reason(self, v: Tensor) -> Tensor:
        """``(B, T, C) -> (B, T, C)`` through the stacked reasoners."""
        for i, reasoner in enumerate(self.reasoners):
            if i > 0:
                v = torch.relu(self.norms[i - 1](v))
            v = reasoner(v)
        return v

    def forward(self, x: Tensor, m: Tensor | None = None) -> Tensor:
        """The distributed term ``D`` ``(B, C, T, H, W)`` (without the residual ``X``)."""
        if self.uses_map and m is None:
            raise ValueError("this reasoner reads the actionness map (aggregation or "
                             "distribution_map 'action'); pass m")
        r = self.bn(self.reason(self.aggregate(x, m)).transpose(1, 2))[..., None, None]
        g = torch.sigmoid(m) if self.distribution_map == "action" else None  # (B, 1, T, H, W)
        if self.distribution == "add":
            d = r if g is None else r + self.map_gain.view(-1, 1, 1, 1) * g
        else:
            d = r if g is None else r * g
        return x * d if self.distribution == "scale" else d.expand_as(x)


class ATRBlock(nn.Module):
    r"""The ATR block: :class:`ActionRegionLocator` + :class:`ActionCentricReasoner`, residual.

    :math:`Y = X + D(X)`; see the module docstring for the pipeline. By default the final
    BatchNorm's scale (and the ``add`` form's map gain) start at zero, so a freshly inserted
    block is the identity and a pre-trained backbone keeps its outputs until training moves
    it (our choice; the paper does not say).

    The switches of ATR's ablations (Tables 2-4):

    ==================  =============================================  =================
    switch              values (default first)                         what changes
    ==================  =============================================  =================
    reasoner            efficient, graph                               banded vs learned A
    ear_taps            shared, channel                                2k+1 vs C(2k+1) taps
    num_reasoners       2 (any n >= 1)                                 ER x n / GR x n
    reasoner_widths     bottleneck, stack                              C->C/r->C each / all
    locator_cues        both, appearance, motion                       terms of M
    aggregation         action, uniform                                AFA on / off
    distribution_map    action, uniform                                sigma(M) or 1
    distribution        add, gate, scale                               form of D
    locator             (built when M is used) False = ATR-sim         uniform both ways
    ==================  =============================================  =================

    ``locator=False`` (ATR-sim) means uniform aggregation and distribution. Contradictions
    raise: ``locator=False`` with ``aggregation``/``distribution_map="action"`` or with
    ``locator_cues``; ``locator=True`` or ``locator_cues`` with both uniform (the map would
    be computed and never read).

    Args:
        channels (int): input channels ``C``.
        reduction (int): ``r`` of the reduced width ``C/r`` (16).
        k (int): the efficient reasoner's temporal half-window, ``2k+1`` taps (1).
        num_reasoners (int): stacked reasoners (2).
        distribution (str): ``"add"``, ``"gate"`` or ``"scale"`` (see
            :class:`ActionCentricReasoner`).
        locator (bool, optional): build the ARL; default: when the map is used.
        reasoner, ear_taps, locator_cues, aggregation, distribution_map, reasoner_widths
            (str): the table above (``None`` takes the default; see
            :class:`ActionCentricReasoner` for the widths).
        zero_init (bool): start the final BatchNorm's scale and the map gain at zero (True).
        min_channels (int): floor of the reduced width: ``hidden = max(C // r,
            min(C, min_channels))`` (8). With few channels ``C // r`` would be 0, and a width
            of 1 or 2 would let the reasoners' LayerNorm erase the signal (LayerNorm over one
            value is constant); ``min_channels=1`` gives the plain ``max(1, C // r)``.

    Shapes:
        - input: ``(B, C, T, H, W)``, or ``(B*T, C, H, W)`` frames (clip-major, as a 2D
          network sees a clip folded into the batch) with ``num_frames=T``;
        - output: same as input.

    Example:
        >>> block = ATRBlock(64)
        >>> block(torch.randn(2, 64, 8, 7, 7)).shape
        torch.Size([2, 64, 8, 7, 7])
        >>> block(torch.randn(16, 64, 7, 7), num_frames=8).shape  # 2 clips of 8 frames
        torch.Size([16, 64, 7, 7])
    """

    def __init__(self, channels: int, reduction: int = 16, k: int = 1, num_reasoners: int = 2,
                 distribution: str = "add", locator: bool | None = None, *,
                 reasoner: str | None = None, ear_taps: str | None = None,
                 locator_cues: str | None = None, aggregation: str | None = None,
                 distribution_map: str | None = None, reasoner_widths: str | None = None,
                 zero_init: bool = True, min_channels: int = 8) -> None:
        super().__init__()
        for name, value, low in (("channels", channels, 1), ("reduction", reduction, 1),
                                 ("k", k, 0), ("num_reasoners", num_reasoners, 1),
                                 ("min_channels", min_channels, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"ATRBlock {name} must be an integer >= {low}, got {value!r}")
        aggregation, distribution_map, cues = _resolve_locator(
            locator, locator_cues, aggregation, distribution_map)
        if reasoner == "graph" and ear_taps is not None:
            raise ValueError(f"ear_taps={ear_taps!r} sets the efficient reasoner's taps, but "
                             "reasoner='graph' has none (its T x T graph comes from the "
                             "features); drop one of them")
        self.channels, self.reduction, self.k = channels, reduction, k
        self.hidden = max(channels // reduction, min(channels, min_channels))
        self.locator = ActionRegionLocator(channels, self.hidden, cues) if cues else None
        self.reasoner = ActionCentricReasoner(
            channels, self.hidden, k, num_reasoners, distribution,
            reasoner=reasoner or "efficient", ear_taps=ear_taps or "shared",
            aggregation=aggregation, distribution_map=distribution_map,
            reasoner_widths=reasoner_widths or "bottleneck")
        if zero_init:
            nn.init.zeros_(self.reasoner.bn.weight)
            if self.reasoner.map_gain is not None:
                nn.init.zeros_(self.reasoner.map_gain)

    def forward(self, x: Tensor, num_frames: int | None = None) -> Tensor:
        folded = x.dim() == 4
        x = self._unfold(x, num_frames) if folded else x
        self._check(x)
        m = self.locator(x) if self.locator is not None else None
        y = x + self.reasoner(x, m)
        return y.transpose(1, 2).reshape(-1, *y.shape[1:2], *y.shape[3:]) if folded else y

    def aggregation_weights(self, x: Tensor, num_frames: int | None = None) -> Tensor:
        """Per-frame spatial weights ``(B, T, H, W)`` (uniform without AFA)."""
        x = self._unfold(x, num_frames) if x.dim() == 4 else x
        B, _, T, H, W = x.shape
        if self.reasoner.aggregation == "uniform":
            return x.new_full((B, T, H, W), 1.0 / (H * W))
        return self.reasoner.aggregation_weights(self.locator(x)).view(B, T, H, W)

    @torch.no_grad()
    def explain(self, x: Tensor, num_frames: int | None = None) -> dict[str, Tensor | None]:
        """What the block computes on ``x``, for figures (ATR's Figs. 4 and 5).

        Returns ``actionness``: :math:`M` ``(B, T, H, W)`` (``None`` without a locator),
        ``weights``: the aggregation weights ``(B, T, H, W)`` and ``relation``: the first
        reasoner's ``T x T`` relation :math:`A` ``(B, T, T)`` on this input.
        """
        x = self._unfold(x, num_frames) if x.dim() == 4 else x
        self._check(x)
        m = self.locator(x) if self.locator is not None else None
        v = self.reasoner.aggregate(x, m)
        return {"actionness": None if m is None else m[:, 0],
                "weights": self.aggregation_weights(x),
                "relation": self.reasoner.reasoners[0].relation(v)}

    def _check(self, x: Tensor) -> None:
        if x.dim() != 5 or x.size(1) != self.channels:
            raise ValueError(f"ATRBlock({self.channels}) expects (B, {self.channels}, T, H, W) "
                             f"or (B*T, {self.channels}, H, W) input, got {tuple(x.shape)}")

    @staticmethod
    def _unfold(x: Tensor, num_frames: int | None) -> Tensor:
        if num_frames is None or x.size(0) % num_frames:
            raise ValueError(
                f"a (B*T, C, H, W) input of shape {tuple(x.shape)} needs num_frames=T dividing "
                f"{x.size(0)}, got num_frames={num_frames}; pass the clip length"
            )
        return x.view(-1, num_frames, *x.shape[1:]).transpose(1, 2)  # (B, C, T, H, W)

    def extra_repr(self) -> str:
        ear = self.reasoner
        taps = f"{ear.reasoners[0].mode!r}" if ear.reasoner_kind == "efficient" else None
        cues = None if self.locator is None else repr(self.locator.cues)
        return (f"channels={self.channels}, reduction={self.reduction}, hidden={self.hidden}, "
                f"k={self.k}, num_reasoners={len(ear.reasoners)}, "
                f"reasoner_widths={ear.reasoner_widths!r}, "
                f"reasoner={ear.reasoner_kind!r}, ear_taps={taps}, locator_cues={cues}, "
                f"aggregation={ear.aggregation!r}, distribution={ear.distribution!r}, "
                f"distribution_map={ear.distribution_map!r}")

    def options(self) -> dict:
        """The block's resolved switches, as :class:`ATRBlock` takes them (for run records).

        Example:
            >>> ATRBlock(64).options()["distribution"]
            'add'
        """
        ear = self.reasoner
        return {"reduction": self.reduction, "hidden": self.hidden, "k": self.k,
                "num_reasoners": len(ear.reasoners), "reasoner_widths": ear.reasoner_widths,
                "reasoner": ear.reasoner_kind,
                "ear_taps": ear.reasoners[0].mode if ear.reasoner_kind == "efficient" else None,
                "locator": self.locator is not None,
                "locator_cues": None if self.locator is None else self.locator.cues,
                "aggregation": ear.aggregation, "distribution_map": ear.distribution_map,
                "distribution": ear.distribution}


def _resolve_locator(locator: bool | None, cues: str | None, aggregation: str | None,
                     distribution_map: str | None) -> tuple[str, str, str | None]:
    """``(aggregation, distribution_map, cues or None)``; contradictions raise with the reason."""
    for name, value, choices in (("locator_cues", cues, LOCATOR_CUES),
                                 ("aggregation", aggregation, AGGREGATIONS),
                                 ("distribution_map", distribution_map, DISTRIBUTION_MAPS)):
        if value is not None:
            _check_choice(name, value, choices)
    default = "uniform" if locator is False else "action"
    aggregation, distribution_map = aggregation or default, distribution_map or default
    uses_map = "action" in (aggregation, distribution_map)
    if locator is False:
        if uses_map:
            which = [f"{n}='action'" for n, v in (("aggregation", aggregation),
                                                  ("distribution_map", distribution_map))
                     if v == "action"]
            raise ValueError(f"locator=False (ATR-sim) has no actionness map, but "
                             f"{' and '.join(which)} reads it; drop one of them")
        if cues is not None:
            raise ValueError(f"locator_cues={cues!r} chooses the locator's cues, but "
                             "locator=False (ATR-sim) builds no locator; drop one of them")
        return aggregation, distribution_map, None
    if not uses_map:
        given = "locator=True" if locator else f"locator_cues={cues!r}" if cues else None
        if given:
            raise ValueError(f"{given} asks for an actionness map, but aggregation='uniform' "
                             "and distribution_map='uniform' never read it (that is ATR-sim); "
                             "drop it, or make one of them 'action'")
        return aggregation, distribution_map, None
    return aggregation, distribution_map, cues or "both"
