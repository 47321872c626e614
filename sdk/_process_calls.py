"""Calling a task's function in another process, and bringing back how it ended.

Functions, arguments, values and exceptions travel with cloudpickle both ways, so that a
class defined in the user's script (``__main__``), which the worker only knows by value,
comes back as the very class the script defined: ``except MyError`` still catches it.
An exception that cannot be pickled, or not rebuilt, comes back as a ``RemoteError``
subclass of the same name carrying the original message; every exception carries the
worker's traceback as its ``__cause__``, as ``concurrent.futures`` does.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any


class RemoteError(Exception):
    """An exception raised in a worker process that could not travel back as itself.

    Its class has the original's name; ``remote_type`` is the original's
    ``module.qualname``; the message is the original's ``str()``.
    """

    remote_type: str = ""


class RemoteTraceback(Exception):
    """The worker's traceback of an exception, attached as its ``__cause__``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Failure:
    """An exception on its way back from a worker."""

    type_module: str
    type_name: str
    message: str
    traceback: str
    pickled: bytes | None


def call_pickled(payload: bytes) -> bytes:
    """Runs in the worker: calls the function; returns its value, or its ``Failure``."""
    import cloudpickle

    fn, args, kwargs = cloudpickle.loads(payload)
    try:
        value = fn(*args, **kwargs)
    except Exception as error:
        return bytes(cloudpickle.dumps(_failure(error)))
    return bytes(cloudpickle.dumps(value))


def _failure(error: Exception) -> Failure:
    import cloudpickle

    kind = type(error)
    try:
        pickled: bytes | None = cloudpickle.dumps(error)
    except Exception:
        pickled = None
    try:
        message = str(error)
    except Exception:
        message = f"<{kind.__name__} whose message could not be read>"
    details = "".join(traceback.format_exception(error))
    return Failure(kind.__module__, kind.__qualname__, message, details, pickled)


def unpack(answer: bytes) -> Any:
    """The value a worker answered, or its exception raised again here."""
    import cloudpickle

    value = cloudpickle.loads(answer)
    if isinstance(value, Failure):
        raise rebuild(value)
    return value


def rebuild(failure: Failure) -> Exception:
    """The worker's exception: the original when it unpickles, else a stand-in."""
    import cloudpickle

    error: Exception | None = None
    if failure.pickled is not None:
        try:
            loaded = cloudpickle.loads(failure.pickled)
        except Exception:
            loaded = None
        if isinstance(loaded, Exception):
            error = loaded
    if error is None:
        name = failure.type_name.rpartition(".")[2] or "RemoteError"
        remote_type = f"{failure.type_module}.{failure.type_name}"
        namespace = {"__module__": failure.type_module, "remote_type": remote_type}
        stand_in: type[RemoteError] = type(name, (RemoteError,), namespace)
        error = stand_in(failure.message)
    error.__cause__ = RemoteTraceback(f'\n"""\n{failure.traceback}"""')
    return error
