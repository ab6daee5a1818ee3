r"""The ATR block (Action-centric Temporal-relational Reasoning), a residual plug-in.

.. code-block:: text

    X (B, C, T, H, W)  [or (B*T, C, H, W) with num_frames=T]
      |-> ARL: reduce 1x1 C -> C/r = X_r
      |        motion     = condense(dw3x3_m(X_r(t+1) - X_r(t)))   (X_r(T+1) := X_r(T))
      |        appearance = condense(dw3x3_a(X_r(t)))             (the SAME condense conv)
      |        M_t = motion + appearance                          (B, 1, T, H, W)
      |-> EAR: v_t = sum_ij softmax_ij(M_t) X_t(i, j)             (B, T, C)
      |        r = reasoner_n(... ReLU(LN(reasoner_1(v))) ...)    (B, T, C)
      |        D_t = BN(r_t) * sigmoid(M_t)                       ("add")
      |           or X_t * BN(r_t) * sigmoid(M_t)                 ("scale")
      '-> Y = X + D

Every operation is a plain module (convolutions, linears, norms) or an ``einsum``, so
:class:`torch.utils.flop_counter.FlopCounterMode` counts the block's multiply-adds.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

DISTRIBUTIONS = ("add", "scale")


class ActionRegionLocator(nn.Module):
    r"""ARL: the actionness map :math:`M_t` of every frame.

    .. math::
        X_r = W_{\downarrow} X, \qquad
        M_t = \mathrm{cond}(\mathrm{dw}_m(X_r(t+1) - X_r(t)))
            + \mathrm{cond}(\mathrm{dw}_a(X_r(t)))

    ``dw_m``, ``dw_a`` are depth-wise 3x3 convolutions (one per path) and ``cond`` is one
    1x1 convolution ``C/r -> 1`` whose weights both paths share.

    The paper does not define the last frame's difference. Here
    :math:`X_r(T+1) := X_r(T)`, so the last frame's difference is zero and its motion term is
    ``cond(0)``, the condense bias alone: there is no later frame to give motion evidence (the
    zero padding of TEA's and ACTION-Net's motion excitation). With ``T = 1`` the map is
    appearance only.

    Args:
        channels (int): input channels ``C``.
        hidden (int): reduced channels ``C/r`` (at least 1).

    Shapes:
        - input: ``(B, C, T, H, W)``; output: ``(B, 1, T, H, W)``.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Conv3d(channels, hidden, 1, bias=False)
        dw = dict(kernel_size=(1, 3, 3), padding=(0, 1, 1), groups=hidden, bias=False)
        self.motion = nn.Conv3d(hidden, hidden, **dw)
        self.appearance = nn.Conv3d(hidden, hidden, **dw)
        self.condense = nn.Conv3d(hidden, 1, 1)

    def parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The motion and appearance terms, each ``(B, 1, T, H, W)``."""
        xr = self.reduce(x)  # (B, C/r, T, H, W)
        diff = torch.cat([xr[:, :, 1:] - xr[:, :, :-1], torch.zeros_like(xr[:, :, -1:])], 2)
        return self.condense(self.motion(diff)), self.condense(self.appearance(xr))

    def forward(self, x: Tensor) -> Tensor:
        motion, appearance = self.parts(x)
        return motion + appearance


class TemporalReasoner(nn.Module):
    r"""One efficient reasoner: a temporal convolution shared over time, then a channel transform.

    .. math::
        r_t = W \Big(\sum_{j=-k}^{k} w_j \odot v_{t+j}\Big) + b, \qquad v_s = 0
        \text{ outside } 1..T

    ``w_j`` are per-channel taps (a depth-wise convolution with ``2k+1`` taps, the same at
    every time step, whatever the clip) and ``W, b`` a linear map ``c_in -> c_out``.

    Shapes:
        - input: ``(B, T, c_in)``; output: ``(B, T, c_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, k: int = 1) -> None:
        super().__init__()
        self.temporal = nn.Conv1d(in_channels, in_channels, 2 * k + 1, padding=k,
                                  groups=in_channels, bias=False)
        self.channel = nn.Linear(in_channels, out_channels)

    def forward(self, v: Tensor) -> Tensor:
        v = self.temporal(v.transpose(1, 2)).transpose(1, 2)  # (B, T, c_in)
        return self.channel(v)


