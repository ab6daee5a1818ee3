"""Freezing leaves exactly the intended parameters trainable and statistics fixed."""
import copy
import io

import pytest
import torch
from torch import nn

from tagnet import create_model
from tagnet.backbones import create_backbone, freeze_backbone, freeze_bn_stats, unfreeze


def _trainable(module):
    return {n for n, p in module.named_parameters() if p.requires_grad}


def _bn_stats(module):
    return {n: b.clone() for n, b in module.named_buffers() if "running" in n}


def _train_step(model, shape=(2, 3, 8, 32, 32)):
    model.train()
    out = model(torch.randn(*shape))
    out.float().pow(2).mean().backward()


def test_freeze_backbone_trains_only_the_head():
    model = create_model("tag_r2plus1d_tiny", num_classes=3, num_frames=8, img_size=32,
                         freeze="backbone")
    all_names = {n for n, _ in model.named_parameters()}
    assert _trainable(model) == {n for n in all_names if n.startswith("head.")}
    before = _bn_stats(model.backbone)
    _train_step(model)
    after = _bn_stats(model.backbone)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.backbone.parameters())
    assert not any(m.training for m in model.backbone.modules()
                   if isinstance(m, nn.BatchNorm3d))


def test_freeze_bn_statistics_only():
    trunk = create_backbone("r2plus1d_tiny")
    freeze_backbone(trunk, "bn")
    assert _trainable(trunk) == {n for n, _ in trunk.named_parameters()}
    before = _bn_stats(trunk)
    _train_step(trunk)
    assert all(torch.equal(before[k], v) for k, v in _bn_stats(trunk).items())
    assert trunk.stem[1].weight.grad is not None  # affine parameters still learn
    # with statistics frozen, train mode computes what eval mode computes
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(trunk.train()(x), trunk.eval()(x))


def test_freeze_all_but_the_last_stages():
    trunk = create_backbone("r2plus1d_tiny")
    assert freeze_backbone(trunk, 1) == ["stem", "layer1", "layer2", "layer3"]
    assert _trainable(trunk) == {n for n, _ in trunk.named_parameters()
                                 if n.startswith("layer4.")}
    before = _bn_stats(trunk)
    _train_step(trunk)
    after = _bn_stats(trunk)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {k for k in before if k.startswith("layer4.")}

    with torch.device("meta"):
        slow = create_backbone("slow_r50")
    assert freeze_backbone(slow, "2") == ["stem", "layer1", "layer2"]
    assert {n.split(".")[0] for n in _trainable(slow)} == {"layer3", "layer4"}


def test_freeze_zero_stages_equals_backbone_and_unfreeze_restores():
    a, b = create_backbone("r2plus1d_tiny"), create_backbone("r2plus1d_tiny")
    freeze_backbone(a, 0)
    freeze_backbone(b, "backbone")
    assert _trainable(a) == _trainable(b) == set()
    unfreeze(a)
    assert _trainable(a) == {n for n, _ in a.named_parameters()}
    a.train()
    assert all(m.training for m in a.modules())
    assert type(a.stem[1]) is nn.BatchNorm3d


def test_frozen_modules_copy_and_save():
    trunk = create_backbone("r2plus1d_tiny")
    keys = list(trunk.state_dict())
    assert freeze_bn_stats(trunk) == sum(isinstance(m, nn.BatchNorm3d) for m in trunk.modules())
    assert list(trunk.state_dict()) == keys
    clone = copy.deepcopy(trunk).train()
    assert not clone.stem[1].training
    buffer = io.BytesIO()
    torch.save(trunk, buffer)  # whole-module pickling works: the classes are importable
    buffer.seek(0)
    assert not torch.load(buffer, weights_only=False).train().stem[1].training


def test_bad_settings_raise():
    trunk = create_backbone("r2plus1d_tiny")
    with pytest.raises(ValueError, match="freeze='head' is not a freezing setting"):
        freeze_backbone(trunk, "head")
    with pytest.raises(ValueError, match=r"has only 5 stages \(stem, layer1"):
        freeze_backbone(trunk, 6)
    with pytest.raises(ValueError, match="declares no stages"):
        freeze_backbone(create_backbone("features"), 1)
    sync = nn.Sequential(nn.SyncBatchNorm(4))
    with pytest.raises(TypeError, match="'0' \\(SyncBatchNorm\\)"):
        freeze_bn_stats(sync)
