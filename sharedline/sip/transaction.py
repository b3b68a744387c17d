"""The four transaction state machines of RFC 3261 §17, with RFC 6026's Accepted state.

Theory of operation
-------------------
A transaction is a request and every response to it. Each machine below follows one figure of
RFC 3261 (client INVITE: Figure 5; client non-INVITE: Figure 6; server INVITE: Figure 7 as
amended by RFC 6026 Figure 5; server non-INVITE: Figure 8). Machines never read a clock: timers
are absolute deadlines in ``self.deadlines`` that :class:`~sharedline.sip.transactions.
TransactionLayer` compares with the ``now`` it is given, calling :meth:`handle_timer` for the
ones that are due. Output goes into an :class:`Outbox`: messages to send and events for the
layer above. Retransmissions over UDP are the machines' job; over TCP and TLS the timers that
only absorb retransmissions are zero (§17.1.1.2, §17.2.1).

    client INVITE     CALLING --1xx--> PROCEEDING --2xx--> ACCEPTED --M--> TERMINATED
                         |  \\____________ 300-699, ACK ____--> COMPLETED --D--> TERMINATED
                         +--B--> TERMINATED (timeout)
    client non-INVITE TRYING --1xx--> PROCEEDING --final--> COMPLETED --K--> TERMINATED
                         +--F--> TERMINATED (timeout)
    server INVITE     PROCEEDING --2xx--> ACCEPTED --ACK or L--> TERMINATED
                         +--300-699--> COMPLETED --ACK--> CONFIRMED --I--> TERMINATED
                                          +--H--> TERMINATED (no ACK)
    server non-INVITE TRYING --1xx--> PROCEEDING --final--> COMPLETED --J--> TERMINATED
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .events import (
    AckTimedOut,
    Address,
    ClientKey,
    Event,
    ResponseReceived,
    SendMessage,
    ServerKey,
    TransactionTimedOut,
    Transport,
)
from .headers import split_list
from .message import Request, Response
from .timers import Timer, TimerSettings

__all__ = [
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "Outbox",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "TransactionState",
    "build_non_2xx_ack",
]


class TransactionState(enum.Enum):
    """States named as in RFC 3261 §17 and RFC 6026."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


@dataclass(slots=True)
class Outbox:
    """What machines produce while handling one input."""

    sends: list[SendMessage] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class _Transaction:
    """What every machine shares: where it talks to, its timers and its state."""

    def __init__(
        self, *, transport: Transport, peer: Address, timers: TimerSettings, state: TransactionState
    ) -> None:
        self.transport = transport
        self.peer = peer
        self.timers = timers
        self.reliable = transport != "udp"
        self.state = state
        self.deadlines: dict[Timer, float] = {}

    @property
    def terminated(self) -> bool:
        return self.state is TransactionState.TERMINATED

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values(), default=None)

    def _send(self, outbox: Outbox, data: bytes) -> None:
        outbox.sends.append(SendMessage(transport=self.transport, destination=self.peer, data=data))

    def _terminate(self) -> None:
        self.state = TransactionState.TERMINATED
        self.deadlines.clear()

    def _absorb_for(self, unreliable: float) -> float:
        """Timers D, I, J and K: wait on UDP, zero on reliable transports."""
        return 0.0 if self.reliable else unreliable

    def handle_timer(self, now: float, outbox: Outbox) -> None:
        for timer, deadline in sorted(self.deadlines.items(), key=lambda item: item[1]):
            if deadline <= now and self.deadlines.get(timer) == deadline:
                del self.deadlines[timer]
                self._fire(timer, now, outbox)

    def _fire(self, timer: Timer, now: float, outbox: Outbox) -> None:
        raise NotImplementedError


class _ClientTransaction(_Transaction):
    """What both client machines share: sending the request and its two timers."""

    INITIAL_STATE: TransactionState
    RETRANSMIT: Timer
    TIMEOUT: Timer

    def __init__(
        self,
        key: ClientKey,
        request: Request,
        *,
        transport: Transport,
        destination: Address,
        timers: TimerSettings,
    ) -> None:
        super().__init__(
            transport=transport, peer=destination, timers=timers, state=self.INITIAL_STATE
        )
        self.key = key
        self.request = request
        self._data = bytes(request)
        self._interval = timers.t1

    def start(self, now: float, outbox: Outbox) -> None:
        """Send the request; arm Timer A/E (UDP only) and Timer B/F (§17.1.1.2, §17.1.2.2)."""
        self._send(outbox, self._data)
        if not self.reliable:
            self.deadlines[self.RETRANSMIT] = now + self._interval
        self.deadlines[self.TIMEOUT] = now + self.timers.timeout


