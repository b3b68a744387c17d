"""The transaction layer: bytes in, matched transactions, events up, messages out (RFC 3261 §17).

Theory of operation
-------------------
:class:`TransactionLayer` is sans-IO in the aioquic manner. Adapters feed it with
:meth:`~TransactionLayer.receive` (a datagram or one framed stream message, its source, the
transport and ``now``) and :meth:`~TransactionLayer.handle_timer`; the layer above calls
:meth:`~TransactionLayer.send_request`, :meth:`~TransactionLayer.respond` and
:meth:`~TransactionLayer.send_stateless`. After each call the adapter drains
:meth:`~TransactionLayer.take_sends` (to the network) and :meth:`~TransactionLayer.take_events`
(to the layer above) and re-arms one timer at :meth:`~TransactionLayer.next_deadline`.

Matching follows §17.1.3 (responses: top Via branch and CSeq method) and §17.2.3 (requests:
branch, sent-by and method, with ACK matching its INVITE; RFC 2543 fallback when the branch lacks
the magic cookie). An ACK for a 2xx has its own branch, so it is matched to the INVITE server
transaction by Call-ID, CSeq number and From tag, which stops the 2xx retransmissions.

Bad input never escapes: a malformed request gets a stateless 400 (or 505, 513) when it has a
Via to answer to, a malformed or stray response is dropped, and both are reported as
:class:`~sharedline.sip.events.MessageDropped`. Nothing is ever sent to a broadcast, multicast or
unspecified address (RFC 4475 §3.3.10).
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import itertools

from .errors import LocalProtocolError, ParseError
from .events import (
    AckReceived,
    Address,
    ClientKey,
    Event,
    MessageDropped,
    RequestReceived,
    SendMessage,
    ServerKey,
    Transport,
)
from .headers import Via, split_list
from .ids import MAGIC_COOKIE
from .message import Headers, Request, Response
from .parser import DEFAULT_LIMITS, Limits, parse_message
from .responses import make_response, response_for_error
from .timers import TimerSettings
from .transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Outbox,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
)

__all__ = ["TransactionLayer", "is_forbidden_destination", "server_key"]

_MAX_ERROR_RESPONSE = 4096
"""Largest stateless error response we send (bytes): no amplification, fits any datagram."""

_ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction
_ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction


def server_key(request: Request) -> ServerKey:
    """The server transaction a request belongs to (RFC 3261 §17.2.3).

    ACK maps to its INVITE; CANCEL keeps its own method (it is a transaction of its own).
    """
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        return ("3261", branch, via.host.lower(), str(via.port or ""), method)
    # RFC 2543 matching: Request-URI, From tag, Call-ID, CSeq number and top Via (§17.2.3).
    return (
        "2543",
        request.uri_text,
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.number),
        str(via),
        method,
    )


@functools.lru_cache(maxsize=4096)
def is_forbidden_destination(host: str) -> bool:
    """True for addresses a SIP element must never send to: broadcast, multicast, unspecified.

    Only the limited broadcast address is known to be one; a subnet's broadcast address depends
    on a netmask we do not know, and the kernel refuses those without SO_BROADCAST anyway.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (
        address.is_multicast
        or address.is_unspecified
        or address == ipaddress.IPv4Address("255.255.255.255")
    )


