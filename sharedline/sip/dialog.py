"""Dialogs: the peer-to-peer state two user agents share for the life of a call (RFC 3261 §12).

Theory of operation
-------------------
A dialog is identified by Call-ID, local tag and remote tag and holds what every request inside
it needs: both CSeq numbers, both parties with their tags, the remote target (the peer's Contact
URI) and the route set. A :class:`Dialog` does no I/O and keeps no time: the layer above feeds it
the messages of its transactions (``receive_request``, ``receive_response``, ``send_response``)
and asks it for requests (``create_request``, ``create_ack``), which come back with the URI of
their first hop. The UAC reverses the Record-Route (§12.1.2), the UAS keeps its order (§12.1.1).

Every message is classified into one :class:`DialogInput`, and :data:`TRANSITIONS` maps each
``(state, input)`` pair to the next state (the h2 shape)::

    from_uac(1xx) / from_uas(early)      from_uac(2xx) / from_uas()
            |                                  |
            v          INVITE_ANSWERED         v
          EARLY  ------------------------->  CONFIRMED   (a failed re-INVITE stays CONFIRMED)
            |                                  |
            | INVITE_REJECTED, BYE, LOST       | BYE, LOST
            +----------------------------->  TERMINATED  (absorbing: terminate() also leads here)

Forking (§12.1.2, §13.2.2.4): responses to one INVITE from several UASs share the Call-ID and our
local tag but carry different To tags, so each is a dialog of its own and
:func:`dialog_id_for_response` tells them apart. A B2BUA that receives two 2xx builds two dialogs
and must ACK every 2xx, then BYE the dialogs it does not keep.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .errors import BadHeader, CallDoesNotExist, LocalProtocolError, OutOfOrderRequest
from .events import Address, Transport
from .headers import CSEQ_MAX, NameAddress, Via, parse_reason_list, split_list
from .ids import IdSource
from .message import Message, Request, Response, header_key
from .params import Parameters
from .uri import SipUri

__all__ = [
    "TARGET_REFRESH_METHODS",
    "TRANSITIONS",
    "Dialog",
    "DialogId",
    "DialogInput",
    "DialogState",
    "OutOfOrderRequest",
    "RoutedRequest",
    "build_cancel",
    "dialog_id_for_request",
    "dialog_id_for_response",
]

# RFC 3261 §12.2 and §14: requests that may change the remote target; UPDATE by RFC 3311 §5.
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE"})
MAX_FORWARDS = "70"  # RFC 3261 §8.1.1.6
INITIAL_LOCAL_SEQ = 1  # RFC 3261 §12.2.1.1: chosen per §8.1.1.5 when the local number is empty
# Headers create_request writes itself; passing them in `headers` would duplicate them.
_DIALOG_HEADERS = ("via", "max-forwards", "route", "from", "to", "call-id", "cseq")
_BUILT_HEADERS = frozenset((*_DIALOG_HEADERS, "content-type", "content-length"))


class DialogState(enum.Enum):
    """The states of RFC 3261 §12: a dialog starts early or confirmed and ends terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogInput(enum.Enum):
    """What a message means to a dialog's state."""

    INVITE_ANSWERED = "2xx to INVITE"  # §13.2.2.4 (received), §13.3.1.4 (sent)
    INVITE_REJECTED = "300-699 to INVITE"  # §12.3: ends early dialogs; §14.1: re-INVITE failed
    BYE = "BYE received or BYE answered"  # §15.1.1, §15.1.2
    LOST = "481 or 408 to a request, or no answer"  # §12.2.1.2: the peer lost the dialog


