"""What the SIP core tells the layer above, and what it asks the transport to do.

Events are past-tense facts handed up by :class:`~sharedline.sip.transactions.TransactionLayer`;
:class:`SendMessage` is the one action handed down to the transport adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .message import Request, Response
from .timers import Timer

__all__ = [
    "AckReceived",
    "AckTimedOut",
    "Address",
    "ClientKey",
    "Event",
    "MessageDropped",
    "RequestReceived",
    "ResponseReceived",
    "SendMessage",
    "ServerKey",
    "TransactionEvent",
    "TransactionTimedOut",
    "Transport",
]

Transport = Literal["udp", "tcp", "tls"]
Address = tuple[str, int]
ServerKey = tuple[str, ...]
"""Identifies a server transaction (RFC 3261 §17.2.3)."""
ClientKey = tuple[str, str]
"""Identifies a client transaction: top Via branch and CSeq method (RFC 3261 §17.1.3)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendMessage:
    """Send ``data`` to ``destination`` over ``transport``."""

    transport: Transport
    destination: Address
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of the events of the SIP core."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived(Event):
    """A new request created a server transaction; answer it with ``respond(transaction, ...)``."""

    request: Request
    transaction: ServerKey
    source: Address
    transport: Transport
    cancels: ServerKey | None = None
    """For CANCEL: the INVITE transaction it matches (RFC 3261 §9.2), or None (answer 481)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AckReceived(Event):
    """An ACK for a 2xx (its own transaction, RFC 3261 §17.1.1.3), or a stray ACK."""

    request: Request
    source: Address
    transport: Transport
    transaction: ServerKey | None
    """The INVITE server transaction whose 2xx this ACK acknowledges, when known."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived(Event):
    """A response for a client transaction (retransmissions are absorbed, RFC 3261 §17.1)."""

    response: Response
    transaction: ClientKey


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTimedOut(Event):
    """A client transaction got no final response in time (Timer B or F): act as on 408."""

    transaction: ClientKey
    timer: Timer


@dataclass(frozen=True, slots=True, kw_only=True)
class AckTimedOut(Event):
    """No ACK came for a final response: Timer H (non-2xx) or L (2xx: send BYE, §13.3.1.4)."""

    transaction: ServerKey
    timer: Timer


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDropped(Event):
    """Bytes that were not acted on: malformed, stray or refused. ``reason`` says why."""

    source: Address
    transport: Transport
    reason: str
    call_id: str | None = None


TransactionEvent = (
    RequestReceived
    | AckReceived
    | ResponseReceived
    | TransactionTimedOut
    | AckTimedOut
    | MessageDropped
)
