"""The application factory: the team inbox API on a store, as one FastAPI app.

``create_app(database, settings)`` wires the routers, the error handlers and request logging;
``sharedline serve`` runs it under uvicorn on the switch's event loop (``sharedline.app``), and
tests run it in-process through ``httpx.ASGITransport``. Later routers (conversations, calls,
voicemail, live events) are included here and use :func:`.auth.current_user` and
:func:`.access.number_for` for authorization.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import structlog
from fastapi import FastAPI, Request, Response

from .. import __version__
from ..bus import EventBus
from ..bus.memory import MemoryBus
from ..config.settings import Settings
from ..store.database import Database
from . import auth, comments, contacts, conversations, live, messages, team
from .errors import install_error_handlers
from .messages import install_messaging
from .passwords import Passwords
from .state import ApiState, utc_now

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

_TAGS = [
    {"name": "auth", "description": "Log in and out with bearer tokens."},
    {"name": "numbers", "description": "Shared numbers, their settings and members."},
    {"name": "team", "description": "Workspace users and invitations."},
    {"name": "audit", "description": "Who changed what, when."},
    {"name": "contacts", "description": "The workspace's shared address book."},
    {"name": "conversations", "description": "Conversations, calls, voicemail, opened-by."},
    {"name": "messages", "description": "Sending and receiving messages on a shared number."},
    {"name": "comments", "description": "Internal comments and threads on any item."},
    {"name": "live", "description": "Live events and typing over WebSocket."},
]


def create_app(
    database: Database,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    passwords: Passwords | None = None,
    bus: EventBus | None = None,
) -> FastAPI:
    """The API on ``database`` (migrated by the caller), configured by ``settings.api``.

    ``clock`` gives the current UTC time (tests move it to expire tokens); ``passwords`` may be
    shared between apps to hash the dummy password once; ``bus`` carries live events (default:
    one in memory, for a single process).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await messaging.aclose()  # the provider's HTTP connections

    app = FastAPI(
        lifespan=lifespan,
        title="sharedline team inbox API",
        version=__version__,
        description="Shared phone numbers: team, numbers, invitations, audit log, contacts, "
        "conversations, messages, calls, voicemail, comments, and live events.",
        openapi_tags=_TAGS,
    )
    app.state.api = ApiState(
        database=database,
        settings=settings.api,
        passwords=passwords or Passwords(settings.api),
        clock=clock,
        bus=bus if bus is not None else MemoryBus(),
    )
    messaging = install_messaging(app, settings.messaging)
    install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(team.router)
    app.include_router(contacts.router)
    app.include_router(conversations.router)
    app.include_router(messages.router)
    app.include_router(comments.router)
    app.include_router(live.router)
    app.middleware("http")(_log_request)
    return app


async def _log_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    # The path and status only: bodies (passwords, invitation tokens) and headers (bearer
    # tokens) are never logged.
    with structlog.contextvars.bound_contextvars(request_id=secrets.token_hex(8)):
        response = await call_next(request)
        log.info(
            "api_request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
        )
        return response
