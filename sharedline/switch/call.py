r"""One call through the switch: an A-leg from the caller and B-legs to the callees (sans-IO).

Theory of operation
-------------------
A :class:`Call` is a back-to-back user agent for one INVITE (DESIGN.md "One inbound call"). The
A-leg is the server transaction of the caller's INVITE; each B-leg is a client INVITE of our own,
with its own Call-ID, sent to one registered contact (inbound) or to the carrier (outbound). The
legs only talk through this object, in call-control terms:

    ringing   the first provisional on any B-leg    -> one 180 to the caller (never 183: the
              early media of one member's phone must not become the caller's audio)
    answered  the first 2xx on a B-leg wins         -> 200 to the caller with that leg's SDP,
              ACK the winner, CANCEL every other leg with Reason cause=200 "Call completed
              elsewhere" and Q.850 cause 26; a later 2xx on another leg gets ACK then BYE
    failed    a leg's 3xx-6xx or timeout ends that leg only
    wave over every leg of the current wave has ended unanswered, or the wave's timeout
              passed: the call reports the wave's outcome (``no_answer``, ``busy``,
              ``declined``, ``failed``) through :meth:`Call.take_wave_outcome`, and its owner
              (the switch, running the call flow) rings the next wave or :meth:`Call.finish`\es
              the call (480 for inbound calls, never 486)
    cancelled the caller's CANCEL: 487 to the caller, CANCEL every leg without cause=200, so
              the members' phones log a missed call
    hung up   a BYE from either side ends both; other in-dialog requests (re-INVITE, UPDATE,
              INFO, OPTIONS) are relayed to the other side and their answers relayed back

Waves come from the call flow (:mod:`sharedline.callflows`): :meth:`Call.ring` is given the
complete set of targets that should ring now, by key (a member's email); legs of keys still
named keep ringing (cumulative strategies), legs of keys no longer named are cancelled (their
turn is over), new keys get new legs.

A CANCEL goes out on a leg only after the leg sent a provisional (RFC 3261 §9.1); a leg asked to
stop earlier is cancelled when its first provisional arrives, and a leg with no final response
64*T1 after our CANCEL is given up (§9.1). The call is ``finished`` when the caller has its final
answer and every leg has ended; the switch then forgets it and saves its record.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..sip.dialog import Dialog, DialogId, build_cancel
from ..sip.errors import ProtocolError
from ..sip.events import Address, ClientKey, ServerKey, Transport
from ..sip.headers import NameAddress
from ..sip.ids import IdSource
from ..sip.message import Request, Response
from ..sip.params import quote
from ..sip.responses import make_response, response_for_error
from ..sip.transactions import TransactionLayer
from ..sip.uri import SipUri
from .outbound import authorization_header
from .records import CallOutcome, CallReport, LegOutcome, LegReport

__all__ = ["COMPLETED_ELSEWHERE", "Call", "CallRoutes", "LocalAddress", "Side", "Target"]

Side = Literal["a", "b"]

# RFC 3326: why a losing leg is cancelled; phones show "answered elsewhere", not a missed call.
COMPLETED_ELSEWHERE = ('SIP;cause=200;text="Call completed elsewhere"', "Q.850;cause=26")

_LEG_OUTCOMES = {486: LegOutcome.BUSY, 600: LegOutcome.BUSY, 603: LegOutcome.DECLINED}
_NO_ANSWER = frozenset({408, 480})


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalAddress:
    """Where we listen on one transport: for our Via and Contact."""

    transport: Transport
    host: str
    port: int

    @property
    def contact(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"<sip:sharedline@{host}:{self.port};transport={self.transport}>"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One contact to ring, and who it belongs to."""

    uri: SipUri
    destination: Address
    transport: Transport
    user_id: int | None = None
    device_id: int | None = None


class CallRoutes(Protocol):
    """How a call tells the switch which transactions and dialogs are its own."""

    def bind_client(self, key: ClientKey, call: Call) -> None: ...

    def bind_dialog(self, dialog_id: DialogId, call: Call, side: Side) -> None: ...


class LegState(enum.Enum):
    CALLING = "calling"
    PROCEEDING = "proceeding"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(eq=False, slots=True)
