r"""Attention restricted to a static topology, at a cost that follows its edges.

A topology on a token grid decides, for each query token :math:`i`, the keys it
may attend to: the sources :math:`j` of its edges :math:`j \to i` (and, in the
encoder, :math:`i` itself). Softmax attention over those keys,

.. math::
    o_i = \sum_{j \in \mathcal K(i)} \mathrm{softmax}_j\!\big(s\, q_i^\top
    (k_j + e^k_{\tau_{ij}})\big)\,(v_j + e^v_{\tau_{ij}}),

computed with a dense :math:`N \times N` mask costs :math:`O(N^2 C)` whatever
the graph. The clip graphs of tagnet have structure: an intra-frame clique is a
dense :math:`P \times P` block per frame (:math:`P = HW`), time-aligned links
are two bands. An :class:`AttentionPlan` splits a topology's key sets into

.. code-block:: text

    frame blocks   query frame t attends to every site of key frames F(t)
                   (optionally all but the same site): W blocks of P keys each
    neighbours     the remaining keys of each query, padded to D per query
                   (a gather of D keys: temporal bands, lattice edges, ...)

and :func:`sparse_attention` computes block logits with one batched matrix
product per frame, neighbour logits by gathering, and takes **one softmax over
both** (each query's whole key set), so the result is that of the dense masked
computation up to float rounding, in :math:`O(N (WP + D) C)`. Three kernels:
blocks alone go to ``scaled_dot_product_attention`` per frame (fused);
neighbours at a few fixed offsets (temporal bands, lattices) go to
:class:`JointAttention` (shifted views, an in-place softmax and a hand-written
backward); the rest (typed keys, dropout, tracing, other neighbours) is a plain
autograd composition.

Keys are counted as a multiset in ``"typed"`` plans (PyG's TransformerConv: each
edge, with its type, is one key, no self loop) and as a set plus self in
``"self"`` plans (the encoder's mask: :func:`tagnet.propagation.allowed_pairs`).

========== ==================================================================
method     how the encoder's masked attention runs (:func:`resolve_attention`)
========== ==================================================================
dense      the reference: ``nn.MultiheadAttention`` with the ``(N, N)`` mask
structured :func:`sparse_attention` on the plan (any device; exportable)
flex       FlexAttention with a ``BlockMask`` from the plan (CUDA; compiled)
auto       ``flex`` on CUDA where it applies, else ``structured`` where the plan
           is cheaper than the dense mask, else ``dense``; data-dependent
           topologies always take ``dense``
========== ==================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from tagnet.graphs import TokenGrid, batch_graphs, get_topology
from tagnet.graphs.batching import edge_template
from tagnet.graphs.caching import LRUCache, is_tracing

ATTENTION_METHODS = ("auto", "structured", "flex", "dense")
PLAN_KINDS = ("self", "typed")
#: A neighbour key costs about this many block keys (a gather, not a matrix product):
#: ``auto`` takes the structured path while ``W * P + GATHER_COST * D < N``.
GATHER_COST = 4
#: Neighbours at up to this many distinct node offsets are read as shifted views.
MAX_OFFSETS = 8


def allowed_pairs(grid: TokenGrid, topology, tokens: Tensor | None = None,
                  device=None) -> Tensor:
    """Boolean ``allowed[i, j]``: token ``i`` may attend to token ``j`` (an edge ``j -> i``
    or ``i == j``).

    Returns ``(N, N)`` for a static topology, ``(B, N, N)`` for a data-dependent one
    (then ``tokens`` ``(B, N, C)`` are required).
    """
    grid, topology = TokenGrid.parse(grid), get_topology(topology)
    N = grid.num_nodes
    if topology.dynamic:
        if tokens is None:
            raise ValueError(f"topology {topology.name!r} builds edges from the tokens; "
                             "pass tokens to build its attention mask")
        B = tokens.size(0)
        graph = batch_graphs(tokens, grid, topology)
        src, dst = graph.edge_index
        allowed = torch.zeros(B, N, N, dtype=torch.bool, device=tokens.device)
        allowed[dst // N, dst % N, src % N] = True
        allowed[:, torch.arange(N), torch.arange(N)] = True
        return allowed
    edge_index, _ = edge_template(grid, topology)  # built on the CPU (also for meta tensors)
    allowed = torch.eye(N, dtype=torch.bool)
    allowed[edge_index[1], edge_index[0]] = True
    return allowed.to(device)


@dataclass(frozen=True)
class AttentionPlan:
    """The key sets of a static topology on a grid, as frame blocks plus padded neighbours.

    Built by :func:`attention_plan`; every tensor lives on one device.

    Attributes:
        grid (TokenGrid): the grid; ``N = T * P`` tokens.
        kind (str): ``"self"`` (allowed pairs plus self, as a set) or ``"typed"``
            (every edge one key, with its type id).
        num_types (int): edge types (1 for ``"self"``).
        frames (Tensor or None): ``[T, W]`` long, key frame of block slot ``w`` of query
            frame ``t`` (0 in unused slots); ``None`` when there are no blocks.
        block_type (Tensor or None): ``[T, W]`` long, edge type of each slot.
        block_mask (Tensor or None): ``[T, P, W * P]`` bool, ``True`` where query
            ``(t, p)`` takes key ``(frames[t, w], q)``; ``None`` when all do.
        nbr (Tensor or None): ``[N, D]`` long, the other keys of each query (padded
            with the query itself); ``None`` when ``D = 0``.
        nbr_valid (Tensor or None): ``[N, D]`` bool; ``None`` when no entry is padding.
        nbr_type (Tensor or None): ``[N, D]`` long, edge type of each neighbour key.
        empty (Tensor or None): ``[N]`` bool, queries without any key (their output is
            0, as in PyG); ``None`` when every query has a key.
        full (bool): every query takes every token once: plain attention, no mask.
        diagonal (bool): one block per query frame, its own (no gather needed).
        offsets (tuple of int or None): ``"self"`` plans whose neighbours lie at a few
            fixed node offsets ``j - i`` (a temporal band: ``(-P, P)``): the offsets, so
            neighbour keys are shifted views instead of gathers; ``None`` otherwise.
        offset_valid (Tensor or None): ``[N, S]`` bool, query ``i`` has the neighbour
            ``i + offsets[s]``; ``None`` when every in-range one does.
    """

    grid: TokenGrid
    kind: str
    num_types: int
    frames: Tensor | None
    block_type: Tensor | None
    block_mask: Tensor | None
    nbr: Tensor | None
    nbr_valid: Tensor | None
    nbr_type: Tensor | None
    empty: Tensor | None
    full: bool
    diagonal: bool
    offsets: tuple[int, ...] | None = None
    offset_valid: Tensor | None = None

    @property
    def width(self) -> int:
        """Block slots ``W`` per query frame."""
        return 0 if self.frames is None else self.frames.size(1)

    @property
    def degree(self) -> int:
        """Neighbour keys ``D`` per query (padded)."""
        return 0 if self.nbr is None else self.nbr.size(1)

    @property
    def keys_per_query(self) -> int:
        """Logits computed per query: ``W * P + D`` (``N`` for a full plan)."""
        return self.grid.num_nodes if self.full else self.width * self.grid.num_sites + self.degree

    def cheaper_than_dense(self) -> bool:
        """True when the plan's work is below the dense ``N x N`` computation's."""
        P = self.grid.num_sites
        return self.full or self.width * P + GATHER_COST * self.degree < self.grid.num_nodes

    def to(self, device) -> AttentionPlan:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, Tensor):
                moved[name] = value.to(device)
        return AttentionPlan(**moved)

    def __repr__(self) -> str:
        return (f"AttentionPlan(grid={self.grid}, kind={self.kind!r}, blocks={self.width}, "
                f"neighbours={self.degree}, full={self.full})")


def _triples(grid: TokenGrid, topology, kind: str) -> tuple[Tensor, Tensor, int]:
    """Sorted unique keys ``(type * N + dst) * N + src`` and their multiplicities."""
    N = grid.num_nodes
    edge_index, edge_type = edge_template(grid, topology)
    src, dst = edge_index
    if kind == "self":
        loops = torch.arange(N)
        keys = torch.unique(torch.cat([dst, loops]) * N + torch.cat([src, loops]))
        return keys, torch.ones_like(keys), 1
    keys, counts = torch.unique((edge_type * N + dst) * N + src, return_counts=True)
    return keys, counts, topology.num_edge_types


def _build_plan(grid: TokenGrid, topology, kind: str) -> AttentionPlan:
    """The plan on the CPU (see :class:`AttentionPlan`); vectorised, no loop over nodes."""
    T, P, N = grid.T, grid.num_sites, grid.num_nodes
    keys, counts, K = _triples(grid, topology, kind)
    src, dst, typ = keys % N, (keys // N) % N, keys // (N * N)
    tq, tk, same_site = dst // P, src // P, (dst % P) == (src % P)
    # a (type, query frame, key frame) block is taken whole when it holds all P^2 pairs,
    # or all P^2 - P pairs of distinct sites (an intra-frame clique without self loops)
    block = (typ * T + tq) * T + tk
    total = torch.bincount(block, minlength=K * T * T)
    on_site = torch.bincount(block[same_site], minlength=K * T * T)
    whole = total == P * P
    off_site = ~whole & (total - on_site == P * P - P) & (P > 1)
    taken = (whole | off_site)[block] & (whole[block] | ~same_site)  # one copy of each key
    # --- frame blocks -------------------------------------------------------------------
    ids = (whole | off_site).nonzero().flatten()  # sorted by (type, t, t')
    b_type, b_tq, b_tk = ids // (T * T), (ids // T) % T, ids % T
    order = torch.argsort(b_tq * (K * T) + b_tk * K + b_type)
    b_type, b_tq, b_tk, b_off = b_type[order], b_tq[order], b_tk[order], off_site[ids[order]]
    per_frame = torch.bincount(b_tq, minlength=T)
    W = int(per_frame.max()) if ids.numel() else 0
    frames = block_type = block_mask = None
    if W:
        slot = torch.arange(ids.numel()) - (per_frame.cumsum(0) - per_frame)[b_tq]
        frames = torch.zeros(T, W, dtype=torch.long)
        block_type = torch.zeros(T, W, dtype=torch.long)
        valid = torch.zeros(T, W, dtype=torch.bool)
        off = torch.zeros(T, W, dtype=torch.bool)
        frames[b_tq, slot], block_type[b_tq, slot] = b_tk, b_type
        valid[b_tq, slot], off[b_tq, slot] = True, b_off
        eye = torch.eye(P, dtype=torch.bool)
        mask = valid[:, None, :, None] & ~(off[:, None, :, None] & eye[None, :, None, :])
        block_mask = None if bool(mask.all()) else mask.reshape(T, P, W * P)
    # --- neighbours: what the blocks did not take, padded per query ---------------------
    rest = counts - taken.long()
    n_src, n_dst, n_typ = (t.repeat_interleave(rest) for t in (src, dst, typ))
    degree = torch.bincount(n_dst, minlength=N)
    D = int(degree.max()) if n_dst.numel() else 0
    nbr = nbr_valid = nbr_type = None
    if D:
        order = torch.argsort(n_dst, stable=True)
        n_src, n_dst, n_typ = n_src[order], n_dst[order], n_typ[order]
        rank = torch.arange(n_dst.numel()) - (degree.cumsum(0) - degree)[n_dst]
        nbr = torch.arange(N).unsqueeze(1).repeat(1, D)  # padding: the query itself
        nbr_type = torch.zeros(N, D, dtype=torch.long)
        nbr_valid = torch.zeros(N, D, dtype=torch.bool)
        nbr[n_dst, rank], nbr_type[n_dst, rank], nbr_valid[n_dst, rank] = n_src, n_typ, True
        nbr_valid = None if bool(nbr_valid.all()) else nbr_valid
    # --- queries without keys (typed plans: a node without incoming edges) ---------------
    keys_per_query = degree.clone()
    if W:
        bm = block_mask if block_mask is not None else torch.ones(T, P, W * P, dtype=torch.bool)
        keys_per_query += bm.sum(-1).flatten()
    empty = keys_per_query == 0
    empty = empty if bool(empty.any()) else None
    diagonal = W == 1 and bool((frames[:, 0] == torch.arange(T)).all())
    full = (kind == "self" and W == T and block_mask is None and D == 0)
    offsets = offset_valid = None
    if kind == "self" and D:  # a set: each (query, offset) at most once
        delta = n_src - n_dst
        values = torch.unique(delta)
        if values.numel() <= MAX_OFFSETS:
            offsets = tuple(int(o) for o in values)
            offset_valid = torch.zeros(N, len(offsets), dtype=torch.bool)
            offset_valid[n_dst, torch.searchsorted(values, delta)] = True
            rows = torch.arange(N).unsqueeze(1) + values  # in range: 0 <= i + offset < N
            if torch.equal(offset_valid, (rows >= 0) & (rows < N)):
                offset_valid = None
    return AttentionPlan(grid, kind, K, frames, block_type, block_mask, nbr, nbr_valid, nbr_type,
                         empty, full, diagonal, offsets, offset_valid)


_PLANS = LRUCache(32, "attention plans")


def attention_plan(grid: TokenGrid | str | tuple, topology, kind: str = "self",
                   device=None) -> AttentionPlan:
    """The :class:`AttentionPlan` of a static ``topology`` on ``grid``, built once per key.

    Built on the CPU from the cached edge template, outside any tracer (fake or proxy
    modes are switched off while it is built: its tensors are real, so a tracer takes
    them as constants and the cache may keep them), then moved to ``device``.

    Args:
        grid (TokenGrid or "TxHxW"): the token grid.
        topology (str or Topology): a static topology.
        kind (str): ``"self"`` (the encoder's mask: edges plus self, as a set) or
            ``"typed"`` (each edge one key, with its type: TransformerConv).
        device: where the plan's tensors live (CPU).

    Example:
        >>> attention_plan("8x7x7", "tag")
        AttentionPlan(grid=8x7x7, kind='self', blocks=1, neighbours=2, full=False)
    """
    grid, topology = TokenGrid.parse(grid), get_topology(topology)
    device = torch.device(device or "cpu")
    return AttentionPlan(grid, *_plan_fields(grid, topology, kind, device))


@torch.compiler.assume_constant_result  # torch.compile calls it eagerly: its tensors are constants
def _plan_fields(grid: TokenGrid, topology, kind: str, device: torch.device) -> tuple:
    """The plan's fields after ``grid`` (a tuple: what ``assume_constant_result`` can return)."""
    from torch.utils._python_dispatch import _disable_current_modes

    if kind not in PLAN_KINDS:
        raise ValueError(f"plan kind {kind!r} is unknown; known: {', '.join(PLAN_KINDS)}")
    if topology.dynamic:
        raise ValueError(f"topology {topology.name!r} has data-dependent edges; an attention "
                         "plan needs a static topology (use the dense/PyG reference path)")
    with _disable_current_modes(), torch.device("cpu"), torch.inference_mode(False):
        cpu = _PLANS.get((grid, topology, kind, torch.device("cpu")),
                         lambda: _build_plan(grid, topology, kind))
        plan = cpu if device.type == "cpu" else \
            _PLANS.get((grid, topology, kind, device), lambda: cpu.to(device))
    return tuple(getattr(plan, f.name) for f in fields(plan))[1:]


def _frame_view(x: Tensor, plan: AttentionPlan) -> Tensor:
    """``(B, h, N, d)`` -> the keys of every block slot, ``(B, h, T, W * P, d)``."""
    B, h, N, d = x.shape
    T, P = plan.grid.T, plan.grid.num_sites
    x = x.reshape(B, h, T, P, d)
    if plan.diagonal:
        return x
    return x.index_select(2, plan.frames.flatten()).view(B, h, T, plan.width * P, d)


def sparse_attention(q: Tensor, k: Tensor, v: Tensor, plan: AttentionPlan, *,
                     scale: float | None = None, dropout_p: float = 0.0,
                     type_key: Tensor | None = None, type_value: Tensor | None = None) -> Tensor:
    r"""Softmax attention of every query over its plan's keys (module docstring).

    .. math::
        o_i = \sum_{j} \alpha_{ij} (v_j + e^v_{\tau_{ij}}),\quad
        \alpha_{ij} = \mathrm{softmax}_{j \in \mathcal K(i)}\, s\, q_i^\top
        (k_j + e^k_{\tau_{ij}}),

    one softmax over the frame blocks and the neighbours together. A query
    without keys gets 0. Dropout (``dropout_p``) zeroes attention weights
    independently and rescales the rest by :math:`1 / (1 - p)`, as
    ``scaled_dot_product_attention`` does; the caller passes 0 in eval mode.

    Args:
        q, k, v (Tensor): ``(B, heads, N, d)``.
        plan (AttentionPlan): from :func:`attention_plan` on the tokens' device.
        scale (float, optional): logit scale :math:`s` (default :math:`1/\sqrt d`).
        dropout_p (float): attention dropout.
        type_key, type_value (Tensor, optional): ``(heads, num_types, d)``
            per-type vectors added to the keys / values of each edge of that type
            (TransformerConv's projected edge-type embedding); typed plans only.

    Shapes:
        output ``(B, heads, N, d)``.
    """
    B, h, N, d = q.shape
    T, P = plan.grid.T, plan.grid.num_sites
    if N != plan.grid.num_nodes:
        raise ValueError(f"attention over {N} tokens, but the plan is for grid {plan.grid} "
                         f"({plan.grid.num_nodes} tokens)")
    typed = type_key is not None or type_value is not None
    if typed and plan.kind != "typed":
        raise ValueError("per-type key/value vectors need a plan of kind 'typed'")
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    if not typed and plan.nbr is None and plan.empty is None:  # blocks only: fused SDPA
        return _block_sdpa(q, k, v, plan, scale, dropout_p)
    if (not typed and plan.offsets is not None and dropout_p == 0 and not is_tracing(q)
            and q.dtype in (torch.float32, torch.float64)):  # its in-place softmax: no fp16
        return JointAttention.apply(q, k, v, plan, scale)
    W, D, K = plan.width, plan.degree, plan.num_types
    if not W and not D:  # no query has a key: every output is 0, every input still used
        used = [t.sum() for t in (q, k, v, type_key, type_value) if t is not None]
        return torch.zeros_like(q) + 0 * sum(used)  # zero gradients, as PyG (and DDP) see them
    qs = q * scale
    bias = None if type_key is None else torch.einsum("bhnd,hkd->bhnk", qs, type_key)
    logits = []
    if W:
        kb = _frame_view(k, plan)
        lb = qs.reshape(B, h, T, P, d) @ kb.transpose(-1, -2)  # (B, h, T, P, W*P)
        if bias is not None:
            bb = bias.view(B, h, T, P, K).gather(
                -1, plan.block_type.view(1, 1, T, 1, W).expand(B, h, T, P, W))
            lb = (lb.view(B, h, T, P, W, P) + bb.unsqueeze(-1)).view(B, h, T, P, W * P)
        if plan.block_mask is not None:
            lb = lb.masked_fill(~plan.block_mask, float("-inf"))
        logits.append(lb.view(B, h, N, W * P))
    if D:
        ks = k.index_select(2, plan.nbr.flatten()).view(B, h, N, D, d)
        ls = torch.linalg.vecdot(qs.unsqueeze(-2), ks)  # (B, h, N, D); no tiny matmuls
        if bias is not None:
            ls = ls + bias.gather(-1, plan.nbr_type.expand(B, h, N, D))
        if plan.nbr_valid is not None:
            ls = ls.masked_fill(~plan.nbr_valid, float("-inf"))
        logits.append(ls)
    logits = logits[0] if len(logits) == 1 else torch.cat(logits, dim=-1)
    if plan.empty is not None:  # no key at all: softmax over nothing is 0 (PyG's result)
        logits = logits.masked_fill(plan.empty[:, None], 0.0)
    a = logits.softmax(dim=-1)
    if plan.empty is not None:
        a = a.masked_fill(plan.empty[:, None], 0.0)
    if dropout_p > 0:
        a = F.dropout(a, dropout_p, training=True)
    out = mass = None
    if W:
        ab = a[..., :W * P]
        out = (ab.reshape(B, h, T, P, W * P) @ _frame_view(v, plan)).view(B, h, N, d)
        if type_value is not None:
            onehot = F.one_hot(plan.block_type, K).to(a.dtype)  # (T, W, K)
            mass = torch.einsum("bhtpw,twk->bhtpk", ab.reshape(B, h, T, P, W, P).sum(-1),
                                onehot).reshape(B, h, N, K)
    if D:
        an = a[..., W * P:]
        vs = v.index_select(2, plan.nbr.flatten()).view(B, h, N, D, d)
        on = torch.linalg.vecdot(an.unsqueeze(-2), vs.transpose(-1, -2))  # (B, h, N, d)
        out = on if out is None else out + on
        if type_value is not None:
            onehot = F.one_hot(plan.nbr_type, K).to(a.dtype)  # (N, D, K)
            if plan.nbr_valid is not None:
                onehot = onehot * plan.nbr_valid.unsqueeze(-1)
            m = torch.einsum("bhnd,ndk->bhnk", an, onehot)
            mass = m if mass is None else mass + m
    if mass is not None:
        out = out + torch.einsum("bhnk,hkd->bhnd", mass, type_value)
    return out


def _shifted(plan: AttentionPlan, N: int):
    """``(s, lo, hi, offset)`` per neighbour offset: queries ``lo:hi`` read keys ``lo+o:hi+o``."""
    for s, o in enumerate(plan.offsets):
        yield s, max(0, -o), min(N, N - o), o


class JointAttention(torch.autograd.Function):
    r"""Attention over frame blocks and offset neighbours with one softmax, for ``"self"``
    plans whose neighbours have :attr:`AttentionPlan.offsets`, without dropout, in
    float32/float64 (half precision takes the autograd composition, whose softmax
    accumulates in float32).

    The same values as the autograd composition in :func:`sparse_attention`, with few
    large temporaries: the softmax runs in place on the block and neighbour logits,
    neighbour keys are shifted views (no gathers), and the backward pass is the usual
    :math:`\partial \ell_{ij} = p_{ij} (g_i^\top v_j - g_i^\top o_i)` with in-place
    accumulation. Saves ``q, k, v``, the weights and the output.
    """

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, plan: AttentionPlan, scale: float):
        B, h, N, d = q.shape
        T, P, W = plan.grid.T, plan.grid.num_sites, plan.width
        ps = q.new_full((B, h, N, len(plan.offsets)), float("-inf"))
        for s, lo, hi, o in _shifted(plan, N):
            ps[..., lo:hi, s] = torch.linalg.vecdot(q[..., lo:hi, :], k[..., lo + o:hi + o, :])
        ps.mul_(scale)
        if plan.offset_valid is not None:
            ps.masked_fill_(~plan.offset_valid, float("-inf"))
        m = ps.amax(-1, keepdim=True)
        pb = None
        if W:
            pb = q.reshape(B, h, T, P, d) @ _frame_view(k, plan).transpose(-1, -2)
            pb.mul_(scale)
            if plan.block_mask is not None:
                pb.masked_fill_(~plan.block_mask, float("-inf"))
            pb = pb.view(B, h, N, W * P)
            m = torch.maximum(m, pb.amax(-1, keepdim=True))
        z = ps.sub_(m).exp_().sum(-1, keepdim=True)  # every query attends to itself: m finite
        if pb is not None:
            z += pb.sub_(m).exp_().sum(-1, keepdim=True)
            pb.div_(z)
            out = (pb.view(B, h, T, P, W * P) @ _frame_view(v, plan)).view(B, h, N, d)
        else:
            out = q.new_zeros(B, h, N, d)
        ps.div_(z)
        for s, lo, hi, o in _shifted(plan, N):
            out[..., lo:hi, :].addcmul_(ps[..., lo:hi, s, None], v[..., lo + o:hi + o, :])
        ctx.save_for_backward(q, k, v, pb, ps, out)
        ctx.plan, ctx.scale = plan, scale
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor):
        q, k, v, pb, ps, out = ctx.saved_tensors
        plan, scale = ctx.plan, ctx.scale
        B, h, N, d = q.shape
        T, P, W = plan.grid.T, plan.grid.num_sites, plan.width
        delta = torch.linalg.vecdot(g, out).unsqueeze(-1)  # g_i . o_i
        dps = torch.zeros_like(ps)
        for s, lo, hi, o in _shifted(plan, N):
            dps[..., lo:hi, s] = torch.linalg.vecdot(g[..., lo:hi, :], v[..., lo + o:hi + o, :])
        dps.sub_(delta).mul_(ps)  # d logits of the neighbours
        gf = g.reshape(B, h, T, P, d)
        if W:
            pbf = pb.view(B, h, T, P, W * P)
            dpb = (gf @ _frame_view(v, plan).transpose(-1, -2)).view(B, h, N, W * P)
            dpb = dpb.sub_(delta).mul_(pb).view(B, h, T, P, W * P)  # d logits of the blocks
            dq = (dpb @ _frame_view(k, plan)).view(B, h, N, d)
            dk = _frame_sum(dpb.transpose(-1, -2) @ q.reshape(B, h, T, P, d), plan)
            dv = _frame_sum(pbf.transpose(-1, -2) @ gf, plan)
        else:
            dq, dk, dv = (q.new_zeros(B, h, N, d) for _ in range(3))
        for s, lo, hi, o in _shifted(plan, N):
            dq[..., lo:hi, :].addcmul_(dps[..., lo:hi, s, None], k[..., lo + o:hi + o, :])
            dk[..., lo + o:hi + o, :].addcmul_(dps[..., lo:hi, s, None], q[..., lo:hi, :])
            dv[..., lo + o:hi + o, :].addcmul_(ps[..., lo:hi, s, None], g[..., lo:hi, :])
        return dq.mul_(scale), dk.mul_(scale), dv, None, None


