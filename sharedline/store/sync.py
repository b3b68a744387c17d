"""Between the switch and the store: its start-up state in, its actions out.

The switch keeps time on the event loop's monotonic clock; the store keeps wall-clock epoch
seconds. Conversions happen here, with one offset read when the adapter starts.

Call events (:class:`~sharedline.switch.records.PublishCallEvent`) become inbox events
(``call.ringing``, ``call.answered``, ``call.ended``) on the event bus, in the conversation of
the number and the caller (created on the first call). They are written in the order the switch
emitted them, so ``call.ended`` is published after the call record is saved. A bus that is down
loses the live event, never the record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from ..bus import EventBus
from ..inbox.events import EventKind, InboxEvent, JSONValue, new_event_id
from ..sip.registrar import Binding
from ..sip.service import Action
from ..switch.records import (
    CallPhase,
    CallReport,
    PublishCallEvent,
    SaveBindings,
    SaveCall,
    SaveTurn,
)
from .conversations import conversation_for
from .database import Database
from .flowstate import save_turn
from .inbox_models import Voicemail
from .models import CallRecord, PhoneNumber
from .repositories import (
    CallSummary,
    LegSummary,
    StoredBinding,
    load_bindings,
    load_caller_names,
    save_bindings,
    save_call,
)

if TYPE_CHECKING:
    from ..switch.service import Switch

__all__ = [
    "ActionWriter",
    "load_switch_bindings",
    "refresh_caller_names",
]

_KINDS = {
    CallPhase.RINGING: EventKind.CALL_RINGING,
    CallPhase.ANSWERED: EventKind.CALL_ANSWERED,
    CallPhase.ENDED: EventKind.CALL_ENDED,
}

log = structlog.get_logger(__name__)


class Clock:
    """Converts between the loop's monotonic seconds and wall-clock epoch seconds."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.offset = time.time() - loop.time()

    def to_wall(self, monotonic: float | None) -> float | None:
        return None if monotonic is None else monotonic + self.offset

    def to_monotonic(self, wall: float) -> float:
        return wall - self.offset


async def load_switch_bindings(database: Database, clock: Clock) -> dict[int, tuple[Binding, ...]]:
    """Every device's persisted bindings, on the switch's clock (restarts keep registrations)."""
    stored = await load_bindings(database)
    return {
        device_id: tuple(
            Binding(
                contact=b.contact,
                expires_at=clock.to_monotonic(b.expires_at),
                q=b.q,
                call_id=b.call_id,
                cseq=b.cseq,
                source=b.source,
            )
            for b in bindings
        )
        for device_id, bindings in stored.items()
    }


async def refresh_caller_names(database: Database, switch: Switch) -> None:
    """Re-read the address books into the switch's directory (caller names on ringing phones).

    A database that is down keeps the names the switch had (logged).
    """
    try:
        names = await load_caller_names(database)
    except Exception:
        log.exception("caller_names_refresh_failed")
        return
    switch.directory = switch.directory.with_caller_names(names)


