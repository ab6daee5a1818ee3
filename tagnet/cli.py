"""The ``tagnet`` command.

Every module in :mod:`tagnet.commands` is one subcommand. A command module
defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``; the
module name is the subcommand name (underscores become dashes). Command modules
import heavy packages inside ``run`` so that ``tagnet --help`` stays fast.

Config overrides (``KEY=VALUE``) may stand anywhere on the line, also after options:
``tagnet train a=1 -o runs/x b=2`` applies ``a=1`` then ``b=2``.

Errors. :func:`main` turns every error a user can cause into one line on stderr, naming the
path or key and what to do, and exits with status 1 (:func:`describe_error`): tagnet's own
``ValueError``/``KeyError``/``RuntimeError`` messages, ``OSError`` and its subclasses (a
missing file, a folder given for a file, a full disk, no permission), ``MemoryError``,
``SyntaxError``/``ImportError`` in a user's module, and the errors of the libraries that
read user files (PyAV, safetensors, PIL). Anything else is a bug in tagnet: one line that
says so, with the exception and where it was raised. ``--debug`` shows the traceback
instead. Output cut short by a closed pipe (``tagnet ... | head``) ends quietly with
status 141 (128 + SIGPIPE, as the shell reports a process killed by it).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import shlex
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
        if not any("--debug" in a.option_strings for a in p._actions):
            p.add_argument("--debug", action="store_true", help="show tracebacks")
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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(parser, argv)
    # what a command records as its own command line (an ablation.json, a demo's metrics):
    # the arguments it was called with, also when called from Python
    args.command_line = shlex.join(["tagnet", *argv])
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        code = args._run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        print(f"tagnet {args.command}: error: {describe_error(exc)}", file=sys.stderr)
        return 1
    return int(code or 0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (captured): nothing to silence
        pass


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


#: What to do about an OSError, by errno name.
_OS_ADVICE = {
    "ENOSPC": "the disk is full: free space or write elsewhere",
    "EDQUOT": "the disk quota is used up: free space or write elsewhere",
    "EFBIG": "the file would exceed the file-size limit (ulimit -f): write elsewhere",
    "EISDIR": "it is a folder: give a file name",
    "ENOTDIR": "a part of the path is a file, not a folder: check the path",
    "ENOENT": "check the path",
    "EEXIST": "it exists already: remove it or choose another name",
    "EACCES": "no permission: check the file's permissions or choose another place",
    "EPERM": "not permitted: check the file's permissions or choose another place",
    "EROFS": "the file system is read-only: write elsewhere",
    "ENAMETOOLONG": "the name is too long: choose a shorter one",
    "ELOOP": "a symbolic link loops: fix or remove it",
    "EMFILE": "too many open files: raise the limit (ulimit -n) or use fewer workers",
    "EIO": "an input/output error of the device: check the disk",
}


def _os_error(exc: OSError) -> str:
    import errno

    from tagnet.commands._common import safe_path

    name = errno.errorcode.get(exc.errno or -1, "")
    if exc.filename is None or exc.strerror is None:
        text = _one_line(str(exc))
    else:
        text = f"'{safe_path(exc.filename)}': {exc.strerror}"
        if exc.filename2 is not None:
            text += f" (with '{safe_path(exc.filename2)}')"
    advice = _OS_ADVICE.get(name)
    return f"{text}; {advice}" if advice else text


def _where(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of the traceback (where the error was raised)."""
    import os

    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"


def describe_error(exc: BaseException) -> str:
    """One line for an exception that ends a command (see the module docstring).

    Errors a user causes (bad values, files, paths, memory, user modules, the libraries that
    read user files) are described by what went wrong and what to do; any other exception
    is reported as an internal error of tagnet, naming its type and where it was raised.
    """
    module = type(exc).__module__.split(".")[0]
    if isinstance(exc, MemoryError):
        detail = f" ({_one_line(str(exc))})" if str(exc) else ""
        return (f"out of memory{detail}: the request is too large for this machine; ask for "
                "less (a smaller --batch-size or eval.batch_size, fewer frames or clips, a "
                "smaller grid)")
    if isinstance(exc, SyntaxError):  # a user's module given to --import, ...
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else "a module"
        return f"{where}: {exc.msg} (SyntaxError); fix the module"
    if isinstance(exc, ImportError):
        name = f" '{exc.name}'" if getattr(exc, "name", None) else ""
        return (f"cannot import module{name}: {_one_line(str(exc))}; install it or fix the "
                "module named on the command line")
    if isinstance(exc, OSError):  # also FileNotFoundError, PIL's and PyAV's file errors
        return _os_error(exc)
    if isinstance(exc, UnicodeDecodeError):  # tagnet's readers name the file; others do not
        return (f"a file is not UTF-8 text ({_one_line(str(exc))}); save it as UTF-8 (rerun "
                "with --debug to see which file was read)")
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return _one_line(exc.args[0])
    if isinstance(exc, (ValueError, KeyError, RuntimeError)) and not isinstance(
            exc, (NotImplementedError, RecursionError)):
        return _one_line(str(exc))
    if module in ("av", "PIL", "safetensors"):  # errors of the libraries reading user files
        library = {"av": "PyAV (FFmpeg)", "PIL": "PIL", "safetensors": "safetensors"}[module]
        text = _one_line(str(exc))
        full = any(k in text for k in ("No space left", "os error 28", "StorageFull"))
        advice = ("the disk is full: free space or write elsewhere" if full else
                  "check the file: it may be damaged or of another format")
        return f"{library}: {text} ({type(exc).__name__}); {advice}"
    return (f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (at {_where(exc)}); "
            "please report it with the command line; rerun with --debug for the traceback")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
