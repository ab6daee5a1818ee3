import pytest
import torch

from tagnet import ABLATIONS, TAGHead
from tagnet.graphs import TokenGrid

GRID = TokenGrid(2, 3, 3)


def make_head(**kw):
    kw = {"num_layers": 1, "num_heads": 2, "ffn_dim": 16, "dropout": 0.0, **kw}
    return TAGHead(GRID, num_classes=5, in_channels=8, **kw)


def test_shapes_and_paths_agree():
    torch.manual_seed(0)
    head = make_head().eval()
    fmap = torch.randn(2, 8, *GRID.shape)
    tokens = fmap.flatten(2).transpose(1, 2)
    logits = head(fmap)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    torch.testing.assert_close(head(tokens), logits)  # tokens in, same result
    feats = head.forward_features(fmap)
    assert feats.shape == (2, 8)
    torch.testing.assert_close(head.forward_tokens(fmap).mean(1), feats)
    torch.testing.assert_close(head.fc(head.forward_head(feats, pre_logits=True)), logits)


def test_gradients_reach_positional_encoding_and_encoder():
    head = make_head()
    head(torch.randn(2, 8, *GRID.shape)).logsumexp(1).sum().backward()
    assert head.pos_embed.weight.grad.abs().sum() > 0
    for name, p in head.encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("row", list(ABLATIONS))
def test_ablation_rows_build_and_run(row):
    head = make_head(**{**ABLATIONS[row]}).eval()
    out = head(torch.randn(2, 8, *GRID.shape))
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    assert (head.encoder is None) == (row == "B")
    expected = {"B": "none", "B+TE": "none", "B+TE+IF-FC": "intra_frame",
                "B+TE+TAT": "temporal", "full": "tag"}[row]
    assert head.topology.name == expected


def test_backbone_only_row_is_mean_pool_layernorm_linear():
    head = make_head(**ABLATIONS["B"]).eval()
    fmap = torch.randn(3, 8, *GRID.shape)
    expected = head.fc(head.norm(fmap.mean(dim=(2, 3, 4))))
    torch.testing.assert_close(head(fmap), expected)


def test_pre_norm_option():
    assert make_head(norm_first=True).encoder.layers[0].norm_first
    assert not make_head().encoder.layers[0].norm_first


def test_input_adapter_when_widths_differ():
    head = TAGHead(GRID, 4, in_channels=12, embed_dim=8, num_heads=2, ffn_dim=16)
    assert isinstance(head.proj, torch.nn.Linear) and head.proj.in_features == 12
    assert head(torch.randn(1, 12, *GRID.shape)).shape == (1, 4)


def test_wrong_shapes_raise_clear_errors():
    head = make_head()
    with pytest.raises(ValueError, match="grid 2x4x4, but the head was built for grid 2x3x3"):
        head(torch.randn(1, 8, 2, 4, 4))
    with pytest.raises(ValueError, match=r"expected a \(B, 8, 2, 3, 3\) feature map"):
        head(torch.randn(1, 18, 7))
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        TAGHead(GRID, 3, in_channels=10, num_heads=4)


def test_resize_grid_interpolates_positional_encoding():
    head = make_head().eval()
    old = head.pos_embed.weight.detach().clone()
    head.resize_grid("4x3x3")
    assert head.pos_embed.weight.shape == (1, 36, 8)
    # doubling T with trilinear (align_corners=False) maps frame pairs to blends of the originals
    new = head.pos_embed.weight.detach().view(4, 9, 8)
    torch.testing.assert_close(new[0], old.view(2, 9, 8)[0])
    torch.testing.assert_close(new[1], 0.75 * old.view(2, 9, 8)[0] + 0.25 * old.view(2, 9, 8)[1])
    assert head(torch.randn(1, 8, 4, 3, 3)).shape == (1, 5)
    # identity when the grid is unchanged
    head.resize_grid("4x3x3")
    torch.testing.assert_close(head.pos_embed.weight.detach().view(4, 9, 8), new)


def test_reset_classifier_and_repr():
    head = make_head()
    head.reset_classifier(11)
    assert head.fc.out_features == 11 and head.num_classes == 11
    head.reset_classifier(0)
    assert head(torch.randn(1, 8, *GRID.shape)).shape == (1, 8)
    first = repr(make_head()).splitlines()[:2]
    assert first == ["TAGHead(",
                     "  grid=2x3x3, in_channels=8, embed_dim=8, num_classes=5"]
