"""The dashboard's routes: every page has a stable URL; actions are POST forms."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from runplane._client.client import RunplaneClient
from runplane._client.errors import RunplaneError
from runplane.dashboard import _deployments, _run, _runs, _work
from runplane.dashboard._roles import KnownPermissions
from runplane.dashboard._web import HERE, Dashboard, api_error, error_page, http_error


class SameOriginPosts:
    """Refuses a POST that another site's page sent (its Origin is not this host): the
    dashboard acts with its own API key, so a form elsewhere must not act through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            request = Request(scope)
            origin = request.headers.get("origin")
            host = request.headers.get("host", "")
            if origin is not None and origin.split("://", 1)[-1] != host:
                response = error_page(request, 403, "a form from another site cannot act here")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def home(request: Request) -> Response:
    return RedirectResponse("/runs", status_code=307)


def create_app(client: RunplaneClient) -> Starlette:
    """The dashboard over an open ``client``; its key's role decides which buttons show."""
    routes = [
        Route("/", home),
        Route("/runs", _runs.runs_page),
        Route("/runs/events", _runs.runs_events),
        Route("/runs/{id}", _run.run_page),
        Route("/runs/{id}/logs/events", _run.run_logs_events),
        Route("/runs/{id}/state/events", _run.run_state_events),
        Route("/runs/{id}/cancel", _run.cancel_run, methods=["POST"]),
        Route("/runs/{id}/retry", _run.retry_run, methods=["POST"]),
        Route("/runs/{id}/resume", _run.resume_run, methods=["POST"]),
        Route("/deployments", _deployments.deployments_page),
        Route("/deployments/{id}", _deployments.deployment_page),
        Route("/deployments/{id}/pause", _deployments.pause_deployment, methods=["POST"]),
        Route("/deployments/{id}/resume", _deployments.resume_deployment, methods=["POST"]),
        Route("/deployments/{id}/run", _deployments.run_deployment, methods=["POST"]),
        Route("/work-pools", _work.work_pools_page),
        Route("/concurrency-limits", _work.concurrency_page),
        Route("/variables", _work.variables_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SameOriginPosts)],
        exception_handlers={RunplaneError: api_error, HTTPException: http_error},
    )
    app.state.dashboard = Dashboard(client, KnownPermissions(client))
    return app
