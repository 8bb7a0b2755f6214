"""One registration pattern for every plugin point: models, feature sets, generator processes, input schemas.

A :class:`Registry` maps a name to a plugin that is loaded only when asked for, so listing and
checking names never imports torch or reads a file. Entries come from two places:

- **discovery**: a function that lists what is shipped, e.g. :func:`modules_in` (every module of a
  package that defines a given attribute; the module's file name is the plugin's name) or
  :func:`yaml_files_in` (every ``*.yaml`` of a folder);
- **registration**: :meth:`Registry.register`, as a decorator or a call, for plugins defined
  elsewhere (a user's own module, a test's toy plugin).

Unknown names raise :class:`~dl4hep.errors.ConfigError` naming where they were asked for, the
nearest registered names and all of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

from dl4hep.errors import ConfigError, did_you_mean

__all__ = ["Registry", "modules_in", "yaml_files_in"]

T = TypeVar("T")
Loader = Callable[[], Any]


class Registry(Generic[T]):
    """Name -> lazily loaded plugin of one kind (``kind`` is the word used in error messages)."""

    def __init__(self, kind: str, discover: Callable[[], Mapping[str, Loader]] | None = None) -> None:
        self.kind = kind
        self._discover = discover
        self._discovered: dict[str, Loader] | None = None
        self._registered: dict[str, Loader] = {}
        self._loaded: dict[str, T] = {}

    def _entries(self) -> dict[str, Loader]:
        if self._discovered is None:
            self._discovered = dict(self._discover()) if self._discover else {}
        return {**self._discovered, **self._registered}

    def refresh(self) -> None:
        """Forget what discovery found and what was loaded, so the next lookup discovers again
        (a plugin file added while the process runs); registered plugins stay."""
        self._discovered = None
        self._loaded.clear()

    def register(self, name: str, plugin: T | None = None) -> Any:
        """Add ``plugin`` under ``name``; without ``plugin``, return a decorator that adds what it decorates."""
        if plugin is None:
            def decorate(obj: T) -> T:
                self.register(name, obj)
                return obj
            return decorate
        self._registered[name] = lambda: plugin
        self._loaded.pop(name, None)
        return plugin

    def unregister(self, name: str) -> None:
        """Remove a registered ``name`` (tests that registered a toy plugin clean up with this)."""
        self._registered.pop(name, None)
        self._loaded.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, sorted; nothing is loaded."""
        return sorted(self._entries())

    def __contains__(self, name: object) -> bool:
        return name in self._entries()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries())

    def check(self, name: str, *, where: str) -> None:
        """Raise :class:`ConfigError` at ``where`` unless ``name`` is registered."""
        if name not in self._entries():
            raise ConfigError(f"{where}: unknown {self.kind} '{name}'.{did_you_mean(name, self.names())} "
                              f"Registered {self.kind}s: {self.names()}")

    def get(self, name: str, *, where: str = "config") -> T:
        """The plugin registered as ``name``, loaded on first use."""
        self.check(name, where=where)
        if name not in self._loaded:
            self._loaded[name] = self._entries()[name]()
        return self._loaded[name]


def modules_in(package: str, attribute: str) -> Callable[[], dict[str, Loader]]:
    """Discovery of the modules of ``package`` (without importing them): name -> ``module.<attribute>``.

    Modules whose name starts with ``_`` are skipped (shared helpers of the package).
    """
    def discover() -> dict[str, Loader]:
        pkg = importlib.import_module(package)
        out: dict[str, Loader] = {}
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                out[info.name] = _attribute_loader(f"{package}.{info.name}", attribute)
        return out
    return discover


def _attribute_loader(module: str, attribute: str) -> Loader:
    def load() -> Any:
        mod = importlib.import_module(module)
        if not hasattr(mod, attribute):
            raise ConfigError(f"plugin module {module} does not define '{attribute}'")
        return getattr(mod, attribute)
    return load


def yaml_files_in(folder: Path, load: Callable[[Path], Any]) -> Callable[[], dict[str, Loader]]:
    """Discovery of ``folder/*.yaml``: file stem -> ``load(path)``."""
    def discover() -> dict[str, Loader]:
        return {p.stem: partial(load, p) for p in sorted(Path(folder).glob("*.yaml"))}
    return discover