class TransactionLayer:
    """Every transaction of one SIP element, with their timers in one heap."""

    def __init__(
        self, *, timers: TimerSettings | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self.timers = timers or TimerSettings()
        self.limits = limits
        self._clients: dict[ClientKey, _ClientTransaction] = {}
        self._servers: dict[ServerKey, _ServerTransaction] = {}
        self._accepted: dict[tuple[str, int, str], ServerInviteTransaction] = {}
        self._heap: list[tuple[float, int, object]] = []
        self._sequence = itertools.count()
        self._outbox = Outbox()

    # -- outputs -------------------------------------------------------------------------------

    def take_sends(self) -> list[SendMessage]:
        """Messages to put on the wire, oldest first; the list is emptied.

        Sends to broadcast, multicast or unspecified addresses are removed here and reported as
        :class:`MessageDropped`: whatever a Via or Contact says, we never amplify to them.
        """
        sends, self._outbox.sends = self._outbox.sends, []
        allowed = []
        for send in sends:
            if is_forbidden_destination(send.destination[0]):
                self._drop(send.destination, send.transport, "refused to send to this address")
            else:
                allowed.append(send)
        return allowed

    def take_events(self) -> list[Event]:
        """Events for the layer above, oldest first; the list is emptied."""
        events, self._outbox.events = self._outbox.events, []
        return events

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` should next be called (it may be called earlier)."""
        heap = self._heap
        while heap and _is_stale(heap[0]):
            heapq.heappop(heap)  # a cancelled timer or an ended transaction: no wake-up for it
        return heap[0][0] if heap else None

    @property
    def transaction_count(self) -> int:
        """Live client plus server transactions."""
        return len(self._clients) + len(self._servers)

    # -- inputs from the network ---------------------------------------------------------------

    def receive(self, data: bytes, source: Address, transport: Transport, now: float) -> None:
        """Handle one datagram, or one message framed from a stream."""
        try:
            message = parse_message(data, stream=transport != "udp", limits=self.limits)
        except ParseError as error:
            self._reject_unparsable(data, error, source, transport)
            return
        if isinstance(message, Response):
            self._receive_response(message, source, transport, now)
        else:
            self._receive_request(message, source, transport, now)

    def _reject_unparsable(
        self, data: bytes, error: ParseError, source: Address, transport: Transport
    ) -> None:
        self._drop(source, transport, f"unparsable message: {error.message}")
        if data.lstrip(b"\r\n").startswith((b"SIP/", b"ACK ")):
            return  # a response is never answered, nor is an ACK (RFC 3261 §17.1.1.3)
        headers = _salvage_headers(data)
        if headers is not None and "via" in headers:
            response = response_for_error(Request("INVALID", "sip:invalid", headers), error)
            self._send_error(source, transport, bytes(response))

    def _receive_request(
        self, request: Request, source: Address, transport: Transport, now: float
    ) -> None:
        try:
            request.validate()
            key = server_key(request)
        except ParseError as error:
            self._drop(source, transport, f"invalid request: {error.message}")
            if request.method != "ACK" and "via" in request.headers:  # as _reject_unparsable
                self._send_error(source, transport, bytes(response_for_error(request, error)))
            return
        request = _stamp_received(request, source)
        existing = self._servers.get(key)
        if request.method == "ACK":
            self._receive_ack(request, key, existing, source, transport, now)
            return
        if existing is not None:
            existing.receive_request(request, now, self._outbox)  # a retransmission
            self._schedule(existing)
            return
        transaction: _ServerTransaction
        if request.method == "INVITE":
            transaction = ServerInviteTransaction(
                key, request, transport=transport, source=source, timers=self.timers
            )
            # RFC 3261 §17.2.1 / §16.2: answer 100 at once so the peer stops retransmitting.
            transaction.respond(make_response(request, 100), now, self._outbox)
        else:
            transaction = ServerNonInviteTransaction(
                key, request, transport=transport, source=source, timers=self.timers
            )
        self._servers[key] = transaction
        cancels = None
        if request.method == "CANCEL":
            invite_key = (*key[:-1], "INVITE")
            invite = self._servers.get(invite_key)
            cancels = invite_key if invite is not None and not invite.terminated else None
        self._outbox.events.append(
            RequestReceived(
                request=request,
                transaction=key,
                source=source,
                transport=transport,
                cancels=cancels,
            )
        )

    def _receive_ack(
        self,
        ack: Request,
        key: ServerKey,
        existing: _ServerTransaction | None,
        source: Address,
        transport: Transport,
        now: float,
    ) -> None:
        last = existing.last_response if existing is not None else None
        if existing is not None and last is not None and last.status_code >= 300:
            existing.receive_request(ack, now, self._outbox)  # the ACK for our non-2xx final
            self._schedule(existing)
            return
        accepted = self._accepted.get((ack.call_id, ack.cseq.number, ack.from_.tag or ""))
        if accepted is not None:
            accepted.receive_2xx_ack(now)
            self._schedule(accepted)
        self._outbox.events.append(
            AckReceived(
                request=ack,
                source=source,
                transport=transport,
                transaction=accepted.key if accepted is not None else None,
            )
        )

    def _receive_response(
        self, response: Response, source: Address, transport: Transport, now: float
    ) -> None:
        try:
            key = (response.top_via.branch or "", response.cseq.method)
            response.validate()
        except ParseError as error:
            self._drop(source, transport, f"invalid response: {error.message}")
            return
        transaction = self._clients.get(key)
        if transaction is None:
            self._drop(source, transport, "stray response", call_id=response.call_id)
            return
        transaction.receive_response(response, now, self._outbox)
        self._schedule(transaction)

    # -- inputs from the layer above -----------------------------------------------------------

    def send_request(
        self, request: Request, destination: Address, transport: Transport, now: float
    ) -> ClientKey:
        """Start a client transaction for ``request`` (its top Via carries our new branch)."""
        if request.method == "ACK":
            raise LocalProtocolError("ACK for a 2xx is sent with send_stateless (RFC 3261 §17)")
        branch = request.top_via.branch
        if not branch or not branch.startswith(MAGIC_COOKIE):
            raise LocalProtocolError(f"request needs an RFC 3261 branch, got {branch!r}")
        key = (branch, request.method)
        if key in self._clients:
            raise LocalProtocolError(f"a client transaction {key!r} already exists")
        cls = ClientInviteTransaction if request.method == "INVITE" else ClientNonInviteTransaction
        transaction = cls(
            key, request, transport=transport, destination=destination, timers=self.timers
        )
        self._clients[key] = transaction
        transaction.start(now, self._outbox)
        self._schedule(transaction)
        return key

    def respond(self, key: ServerKey, response: Response, now: float) -> bool:
        """Send ``response`` in server transaction ``key``; False when it no longer exists."""
        transaction = self._servers.get(key)
        if transaction is None or transaction.terminated:
            return False
        if not transaction.respond(response, now, self._outbox):
            return False
        if isinstance(transaction, ServerInviteTransaction) and response.is_success:
            request = transaction.request
            self._accepted[(request.call_id, request.cseq.number, request.from_.tag or "")] = (
                transaction
            )
        self._schedule(transaction)
        return True

    def send_stateless(
        self, message: Request | Response, destination: Address, transport: Transport
    ) -> None:
        """Send outside any transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4)."""
        self._send_to(destination, transport, bytes(message))

    def server_request(self, key: ServerKey) -> Request | None:
        """The request that created server transaction ``key``, while it lives."""
        transaction = self._servers.get(key)
        return transaction.request if transaction is not None else None

    # -- time ----------------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``; calling it early does nothing."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if _is_stale(entry):
                continue  # pushed before the transaction rescheduled, or a duplicate
            transaction = entry[2]
            assert isinstance(transaction, _ClientTransaction | _ServerTransaction)
            transaction.handle_timer(now, self._outbox)
            self._schedule(transaction)

    # -- internals -----------------------------------------------------------------------------

    def _schedule(self, transaction: _ClientTransaction | _ServerTransaction) -> None:
        if transaction.terminated:
            self._forget(transaction)
            return
        deadline = transaction.next_deadline()
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._sequence), transaction))

    def _forget(self, transaction: _ClientTransaction | _ServerTransaction) -> None:
        if isinstance(transaction, _ClientTransaction):
            self._clients.pop(transaction.key, None)
            return
        self._servers.pop(transaction.key, None)
        if isinstance(transaction, ServerInviteTransaction):
            request = transaction.request
            accepted_key = (request.call_id, request.cseq.number, request.from_.tag or "")
            if self._accepted.get(accepted_key) is transaction:
                del self._accepted[accepted_key]

    def _send_to(self, destination: Address, transport: Transport, data: bytes) -> None:
        self._outbox.sends.append(
            SendMessage(transport=transport, destination=destination, data=data)
        )

    def _send_error(self, destination: Address, transport: Transport, data: bytes) -> None:
        """A stateless error answer, unless it would be too big to send or to parse back.

        It copies the request's Via, From, To, Call-ID and CSeq, so a request with huge headers
        would have us reflect kilobytes at its (possibly forged) source: drop those instead.
        """
        if len(data) > _MAX_ERROR_RESPONSE:
            self._drop(destination, transport, "error answer too large to send; dropped")
            return
        self._send_to(destination, transport, data)

    def _drop(
        self, source: Address, transport: Transport, reason: str, call_id: str | None = None
    ) -> None:
        self._outbox.events.append(
            MessageDropped(source=source, transport=transport, reason=reason, call_id=call_id)
        )


def _is_stale(entry: tuple[float, int, object]) -> bool:
    """A heap entry that no longer is its transaction's next deadline (or the transaction ended)."""
    deadline, _, transaction = entry
    assert isinstance(transaction, _ClientTransaction | _ServerTransaction)
    return transaction.next_deadline() != deadline


def _stamp_received(request: Request, source: Address) -> Request:
    """Add ``received`` and fill ``rport`` on the top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    via = request.top_via
    wants_rport = "rport" in via.params and via.params.get("rport") is None
    if via.host == source[0] and not wants_rport:
        return request
    params = via.params.with_param("received", source[0])
    if wants_rport:
        params = params.with_param("rport", str(source[1]))
    stamped = str(
        Via(
            protocol=via.protocol,
            transport=via.transport,
            host=via.host,
            port=via.port,
            params=params,
        )
    )
    first_line = request.headers.get("via") or ""
    others = [part.strip(" \t") for part in split_list(first_line)[1:]]
    headers = request.headers.replaced_first("via", ", ".join([stamped, *others]))
    return request.replace(headers=headers)


def _salvage_headers(data: bytes) -> Headers | None:
    """The header lines of an unparsable request, if they can be read at all (for a 400)."""
    head, _, _ = data.lstrip(b"\r\n").partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "surrogateescape").split("\r\n")[1:]
    items = []
    for line in lines[:64]:
        name, colon, value = line.partition(":")
        if colon and name.strip() and "\r" not in value and "\n" not in value:
            items.append((name.strip(), value.strip()))
    return Headers(items) if items else None
