"""Outbound calls: a member's device calls an outside number from a shared number.

The switch authenticates the device (407 challenge), picks the shared number the call is made
from and checks the member's access to it, then sends the call through that number's trunk with
the shared number as caller ID. Which number: the ``P-Preferred-Identity`` header the device
sends (RFC 3325 §9.2, e.g. ``P-Preferred-Identity: <sip:+14155550100@sharedline>``), else the
device's default number, else the only number its user belongs to.
"""

from __future__ import annotations

import re

from ..sip.auth import AuthHeaderError, DigestChallenge, compute_response
from ..sip.errors import ProtocolError
from ..sip.message import Request, Response
from ..sip.uri import SipUri, TelUri
from .directory import Directory, DirectoryDevice, DirectoryNumber

__all__ = ["authorization_header", "choose_number", "dialled_number"]

_DIALLABLE_RE = re.compile(r"\+?[0-9]{3,15}")


def dialled_number(request: Request) -> str | None:
    """The outside number a device dialled: the Request-URI user (or tel number), digits only."""
    uri = request.uri
    user = uri.number if isinstance(uri, TelUri) else uri.user if isinstance(uri, SipUri) else None
    if user is None:
        return None
    cleaned = re.sub(r"[\-.() ]", "", user.split(";")[0])
    return cleaned if _DIALLABLE_RE.fullmatch(cleaned) else None


def choose_number(
    request: Request, device: DirectoryDevice, directory: Directory
) -> tuple[DirectoryNumber | None, str | None]:
    """The shared number this call is made from, or (None, why not)."""
    preferred = request.headers.get("p-preferred-identity")
    wanted: str | None = None
    if preferred is not None:
        match = re.search(r"(?:sip:|tel:)(\+?[0-9]+)", preferred)
        wanted = match.group(1) if match else None
        if wanted is None:
            return None, "P-Preferred-Identity does not name a number"
    elif device.default_number is not None:
        wanted = device.default_number
    else:
        own = directory.numbers_of(device.user_id)
        if len(own) == 1:
            return own[0], None
        if not own:
            return None, "the device's user is a member of no shared number"
        return None, "the device names no number and its user has several"
    number = directory.numbers.get(wanted) or directory.numbers.get(f"+{wanted.lstrip('+')}")
    if number is None:
        return None, f"{wanted} is not a shared number here"
    return number, None


def authorization_header(
    challenge_response: Response,
    request: Request,
    credentials: tuple[str, str, str],
    *,
    cnonce: str,
) -> tuple[str, str] | None:
    """The (Proxy-)Authorization header answering a carrier's 401/407 with a stored HA1.

    ``credentials`` is (username, realm, HA1); None when the challenge is for another realm
    or unreadable.
    """
    username, realm, ha1 = credentials
    name = "WWW-Authenticate" if challenge_response.status_code == 401 else "Proxy-Authenticate"
    for value in challenge_response.headers.get_all(name):
        try:
            challenge = DigestChallenge.parse(value)
        except (AuthHeaderError, ProtocolError):
            continue
        if challenge.realm != realm or challenge.algorithm.upper() not in ("MD5", "MD5-SESS"):
            continue
        uri = request.uri_text
        qop = "auth" if "auth" in challenge.qop else None
        nc = "00000001" if qop else None
        response = compute_response(
            ha1=ha1,
            nonce=challenge.nonce,
            method=request.method,
            uri=uri,
            algorithm=challenge.algorithm,
            qop=qop,
            nc=nc,
            cnonce=cnonce if qop else None,
        )
        parts = [
            f'username="{username}"',
            f'realm="{realm}"',
            f'nonce="{challenge.nonce}"',
            f'uri="{uri}"',
            f'response="{response}"',
            f"algorithm={challenge.algorithm}",
        ]
        if qop:
            parts += [f"qop={qop}", f"nc={nc}", f'cnonce="{cnonce}"']
        if challenge.opaque is not None:
            parts.append(f'opaque="{challenge.opaque}"')
        header = "Authorization" if challenge_response.status_code == 401 else "Proxy-Authorization"
        return header, "Digest " + ", ".join(parts)
    return None