TRANSITIONS: dict[tuple[DialogState, DialogInput], DialogState] = {
    (DialogState.EARLY, DialogInput.INVITE_ANSWERED): DialogState.CONFIRMED,
    (DialogState.EARLY, DialogInput.INVITE_REJECTED): DialogState.TERMINATED,
    (DialogState.EARLY, DialogInput.BYE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogInput.LOST): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogInput.INVITE_ANSWERED): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.INVITE_REJECTED): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.BYE): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogInput.LOST): DialogState.TERMINATED,
    **{(DialogState.TERMINATED, event): DialogState.TERMINATED for event in DialogInput},
}
"""Next state for every ``(state, input)`` pair; TERMINATED is absorbing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogId:
    """Call-ID, local tag and remote tag (RFC 3261 §12): what in-dialog messages are matched by."""

    call_id: str
    local_tag: str
    remote_tag: str


def dialog_id_for_request(request: Request) -> DialogId | None:
    """The dialog a received request belongs to, seen by us as UAS (RFC 3261 §12.2.2).

    Local tag = To tag, remote tag = From tag. ``None`` when To has no tag: the request is outside
    any dialog. Raises :class:`~sharedline.sip.errors.ParseError` for a malformed From or To.
    """
    local = request.to.tag
    if local is None:
        return None
    return DialogId(call_id=request.call_id, local_tag=local, remote_tag=request.from_.tag or "")


def dialog_id_for_response(response: Response) -> DialogId | None:
    """The dialog a received response belongs to, seen by us as UAC (RFC 3261 §12.1.2).

    Local tag = From tag, remote tag = To tag; forked responses differ in the To tag only.
    ``None`` when To has no tag (a 100 Trying, or a response that creates no dialog).
    """
    remote = response.to.tag
    if remote is None:
        return None
    return DialogId(call_id=response.call_id, local_tag=response.from_.tag or "", remote_tag=remote)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutedRequest:
    """An in-dialog request and the URI of its first hop (RFC 3261 §12.2.1.1, §8.1.2)."""

    request: Request
    next_hop: SipUri
    """The first Route URI, else the remote target: resolve it per RFC 3263 to send."""

    @property
    def destination(self) -> Address:
        """The next hop's host and port as written, with the scheme's default port; no DNS."""
        return self.next_hop.host_port()


@dataclass(slots=True, kw_only=True, eq=False)
class Dialog:
    """The dialog state of RFC 3261 §12, from one side. Mutable; build it with a constructor."""

    id: DialogId
    state: DialogState
    local: NameAddress
    """Our party with our tag: From in requests we send."""
    remote: NameAddress
    """The peer with its tag: To in requests we send."""
    remote_target: SipUri
    """The peer's Contact URI: the Request-URI of our requests (§12.1)."""
    route_set: tuple[NameAddress, ...]
    """Route values for our requests, first hop first."""
    local_contact: str
    """Our Contact header value, sent in target-refresh requests (§12.2.1.1)."""
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False

    # -- creation ------------------------------------------------------------------------------

    @classmethod
    def from_uac(
        cls, request: Request, response: Response, *, local_contact: str, secure: bool = False
    ) -> Dialog:
        """The dialog our ``request`` and its ``response`` create (RFC 3261 §12.1.2).

        A 101-199 gives an EARLY dialog, a 2xx a CONFIRMED one. ``secure`` says the request went
        over TLS; the dialog is secure when its Request-URI was also SIPS.

        Raises :class:`BadHeader` when the response has no To tag, not exactly one SIP Contact,
        or a non-SIP Record-Route; :class:`LocalProtocolError` when the response is not
        dialog-creating or does not answer ``request``.
        """
        if not 101 <= response.status_code < 300:
            raise LocalProtocolError(f"a {response.status_code} response creates no dialog")
        answered = (request.call_id, request.from_.tag, request.cseq.number)
        if (response.call_id, response.from_.tag, response.cseq.number) != answered:
            raise LocalProtocolError("the response does not answer this request")
        local_tag, remote_tag = request.from_.tag, response.to.tag
        if local_tag is None:
            raise LocalProtocolError("our request has no From tag (RFC 3261 §8.1.1.3)")
        if remote_tag is None:
            raise BadHeader(f"{response.status_code} response has no To tag (RFC 3261 §12.1.2)")
        uri = request.uri
        return cls(
            id=DialogId(call_id=request.call_id, local_tag=local_tag, remote_tag=remote_tag),
            state=DialogState.EARLY if response.is_provisional else DialogState.CONFIRMED,
            local=request.from_,
            remote=response.to,
            remote_target=_dialog_target(response),
            route_set=_route_set(reversed(response.record_routes)),  # §12.1.2: reverse order
            local_contact=local_contact,
            local_seq=request.cseq.number,
            secure=secure and isinstance(uri, SipUri) and uri.secure,
        )

    @classmethod
    def from_uas(
        cls,
        request: Request,
        *,
        local_tag: str,
        local_contact: str,
        early: bool = False,
        secure: bool = False,
    ) -> Dialog:
        """The dialog we create by answering ``request`` with To tag ``local_tag`` (§12.1.1).

        ``early`` for a 101-199 answer, otherwise a 2xx. ``secure``: the request came over TLS.

        Raises :class:`BadHeader` when the request has no From tag, not exactly one SIP Contact,
        or a non-SIP Record-Route; :class:`LocalProtocolError` when To already has a tag.
        """
        remote_tag = request.from_.tag
        if remote_tag is None:
            raise BadHeader("request has no From tag (RFC 3261 §8.1.1.3)")
        if request.to.tag is not None:
            raise LocalProtocolError("a request with a To tag is already inside a dialog")
        uri = request.uri
        return cls(
            id=DialogId(call_id=request.call_id, local_tag=local_tag, remote_tag=remote_tag),
            state=DialogState.EARLY if early else DialogState.CONFIRMED,
            local=request.to.with_tag(local_tag),
            remote=request.from_,
            remote_target=_dialog_target(request),
            route_set=_route_set(request.record_routes),  # §12.1.1: in order
            local_contact=local_contact,
            remote_seq=request.cseq.number,
            secure=secure and isinstance(uri, SipUri) and uri.secure,
        )

    # -- requests we send ----------------------------------------------------------------------

    def create_request(
        self,
        method: str,
        ids: IdSource,
        *,
        via_host: str,
        via_port: int,
        transport: Transport = "udp",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> RoutedRequest:
        """A new request in this dialog (RFC 3261 §12.2.1.1), numbered with the next local CSeq.

        ``via_host``/``via_port``/``transport`` make the top Via, whose branch comes from ``ids``.
        Target-refresh methods carry ``local_contact``. ``headers`` are added after the dialog's
        own. Raises :class:`LocalProtocolError` for ACK or CANCEL (use :meth:`create_ack` and
        :func:`build_cancel`), a terminated dialog, an INVITE in an early one (§14.1), a body
        without ``content_type`` (§7.4.1) or a header this method writes itself.
        """
        if method in ("ACK", "CANCEL"):
            raise LocalProtocolError(f"{method} is not numbered by the dialog; use create_ack")
        if self.state is DialogState.TERMINATED:
            raise LocalProtocolError(f"cannot send {method} in a terminated dialog")
        if method == "INVITE" and self.state is DialogState.EARLY:
            raise LocalProtocolError("no re-INVITE while the initial INVITE is pending (§14.1)")
        number = INITIAL_LOCAL_SEQ if self.local_seq is None else self.local_seq + 1
        if number > CSEQ_MAX:
            raise LocalProtocolError(f"local CSeq {number} exceeds 2**31-1 (RFC 3261 §8.1.1.5)")
        via = _new_via(ids, via_host, via_port, transport)
        routed = self._build(method, number, via, headers, body, content_type)
        self.local_seq = number
        return routed

    def create_ack(
        self,
        invite_cseq: int,
        ids: IdSource,
        *,
        via_host: str,
        via_port: int,
        transport: Transport = "udp",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> RoutedRequest:
        """The ACK for a 2xx to the INVITE numbered ``invite_cseq`` (RFC 3261 §13.2.2.4).

        Built like any in-dialog request but with the INVITE's CSeq number and a new branch (it
        is a transaction of its own); the local sequence number is unchanged. Allowed in every
        state: each retransmitted 2xx is ACKed, even after the dialog ended.
        """
        via = _new_via(ids, via_host, via_port, transport)
        return self._build("ACK", invite_cseq, via, headers, body, content_type)

    def _build(
        self,
        method: str,
        number: int,
        via: Via,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        content_type: str | None,
    ) -> RoutedRequest:
        request_uri, routes, next_hop = self._routing()
        lines = [("Via", str(via)), ("Max-Forwards", MAX_FORWARDS)]
        lines.extend(("Route", route) for route in routes)
        lines += [
            ("From", str(self.local)),
            ("To", str(self.remote)),
            ("Call-ID", self.id.call_id),
            ("CSeq", f"{number} {method}"),
        ]
        refresh = method in TARGET_REFRESH_METHODS
        if refresh:
            lines.append(("Contact", self.local_contact))  # §12.2.1.1, §14.1
        for name, value in headers:
            key = header_key(name)
            if key in _BUILT_HEADERS or (refresh and key == "contact"):
                raise LocalProtocolError(f"header {name!r} is written by the dialog")
            lines.append((name, value))
        if body and content_type is None:
            raise LocalProtocolError("a body needs a content_type (RFC 3261 §7.4.1)")
        if content_type is not None:
            lines.append(("Content-Type", content_type))
        lines.append(("Content-Length", str(len(body))))  # §20.14, on every transport
        return RoutedRequest(request=Request(method, request_uri, lines, body), next_hop=next_hop)

    def _routing(self) -> tuple[SipUri, list[str], SipUri]:
        """Request-URI, Route values and first hop per RFC 3261 §12.2.1.1."""
        target = self.remote_target
        if not self.route_set:
            return _request_uri(target), [], target
        first = _sip_uri(self.route_set[0], "Route")
        if "lr" in first.params:  # loose routing: the target stays in the Request-URI
            return _request_uri(target), [str(route) for route in self.route_set], first
        # Strict routing (RFC 2543): the first route becomes the Request-URI and the remote
        # target goes last in Route, so the strict router can swap them back.
        rest = [str(route) for route in self.route_set[1:]]
        return _request_uri(first), [*rest, str(NameAddress(uri=target))], first

    # -- messages we receive or send -----------------------------------------------------------

    def receive_request(self, request: Request) -> None:
        """Apply a request received in this dialog (RFC 3261 §12.2.2).

        ACK and CANCEL skip the CSeq check: they carry their INVITE's number, and an ACK may
        trail a later request on UDP. Raises :class:`CallDoesNotExist` (481) when the dialog has
        ended, :class:`OutOfOrderRequest` (500) for a CSeq not above the remote one and
        :class:`BadHeader` for an unusable Contact in a target refresh, all without changing
        state; :class:`LocalProtocolError` when the request belongs to another dialog.
        """
        if dialog_id_for_request(request) != self.id:
            raise LocalProtocolError(f"request for another dialog, not {self.id}")
        if self.state is DialogState.TERMINATED:
            raise CallDoesNotExist(f"dialog {self.id.call_id} has ended")
        method = request.method
        if method in ("ACK", "CANCEL"):
            return
        number = request.cseq.number
        if self.remote_seq is not None and number <= self.remote_seq:
            raise OutOfOrderRequest(
                f"CSeq {number} {method} is not above remote sequence number {self.remote_seq}"
            )
        target = _contact_target(request) if method in TARGET_REFRESH_METHODS else None
        self.remote_seq = number
        if target is not None:
            self.remote_target = target  # §12.2.2: a target refresh replaces the remote target
        if method == "BYE":
            self._apply(DialogInput.BYE)  # §15.1.2

    def receive_response(self, response: Response) -> None:
        """Apply a final response to a request we sent in this dialog (RFC 3261 §12.2.1.2).

        A 2xx to a target refresh replaces the remote target; a 2xx to the INVITE of an early
        dialog also recomputes the route set (§13.2.2.4). Provisional responses, responses to
        CANCEL and anything after termination change nothing. Raises :class:`BadHeader` for an
        unusable Contact or Record-Route, :class:`LocalProtocolError` for another dialog's.
        """
        if dialog_id_for_response(response) != self.id:
            raise LocalProtocolError(f"response for another dialog, not {self.id}")
        method, status = response.cseq.method, response.status_code
        if response.is_provisional or method == "CANCEL" or self.state is DialogState.TERMINATED:
            return
        if response.is_success and method in TARGET_REFRESH_METHODS:
            target = _contact_target(response)
            if method == "INVITE" and self.state is DialogState.EARLY:
                self.route_set = _route_set(reversed(response.record_routes))
            if target is not None:
                self.remote_target = target
        event = _response_input(method, status)
        if event is not None:
            self._apply(event)

    def send_response(self, response: Response) -> None:
        """Apply a response we send to a request of this dialog: the UAS side of the INVITE.

        A 2xx to INVITE confirms an early dialog (§13.3.1.4); a 300-699 ends it (§12.3).
        """
        local_tag, remote_tag = response.to.tag or "", response.from_.tag or ""
        if (
            DialogId(call_id=response.call_id, local_tag=local_tag, remote_tag=remote_tag)
            != self.id
        ):
            raise LocalProtocolError(f"response for another dialog, not {self.id}")
        if response.cseq.method == "INVITE" and not response.is_provisional:
            success = response.is_success
            self._apply(DialogInput.INVITE_ANSWERED if success else DialogInput.INVITE_REJECTED)

    def terminate(self) -> None:
        """End the dialog: a request timed out (§12.2.1.2) or the call is torn down locally."""
        self._apply(DialogInput.LOST)

    def _apply(self, event: DialogInput) -> None:
        self.state = TRANSITIONS[(self.state, event)]


def build_cancel(invite: Request, reason: str | Sequence[str] | None = None) -> Request:
    """The CANCEL for our pending ``invite`` (RFC 3261 §9.1).

    Same Request-URI, Call-ID, From, To and CSeq number, the INVITE's top Via only (same branch,
    so it reaches the same server transaction), its Route copied. ``reason`` adds one Reason line
    per value (RFC 3326), e.g. ``'SIP;cause=200;text="Call completed elsewhere"'`` (RFC 3326 §2)
    and ``"Q.850;cause=26"``. Send it only after a provisional response (§9.1).
    Raises :class:`LocalProtocolError` for a request that is not an INVITE or a malformed Reason.
    """
    if invite.method != "INVITE":
        raise LocalProtocolError(f"only an INVITE is cancelled, not {invite.method}")
    reasons = (reason,) if isinstance(reason, str) else tuple(reason or ())
    for value in reasons:
        try:
            parse_reason_list(value)
        except BadHeader as error:
            raise LocalProtocolError(f"bad Reason {value!r}: {error.message}") from None
    invite.top_via  # noqa: B018 - raises MissingHeader when there is none
    top_via = split_list(invite.headers.get("via") or "")[0].strip(" \t")
    lines = [("Via", top_via), ("Max-Forwards", MAX_FORWARDS)]
    lines.extend(("Route", value) for value in invite.headers.get_all("route"))
    for name in ("From", "To", "Call-ID"):
        lines.append((name, invite.headers.get(name) or ""))
    lines.append(("CSeq", f"{invite.cseq.number} CANCEL"))
    lines.extend(("Reason", value) for value in reasons)
    lines.append(("Content-Length", "0"))
    return Request("CANCEL", invite.uri_text, lines)


def _response_input(method: str, status: int) -> DialogInput | None:
    """How a final response to our ``method`` request moves the dialog (§12.2.1.2, §15.1.1)."""
    if status in (408, 481):
        return DialogInput.LOST
    if method == "INVITE":
        return DialogInput.INVITE_ANSWERED if status < 300 else DialogInput.INVITE_REJECTED
    if method == "BYE" and status not in (401, 407):  # a challenged BYE is sent again
        return DialogInput.BYE
    return None


def _dialog_target(message: Message) -> SipUri:
    """The remote target of a dialog-creating message (§12.1.1, §12.1.2: Contact is required)."""
    target = _contact_target(message)
    if target is None:
        raise BadHeader("a dialog-creating message needs a Contact (RFC 3261 §12.1)")
    return target


def _new_via(ids: IdSource, host: str, port: int, transport: str) -> Via:
    """Our top Via with a fresh branch (RFC 3261 §8.1.1.7)."""
    branch = Parameters((("branch", ids.branch()),))
    return Via(transport=transport.upper(), host=host, port=port, params=branch)


def _contact_target(message: Message) -> SipUri | None:
    """The remote target a message's Contact sets, ``None`` when it has none."""
    contacts = message.contacts
    if not contacts:
        return None
    if len(contacts) > 1:
        raise BadHeader(f"a dialog needs exactly one Contact, got {len(contacts)}")
    return _sip_uri(contacts[0], "Contact")


def _route_set(entries: Iterable[NameAddress]) -> tuple[NameAddress, ...]:
    routes = tuple(entries)
    for route in routes:
        _sip_uri(route, "Record-Route")
    return routes


def _sip_uri(address: NameAddress, what: str) -> SipUri:
    uri = address.uri
    if not isinstance(uri, SipUri):
        raise BadHeader(f"{what} {str(uri)[:60]!r} is not a SIP or SIPS URI")
    return uri


def _request_uri(uri: SipUri) -> SipUri:
    """``uri`` without what a Request-URI may not carry: headers, ``method`` (§19.1.1 Table 1)."""
    return replace(uri.without_headers(), params=uri.params.without("method"))
