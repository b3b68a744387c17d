"""A fake of Twilio's Messages REST endpoint, built from Twilio's published API reference (not
from Twilio's code): ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic
auth (account SID and auth token) and an url-encoded form (``To``, ``From``, ``Body``,
``MediaUrl`` repeated, ``StatusCallback``). It answers ``201`` with the Message resource as JSON,
or Twilio's error object ``{"code", "message", "more_info", "status"}``: 20003 (401, bad
credentials), 21604 / 21603 (400, ``To`` / ``From`` missing), 21211 (400, ``To`` not a valid
number), 21602 (400, neither ``Body`` nor ``MediaUrl``), 20404 (404, another account).

It runs an ``http.server`` on 127.0.0.1 (ephemeral port) in a thread and keeps every request.
``fail_with_status`` makes it answer the next requests with a bare 5xx page instead.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

__all__ = ["FakeTwilio", "ReceivedRequest", "fake_twilio"]

_PATH = re.compile(r"/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    content_type: str
    user: str
    password: str
    form: dict[str, list[str]]


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    base_url: str = ""
    requests: list[ReceivedRequest] = field(default_factory=list)
    fail_with_status: int | None = None
    invalid_numbers: set[str] = field(default_factory=set)
    """Numbers Twilio would find no route to (21211, like a malformed one)."""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def answer(self, request: ReceivedRequest) -> tuple[int, dict[str, object] | None]:
        self.requests.append(request)
        if self.fail_with_status is not None:
            return self.fail_with_status, None
        match = _PATH.fullmatch(request.path)
        if request.user != self.account_sid or request.password != self.auth_token:
            return _error(401, 20003, "Authenticate")
        if match is None or match["sid"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        form = {name: values[-1] for name, values in request.form.items()}
        if "To" not in form:
            return _error(400, 21604, "A 'To' phone number is required.")
        if "From" not in form:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not _E164.fullmatch(form["To"]) or form["To"] in self.invalid_numbers:
            return _error(400, 21211, f"The 'To' number {form['To']} is not a valid phone number.")
        media = request.form.get("MediaUrl", [])
        if not form.get("Body") and not media:
            return _error(400, 21602, "Message body is required.")
        sid = f"SM{next(self._ids):032x}"
        return 201, {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": "Tue, 24 Nov 2026 09:00:00 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form["From"],
            "num_media": str(len(media)),
            "num_segments": "1",
            "price": None,
            "sid": sid,
            "status": "queued",
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, object]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            user, password = _basic(self.headers.get("Authorization", ""))
            request = ReceivedRequest(
                path=self.path,
                content_type=self.headers.get("Content-Type", ""),
                user=user,
                password=password,
                form=parse_qs(body, keep_blank_values=True),
            )
            status, document = fake.answer(request)
            if document is None:
                payload, content_type = b"<html>Service Unavailable</html>", "text/html"
            else:
                payload, content_type = json.dumps(document).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return user, password


@contextmanager
def fake_twilio(account_sid: str, auth_token: str) -> Iterator[FakeTwilio]:
    """The fake on 127.0.0.1 with an ephemeral port, for the ``with`` block."""
    fake = FakeTwilio(account_sid=account_sid, auth_token=auth_token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
