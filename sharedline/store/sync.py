"""Between the switch and the store: its start-up state in, its actions out.

The switch keeps time on the event loop's monotonic clock; the store keeps wall-clock epoch
seconds. Conversions happen here, with one offset read when the adapter starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from ..sip.registrar import Binding
from ..sip.service import Action
from ..switch.records import CallReport, SaveBindings, SaveCall, SaveTurn
from .database import Database
from .flowstate import save_turn
from .repositories import (
    CallSummary,
    LegSummary,
    StoredBinding,
    load_bindings,
    save_bindings,
    save_call,
)

__all__ = ["ActionWriter", "load_switch_bindings"]

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


class ActionWriter:
    """Writes switch actions to the store in order, on one background task."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock
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
            case SaveTurn():
                await save_turn(self.database, action.rotation, action.user_id, action.turn)

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
