"""`tagnet topology` says whether a topology is inert under the mean readout."""
from tagnet.cli import main


def test_topology_prints_w_range_and_the_verdict(capsys):
    assert main(["topology", "tag", "--grid", "2x7x7"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("mean readout")]
    assert line == ["mean readout: pooling weights w = Pi_K^T 1 range 1..1 (max |w - 1| = 0): "
                    "under the mean readout this topology is EXACTLY equivalent to no graph "
                    "(pooled features identical up to float rounding)"]
    assert main(["topology", "temporal", "--grid", "4x7x7"]) == 0
    out = capsys.readouterr().out
    assert "range 0.905037..1.07754 (max |w - 1| = 0.095): under the mean readout this " \
           "topology is NOT equivalent to no graph (beyond tolerance 0.001)" in out
