"""A small name -> object registry that raises on duplicates and on unknown names."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (builders, topologies, ...).

    Registering a name twice raises (as torchvision's model registry does);
    looking up an unknown name raises a ``ValueError`` that lists the known names.

    Args:
        kind (str): what the registry holds, used in error messages ("topology").

    Example:
        >>> reg = Registry("colour")
        >>> reg.register("red", 1)
        1
        >>> reg.get("red")
        1
        >>> reg.get("rde")
        Traceback (most recent call last):
            ...
        ValueError: colour 'rde' is unknown; known: red
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self.version = 0  # bumped by every change, so that caches of lookups can tell

    def register(self, name: str, obj: T, *, override: bool = False) -> T:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items and not override:
            raise ValueError(
                f"{self.kind} {name!r} is already registered; pick another name "
                "or pass override=True"
            )
        self._items[name] = obj
        self.version += 1
        return obj

    def decorator(self, name: str | None = None) -> Callable[[T], T]:
        """``@registry.decorator()`` registers a function or class under its name."""

        def wrap(obj: T) -> T:
            self.register(name or obj.__name__, obj)
            return obj

        return wrap

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"{self.kind} {name!r} is unknown; known: {', '.join(self.names())}"
            ) from None

    def unregister(self, name: str) -> T:
        self.get(name)
        self.version += 1
        return self._items.pop(name)

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
