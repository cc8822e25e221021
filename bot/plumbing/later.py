"""Placeholders for modules a library imports at its top but uses only on paths a run rarely takes.

Examples (each measured with `python -X importtime`): the kubernetes client imports `requests_oauthlib`
and `oauthlib` (with `requests` under them) to refresh an OIDC token, and `dateutil.parser` for a model's
dates (opsbot reads raw JSON); pydantic's plugin loader imports `importlib.metadata` (with `email`,
`zipfile`, `csv`...) to look for plugins opsbot does not have. 20-40 ms each, on every start.

While such a library is imported, `placeholders()` puts a `Later` in `sys.modules` for each of those
modules that nobody has imported yet; the library binds the placeholder (or, for `from m import X`, a
function that calls the real X). The placeholders leave `sys.modules` when the block ends, so any
other importer gets the real module, and the first use through a placeholder imports the real one.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Later(types.ModuleType):
    """Stands for module `name`; the real module is imported the first time it is used.

    `calls` are the names imported with `from name import X`: each is bound to a function that calls
    the real X (enough for a class only ever called, or a function). `submodules` are attributes that
    stand for modules of their own (`import a.b` binds `a`, and the code then uses `a.b.c`)."""

    def __init__(self, name: str, calls: tuple[str, ...] = (), submodules: tuple[str, ...] = ()) -> None:
        super().__init__(name)
        self._calls = calls
        for child in submodules:
            setattr(self, child, Later(f"{name}.{child}"))

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # the import system's and copy/pickle's probes
            raise AttributeError(attribute)
        if attribute in self._calls:
            def call(*args: Any, **kwargs: Any) -> Any:
                return getattr(self._real(), attribute)(*args, **kwargs)

            call.__name__ = call.__qualname__ = attribute
            return call
        return getattr(self._real(), attribute)

    def _real(self) -> types.ModuleType:
        """The real module, imported now if need be; also while this placeholder is still in
        `sys.modules` (a library imported during the block uses it at once): it makes way for it."""
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        return importlib.import_module(name)


def stand_ins(*modules: Later) -> dict[str, types.ModuleType]:
    """Every placeholder by module name, the submodules' included."""
    out: dict[str, types.ModuleType] = {}
    for module in modules:
        out[module.__name__] = module
        for value in vars(module).values():
            if isinstance(value, Later):
                out.update(stand_ins(value))
    return out


@contextmanager
def placeholders(*modules: Later) -> Iterator[None]:
    """The placeholders in `sys.modules` for the block, each but those whose module (or one of whose
    submodules) was imported already: there is nothing to save there."""
    named: dict[str, types.ModuleType] = {}
    for module in modules:
        own = stand_ins(module)
        if not any(name in sys.modules for name in own):
            named.update(own)
    sys.modules.update(named)
    try:
        yield
    finally:
        for name, stand_in in named.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
