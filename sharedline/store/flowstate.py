"""The state call flows keep between calls: availability, round-robin turns, idle times.

The interpreter (``callflows``) is pure; a backend reads these before each decision and writes
turns back after it (``callflows.facts.CallFacts``):

- :func:`load_availability`, :func:`set_availability`, :func:`list_availability`: each member's
  do-not-disturb switch and personal hours (a ``ScheduleSpec`` stored as JSON).
- :func:`load_turns`, :func:`save_turn`: round-robin turns by rotation key, which survive
  restarts and are shared between engine nodes.
- :func:`load_idle_since`: when each member's last answered call ended (longest-idle ringing).

Members are user ids here; admins name them by email within a workspace. Times are epoch
seconds (UTC), as in :mod:`.repositories`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..callflows.facts import MemberAvailability
from ..callflows.schedule import ScheduleSpec
from ..yamldoc.source import did_you_mean, format_path
from .database import Database
from .models import AvailabilityRecord, Base, CallRecord, RingTurn, User, Workspace
from .repositories import _epoch

__all__ = [
    "AvailabilityView",
    "MemberNotFound",
    "list_availability",
    "load_availability",
    "load_idle_since",
    "load_turns",
    "save_turn",
    "set_availability",
]

log = structlog.get_logger(__name__)


class MemberNotFound(LookupError):
    """No such workspace or member, or no workspace named while there are several.

    The message names what was looked for, with a did-you-mean when something is close.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class AvailabilityView:
    """A member's availability as admins see it."""

    workspace: str
    email: str
    name: str
    dnd: bool
    schedule: dict[str, Any] | None
    """The personal hours in the ``ScheduleSpec`` format (non-default fields); None: none."""
    updated_at: float | None
    """Epoch seconds of the last change; None when it was never set."""


# --- availability -------------------------------------------------------------------------------


async def load_availability(database: Database) -> dict[int, MemberAvailability]:
    """Every stored availability, by user id (members without one are simply available).

    A stored schedule that no longer validates (the format moved on) is logged and read as no
    schedule: the member is rung as if they had no personal hours rather than not at all.
    """
    async with database.session() as session:
        rows = await session.scalars(
            select(AvailabilityRecord).order_by(AvailabilityRecord.user_id)
        )
        return {
            row.user_id: MemberAvailability(dnd=row.dnd, schedule=_schedule(row)) for row in rows
        }


def _schedule(row: AvailabilityRecord) -> ScheduleSpec | None:
    if row.schedule is None:
        return None
    try:
        return ScheduleSpec.model_validate(row.schedule)
    except ValidationError as error:
        problems = [f"{format_path(e['loc'])}: {e['msg']}" for e in error.errors()]
        log.warning("stored_schedule_invalid", user_id=row.user_id, problems=problems)
        return None


async def set_availability(
    database: Database,
    *,
    workspace: str | None,
    email: str,
    dnd: bool | None = None,
    schedule: ScheduleSpec | None = None,
    clear_schedule: bool = False,
) -> AvailabilityView:
    """Change what is given of a member's availability; return it as it now stands.

    ``workspace`` is a workspace name, or None for the only one. ``dnd`` None leaves the switch
    as it is; ``schedule`` replaces the personal hours, ``clear_schedule`` removes them. With no
    change at all this only reads.

    Raises :class:`MemberNotFound` for an unknown workspace or email (or ``workspace`` None with
    several workspaces), ValueError for ``schedule`` together with ``clear_schedule``.
    """
    if schedule is not None and clear_schedule:
        raise ValueError("a new schedule and clear_schedule together: choose one")
    changes: dict[str, Any] = {}
    if dnd is not None:
        changes["dnd"] = dnd
    if schedule is not None:
        changes["schedule"] = schedule.model_dump(mode="json", exclude_defaults=True)
    if clear_schedule:
        changes["schedule"] = None
    async with database.session() as session, session.begin():
        found = await _workspace(session, workspace)
        user = await _user(session, found, email)
        if changes:
            changes["updated_at"] = datetime.now(UTC)
            values = {"user_id": user.id, **changes}
            await session.execute(_upsert(database, AvailabilityRecord, values, update=changes))
        record = await session.get(AvailabilityRecord, user.id, populate_existing=True)
        return _view(found, user, record)


