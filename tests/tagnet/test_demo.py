"""``tagnet demo``: the benchmark with headroom and its four rows, a tiny run's report, and row
B's blindness to order in the demo's own setting."""
import argparse
import json
import math
from pathlib import Path

import pytest
import torch

from tagnet.backbones import TokenShardDataset
from tagnet.cli import main
from tagnet.commands import demo
from tagnet.datasets.synth_paths import order_groups
from tagnet.models.factory import build_model
from tagnet.models.readouts import MaxReadout, MeanReadout
from tagnet.train.experiment import prepare_synthetic
from tagnet.train.variants import Variant, variant_config

#: a few clips per class (3 train, 1 test), one epoch
TINY = ["data.synth.clips_per_class=4", "train.epochs=1", "train.batch_size=8"]


def parse(*argv):
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(list(argv))


def build(cfg, overrides):
    cfg = variant_config(cfg, Variant("row", overrides), 0, Path("."))
    torch.manual_seed(0)
    return build_model(cfg, 8, load_weights=False).eval()


def test_the_default_demo_builds_the_four_rows_on_the_benchmark_with_headroom():
    cfg, rows, seeds = demo.demo_config(parse())
    assert seeds == [0] and cfg.output_dir == "runs/demo"
    assert cfg.data.synth["benchmark"] == "paths" and cfg.model.arch == "tag_features"
    assert cfg.model.kwargs["backbone_kwargs"] == {"source": "framewise_tiny"}  # frozen, frame-wise
    assert [title for _, title, _ in rows] == [
        "B (backbone only)", "B + TE", "TAG-Head (released)",
        "graph head: GATv2 + max readout on tag", "same head, no graph"]
    b, bte, released, graph, control = (build(cfg, ov).head for _, _, ov in rows)
    assert b.encoder is None and b.pos_embed is None and b.topology.name == "none"
    assert bte.encoder is not None and bte.pos_embed is not None and bte.topology.name == "none"
    # the released head: APPNP (K=2, alpha=0.1) on the tag graph, then the mean
    assert released.topology.name == "tag" and released.operator is None
    assert (released.propagation.K, released.propagation.alpha) == (2, 0.1)
    assert isinstance(released.readout, MeanReadout)
    assert released.state_dict().keys() == bte.state_dict().keys()
    # the graph head: GATv2 on tag, then the max; its control differs in the topology only
    # (self loops, one edge type: the type embedding has one row instead of two)
    for head, topology in ((graph, "tag"), (control, "none")):
        assert isinstance(head.readout, MaxReadout) and head.topology.name == topology
        assert head.propagation is None and type(head.operator).__name__ == "GraphOperator"
        assert any(type(m).__name__ == "GATv2Conv" for m in head.operator.modules())
    assert graph.state_dict().keys() == control.state_dict().keys()
    assert sum(p.numel() for p in graph.parameters()) - \
        sum(p.numel() for p in control.parameters()) == 16  # one 16-wide type embedding


def test_the_old_demo_and_the_seed_options():
    cfg, rows, seeds = demo.demo_config(parse("--benchmark", "finesynth"))
    assert cfg.data.dataset == "finegym" and "benchmark" not in cfg.data.synth
    assert [t for _, t, _ in rows] == ["backbone only (B)", "TAG-Head (full)"]
    # --seeds alone: three seeds; overrides given after it are still overrides
    cfg, _, seeds = demo.demo_config(parse("--seeds", "train.epochs=3"))
    assert seeds == [0, 1, 2] and cfg.train.epochs == 3
    assert demo.demo_config(parse("--seeds", "4", "7"))[2] == [4, 7]
    assert demo.demo_config(parse("--seed", "5"))[2] == [5]
    for argv, match in ((["--seeds", "3"], "at least 2 seeds"),
                        (["--seeds", "1", "1"], "repeats"),
                        (["--seeds", "a"], "whole numbers"),
                        (["--seed", "1", "--seeds", "1", "2"], "not both"),
                        (["--benchmark", "finesynth", "--config", "headroom"], "leave one"),
                        (["--config", "gym99"], "no data.synth"),
                        (["--epochs", "0"], "--epochs 0")):
        with pytest.raises(ValueError, match=match):
            demo.demo_config(parse(*argv))


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--output", str(out), "--data-root", str(out / "data"), "--quiet",
                 *TINY])
    assert code == 0
    return out


