"""Every way weights come in: one door for ``create_model``, ``load_run``, eval, predict, export.

.. code-block:: text

    file (.pth / .pt / .pyth / .safetensors)          load_state_dict_file: torch.load(weights_only)
      -> unwrap model_state_dict / state_dict /        or safetensors; never unpickles objects
         model_state / model, strip "module."
      -> refuse NaN / inf (naming the tensor)          check_finite
      -> layout: "tagnet" (the model's own keys)       load_weights: strict, with errors that
         or "official" (the authors' release,          name missing/unexpected keys per layout
         convert_official_state_dict)                  and the classes / grid / FFN that differ
      -> model.load_state_dict(strict=True)

    tagnet training checkpoint (runs/x/best.pth)      load_checkpoint: a plain dict of tensors
                                                       and values (format "tagnet-checkpoint")

This module builds no model and imports nothing from the model packages, so the backbones
(for their own pretrained files), the factory, training and the commands all read weights
through it. Writing goes through :func:`save_weights` (atomic: a failed write leaves the
previous file).
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from tagnet.datasets.atomic import atomic_path
from tagnet.graphs import TokenGrid, get_topology

#: Containers unwrapped by :func:`load_state_dict_file`, outermost first (nested ones too).
STATE_DICT_WRAPPERS = ("model_state_dict", "state_dict", "model_state", "model")
#: Weight layouts :func:`load_weights` recognises, in the order it tries them.
LAYOUTS = ("tagnet", "official")
#: The ``format`` entry of a tagnet training checkpoint and the newest version read here.
CHECKPOINT_FORMAT = "tagnet-checkpoint"
CHECKPOINT_VERSION = 1
#: Entries every tagnet checkpoint has (:func:`load_checkpoint` checks them).
CHECKPOINT_REQUIRED = ("model", "config", "class_names", "epoch")


# ----------------------------------------------------------------------------- reading files
def unwrap_state_dict(state, source: str = "the file") -> dict[str, Tensor]:
    """Unwrap :data:`STATE_DICT_WRAPPERS` (repeatedly) and strip DataParallel's ``module.``."""
    unwrapped = True
    while unwrapped and isinstance(state, dict):
        unwrapped = False
        for key in STATE_DICT_WRAPPERS:
            if isinstance(state.get(key), dict):
                state, unwrapped = state[key], True
                break
    if not isinstance(state, dict):
        raise ValueError(f"{source} holds a {type(state).__name__}, not a state dict")
    if state and all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_state_dict_file(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from a local ``.pth``/``.pt``/``.pyth`` or ``.safetensors`` file.

    tagnet never downloads. Unwraps the usual containers (``model_state_dict``,
    ``state_dict``, ``model_state``, ``model``; nested ones too) and strips the
    ``module.`` prefix DataParallel/DDP adds to every key. Files are read with
    ``torch.load(weights_only=True)``: a file holding pickled Python objects is refused,
    never run.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file '{path}' does not exist; tagnet never downloads weights: "
            "download the checkpoint yourself and pass its local path"
        )
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - safetensors is a dependency
            raise ImportError(f"reading '{path}' needs the safetensors package: "
                              "pip install safetensors") from exc
        try:
            return unwrap_state_dict(load_file(str(path)), f"'{path}'")
        except Exception as exc:  # safetensors raises its own error types
            if isinstance(exc, ValueError) and "not a state dict" in str(exc):
                raise
            raise ValueError(f"'{path}' is not a readable safetensors file: {exc}") from exc
    if path.stat().st_size == 0:
        raise ValueError(f"weights file '{path}' is empty (0 bytes): it was not written to "
                         "the end; use another copy")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not re.search(r"Unsupported global: GLOBAL (\S+)", str(exc)):
            raise ValueError(f"'{path}' is not a readable PyTorch weights file (corrupt, "
                             "truncated, or another format); tagnet reads .pth/.pt files "
                             "written by torch.save and .safetensors files") from None
        raise ValueError(
            f"'{path}' holds Python objects besides tensors (a training checkpoint with its "
            "config?), which tagnet does not unpickle. If you trust the file, keep only the "
            "weights: python -c \"import torch; c = torch.load('IN', weights_only=False); "
            "torch.save(c.get('model_state', c), 'OUT')\""
        ) from exc
    except (RuntimeError, EOFError) as exc:
        raise ValueError(f"'{path}' is not a readable PyTorch weights file "
                         f"({_first_line(exc).split('. ')[0]}): corrupt, truncated, or another "
                         "format; "
                         "tagnet reads .pth/.pt files written by torch.save and .safetensors "
                         "files") from None
    return unwrap_state_dict(state, f"'{path}'")