class ActionCentricReasoner(nn.Module):
    r"""EAR: aggregate each frame into one vector, reason over time, distribute back.

    .. math::
        a_t = \mathrm{softmax}_{ij}(M_t), \quad v_t = \sum_{ij} a_{t,ij} X_t(i, j), \quad
        D_t = \mathrm{BN}(r_t)\,\sigma(M_t) \;(\text{add}) \;\text{ or }\;
        X_t \odot \mathrm{BN}(r_t)\,\sigma(M_t) \;(\text{scale})

    and :math:`r = R_n(\dots \mathrm{ReLU}(\mathrm{LN}(R_1(v))))`, ``n`` stacked
    :class:`TemporalReasoner` s of widths ``C -> C/r -> ... -> C/r -> C`` (our reading: a
    bottleneck keeps the channel transforms at ``2 C^2 / r`` weights; ``C -> C`` for one
    reasoner). Without an actionness map (ATR-sim) ``a_t`` is uniform (global average
    pooling) and :math:`\sigma(M_t)` is replaced by 1 (plain broadcast).

    Args:
        channels (int): ``C``. hidden (int): ``C/r``. k (int): temporal half-window.
        n_reasoners (int): stacked reasoners (2). distribution (str): ``"add"`` or ``"scale"``.
    """

    def __init__(self, channels: int, hidden: int, k: int = 1, n_reasoners: int = 2,
                 distribution: str = "add") -> None:
        super().__init__()
        widths = [channels] + [hidden] * (n_reasoners - 1) + [channels]
        self.reasoners = nn.ModuleList(
            TemporalReasoner(a, b, k) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.norms = nn.ModuleList(nn.LayerNorm(w) for w in widths[1:-1])
        self.bn = nn.BatchNorm1d(channels)
        self.distribution = distribution

    @staticmethod
    def aggregation_weights(m: Tensor) -> Tensor:
        """Spatial softmax of ``M`` ``(B, 1, T, H, W)`` -> ``(B, T, H*W)``, summing to 1."""
        return m.flatten(3).squeeze(1).softmax(dim=-1)

    def reason(self, v: Tensor) -> Tensor:
        """``(B, T, C) -> (B, T, C)`` through the stacked reasoners."""
        for i, reasoner in enumerate(self.reasoners):
            if i > 0:
                v = torch.relu(self.norms[i - 1](v))
            v = reasoner(v)
        return v

    def forward(self, x: Tensor, m: Tensor | None = None) -> Tensor:
        """The distributed term ``D`` ``(B, C, T, H, W)`` (without the residual ``X``)."""
        if m is None:
            v = x.mean(dim=(3, 4)).transpose(1, 2)  # (B, T, C)
        else:
            v = torch.einsum("bcts,bts->btc", x.flatten(3), self.aggregation_weights(m))
        r = self.bn(self.reason(v).transpose(1, 2))[..., None, None]  # (B, C, T, 1, 1)
        d = r if m is None else r * torch.sigmoid(m)
        return x * d if self.distribution == "scale" else d.expand_as(x)


class ATRBlock(nn.Module):
    r"""The ATR block: :class:`ActionRegionLocator` + :class:`ActionCentricReasoner`, residual.

    :math:`Y = X + D(X)`; see the module docstring for the pipeline. By default the final
    BatchNorm's scale starts at zero, so a freshly inserted block is the identity and a
    pre-trained backbone keeps its outputs until training moves it (our choice; the paper
    does not say).

    Args:
        channels (int): input channels ``C``.
        reduction (int): ``r`` of the reduced width ``C/r`` (16).
        k (int): the reasoner's temporal half-window, ``2k+1`` taps (1).
        n_reasoners (int): stacked reasoners (2).
        distribution (str): ``"add"`` (``BN(r) * sigmoid(M)``) or ``"scale"``
            (``X * BN(r) * sigmoid(M)``).
        locator (bool): use the ARL; ``False`` is ATR-sim (global average pooling and
            broadcast).
        zero_init (bool): start the final BatchNorm's scale at zero (True).
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

    def __init__(self, channels: int, reduction: int = 16, k: int = 1, n_reasoners: int = 2,
                 distribution: str = "add", locator: bool = True, *,
                 zero_init: bool = True, min_channels: int = 8) -> None:
        super().__init__()
        for name, value, low in (("channels", channels, 1), ("reduction", reduction, 1),
                                 ("k", k, 0), ("n_reasoners", n_reasoners, 1),
                                 ("min_channels", min_channels, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"ATRBlock {name} must be an integer >= {low}, got {value!r}")
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution {distribution!r} is unknown; known: "
                             f"{', '.join(DISTRIBUTIONS)}")
        self.channels, self.reduction, self.k = channels, reduction, k
        self.hidden = max(channels // reduction, min(channels, min_channels))
        self.locator = ActionRegionLocator(channels, self.hidden) if locator else None
        self.reasoner = ActionCentricReasoner(channels, self.hidden, k, n_reasoners,
                                              distribution)
        if zero_init:
            nn.init.zeros_(self.reasoner.bn.weight)

    def forward(self, x: Tensor, num_frames: int | None = None) -> Tensor:
        folded = x.dim() == 4
        x = self._unfold(x, num_frames) if folded else x
        if x.dim() != 5 or x.size(1) != self.channels:
            raise ValueError(f"ATRBlock({self.channels}) expects (B, {self.channels}, T, H, W) "
                             f"or (B*T, {self.channels}, H, W) input, got {tuple(x.shape)}")
        m = self.locator(x) if self.locator is not None else None
        y = x + self.reasoner(x, m)
        return y.transpose(1, 2).reshape(-1, *y.shape[1:2], *y.shape[3:]) if folded else y

    def aggregation_weights(self, x: Tensor, num_frames: int | None = None) -> Tensor:
        """Per-frame spatial weights ``(B, T, H, W)`` (uniform for ATR-sim)."""
        x = self._unfold(x, num_frames) if x.dim() == 4 else x
        B, _, T, H, W = x.shape
        if self.locator is None:
            return x.new_full((B, T, H, W), 1.0 / (H * W))
        return self.reasoner.aggregation_weights(self.locator(x)).view(B, T, H, W)

    @staticmethod
    def _unfold(x: Tensor, num_frames: int | None) -> Tensor:
        if num_frames is None or x.size(0) % num_frames:
            raise ValueError(
                f"a (B*T, C, H, W) input of shape {tuple(x.shape)} needs num_frames=T dividing "
                f"{x.size(0)}, got num_frames={num_frames}; pass the clip length"
            )
        return x.view(-1, num_frames, *x.shape[1:]).transpose(1, 2)  # (B, C, T, H, W)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, reduction={self.reduction}, hidden={self.hidden}, "
                f"k={self.k}, n_reasoners={len(self.reasoner.reasoners)}, "
                f"distribution={self.reasoner.distribution!r}, locator={self.locator is not None}")
