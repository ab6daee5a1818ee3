r"""Model complexity: parameters per part, multiply-adds, latency and peak memory.

Multiply-adds (MACs) count a multiply-add once, as video papers do when they
write "FLOPs" (the paper's 153.4 GFLOPs are GMACs in this sense). Convolutions,
linear layers and attention are counted by :class:`torch.utils.flop_counter.FlopCounterMode`
(which reports 2 FLOPs per multiply-add), with PyTorch's fused Transformer fast
path and fused attention kernels switched off during the count so every matmul is
seen. PyG's APPNP is opaque to that counter (its gather/scatter message passing
is not counted, and some PyG/torch combinations fail inside it), so during the
count each :class:`~tagnet.propagation.GraphPropagation` is replaced by an exact
count from its graph. With :math:`N` nodes, :math:`E` edges (no self loops),
:math:`E' = E + N` non-zeros of :math:`A` once ``gcn_norm`` adds self loops,
:math:`C` channels and :math:`K` steps, per clip

.. math::
    \mathrm{MACs}_{prop} = K \big(\underbrace{E' C}_{A H^{(k)}}
      + \underbrace{N C}_{(1-\alpha)\,\cdot} + \underbrace{N C}_{+\,\alpha H^{(0)}}\big).

This is the cost of APPNP as sparse message passing, whatever
``propagation=`` method computes it (``"structured"`` gets the same result with
fewer operations). The normalisation :math:`\tilde D^{-1/2}(M + I)\tilde D^{-1/2}`
depends on the graph only; tagnet computes it once per graph and caches it, so
it is not counted per clip. Pooling, normalisation layers, activations and
residual additions are not counted (nor are they by the usual tools).

The optional graph heads (:mod:`tagnet.propagation.operators`, :mod:`tagnet.models.readouts`)
are their own entries, ``operator`` and ``readout``, in parameters and MACs, present
only when the model has them (the released head has neither). A PyG operator's
matmuls are seen by the counter; its message passing (attention logits and the
weighted sums over the edges, which the counter does not see) is added from the
graph by each layer's ``message_macs``. Masked encoder attention
(``attention_topology=``) is computed densely and counted so.
"""
from __future__ import annotations

import contextlib
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from tagnet.graphs import TokenGrid, batch_graphs
from tagnet.models.atr import ATRBlock
from tagnet.propagation import GraphOperator, GraphPropagation

#: Parameter groups of a TAGNet, by module prefix (the first match wins).
PARTS: dict[str, tuple[str, ...]] = {
    "backbone": ("backbone",),
    "positional": ("head.pos_embed",),
    "encoder": ("head.proj", "head.encoder"),  # the input adapter and the Transformer
    "propagation": ("head.propagation",),
    "operator": ("head.operator",),  # optional parts: reported only when the model has them
    "readout": ("head.readout",),
    "classifier": ("head.norm", "head.fc", "fc", "classifier"),
}


#: Parts listed only when a model has parameters (or MACs) in them.
OPTIONAL_PARTS = ("operator", "readout")


