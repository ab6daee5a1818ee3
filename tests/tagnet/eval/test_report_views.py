"""Report files, figures, t-SNE, multi-crop views and multi-view inference."""
import csv
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tagnet.data import collate
from tagnet.datasets.transforms import MultiCropTransform, crop_offsets, test_transform
from tagnet.eval.inference import forward_views, predict
from tagnet.eval.metrics import confusion_matrix
from tagnet.eval.plots import plot_confusion_matrix, plot_training_curves
from tagnet.eval.report import write_json, write_per_class_csv, write_predictions_csv
from tagnet.eval.tsne import plot_tsne, tsne_embed

PNG = b"\x89PNG\r\n\x1a\n"


def test_per_class_and_predictions_csv(tmp_path):
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    labels = torch.tensor([0, 0, 1])
    cm = confusion_matrix(scores.argmax(1), labels, 3)
    write_per_class_csv(cm, ["a", "b", "c"], tmp_path / "pc.csv")
    rows = list(csv.DictReader(open(tmp_path / "pc.csv")))
    assert [(r["class_name"], r["support"], r["correct"], r["accuracy"]) for r in rows] == [
        ("a", "2", "1", "0.500000"), ("b", "1", "1", "1.000000"), ("c", "0", "0", "")]
    write_predictions_csv(["x.mp4", "y.mp4", "z.mp4"], labels, scores, ["a", "b", "c"],
                          tmp_path / "p.csv", k=2)
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [(r["pred_name"], r["correct"], r["top2_name"]) for r in rows] == [
        ("a", "1", "b"), ("c", "0", "b"), ("b", "1", "c")]


def test_json_is_strict(tmp_path):
    write_json({"mca": float("nan"), "cm": torch.eye(2, dtype=torch.long)}, tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == {"mca": None,
                                                            "cm": [[1, 0], [0, 1]]}


def test_figures_are_pngs(tmp_path):
    cm = torch.tensor([[3, 1], [0, 2]])
    plot_confusion_matrix(cm, ["a", "b"], tmp_path / "cm.png")
    logs = {"run": [{"kind": "epoch", "epoch": e, "train_loss": 1 / e, "train_top1": e / 4,
                     "val_loss": 1.2 / e, "val_top1": e / 5} for e in (1, 2, 3)]}
    plot_training_curves(logs, tmp_path / "curves.png")
    feats = torch.cat([torch.randn(10, 8) + 4, torch.randn(10, 8) - 4])
    labels = torch.tensor([0] * 10 + [1] * 10)
    plot_tsne({"model": (feats, labels), "other": (feats.flip(0), labels)},
              tmp_path / "tsne.png", ["a", "b"])
    for name in ("cm.png", "curves.png", "tsne.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG


def test_tsne_keeps_separated_clusters_apart():
    g = torch.Generator().manual_seed(0)
    feats = torch.cat([torch.randn(15, 6, generator=g) + 10, torch.randn(15, 6, generator=g)])
    points, kept = tsne_embed(feats, seed=0, max_points=20)
    assert points.shape == (20, 2) and kept.tolist() == sorted(set(kept.tolist()))
    labels = (kept >= 15).long()
    centroids = torch.stack([points[labels == c].mean(0) for c in (0, 1)])
    spread = max(points[labels == c].std(0).norm() for c in (0, 1))
    assert (centroids[0] - centroids[1]).norm() > 2 * spread
    with pytest.raises(ValueError, match="at least 4"):
        tsne_embed(feats[:3])


def test_one_crop_equals_the_test_transform_and_three_crops_are_slices():
    frames = torch.randint(0, 256, (4, 48, 64, 3), dtype=torch.uint8)
    ref = test_transform(32, resize=40)(frames)
    one = MultiCropTransform(32, 40, num_crops=1)(frames)
    assert one.shape == ref.shape == (3, 4, 32, 32)
    torch.testing.assert_close(one, ref)
    three = MultiCropTransform(32, 40, num_crops=3)(frames)  # resized to 40 x 53
    assert three.shape == (3, 3, 4, 32, 32) and crop_offsets(53, 32, 3) == [0, 10, 21]
    torch.testing.assert_close(three[1], ref)  # the middle crop is the centre crop
    clips = torch.stack([frames, frames.flip(1)])  # two clips: views are clip-major
    six = MultiCropTransform(32, 40, num_crops=3)(clips)
    assert six.shape == (6, 3, 4, 32, 32)
    torch.testing.assert_close(six[:3], three)


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward_features(self, x):
        return x.flatten(1)

    def forward_head(self, x, pre_logits=False):
        return x if pre_logits else self.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def test_multiview_scores_are_the_mean_of_per_view_softmax():
    torch.manual_seed(0)
    model = Linear()
    clips = torch.randn(4, 5, 6, 1, 1, 1)  # (B, V, C, T, H, W): 5 views per video
    probs, feats = forward_views(model, clips, features=True)
    per_view = model(clips.flatten(0, 1)).softmax(-1).view(4, 5, 3)
    torch.testing.assert_close(probs, per_view.mean(1))
    torch.testing.assert_close(feats, clips.flatten(2).mean(1))
    items = [(clips[i], i % 3, {"path": f"v{i}.mp4"}) for i in range(4)]
    out = predict(model, DataLoader(items, batch_size=3, collate_fn=collate), features=True)
    torch.testing.assert_close(out.scores, probs)
    assert out.paths == ["v0.mp4", "v1.mp4", "v2.mp4", "v3.mp4"]
    expected_loss = -probs[torch.arange(4), torch.tensor([0, 1, 2, 0])].log().mean()
    assert out.loss == pytest.approx(expected_loss.item(), rel=1e-5)
