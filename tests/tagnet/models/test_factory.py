import pytest
import torch

import tagnet
from tagnet import create_model, list_models


def test_presets_match_released_configuration():
    for preset, classes, T, ffn in (("gym99", 99, 8, 1024), ("gym288", 288, 8, 2048),
                                    ("haa500", 500, 4, 512)):
        model = create_model("tag_r2plus1d_tiny", preset=preset)
        head = model.head
        assert head.fc.out_features == classes
        assert head.grid.shape == (T, 7, 7)
        assert head.encoder.layers[0].linear1.out_features == ffn
        assert len(head.encoder.layers) == 2 and head.encoder.layers[0].self_attn.num_heads == 8
        assert head.propagation.K == 2 and head.propagation.alpha == 0.1
        assert model.config == {"arch": "tag_r2plus1d_tiny", "preset": preset}


def test_r2plus1d_34_ig65m_parameter_count():
    model = create_model("tag_r2plus1d_34", preset="gym99")
    assert sum(p.numel() for p in model.backbone.parameters()) == 63_491_975
    assert model.backbone.layer2[0].conv2[0][0].out_channels == 288  # Caffe2 middle width
    assert model.backbone.layer4[0].conv2[0][0].out_channels == 1152
    assert model.backbone.stem[1].eps == 1e-3


def test_conflicting_preset_override_raises():
    with pytest.raises(ValueError, match="preset 'gym99' sets num_classes=99 .* num_classes=10"):
        create_model("tag_r2plus1d_tiny", preset="gym99", num_classes=10)
    # agreeing values, None values and non-preset keys are fine
    model = create_model("tag_r2plus1d_tiny", preset="gym99", num_classes=99, K=None, alpha=0.2)
    assert model.head.propagation.alpha == 0.2


def test_unknown_names_list_choices():
    with pytest.raises(ValueError, match="model 'tag_nope' is unknown; known: .*tag_r2plus1d_34"):
        create_model("tag_nope")
    with pytest.raises(ValueError, match="preset 'gym100' is unknown; known: haa500, gym99"):
        create_model("tag_r2plus1d_tiny", preset="gym100")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['ffn'\]"):
        create_model("tag_r2plus1d_tiny", ffn=3)
    with pytest.raises(ValueError, match=r"ablation 'B\+X' is unknown; known: B, B\+TE,"):
        create_model("tag_r2plus1d_tiny", ablation="B+X")
    with pytest.raises(ValueError, match="ablation 'B' sets topology='none', which conflicts"):
        create_model("tag_r2plus1d_tiny", ablation="B", topology="tag")


@pytest.mark.parametrize("arch", [m for m in list_models() if m.startswith("tag_")])
def test_every_tag_arch_builds_its_declared_grid(arch):
    model = create_model(arch, num_classes=3, num_frames=8, img_size=32)
    assert model.head.grid == model.backbone.output_grid(8, 32, 32)


def test_tiny_model_end_to_end_and_resize():
    torch.manual_seed(0)
    model = create_model("tag_r2plus1d_tiny", num_classes=4, num_frames=8, img_size=32).eval()
    video = torch.randn(2, 3, 8, 32, 32)
    logits = model(video)
    assert logits.shape == (2, 4)
    torch.testing.assert_close(model.forward_head(model.forward_features(video)), logits)
    with pytest.raises(ValueError, match="grid 2x4x4, but the head was built for grid 1x2x2"):
        model(torch.randn(1, 3, 16, 64, 64))
    model.resize_grid(16, 64)
    assert model(torch.randn(1, 3, 16, 64, 64)).shape == (1, 4)
    with pytest.raises(ValueError, match=r"shape \(B, 3, T, H, W\)"):
        model(torch.randn(1, 8, 32, 32, 3))


def test_public_api():
    for name in tagnet.__all__:
        assert hasattr(tagnet, name), name


def test_presets_give_other_families_classes_and_frames_only():
    model = create_model("atr_r2plus1d_tiny", preset="haa500", img_size=32)
    assert model(torch.randn(1, 3, 32, 32, 32)).shape == (1, 500)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['ffn_dim'\] for an ATR model"):
        create_model("atr_r2plus1d_tiny", ffn_dim=512)