def _atr_prefixes(model: nn.Module) -> list[str]:
    """Names of the ATR blocks inside ``model`` (see :mod:`tagnet.models.atr_models`)."""
    return [name for name, m in model.named_modules() if isinstance(m, ATRBlock)]


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameters per part: backbone, positional, encoder, propagation, classifier, total.

    ``encoder`` includes the head's input adapter (the ``Linear(C, 512)`` of wide
    backbones). ATR blocks inserted into a backbone are reported as ``atr`` and
    parameters outside all parts as ``other`` (each only when there are some).
    Shared parameters count once.
    """
    counts = dict.fromkeys(PARTS, 0)
    atr = _atr_prefixes(model)
    for name, p in model.named_parameters():
        if any(name.startswith(q + ".") for q in atr):
            part = "atr"
        else:
            part = next((k for k, prefixes in PARTS.items()
                         if any(name == q or name.startswith(q + ".") for q in prefixes)), "other")
        counts[part] = counts.get(part, 0) + p.numel()
    for part in OPTIONAL_PARTS:
        if not counts[part]:
            del counts[part]
    counts["total"] = sum(counts.values())
    return counts


#: The parts of an ATR block's parameters, by name inside the block (the first match wins).
ATR_PARTS: dict[str, tuple[str, ...]] = {
    "locator": ("locator.",),
    "temporal relation": (".taps", ".temporal.", ".theta.", ".phi."),
    "channel transforms": (".channel.",),
    "norms and gains": ("reasoner.norms.", "reasoner.bn.", "reasoner.map_gain"),
}


def count_atr_parameters(model: nn.Module) -> dict[str, int]:
    """The ATR blocks' parameters by part (:data:`ATR_PARTS`), summed over the blocks.

    ``temporal relation`` is what ``ear_taps`` changes: ``2k+1`` per efficient reasoner with
    the paper's shared taps, ``c_in (2k+1)`` with per-channel taps, the two ``c_in x d``
    projections of a graph reasoner. Empty for a model without ATR blocks.
    """
    counts = dict.fromkeys(ATR_PARTS, 0)
    for block in (m for m in model.modules() if isinstance(m, ATRBlock)):
        for name, p in block.named_parameters():
            part = next(k for k, keys in ATR_PARTS.items()
                        if any(key in f".{name}" or name.startswith(key) for key in keys))
            counts[part] += p.numel()
    return {k: v for k, v in counts.items() if v}


@torch.no_grad()
def compare_reasoners(model: nn.Module, inputs: Tensor) -> dict:
    """ATR's efficient (ER) vs graph (GR) reasoner in ``model``'s ATR blocks, both measured.

    The model is copied twice; in each copy every block's reasoners are rebuilt as one kind
    (same widths, stacking, taps and distribution), and ``inputs`` is counted with
    :class:`~torch.utils.flop_counter.FlopCounterMode`. Returns, per kind (``"efficient"``,
    ``"graph"``), ``params`` and ``macs`` of the reasoners alone (summed over the blocks) and
    ``block_params`` / ``block_macs`` of the whole blocks (locator, aggregation, reasoners,
    distribution), plus ``reasoner_saving`` and ``block_saving``: ``1 - ER / GR`` in MACs
    (ATR's "ER has 90% less computational overhead than GR" is a statement of this kind).
    Empty for a model without ATR blocks.
    """
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    from tagnet.models.atr import REASONERS

    if not _atr_prefixes(model):
        return {}
    out: dict = {}
    for kind in REASONERS:
        twin = copy.deepcopy(model)
        for m in twin.modules():  # a copy made for counting must not call the user's hooks
            m._forward_hooks.clear()
            m._forward_pre_hooks.clear()
        prefixes = _atr_prefixes(twin)
        for p in prefixes:
            block = twin.get_submodule(p)
            if block.reasoner.reasoner_kind != kind:
                device = next(block.reasoner.parameters()).device
                block.reasoner = block.reasoner.with_reasoner(kind).to(device)
        twin.eval()
        counter = FlopCounterMode(display=False)
        with _countable(), counter:
            twin(inputs)
        counts, root = counter.get_flop_counts(), type(twin).__name__

        def macs(name: str, counts=counts, root=root) -> int:
            return sum(counts.get(f"{root}.{name}", {}).values()) // 2

        blocks = [twin.get_submodule(p) for p in prefixes]
        out[kind] = {
            "params": sum(p.numel() for b in blocks for p in b.reasoner.reasoners.parameters()),
            "macs": sum(macs(f"{p}.reasoner.reasoners.{i}") for p, b in zip(prefixes, blocks,
                                                                            strict=True)
                        for i in range(len(b.reasoner.reasoners))),
            "block_params": sum(p.numel() for b in blocks for p in b.parameters()),
            "block_macs": sum(macs(p) for p in prefixes),
        }
    er, gr = out["efficient"], out["graph"]
    out["reasoner_saving"] = 1 - er["macs"] / gr["macs"] if gr["macs"] else 0.0
    out["block_saving"] = 1 - er["block_macs"] / gr["block_macs"] if gr["block_macs"] else 0.0
    return out


def propagation_macs(num_nodes: int, num_edges: int, channels: int, K: int) -> int:
    """Exact multiply-adds of PyG APPNP on a graph without self loops (module docstring)."""
    return K * (num_edges + 3 * num_nodes) * channels


class _CountedPropagation:
    """Stands in for a GraphPropagation's forward during a count: returns ``x``, adds MACs."""

    def __init__(self, module: GraphPropagation) -> None:
        self.module, self.macs = module, 0

    def __call__(self, x: Tensor, grid: TokenGrid) -> Tensor:
        m = self.module
        if m.K == 0 or m.topology.edge_types == ("none",):
            return x
        B, N, C = x.shape
        edges = batch_graphs(x, grid, m.topology).edge_index.size(1)
        self.macs += propagation_macs(B * N, edges, C, m.K)
        return x


class _CountedOperator:
    """Stands in for a GraphOperator's forward during a count: returns ``x``, adds MACs.

    The operator runs once on CPU zeros of the same shape under its own counter (a
    copy with uninitialised weights when the model is on the meta device, where PyG's
    message passing cannot run), plus its message passing from the graph.
    """

    def __init__(self, module: GraphOperator) -> None:
        self.module, self.macs = module, 0

    def __call__(self, x: Tensor, grid: TokenGrid) -> Tensor:
        import copy

        from torch.utils._python_dispatch import _disable_current_modes
        from torch.utils.flop_counter import FlopCounterMode

        m = self.module
        with _disable_current_modes():
            op = copy.deepcopy(m).to_empty(device="cpu") if x.is_meta else m
            z = torch.zeros(x.shape, dtype=x.dtype, device="cpu" if x.is_meta else x.device)
            edges = batch_graphs(z, grid, m.topology).edge_index.size(1)
            inner = FlopCounterMode(display=False)
            with inner:
                type(m).forward(op, z, grid)  # the class's forward, not this stand-in
            self.macs += inner.get_total_flops() // 2 + m.message_macs(z.size(0) * z.size(1),
                                                                       edges)
        return x


