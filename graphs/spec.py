"""The topology spec grammar: how a string names a topology in configs and on the command line.

.. code-block:: text

    SPEC := PART ("+" PART)*                     edge types in order, one per edge set
    PART := NAME [":" ARG ("," ARG)*]
    ARG  := VALUE | KEY "=" VALUE                positional values first, then keywords

``NAME`` is an edge set, a parametrised topology (a *family*, such as
``tag_directed``) or a registered topology; positional values bind to the
builder's parameters in order (``temporal_window:2`` is ``temporal_window:k=2``).
A value is read as an int, a float, ``true``/``false`` or else text, so a
reference topology can itself be a one-part spec: ``random_temporal:tag_window:3``
or ``random_temporal:reference=tag_window:k=3,seed=1``. An argument is a keyword
when it starts with ``IDENTIFIER=``; anything else is positional.

This module only splits and binds; :func:`tagnet.graphs.topology.parse_topology`
resolves the names.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

_KEYWORD = re.compile(r"([A-Za-z_]\w*)\s*=(.*)", re.DOTALL)


@dataclass(frozen=True)
class SpecPart:
    """One ``NAME:ARGS`` part of a spec, its values already parsed."""

    text: str
    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def parse_value(text: str):
    """``"2"`` -> 2, ``"0.5"`` -> 0.5, ``"true"`` -> True, anything else stays text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def split_spec(spec: str) -> list[SpecPart]:
    """Split ``spec`` into its ``+``-joined parts (names and parsed values, no lookup).

    Example:
        >>> [(p.name, p.args, p.kwargs) for p in split_spec("tag_directed:2+knn_feature:k=4")]
        [('tag_directed', (2,), {}), ('knn_feature', (), {'k': 4})]
    """
    parts = []
    for text in spec.split("+"):
        name, _, rest = (s.strip() for s in text.partition(":"))
        if not name:
            raise ValueError(f"topology {spec!r} has an empty part; join names with '+', e.g. "
                             "'intra_frame+temporal_window:2'")
        args, kwargs = [], {}
        for item in filter(None, (a.strip() for a in rest.split(","))):
            m = _KEYWORD.fullmatch(item)
            if m is None:
                if kwargs:
                    raise ValueError(f"positional value {item!r} after a KEY=VALUE in topology "
                                     f"{spec!r}; put positional values first, e.g. "
                                     "'random_temporal:tag,seed=1'")
                args.append(parse_value(item))
            else:
                key, value = m[1], m[2].strip()
                if key in kwargs:
                    raise ValueError(f"parameter {key!r} given twice in topology {spec!r}")
                kwargs[key] = parse_value(value)
        parts.append(SpecPart(text.strip(), name, tuple(args), kwargs))
    return parts


def bind_params(fn: Callable, part: SpecPart, what: str, *, skip: int = 0) -> dict:
    """The keyword parameters of ``fn`` that ``part``'s values give (positional ones bound).

    Args:
        fn (callable): the builder (a function or a class).
        part (SpecPart): the parsed part.
        what (str): how to name the builder in errors (``"edge set 'x' in 'spec'"``).
        skip (int): leading parameters that are not the user's (``grid`` of an edge set).
    """
    params = list(inspect.signature(fn).parameters.values())[skip:]
    named = [p.name for p in params
             if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    try:
        bound = inspect.Signature(params).bind(*part.args, **part.kwargs)
    except TypeError as exc:
        raise ValueError(f"{what} takes parameters ({', '.join(named) or 'none'}); {exc}, "
                         f"e.g. '{part.name}:{'k=2' if 'k' in named else 'KEY=VALUE'}'") from None
    out = {}
    for p in params:
        if p.name not in bound.arguments:
            continue
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            out.update(bound.arguments[p.name])
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            raise ValueError(f"{what} takes a variable number of positional values; "
                             "it cannot be named in a spec")
        else:
            out[p.name] = bound.arguments[p.name]
    return out
