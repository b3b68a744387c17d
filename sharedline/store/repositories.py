"""Reading and writing the store in the engine's terms: plain dataclasses in and out.

STYLE.md §9: repositories return our dataclasses, never ORM rows, so nothing outside ``store/``
holds a session or triggers a lazy load. Times cross this boundary as float epoch seconds (UTC);
the columns are timezone-aware timestamps. SQLite hands those back naive, always in UTC (we only
ever write UTC), so :func:`_epoch` reads a naive value as UTC.

- :func:`load_directory`: who is behind each number, for the switch (``switch.directory``);
  :func:`load_caller_names`: the workspaces' address books, for caller names on ringing phones.
- :func:`load_bindings`, :func:`save_bindings`, :func:`delete_expired_bindings`: registrations
  (RFC 3261 §10.3) that survive restarts and are shared between engine nodes.
- :func:`save_call`, :func:`list_calls`: the shared call history (DESIGN.md step 10).
- :func:`list_registrations`: who is registered where, for admins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..switch.directory import (
    Directory,
    DirectoryDevice,
    DirectoryMember,
    DirectoryNumber,
    DirectoryTrunk,
)
from .database import Database
from .inbox_models import Contact, ContactNumber
from .models import (
    CallLeg,
    CallRecord,
    Device,
    NumberMembership,
    PhoneNumber,
    Registration,
    Trunk,
    User,
    Workspace,
)

__all__ = [
    "CALL_DIRECTIONS",
    "CALL_OUTCOMES",
    "CallSummary",
    "LegSummary",
    "RegistrationView",
    "StoredBinding",
    "delete_expired_bindings",
    "list_calls",
    "list_registrations",
    "load_bindings",
    "load_caller_names",
    "load_directory",
    "save_bindings",
    "save_call",
]

CALL_DIRECTIONS = frozenset({"inbound", "outbound"})
CALL_OUTCOMES = frozenset({"answered", "missed", "abandoned", "voicemail", "failed"})
"""How a call ended for the team (DESIGN.md step 10); None while it is still going on."""


def _datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _maybe_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else _datetime(epoch)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:  # SQLite returns the UTC value we stored, without its zone
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _maybe_epoch(moment: datetime | None) -> float | None:
    return None if moment is None else _epoch(moment)


# --- the directory ------------------------------------------------------------------------------


async def load_directory(database: Database) -> Directory:
    """Every number (members in ring order, plan, trunk), every device and every trunk."""
    async with database.session() as session:
        trunks = {t.id: _trunk(t) for t in await session.scalars(select(Trunk).order_by(Trunk.id))}
        members: dict[int, list[DirectoryMember]] = {}
        rows = await session.execute(
            select(NumberMembership.number_id, NumberMembership.role, User)
            .join(User, NumberMembership.user_id == User.id)
            # DirectoryNumber.members: join order, then user id, is the stable ring order.
            .order_by(NumberMembership.created_at, NumberMembership.user_id)
        )
        for number_id, role, user in rows:
            members.setdefault(number_id, []).append(
                DirectoryMember(user_id=user.id, name=user.name, email=user.email, role=role.value)
            )
        numbers = [
            DirectoryNumber(
                id=number.id,
                e164=number.e164,
                name=number.name,
                plan=plan.value,
                members=tuple(members.get(number.id, ())),
                trunk=None if number.trunk_id is None else trunks.get(number.trunk_id),
                workspace_id=number.workspace_id,
            )
            for number, plan in (
                await session.execute(
                    select(PhoneNumber, Workspace.plan).join(Workspace).order_by(PhoneNumber.id)
                )
            )
        ]
        default_number = PhoneNumber.e164.label("default_number")
        devices = [
            DirectoryDevice(
                id=device.id,
                username=device.username,
                user_id=device.user_id,
                realm=device.realm,
                ha1_md5=device.ha1_md5,
                ha1_sha256=device.ha1_sha256,
                default_number=e164,
            )
            for device, e164 in (
                await session.execute(
                    select(Device, default_number).outerjoin(
                        PhoneNumber, Device.default_number_id == PhoneNumber.id
                    )
                )
            )
        ]
        caller_names = await _caller_names(session)
    return Directory.build(numbers, devices, trunks.values(), caller_names)


async def load_caller_names(database: Database) -> dict[int, dict[str, str]]:
    """Workspace id → phone number (E.164) → contact name, from every address book."""
    async with database.session() as session:
        return await _caller_names(session)


async def _caller_names(session: AsyncSession) -> dict[int, dict[str, str]]:
    names: dict[int, dict[str, str]] = {}
    rows = await session.execute(
        select(ContactNumber.workspace_id, ContactNumber.e164, Contact.name).join(
            Contact, ContactNumber.contact_id == Contact.id
        )
    )
    for workspace_id, e164, name in rows:
        if name.strip():
            names.setdefault(workspace_id, {})[e164] = name.strip()
    return names


def _trunk(trunk: Trunk) -> DirectoryTrunk:
    return DirectoryTrunk(
        id=trunk.id,
        name=trunk.name,
        allowed_sources=tuple(trunk.allowed_sources),
        outbound_proxy=trunk.outbound_proxy,
        auth_username=trunk.auth_username,
        auth_realm=trunk.auth_realm,
        auth_ha1_md5=trunk.auth_ha1_md5,
        auth_ha1_sha256=trunk.auth_ha1_sha256,
    )


# --- registrations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredBinding:
    """One registered contact of a device (RFC 3261 §10.3), on the wall clock."""

    contact: str
    expires_at: float
    """Epoch seconds (UTC) when the binding lapses."""
    q: float | None
    call_id: str
    cseq: int
    source: str
    """Where the REGISTER came from, ``transport:host:port``."""
    user_agent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationView:
    """A live registration as admins see it."""

    username: str
    """The device's username."""
    user_email: str
    contact: str
    expires_in: int
    """Whole seconds left, rounded up."""
    source: str
    user_agent: str | None