def nonfinite_tensors(tensors: dict) -> list[str]:
    """Names of the floating-point tensors in ``tensors`` holding NaN or infinity."""
    return [k for k, v in tensors.items() if isinstance(v, torch.Tensor)
            and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def _names(names: list[str], k: int = 3) -> str:
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def classifier_rows(state: dict[str, Tensor]) -> int | None:
    """The number of classes of a whole-model state dict (its classifier's rows), if it has one."""
    for key in ("head.fc.weight", "classifier.1.weight"):
        if key in state and state[key].dim() == 2:
            return int(state[key].shape[0])
    return None


def check_finite(state: dict[str, Tensor], source: str) -> None:
    """Raise ``ValueError`` naming the tensors of ``state`` that hold NaN or infinity."""
    bad = nonfinite_tensors(state)
    if bad:
        raise ValueError(f"{source} holds non-finite weights (NaN or inf in {_names(bad)}): "
                         "a diverged run or a damaged file; use weights from before it")


# ------------------------------------------------------------------ the authors' layout
_STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
_RULES = [  # (released key pattern, tagnet key template)
    (re.compile(r"^backbone\.([0-4])\.(.+)$"), lambda m: f"backbone.{_STAGES[int(m[1])]}.{m[2]}"),
    (re.compile(r"^pos_embedding$"), lambda m: "head.pos_embed.weight"),
    (re.compile(r"^transformer\.(layers\.\d+\..+)$"), lambda m: f"head.encoder.{m[1]}"),
    (re.compile(r"^classifier\.0\.(weight|bias)$"), lambda m: f"head.norm.{m[1]}"),
    (re.compile(r"^classifier\.1\.(weight|bias)$"), lambda m: f"head.fc.{m[1]}"),
]


def convert_official_state_dict(state_dict: dict[str, Tensor], *, check_graph: bool = True,
                                spatial: tuple[int, int] = (7, 7)) -> dict[str, Tensor]:
    """Map a released TAG-Head state dict to ``create_model("tag_r2plus1d_34")``'s keys.

    The released module is ``backbone`` (``nn.Sequential`` of stem and layers
    1-4), ``pos_embedding``, ``transformer`` (PyTorch encoder layers),
    ``classifier`` (LayerNorm, Linear) and a registered ``edge_index`` buffer.
    ``edge_index`` is not a parameter in tagnet (the topology rebuilds it); with
    ``check_graph`` it is compared, as a set of edges, with the ``"tag"``
    topology on the grid implied by ``pos_embedding``, and a mismatch raises.
    A ``module.`` prefix (DataParallel) is stripped. Unknown keys raise,
    naming them.

    Example:
        >>> sd = torch.load("gym99_best.pth", weights_only=True)  # doctest: +SKIP
        >>> model = create_model("tag_r2plus1d_34", preset="gym99")  # doctest: +SKIP
        >>> model.load_state_dict(convert_official_state_dict(sd))  # doctest: +SKIP
    """
    out, unknown, edge_index = {}, [], None
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        if key == "edge_index":
            edge_index = value
            continue
        for pattern, template in _RULES:
            m = pattern.match(key)
            if m:
                out[template(m)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(
            f"{len(unknown)} key(s) are not part of the released TAG-Head layout: "
            f"{unknown[:8]}{' ...' if len(unknown) > 8 else ''}"
        )
    if check_graph and edge_index is not None and "head.pos_embed.weight" in out:
        _check_edge_index(edge_index, out["head.pos_embed.weight"].shape[1], spatial)
    return out


def _check_edge_index(edge_index: Tensor, num_nodes: int, spatial: tuple[int, int]) -> None:
    H, W = spatial
    T = num_nodes // (H * W)
    if T * H * W != num_nodes:
        raise ValueError(
            f"pos_embedding has {num_nodes} tokens, not a multiple of the {H}x{W} spatial grid")
    ours, _ = get_topology("tag").edges(TokenGrid(T, H, W))

    def as_set(ei: Tensor) -> Tensor:
        n = int(max(num_nodes, 1))
        return torch.unique(ei[0].long() * n + ei[1].long())

    if not torch.equal(as_set(edge_index), as_set(ours)):
        raise ValueError(
            f"the checkpoint's edge_index ({edge_index.size(1)} edges) is not the 'tag' graph on "
            f"grid {T}x{H}x{W} ({ours.size(1)} edges); pass check_graph=False to load anyway"
        )




def _diff(model_state: dict, state: dict) -> tuple[list[str], list[str]]:
    missing = [k for k in model_state if k not in state]
    unexpected = [k for k in state if k not in model_state]
    return missing, unexpected


def _head(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" ... (+{len(keys) - n} more)" if len(keys) > n else "")


#: (key suffix, what its first dimension means) for naming a mismatch.
_NAMED_SHAPES = (
    ("head.fc.weight", "classes", lambda s: s[0]),
    ("head.pos_embed.weight", "tokens in the grid (T*H*W)", lambda s: s[1] if len(s) > 2 else s[0]),
    ("head.encoder.layers.0.linear1.weight", "FFN width", lambda s: s[0]),
    ("head.norm.weight", "head width", lambda s: s[0]),
)


def _shape_mismatch(model: nn.Module, model_state: dict, state: dict, source: str) -> None:
    bad = [k for k, v in state.items() if tuple(v.shape) != tuple(model_state[k].shape)]
    if not bad:
        return
    named = []
    for key, what, dim in _NAMED_SHAPES:
        if key in bad:
            named.append(f"{what}: file {dim(tuple(state[key].shape))}, model "
                         f"{dim(tuple(model_state[key].shape))}")
    head = getattr(model, "head", None)
    grid = f" (model grid {head.grid})" if hasattr(head, "grid") else ""
    others = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(model_state[k].shape)}"
              for k in bad[:3]]
    raise ValueError(
        f"{source} is for another configuration of this architecture"
        + (f": {'; '.join(named)}{grid}" if named else "")
        + f". {len(bad)} tensor(s) differ in shape, e.g. {'; '.join(others)}. Build the model "
        "with the file's settings (--preset, --num-classes, --num-frames/--img-size, "
        "model.kwargs.ffn_dim)"
    )


