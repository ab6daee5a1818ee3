"""The ``tagnet`` command.

Every module in :mod:`tagnet.commands` is one subcommand. A command module
defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``; the
module name is the subcommand name (underscores become dashes). Command modules
import heavy packages inside ``run`` so that ``tagnet --help`` stays fast.

Config overrides (``KEY=VALUE``) may stand anywhere on the line, also after options:
``tagnet train a=1 -o runs/x b=2`` applies ``a=1`` then ``b=2``.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from collections import Counter
from collections.abc import Sequence

from tagnet import commands as _commands

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.-]*=")  # a dotted config key, then '='


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
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None):
    """``parser.parse_args`` that also takes ``KEY=VALUE`` overrides placed after options.

    argparse fills a ``nargs="*"`` positional once, so overrides after an option are left
    over; those are appended (in order) to ``args.overrides`` of commands that take them.
    Anything else left over is an error of the subcommand, as with ``parse_args``.
    """
    args, extra = parser.parse_known_args(argv)
    sub = getattr(args, "_parser", parser)
    if hasattr(args, "overrides"):
        extra = _trailing_overrides(sub, args) + extra
    if extra:
        keys = [a for a in extra if _OVERRIDE.match(a)]
        rest = [a for a in extra if not _OVERRIDE.match(a)]
        if rest or not hasattr(args, "overrides"):
            sub.error(f"unrecognized arguments: {' '.join(rest or extra)}")
        wanted = Counter(list(args.overrides or []) + keys)
        args.overrides = []  # in command-line order: a later override of a key wins
        for item in sys.argv[1:] if argv is None else argv:
            if wanted[item] > 0:
                wanted[item] -= 1
                args.overrides.append(item)
    return args


def _trailing_overrides(sub: argparse.ArgumentParser, args) -> list[str]:
    """Take ``KEY=VALUE`` items that a list option swallowed (``-k a.pth data.root=/x``)
    off its end, unless they name existing files; returns them."""
    import os

    taken = []
    for action in sub._actions:
        values = getattr(args, action.dest, None)
        if not action.option_strings or action.nargs not in ("+", "*") \
                or not isinstance(values, list):
            continue
        cut = len(values)
        while cut > (action.nargs == "+") and isinstance(values[cut - 1], str) \
                and _OVERRIDE.match(values[cut - 1]) and not os.path.exists(values[cut - 1]):
            cut -= 1
        taken += values[cut:]
        setattr(args, action.dest, values[:cut])
    return taken


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
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
