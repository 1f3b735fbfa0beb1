"""Name -> object registries, so that a new dataset, activation, model or attack is one entry.

A registry may name the module that fills it (`populate="hotbench.attacks.catalog"`): that module is
imported on the first lookup, so the registry itself stays a leaf that low layers (config) can
import without importing everything its entries need.

The registries of torch code whose names the command line shows (activations, architectures,
executors) are declared at the end: `hotbench --help`, `hotbench attack --help` and a mistyped name
must answer in a fraction of a second, so their names are declared here and the modules that fill
them (models, sweep.executors) are imported on the first lookup of an entry, which checks the
declared names against the registered ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(
        self, kind: str, populate: str | None = None, declared: tuple[str, ...] = ()
    ) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._populate = populate  # module that registers the entries, imported on first lookup
        self._declared = declared  # names known without importing `populate`

    def _loaded(self) -> dict[str, T]:
        if self._populate is not None:
            module, self._populate = self._populate, None
            importlib.import_module(module)
            if self._declared and tuple(self._items) != self._declared:
                raise RuntimeError(
                    f"{self.kind} registry: declared {self._declared}, {module} registered"
                    f" {tuple(self._items)}"
                )
        return self._items

    def _names(self) -> list[str]:
        return list(self._declared) if self._declared else list(self._loaded())

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        def deco(item: T) -> T:
            return self.add(name, item)

        return deco

    def get(self, name: str) -> T:
        items = self._loaded()
        try:
            return items[name]
        except KeyError:
            raise unknown_name(self.kind, name, items) from None

    def check(self, name: str) -> str:
        """Validate a name (raising the user-facing error) and return it."""
        if name not in self._names():
            raise unknown_name(self.kind, name, self._names())
        return name

    def names(self) -> list[str]:
        return self._names()

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def items(self):
        return self._loaded().items()


# ---- registries of torch code, their names declared ---------------------------------------------
ACTIVATIONS: Registry[Any] = Registry(
    "activation",
    populate="hotbench.models",
    declared=("none", "tanh", "sigmoid", "softsign", "hardtanh"),
)
ARCHS: Registry[Any] = Registry(
    "arch", populate="hotbench.models", declared=("digits-cnn", "mnist-cnn", "cifar-vgg")
)
EXECUTORS: Registry[Any] = Registry(
    "executor", populate="hotbench.sweep.executors", declared=("local", "process", "ray")
)
