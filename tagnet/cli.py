"""The ``tagnet`` command.

Every module in :mod:`tagnet.commands` is one subcommand. A command module
defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``; the
module name is the subcommand name (underscores become dashes). Command modules
import heavy packages inside ``run`` so that ``tagnet --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from tagnet import commands as _commands


def _command_modules() -> dict[str, object]:
    mods = {}
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_commands.__name__}.{info.name}")
        mods[info.name.replace("_", "-")] = module
    return mods


def build_parser() -> argparse.ArgumentParser:
    from tagnet import __version__

    parser = argparse.ArgumentParser(
        prog="tagnet",
        description="TAG-Head (Time-Aligned Graph Head) for fine-grained video action "
        "recognition, on PyTorch Geometric.",
    )
    parser.add_argument("--version", action="version", version=f"tagnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules().items():
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        code = args._run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"tagnet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
