"""Every ``tag_<backbone>`` arch trains one step; wide backbones get the 512 adapter."""
import pytest
import torch

from tagnet import create_model, list_models

TAG_ARCHS = [m for m in list_models() if m.startswith("tag_")]
# ResNet-50-style trunks built shallow (one block per stage): the same code, a tenth the cost
SHALLOW = {f"tag_{n}": {"depths": (1, 1, 1, 1)}
           for n in ("slow_r50", "i3d_r50", "csn_r101", "ir_csn_152")}
# 30-60 M parameter trunks without a shallow form: `-m slow` (their layouts and grids are
# tested in test_backbone_keymaps.py / test_backbone_grids.py on one small input each)
HEAVY = {"tag_r2plus1d_34", "tag_r2plus1d_18", "tag_r3d_18"}
PARAMS = [pytest.param(a, marks=pytest.mark.slow) if a in HEAVY else a for a in TAG_ARCHS]


def test_the_issue_archs_exist():
    assert {"tag_i3d_r50", "tag_slow_r50", "tag_csn_r101", "tag_ir_csn_152", "tag_r3d_18",
            "tag_mc3_18", "tag_r2plus1d_tiny", "tag_features"} <= set(TAG_ARCHS)


@pytest.mark.parametrize("arch", PARAMS)
def test_one_training_step(arch):
    torch.manual_seed(0)
    model = create_model(arch, num_classes=3, num_frames=8, img_size=32, ffn_dim=32,
                         backbone_kwargs=SHALLOW.get(arch))
    C = model.backbone.out_channels
    assert model.head.embed_dim == (512 if C > 512 else C)
    assert isinstance(model.head.proj, torch.nn.Linear) == (C > 512)
    grid = model.backbone.output_grid(8, 32, 32)
    x = torch.randn(2, C, *grid.shape) if arch == "tag_features" else torch.randn(2, 3, 8, 32, 32)
    logits = model.train()(x)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    logits.logsumexp(1).mean().backward()
    assert model.head.fc.weight.grad is not None
    first = next(model.backbone.parameters(), None)
    assert first is None or first.grad is not None  # trained end to end
