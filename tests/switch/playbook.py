"""A switch on a virtual clock, driven with literal SIP: the playbook for switch tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from sharedline.sip.auth import DigestChallenge, DigestServer, authorization_for, compute_ha1
from sharedline.sip.events import Address, Transport
from sharedline.sip.ids import CountingIds
from sharedline.sip.message import Request, Response
from sharedline.sip.parser import parse_message
from sharedline.sip.service import Action
from sharedline.sip.transactions import TransactionLayer
from sharedline.switch.call import LocalAddress
from sharedline.switch.directory import (
    Directory,
    DirectoryDevice,
    DirectoryMember,
    DirectoryNumber,
    DirectoryTrunk,
)
from sharedline.switch.service import Switch, SwitchSettings

REALM = "sharedline"
SWITCH: Address = ("127.0.0.1", 5060)
CARRIER: Address = ("127.0.0.2", 5070)
NUMBER = "+14155550100"
PROXY = "sip:127.0.0.2:5070"
DIALLED = "+12125550199"
OUTSIDER: Address = ("127.0.0.1", 6999)

Sent = list[tuple[Address, Request | Response]]


def lf2crlf(text: str) -> bytes:
    """A triple-quoted message as wire bytes: every LF becomes CRLF (aiortc ``lf2crlf``)."""
    return text.lstrip("\n").replace("\r\n", "\n").replace("\n", "\r\n").encode()


def device(index: int, user_id: int) -> DirectoryDevice:
    username = f"dev{index}"
    password = f"pw{index}"
    return DirectoryDevice(
        id=index,
        username=username,
        user_id=user_id,
        realm=REALM,
        ha1_md5=compute_ha1(username, REALM, password, "MD5"),
        ha1_sha256=compute_ha1(username, REALM, password, "SHA-256"),
        default_number=NUMBER,
    )


def directory(members: int = 3, *, plan: str = "starter", proxy: str | None = PROXY) -> Directory:
    trunk = DirectoryTrunk(
        id=1, name="carrier", allowed_sources=("127.0.0.2/32",), outbound_proxy=proxy
    )
    number = DirectoryNumber(
        id=1,
        e164=NUMBER,
        name="Support",
        plan=plan,
        members=tuple(
            DirectoryMember(user_id=i, name=f"User {i}", email=f"u{i}@acme.test", role="member")
            for i in range(1, members + 1)
        ),
        trunk=trunk,
    )
    outsider = DirectoryDevice(
        id=999, username="outsider", user_id=999, realm=REALM,
        ha1_md5=compute_ha1("outsider", REALM, "pw999", "MD5"),
        ha1_sha256=compute_ha1("outsider", REALM, "pw999", "SHA-256"),
    )  # fmt: skip
    devices = [device(i, i) for i in range(1, members + 1)] + [outsider]
    return Directory.build([number], devices, [trunk])


def _entropy() -> Callable[[], bytes]:
    counter = itertools.count(1)
    return lambda: next(counter).to_bytes(8, "big")


def member_address(index: int) -> Address:
    return ("127.0.0.1", 6000 + index)


@dataclass
class Bench:
    """A switch and its transaction layer, with everything sent collected."""

    switch: Switch
    layer: TransactionLayer = field(default_factory=TransactionLayer)
    now: float = 0.0
    sent: Sent = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def create(cls, members: int = 3, *, proxy: str | None = PROXY, **settings: float) -> Bench:
        switch = Switch(
            ids=CountingIds(),
            directory=directory(members, proxy=proxy),
            locals={
                "udp": LocalAddress(transport="udp", host=SWITCH[0], port=SWITCH[1]),
                "tcp": LocalAddress(transport="tcp", host=SWITCH[0], port=SWITCH[1]),
            },
            digest=DigestServer(realm=REALM, secret=b"0123456789abcdef0123"),
            entropy=_entropy(),
            settings=SwitchSettings(**settings),  # type: ignore[arg-type]
        )
        return cls(switch=switch)

    def feed(self, data: bytes, source: Address, transport: Transport = "udp") -> Sent:
        """Deliver ``data``; return what the switch sent because of it."""
        self.layer.receive(data, source, transport, self.now)
        return self._pump()

    def advance(self, to: float) -> Sent:
        """Move the clock to ``to``, firing every timer on the way."""
        out: Sent = []
        while True:
            deadlines = [
                d
                for d in (self.layer.next_deadline(), self.switch.next_deadline())
                if d is not None
            ]
            due = min(deadlines, default=None)
            if due is None or due > to:
                break
            self.now = max(self.now, due)
            self.layer.handle_timer(self.now)
            self.switch.handle_timer(self.layer, self.now)
            out += self._pump()
        self.now = to
        return out

    def _pump(self) -> Sent:
        out: Sent = []
        while True:
            for send in self.layer.take_sends():
                message = parse_message(send.data, stream=send.transport != "udp")
                out.append((send.destination, message))
            events = self.layer.take_events()
            if not events:
                break
            for event in events:
                self.switch.handle(event, self.layer, self.now)
        self.actions += self.switch.take_actions()
        self.sent += out
        return out

    # -- peers -----------------------------------------------------------------------------------

    def register(
        self,
        index: int,
        *,
        expires: int = 3600,
        transport: Transport = "udp",
        address: Address | None = None,
    ) -> Response:
        """Register device ``index`` from ``address`` (its own by default), answering the
        digest challenge; the Contact is that address."""
        address = address or member_address(index)
        challenge = self.challenge(
            self._register_request(index, expires, None, transport, address), address, transport
        )
        authorization = authorization_for(
            challenge, username=f"dev{index}", password=f"pw{index}", method="REGISTER",
            uri="sip:127.0.0.1", cnonce=f"c{index}",
        )  # fmt: skip
        request = self._register_request(index, expires, authorization, transport, address)
        [(_, answer)] = self.feed(request, address, transport)
        assert isinstance(answer, Response)
        return answer

    def challenge(
        self, data: bytes, source: Address, transport: Transport = "udp"
    ) -> DigestChallenge:
        """Send ``data`` without credentials; the first challenge of the 401/407 that comes back."""
        return self.challenged(data, source, transport)[1]

    def challenged(
        self, data: bytes, source: Address, transport: Transport = "udp"
    ) -> tuple[Response, DigestChallenge]:
        """Send ``data`` without credentials; the 401/407 and its first challenge."""
        out = self.feed(data, source, transport)
        final = out[-1][1]
        assert isinstance(final, Response), final
        assert final.status_code in (401, 407), final
        name = "www-authenticate" if final.status_code == 401 else "proxy-authenticate"
        return final, DigestChallenge.parse(final.headers.get_all(name)[0])

    def _register_request(
        self,
        index: int,
        expires: int,
        authorization: str | None,
        transport: Transport,
        address: Address,
    ) -> bytes:
        return register_request(
            f"dev{index}",
            address=address,
            cseq=next(self._counter),
            expires=expires,
            authorization=authorization,
            transport=transport,
        )

    def call_out(
        self,
        username: str = "dev1",
        password: str = "pw1",
        *,
        address: Address = ("127.0.0.1", 6001),
        dialled: str = DIALLED,
        call: str = "out-1",
        preferred: str | None = None,
        extra: str = "",
    ) -> Sent:
        """A device calls an outside number: INVITE, 407, ACK, INVITE with Proxy-Authorization.

        Returns what the switch sent for the authenticated INVITE. ``extra``: more header lines.
        """
        first = device_invite(
            username, address=address, dialled=dialled, call=call, preferred=preferred, extra=extra
        )
        refusal, challenge = self.challenged(first, address)
        assert self.feed(non_2xx_ack(first, refusal), address) == []
        authorization = authorization_for(
            challenge,
            username=username,
            password=password,
            method="INVITE",
            uri=f"sip:{dialled}@127.0.0.1",
            cnonce=f"c-{call}",
        )
        second = device_invite(
            username,
            address=address,
            dialled=dialled,
            call=call,
            cseq=2,
            authorization=authorization,
            preferred=preferred,
            extra=extra,
        )
        return self.feed(second, address)


def register_request(
    username: str,
    *,
    address: Address,
    cseq: int = 1,
    expires: int = 3600,
    aor: str | None = None,
    authorization: str | None = None,
    transport: Transport = "udp",
) -> bytes:
    """A REGISTER of ``address`` as the contact of ``aor`` (``username``'s own by default)."""
    host, port = address
    aor = aor or username
    auth = f"Authorization: {authorization}\n" if authorization is not None else ""
    return lf2crlf(f"""
REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/{transport.upper()} {host}:{port};branch=z9hG4bK-reg-{username}-{port}-{cseq}
Max-Forwards: 70
From: <sip:{aor}@127.0.0.1>;tag=r-{username}
To: <sip:{aor}@127.0.0.1>
Call-ID: reg-{username}@127.0.0.1
CSeq: {cseq} REGISTER
Contact: <sip:{username}@{host}:{port}>
Expires: {expires}
{auth}Content-Length: 0

""")


SDP = b"v=0\r\no=carrier 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n" + (
    b"m=audio 40000 RTP/AVP 0\r\n"
)
DEVICE_SDP = b"v=0\r\no=dev 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + (
    b"m=audio 42000 RTP/AVP 0\r\n"
)


