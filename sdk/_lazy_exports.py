"""Public names imported on first use (PEP 562), for a package's ``__init__``.

A package that re-exports names from heavy modules would load all of them on its own
import, and with them whatever they import (gRPC, pydantic, SQLAlchemy). Resolving each
name when it is first read lets a program import one light module of the package, such as
the server's state rules, without the rest. The package still imports the same names
under ``TYPE_CHECKING`` and lists them in ``__all__``, for type checkers and editors.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    exported_from: Mapping[str, tuple[str, ...]],
    renamed: Mapping[str, tuple[str, str]] | None = None,
    submodules: tuple[str, ...] = (),
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose globals are ``namespace``.

    ``exported_from`` maps each module to the names it exports under their own name;
    ``renamed`` maps a name exported under another name to its (module, name);
    ``submodules`` are public submodules that ``package.name`` imports on first read, as
    ``import package.name`` would (``runplane.runtime.flow_run.id`` after ``import runplane``).
    """
    locations = {name: (module, name) for module, names in exported_from.items() for name in names}
    locations.update(renamed or {})
    public_submodules = frozenset(submodules)

    def __getattr__(name: str) -> object:
        if name in public_submodules:
            value: object = importlib.import_module(f"{package}.{name}")
            namespace[name] = value
            return value
        try:
            module, attribute = locations[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value  # later reads find it without calling this again
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *locations, *public_submodules})

    return __getattr__, __dir__
