"""Every way of naming an edge set keeps its declared flags (issue 27's false PASS).

A user module registers ``fwd_only`` with ``symmetric=True`` but returns one
direction only. Named by its registered name (``--import``), through the pytest
plugin, by ``MODULE:ATTR`` or as the Python object itself, the symmetry check runs
and fails it.
"""
import sys

import pytest

from tagnet.cli import main
from tagnet.graphs import get_edge_set, get_topology
from tagnet.graphs.edge_sets import EDGE_SETS
from tagnet.graphs.testing import assert_valid_edge_set, contract

pytest_plugins = ["pytester"]

ASYM = """
import torch
from tagnet.graphs import EdgeSet, register_edge_set


@register_edge_set("fwd_only", symmetric=True)
def fwd_only(grid):  # (t, p) -> (t + 1, p) only, though declared symmetric
    n = torch.arange((grid.T - 1) * grid.num_sites)
    return torch.stack([n, n + grid.num_sites])


@register_edge_set("fwd_only_cls", symmetric=True)
class FwdOnly(EdgeSet):
    name = "fwd_only_cls"

    def build(self, grid, x=None):
        return fwd_only(grid)
"""
NO_REVERSE = "has no reverse edge (1 -> 0) though the edge set is declared symmetric"


@pytest.fixture
def asym(tmp_path, monkeypatch):
    (tmp_path / "asym_topos.py").write_text(ASYM)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "asym_topos"
    for name in ("fwd_only", "fwd_only_cls"):
        if name in EDGE_SETS:
            EDGE_SETS.unregister(name)
    sys.modules.pop("asym_topos", None)


def check_fails(capsys, *argv):
    assert main(["topology", "check", *argv]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "0 passed, 1 failed"
    assert out[0].startswith(f"FAIL  {argv[0]}  edge set: edge set ") and NO_REVERSE in out[0]


def test_module_attr_keeps_the_declared_symmetry(capsys, asym):
    check_fails(capsys, f"{asym}:fwd_only")
    check_fails(capsys, f"{asym}:FwdOnly")


def test_registered_name_keeps_the_declared_symmetry(capsys, asym):
    check_fails(capsys, "fwd_only", "--import", asym)
    check_fails(capsys, "fwd_only_cls", "--import", asym)


def test_pytest_plugin_keeps_the_declared_symmetry(pytester, asym):
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--tagnet-topologies", asym,
                                          "-k", "fwd_only", "-rf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([f"*edge set 'fwd_only' on grid 4x1x1: edge 0 (0 -> 1) "
                                 f"{NO_REVERSE}*"])


def test_python_objects_keep_the_declared_symmetry(asym):
    import importlib

    module = importlib.import_module(asym)
    for target in (module.fwd_only, module.FwdOnly, "fwd_only", "fwd_only_cls"):
        with pytest.raises(AssertionError, match=r"no reverse edge \(1 -> 0\)"):
            for _, check in contract(target):
                check()
    with pytest.raises(AssertionError, match="declared symmetric"):
        assert_valid_edge_set(module.fwd_only)
    # the function object resolves to the registered edge set, flag and name included
    edge_set = get_edge_set(module.fwd_only)
    assert edge_set.symmetric is True and edge_set.name == "fwd_only"
    assert get_topology(["intra_frame", module.fwd_only]).edge_sets[1].symmetric is True
    # an explicit symmetric=False overrides the declaration (the check then passes)
    assert_valid_edge_set(module.fwd_only, symmetric=False)


def test_conflicting_declarations_raise(asym):
    import importlib

    from tagnet.graphs import register_edge_set

    module = importlib.import_module(asym)
    with pytest.raises(ValueError, match="symmetric=False: it is already declared symmetric=True"):
        register_edge_set("fwd_only_again", module.fwd_only, symmetric=False)
    assert "fwd_only_again" not in EDGE_SETS