class ClientInviteTransaction(_ClientTransaction):
    """RFC 3261 §17.1.1 (Figure 5) with RFC 6026 §7.2 (Accepted state)."""

    INITIAL_STATE = TransactionState.CALLING
    RETRANSMIT = Timer.A
    TIMEOUT = Timer.B
    _ack: bytes | None = None

    def receive_response(self, response: Response, now: float, outbox: Outbox) -> None:
        state = self.state
        status = response.status_code
        if state in (TransactionState.CALLING, TransactionState.PROCEEDING):
            self.deadlines.pop(Timer.A, None)
            if status < 200:
                self.state = TransactionState.PROCEEDING
                self.deadlines.pop(Timer.B, None)  # §17.1.1.2: B only runs in Calling
            elif status < 300:
                self.state = TransactionState.ACCEPTED
                self.deadlines = {Timer.M: now + self.timers.timeout}
            else:
                self._ack = bytes(build_non_2xx_ack(self.request, response))
                self._send(outbox, self._ack)
                self.state = TransactionState.COMPLETED
                self.deadlines = {Timer.D: now + self._absorb_for(32.0)}
            outbox.events.append(ResponseReceived(response=response, transaction=self.key))
        elif state is TransactionState.ACCEPTED and 200 <= status < 300:
            # RFC 6026 §8.4: retransmitted or forked 2xx go to the TU, which ACKs them.
            outbox.events.append(ResponseReceived(response=response, transaction=self.key))
        elif state is TransactionState.COMPLETED and status >= 300 and self._ack is not None:
            self._send(outbox, self._ack)  # §17.1.1.2: ACK every retransmitted final

    def _fire(self, timer: Timer, now: float, outbox: Outbox) -> None:
        if timer is Timer.A and self.state is TransactionState.CALLING:
            self._send(outbox, self._data)
            self._interval *= 2  # §17.1.1.2: A doubles each time, with no T2 cap for INVITE
            self.deadlines[Timer.A] = now + self._interval
        elif timer is Timer.B and self.state is TransactionState.CALLING:
            self._terminate()
            outbox.events.append(TransactionTimedOut(transaction=self.key, timer=Timer.B))
        elif timer in (Timer.D, Timer.M):
            self._terminate()


class ClientNonInviteTransaction(_ClientTransaction):
    """RFC 3261 §17.1.2 (Figure 6)."""

    INITIAL_STATE = TransactionState.TRYING
    RETRANSMIT = Timer.E
    TIMEOUT = Timer.F

    def receive_response(self, response: Response, now: float, outbox: Outbox) -> None:
        if self.state not in (TransactionState.TRYING, TransactionState.PROCEEDING):
            return  # Completed: absorb retransmissions (§17.1.2.2)
        if response.status_code < 200:
            self.state = TransactionState.PROCEEDING
        else:
            self.state = TransactionState.COMPLETED
            self.deadlines = {Timer.K: now + self._absorb_for(self.timers.t4)}
        outbox.events.append(ResponseReceived(response=response, transaction=self.key))

    def _fire(self, timer: Timer, now: float, outbox: Outbox) -> None:
        if timer is Timer.E and self.state in (
            TransactionState.TRYING,
            TransactionState.PROCEEDING,
        ):
            self._send(outbox, self._data)
            # §17.1.2.2: E doubles up to T2 in Trying, and is T2 in Proceeding.
            if self.state is TransactionState.TRYING:
                self._interval = min(2 * self._interval, self.timers.t2)
            else:
                self._interval = self.timers.t2
            self.deadlines[Timer.E] = now + self._interval
        elif (
            timer is Timer.F
            and not self.terminated
            and self.state is not TransactionState.COMPLETED
        ):
            self._terminate()
            outbox.events.append(TransactionTimedOut(transaction=self.key, timer=Timer.F))
        elif timer is Timer.K:
            self._terminate()


class _ServerTransaction(_Transaction):
    """What both server machines share: the request, where it came from, the last answer."""

    INITIAL_STATE: TransactionState

    def __init__(
        self,
        key: ServerKey,
        request: Request,
        *,
        transport: Transport,
        source: Address,
        timers: TimerSettings,
    ) -> None:
        super().__init__(transport=transport, peer=source, timers=timers, state=self.INITIAL_STATE)
        self.key = key
        self.request = request
        self.last_response: Response | None = None
        self._last_data: bytes | None = None
        self._interval = timers.t1


