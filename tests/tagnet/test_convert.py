"""The authors' released module, rebuilt here from its description (PAPER.md section 3)."""
import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import APPNP, global_mean_pool

from tagnet import convert_official_state_dict, create_backbone, create_model


def released_edge_index(T, H=7, W=7):
    """The released graph, built with plain loops (independent of tagnet.graphs)."""
    P, edges = H * W, []
    for t in range(T):
        for p in range(P):
            for q in range(P):
                if p != q:
                    edges.append((t * P + p, t * P + q))
            if t + 1 < T:
                edges += [(t * P + p, (t + 1) * P + p), ((t + 1) * P + p, t * P + p)]
    return torch.tensor(edges).t()


class ReleasedTAGHead(nn.Module):
    def __init__(self, trunk, num_classes, T, ffn, dim):
        super().__init__()
        self.backbone = nn.Sequential(trunk.stem, trunk.layer1, trunk.layer2, trunk.layer3,
                                      trunk.layer4)
        self.pos_embedding = nn.Parameter(torch.randn(1, T * 49, dim))
        layer = nn.TransformerEncoderLayer(d_model=dim, nhead=8, dim_feedforward=ffn,
                                           dropout=0.5, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.register_buffer("edge_index", released_edge_index(T))
        self.appnp = APPNP(K=2, alpha=0.1)
        self.classifier = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, x):
        x = self.backbone(x).flatten(2).transpose(1, 2)
        x = self.transformer(x + self.pos_embedding)
        batch = Batch.from_data_list([Data(x=xi, edge_index=self.edge_index) for xi in x])
        x = self.appnp(batch.x, batch.edge_index)
        return self.classifier(global_mean_pool(x, batch.batch))


def test_released_checkpoint_gives_identical_logits():
    torch.manual_seed(0)
    released = ReleasedTAGHead(create_backbone("r2plus1d_tiny"), num_classes=6, T=2, ffn=32,
                               dim=128).eval()
    state = {f"module.{k}": v for k, v in released.state_dict().items()}  # DataParallel save
    ours = create_model("tag_r2plus1d_tiny", num_classes=6, num_frames=16, ffn_dim=32).eval()
    ours.load_state_dict(convert_official_state_dict(state), strict=True)
    video = torch.randn(2, 3, 16, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(ours(video), released(video), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset,T,ffn,classes", [("gym99", 8, 1024, 99)])
def test_full_size_key_sets_and_shapes_match(preset, T, ffn, classes):
    released = ReleasedTAGHead(create_backbone("r2plus1d_34"), classes, T, ffn, 512)
    converted = convert_official_state_dict(released.state_dict())
    ours = create_model("tag_r2plus1d_34", preset=preset).state_dict()
    assert converted.keys() == ours.keys()
    assert all(converted[k].shape == ours[k].shape for k in ours)


def test_unknown_keys_and_wrong_graph_are_reported():
    with pytest.raises(KeyError, match=r"not part of the released TAG-Head layout: \['head.x'\]"):
        convert_official_state_dict({"head.x": torch.zeros(1)})
    bad = {"pos_embedding": torch.zeros(1, 98, 4), "edge_index": released_edge_index(1)}
    with pytest.raises(ValueError, match="not the 'tag' graph on grid 2x7x7"):
        convert_official_state_dict(bad)
    good = {"pos_embedding": torch.zeros(1, 98, 4), "edge_index": released_edge_index(2)}
    assert list(convert_official_state_dict(good)) == ["head.pos_embed.weight"]