def carrier_invite(
    call: str = "in-1",
    number: str = NUMBER,
    *,
    branch: str | None = None,
    max_forwards: int = 70,
    source: Address = CARRIER,
    extra_via: str | None = None,
) -> bytes:
    """The carrier's INVITE for ``number`` (sent from ``source``), with SDP."""
    host, port = source
    vias = f"Via: SIP/2.0/UDP {host}:{port};branch={branch or 'z9hG4bK-' + call}\n"
    if extra_via is not None:
        vias += f"Via: {extra_via}\n"
    head = lf2crlf(f"""
INVITE sip:{number}@127.0.0.1 SIP/2.0
{vias}Max-Forwards: {max_forwards}
From: "ACME Corp" <sip:+12125550123@{host}>;tag=carrier-{call}
To: <sip:{number}@127.0.0.1>
Call-ID: {call}@{host}
CSeq: 1 INVITE
Contact: <sip:carrier@{host}:{port}>
Content-Type: application/sdp
Content-Length: {len(SDP)}

""")
    return head + SDP


def carrier_cancel(call: str = "in-1", number: str = NUMBER, *, branch: str | None = None) -> bytes:
    """The carrier's CANCEL of :func:`carrier_invite` (same branch, RFC 3261 §9.1)."""
    return lf2crlf(f"""
CANCEL sip:{number}@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.2:5070;branch={branch or "z9hG4bK-" + call}
Max-Forwards: 70
From: "ACME Corp" <sip:+12125550123@127.0.0.2>;tag=carrier-{call}
To: <sip:{number}@127.0.0.1>
Call-ID: {call}@127.0.0.2
CSeq: 1 CANCEL
Content-Length: 0

""")