def load_weights(model: nn.Module, weights: str | Path | dict[str, Tensor], *,
                 source: str | None = None) -> str:
    """Load a whole-model weights file (or state dict) strictly into ``model``; returns its layout.

    Reads ``.pth``/``.pt`` and ``.safetensors`` files and unwraps ``model_state_dict``,
    ``state_dict``, ``model_state``, ``model`` and a ``module.`` prefix
    (:func:`load_state_dict_file`), refuses NaN/inf tensors (:func:`check_finite`), then
    tries the layouts of
    :data:`LAYOUTS`: ``"tagnet"`` (the model's own keys, as ``tagnet train`` and
    ``tagnet export --format safetensors`` write them) and ``"official"`` (the
    authors' released layout, converted by :func:`convert_official_state_dict`).

    Raises:
        ValueError: a tensor holds NaN or inf (named); no layout fits (lists each layout
            tried with its first missing and unexpected keys), or the keys fit but shapes
            differ (names the classes, grid and FFN width of the file and of the model).

    Example:
        >>> model = tagnet.create_model("tag_r2plus1d_34", preset="gym99")  # doctest: +SKIP
        >>> load_weights(model, "gym99_best.pth")  # doctest: +SKIP
        'official'
    """
    if isinstance(weights, dict):
        source = source or "the state dict"
        state = unwrap_state_dict(weights, source)
    else:
        source = source or f"'{weights}'"
        state = load_state_dict_file(weights)
    check_finite(state, source)
    model_state = model.state_dict()
    tried = []
    for layout in LAYOUTS:
        if layout == "tagnet":
            candidate = state
        else:
            try:
                candidate = convert_official_state_dict(state)
            except KeyError as exc:
                tried.append(f"{layout}: {exc.args[0]}")
                continue
        missing, unexpected = _diff(model_state, candidate)
        if not missing and not unexpected:
            _shape_mismatch(model, model_state, candidate, source)
            model.load_state_dict(candidate, strict=True)
            return layout
        tried.append(f"{layout}: {len(missing)} missing ({_head(missing)}), "
                     f"{len(unexpected)} unexpected ({_head(unexpected)})")
    raise ValueError(
        f"{source} fits none of the weight layouts tagnet knows for {type(model).__name__} "
        f"(wrappers {', '.join(STATE_DICT_WRAPPERS)} and a 'module.' prefix are unwrapped first). "
        + " | ".join(tried)
        + ". Is the file for another architecture (--arch)?"
    )


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Write the model's weights alone (tagnet layout) to ``.safetensors`` or ``.pth``,
    atomically: a write that fails (disk full) leaves the previous file at ``path``."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    check_finite(state, f"the model to be written to '{path}'")
    with atomic_path(path) as tmp:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(state, str(tmp))
        else:
            torch.save(state, tmp)
    return path


