"""`tagnet topology`: new names, the size of a reweighting, --import everywhere, one-line errors."""
import json
import sys

import pytest

from tagnet.cli import main
from tagnet.graphs.diagnostics import MeanReadoutEquivalence
from tagnet.graphs.edge_sets import EDGE_SETS
from tagnet.graphs.topology import TOPOLOGIES

USER = """
import torch
from tagnet.graphs import register_edge_set, register_topology


@register_edge_set("cmd_skip2", symmetric=True)
def skip2(grid):
    n = torch.arange(max(grid.T - 2, 0) * grid.num_sites)
    far = n + 2 * grid.num_sites
    return torch.stack([torch.cat([n, far]), torch.cat([far, n])])


register_topology("cmd_tag_skip2", ["intra_frame", "temporal", "cmd_skip2"])
"""


def run(capsys, *argv):
    code = main(["topology", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    modules = {}

    def write(name, text):
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        modules[name] = path
        return str(path)

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in modules:
        sys.modules.pop(name, None)
    for registry, name in ((TOPOLOGIES, "cmd_tag_skip2"), (EDGE_SETS, "cmd_skip2")):
        if name in registry:
            registry.unregister(name)


def test_directed_topology_and_controls_in_the_table(capsys):
    code, out, _ = run(capsys, "tag_directed:2", "--grid", "3x1x2", "--json")
    s = json.loads(out)
    assert code == 0 and s["edge_types"] == ["intra_frame", "temporal_forward", "temporal_backward"]
    # 3 frames x 2 sites: 3*2*1 clique edges, (2 + 1) * 2 forward and as many backward
    assert [(r["name"], r["edges"], r["symmetric"]) for r in s["edges"]] == [
        ("intra_frame", 6, True), ("temporal_forward", 6, False),
        ("temporal_backward", 6, False), ("total", 18, True)]
    code, out, _ = run(capsys, "random_typed:tag_directed", "--grid", "4x2x2")
    lines = out.splitlines()
    assert code == 0 and lines[3].split() == ["random_typed(temporal_forward)", "12", "0/0.75/1",
                                              "0/0.75/1", "no"]


def test_the_verdict_says_how_large_a_reweighting_is(capsys):
    # the headroom grid: the paper's graph reweights the tokens by 0.27%, beyond 1e-3
    code, out, _ = run(capsys, "tag", "--grid", "8x4x4")
    line = next(ln for ln in out.splitlines() if ln.startswith("mean readout"))
    assert code == 0 and line == (
        "mean readout: pooling weights w = Pi_K^T 1 range 0.99732..1.00253 (max |w - 1| = "
        "0.00268): under the mean readout this topology is NOT equivalent to no graph (beyond "
        "tolerance 0.001): it reweights the tokens by up to 0.268% (w within 1 +- 0.0027), so "
        "pooled features move by at most 0.0027 x the mean token norm")
    eq = MeanReadoutEquivalence(w_min=0.5, w_max=1.25, deviation=0.5, tol=1e-3, dynamic=False)
    assert "by up to 50% (w within 1 +- 0.5)" in eq.describe()


@pytest.mark.parametrize("name,said", [
    ("intra_frame", "has no edge between frames: a graph-only head on it is blind to the order"),
    ("tag", "maps onto itself when time is reversed: a graph-only head on it cannot tell a clip "
            "from its time reverse"),
    ("tag_directed", "joins frames and is not symmetric in time: a graph-only head on it can "
                     "see order and direction"),
])
def test_the_table_says_what_a_graph_only_head_on_the_topology_can_see(capsys, name, said):
    code, out, _ = run(capsys, name, "--grid", "4x2x2")
    line = next(ln for ln in out.splitlines() if ln.startswith("time symmetry"))
    assert code == 0 and said in line
    code, out, _ = run(capsys, name, "--grid", "4x2x2", "--json")
    assert json.loads(out)["time_symmetry"]["reversal_invariant"] == (name != "tag_directed")


def test_import_works_for_every_form_of_the_command(capsys, user_module):
    user_module("cmd_topos", USER)
    code, out, _ = run(capsys, "--list", "--import", "cmd_topos")
    assert code == 0 and "cmd_tag_skip2" in out and "cmd_skip2" in out
    code, out, _ = run(capsys, "cmd_tag_skip2", "--grid", "3x1x1", "--json", "--import",
                       "cmd_topos")
    assert code == 0 and [r["edges"] for r in json.loads(out)["edges"]] == [0, 4, 2, 6]
    code, out, _ = run(capsys, "intra_frame+cmd_skip2", "--grid", "4x1x2", "--json",
                       "--import", "cmd_topos")
    assert code == 0 and [r["edges"] for r in json.loads(out)["edges"]] == [8, 8, 16]
    code, out, _ = run(capsys, "check", "cmd_skip2", "--import", "cmd_topos")
    assert code == 0 and out.splitlines() == ["PASS  cmd_skip2  edge set", "1 passed, 0 failed"]
    code, out, err = run(capsys, "tag", "--grid", "2x2x2", "--import", "no_such_topos")
    assert code == 1 and out == "" and "'no_such_topos' given to --import" in err


@pytest.mark.parametrize("argv", [["check", "{m}:x"], ["check", "tag", "--import", "{m}"],
                                  ["tag", "--grid", "2x2x2", "--import", "{m}"],
                                  ["--list", "--import", "{m}"]])
def test_a_broken_user_module_is_one_line_naming_file_and_line(capsys, user_module, argv):
    path = user_module("cmd_syntax", "import torch\n\ndef f(:\n    pass\n")
    code, out, err = run(capsys, *(a.format(m="cmd_syntax") for a in argv))
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("tagnet topology: error: cannot import module 'cmd_syntax'")
    assert err.rstrip().endswith(f"({path}, line 3)")


def test_errors_raised_at_import_name_the_users_line(capsys, user_module):
    path = user_module("cmd_raises", "import torch\nraise RuntimeError('boom\\nagain')\n")
    code, _, err = run(capsys, "check", "tag", "--import", "cmd_raises")
    assert code == 1 and err == ("tagnet topology: error: importing module 'cmd_raises' given to "
                                 f"--import raised RuntimeError: boom again ({path}, line 2)\n")
    # the error is raised inside tagnet (a duplicate name); the line is the user's
    path = user_module("cmd_dup", "from tagnet.graphs import register_topology\n\n"
                                  "register_topology('tag', ['temporal'])\n")
    code, _, err = run(capsys, "check", "cmd_dup:x")
    assert code == 1 and len(err.splitlines()) == 1
    assert "raised ValueError: topology 'tag' is already registered" in err
    assert err.rstrip().endswith(f"({path}, line 3)")


def test_a_grid_too_large_is_refused_before_building(capsys, monkeypatch):
    from tagnet.graphs.topology import Topology

    def never(*args, **kwargs):
        raise AssertionError("built edges")

    monkeypatch.setattr(Topology, "_build", never)
    code, out, err = run(capsys, "tag", "--grid", "1000x100x100")
    assert code == 1 and out == ""
    assert err == ("tagnet topology: error: grid 1000x100x100 with topology 'tag' has 10,000,000 "
                   "nodes and 100,009,980,000 edges: its diagnostics would hold (nodes + edges) x "
                   "frames = 100,019,980,000,000 numbers, over the limit of 50,000,000; use a "
                   "smaller grid or a sparser topology, or raise --max-size\n")
    # (8 nodes + 32 edges) x 2 frames = 80 numbers
    code, _, err = run(capsys, "tag", "--grid", "2x2x2", "--max-size", "79")
    assert code == 1 and "= 80 numbers, over the limit of 79" in err
    code, _, err = run(capsys, "knn", "--grid", "100x100x100")
    assert code == 1 and "1,000,000 nodes and edges built from the tokens" in err
    code, _, err = run(capsys, "check", "tag", "--grids", "2x2x2", "64x8x9")
    assert code == 1 and "grid 64x8x9 has 4,608 nodes; 'check' takes grids of at most 4096" in err


def test_help_states_the_limits(capsys):
    with pytest.raises(SystemExit):
        main(["topology", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "above 50,000,000 of them" in out and "(default 50,000,000)" in out
    assert "at most 4096 nodes" in out and "tag_directed:2" in out and "random_typed:tag" in out
