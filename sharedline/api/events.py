"""Publishing live events from request handlers (``sharedline.inbox.events`` on the bus)."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from ..inbox.events import EventKind, InboxEvent, JSONValue, new_event_id
from ..store.accounts import Account, NumberAccess
from .state import ApiState

__all__ = ["emit"]

log = structlog.get_logger(__name__)


async def emit(
    state: ApiState,
    kind: EventKind,
    number: NumberAccess,
    account: Account | None,
    *,
    conversation_id: int | None = None,
    payload: Mapping[str, JSONValue] | None = None,
) -> InboxEvent:
    """Publish ``kind`` about ``number`` (after the change is committed); return the event.

    A bus that is down loses the live event, never the change: it is logged, and clients see
    the change on their next read.
    """
    event = InboxEvent(
        kind=kind,
        number=number.e164,
        workspace_id=account.workspace_id if account is not None else 0,
        conversation_id=conversation_id,
        at=state.clock().timestamp(),
        id=new_event_id(),
        payload=dict(payload or {}),
        actor_id=account.id if account is not None else None,
    )
    if not await state.bus.publish(event):
        log.warning("event_not_published", kind=kind.value, number=number.e164)
    return event
