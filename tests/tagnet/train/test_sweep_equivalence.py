"""Sweeps: rows with the same pooled features found on the built models, preset unlocking,
the statistics table."""
import pytest
import torch

from tagnet.config import load_config
from tagnet.eval.tables import sweep_table
from tagnet.models.factory import build_model, create_model
from tagnet.models.presets import PRESETS
from tagnet.train.experiment import order_chance
from tagnet.train.sweeps import (
    equivalent_variants,
    noise_floor_variants,
    sweep_variants,
    unlock_preset,
)
from tagnet.train.variants import Variant, variant_config


def head_config(frames=16):
    """Head-only models on 16-channel token grids; 16 frames x 112 px -> grid 2x7x7."""
    return load_config(None, [
        "model.arch=tag_features",
        "model.kwargs={backbone_kwargs: {channels: 16}, ffn_dim: 32, num_heads: 2}",
        f"data.num_frames={frames}", "data.img_size=112"])


def test_full_equals_b_te_on_2x7x7_and_dynamic_or_irregular_graphs_do_not():
    variants = sweep_variants("rows") + [
        Variant("aligned", ["model.kwargs.topology=tag_aligned"]),
        Variant("grid", ["model.kwargs.topology=spatial_grid"])]
    eq = equivalent_variants(head_config(16), variants, num_classes=5)
    assert {k: e.same_as for k, e in eq.items()} == {
        "B + TE + IF-FC": "B + TE", "B + TE + TAT": "B + TE",
        "B + TE + IF-FC + TAT (full)": "B + TE"}
    assert all(e.deviation < 1e-6 for e in eq.values())


def test_time_aligned_edges_at_t4_are_not_regular():
    eq = equivalent_variants(head_config(32), sweep_variants("rows"), num_classes=5)
    assert "B + TE + IF-FC" in eq and "B + TE + TAT" not in eq


def test_noise_floor_names_both_methods_and_reuses_a_matching_variant():
    # the default propagation ("auto") is structured on tag: a plain full row would be the
    # same computation as the structured run, so both runs name their method
    pyg, structured = noise_floor_variants(sweep_variants("rows"))
    assert pyg.overrides == ["model.kwargs.ablation=full", "model.kwargs.propagation=pyg"]
    assert structured.overrides == ["model.kwargs.ablation=full",
                                    "model.kwargs.propagation=structured"]
    mine = Variant("full via PyG", ["model.kwargs.ablation=full", "model.kwargs.propagation=pyg"])
    assert noise_floor_variants([mine])[0] is mine


def test_noise_floor_runs_differ_in_method_but_not_in_maths():
    cfg = head_config(32)
    pyg, structured = noise_floor_variants(sweep_variants("rows"))
    models = []
    for v in (pyg, structured):
        torch.manual_seed(0)
        models.append(build_model(variant_config(cfg, v, 0, "x"), 5, load_weights=False).eval())
    a, b = models
    assert a.head.propagation.resolved_method() == "pyg-csr"
    assert b.head.propagation.resolved_method() == "structured"
    g = a.head.grid
    x = torch.randn(2, a.head.in_channels, g.T, g.H, g.W,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(a.head(x), b.head(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset", ["gym99", "haa500"])
def test_ffn_sweep_unlocks_the_preset(preset):
    cfg = load_config(preset, ["model.arch=tag_features",
                               "model.kwargs={backbone_kwargs: {channels: 16}, num_heads: 2}"])
    variants, unlocked = unlock_preset(cfg, sweep_variants("ffn"))
    assert unlocked == ["ffn_dim"]
    classes = PRESETS[preset]["num_classes"]
    for v, width in zip(variants, [2048, 1024, 512, 256], strict=True):
        assert v.overrides[:2] == ["model.preset=null", f"model.num_classes={classes}"]
        vc = variant_config(cfg, v, 0, "x")
        model = create_model(vc.model.arch, preset=vc.model.preset, num_classes=classes,
                             num_frames=vc.data.num_frames, **vc.model.kwargs)
        assert model.head.encoder.layers[0].linear1.out_features == width
    # a sweep that contradicts nothing keeps the preset
    assert unlock_preset(cfg, sweep_variants("rows")) == (sweep_variants("rows"), [])


def test_sweep_table_marks_effects_equivalents_and_noise_floor():
    recs = []
    for seed, (b, te, st) in enumerate([(0.30, 0.80, 0.81), (0.35, 0.82, 0.80),
                                        (0.33, 0.86, 0.85)]):
        recs += [{"variant": "B", "seed": seed, "top1": b, "parameters": 10},
                 {"variant": "B + TE", "seed": seed, "top1": te, "parameters": 20},
                 {"variant": "full", "seed": seed, "top1": te + 0.01, "parameters": 20},
                 {"variant": "full, structured", "seed": seed, "top1": st, "parameters": 20}]

    class Eq:
        same_as, deviation = "B + TE", 3e-8

    text, summary = sweep_table(recs, [("top1", "top-1")], order=["B", "B + TE", "full",
                                                                  "IF-FC"],
                                equivalents={"IF-FC": Eq(), "full": Eq()}, chance={"top1": 0.25},
                                noise=("full", "full, structured"))
    lines = text.splitlines()
    # 3 seeds: the smallest two-sided sign-flip p is 2/8, so nothing is called an effect
    assert "| B + TE " in lines[3] and "+50.0 [+42.5, +57.5] | 0.25 (0.5) n.s." in lines[3]
    assert "2/2^3 = 0.25, so no contrast can reach p < 0.05" in text
    assert "| full (= B + TE)" in lines[4]
    assert "| IF-FC" in lines[5] and "= B + TE (not run" in lines[5]
    assert "full, structured" not in "".join(lines[:7])
    assert "noise floor (full, structured - full" in text
    top = summary["rows"][1]["top1"]
    assert top["effect"] is False and (top["p"], top["p_holm"]) == (0.25, 0.5)
    assert top["values"] == [0.80, 0.82, 0.86] and summary["rows"][1]["seeds"] == [0, 1, 2]
    assert summary["rows"][3] == {"variant": "IF-FC", "equivalent_to": "B + TE",
                                  "deviation": 3e-8, "run": False}


def test_order_chance():
    assert order_chance([(2, 3), (4, 5)]) == 0.5
    assert order_chance([(0, 1, 2, 3), (4, 5), (6, 7)]) == 0.375