class ActionWriter:
    """Writes switch actions to the store in order, on one background task; publishes call
    events on ``bus`` (none: they are dropped)."""

    def __init__(self, database: Database, clock: Clock, bus: EventBus | None = None) -> None:
        self.database = database
        self.clock = clock
        self.bus = bus
        self._queue: asyncio.Queue[Action] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, actions: Sequence[Action]) -> None:
        for action in actions:
            self._queue.put_nowait(action)

    async def drain(self) -> None:
        """Wait until everything submitted is written, then stop."""
        await self._queue.join()
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            action = await self._queue.get()
            try:
                await self._write(action)
            except Exception:  # the database may be down: log, keep serving calls
                log.exception("store_write_failed", action=type(action).__name__)
            finally:
                self._queue.task_done()

    async def _write(self, action: Action) -> None:
        match action:
            case SaveBindings():
                bindings = [
                    StoredBinding(
                        contact=b.contact,
                        expires_at=self.clock.to_wall(b.expires_at) or 0.0,
                        q=b.q,
                        call_id=b.call_id,
                        cseq=b.cseq,
                        source=b.source,
                        user_agent=None,
                    )
                    for b in action.bindings
                ]
                await save_bindings(self.database, action.device_id, bindings)
            case SaveCall():
                await save_call(self.database, self._summary(action.report))
                if action.report.voicemail_box is not None:
                    await self._voicemail(action.report, action.report.voicemail_box)
            case SaveTurn():
                await save_turn(self.database, action.rotation, action.user_id, action.turn)
            case PublishCallEvent():
                await self._publish(action)

    async def _publish(self, action: PublishCallEvent) -> None:
        if self.bus is None:
            return
        at = self.clock.to_wall(action.at) or time.time()
        async with self.database.session() as session:
            number = (
                await session.execute(
                    select(PhoneNumber.id, PhoneNumber.workspace_id).where(
                        PhoneNumber.e164 == action.number
                    )
                )
            ).first()
            if number is None:  # deleted while ringing: nobody left to tell
                return
            number_id, workspace_id = number
            conversation = await conversation_for(
                session, number_id, action.caller, activity_at=datetime.fromtimestamp(at, UTC)
            )
            await session.commit()
        assert conversation is not None  # created when missing
        answered_by: JSONValue = (
            None
            if action.answered_by is None
            else {"id": action.answered_by, "name": action.answered_by_name}
        )
        event = InboxEvent(
            kind=_KINDS[action.phase],
            number=action.number,
            workspace_id=workspace_id,
            conversation_id=conversation.id,
            at=at,
            id=new_event_id(),
            payload={
                "call_id": action.call_id,
                "caller": action.caller,
                "caller_name": action.caller_name,
                "answered_by": answered_by,
                "outcome": None if action.outcome is None else str(action.outcome),
            },
        )
        if not await self.bus.publish(event):
            log.warning("event_not_published", kind=event.kind.value, number=event.number)

    async def _voicemail(self, report: CallReport, box: str) -> None:
        """The message a caller left: a voicemail in their conversation, told to the team.

        The switch carries no media, so the audio link stays empty until the voicemail server
        hands it over; the item, its box and its length exist as soon as the call ends.
        """
        if report.number is None:
            return
        wall = self.clock.to_wall
        answered, ended = wall(report.answered_at), wall(report.ended_at)
        duration = ended - answered if answered is not None and ended is not None else None
        at = ended or time.time()
        async with self.database.session() as session:
            found = (
                await session.execute(
                    select(PhoneNumber.id, PhoneNumber.workspace_id, CallRecord.id)
                    .join(CallRecord, CallRecord.number_id == PhoneNumber.id)
                    .where(PhoneNumber.e164 == report.number, CallRecord.call_id == report.call_id)
                )
            ).first()
            if found is None:
                return
            number_id, workspace_id, record_id = found
            if await session.scalar(
                select(Voicemail.id).where(Voicemail.call_record_id == record_id)
            ):
                return  # already written (the record was saved twice)
            conversation = await conversation_for(
                session, number_id, report.caller, activity_at=datetime.fromtimestamp(at, UTC)
            )
            assert conversation is not None  # created when missing
            voicemail = Voicemail(
                conversation_id=conversation.id,
                call_record_id=record_id,
                box=box,
                duration=duration,
                created_at=datetime.fromtimestamp(at, UTC),
            )
            session.add(voicemail)
            await session.commit()
            voicemail_id = voicemail.id
        if self.bus is None:
            return
        event = InboxEvent(
            kind=EventKind.VOICEMAIL_CREATED,
            number=report.number,
            workspace_id=workspace_id,
            conversation_id=conversation.id,
            at=at,
            id=new_event_id(),
            payload={
                "voicemail_id": voicemail_id,
                "call_id": report.call_id,
                "caller": report.caller,
                "box": box,
                "duration": duration,
                "audio_url": None,
            },
        )
        if not await self.bus.publish(event):
            log.warning("event_not_published", kind=event.kind.value, number=event.number)

    def _summary(self, report: CallReport) -> CallSummary:
        wall = self.clock.to_wall
        return CallSummary(
            call_id=report.call_id,
            number=report.number,
            direction=report.direction,
            caller=report.caller,
            callee=report.callee,
            started_at=wall(report.started_at) or 0.0,
            answered_at=wall(report.answered_at),
            ended_at=wall(report.ended_at),
            outcome=None if report.outcome is None else str(report.outcome),
            answered_by=report.answered_by,
            legs=[
                LegSummary(
                    user_id=leg.user_id,
                    device_id=leg.device_id,
                    contact=leg.contact,
                    started_at=wall(leg.started_at) or 0.0,
                    answered_at=wall(leg.answered_at),
                    ended_at=wall(leg.ended_at),
                    status_code=leg.status_code,
                    outcome=str(leg.outcome),
                )
                for leg in report.legs
            ],
        )
