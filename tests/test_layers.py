"""The package's import graph: no circles, and layers that only import downwards (issue 27).

The graph is read from the source with :mod:`ast` (every ``import`` statement, at module level
or inside a function), so a lazy import counts like any other; only imports under
``if TYPE_CHECKING:`` are left out (they never run). An edge goes from a module to each module
an import statement names; a package's ``__init__`` is a module of its own, so a package that
re-exports its submodules is not a circle with them.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package name it installs as (setup.cfg's package_dir)
FOLDERS = {"tagnet": "tagnet", "graphs": "tagnet.graphs", "datasets": "tagnet.datasets"}

#: Layers, lowest first (shared/DESIGN.md). A module may import its own layer and the ones
#: below; the first matching prefix decides a module's layer.
LAYERS = [
    ["tagnet", "tagnet.graphs", "tagnet.datasets"],  # the root: __version__ and lazy names
    ["tagnet.config", "tagnet.protocols", "tagnet.weights", "tagnet.distributed"],
    ["tagnet.propagation", "tagnet.backbones", "tagnet.data"],
    ["tagnet.models", "tagnet.complexity"],
    ["tagnet.train", "tagnet.eval", "tagnet.inference"],
    # the checks users run on their own topologies exercise every propagation method
    ["tagnet.commands", "tagnet.pytest_plugin", "tagnet.graphs.testing"],
    ["tagnet.cli", "tagnet.__main__"],
]
#: pairs inside one layer that must not meet: evaluation sits beside training, not above it
FORBIDDEN = [("tagnet.eval", "tagnet.train"), ("tagnet.inference", "tagnet.train")]


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):  # drop `if TYPE_CHECKING:` blocks before walking
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
                node.body = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                deps.add(target)
                deps.update(f"{target}.{a.name}" for a in node.names)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer(module: str) -> int:
    """The layer of the longest prefix in :data:`LAYERS` that names ``module``."""
    matches = [(len(p), i) for i, prefixes in enumerate(LAYERS) for p in prefixes
               if module == p or module.startswith(p + ".")]
    if not matches:
        raise AssertionError(f"module {module} is in no layer of tests/test_layers.py; add it")
    return max(matches)[1]


def test_the_graph_is_read():
    graph = import_graph()
    assert layer("tagnet.graphs.testing") > layer("tagnet.propagation.appnp") > layer(
        "tagnet.graphs.topology")
    assert "tagnet.models.factory" in graph["tagnet.models.head"] or \
        "tagnet.models.head" in graph["tagnet.models.factory"]
    assert "tagnet.weights" in graph["tagnet.models.factory"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    found = circles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_every_import_points_down_the_layers():
    upward = [f"{m} -> {d}" for m, deps in import_graph().items() for d in sorted(deps)
              if layer(d) > layer(m)]
    assert not upward, "imports up the layers: " + ", ".join(upward)


@pytest.mark.parametrize("low,high", FORBIDDEN)
def test_evaluation_and_inference_do_not_import_training(low, high):
    bad = [f"{m} -> {d}" for m, deps in import_graph().items() if m.startswith(low)
           for d in deps if d.startswith(high)]
    assert not bad, ", ".join(bad)


def test_no_command_imports_another_command():
    bad = [f"{m} -> {d}" for m, deps in import_graph().items()
           if m.startswith("tagnet.commands.") and m != "tagnet.commands._common"
           for d in deps if d.startswith("tagnet.commands.") and d != "tagnet.commands._common"]
    assert not bad, ", ".join(bad)
