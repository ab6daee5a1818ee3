"""Load the authors' released TAG-Head checkpoints (PAPER.md section 3)."""
from __future__ import annotations

import re

import torch
from torch import Tensor

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