def _frame_sum(x: Tensor, plan: AttentionPlan) -> Tensor:
    """Adjoint of :func:`_frame_view`: ``(B, h, T, W * P, d)`` -> ``(B, h, N, d)``."""
    B, h, T, _, d = x.shape
    P = plan.grid.num_sites
    if plan.diagonal:
        return x.reshape(B, h, T * P, d)
    out = x.new_zeros(B, h, T, P, d)
    out.index_add_(2, plan.frames.flatten(), x.reshape(B, h, T * plan.width, P, d))
    return out.view(B, h, T * P, d)


def _block_sdpa(q: Tensor, k: Tensor, v: Tensor, plan: AttentionPlan, scale: float,
                dropout_p: float) -> Tensor:
    """Frame blocks only: ``scaled_dot_product_attention`` per query frame (fused kernels)."""
    if plan.full:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=scale)
    B, h, N, d = q.shape
    T, P, W = plan.grid.T, plan.grid.num_sites, plan.width
    qf = q.reshape(B, h * T, P, d)
    kb = _frame_view(k, plan).reshape(B, h * T, W * P, d)
    vb = _frame_view(v, plan).reshape(B, h * T, W * P, d)
    mask = None
    if plan.block_mask is not None:
        mask = plan.block_mask.unsqueeze(0).expand(h, T, P, W * P).reshape(h * T, P, W * P)
    out = F.scaled_dot_product_attention(qf, kb, vb, attn_mask=mask, dropout_p=dropout_p,
                                         scale=scale)
    return out.view(B, h, N, d)


