"""Bounded caches of graph tensors that never keep what a tracer made.

``torch.compile``, ``torch.export`` (strict and non-strict), ``make_fx`` and
``torch.jit.trace`` run the model's Python code on fake or proxy tensors. A cache
filled then would hand those tensors (or real tensors a tracer has captured) to
later eager calls, which then compute with garbage. Every graph cache in tagnet
asks :func:`is_tracing` first and, while it is true, builds its value without
storing it (a tracer records the build into its graph instead).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

import torch
from torch import Tensor

try:  # both are imported by ``import torch`` already
    from torch._guards import TracingContext
    from torch._subclasses.fake_tensor import FakeTensor
except ImportError:  # pragma: no cover - very old torch
    TracingContext = FakeTensor = None


def _is_fake(t) -> bool:
    return isinstance(t, Tensor) and (t.is_meta or torch._is_functional_tensor(t) or (
        FakeTensor is not None and isinstance(t, FakeTensor)))


def _mode_active() -> bool:
    """A fake or proxy dispatch mode, or a tracing context (cheap checks, no stack walk)."""
    if TracingContext is None:  # pragma: no cover - very old torch
        return False
    keys, get = torch._C._TorchDispatchModeKey, torch._C._get_dispatch_mode
    return (get(keys.FAKE) is not None or get(keys.PROXY) is not None
            or TracingContext.try_get() is not None)


def is_tracing(*tensors) -> bool:
    """True while a tracer runs or when any of ``tensors`` is a fake, functional or meta tensor.

    Covers TorchDynamo (``torch.compile``, strict ``torch.export``), non-strict
    ``torch.export`` and ``make_fx`` (an active fake or proxy mode, a tracing
    context), and ``torch.jit.trace``. A few microseconds per call.

    Example:
        >>> is_tracing(torch.zeros(2))
        False
        >>> is_tracing(torch.zeros(2, device="meta"))
        True
    """
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return True
    return any(_is_fake(t) for t in tensors) or _mode_active()


class LRUCache:
    """At most ``max_entries`` values, least recently used dropped first; bypassed while tracing.

    Args:
        max_entries (int): entries kept.
        name (str): shown in :meth:`info` and ``repr``.

    Example:
        >>> cache = LRUCache(2)
        >>> cache.get(("a",), lambda: torch.zeros(1)).tolist()
        [0.0]
        >>> len(cache)
        1
    """

    def __init__(self, max_entries: int, name: str = "cache") -> None:
        if max_entries < 1:
            raise ValueError(f"{name} needs max_entries >= 1, got {max_entries}")
        self.max_entries, self.name = max_entries, name
        self._data: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], object], *tensors):
        """The value for ``key``, built by ``build()`` on a miss.

        While :func:`is_tracing` holds (``tensors`` are checked too), ``build()``
        runs and nothing is read from or written to the cache.
        """
        if is_tracing(*tensors):
            return build()
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = build()
        self._data[key] = value
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"LRUCache({self.name!r}, {len(self)}/{self.max_entries})"


__all__ = ["is_tracing", "LRUCache"]