def non_2xx_ack(invite: bytes, response: Response) -> bytes:
    """The ACK a caller sends for a 300-699 to its ``invite`` (RFC 3261 §17.1.1.3)."""
    request = parse_message(invite)
    assert isinstance(request, Request)
    return lf2crlf(f"""
ACK {request.uri_text} SIP/2.0
Via: {request.headers.get_all("via")[0]}
Max-Forwards: 70
From: {request.headers.get("from")}
To: {response.headers.get("to")}
Call-ID: {request.call_id}
CSeq: {request.cseq.number} ACK
Content-Length: 0

""")


def in_dialog(
    method: str,
    *,
    uri: str,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    source: Address,
    branch: str,
    body: bytes = b"",
    content_type: str = "application/sdp",
    contact: Address | None = None,
) -> bytes:
    """A request inside a dialog, as a peer at ``source`` sends it."""
    host, port = source
    extra = f"Contact: <sip:peer@{host}:{port}>\n" if contact is not None else ""
    if body:
        extra += f"Content-Type: {content_type}\n"
    head = lf2crlf(f"""
{method} {uri} SIP/2.0
Via: SIP/2.0/UDP {host}:{port};branch={branch}
Max-Forwards: 70
From: {from_}
To: {to}
Call-ID: {call_id}
CSeq: {cseq} {method}
{extra}Content-Length: {len(body)}

""")
    return head + body


def _contact_uri(message: Request | Response) -> str:
    value = message.headers.get("contact")
    assert value is not None, message
    return value.strip().removeprefix("<").split(">")[0]