# ---- FlexAttention (CUDA) ---------------------------------------------------------------

_BLOCK_MASKS = LRUCache(16, "flex block masks")
_FLEX = {}


def flex_available(device, head_dim: int) -> bool:
    """FlexAttention's compiled kernels apply: CUDA, a power-of-two head dim >= 16."""
    d = head_dim
    if torch.device(device).type != "cuda" or d < 16 or d & (d - 1):
        return False
    try:
        from torch.nn.attention.flex_attention import flex_attention  # noqa: F401
    except ImportError:  # pragma: no cover - torch < 2.5
        return False
    return True


def flex_block_mask(grid: TokenGrid, topology, device):
    """FlexAttention ``BlockMask`` of the encoder's key sets (edges plus self), cached."""
    from torch.nn.attention.flex_attention import create_block_mask

    grid, topology = TokenGrid.parse(grid), get_topology(topology)
    device = torch.device(device)

    def build():
        allowed = allowed_pairs(grid, topology, device=device)

        def mask_mod(b, h, q_idx, kv_idx):
            return allowed[q_idx, kv_idx]

        N = grid.num_nodes
        return create_block_mask(mask_mod, None, None, N, N, device=device)

    return _BLOCK_MASKS.get((grid, topology, device), build)


def flex_attention_topology(q: Tensor, k: Tensor, v: Tensor, grid: TokenGrid, topology,
                            scale: float | None = None) -> Tensor:
    """The encoder's masked attention by FlexAttention with the topology's ``BlockMask``.

    Runs the compiled kernel (``torch.compile(flex_attention)``, built once) in
    eager mode; no attention dropout (FlexAttention has none). On the CPU
    FlexAttention has no backward pass in torch 2.14.
    """
    from torch.nn.attention.flex_attention import flex_attention

    block_mask = flex_block_mask(grid, topology, q.device)
    fn = flex_attention
    if q.device.type == "cuda" and not torch.compiler.is_compiling():
        if "fn" not in _FLEX:
            _FLEX["fn"] = torch.compile(flex_attention, dynamic=False)
        fn = _FLEX["fn"]
    return fn(q, k, v, block_mask=block_mask, scale=scale)


