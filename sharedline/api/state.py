"""What every request handler reaches through the app: the store, settings, clock, hasher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ..bus import EventBus
from ..bus.memory import MemoryBus
from ..config.settings import ApiSettings
from ..inbox.presence import TypingTracker
from ..store.database import Database
from .passwords import Passwords

__all__ = ["ApiState", "Session", "State", "get_session", "get_state", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiState:
    """Set once by ``create_app`` as ``app.state.api``."""

    database: Database
    settings: ApiSettings
    passwords: Passwords
    clock: Callable[[], datetime] = utc_now
    """The current time (UTC); tests pass their own to expire tokens and invitations."""
    bus: EventBus = field(default_factory=MemoryBus)
    """Where live events go (and come from, for WebSocket subscribers): shared by the engine's
    nodes through Redis or PostgreSQL (``sharedline.bus.open_bus``)."""
    typing: TypingTracker = field(default_factory=TypingTracker)
    """Who is typing where (this node's WebSockets, plus typing events seen on the bus)."""


def get_state(request: Request) -> ApiState:
    state = request.app.state.api
    assert isinstance(state, ApiState)
    return state


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, shared by its dependencies; handlers commit their writes."""
    async with get_state(request).database.session() as session:
        yield session


State = Annotated[ApiState, Depends(get_state)]
Session = Annotated[AsyncSession, Depends(get_session)]