class ServerInviteTransaction(_ServerTransaction):
    """RFC 3261 §17.2.1 (Figure 7) with RFC 6026 §7.1 (Accepted state).

    In Accepted this machine also retransmits the 2xx until an ACK arrives (§13.3.1.4), so that
    every retransmission of the SIP core lives in one place.
    """

    INITIAL_STATE = TransactionState.PROCEEDING

    def receive_request(self, request: Request, now: float, outbox: Outbox) -> None:
        """A retransmitted INVITE, or an ACK for a non-2xx final response."""
        if request.method == "ACK":
            if self.state is TransactionState.COMPLETED:
                self.state = TransactionState.CONFIRMED
                self.deadlines = {Timer.I: now + self._absorb_for(self.timers.t4)}
            return
        proceeding = self.state in (TransactionState.PROCEEDING, TransactionState.COMPLETED)
        if proceeding and self._last_data is not None:
            self._send(outbox, self._last_data)

    def receive_2xx_ack(self, now: float) -> None:
        """The ACK for our 2xx arrived: stop retransmitting it (§13.3.1.4)."""
        if self.state is TransactionState.ACCEPTED:
            self.deadlines.pop(Timer.G, None)

    def respond(self, response: Response, now: float, outbox: Outbox) -> bool:
        """Send ``response``; False when this state takes no response (it is not sent)."""
        if self.state is TransactionState.ACCEPTED and response.is_success:
            self._send(outbox, bytes(response))  # RFC 6026 §7.1, Figure 7: further 2xx go out
            return True
        if self.state is not TransactionState.PROCEEDING:
            return False  # RFC 3261 §17.2.1: nothing follows a non-2xx final response
        self.last_response = response
        self._last_data = bytes(response)
        self._send(outbox, self._last_data)
        status = response.status_code
        if status < 200:
            return True
        self._interval = self.timers.t1
        if status < 300:
            self.state = TransactionState.ACCEPTED
            self.deadlines = {Timer.G: now + self._interval, Timer.L: now + self.timers.timeout}
        else:
            self.state = TransactionState.COMPLETED
            self.deadlines = {Timer.H: now + self.timers.timeout}
            if not self.reliable:
                self.deadlines[Timer.G] = now + self._interval
        return True

    def _fire(self, timer: Timer, now: float, outbox: Outbox) -> None:
        if timer is Timer.G and self._last_data is not None:
            if self.state in (TransactionState.COMPLETED, TransactionState.ACCEPTED):
                self._send(outbox, self._last_data)
                self._interval = min(2 * self._interval, self.timers.t2)
                self.deadlines[Timer.G] = now + self._interval
        elif timer is Timer.H and self.state is TransactionState.COMPLETED:
            self._terminate()
            outbox.events.append(AckTimedOut(transaction=self.key, timer=Timer.H))
        elif timer is Timer.L and self.state is TransactionState.ACCEPTED:
            acked = Timer.G not in self.deadlines
            self._terminate()
            if not acked:
                outbox.events.append(AckTimedOut(transaction=self.key, timer=Timer.L))
        elif timer is Timer.I:
            self._terminate()


class ServerNonInviteTransaction(_ServerTransaction):
    """RFC 3261 §17.2.2 (Figure 8)."""

    INITIAL_STATE = TransactionState.TRYING

    def receive_request(self, request: Request, now: float, outbox: Outbox) -> None:
        """A retransmission: silent in Trying, answered with the last response afterwards."""
        if self._last_data is not None and not self.terminated:
            self._send(outbox, self._last_data)

    def respond(self, response: Response, now: float, outbox: Outbox) -> bool:
        """Send ``response``; False once a final response went out (it is not sent)."""
        if self.state not in (TransactionState.TRYING, TransactionState.PROCEEDING):
            return False
        self.last_response = response
        self._last_data = bytes(response)
        self._send(outbox, self._last_data)
        if response.status_code < 200:
            self.state = TransactionState.PROCEEDING
        else:
            self.state = TransactionState.COMPLETED
            self.deadlines = {Timer.J: now + self._absorb_for(self.timers.timeout)}
        return True

    def _fire(self, timer: Timer, now: float, outbox: Outbox) -> None:
        if timer is Timer.J:
            self._terminate()


def build_non_2xx_ack(request: Request, response: Response) -> Request:
    """The ACK a client transaction sends for a 300-699 response (RFC 3261 §17.1.1.3).

    Same Request-URI, Call-ID, From, CSeq number and top Via as the INVITE; To from the response
    (with its tag); Route copied from the INVITE.
    """
    lines: list[tuple[str, str]] = []
    top_via = request.headers.get("via")
    if top_via is not None:
        lines.append(("Via", split_list(top_via)[0].strip(" \t")))
    for name in ("Max-Forwards", "From"):
        value = request.headers.get(name)
        if value is not None:
            lines.append((name, value))
    lines.append(("To", response.headers.get("to") or ""))
    lines.append(("Call-ID", request.headers.get("call-id") or ""))
    lines.append(("CSeq", f"{request.cseq.number} ACK"))
    lines.extend(("Route", value) for value in request.headers.get_all("route"))
    lines.append(("Content-Length", "0"))
    return Request("ACK", request.uri_text, lines)