# ---- method resolution --------------------------------------------------------------------

def check_attention_method(method: str) -> str:
    """``method`` if it is one of :data:`ATTENTION_METHODS`, else a ``ValueError`` listing them."""
    if method not in ATTENTION_METHODS:
        raise ValueError(f"attention method {method!r} is unknown; known: "
                         f"{', '.join(ATTENTION_METHODS)}")
    return method


def resolve_attention(method: str, topology, grid: TokenGrid, x: Tensor | None = None,
                      dropout_p: float = 0.0, head_dim: int | None = None) -> str:
    """The method that runs: ``"structured"``, ``"flex"`` or ``"dense"`` (module docstring).

    ``x`` (the tokens, or any tensor on their device) and ``head_dim`` let ``auto``
    consider FlexAttention; ``dropout_p`` is the attention dropout of this call (0 in
    eval mode). ``auto`` takes ``flex`` only on CUDA, in eager mode and without
    attention dropout (FlexAttention has none); under ``torch.compile`` and export it
    takes ``structured`` (plain tensor ops). Explicit methods that cannot run raise.
    """
    topology, grid = get_topology(topology), TokenGrid.parse(grid)
    check_attention_method(method)
    if topology.dynamic:
        if method in ("structured", "flex"):
            raise ValueError(f"attention method {method!r} needs a static topology; "
                             f"{topology.name!r} has data-dependent edges: use 'dense' or "
                             "'auto' (which takes the dense masked path for it)")
        return "dense"
    if method == "flex" and dropout_p > 0:
        raise ValueError(f"attention method 'flex' has no attention dropout (p={dropout_p}); "
                         "use 'structured' or 'auto', or run in eval mode / with dropout=0")
    if method != "auto":
        return method
    if (x is not None and head_dim is not None and flex_available(x.device, head_dim)
            and dropout_p == 0 and not is_tracing(x)):
        return "flex"
    return "structured" if attention_plan(grid, topology).cheaper_than_dense() else "dense"


__all__ = ["allowed_pairs", "AttentionPlan", "attention_plan", "sparse_attention",
           "resolve_attention", "check_attention_method", "flex_attention_topology",
           "flex_block_mask", "flex_available", "ATTENTION_METHODS", "GATHER_COST"]