def carrier_request(
    method: str,
    ok: Response,
    *,
    cseq: int,
    branch: str,
    body: bytes = b"",
    content_type: str = "application/sdp",
    source: Address = CARRIER,
) -> bytes:
    """A request from the caller (the carrier by default) in the dialog the 2xx ``ok`` created."""
    return in_dialog(
        method,
        uri=_contact_uri(ok),
        from_=ok.headers.get("from") or "",
        to=ok.headers.get("to") or "",
        call_id=ok.call_id,
        cseq=cseq,
        source=source,
        branch=branch,
        body=body,
        content_type=content_type,
        contact=source if method in ("INVITE", "UPDATE") else None,
    )


def member_request(
    method: str,
    leg: Request,
    index: int,
    *,
    tag: str,
    cseq: int,
    branch: str,
    body: bytes = b"",
    content_type: str = "application/sdp",
) -> bytes:
    """A request from member device ``index`` in the dialog of B-leg ``leg`` (its To ``tag``)."""
    address = member_address(index)
    return in_dialog(
        method,
        uri=_contact_uri(leg),
        from_=f"{leg.headers.get('to')};tag={tag}",
        to=leg.headers.get("from") or "",
        call_id=leg.call_id,
        cseq=cseq,
        source=address,
        branch=branch,
        body=body,
        content_type=content_type,
        contact=address if method in ("INVITE", "UPDATE") else None,
    )


def carrier_ack(
    ok: Response,
    *,
    cseq: int = 1,
    branch: str = "z9hG4bK-ack",
    body: bytes = b"",
    source: Address = CARRIER,
) -> bytes:
    """The caller's ACK for the switch's 2xx ``ok`` (a new transaction, RFC 3261 §13.2.2.4)."""
    return in_dialog(
        "ACK",
        uri=_contact_uri(ok),
        from_=ok.headers.get("from") or "",
        to=ok.headers.get("to") or "",
        call_id=ok.call_id,
        cseq=cseq,
        source=source,
        branch=branch,
        body=body,
    )


def device_invite(
    username: str,
    *,
    address: Address,
    dialled: str = DIALLED,
    call: str = "out-1",
    cseq: int = 1,
    authorization: str | None = None,
    preferred: str | None = None,
    extra: str = "",
) -> bytes:
    """A device's INVITE to an outside number, with SDP (``extra``: more header lines)."""
    host, port = address
    if extra and not extra.endswith("\n"):
        extra += "\n"
    if authorization is not None:
        extra += f"Proxy-Authorization: {authorization}\n"
    if preferred is not None:
        extra += f"P-Preferred-Identity: <sip:{preferred}@127.0.0.1>\n"
    head = lf2crlf(f"""
INVITE sip:{dialled}@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-{call}-{cseq}
Max-Forwards: 70
From: <sip:{username}@127.0.0.1>;tag={username}-{call}
To: <sip:{dialled}@127.0.0.1>
Call-ID: {call}@{host}
CSeq: {cseq} INVITE
Contact: <sip:{username}@{host}:{port}>
{extra}Content-Type: application/sdp
Content-Length: {len(DEVICE_SDP)}

""")
    return head + DEVICE_SDP


def answer(
    request: Request,
    status: int,
    *,
    tag: str,
    contact: Address | None = None,
    body: bytes = b"",
) -> bytes:
    """A peer's response to a request the switch sent (``tag`` goes on To unless it has one)."""
    lines = [f"SIP/2.0 {status} {_REASONS.get(status, 'Whatever')}"]
    lines += [f"Via: {v}" for v in request.headers.get_all("via")]
    to = request.headers.get("to") or ""
    if request.to.tag is None:
        to = f"{to};tag={tag}"
    lines += [
        f"From: {request.headers.get('from')}",
        f"To: {to}",
        f"Call-ID: {request.call_id}",
        f"CSeq: {request.headers.get('cseq')}",
    ]
    if contact is not None:
        lines.append(f"Contact: <sip:member@{contact[0]}:{contact[1]}>")
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join([*lines, "", ""])).encode() + body


_REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    401: "Unauthorized",
    407: "Proxy Authentication Required",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    603: "Decline",
}