# ----------------------------------------------------------------------- training checkpoints
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a tagnet training checkpoint with ``weights_only=True``.

    A run folder reads its ``last.pth``. Raises ``ValueError`` with one line naming the file
    for anything else: an empty or truncated file, a pickle of Python objects (refused on
    purpose: ``weights_only`` loading never runs code from a file), a missing entry, or
    non-finite weights (a diverged run).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.pth"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' does not exist; pass a run folder "
                                "(its last.pth is used) or a .pth file written by tagnet train")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint '{path}' is empty (0 bytes): it was not written to the "
                         "end; use another checkpoint of the run (best.pth, last.pth)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found is None:
            raise ValueError(f"checkpoint '{path}' is not a readable PyTorch file (corrupt, "
                             "truncated, or not a checkpoint)") from None
        raise ValueError(
            f"checkpoint '{path}' holds a pickled Python object ({found.group(1)}); tagnet "
            "refuses it on purpose, since loading it could run code from the file. Checkpoints "
            "from tagnet train hold only tensors and plain values") from None
    except (RuntimeError, EOFError) as exc:
        raise ValueError(f"checkpoint '{path}' is corrupt or truncated ({_first_line(exc)}); "
                         "use another checkpoint of the run (best.pth, last.pth)") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"'{path}' is not a tagnet training checkpoint (no 'format': "
            f"{CHECKPOINT_FORMAT!r} entry); plain state dicts load with --weights, "
            "tagnet.create_model(..., weights=PATH) or model.backbone_weights")
    if state.get("format_version", CHECKPOINT_VERSION + 1) > CHECKPOINT_VERSION:
        raise ValueError(f"'{path}' has checkpoint format {state.get('format_version')}, newer "
                         f"than this tagnet ({CHECKPOINT_VERSION}); upgrade tagnet")
    missing = [k for k in CHECKPOINT_REQUIRED if k not in state]
    if missing:
        raise ValueError(f"checkpoint '{path}' lacks the entries {', '.join(missing)}; it is "
                         "damaged or was not written by tagnet train")
    bad = nonfinite_tensors(state["model"])
    if bad:
        raise ValueError(f"checkpoint '{path}' holds non-finite weights ({_names(bad)}): the "
                         "run diverged; use a checkpoint from before it, and train with a "
                         "lower train.lr or train.clip_grad_norm")
    return state


__all__ = ["load_state_dict_file", "unwrap_state_dict", "STATE_DICT_WRAPPERS", "LAYOUTS",
           "nonfinite_tensors", "check_finite", "classifier_rows", "convert_official_state_dict",
           "load_weights", "save_weights", "load_checkpoint", "CHECKPOINT_FORMAT",
           "CHECKPOINT_VERSION", "CHECKPOINT_REQUIRED"]