async def list_availability(
    database: Database, *, workspace: str | None = None
) -> list[AvailabilityView]:
    """Every member of ``workspace`` (by name; None: every workspace), by workspace then email.

    Raises :class:`MemberNotFound` for an unknown workspace.
    """
    query = (
        select(Workspace, User, AvailabilityRecord)
        .join(User, User.workspace_id == Workspace.id)
        .outerjoin(AvailabilityRecord, AvailabilityRecord.user_id == User.id)
        .order_by(Workspace.name, User.email)
    )
    async with database.session() as session:
        if workspace is not None:
            found = await _workspace(session, workspace)
            query = query.where(Workspace.id == found.id)
        rows = await session.execute(query)
        return [_view(ws, user, record) for ws, user, record in rows]


def _view(workspace: Workspace, user: User, record: AvailabilityRecord | None) -> AvailabilityView:
    return AvailabilityView(
        workspace=workspace.name,
        email=user.email,
        name=user.name,
        dnd=record.dnd if record else False,
        schedule=record.schedule if record else None,
        updated_at=_epoch(record.updated_at) if record else None,
    )


async def _workspace(session: AsyncSession, name: str | None) -> Workspace:
    if name is not None:
        found = await session.scalar(select(Workspace).where(Workspace.name == name))
        if found is not None:
            return found
    workspaces = list(await session.scalars(select(Workspace).order_by(Workspace.name)))
    names = [w.name for w in workspaces]
    if name is not None:
        raise MemberNotFound(f"no workspace {name!r}{did_you_mean(name, names)}")
    if len(workspaces) != 1:
        several = f"several workspaces ({', '.join(names)}): name one"
        raise MemberNotFound(several if workspaces else "no workspace yet")
    return workspaces[0]


async def _user(session: AsyncSession, workspace: Workspace, email: str) -> User:
    email = email.strip().lower()  # provisioning stores emails lower-cased
    user = await session.scalar(
        select(User).where(User.workspace_id == workspace.id, User.email == email)
    )
    if user is None:
        emails = await session.scalars(select(User.email).where(User.workspace_id == workspace.id))
        hint = did_you_mean(email, emails)
        raise MemberNotFound(f"no member {email!r} in workspace {workspace.name!r}{hint}")
    return user


# --- round-robin turns --------------------------------------------------------------------------


_INSERTS: dict[str, Callable[[type[Base]], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def _upsert(
    database: Database, model: type[Base], values: dict[str, Any], *, update: dict[str, Any]
) -> Insert:
    """INSERT … ON CONFLICT (primary key) DO UPDATE: one atomic statement on either database."""
    insert = _INSERTS[database.engine.dialect.name]
    keys = [column.name for column in model.__table__.primary_key]
    return insert(model).values(values).on_conflict_do_update(index_elements=keys, set_=update)


async def load_turns(database: Database) -> dict[str, dict[int, int]]:
    """Every rotation's turns: rotation key → user id → turn (higher: served more recently)."""
    turns: dict[str, dict[int, int]] = {}
    async with database.session() as session:
        rows = await session.execute(
            select(RingTurn.rotation, RingTurn.user_id, RingTurn.turn).order_by(
                RingTurn.rotation, RingTurn.user_id
            )
        )
        for rotation, user_id, turn in rows:
            turns.setdefault(rotation, {})[user_id] = turn
    return turns


async def save_turn(database: Database, rotation: str, user_id: int, turn: int) -> None:
    """Record ``user_id``'s latest ``turn`` in ``rotation`` (insert or replace).

    Raises LookupError when the user does not exist (deleted since the call was routed).
    """
    values = {"rotation": rotation, "user_id": user_id, "turn": turn}
    statement = _upsert(database, RingTurn, values, update={"turn": turn})
    try:
        async with database.session() as session, session.begin():
            await session.execute(statement)
    except IntegrityError:
        raise LookupError(f"user {user_id} does not exist") from None


# --- idle times ---------------------------------------------------------------------------------


async def load_idle_since(database: Database) -> dict[int, float]:
    """When each member's last answered call ended: user id → epoch seconds.

    Members who never answered a (finished) call are absent.
    """
    last_ended = func.max(CallRecord.ended_at)
    async with database.session() as session:
        rows = await session.execute(
            select(CallRecord.answered_by_user_id, last_ended)
            .where(CallRecord.answered_by_user_id.is_not(None), CallRecord.ended_at.is_not(None))
            .group_by(CallRecord.answered_by_user_id)
        )
        return {
            user_id: _epoch(ended)
            for user_id, ended in rows
            if user_id is not None and ended is not None  # as filtered: for the type checker
        }