def test_a_tiny_demo_writes_the_report_with_every_row(tiny_demo):
    rep = tiny_demo / "report"
    titles = [t for _, t, _ in demo.BENCHMARKS["headroom"][1]]
    metrics = json.loads((rep / "metrics.json").read_text())
    assert [m["variant"] for m in metrics["models"]] == titles
    assert metrics["chance"] == {"top1": 0.125, "within_group_top1": 0.375}
    # the equivalence check, on the built models: the released head computes B + TE
    assert metrics["equivalent"]["TAG-Head (released)"]["same_as"] == "B + TE"
    results = (rep / "results.md").read_text()
    for title in titles + ["chance"]:
        assert f"| {title}" in results, title
    assert "| TAG-Head (released) (= B + TE)" in results
    assert "The released TAG-Head equals B + TE here" in results
    assert "One seed." in results and "What this shows" in results
    assert "The same head without the graph scores" in results
    for name in ("tsne.png", "curves.png", *(f"confusion_{f}.png" for f, _, _ in
                                              demo.BENCHMARKS["headroom"][1])):
        assert (rep / name).is_file(), name
    for m in metrics["models"]:
        assert 0 <= m["top1"] <= 1 and 0 <= m["within_group_top1"] <= 1


def test_the_trained_baseline_is_blind_to_order_and_b_te_is_not(tiny_demo):
    twins = json.loads((tiny_demo / "report" / "metrics.json").read_text())["twin_deviation"]
    assert twins["B (backbone only)"]["sets"] == 3  # 1 test clip per class: one set per group
    assert twins["B (backbone only)"]["max"] < 1e-5
    assert twins["B + TE"]["max"] > 1e-3


def test_b_pools_two_order_twins_to_the_same_features_in_the_demo_setting(tmp_path):
    cfg, rows, _ = demo.demo_config(parse("--data-root", str(tmp_path), *TINY))
    prepare_synthetic(cfg, progress=False)
    ds = TokenShardDataset(tmp_path / "val")
    by_label = {ds[i][1]: ds[i][0] for i in range(len(ds))}  # 1 clip per class, twins
    square, z_path = order_groups()[0][0], order_groups()[0][2]
    x = torch.stack([by_label[square], by_label[z_path]])
    assert not torch.equal(x[0], x[1])  # the same frames in another order
    b, bte = (build(cfg, ov) for _, _, ov in rows[:2])
    with torch.no_grad():
        pooled = b.forward_features(x)
        torch.testing.assert_close(pooled[0], pooled[1], rtol=0, atol=1e-5)
        assert not torch.allclose(*bte.forward_features(x), atol=1e-3)


def test_a_demo_over_seeds_gives_intervals_and_paired_contrasts(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path), "--data-root", str(tmp_path / "data"),
                 "--quiet", "--seeds", "0", "1", *TINY]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["seeds"] == [0, 1] and len(metrics["models"]) == 10
    assert {m["run_dir"].rsplit("/", 1)[1] for m in metrics["models"]} == {"seed0", "seed1"}
    rows = {r["variant"]: r for r in metrics["summary"]}
    assert rows["B + TE"]["seeds"] == [0, 1] and "low" in rows["B + TE"]["top1"]
    assert "diff_low" in rows["graph head: GATv2 + max readout on tag"]["top1"]
    printed = capsys.readouterr().out
    assert "Δ vs B + TE [95% CI]" in printed and "One seed." not in printed
    assert "graph minus no graph: " in printed, printed
    assert "paired by seed 95% interval" in printed or "the same score in every seed" in printed


def write_predictions(path, pairs):
    path.write_text("path,label,label_name,pred,pred_name,correct\n" + "".join(
        f"c{i},{y},,{p},,{int(y == p)}\n" for i, (y, p) in enumerate(pairs)))
    return path


def test_within_group_accuracy_counts_only_clips_placed_in_their_group(tmp_path):
    from tagnet.train.experiment import within_group_accuracy

    groups = order_groups()  # (0, 1, 2, 3), (4, 5), (6, 7)
    csv = write_predictions(tmp_path / "p.csv", [(0, 0), (1, 0), (4, 6), (5, 5), (7, 7)])
    assert within_group_accuracy(csv, groups) == 3 / 4  # (4 -> 6) left another group: not counted
    # a model blind to order: one prediction per set of twins, one twin right per set placed
    blind = [(c, 2) for c in (0, 1, 2, 3)] + [(c, 4) for c in (4, 5)] + [(c, 4) for c in (6, 7)]
    assert within_group_accuracy(write_predictions(tmp_path / "b.csv", blind), groups) == \
        pytest.approx((1 + 1) / 6)  # the right-column set went to the left group: not counted
    assert math.isnan(within_group_accuracy(write_predictions(tmp_path / "n.csv", [(4, 0)]),
                                            groups))  # no clip placed in its group
