"""The switch: registrar and forking B2BUA above the transaction layer (sans-IO).

Theory of operation
-------------------
:class:`Switch` is a :class:`~sharedline.sip.service.Service`. It reads a
:class:`~sharedline.switch.directory.Directory` snapshot (numbers, members, devices, trunks) and
keeps the registration bindings in memory, persisting every change through a
:class:`~sharedline.switch.records.SaveBindings` action; call records leave the same way
(:class:`~sharedline.switch.records.SaveCall`), and so do the live events of inbound calls
(:class:`~sharedline.switch.records.PublishCallEvent`: ringing once the first wave went out,
answered with the winner, ended after the record). It never waits for the database.

A new INVITE is classified (DESIGN.md "One inbound call", "Outbound"):

    with Proxy-Authorization         a member's device calling out       -> outbound
    from a trunk's allowed source    a carrier calling a shared number   -> inbound (404 if
                                                                            the number is unknown)
    to a shared number, otherwise    not an allowed trunk                -> 403
    anything else                    must be a device                    -> 407 challenge

Inbound calls run the number's call flow (:mod:`sharedline.callflows`): the interpreter says
which members ring in which wave; the switch rings every registered contact of every device of
those members, reports each wave's outcome back and does what comes next (the next wave or
stage, an outside number, voicemail, 480). A number bound to no flow runs the built-in one:
its first ten members (in the order they joined) ring for ``ring_timeout`` seconds. A call
keeps the flow version it started with when the flows are reloaded. See :mod:`.call` for the
rest of the call's life. Each call is independent: there is no lock per number, a member on a
call is rung again (unless the flow says ``skip_busy``), and the only refusal for capacity is
503 past ``max_channels``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from ..callflows.actions import Hangup, RecordTurn, Ring, RingTarget, Voicemail
from ..callflows.facts import CallFacts, MemberAvailability
from ..callflows.interpreter import Decision, Interpreter, Position
from ..callflows.model import DeclineScope, FlowDocument
from ..sip.auth import AuthHeaderError, AuthVerdict, DigestCredentials, DigestServer
from ..sip.dialog import DialogId, dialog_id_for_request
from ..sip.errors import LoopDetected, ProtocolError, TooManyHops
from ..sip.events import (
    AckReceived,
    AckTimedOut,
    ClientKey,
    Event,
    RequestReceived,
    ResponseReceived,
    ServerKey,
    TransactionTimedOut,
    Transport,
)
from ..sip.ids import IdSource
from ..sip.message import Request, Response
from ..sip.params import quote
from ..sip.registrar import Binding, RegistrarPolicy, process_register
from ..sip.responses import REASON_PHRASES, make_response, response_for_error
from ..sip.service import Action
from ..sip.transactions import TransactionLayer
from ..sip.uas import UasPolicy, check_request, options_response
from ..sip.uri import SipUri, TelUri, parse_uri
from .call import Call, LegState, LocalAddress, Side, Target, caller_display
from .directory import Directory, DirectoryDevice, DirectoryNumber
from .outbound import choose_number, dialled_number
from .records import CallOutcome, CallPhase, PublishCallEvent, SaveBindings, SaveCall, SaveTurn

__all__ = ["SWITCH_POLICY", "Switch", "SwitchSettings", "builtin_flow"]

SWITCH_POLICY = UasPolicy(
    allowed_methods=("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "UPDATE", "INFO"),
)
RINGING_LIMIT = 10  # members rung at once on every plan (the product's limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchSettings:
    """How the switch rings and how much it takes on."""

    ring_timeout: float = 30.0
    max_channels: int = 1000
    retry_after: int = 5
    registrar: RegistrarPolicy = field(default_factory=RegistrarPolicy)
    voicemail_uri: str | None = None
    """Where ``voicemail`` steps send the caller: a SIP URI template with ``{box}`` (a
    voicemail server's address); None: the switch carries no media, so the caller gets 480."""


def builtin_flow(ring_timeout: float) -> Interpreter:
    """The flow of a number bound to none: everyone (ten at most) rings, then 480."""
    ring = {"targets": ["everyone"], "leg_timeout": ring_timeout, "total_timeout": ring_timeout}
    document = FlowDocument.model_validate(
        {
            "version": 1,
            "flows": {
                "builtin": {"start": "ring", "steps": {"ring": {"ring": ring, "next": "end"}}}
            },
        }
    )
    return Interpreter(document, "builtin")


@dataclass(slots=True)
class _FlowRun:
    """A call's place in its flow, and the flow version it started with."""

    interpreter: Interpreter
    position: Position
    number: DirectoryNumber


class Switch:
    """Registrar and call router for shared numbers."""

    def __init__(
        self,
        *,
        ids: IdSource,
        directory: Directory,
        locals: dict[Transport, LocalAddress],
        digest: DigestServer,
        entropy: Callable[[], bytes],
        settings: SwitchSettings | None = None,
        flows: Interpreter | None = None,
        wall_offset: float = 0.0,
    ) -> None:
        self.ids = ids
        self.directory = directory
        self.locals = locals
        self.digest = digest
        self.entropy = entropy
        self.settings = settings or SwitchSettings()
        self.flows = flows
        """The call flows new calls run; replace it to reload (calls keep theirs)."""
        self.builtin = builtin_flow(self.settings.ring_timeout)
        self.wall_offset = wall_offset
        """Add to ``now`` for epoch seconds: schedules read the wall clock."""
        self.availability: dict[int, MemberAvailability] = {}
        self.turns: dict[str, dict[int, int]] = {}
        self.idle_since: dict[int, float] = {}
        """User id → when their last answered call ended (epoch seconds)."""
        self.bindings: dict[int, tuple[Binding, ...]] = {}
        self.draining = False
        self.calls: set[Call] = set()
        self._clients: dict[ClientKey, Call] = {}
        self._dialogs: dict[DialogId, tuple[Call, Side]] = {}
        self._invites: dict[ServerKey, Call] = {}
        self._keys: dict[Call, tuple[list[ClientKey], list[DialogId]]] = {}
        self._heap: list[tuple[float, int, Call]] = []
        self._sequence = itertools.count()
        self._actions: list[Action] = []
        self._runs: dict[Call, _FlowRun] = {}
        self._told: dict[Call, CallPhase] = {}
        """The last live event published for each inbound call."""
        self._caller_names: dict[Call, str | None] = {}

    # -- the Service protocol -------------------------------------------------------------------

    def handle(self, event: Event, layer: TransactionLayer, now: float) -> None:
        match event:
            case RequestReceived():
                self._on_request(event, layer, now)
            case AckReceived():
                found = self._dialog_call(event.request)
                if found is not None:
                    found[0].on_ack(found[1], event.request, layer, now)
                    self._settle(found[0], layer, now)
            case ResponseReceived():
                call = self._clients.get(event.transaction)
                if call is not None:
                    call.on_response(event.transaction, event.response, layer, now)
                    self._settle(call, layer, now)
            case TransactionTimedOut():
                call = self._clients.get(event.transaction)
                if call is not None:
                    call.on_timeout(event.transaction, layer, now)
                    self._settle(call, layer, now)
            case AckTimedOut():
                pass  # our 2xx was never ACKed; the caller's side will time out and BYE

    def handle_timer(self, layer: TransactionLayer, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, call = heapq.heappop(heap)
            if call in self.calls and call.deadline == deadline:
                call.handle_timer(layer, now)
                self._settle(call, layer, now)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and (heap[0][2] not in self.calls or heap[0][2].deadline != heap[0][0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def take_actions(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    # -- the CallRoutes protocol -----------------------------------------------------------------

    def bind_client(self, key: ClientKey, call: Call) -> None:
        self._clients[key] = call
        self._keys[call][0].append(key)

    def bind_dialog(self, dialog_id: DialogId, call: Call, side: Side) -> None:
        self._dialogs[dialog_id] = (call, side)
        self._keys[call][1].append(dialog_id)

    # -- requests ------------------------------------------------------------------------------

    def _on_request(self, event: RequestReceived, layer: TransactionLayer, now: float) -> None:
        request = event.request
        tag = self.ids.tag()
        if request.method == "CANCEL":
            self._on_cancel(event, layer, now, tag)
            return
        if request.to.tag is not None:
            found = self._dialog_call(request)
            if found is None:
                answer = make_response(request, 481, to_tag=tag)
                layer.respond(event.transaction, answer, now)
                return
            call, side = found
            call.on_request(side, request, event.transaction, layer, now)
            self._settle(call, layer, now)
            return
        try:
            check_request(request, SWITCH_POLICY)
        except ProtocolError as error:
            layer.respond(event.transaction, response_for_error(request, error, to_tag=tag), now)
            return
        handler = {
            "INVITE": self._on_invite,
            "REGISTER": self._on_register,
            "OPTIONS": self._on_options,
        }.get(request.method, self._no_dialog)
        handler(event, layer, now, tag)

    def _on_options(
        self, event: RequestReceived, layer: TransactionLayer, now: float, tag: str
    ) -> None:
        layer.respond(
            event.transaction, options_response(event.request, SWITCH_POLICY, to_tag=tag), now
        )

    def _no_dialog(
        self, event: RequestReceived, layer: TransactionLayer, now: float, tag: str
    ) -> None:
        # BYE, UPDATE, INFO outside any dialog (RFC 3261 §12.2.2)
        layer.respond(event.transaction, make_response(event.request, 481, to_tag=tag), now)

    def _on_cancel(
        self, event: RequestReceived, layer: TransactionLayer, now: float, tag: str
    ) -> None:
        call = self._invites.get(event.cancels) if event.cancels is not None else None
        status = 200 if event.cancels is not None else 481
        layer.respond(event.transaction, make_response(event.request, status, to_tag=tag), now)
        if call is not None:  # §9.2: 200 to the CANCEL, then 487 to the INVITE
            call.on_cancel(layer, now)
            self._settle(call, layer, now)

    def _dialog_call(self, request: Request) -> tuple[Call, Side] | None:
        dialog_id = dialog_id_for_request(request)
        return self._dialogs.get(dialog_id) if dialog_id is not None else None

    # -- registrar -------------------------------------------------------------------------------

    def _on_register(
        self, event: RequestReceived, layer: TransactionLayer, now: float, tag: str
    ) -> None:
        request = event.request
        device, refusal = self._authenticate(event, "Authorization", now)
        if device is None:
            layer.respond(event.transaction, refusal(401, tag), now)
            return
        to_uri = request.to.uri
        if isinstance(to_uri, SipUri) and to_uri.user_unescaped != device.username:
            # the authenticated device may only bind its own address-of-record (§10.3 step 4)
            forbidden = make_response(
                request, 403, "Forbidden (not your address-of-record)", to_tag=tag
            )
            layer.respond(event.transaction, forbidden, now)
            return
        source = f"{event.transport}:{event.source[0]}:{event.source[1]}"
        outcome = process_register(
            request,
            self.bindings.get(device.id, ()),
            now=now,
            to_tag=tag,
            source=source,
            policy=self.settings.registrar,
        )
        if outcome.changed:
            self.bindings[device.id] = outcome.bindings
            self._actions.append(SaveBindings(device_id=device.id, bindings=outcome.bindings))
        layer.respond(event.transaction, outcome.response, now)

    def _authenticate(
        self, event: RequestReceived, header: str, now: float
    ) -> tuple[DirectoryDevice | None, Callable[[int, str], Response]]:
        """The device whose credentials are on the request, or a refusal to send.

        No credentials, unreadable ones or a stale nonce: a challenge (401/407), the same for
        known and unknown users. Wrong password, unknown user or a replayed nonce count: 403.
        """
        request = event.request
        bind = event.source[0]

        def challenge(status: int, tag: str, *, stale: bool = False) -> Response:
            name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            challenges = self.digest.challenge(
                now=now, entropy=self.entropy(), stale=stale, bind=bind
            )
            headers = [(name, c.to_header_value()) for c in challenges]
            return make_response(request, status, to_tag=tag, headers=headers)

        value = request.headers.get(header)
        if value is None:
            return None, challenge
        try:
            credentials = DigestCredentials.parse(value)
        except AuthHeaderError:
            return None, challenge
        device = self.directory.devices.get(credentials.username)
        ha1 = None
        if device is not None and credentials.realm == self.digest.realm:
            ha1 = device.ha1(credentials.algorithm)
        verdict = self.digest.verify(
            credentials, method=request.method, ha1=ha1, now=now, bind=bind, body=request.body
        )
        if verdict is AuthVerdict.OK and device is not None:
            return device, challenge
        if verdict is AuthVerdict.STALE:
            return None, lambda status, tag: challenge(status, tag, stale=True)
        return None, lambda _status, tag: make_response(
            request, 403, "Forbidden (authentication failed)", to_tag=tag
        )

    # -- calls -----------------------------------------------------------------------------------

    def _on_invite(
        self, event: RequestReceived, layer: TransactionLayer, now: float, tag: str
    ) -> None:
        request = event.request
        try:
            self._check_forwardable(request)
        except ProtocolError as error:
            layer.respond(event.transaction, response_for_error(request, error, to_tag=tag), now)
            return
        if self.draining or len(self.calls) >= self.settings.max_channels:
            busy = make_response(
                request, 503, to_tag=tag, headers=[("Retry-After", str(self.settings.retry_after))]
            )
            layer.respond(event.transaction, busy, now)
            return
        number = self._called_number(request)
        if request.headers.get("proxy-authorization") is None:
            trunk = self.directory.trunk_for_source(event.source[0])
            if trunk is not None:
                if number is None:
                    layer.respond(event.transaction, make_response(request, 404, to_tag=tag), now)
                else:
                    self._inbound(event, number, layer, now)
                return
            if number is not None:
                refusal = make_response(
                    request, 403, "Forbidden (not an allowed trunk)", to_tag=tag
                )
                layer.respond(event.transaction, refusal, now)
                return
        self._outbound(event, layer, now, tag)

    def _check_forwardable(self, request: Request) -> None:
        if request.max_forwards == 0:
            raise TooManyHops("Max-Forwards is 0")  # RFC 3261 §16.3 step 3
        ours = {(local.host, local.port) for local in self.locals.values()}
        if any((via.host, via.port or 5060) in ours for via in request.via):
            raise LoopDetected("the request already passed through this switch")  # §16.3 step 4

    def _called_number(self, request: Request) -> DirectoryNumber | None:
        for uri in (request.uri, request.to.uri):
            user = (
                uri.number
                if isinstance(uri, TelUri)
                else uri.user
                if isinstance(uri, SipUri)
                else None
            )
            if user:
                digits = user.split(";")[0]
                found = self.directory.numbers.get(digits) or self.directory.numbers.get(
                    f"+{digits.lstrip('+')}"
                )
                if found is not None:
                    return found
        return None

    def _new_call(
        self,
        event: RequestReceived,
        *,
        direction: str,
        number: str,
        caller: str,
        callee: str,
        now: float,
    ) -> Call:
        call = Call(
            ids=self.ids,
            routes=self,
            locals=self.locals,
            a_request=event.request,
            a_key=event.transaction,
            a_source=event.source,
            a_transport=event.transport,
            direction="inbound" if direction == "inbound" else "outbound",
            number=number,
            caller=caller,
            callee=callee,
            started_at=now,
        )
        self.calls.add(call)
        self._keys[call] = ([], [])
        self._invites[event.transaction] = call
        return call

    def _inbound(
        self, event: RequestReceived, number: DirectoryNumber, layer: TransactionLayer, now: float
    ) -> None:
        request = event.request
        caller_uri = request.from_.uri
        caller = (
            caller_uri.user
            if isinstance(caller_uri, SipUri) and caller_uri.user
            else str(caller_uri)
        )
        call = self._new_call(
            event,
            direction="inbound",
            number=number.e164,
            caller=caller,
            callee=number.e164,
            now=now,
        )
        local = self.locals[event.transport]
        host = f"[{local.host}]" if ":" in local.host else local.host
        contact_name = self.directory.caller_name(number, caller)
        self._caller_names[call] = contact_name or request.from_.display_name or None
        display = caller_display(number.name, request.from_, contact_name)
        call.from_header = f"{display} <sip:{caller}@{host}>"
        interpreter = self.flows
        if interpreter is None or interpreter.flow_for(number.e164) is None:
            interpreter = self.builtin
            flow = "builtin"
        else:
            flow = None
        seed = int.from_bytes(self.entropy()[:8], "big")
        facts = self._facts(number, call.caller, now)
        decision = interpreter.start(number.e164, now, facts, seed=seed, flow=flow)
        run = _FlowRun(interpreter=interpreter, position=decision.position, number=number)
        self._runs[call] = run
        self._apply(call, run, decision, layer, now)
        self._settle(call, layer, now)

    # -- call flows ------------------------------------------------------------------------------

    def _facts(self, number: DirectoryNumber, caller: str, now: float) -> CallFacts:
        """What the interpreter needs to know, keyed by the number's members' emails."""
        busy = (
            call.winner.target.user_id
            for call in self.calls
            if call.winner is not None
            and call.winner.state is LegState.ANSWERED
            and call.winner.target.user_id is not None
        )
        return CallFacts.by_user_id(
            number=number.e164,
            caller=caller,
            members=[(member.user_id, member.email) for member in number.members],
            availability=self.availability,
            turns=self.turns,
            idle_since=self.idle_since,
            busy=busy,
            wall_offset=self.wall_offset,
        )

    def _apply(
        self, call: Call, run: _FlowRun, decision: Decision, layer: TransactionLayer, now: float
    ) -> None:
        """Do what the flow says: ring a wave, remember a turn, or end the call."""
        run.position = decision.position
        rang = False
        for action in decision.actions:
            match action:
                case RecordTurn():
                    self._record_turn(run.number, action)
                case Ring():
                    wave = [
                        (t.key, self._resolve(call, run.number, t, now)) for t in action.targets
                    ]
                    call.ring(
                        wave,
                        action.timeout,
                        layer,
                        now,
                        decline_group=action.decline_scope is DeclineScope.GROUP,
                    )
                    rang = True
                case Voicemail():
                    target = self._voicemail_target(action.box)
                    if target is None:
                        call.finish(layer, now, 480)
                    else:
                        call.voicemail_box = action.box
                        call.ring(
                            [("voicemail", [target])],
                            self.settings.ring_timeout,
                            layer,
                            now,
                            voicemail=True,
                        )
                        rang = True
                case Hangup():
                    call.finish(layer, now, action.status, action.reason)
                case _:  # play and menu need media: the loader refuses them for this backend
                    call.finish(layer, now, 480)
        if not rang and decision.position.done:
            call.finish(layer, now, 480)

    def _record_turn(self, number: DirectoryNumber, action: RecordTurn) -> None:
        user = next((m.user_id for m in number.members if m.email == action.member), None)
        if user is None:
            return
        self.turns.setdefault(action.rotation, {})[user] = action.turn
        self._actions.append(SaveTurn(rotation=action.rotation, user_id=user, turn=action.turn))

    def _resolve(
        self, call: Call, number: DirectoryNumber, target: RingTarget, now: float
    ) -> list[Target]:
        """The contacts to ring for a flow's target: a member's devices, or a trunk's proxy."""
        if target.member is not None:
            member = next((m for m in number.members if m.email == target.member), None)
            return [] if member is None else self._contacts_of(member.user_id, now)
        trunk = self.directory.trunks.get(target.trunk) if target.trunk else number.trunk
        if trunk is None or not trunk.outbound_proxy or target.number is None:
            return []
        proxy = parse_uri(trunk.outbound_proxy)
        transport: Transport = (
            "tcp" if isinstance(proxy, SipUri) and proxy.transport == "tcp" else "udp"
        )
        if not isinstance(proxy, SipUri) or transport not in self.locals:
            return []
        if trunk.auth_username and trunk.auth_realm and trunk.auth_ha1_md5:
            call.trunk_credentials = (trunk.auth_username, trunk.auth_realm, trunk.auth_ha1_md5)
        uri = SipUri(user=target.number, host=proxy.host, port=proxy.port)
        return [Target(uri=uri, destination=proxy.host_port(), transport=transport)]

    def _voicemail_target(self, box: str) -> Target | None:
        template = self.settings.voicemail_uri
        if template is None:
            return None
        try:
            uri = parse_uri(template.replace("{box}", box))
        except ProtocolError:
            return None
        if not isinstance(uri, SipUri):
            return None
        transport: Transport = "tcp" if uri.transport == "tcp" else "udp"
        if transport not in self.locals:
            return None
        return Target(uri=uri, destination=uri.host_port(), transport=transport)

    def _contacts_of(self, user_id: int, now: float) -> list[Target]:
        """Every live contact of every device of a user, in a stable order."""
        targets: list[Target] = []
        for device in self.directory.devices_of(user_id):
            live = [b for b in self.bindings.get(device.id, ()) if b.expires_at > now]
            live.sort(key=lambda b: (-(b.q if b.q is not None else 1.0), b.contact))
            for binding in live:
                target = _target_for(binding, user_id, device.id)
                if target is not None and target.transport in self.locals:
                    targets.append(target)
        return targets

    def _outbound(
        self, event: RequestReceived, layer: TransactionLayer, now: float, tag: str
    ) -> None:
        request = event.request
        device, refusal = self._authenticate(event, "Proxy-Authorization", now)
        if device is None:
            layer.respond(event.transaction, refusal(407, tag), now)
            return

        def refuse(status: int, why: str) -> None:
            layer.respond(
                event.transaction,
                make_response(request, status, f"{REASON_PHRASES[status]} ({why})", to_tag=tag),
                now,
            )

        number, why = choose_number(request, device, self.directory)
        if number is None:
            refuse(403, why or "no shared number")
            return
        if not any(member.user_id == device.user_id for member in number.members):
            refuse(403, f"no access to {number.e164}")
            return
        dialled = dialled_number(request)
        trunk = number.trunk
        proxy = (
            parse_uri(trunk.outbound_proxy) if trunk is not None and trunk.outbound_proxy else None
        )
        if dialled is None or not isinstance(proxy, SipUri):
            refuse(404, "no route")
            return
        transport: Transport = "tcp" if proxy.transport == "tcp" else "udp"
        if transport not in self.locals:
            refuse(404, f"no {transport} listener for the trunk")
            return
        call = self._new_call(
            event,
            direction="outbound",
            number=number.e164,
            caller=number.e164,
            callee=dialled,
            now=now,
        )
        if trunk is not None and trunk.auth_username and trunk.auth_realm and trunk.auth_ha1_md5:
            call.trunk_credentials = (trunk.auth_username, trunk.auth_realm, trunk.auth_ha1_md5)
        target = Target(
            uri=SipUri(user=dialled, host=proxy.host, port=proxy.port),
            destination=proxy.host_port(),
            transport=transport,
            user_id=device.user_id,
            device_id=device.id,
        )
        local = self.locals[transport]
        host = f"[{local.host}]" if ":" in local.host else local.host
        identity = f"<sip:{number.e164}@{host}>"
        call.from_header = f"{quote(number.name)} {identity}"
        call.extra_headers = (("P-Asserted-Identity", identity),)
        call.ring([(dialled, [target])], self.settings.ring_timeout * 4, layer, now)
        self._settle(call, layer, now)

    # -- bookkeeping -----------------------------------------------------------------------------

    def _settle(self, call: Call, layer: TransactionLayer, now: float) -> None:
        """Run the flow on a wave's outcome; re-arm the call's timer, or forget it and save its
        record once it is finished."""
        if call not in self.calls:
            return
        while (outcome := call.take_wave_outcome()) is not None:
            run = self._runs.get(call)
            if run is None:  # an outbound call: the caller hears the carrier's answer
                call.finish(layer, now, call.wave_status or 480)
                break
            facts = self._facts(run.number, call.caller, now)
            decision = run.interpreter.step(run.position, outcome, now, facts)
            self._apply(call, run, decision, layer, now)
        self._tell(call, now)
        if call.finished:
            self.calls.discard(call)
            self._runs.pop(call, None)
            clients, dialogs = self._keys.pop(call)
            for key in clients:
                self._clients.pop(key, None)
            for dialog_id in dialogs:
                self._dialogs.pop(dialog_id, None)
            self._invites.pop(call.a_key, None)
            winner = call.winner
            if (
                call.outcome is CallOutcome.ANSWERED
                and winner is not None
                and winner.target.user_id is not None
                and call.ended_at is not None
            ):
                self.idle_since[winner.target.user_id] = call.ended_at + self.wall_offset
            self._actions.append(SaveCall(report=call.report()))
            if call.direction == "inbound":
                self._actions.append(self._call_event(call, CallPhase.ENDED, now))
            self._told.pop(call, None)
            self._caller_names.pop(call, None)
            return
        deadline = call.deadline
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._sequence), call))

    def _tell(self, call: Call, now: float) -> None:
        """Publish ``ringing`` once members' phones ring, ``answered`` once one picks up."""
        if call.direction != "inbound":
            return
        told = self._told.get(call)
        winner = call.winner
        if told is None and any(leg.target.user_id is not None for leg in call.legs):
            told = self._told[call] = CallPhase.RINGING
            self._actions.append(self._call_event(call, CallPhase.RINGING, now))
        if (
            told is CallPhase.RINGING
            and call.outcome is CallOutcome.ANSWERED
            and winner is not None
            and winner.target.user_id is not None
        ):
            self._told[call] = CallPhase.ANSWERED
            self._actions.append(self._call_event(call, CallPhase.ANSWERED, now))

    def _call_event(self, call: Call, phase: CallPhase, now: float) -> PublishCallEvent:
        winner = call.winner
        answered_by = winner.target.user_id if winner is not None else None
        run = self._runs.get(call)
        number = run.number if run is not None else self.directory.numbers.get(call.number or "")
        names = {m.user_id: m.name for m in number.members} if number is not None else {}
        return PublishCallEvent(
            phase=phase,
            call_id=call.a_request.call_id,
            number=call.number or "",
            caller=call.caller,
            caller_name=self._caller_names.get(call),
            answered_by=answered_by,
            answered_by_name=names.get(answered_by) if answered_by is not None else None,
            outcome=None if phase is CallPhase.RINGING else call.outcome,
            at=now,
        )


def _target_for(binding: Binding, user_id: int, device_id: int) -> Target | None:
    """Where to ring a binding: its contact URI, sent to the address it registered from."""
    try:
        uri = parse_uri(binding.contact)
    except ProtocolError:
        return None
    if not isinstance(uri, SipUri):
        return None
    transport_name, _, hostport = binding.source.partition(":")
    host, _, port = hostport.rpartition(":")
    transport: Transport
    if transport_name in ("udp", "tcp", "tls") and port.isdigit():
        transport = (
            "udp" if transport_name == "udp" else "tcp" if transport_name == "tcp" else "tls"
        )
        destination = (host.strip("[]"), int(port))
    else:
        transport = "tcp" if uri.transport == "tcp" else "udp"
        destination = uri.host_port()
    return Target(
        uri=uri, destination=destination, transport=transport, user_id=user_id, device_id=device_id
    )
