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


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, cwd=ROOT).stdout.strip()


def test_import_tagnet_is_lazy():
    # the data and graph packages do not pull in the model code (PEP 562 __getattr__)
    loaded = _run("import sys, tagnet.datasets, tagnet.graphs; "
                  "print(sorted(m for m in ('tagnet.models.factory', 'tagnet.models.head', "
                  "'tagnet.models.atr_models', 'tagnet.propagation') if m in sys.modules))")
    assert loaded == "[]"
    # every public name resolves, to the object of its defining module
    _run("import importlib, tagnet\n"
         "for name, mod in tagnet._LAZY.items():\n"
         "    assert getattr(tagnet, name) is getattr(importlib.import_module(mod), name), name\n"
         "assert set(tagnet.__all__) == {'__version__', *tagnet._LAZY} <= set(dir(tagnet))\n"
         "try:\n    tagnet.nope\nexcept AttributeError as e:\n    assert 'nope' in str(e)\n"
         "else:\n    raise SystemExit('no AttributeError')")
    # the atr_* models register even when only the factory is imported
    assert _run("from tagnet.models.factory import list_models, create_model; "
                "print('atr_r2plus1d_tiny' in list_models(), "
                "type(create_model('atr_r2plus1d_tiny', num_classes=3)).__name__)") == "True ATRNet"
