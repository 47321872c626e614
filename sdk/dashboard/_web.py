"""What every page shares: the client and permissions, the templates, server-sent events and
how API errors become pages."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.templating import Jinja2Templates

from runplane._client.client import RunplaneClient
from runplane._client.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RunplaneError,
    Unauthenticated,
)
from runplane.dashboard import _format
from runplane.dashboard._roles import KnownPermissions

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    time_text=_format.time_text,
    duration_text=_format.duration_text,
    state_class=_format.state_class,
    state_label=_format.state_label,
)
templates.env.filters["level_name"] = logging.getLevelName


@dataclass
class Dashboard:
    """The app's one client to the API and what its key may do."""

    client: RunplaneClient
    permissions: KnownPermissions


def dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


async def render(
    request: Request, template: str, context: Mapping[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A page, with what the key may do for its buttons."""
    full = {"permissions": await dashboard(request).permissions.get(), **context}
    return templates.TemplateResponse(request, template, full, status_code=status_code)


def path_id(request: Request, name: str = "id") -> UUID:
    """An id from the URL; a malformed one is a 404, as no such thing exists."""
    try:
        return UUID(request.path_params[name])
    except ValueError:
        raise HTTPException(404, f"no such id: {request.path_params[name]!r}") from None


async def api_error(request: Request, error: Exception) -> Response:
    """An API error as a page with its status: 404, 403, 401, 400, or 502 for the others."""
    assert isinstance(error, RunplaneError)
    if isinstance(error, NotFound):
        status = 404
    elif isinstance(error, PermissionDenied):
        status = 403
    elif isinstance(error, Unauthenticated):
        status = 401
    elif isinstance(error, InvalidArgument):
        status = 400
    else:
        status = 502
    return error_page(request, status, error.message)


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return error_page(request, error.status_code, error.detail)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    context = {"status": status, "message": message}
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def sse_response(events: AsyncIterator[tuple[str, Any]]) -> StreamingResponse:
    """Server-sent events: each ``(name, data)`` as an event whose data is JSON. The stream
    behind ``events`` is closed when the browser goes away."""

    async def body() -> AsyncIterator[str]:
        # A comment at once, so the browser knows the stream is open before the first event.
        yield ": open\n\n"
        async with contextlib.aclosing(events) as stream:  # type: ignore[type-var]
            async for name, data in stream:
                yield f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
