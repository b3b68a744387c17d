"""Registrar decisions for one REGISTER (RFC 3261 §10.3), sans-IO.

Theory of operation
-------------------
The registrar adapter authenticates the REGISTER (``auth.DigestServer``), loads the current
bindings of the address-of-record from the store, and calls :func:`process_register` with them
and ``now`` (wall-clock seconds, since bindings outlive the process). The function returns the
response to send and the complete new binding list; the adapter persists the list and answers.
Nothing here touches a database or a clock.

The steps follow §10.3: the To URI must be a SIP or SIPS URI (else 404, and never a binding for
``isbn:`` or ``http:`` addresses, RFC 4475 §3.3.4); ``Contact: *`` needs ``Expires: 0`` and no
other contact (else 400); each contact's expiry comes from its ``expires`` parameter, else the
Expires header, else the default, is raised to 423 when below ``min_expires`` and capped at
``max_expires``; a binding with the same Call-ID and a CSeq that is not higher is not updated
(the request is out of order, 500 per step 7). URI headers in a contact are dropped before
storing, so they can never become real headers when the contact is rung (RFC 4475 §3.3.14).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BadHeader
from .headers import NameAddress
from .message import Request, Response
from .responses import make_response
from .uri import SipUri, parse_uri

__all__ = ["Binding", "RegisterOutcome", "RegistrarPolicy", "process_register"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrarPolicy:
    """Expiry bounds and how many contacts one address-of-record may hold."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """One contact bound to an address-of-record until ``expires_at`` (wall-clock seconds)."""

    contact: str
    expires_at: float
    q: float | None = None
    call_id: str
    cseq: int
    source: str = ""
    """Where the REGISTER came from, ``transport:host:port``: where to send requests (NAT)."""

    def expires_in(self, now: float) -> int:
        """Whole seconds left, as the 200 OK reports them."""
        return max(0, int(self.expires_at - now + 0.5))


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterOutcome:
    """The response to send and, when it is 200, the bindings to keep."""

    response: Response
    bindings: tuple[Binding, ...]
    changed: bool


def process_register(
    request: Request,
    bindings: tuple[Binding, ...],
    *,
    now: float,
    to_tag: str,
    source: str = "",
    policy: RegistrarPolicy = RegistrarPolicy(),
) -> RegisterOutcome:
    """Apply one authenticated REGISTER to ``bindings`` (RFC 3261 §10.3 steps 5-8)."""
    live = tuple(b for b in bindings if b.expires_at > now)

    def refuse(
        status: int, reason: str | None = None, headers: tuple[tuple[str, str], ...] = ()
    ) -> RegisterOutcome:
        response = make_response(request, status, reason, to_tag=to_tag, headers=headers)
        return RegisterOutcome(response=response, bindings=live, changed=False)

    if not isinstance(request.to.uri, SipUri):
        return refuse(404, "Not Found (address-of-record must be a SIP URI)")  # §10.3 step 5
    header_expires = request.expires
    if request.contact_wildcard:  # §10.3 step 6
        if header_expires != 0:
            return refuse(400, "Bad Request (Contact: * needs Expires: 0)")
        if any(b.call_id == request.call_id and request.cseq.number <= b.cseq for b in live):
            return refuse(500, "Server Internal Error (out-of-order REGISTER)")
        return _accept(request, (), now=now, to_tag=to_tag, changed=bool(live))
    updated = list(live)
    changed = False
    for contact in request.contacts:
        try:
            stored = _storable_contact(contact)
        except BadHeader as error:
            return refuse(400, f"Bad Request ({error.message})")
        expires = _requested_expiry(contact, header_expires, policy)
        if 0 < expires < policy.min_expires:  # §10.3 step 7: 423 with Min-Expires
            return refuse(423, headers=(("Min-Expires", str(policy.min_expires)),))
        expires = min(expires, policy.max_expires)
        index = _find(updated, stored)
        if index is not None:
            existing = updated[index]
            if existing.call_id == request.call_id and request.cseq.number <= existing.cseq:
                return refuse(500, "Server Internal Error (out-of-order REGISTER)")
            del updated[index]
        if expires > 0:
            updated.append(
                Binding(
                    contact=stored,
                    expires_at=now + expires,
                    q=_q_value(contact),
                    call_id=request.call_id,
                    cseq=request.cseq.number,
                    source=source,
                )
            )
        changed = True
    if len(updated) > policy.max_contacts:
        return refuse(403, f"Forbidden (at most {policy.max_contacts} contacts per device)")
    return _accept(request, tuple(updated), now=now, to_tag=to_tag, changed=changed)


def _accept(
    request: Request, bindings: tuple[Binding, ...], *, now: float, to_tag: str, changed: bool
) -> RegisterOutcome:
    # §10.3 step 8: the 200 lists every current binding with its remaining time.
    headers = [("Contact", f"<{b.contact}>;expires={b.expires_in(now)}") for b in bindings]
    response = make_response(request, 200, to_tag=to_tag, headers=headers)
    return RegisterOutcome(response=response, bindings=bindings, changed=changed)


def _storable_contact(contact: NameAddress) -> str:
    uri = contact.uri
    if not isinstance(uri, SipUri):
        raise BadHeader(f"contact {uri} is not a SIP URI")
    return str(uri.without_headers())


def _requested_expiry(
    contact: NameAddress, header_expires: int | None, policy: RegistrarPolicy
) -> int:
    value = contact.params.get("expires")
    if value is not None:
        text = value.strip()
        # RFC 3261 §20.19: a malformed value is treated as the default (3600 there)
        if text.isascii() and text.isdigit():
            return policy.max_expires if len(text) > 10 else int(text)
        return policy.default_expires
    return header_expires if header_expires is not None else policy.default_expires


def _q_value(contact: NameAddress) -> float | None:
    value = contact.params.get("q")
    if value is None:
        return None
    try:
        q = float(value)
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


def _find(bindings: list[Binding], contact: str) -> int | None:
    """The index of the binding whose contact is equivalent (RFC 3261 §19.1.4) to ``contact``."""
    wanted = parse_uri(contact)
    for index, binding in enumerate(bindings):
        if parse_uri(binding.contact).equivalent(wanted):
            return index
    return None