class Leg:
    """A B-leg: the INVITE we sent to one target, and what became of it."""

    target: Target
    request: Request
    key: ClientKey
    started_at: float
    state: LegState = LegState.CALLING
    cancel_with: tuple[str, ...] | None = None
    """Set when the leg must be cancelled as soon as it sends a provisional."""
    give_up_at: float | None = None
    """64*T1 after our CANCEL: end the leg then if it never sent its final (§9.1)."""
    outcome: LegOutcome = LegOutcome.RINGING
    status_code: int | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    dialog: Dialog | None = None
    authenticated: bool = False
    member_key: str = ""
    """The ring target this leg is for (a member's email), for waves to keep or stop it."""
    wave: int = 0

    def report(self) -> LegReport:
        return LegReport(
            user_id=self.target.user_id,
            device_id=self.target.device_id,
            contact=str(self.target.uri),
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            status_code=self.status_code,
            outcome=self.outcome,
        )


@dataclass(slots=True)
class _Relay:
    """An in-dialog request relayed from one side to the other, awaiting its answer."""

    server_key: ServerKey
    request: Request
    from_side: Side


@dataclass(eq=False)
class Call:
    """The B2BUA state of one call."""

    ids: IdSource
    routes: CallRoutes
    locals: dict[Transport, LocalAddress]
    a_request: Request
    a_key: ServerKey
    a_source: Address
    a_transport: Transport
    direction: Literal["inbound", "outbound"]
    number: str | None
    caller: str
    callee: str
    started_at: float
    a_tag: str = ""
    legs: list[Leg] = field(default_factory=list)
    a_final: int | None = None
    a_dialog: Dialog | None = None
    winner: Leg | None = None
    ringing_sent: bool = False
    from_header: str = ""
    """The From of our B-legs, without its tag."""
    extra_headers: tuple[tuple[str, str], ...] = ()
    wave: int = 0
    wave_deadline: float | None = None
    wave_settled: bool = True
    """The current wave has its outcome (or there is none yet)."""
    wave_outcome: str | None = None
    wave_status: int | None = None
    """The final status of the leg that ended last, for outbound calls' callers."""
    decline_group: bool = False
    voicemail: bool = False
    """The current wave rings a voicemail server: its answer makes the call ``voicemail``."""
    voicemail_box: str | None = None
    outcome: CallOutcome | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    trunk_credentials: tuple[str, str, str] | None = None
    """(username, realm, HA1) for answering a carrier's 401/407 on an outbound leg."""
    _relays: dict[ClientKey, _Relay] = field(default_factory=dict)
    _pending_acks: dict[int, Side] = field(default_factory=dict)

    def __hash__(self) -> int:
        return id(self)

    def __post_init__(self) -> None:
        self.a_tag = self.ids.tag()

    # -- state ---------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The caller has its answer and no leg or relay is outstanding."""
        legs_done = all(leg.state is LegState.ENDED for leg in self.legs)
        return self.ended_at is not None and legs_done and not self._relays

    @property
    def deadline(self) -> float | None:
        """The ring timeout while the caller waits, or the first cancelled leg to give up on."""
        deadlines = [
            leg.give_up_at
            for leg in self.legs
            if leg.give_up_at is not None and leg.state is not LegState.ENDED
        ]
        if self.a_final is None and not self.wave_settled and self.wave_deadline is not None:
            deadlines.append(self.wave_deadline)
        return min(deadlines, default=None)

    def report(self) -> CallReport:
        """The call record as it stands."""
        return CallReport(
            call_id=self.a_request.call_id,
            number=self.number,
            direction=self.direction,
            caller=self.caller,
            callee=self.callee,
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            outcome=self.outcome,
            answered_by=self.winner.target.user_id if self.winner is not None else None,
            legs=tuple(leg.report() for leg in self.legs),
            voicemail_box=self.voicemail_box if self.outcome is CallOutcome.VOICEMAIL else None,
        )

    # -- starting --------------------------------------------------------------------------------

    def ring(
        self,
        wave: list[tuple[str, list[Target]]],
        timeout: float,
        layer: TransactionLayer,
        now: float,
        *,
        decline_group: bool = False,
        voicemail: bool = False,
    ) -> None:
        """Ring exactly ``wave`` (keys and their contacts) for ``timeout`` seconds.

        Legs of keys still named keep ringing; the others are cancelled; new keys get one INVITE
        per contact. A wave with nothing to ring is over at once: ``failed``.
        """
        if self.a_final is not None:
            return
        self.wave += 1
        self.wave_settled = False
        self.wave_outcome = None
        self.wave_deadline = now + timeout
        self.decline_group = decline_group
        self.voicemail = voicemail
        wanted = {key for key, _ in wave}
        ringing: set[str] = set()
        for leg in self.legs:
            if leg.state in (LegState.CALLING, LegState.PROCEEDING) and leg.cancel_with is None:
                if leg.member_key in wanted:
                    leg.wave = self.wave
                    ringing.add(leg.member_key)
                else:  # their turn is over
                    self._stop_leg(leg, (), LegOutcome.NO_ANSWER, layer, now)
        max_forwards = self.a_request.max_forwards
        forwards = str(max(0, (70 if max_forwards is None else max_forwards) - 1))
        for key, targets in wave:
            if key in ringing:
                continue
            for target in targets:
                tagged = f"{self.from_header};tag={self.ids.tag()}"
                leg = self._send_leg(target, layer, now, tagged, forwards, self.extra_headers)
                leg.member_key = key
                leg.wave = self.wave
        if not any(leg.wave == self.wave for leg in self.legs):
            self._settle_wave("failed", None)

    def take_wave_outcome(self) -> str | None:
        """The outcome of the wave that just ended, once; None while it rings."""
        outcome, self.wave_outcome = self.wave_outcome, None
        return outcome

    def finish(
        self, layer: TransactionLayer, now: float, status: int = 480, reason: str | None = None
    ) -> None:
        """End the unanswered call: ``status`` (and ``reason``) to the caller, stop every leg."""
        if self.a_final is None:
            self._finish_unanswered(layer, now, status, LegOutcome.NO_ANSWER, reason)

    def _settle_wave(self, outcome: str, status: int | None) -> None:
        self.wave_settled = True
        self.wave_outcome = outcome
        self.wave_status = status

    def _send_leg(
        self,
        target: Target,
        layer: TransactionLayer,
        now: float,
        from_header: str,
        max_forwards: str,
        extra_headers: tuple[tuple[str, str], ...],
        authorization: tuple[str, str] | None = None,
        call_id: str | None = None,
        cseq: int = 1,
    ) -> Leg:
        local = self.locals[target.transport]
        a = self.a_request
        headers: list[tuple[str, str]] = [
            (
                "Via",
                f"SIP/2.0/{target.transport.upper()} {_host(local)}:{local.port}"
                f";branch={self.ids.branch()};rport",
            ),
            ("Max-Forwards", max_forwards),
            ("From", from_header),
            ("To", f"<{target.uri.without_headers()}>"),
            ("Call-ID", call_id or self.ids.call_id()),
            ("CSeq", f"{cseq} INVITE"),
            ("Contact", local.contact),
            ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"),
            *extra_headers,
        ]
        if authorization is not None:
            headers.append(authorization)
        content_type = a.headers.get("content-type")
        if content_type is not None and a.body:
            headers.append(("Content-Type", content_type))
        headers.append(("Content-Length", str(len(a.body))))
        request = Request("INVITE", target.uri.without_headers(), headers, a.body)
        key = layer.send_request(request, target.destination, target.transport, now)
        leg = Leg(target=target, request=request, key=key, started_at=now)
        self.legs.append(leg)
        self.routes.bind_client(key, self)
        return leg

    # -- responses on B-legs ---------------------------------------------------------------------

    def on_response(
        self, key: ClientKey, response: Response, layer: TransactionLayer, now: float
    ) -> None:
        """A response to one of our client transactions."""
        relay = self._relays.get(key)
        if relay is not None:
            self._relay_response(key, relay, response, layer, now)
            return
        leg = next((leg for leg in self.legs if leg.key == key), None)
        if leg is None or key[1] != "INVITE":
            return  # the 200 to a CANCEL or to our BYE: nothing to do
        status = response.status_code
        if status < 200:
            self._leg_provisional(leg, response, layer, now)
        elif status < 300:
            self._leg_answered(leg, response, layer, now)
        else:
            self._leg_failed(leg, response, layer, now)

    def _leg_provisional(
        self, leg: Leg, response: Response, layer: TransactionLayer, now: float
    ) -> None:
        if leg.state is LegState.CALLING:
            leg.state = LegState.PROCEEDING
            if leg.cancel_with is not None:
                self._send_cancel(leg, leg.cancel_with, layer, now)
                return
        elif leg.state is not LegState.PROCEEDING or leg.cancel_with is not None:
            return
        # a 100 Trying (most phones send one) must not swallow the 180 that follows it
        if response.status_code == 100 or self.a_final is not None:
            return
        if self.direction == "outbound":
            # one leg only: its provisionals (and early media) are the caller's to hear
            self._respond_a(layer, now, response.status_code, response.reason, body=response)
        elif not self.ringing_sent:
            self.ringing_sent = True
            self._respond_a(layer, now, 180)

    def _leg_answered(
        self, leg: Leg, response: Response, layer: TransactionLayer, now: float
    ) -> None:
        if leg is self.winner:
            if leg.dialog is not None:  # a retransmitted 2xx: ACK it again (§13.2.2.4)
                self._send_ack(leg, leg.dialog, layer)
            return
        try:
            dialog = Dialog.from_uac(
                leg.request, response, local_contact=self.locals[leg.target.transport].contact
            )
        except ProtocolError:
            dialog = None
        if dialog is not None:
            self._send_ack(leg, dialog, layer)
        if self.winner is not None or self.a_final is not None or dialog is None:
            # a second 2xx (another member answered too), or the caller is gone: ACK then BYE
            if dialog is not None:
                self._send_in_dialog(dialog, "BYE", leg.target, layer, now)
            leg.state = LegState.ENDED
            leg.status_code = response.status_code
            leg.outcome = LegOutcome.COMPLETED_ELSEWHERE if self.winner else LegOutcome.CANCELLED
            leg.ended_at = now
            return
        leg.state = LegState.ANSWERED
        leg.dialog = dialog
        leg.status_code = response.status_code
        leg.outcome = LegOutcome.ANSWERED
        leg.answered_at = now
        self.winner = leg
        self.answered_at = now
        self.outcome = CallOutcome.VOICEMAIL if self.voicemail else CallOutcome.ANSWERED
        self.routes.bind_dialog(dialog.id, self, "b")
        self._answer_a(response, layer, now)
        for other in self.legs:
            if other is not leg and other.state in (LegState.CALLING, LegState.PROCEEDING):
                self._stop_leg(
                    other, COMPLETED_ELSEWHERE, LegOutcome.COMPLETED_ELSEWHERE, layer, now
                )

    def _leg_failed(
        self, leg: Leg, response: Response, layer: TransactionLayer, now: float
    ) -> None:
        status = response.status_code
        if (
            status in (401, 407)
            and not leg.authenticated
            and self._retry_with_credentials(leg, response, layer, now)
        ):
            return
        if leg.state is LegState.ENDED:
            return
        leg.state = LegState.ENDED
        leg.status_code = status
        leg.ended_at = now
        if leg.outcome is LegOutcome.RINGING:
            leg.outcome = (
                LegOutcome.NO_ANSWER
                if status in _NO_ANSWER
                else _LEG_OUTCOMES.get(status, LegOutcome.FAILED)
            )
            if leg.outcome is LegOutcome.DECLINED and self.decline_group and not self.wave_settled:
                # decline_scope: group: one member's decline stops the whole ring step
                for other in self.legs:
                    if other.state in (LegState.CALLING, LegState.PROCEEDING):
                        self._stop_leg(other, (), LegOutcome.CANCELLED, layer, now)
                self._settle_wave("declined", status)
                return
        self._after_leg_ended(layer, now, status)

    def on_timeout(self, key: ClientKey, layer: TransactionLayer, now: float) -> None:
        """Timer B/F fired for one of our transactions: as if it answered 408 (§16.7)."""
        relay = self._relays.pop(key, None)
        if relay is not None:
            layer.respond(
                relay.server_key, make_response(relay.request, 408, to_tag=self.a_tag), now
            )
            return
        leg = next((leg for leg in self.legs if leg.key == key), None)
        if leg is None or leg.state is LegState.ENDED:
            return
        leg.state = LegState.ENDED
        leg.status_code = 408
        leg.ended_at = now
        if leg.outcome is LegOutcome.RINGING:
            leg.outcome = LegOutcome.NO_ANSWER
        self._after_leg_ended(layer, now, 408)

    def _after_leg_ended(self, layer: TransactionLayer, now: float, status: int) -> None:
        if self.a_final is not None or self.wave_settled:
            return
        wave = [leg for leg in self.legs if leg.wave == self.wave]
        if any(leg.state is not LegState.ENDED for leg in wave):
            return
        self._settle_wave(_wave_outcome(leg.outcome for leg in wave), status)

    # -- the caller's side -----------------------------------------------------------------------

    def on_cancel(self, layer: TransactionLayer, now: float) -> None:
        """The caller hung up while ringing (RFC 3261 §9.2): 487, and stop every leg."""
        if self.a_final is not None:
            return
        self._finish_unanswered(layer, now, 487)

    def handle_timer(self, layer: TransactionLayer, now: float) -> None:
        """The wave's timeout (nobody answered in time), or cancelled legs that never ended."""
        for leg in self.legs:
            if (
                leg.give_up_at is not None
                and now >= leg.give_up_at
                and leg.state is not LegState.ENDED
            ):
                # RFC 3261 §9.1: no final response 64*T1 after the CANCEL: the INVITE is over
                leg.state = LegState.ENDED
                leg.ended_at = now
        if (
            self.a_final is None
            and not self.wave_settled
            and self.wave_deadline is not None
            and now >= self.wave_deadline
        ):
            self._settle_wave("no_answer", 480)

    def _finish_unanswered(
        self,
        layer: TransactionLayer,
        now: float,
        status: int,
        ringing: LegOutcome = LegOutcome.CANCELLED,
        reason: str | None = None,
    ) -> None:
        """``status`` to the caller; legs still ringing stop, as ``ringing`` for the record."""
        self._respond_a(layer, now, status, reason)
        self.outcome = CallOutcome.MISSED if self.direction == "inbound" else CallOutcome.FAILED
        self.ended_at = now
        for leg in self.legs:
            if leg.state in (LegState.CALLING, LegState.PROCEEDING):
                self._stop_leg(leg, (), ringing, layer, now)

    def _stop_leg(
        self,
        leg: Leg,
        reasons: tuple[str, ...],
        outcome: LegOutcome,
        layer: TransactionLayer,
        now: float,
    ) -> None:
        if leg.cancel_with is not None:
            return  # already being stopped
        leg.outcome = outcome
        leg.cancel_with = reasons
        if leg.state is LegState.PROCEEDING:
            self._send_cancel(leg, reasons, layer, now)
        # a leg still CALLING is cancelled when its first provisional arrives (§9.1)

    def _send_cancel(
        self, leg: Leg, reasons: tuple[str, ...], layer: TransactionLayer, now: float
    ) -> None:
        cancel = build_cancel(leg.request, list(reasons) or None)
        key = layer.send_request(cancel, leg.target.destination, leg.target.transport, now)
        self.routes.bind_client(key, self)
        leg.give_up_at = now + layer.timers.timeout

    def _respond_a(
        self,
        layer: TransactionLayer,
        now: float,
        status: int,
        reason: str | None = None,
        *,
        body: Response | None = None,
    ) -> None:
        headers: list[tuple[str, str]] = []
        payload = b""
        if body is not None and body.body:
            payload = body.body
            headers.append(("Content-Type", body.headers.get("content-type") or "application/sdp"))
        if status < 300 and status != 100:
            headers.append(("Contact", self.locals[self.a_transport].contact))
        response = make_response(
            self.a_request, status, reason, to_tag=self.a_tag, headers=headers, body=payload
        )
        if status >= 200:
            self.a_final = status
        layer.respond(self.a_key, response, now)

    def _answer_a(self, response: Response, layer: TransactionLayer, now: float) -> None:
        self._respond_a(layer, now, 200, body=response)
        local = self.locals[self.a_transport]
        try:
            self.a_dialog = Dialog.from_uas(
                self.a_request, local_tag=self.a_tag, local_contact=local.contact
            )
        except ProtocolError:
            return  # no usable Contact from the caller: in-dialog requests cannot reach it
        self.routes.bind_dialog(self.a_dialog.id, self, "a")

    # -- in-dialog requests ----------------------------------------------------------------------

    def on_request(
        self, side: Side, request: Request, key: ServerKey, layer: TransactionLayer, now: float
    ) -> None:
        """An in-dialog request from ``side``: BYE ends the call, anything else is relayed."""
        mine, other = self._dialogs(side)
        if mine is None:
            return
        tag = mine.id.local_tag
        try:
            mine.receive_request(request)
        except ProtocolError as error:
            layer.respond(key, response_for_error(request, error, to_tag=tag), now)
            return
        other_target = self._peer_target(side)
        if request.method == "BYE":
            layer.respond(key, make_response(request, 200, to_tag=tag), now)
            if other is not None and other_target is not None:
                self._send_in_dialog(other, "BYE", other_target, layer, now)
                other.terminate()
            self.ended_at = now
            if self.winner is not None:
                self.winner.ended_at = now
                self.winner.state = LegState.ENDED  # else the call is never finished nor saved
            return
        if other is None or other_target is None:
            layer.respond(key, make_response(request, 481, to_tag=tag), now)
            return
        content_type = request.headers.get("content-type")
        routed = other.create_request(
            request.method,
            self.ids,
            via_host=_host(self.locals[other_target.transport]),
            via_port=self.locals[other_target.transport].port,
            transport=other_target.transport,
            body=request.body,
            content_type=content_type if request.body else None,
        )
        client = layer.send_request(
            routed.request, other_target.destination, other_target.transport, now
        )
        self._relays[client] = _Relay(server_key=key, request=request, from_side=side)
        self.routes.bind_client(client, self)

    def _relay_response(
        self, key: ClientKey, relay: _Relay, response: Response, layer: TransactionLayer, now: float
    ) -> None:
        mine, other = self._dialogs(relay.from_side)
        if other is not None:
            other.receive_response(response)
        if response.status_code >= 200:
            del self._relays[key]
        headers: list[tuple[str, str]] = []
        if response.body:
            headers.append(
                ("Content-Type", response.headers.get("content-type") or "application/sdp")
            )
        if response.is_success and relay.request.method in ("INVITE", "UPDATE"):
            headers.append(("Contact", self.locals[self._transport_of(relay.from_side)].contact))
        tag = mine.id.local_tag if mine is not None else self.a_tag
        answer = make_response(
            relay.request,
            response.status_code,
            response.reason,
            to_tag=tag,
            headers=headers,
            body=response.body,
        )
        layer.respond(relay.server_key, answer, now)
        if response.is_success and relay.request.method == "INVITE":
            # the far side's 2xx is ACKed when the near side's ACK arrives, with its body
            self._pending_acks[relay.request.cseq.number] = relay.from_side

    def on_ack(self, side: Side, ack: Request, layer: TransactionLayer, now: float) -> None:
        """An ACK in a dialog: relay it when it acknowledges a relayed re-INVITE."""
        if self._pending_acks.pop(ack.cseq.number, None) != side:
            return
        _, other = self._dialogs(side)
        target = self._peer_target(side)
        if other is None or target is None or other.local_seq is None:
            return
        local = self.locals[target.transport]
        content_type = ack.headers.get("content-type")
        routed = other.create_ack(
            other.local_seq,
            self.ids,
            via_host=_host(local),
            via_port=local.port,
            transport=target.transport,
            body=ack.body,
            content_type=content_type if ack.body else None,
        )
        layer.send_stateless(routed.request, target.destination, target.transport)

    # -- helpers ---------------------------------------------------------------------------------

    def _transport_of(self, side: Side) -> Transport:
        if side == "b" and self.winner is not None:
            return self.winner.target.transport
        return self.a_transport

    def _dialogs(self, side: Side) -> tuple[Dialog | None, Dialog | None]:
        b = self.winner.dialog if self.winner is not None else None
        return (self.a_dialog, b) if side == "a" else (b, self.a_dialog)

    def _peer_target(self, side: Side) -> Target | None:
        """Where requests for the other side of ``side`` go."""
        if side == "a":
            return self.winner.target if self.winner is not None else None
        if self.a_dialog is None:
            return None
        uri = self.a_dialog.remote_target
        return Target(uri=uri, destination=self.a_source, transport=self.a_transport)

    def _send_ack(self, leg: Leg, dialog: Dialog, layer: TransactionLayer) -> None:
        local = self.locals[leg.target.transport]
        routed = dialog.create_ack(
            leg.request.cseq.number,
            self.ids,
            via_host=_host(local),
            via_port=local.port,
            transport=leg.target.transport,
        )
        layer.send_stateless(routed.request, leg.target.destination, leg.target.transport)

    def _send_in_dialog(
        self, dialog: Dialog, method: str, target: Target, layer: TransactionLayer, now: float
    ) -> None:
        local = self.locals[target.transport]
        routed = dialog.create_request(
            method, self.ids, via_host=_host(local), via_port=local.port, transport=target.transport
        )
        key = layer.send_request(routed.request, target.destination, target.transport, now)
        self.routes.bind_client(key, self)

    def _retry_with_credentials(
        self, leg: Leg, response: Response, layer: TransactionLayer, now: float
    ) -> bool:
        """Answer a carrier's digest challenge once, with the trunk's HA1 (RFC 3261 §22.2)."""
        if self.trunk_credentials is None:
            return False
        header = authorization_header(
            response, leg.request, self.trunk_credentials, cnonce=self.ids.tag()
        )
        if header is None:
            return False
        leg.state = LegState.ENDED
        leg.outcome = LegOutcome.FAILED
        leg.status_code = response.status_code
        leg.ended_at = now
        self.legs.remove(leg)
        from_header = leg.request.headers.get("from") or ""  # §22.2: same From, tag included
        extra = tuple(
            (name, value)
            for name, value in leg.request.headers
            if name.lower() in ("p-asserted-identity",)
        )
        retry = self._send_leg(
            leg.target,
            layer,
            now,
            from_header,
            leg.request.headers.get("max-forwards") or "69",
            extra,
            authorization=header,
            call_id=leg.request.call_id,
            cseq=leg.request.cseq.number + 1,
        )
        retry.authenticated = True
        retry.member_key = leg.member_key
        retry.wave = leg.wave
        return True


def _wave_outcome(outcomes: Iterable[LegOutcome]) -> str:
    """A wave's outcome from its legs': any unanswered ring is no_answer; else the common one."""
    found = set(outcomes)
    if LegOutcome.NO_ANSWER in found or LegOutcome.CANCELLED in found or not found:
        return "no_answer"
    for outcome, name in ((LegOutcome.BUSY, "busy"), (LegOutcome.DECLINED, "declined")):
        if found == {outcome}:
            return name
    return "busy" if LegOutcome.BUSY in found else "failed"


def _host(local: LocalAddress) -> str:
    return f"[{local.host}]" if ":" in local.host else local.host


def caller_display(number_name: str, caller: NameAddress, contact_name: str | None = None) -> str:
    """The From a member's phone shows: the shared number's name, then who is calling.

    ``"[Support] Jane Customer" <sip:+12125550123@...>``: members see at a glance that the call
    came in on the shared line and from whom. ``contact_name`` (the caller's entry in the
    workspace's address book) wins over the carrier's display name, which wins over the number.
    """
    uri = caller.uri
    who = (
        contact_name
        or caller.display_name
        or (uri.user if isinstance(uri, SipUri) and uri.user else str(uri))
    )
    return quote(f"[{number_name}] {who}")