async def load_bindings(database: Database) -> dict[int, list[StoredBinding]]:
    """Every stored binding, by device id (expired ones too: the registrar drops those)."""
    bindings: dict[int, list[StoredBinding]] = {}
    async with database.session() as session:
        rows = await session.scalars(
            select(Registration).order_by(Registration.device_id, Registration.id)
        )
        for row in rows:
            bindings.setdefault(row.device_id, []).append(
                StoredBinding(
                    contact=row.contact_uri,
                    expires_at=_epoch(row.expires_at),
                    q=row.q,
                    call_id=row.call_id,
                    cseq=row.cseq,
                    source=row.source,
                    user_agent=row.user_agent,
                )
            )
    return bindings


async def save_bindings(
    database: Database, device_id: int, bindings: Sequence[StoredBinding]
) -> None:
    """Replace a device's bindings with ``bindings``, atomically.

    Raises LookupError when the device does not exist.
    """
    async with database.session() as session, session.begin():
        # Lock the device row so two nodes replacing one device's bindings serialize
        # (PostgreSQL; SQLite serializes writers anyway).
        found = await session.scalar(
            select(Device.id).where(Device.id == device_id).with_for_update()
        )
        if found is None:
            raise LookupError(f"device {device_id} does not exist")
        await session.execute(delete(Registration).where(Registration.device_id == device_id))
        session.add_all(
            Registration(
                device_id=device_id,
                contact_uri=binding.contact,
                expires_at=_datetime(binding.expires_at),
                q=binding.q,
                call_id=binding.call_id,
                cseq=binding.cseq,
                source=binding.source,
                user_agent=binding.user_agent,
            )
            for binding in bindings
        )


async def delete_expired_bindings(database: Database, now: float) -> int:
    """Delete every binding expired at ``now`` (epoch seconds); return how many."""
    async with database.session() as session, session.begin():
        result = await session.execute(
            delete(Registration).where(Registration.expires_at <= _datetime(now))
        )
        return cast(CursorResult[Any], result).rowcount


async def list_registrations(database: Database, *, now: float) -> list[RegistrationView]:
    """Unexpired registrations at ``now`` (epoch seconds), by device username then contact."""
    async with database.session() as session:
        rows = await session.execute(
            select(Registration, Device.username, User.email)
            .join(Device, Registration.device_id == Device.id)
            .join(User, Device.user_id == User.id)
            .where(Registration.expires_at > _datetime(now))
            .order_by(Device.username, Registration.contact_uri)
        )
        return [
            RegistrationView(
                username=username,
                user_email=email,
                contact=row.contact_uri,
                expires_in=math.ceil(_epoch(row.expires_at) - now),
                source=row.source,
                user_agent=row.user_agent,
            )
            for row, username, email in rows
        ]


# --- call records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LegSummary:
    """One device rung (or dialled) for a call."""

    user_id: int | None
    device_id: int | None
    contact: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    status_code: int | None = None
    outcome: str | None = None
    """answered, declined, busy, no_answer, cancelled, completed_elsewhere or failed."""
    device_username: str | None = None
    """Filled in by :func:`list_calls`; ignored by :func:`save_call`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSummary:
    """One call on a shared number, as the shared history shows it. Times are epoch seconds."""

    call_id: str
    number: str | None
    """The shared number's E.164; a number the store does not know is saved as None."""
    direction: str
    """inbound or outbound."""
    caller: str
    callee: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    """One of :data:`CALL_OUTCOMES`, or None while the call is going on."""
    answered_by: int | None = None
    """The user id of the member who answered."""
    legs: Sequence[LegSummary] = ()
    answered_by_name: str | None = None
    """Filled in by :func:`list_calls`; ignored by :func:`save_call`."""


