"""``tagnet ablate --sweep atr``: the rows are the ATR paper's progression, names and overrides."""
import json

import pytest

from tagnet.models.factory import create_model
from tagnet.train.atr_sweeps import (
    PAPER,
    PAPER_TABLES,
    ROWS,
    TABLES,
    atr_rows,
    atr_variants,
    row_name,
)
from tagnet.train.sweeps import default_values

S3_S5 = '["S3", "S4", "S5"]'

#: The paper's progression as written out by hand: (table, name, overrides on an atr_* config).
PROGRESSION = [
    ("table1", "no ATR (baseline) [paper 27.5]", ["model.kwargs.stages=[]"]),
    ("table1", "ATR at S5-3 [paper 50.3]", ['model.kwargs.stages=["S5-3"]']),
    ("table1", "ATR-sim at S5-3 (ER x2, no AFA) [paper 47.1]",
     ['model.kwargs.stages=["S5-3"]', "model.kwargs.locator=false"]),
    ("table1", "ATR in S5", ['model.kwargs.stages=["S5"]']),
    ("table1", "ATR in S4-S5", ['model.kwargs.stages=["S4", "S5"]']),
    ("table1", "ATR in S3-S5, add (default) [paper 59.6]", [f"model.kwargs.stages={S3_S5}"]),
    ("table1", "ATR in S2-S5", ['model.kwargs.stages=["S2", "S3", "S4", "S5"]']),
    ("table2", "ATR-sim at S5-3 (ER x2, no AFA) [paper 47.1]",
     ['model.kwargs.stages=["S5-3"]', "model.kwargs.locator=false"]),
    ("table2", "ATR-sim at S5-3, GR x2", ['model.kwargs.stages=["S5-3"]',
                                          "model.kwargs.locator=false",
                                          'model.kwargs.reasoner="graph"']),
    ("table2", "ATR-sim at S5-3, ER x1", ['model.kwargs.stages=["S5-3"]',
                                          "model.kwargs.locator=false",
                                          "model.kwargs.num_reasoners=1"]),
    ("table2", "ATR-sim at S5-3, ER x3", ['model.kwargs.stages=["S5-3"]',
                                          "model.kwargs.locator=false",
                                          "model.kwargs.num_reasoners=3"]),
    ("table3", "ATR-sim at S5-3 (ER x2, no AFA) [paper 47.1]",
     ['model.kwargs.stages=["S5-3"]', "model.kwargs.locator=false"]),
    *(("table3", f"ATR-sim + AFA ({cue}) at S5-3",
       ['model.kwargs.stages=["S5-3"]', 'model.kwargs.aggregation="action"',
        'model.kwargs.distribution_map="uniform"', f'model.kwargs.locator_cues="{cue}"'])
      for cue in ("appearance", "motion", "both")),
    ("table4", "ATR in S3-S5, uniform distribution",
     [f"model.kwargs.stages={S3_S5}", 'model.kwargs.distribution_map="uniform"']),
    ("table4", "ATR in S3-S5, add (default) [paper 59.6]", [f"model.kwargs.stages={S3_S5}"]),
    ("table4", "ATR in S3-S5, scale [paper 58.9]",
     [f"model.kwargs.stages={S3_S5}", 'model.kwargs.distribution="scale"']),
]


@pytest.mark.parametrize("table", PAPER_TABLES)
def test_rows_equal_the_papers_progression(table):
    expected = [(name, overrides) for t, name, overrides in PROGRESSION if t == table]
    got = [(v.name, v.overrides) for v in atr_variants([table], "atr_tsn_r50")]
    assert got == expected


def test_shared_rows_are_trained_once_and_the_default_is_the_papers_tables():
    assert default_values("atr") == ["table1", "table2", "table3", "table4"]
    keys = atr_rows()
    assert len(keys) == len(set(keys)) == 15  # 7 + 3 + 3 + 2 new rows; "extra" not included
    assert keys.count("S5-3-sim") == 1 and "S3-S5-gate" not in keys
    assert atr_rows(["table4", "S3-S5-gate", "S3-S5"]) == ["S3-S5-uniform", "S3-S5",
                                                          "S3-S5-scale", "S3-S5-gate"]
    assert set(ROWS) == {k for rows in TABLES.values() for k in rows}
    with pytest.raises(ValueError, match="ATR sweep value 'table9' is unknown; known: tables"):
        atr_rows(["table9"])


def test_paper_numbers_are_only_those_the_sources_give():
    assert {k: v for k, (v, _) in PAPER.items()} == {
        "base": 27.5, "S5-3": 50.3, "S5-3-sim": 47.1, "S3-S5": 59.6, "S3-S5-scale": 58.9}
    assert row_name("S5") == "ATR in S5"  # no number in our sources: the cell stays empty


def test_table3_no_afa_row_does_not_compute_the_map_and_afa_rows_keep_it_out_of_d():
    def model(key):
        kwargs = {"backbone_kwargs": {"widths": [8, 8, 16, 16], "stem_mid": 4},
                  **{k: v for k, v in ROWS[key][1].items()}}
        kwargs["stages"] = ["S5-1" if s == "S5-3" else s for s in kwargs["stages"]]
        return create_model("atr_r2plus1d_tiny", num_frames=8, **kwargs)

    (sim,) = model("S5-3-sim").atr_blocks()
    assert sim.locator is None and not sim.reasoner.uses_map
    for cue in ("appearance", "motion", "both"):
        (afa,) = model(f"AFA-{cue}").atr_blocks()
        assert afa.locator.cues == cue and afa.reasoner.aggregation == "action"
        assert afa.reasoner.distribution_map == "uniform" and afa.reasoner.map_gain is None


def test_tiny_fallback_rows_build_and_read_s5_3_as_the_single_block():
    variants = atr_variants(None, "tag_r2plus1d_tiny")
    assert variants[1].overrides == [
        "model.arch=atr_r2plus1d_tiny",
        'model.kwargs={"backbone_kwargs": {"widths": [8, 16, 32, 64], "stem_mid": 8}, '
        '"stages": ["S5-1"]}']
    for v in variants + atr_variants(["extra"], "tag_r2plus1d_tiny"):
        kwargs = json.loads(v.overrides[1].split("=", 1)[1])
        create_model("atr_r2plus1d_tiny", num_frames=16, img_size=48, **kwargs)
