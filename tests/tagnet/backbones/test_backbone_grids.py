"""Declared strides equal the real output grids; registry behaviour; parameter counts.

Shapes are checked on the meta device (the real modules run shape inference only, no
compute): the light backbones on several input sizes, the heavy ones on one odd size
(odd T, H and W exercise both the "same"-padding ceil and I3D's floor rounding).
"""
import math

import pytest
import torch
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18

from tagnet.backbones import (
    FeatureBackbone,
    VideoBackbone,
    create_backbone,
    list_backbones,
    register_backbone,
)
from tagnet.graphs import TokenGrid

VIDEO_BACKBONES = [b for b in list_backbones() if b != "features"]
SIZES = [(8, 112, 112), (9, 64, 80), (16, 33, 47), (3, 32, 32)]
LIGHT = ("r2plus1d_tiny", "mc3_18")

# (channels, overall stride) of every backbone the issue names
DECLARED = {
    "r2plus1d_18": (512, (8, 16, 16)), "r2plus1d_34": (512, (8, 16, 16)),
    "r2plus1d_tiny": (128, (8, 16, 16)), "r3d_18": (512, (8, 16, 16)),
    "mc3_18": (512, (1, 16, 16)), "slow_r50": (2048, (1, 32, 32)),
    "i3d_r50": (2048, (2, 32, 32)), "csn_r101": (2048, (8, 32, 32)),
    "ir_csn_152": (2048, (8, 32, 32)),
}


def test_registry_holds_the_zoo():
    assert set(DECLARED) | {"features"} <= set(list_backbones())
    with pytest.raises(ValueError, match="backbone 'i3d' is unknown; known: .*i3d_r50"):
        create_backbone("i3d")
    with pytest.raises(ValueError, match="backbone 'slow_r50' is already registered"):
        register_backbone("slow_r50")(lambda: None)


@pytest.mark.parametrize("name", VIDEO_BACKBONES)
def test_output_grid_matches_the_network(name):
    with torch.device("meta"):
        model = create_backbone(name)
        assert isinstance(model, VideoBackbone)
        for T, H, W in SIZES if name in LIGHT else [(9, 33, 47)]:
            out = model(torch.empty(2, 3, T, H, W))
            assert out.shape == (2, model.out_channels, *model.output_grid(T, H, W).shape), \
                (name, T, H, W)
    assert model.stride == tuple(math.prod(s[i] for s in model.stage_strides) for i in range(3))
    if name in DECLARED:
        assert (model.out_channels, model.stride) == DECLARED[name]


def test_i3d_pool_rounds_time_down():
    with torch.device("meta"):
        i3d = create_backbone("i3d_r50")
    assert i3d.output_grid(9, 224) == TokenGrid(4, 7, 7)  # ceil would give 5
    assert create_backbone("features", source="csn_r101").output_grid(9, 224) == \
        TokenGrid(2, 7, 7)
    with pytest.raises(ValueError, match=r"input of 1x224x224 .* too small for ResNet3dTrunk "
                                         r"\(stride 2x32x32\)"):
        i3d.output_grid(1, 224)


@pytest.mark.parametrize("name,builder", [("r2plus1d_18", r2plus1d_18), ("r3d_18", r3d_18),
                                          ("mc3_18", mc3_18)])
def test_parameter_counts_equal_torchvision(name, builder):
    with torch.device("meta"):
        theirs = sum(p.numel() for n, p in builder().named_parameters() if not n.startswith("fc"))
        ours = sum(p.numel() for p in create_backbone(name).parameters())
    assert ours == theirs


def test_parameter_counts_of_the_pytorchvideo_layouts():
    # pytorchvideo's slow_r50 / i3d_r50 / csn_r101 totals minus their 2048 -> 400 head
    head = 2048 * 400 + 400
    expected = {"slow_r50": 32_454_096 - head, "i3d_r50": 28_043_472 - head,
                "csn_r101": 22_213_776 - head}
    with torch.device("meta"):
        for name, count in expected.items():
            assert sum(p.numel() for p in create_backbone(name).parameters()) == count, name


def test_builder_options_are_checked():
    with torch.device("meta"):
        assert create_backbone("slow_r50", bn_eps=1e-3).stem[1].eps == 1e-3
        with pytest.raises(ValueError, match=r"unknown option\(s\) \['depth'\]"):
            create_backbone("slow_r50", depth=101)


def test_features_backbone_declares_its_source():
    fb = create_backbone("features", source="i3d_r50")
    assert isinstance(fb, FeatureBackbone) and fb.out_channels == 2048
    with torch.device("meta"):
        i3d = create_backbone("i3d_r50")
    for T, H, W in SIZES:
        assert fb.output_grid(T, H, W) == i3d.output_grid(T, H, W)
    default = create_backbone("features")
    assert (default.out_channels, default.stride) == (512, (8, 16, 16))
    x = torch.randn(2, 512, 4, 7, 7)
    assert default(x) is x
    with pytest.raises(ValueError, match=r"expects token grids of shape \(B, 512, T', H', W'\)"):
        default(torch.randn(2, 3, 32, 112, 112))
    with pytest.raises(ValueError, match="either source=... or channels/stride"):
        create_backbone("features", source="slow_r50", channels=64)
