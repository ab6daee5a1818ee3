"""Every public checkpoint layout loads with strict=True and gives the reference's outputs.

Each reference is built independently of tagnet (torchvision's builders, pytorchvideo's
builders or its module tree), randomised, and its state dict, in its own layout, is loaded
into tagnet: through a file (``create_backbone(name, weights=path)``) for the light ones,
in memory into a backbone built on the meta device (``load_pretrained(..., assign=True)``,
the same key map and checks without a second initialisation) for the heavy ones, which
run one small input each.
"""
import pytest
import torch
from torch import nn
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18
from torchvision.models.video.resnet import (
    BasicBlock,
    Bottleneck,
    Conv2Plus1D,
    R2Plus1dStem,
    VideoResNet,
)

from tagnet.backbones import KeyMap, create_backbone, pytorchvideo_resnet


def _trunk_of_video_resnet(model, x):
    x = model.stem(x)
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def _load(name, state):
    """A backbone built on the meta device, filled from ``state`` (strict, key map applied)."""
    with torch.device("meta"):
        model = create_backbone(name)
    model.load_pretrained(state, assign=True)
    return model


def _assert_same_outputs(ours, ref_fn, shape, seed=0):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), ref_fn(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,builder", [("r2plus1d_18", r2plus1d_18), ("r3d_18", r3d_18),
                                          ("mc3_18", mc3_18)])
def test_torchvision_state_dicts_load(name, builder, randomize, save):
    ref = randomize(builder(weights=None))
    state = ref.state_dict()  # with fc.*, which the map drops
    ours = create_backbone(name, weights=save(state)) if name == "mc3_18" else _load(name, state)
    _assert_same_outputs(ours, lambda x: _trunk_of_video_resnet(ref, x), (1, 3, 4, 32, 32))


def test_ig65m_r2plus1d_34_port_loads(randomize, save):
    # the IG-65M port: torchvision names, 359-class fc, Caffe2 middle widths, BN eps 1e-3
    ref = VideoResNet(BasicBlock, [Conv2Plus1D] * 4, [3, 4, 6, 3], R2Plus1dStem, num_classes=359)
    for name, planes in (("layer2", 128), ("layer3", 256), ("layer4", 512)):
        mid = planes * planes * 27 // (planes * 9 + 3 * planes)
        getattr(ref, name)[0].conv2[0] = Conv2Plus1D(planes, planes, mid)
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.eps = 1e-3
    randomize(ref)
    state = ref.state_dict()
    assert state["layer2.0.conv2.0.0.weight"].shape == (288, 128, 1, 3, 3)
    ours = _load("r2plus1d_34", state)
    _assert_same_outputs(ours, lambda x: _trunk_of_video_resnet(ref, x), (1, 3, 4, 32, 32))


class _Conv3DDepthwise(nn.Conv3d):
    """The VMZ port's conv maker for ir-CSN (a depthwise 3x3x3 convolution)."""

    def __init__(self, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        super().__init__(in_planes, out_planes, 3, stride, padding, groups=in_planes, bias=False)

    @staticmethod
    def get_downsample_stride(stride):
        return (stride, stride, stride)


class _StemPool(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True),
                         nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))


def test_vmz_ir_csn_152_loads(randomize):
    ref = VideoResNet(Bottleneck, [_Conv3DDepthwise] * 4, [3, 8, 36, 3], _StemPool,
                      num_classes=400)
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.eps = 1e-3
    randomize(ref)
    ours = _load("ir_csn_152", ref.state_dict())
    assert sum(p.numel() for p in ours.parameters()) == \
        sum(p.numel() for n, p in ref.named_parameters() if not n.startswith("fc."))
    _assert_same_outputs(ours, lambda x: _trunk_of_video_resnet(ref, x), (1, 3, 4, 32, 32))


@pytest.mark.parametrize("name", ["slow_r50", "i3d_r50", "csn_r101"])
def test_pytorchvideo_checkpoints_load(name, pv, randomize, save):
    ref = randomize(pv.model(name))
    state = ref.state_dict()
    if name == "csn_r101":  # the model zoo files hold {"model_state": ...}; DDP adds "module."
        state = {f"module.{k}": v for k, v in state.items()}
        ours = create_backbone(name, weights=save({"model_state": state, "epoch": 196}))
    else:
        ours = _load(name, state)
    _assert_same_outputs(ours, lambda x: pv.trunk(ref, x), (1, 3, 4, 32, 32))


@pytest.mark.parametrize("name", ["slow_r50", "i3d_r50", "csn_r101"])
def test_handwritten_tree_matches_pytorchvideo(name, pv):
    hub = pytest.importorskip("pytorchvideo.models.hub")
    with torch.device("meta"):
        theirs = {k: tuple(v.shape) for k, v in getattr(hub, name)().state_dict().items()}
        ours = {k: tuple(v.shape) for k, v in pv.tree(name).state_dict().items()}
    assert ours == theirs


def test_layout_errors_name_the_key(save):
    state = create_backbone("r2plus1d_tiny").state_dict()
    missing = {k: v for k, v in state.items() if k != "layer1.0.conv1.0.0.weight"}
    with pytest.raises(KeyError, match=r"1 missing keys: layer1\.0\.conv1\.0\.0\.weight"):
        create_backbone("r2plus1d_tiny", weights=save(missing))
    wrong = dict(state, **{"stem.0.weight": torch.zeros(12, 3, 1, 5, 5)})
    with pytest.raises(KeyError, match=r"stem\.0\.weight: checkpoint \(12, 3, 1, 5, 5\) vs "
                                       r"model \(12, 3, 1, 7, 7\)"):
        create_backbone("r2plus1d_tiny", weights=save(wrong))
    with pytest.raises(KeyError, match=r"not part of the torchvision VideoResNet layout: "
                                       r"head\.weight"):
        create_backbone("r2plus1d_tiny", weights=save(dict(state, **{"head.weight": 1})))


def test_pytorchvideo_map_is_explicit():
    i3d = pytorchvideo_resnet((1, 3, 4, 5), head_block=6)
    assert i3d.map_key("blocks.0.conv.weight") == "stem.0.weight"
    assert i3d.map_key("blocks.3.res_blocks.2.branch2.norm_b.running_var") == \
        "layer2.2.conv2.1.running_var"
    assert i3d.map_key("blocks.5.res_blocks.0.branch1_conv.weight") == \
        "layer4.0.downsample.0.weight"
    assert i3d.map_key("module.blocks.6.proj.weight") is None
    with pytest.raises(KeyError):
        i3d.map_key("blocks.2.res_blocks.0.branch2.conv_a.weight")  # block 2 is I3D's pool
    km = KeyMap("toy", [(r"^a\.", "x."), (r"^b\.", "x.")])
    with pytest.raises(KeyError, match=r"sends two keys to 'x\.w'"):
        km({"a.w": 1, "b.w": 2})


def test_missing_weights_file_explains():
    with pytest.raises(FileNotFoundError, match="never downloads"):
        create_backbone("slow_r50", weights="/nonexistent/SLOW_8x8_R50.pyth")
