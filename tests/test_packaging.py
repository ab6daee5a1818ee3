"""graphs/ and datasets/ install as tagnet.graphs and tagnet.datasets, never top level."""
import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def declared_packages():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return set(cfg["options"]["packages"].split())


def test_setup_cfg_lists_every_package_folder():
    found = set()
    for top, name in (("tagnet", "tagnet"), ("graphs", "tagnet.graphs"),
                      ("datasets", "tagnet.datasets")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *rel)))
    assert found == declared_packages()


def test_no_top_level_graphs_or_datasets_module(tmp_path):
    code = ("import importlib.util as u, json; "
            "print(json.dumps({n: getattr(u.find_spec(n), 'origin', None) "
            "for n in ('graphs', 'datasets')}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    for origin in __import__("json").loads(out).values():
        assert origin is None or not Path(origin).is_relative_to(ROOT), origin


def test_editable_install_maps_the_folders():
    import tagnet.datasets
    import tagnet.graphs
    assert Path(tagnet.graphs.__file__).parent == ROOT / "graphs"
    assert Path(tagnet.datasets.__file__).parent == ROOT / "datasets"


def test_wheel_installs_and_imports(tmp_path):
    pytest.importorskip("setuptools")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT)], check=True,
                   capture_output=True)
    wheel = next((tmp_path / "dist").glob("tagnet-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "tagnet/graphs/topology.py" in names and "tagnet/datasets/__init__.py" in names
    assert not any(n.startswith(("graphs/", "datasets/")) for n in names)
    assert any(n.startswith("tagnet/configs/") and n.endswith(".yaml") for n in names) or \
        not list((ROOT / "tagnet" / "configs").glob("*.yaml"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import tagnet.graphs, tagnet.datasets, tagnet; "
            "print(tagnet.graphs.__file__); print(tagnet.datasets.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(site), "PATH": ""}).stdout
    assert all(Path(line).is_relative_to(site) for line in out.split())
