"""Keyword arguments declared once, by an options dataclass, and typed wherever they are taken.

``@task(...)``, ``@flow(...)`` and ``with_options(...)`` take the fields of ``TaskOptions`` or
``FlowOptions`` as keyword arguments. Rather than repeat each field in every signature, these
give a function taking ``**options`` the signature of the dataclass's constructor, which type
checkers and editors then show and check (names, types, defaults). At run time they return
the function unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

__all__ = ["method_takes_options_of", "takes_options_of"]

Options = ParamSpec("Options")
Result = TypeVar("Result")
Self = TypeVar("Self")


def takes_options_of(
    options: Callable[Options, Any],
) -> Callable[[Callable[..., Result]], Callable[Options, Result]]:
    """Types a function's keyword arguments as those of the ``options`` constructor."""

    def retype(function: Callable[..., Result]) -> Callable[Options, Result]:
        return function

    return retype


# A method of any signature, and one whose keyword arguments are Options.
Method = Callable[Concatenate[Self, ...], Result]
TypedMethod = Callable[Concatenate[Self, Options], Result]


def method_takes_options_of(
    options: Callable[Options, Any],
) -> Callable[[Method[Self, Result]], TypedMethod[Self, Options, Result]]:
    """The same for a method: its ``self`` stays, its keyword arguments are typed."""

    def retype(method: Method[Self, Result]) -> TypedMethod[Self, Options, Result]:
        return method

    return retype