async def save_call(database: Database, call: CallSummary) -> None:
    """Insert or update the call record with ``call.call_id``; its legs become ``call.legs``.

    Raises ValueError for a direction or outcome outside the documented values.
    """
    if call.direction not in CALL_DIRECTIONS:
        raise ValueError(f"call direction {call.direction!r} is not inbound or outbound")
    if call.outcome is not None and call.outcome not in CALL_OUTCOMES:
        raise ValueError(f"call outcome {call.outcome!r} is not one of {sorted(CALL_OUTCOMES)}")
    for attempt in range(2):
        async with database.session() as session:
            try:
                await _upsert_call(session, call)
                await session.commit()
                return
            except IntegrityError:
                # Another writer inserted the same call_id between our select and insert:
                # the second attempt finds it and updates it.
                await session.rollback()
                if attempt:
                    raise


async def _upsert_call(session: AsyncSession, call: CallSummary) -> None:
    number_id = None
    if call.number is not None:
        number_id = await session.scalar(
            select(PhoneNumber.id).where(PhoneNumber.e164 == call.number)
        )
    record = await session.scalar(
        select(CallRecord)
        .options(selectinload(CallRecord.legs))
        .where(CallRecord.call_id == call.call_id)
        .with_for_update()
    )
    if record is None:
        record = CallRecord(call_id=call.call_id)
        session.add(record)
    record.number_id = number_id
    record.direction = call.direction
    record.caller = call.caller
    record.callee = call.callee
    record.started_at = _datetime(call.started_at)
    record.answered_at = _maybe_datetime(call.answered_at)
    record.ended_at = _maybe_datetime(call.ended_at)
    record.outcome = call.outcome
    record.answered_by_user_id = call.answered_by
    record.legs = [
        CallLeg(
            user_id=leg.user_id,
            device_id=leg.device_id,
            contact_uri=leg.contact,
            started_at=_datetime(leg.started_at),
            answered_at=_maybe_datetime(leg.answered_at),
            ended_at=_maybe_datetime(leg.ended_at),
            status_code=leg.status_code,
            outcome=leg.outcome,
        )
        for leg in call.legs
    ]
    await session.flush()


async def list_calls(
    database: Database, *, number: str | None = None, limit: int = 50
) -> list[CallSummary]:
    """The newest ``limit`` calls (of one number, by E.164, if given), newest first, with legs
    in the order they started and the answering member's name."""
    query = (
        select(CallRecord, PhoneNumber.e164, User.name)
        .outerjoin(PhoneNumber, CallRecord.number_id == PhoneNumber.id)
        .outerjoin(User, CallRecord.answered_by_user_id == User.id)
        .options(selectinload(CallRecord.legs))
        .order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
        .limit(max(limit, 0))
    )
    if number is not None:
        query = query.where(PhoneNumber.e164 == number)
    async with database.session() as session:
        rows = (await session.execute(query)).all()
        device_ids = {
            leg.device_id for r, _, _ in rows for leg in r.legs if leg.device_id is not None
        }
        found = await session.execute(
            select(Device.id, Device.username).where(Device.id.in_(sorted(device_ids)))
        )
        usernames = dict(found.all())  # not dict(result): a Result has .keys()
        return [_call_summary(record, e164, name, usernames) for record, e164, name in rows]


def _call_summary(
    record: CallRecord, e164: str | None, answered_by_name: str | None, usernames: dict[int, str]
) -> CallSummary:
    legs = sorted(record.legs, key=lambda leg: (leg.started_at, leg.id))
    return CallSummary(
        call_id=record.call_id,
        number=e164,
        direction=record.direction,
        caller=record.caller,
        callee=record.callee,
        started_at=_epoch(record.started_at),
        answered_at=_maybe_epoch(record.answered_at),
        ended_at=_maybe_epoch(record.ended_at),
        outcome=record.outcome,
        answered_by=record.answered_by_user_id,
        answered_by_name=answered_by_name,
        legs=tuple(
            LegSummary(
                user_id=leg.user_id,
                device_id=leg.device_id,
                contact=leg.contact_uri,
                started_at=_epoch(leg.started_at),
                answered_at=_maybe_epoch(leg.answered_at),
                ended_at=_maybe_epoch(leg.ended_at),
                status_code=leg.status_code,
                outcome=leg.outcome,
                device_username=None if leg.device_id is None else usernames.get(leg.device_id),
            )
            for leg in legs
        ),
    )
