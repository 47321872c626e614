"""Parameters: binding calls to signatures, validating them, and resolving futures in them."""

from __future__ import annotations

import inspect
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from runplane._engine.errors import ParameterValidationError
from runplane._futures import RunplaneFuture


class Unmapped:
    """Wraps an argument of ``Task.map`` that every mapped run receives whole."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def unmapped(value: Any) -> Any:
    """Marks a ``map`` argument to be passed whole to every run instead of iterated."""
    return Unmapped(value)


class AllowFailure:
    """Wraps a task argument (or a ``wait_for`` future) whose failure does not stop the task."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def allow_failure(value: Any) -> Any:
    """Lets the task run even when the wrapped upstream future did not complete.

    The argument then receives the upstream's result, or its exception when it failed.
    """
    return AllowFailure(value)


def bind(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The call's arguments by parameter name, defaults included."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def call_arguments(
    signature: inspect.Signature, parameters: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments that call a function with ``parameters``."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if name not in parameters:
            continue
        value = parameters[name]
        if param.kind is param.VAR_POSITIONAL:
            args.extend(value)
        elif param.kind is param.VAR_KEYWORD:
            kwargs.update(value)
        elif param.kind is param.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[name] = value
    return args, kwargs


class ParameterValidator:
    """Validates parameters against a function's annotations with pydantic, built lazily."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self._adapter: Any = None

    def _build(self) -> Any:
        import pydantic

        try:
            hints = typing.get_type_hints(self._fn)
        except Exception:
            hints = {}
        fields: dict[str, Any] = {}
        for name, param in inspect.signature(self._fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            annotation = hints.get(name, Any)
            default = ... if param.default is param.empty else param.default
            fields[name] = (annotation, default)
        config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        return pydantic.create_model(
            f"{getattr(self._fn, '__name__', 'flow')}_parameters", __config__=config, **fields
        )

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters coerced to their annotations; raises naming every bad one."""
        import pydantic

        if self._adapter is None:
            self._adapter = self._build()
        checked = {k: v for k, v in parameters.items() if k in self._adapter.model_fields}
        try:
            model = self._adapter.model_validate(checked)
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
                for item in error.errors()
            )
            raise ParameterValidationError(f"invalid parameters: {problems}") from None
        return {**parameters, **{name: getattr(model, name) for name in checked}}


def _visit(
    value: Any, found: list[RunplaneFuture[Any]], wrapped: list[RunplaneFuture[Any]] | None
) -> bool:
    """Collects the futures in ``value``; those inside ``allow_failure`` also in ``wrapped``."""
    if isinstance(value, RunplaneFuture):
        found.append(value)
        return True
    if isinstance(value, AllowFailure):
        inside: list[RunplaneFuture[Any]] = []
        any_found = _visit(value.value, inside, None)
        found.extend(inside)
        if wrapped is not None:
            wrapped.extend(inside)
        return any_found
    if type(value) in (list, tuple, set, frozenset):
        return any([_visit(item, found, wrapped) for item in value])
    if type(value) is dict:
        return any([_visit(item, found, wrapped) for item in value.values()])
    return False


def find_futures(value: Any) -> list[RunplaneFuture[Any]]:
    found: list[RunplaneFuture[Any]] = []
    _visit(value, found, None)
    return found


def allowed_to_fail(value: Any) -> set[RunplaneFuture[Any]]:
    """The futures in ``value`` that are wrapped in ``allow_failure`` and nowhere else."""
    found: list[RunplaneFuture[Any]] = []
    wrapped: list[RunplaneFuture[Any]] = []
    _visit(value, found, wrapped)
    bare = list(found)
    for future in wrapped:
        bare.remove(future)
    return set(wrapped) - set(bare)


def replace_futures(value: Any) -> Any:
    """``value`` with every future replaced by its result; the futures must be done.

    A future inside ``allow_failure`` gives its exception when its run did not complete.
    """
    if isinstance(value, RunplaneFuture):
        return value.outcome().value
    if isinstance(value, AllowFailure):
        inner = value.value
        if isinstance(inner, RunplaneFuture):
            return inner.result(raise_on_failure=False)
        return replace_futures(inner)
    kind = type(value)
    if kind in (list, tuple, set, frozenset):
        return kind(replace_futures(item) for item in value)
    if kind is dict:
        return {key: replace_futures(item) for key, item in value.items()}
    return value


def upstream_inputs(parameters: Mapping[str, Any]) -> dict[str, tuple[uuid.UUID, ...]]:
    """The task run ids of the futures in each parameter."""
    inputs: dict[str, tuple[uuid.UUID, ...]] = {}
    for name, value in parameters.items():
        futures = find_futures(value)
        if futures:
            inputs[name] = tuple(future.task_run_id for future in futures)
    return inputs


def jsonable(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON values for the run record; what JSON cannot hold becomes its repr."""
    from pydantic_core import to_jsonable_python

    out: dict[str, Any] = {}
    for name, value in parameters.items():
        try:
            out[name] = to_jsonable_python(value, fallback=repr)
        except Exception:
            out[name] = repr(value)
    return out