@contextlib.contextmanager
def _countable():
    """Switch off the fused Transformer fast path and fused attention, which the counter misses."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


@torch.no_grad()
def count_macs(model: nn.Module, inputs: Tensor) -> dict[str, int]:
    """Multiply-adds of ``model(inputs)``: ``backbone``, ``head``, ``propagation``, ``total``.

    ``head`` excludes ``propagation`` (counted exactly from the graph) and the optional
    ``operator`` and ``readout`` entries (present when the head has those parts). For models
    with ATR blocks, ``atr`` holds theirs and ``backbone`` excludes them. The model
    runs once, in eval mode; its mode is restored afterwards.
    """
    from torch.utils.flop_counter import FlopCounterMode

    stand_ins = [_CountedPropagation(m) for m in model.modules()
                 if isinstance(m, GraphPropagation)]
    operators = [_CountedOperator(m) for m in model.modules() if isinstance(m, GraphOperator)]
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        for s in stand_ins + operators:
            s.module.forward = s
        with _countable(), counter:
            model(inputs)
    finally:
        for s in stand_ins + operators:
            del s.module.forward
        model.train(was_training)
    counts = counter.get_flop_counts()
    root = type(model).__name__
    def macs_of(name: str) -> int:
        return sum(counts.get(f"{root}.{name}", {}).values()) // 2

    atr = sum(macs_of(name) for name in _atr_prefixes(model))
    backbone = macs_of("backbone") - atr  # the blocks sit inside the backbone
    operator = sum(s.macs for s in operators)
    readout = macs_of("head.readout" if hasattr(model, "head") else "readout")
    rest = counter.get_total_flops() // 2 - backbone - atr - readout
    prop = sum(s.macs for s in stand_ins)
    macs = {"backbone": backbone, "head": rest, "propagation": prop}
    if operator:
        macs["operator"] = operator
    if readout:
        macs["readout"] = readout
    if atr:
        macs["atr"] = atr
    macs["total"] = backbone + rest + prop + atr + operator + readout
    return macs


def example_input(model: nn.Module, batch_size: int = 1, device=None) -> Tensor:
    """A zero input of the size ``model`` was built for (clips, or token grids)."""
    backbone = getattr(model, "backbone", None)
    T, S = getattr(model, "num_frames", None), getattr(model, "img_size", None)
    if T is None or S is None:
        raise ValueError(f"{type(model).__name__} does not say its input size (num_frames, "
                         "img_size); pass an input tensor to count_macs instead")
    if backbone is not None and getattr(backbone, "in_channels", 3) != 3:
        grid = backbone.output_grid(T, S, S)
        return torch.zeros(batch_size, backbone.in_channels, *grid.shape, device=device)
    return torch.zeros(batch_size, 3, T, S, S, device=device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def measure_latency(model: nn.Module, inputs: Tensor, runs: int = 10, warmup: int = 2) -> float:
    """Median wall time of ``model(inputs)`` in milliseconds over ``runs`` after ``warmup``."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    device = inputs.device
    times = []
    for i in range(warmup + runs):
        _sync(device)
        t0 = time.perf_counter()
        model(inputs)
        _sync(device)
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


