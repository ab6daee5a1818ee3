import json

import pytest
import torch

from tagnet.cli import main


def run(capsys, *argv):
    code = main(["topology", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_for_the_paper_graph(capsys):
    code, out, _ = run(capsys, "tag", "--grid", "2x2x2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("topology 'tag' on grid 2x2x2: 2 edge type(s)")
    assert lines[2].split() == ["intra_frame", "24", "3/3/3", "3/3/3", "yes"]
    assert lines[3].split() == ["temporal", "8", "1/1/1", "1/1/1", "yes"]
    assert lines[4].split() == ["total", "32", "4/4/4", "4/4/4", "yes"]
    assert "degree with self loop (APPNP's D): min 5, mean 5, max 5" in out
    assert "spectral gap 1 - lambda_2 = 0.400000, components 1" in out
    assert "own frame 0.7228, other frames 0.2772" in out
    assert "over-smoothing" in out


def test_json_output(capsys):
    code, out, _ = run(capsys, "tag", "--grid", "5x7x7", "--json", "--K", "2")
    assert code == 0
    s = json.loads(out)
    assert [r["edges"] for r in s["edges"]] == [5 * 49 * 48, 2 * 4 * 49, 5 * 49 * 48 + 8 * 49]
    assert s["degree"]["min"] == 50 and s["degree"]["max"] == 51
    assert s["step"]["per_frame"][1][2] == pytest.approx(48 / 51)  # same-frame share, frame 2
    assert s["oversmoothing"]["K"][0] == 0 and len(s["oversmoothing"]["alphas"]) == 3


def test_parameterised_spec(capsys):
    code, out, _ = run(capsys, "intra_frame+temporal_window:k=2", "--grid", "3x2x2", "--json")
    assert code == 0
    s = json.loads(out)
    assert s["topology"] == "intra_frame+temporal_window:k=2"
    assert [r["edges"] for r in s["edges"]] == [36, 24, 60]  # 3*4*3 and 2*(2+1)*4


def test_edge_weights_enter_the_degree(capsys):
    code, out, _ = run(capsys, "tag", "--grid", "2x2x2", "--edge-weights", "1", "3", "--json")
    assert code == 0 and json.loads(out)["degree"]["mean"] == 7


def test_dynamic_topology_with_saved_tokens(capsys, tmp_path):
    path = tmp_path / "tokens.pt"
    torch.save(torch.randn(3 * 2 * 2, 8), path)
    code, out, _ = run(capsys, "tag_aligned", "--grid", "3x2x2", "--tokens", str(path), "--json")
    assert code == 0
    s = json.loads(out)
    assert s["dynamic"] and s["edges"][1]["edges"] == 2 * 2 * 4  # one partner per token, both ways
    code, _, err = run(capsys, "tag_aligned", "--grid", "2x2x2", "--tokens", str(path))
    assert code == 1 and "pass the matching --grid" in err


def test_unknown_names_list_the_choices(capsys):
    code, out, err = run(capsys, "tga", "--grid", "2x2x2")
    assert code == 1 and out == ""
    assert "'tga' is unknown; topologies: tag, intra_frame" in err
    assert "temporal_window" in err and "similarity_aligned" in err
    code, _, err = run(capsys, "temporal_window:K=2", "--grid", "2x2x2")
    assert code == 1 and "takes parameters (k)" in err


def test_plot_writes_a_png(capsys, tmp_path):
    path = tmp_path / "diag.png"
    code, out, _ = run(capsys, "lattice", "--grid", "3x2x2", "--plot", str(path))
    assert code == 0 and f"figure written to {path}" in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_list(capsys):
    code, out, _ = run(capsys, "--list")
    assert code == 0
    assert "topologies: tag, intra_frame, temporal, none" in out and "knn_feature" in out


def test_help_documents_the_syntax(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["topology", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "intra_frame+temporal_window:k=2" in out and "--plot" in out
