"""The ablation sweeps as variant lists: names, overrides, defaults, errors, folder names."""
import pytest

from tagnet.config import load_config
from tagnet.graphs import list_topologies
from tagnet.models.head import ABLATIONS
from tagnet.train.sweeps import default_values, slug, sweep_variants
from tagnet.train.variants import Variant, variant_config


def test_rows_are_table_4_in_the_papers_order():
    assert list(ABLATIONS) == ["B", "B+TE", "B+TE+IF-FC", "B+TE+TAT", "full"]
    assert sweep_variants("rows") == [
        Variant("B", ["model.kwargs.ablation=B"]),
        Variant("B + TE", ["model.kwargs.ablation=B+TE"]),
        Variant("B + TE + IF-FC", ["model.kwargs.ablation=B+TE+IF-FC"]),
        Variant("B + TE + TAT", ["model.kwargs.ablation=B+TE+TAT"]),
        Variant("B + TE + IF-FC + TAT (full)", ["model.kwargs.ablation=full"]),
    ]


def test_ffn_sweep_is_table_2_on_the_full_head():
    assert default_values("ffn") == ["2048", "1024", "512", "256"]
    assert sweep_variants("ffn", ["512", "64"]) == [
        Variant("FFN 512", ["model.kwargs.ablation=full", "model.kwargs.ffn_dim=512"]),
        Variant("FFN 64", ["model.kwargs.ablation=full", "model.kwargs.ffn_dim=64"]),
    ]


def test_topology_sweep_defaults_to_every_registered_topology():
    assert [v.name for v in sweep_variants("topology")] == \
        [f"topology {t}" for t in list_topologies()]
    assert sweep_variants("topology", ["tag_aligned"]) == \
        [Variant("topology tag_aligned", ["model.kwargs.topology=tag_aligned"])]


def test_attention_sweep_masks_the_encoder_and_starts_from_global():
    variants = sweep_variants("attention")
    assert variants[0] == Variant("attention global", ["model.kwargs.attention_topology=global"])
    assert sorted(v.name for v in variants) == sorted(f"attention {t}" for t in list_topologies())
    assert sweep_variants("attention", ["tag", "none"]) == [
        Variant("attention tag", ["model.kwargs.attention_topology=tag"]),
        Variant("attention none", ["model.kwargs.attention_topology=none"])]
    with pytest.raises(ValueError, match="tag_alinged"):
        sweep_variants("attention", ["tag_alinged"])


def test_backbone_sweep_pairs_each_backbone_alone_and_with_tag_head():
    variants = sweep_variants("backbone", ["r2plus1d_tiny", "r3d_18"], "tag_r2plus1d_tiny")
    assert variants == [
        # the config's own backbone keeps its backbone_kwargs (the demo's tiny widths)
        Variant("r2plus1d_tiny", ["model.arch=tag_r2plus1d_tiny", "model.kwargs.ablation=B"]),
        Variant("r2plus1d_tiny + TAG", ["model.arch=tag_r2plus1d_tiny",
                                        "model.kwargs.ablation=full"]),
        # another backbone drops them: they are options of the config's backbone only
        Variant("r3d_18", ["model.arch=tag_r3d_18", "model.kwargs.backbone_kwargs={}",
                           "model.kwargs.ablation=B"]),
        Variant("r3d_18 + TAG", ["model.arch=tag_r3d_18", "model.kwargs.backbone_kwargs={}",
                                 "model.kwargs.ablation=full"]),
    ]


def test_variant_overrides_apply_on_top_of_the_base_config(tmp_path):
    base = load_config("demo")
    v = sweep_variants("backbone", ["r3d_18"], base.model.arch)[1]
    cfg = variant_config(base, v, seed=2, output=tmp_path / "run")
    assert cfg.model.arch == "tag_r3d_18" and cfg.model.kwargs["backbone_kwargs"] == {}
    assert cfg.model.kwargs["ablation"] == "full" and cfg.model.kwargs["ffn_dim"] == 128
    assert (cfg.seed, cfg.name, cfg.output_dir) == (2, "r3d_18 + TAG", str(tmp_path / "run"))
    assert base.model.arch == "tag_r2plus1d_tiny" and "ablation" not in base.model.kwargs


@pytest.mark.parametrize("sweep, values, message", [
    ("rows", ["B+TAT"], r"ablation row\(s\) \['B\+TAT'\] unknown; known: B, B\+TE"),
    ("topology", ["tga"], "topology 'tga' is unknown; known: tag, intra_frame"),
    ("backbone", ["resnet50"], "backbone 'resnet50' is unknown; known: "),
    ("depth", None, "sweep 'depth' is unknown; known: rows, ffn, backbone, topology"),
])
def test_unknown_values_raise_listing_the_known_ones(sweep, values, message):
    with pytest.raises(ValueError, match=message):
        sweep_variants(sweep, values)


def test_slug_makes_folder_names():
    assert slug("B + TE + IF-FC + TAT (full)") == "B_TE_IF-FC_TAT_full"
    assert slug("topology tag_aligned") == "topology_tag_aligned"
    assert slug("r2plus1d_tiny + TAG") == "r2plus1d_tiny_TAG"


def test_readout_and_operator_sweeps():
    assert sweep_variants("readout", ["mean", "attention"]) == [
        Variant("readout mean", ["model.kwargs.readout=mean"]),
        Variant("readout attention", ["model.kwargs.readout=attention"])]
    assert [v.name for v in sweep_variants("operator")] == \
        ["operator appnp", "operator gatv2", "operator rgcn", "operator transformer"]
    with pytest.raises(ValueError, match=r"operator\(s\) \['gat'\] unknown; known: appnp, gatv2"):
        sweep_variants("operator", ["gat"])
