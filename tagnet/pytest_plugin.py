"""The tagnet pytest plugin: topology fixtures and ``pytest --tagnet-topologies``.

Installing tagnet registers this module as a ``pytest11`` entry point, so
every pytest run loads it. It imports nothing but pytest at load time: without
``--tagnet-topologies`` it adds no test items and costs nothing (torch and the
graph code are imported only by a fixture that is used or by the option). It
adds one warning filter to every run: the ``torch.jit.script`` FutureWarning
that PyG's import triggers (:data:`JIT_SCRIPT_FILTER`).

.. code-block:: text

    pytest --tagnet-topologies                   the contract on every built-in topology
    pytest --tagnet-topologies mypkg.topos       import mypkg.topos first (its registrations
                                                 run), then check every registered one
    pytest --tagnet-topologies -k my_            only the items whose name matches

One test item per (edge set or topology, check), named ``edge_set[NAME]`` and
``topology[NAME]::CHECK`` with the checks of :func:`tagnet.graphs.testing.contract`.
Put test paths before the option (it takes the words after it as modules).

Fixtures: ``token_grid`` (a ``TokenGrid``, ``3x2x3`` unless parametrised
indirectly with ``"TxHxW"`` strings) and ``tagnet_topology`` (a ``Topology``,
``"tag"`` unless parametrised indirectly with names, specs or objects).
"""
from __future__ import annotations

import importlib
import os
import sys

import pytest

_OPTION = "tagnet_topologies"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tagnet", "tagnet topology contract")
    group.addoption(
        "--tagnet-topologies", dest=_OPTION, nargs="*", metavar="MODULE", default=None,
        help="check every registered tagnet topology and edge set (tagnet.graphs.testing); "
             "import the named modules first so that their registrations run")


def _import(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if exc.name != name.split(".")[0] or cwd in sys.path:
            raise pytest.UsageError(f"--tagnet-topologies: cannot import {name!r}: {exc}") from exc
        sys.path.insert(0, cwd)  # as `python -m pytest` would have
        _import(name)
    except Exception as exc:  # noqa: BLE001 - a user's module may raise anything at import
        raise pytest.UsageError(f"--tagnet-topologies: importing {name!r} raised "
                                f"{type(exc).__name__}: {exc}") from exc


#: PyG 2.8 calls ``torch.jit.script`` at import, which torch 2.14 deprecates: a warning about
#: PyG that no tagnet user can act on. ``import tagnet`` filters it, but pytest restores the
#: warning filters around every test, so in a user's suite the import inside a test would show
#: it again; an ini filter is applied by pytest itself, around every test.
JIT_SCRIPT_FILTER = "ignore:`torch.jit.script` is deprecated:FutureWarning"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", JIT_SCRIPT_FILTER)
    modules = config.getoption(_OPTION)
    if modules is None:
        return
    for name in modules:
        _import(name)


def pytest_report_header(config: pytest.Config) -> str | None:
    modules = config.getoption(_OPTION)
    if modules is None:
        return None
    return "tagnet topology contract on every registered topology and edge set" + (
        f" (after importing {', '.join(modules)})" if modules else " (built-in ones)")


class ContractItem(pytest.Item):
    """One check of the contract on one registered edge set or topology."""

    def __init__(self, *, check, **kwargs) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        self.check()

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)  # names the topology, grid and first bad edge
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.name


def _items(session: pytest.Session) -> list[ContractItem]:
    from tagnet.graphs import get_edge_set, list_edge_sets, list_topologies
    from tagnet.graphs.testing import contract

    items = []

    def add(name: str, check) -> None:
        items.append(ContractItem.from_parent(session, name=name, check=check,
                                              nodeid=f"tagnet-topologies::{name}"))

    for name in list_edge_sets():
        try:
            edge_set = get_edge_set(name)
        except TypeError as exc:  # required parameters: a topology has to set them

            def skip(name=name, exc=exc):
                pytest.skip(f"edge set {name!r} needs parameters ({exc}); register a topology "
                            "that sets them to check it")

            add(f"edge_set[{name}]", skip)
            continue
        for _, check in contract(edge_set):
            add(f"edge_set[{name}]", check)
    for name in list_topologies():
        for check_name, check in contract(name):
            add(f"topology[{name}]::{check_name}", check)
    return items


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if config.getoption(_OPTION) is None:
        return
    new = _items(session)
    items.extend(new)
    # tell the reporters, so that "collected N items" counts them
    config.hook.pytest_collectreport(report=pytest.CollectReport(
        "tagnet-topologies", "passed", None, new))


@pytest.fixture
def token_grid(request):
    """A :class:`~tagnet.graphs.TokenGrid`: ``3x2x3``, or the indirect parameter ``"TxHxW"``."""
    from tagnet.graphs import TokenGrid

    return TokenGrid.parse(getattr(request, "param", "3x2x3"))


@pytest.fixture
def tagnet_topology(request):
    """A :class:`~tagnet.graphs.Topology`: ``"tag"``, or the indirect parameter (name or object)."""
    from tagnet.graphs.diagnostics import resolve

    return resolve(getattr(request, "param", "tag"))
