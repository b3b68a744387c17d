"""Drives a :class:`~sharedline.sip.transactions.TransactionLayer` from asyncio.

The pump of aioquic's ``QuicConnectionProtocol``: on bytes, call the core with
``now=loop.time()``, then flush — hand sends to the transports, events to the service — and re-arm
one timer at the core's next deadline. No SIP decisions are made here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import structlog

from ..events import (
    AckReceived,
    Address,
    Event,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    Transport,
)
from ..service import Action, Service
from ..transactions import TransactionLayer

__all__ = ["PacketSender", "SipEndpoint"]

log = structlog.get_logger(__name__)


class PacketSender(Protocol):
    """A transport adapter that can put bytes on the wire."""

    def send(self, data: bytes, destination: Address) -> None:
        """Send ``data``; failures are logged by the adapter, never raised."""
        ...


class SipEndpoint:
    """One SIP element: the transaction layer, the service above it, the transports below."""

    def __init__(
        self,
        layer: TransactionLayer,
        service: Service,
        *,
        on_actions: Callable[[list[Action]], None] | None = None,
    ) -> None:
        self.layer = layer
        self.service = service
        self.on_actions = on_actions
        self.transports: dict[Transport, PacketSender] = {}
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    def add_transport(self, name: Transport, sender: PacketSender) -> None:
        """Register the adapter that sends for ``name`` (one per transport)."""
        self.transports[name] = sender

    def receive(self, data: bytes, source: Address, transport: Transport) -> None:
        """Bytes from the network: a datagram or one framed stream message."""
        self.layer.receive(data, source, transport, self._loop.time())
        self.flush()

    def flush(self) -> None:
        """Send what the core produced, hand its events up, and re-arm the timer."""
        layer = self.layer
        while True:
            self._send_all(layer.take_sends())
            events = layer.take_events()
            if not events:
                break
            now = self._loop.time()
            for event in events:
                self._dispatch(event, now)
        actions = self.service.take_actions()
        if actions and self.on_actions is not None:
            self.on_actions(actions)
        self._arm_timer()

    def _dispatch(self, event: Event, now: float) -> None:
        if isinstance(event, MessageDropped):
            log.info(
                "sip_message_dropped",
                reason=event.reason,
                source=f"{event.source[0]}:{event.source[1]}",
                transport=event.transport,
                call_id=event.call_id,
            )
        with structlog.contextvars.bound_contextvars(call_id=_call_id(event)):
            try:
                self.service.handle(event, self.layer, now)
            except Exception:  # a bug above us must not stop the engine serving other calls
                log.exception("sip_service_failed", event=type(event).__name__)

    def _send_all(self, sends: list[SendMessage]) -> None:
        for send in sends:
            sender = self.transports.get(send.transport)
            if sender is None:
                log.warning("sip_no_transport", transport=send.transport)
                continue
            sender.send(send.data, send.destination)

    def _arm_timer(self) -> None:
        candidates = (self.layer.next_deadline(), self.service.next_deadline())
        deadlines = [d for d in candidates if d is not None]
        deadline = min(deadlines, default=None)
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self._loop.time()
        self.layer.handle_timer(now)
        with structlog.contextvars.bound_contextvars(call_id=None):
            try:
                self.service.handle_timer(self.layer, now)
            except Exception:  # as in _dispatch: keep serving
                log.exception("sip_service_timer_failed")
        self.flush()

    def close(self) -> None:
        """Stop the timer (transports are closed by their owners)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _call_id(event: Event) -> str | None:
    """The Call-ID an event is about, for the log context (already parsed: no extra cost)."""
    if isinstance(event, RequestReceived | AckReceived):
        return event.request.call_id
    if isinstance(event, ResponseReceived):
        return event.response.call_id
    return getattr(event, "call_id", None)
