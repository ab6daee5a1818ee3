"""Load the authors' released TAG-Head checkpoints (PAPER.md section 3), and weight files of
any of the layouts tagnet knows (:func:`load_weights`)."""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor, nn

from tagnet.graphs import TokenGrid, get_topology

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




#: Weight layouts :func:`load_weights` recognises, in the order it tries them.
LAYOUTS = ("tagnet", "official")


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
    (:func:`tagnet.backbones.load_state_dict_file`). Then tries the layouts of
    :data:`LAYOUTS`: ``"tagnet"`` (the model's own keys, as ``tagnet train`` and
    ``tagnet export --format safetensors`` write them) and ``"official"`` (the
    authors' released layout, converted by :func:`convert_official_state_dict`).

    Raises:
        ValueError: no layout fits (lists each layout tried with its first missing and
            unexpected keys), or the keys fit but shapes differ (names the classes,
            grid and FFN width of the file and of the model).

    Example:
        >>> model = create_model("tag_r2plus1d_34", preset="gym99")  # doctest: +SKIP
        >>> load_weights(model, "gym99_best.pth")  # doctest: +SKIP
        'official'
    """
    from tagnet.backbones.base import load_state_dict_file, unwrap_state_dict

    if isinstance(weights, dict):
        source = source or "the state dict"
        state = unwrap_state_dict(weights, source)
    else:
        source = source or f"'{weights}'"
        state = load_state_dict_file(weights)
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
        f"(wrappers {', '.join(_wrappers())} and a 'module.' prefix are unwrapped first). "
        + " | ".join(tried)
        + ". Is the file for another architecture (--arch)?"
    )


def _wrappers() -> tuple[str, ...]:
    from tagnet.backbones.base import STATE_DICT_WRAPPERS

    return STATE_DICT_WRAPPERS


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Write the model's weights alone (tagnet layout) to ``.safetensors`` or ``.pth``."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path