@torch.inference_mode()
def measure_peak_memory(model: nn.Module, inputs: Tensor) -> tuple[float, str]:
    """Peak memory of one forward in MiB and what it measures.

    On CUDA: the allocator's peak (``torch.cuda.max_memory_allocated``, weights
    included). On CPU there is no allocator statistic: the process's peak
    resident set size (interpreter, libraries and weights included) is reported.
    """
    if inputs.device.type == "cuda":
        torch.cuda.synchronize(inputs.device)
        torch.cuda.reset_peak_memory_stats(inputs.device)
        model(inputs)
        torch.cuda.synchronize(inputs.device)
        return torch.cuda.max_memory_allocated(inputs.device) / 2**20, "cuda_max_allocated"
    model(inputs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10), "process_peak_rss"


@dataclass
class Complexity:
    """A complexity report; :meth:`to_json` gives the ``tagnet complexity --json`` object."""

    params: dict[str, int]
    macs: dict[str, int]
    latency_ms: float | None = None
    peak_mem_mb: float | None = None
    memory_kind: str | None = None
    input_shape: tuple[int, ...] = ()
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    @property
    def gmacs(self) -> float:
        return self.macs["total"] / 1e9

    def to_json(self) -> dict:
        return {"params": dict(self.params), "gmacs": round(self.gmacs, 4),
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
                "peak_mem_mb": None if self.peak_mem_mb is None else round(self.peak_mem_mb, 1)}


def complexity_report(model: nn.Module, *, device: str | torch.device = "cpu", runs: int = 10,
                      warmup: int = 2, timing: bool = True) -> Complexity:
    """Parameters, MACs for one clip and (with ``timing``) latency and peak memory."""
    device = torch.device(device)
    model = model.to(device).eval()
    inputs = example_input(model, 1, device)
    report = Complexity(count_parameters(model), count_macs(model, inputs),
                        input_shape=tuple(inputs.shape), device=str(device))
    atr = count_atr_parameters(model)
    if atr:
        report.extra["atr_parts"] = atr
        report.extra["atr_reasoners"] = compare_reasoners(model, inputs)
    if timing:
        report.peak_mem_mb, report.memory_kind = measure_peak_memory(model, inputs)
        report.latency_ms = measure_latency(model, inputs, runs=runs, warmup=warmup)
    return report
