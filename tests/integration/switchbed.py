"""A test bed for real-peer call tests: ``sharedline serve``, a provisioned team, SIPp phones.

One :class:`SwitchBed` lives in a test's ``tmp_path``:

- ``bed.yaml``: workspace Starter, users ``m1@bed.test`` … with one device each (``m{i}`` /
  ``pw{i}``), a trunk ``carrier`` allowing ``127.0.0.1/32`` and the number ``+14155550100``
  named Support with every user as a member; applied with ``sharedline provision`` to
  ``bed.db`` (SQLite).
- :meth:`SwitchBed.serving` runs ``sharedline serve --sip-listen udp:127.0.0.1:<port>`` on that
  database (:func:`tests.integration.process.serving`), and :meth:`SwitchBed.register` registers
  each member's device from the member's own free UDP port.
- :meth:`SwitchBed.phones` then starts one SIPp UAS per member on the very port the member
  registered from, so the switch rings each phone where it registered; each SIPp has its own
  directory (``<tmp>/m3`` …) and is killed when the block ends, whatever happens.
- :meth:`SwitchBed.call` places the carrier's call(s) with SIPp from 127.0.0.1, the trunk's
  allowed source, and waits for them; :meth:`SwitchBed.start_call` starts them and returns at
  once. Members are on 127.0.0.1 too; the switch tells them apart by what they send: members
  REGISTER, the carrier INVITEs the shared number.
- Call flows: set :attr:`SwitchBed.flows` to a flow file or directory (``serve --flows``) and
  :attr:`SwitchBed.env` to extra settings (``SHAREDLINE_FLOWS_POLL_INTERVAL`` …).
  :meth:`SwitchBed.serving_logged` runs the switch like :meth:`SwitchBed.serving` and keeps its
  JSON log records (:class:`ServerLog`), for tests that wait for ``flows_reloaded``.

Registration: SIPp 3.6.1 answers only the first WWW-Authenticate of a 401 and only with MD5,
while the switch offers SHA-256 first and MD5 second (RFC 8760 section 2.4: preferred first).
``register.xml`` therefore cannot register with the switch's default settings, and the bed
registers with :func:`register_device`: a small digest client written here from RFC 7616 (hashlib,
not the switch's own code) that answers the first challenge it supports, as RFC 8760 asks of a
UAC. :func:`serving_md5_first` starts the switch with ``sip.digest_algorithms: [MD5, SHA-256]``,
for ``register.xml`` itself.

:func:`trace` splits SIPp's message log (``result.messages``) into the messages a peer sent and
received, for assertions on what each peer actually saw on the wire, each with the time SIPp
logged it (:attr:`TraceMessage.at`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from tests.integration.process import MD5_FIRST, serve_command, serving
from tests.peers.sipp import (
    SCENARIOS,
    SippProcess,
    SippResult,
    free_udp_port,
    require_sipp,
    run_sipp,
)

__all__ = [
    "NUMBER",
    "NUMBER_NAME",
    "Member",
    "ServerLog",
    "SwitchBed",
    "TraceMessage",
    "received",
    "register_device",
    "sent",
    "serving_md5_first",
    "trace",
    "wait_all",
]

NUMBER = "+14155550100"
NUMBER_NAME = "Support"
HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Member:
    """One team member with one device, and the UDP port its phone uses."""

    index: int
    port: int

    @property
    def email(self) -> str:
        return f"m{self.index}@bed.test"

    @property
    def username(self) -> str:
        return f"m{self.index}"

    @property
    def password(self) -> str:
        return f"pw{self.index}"


def provisioning_yaml(members: Sequence[Member], *, plan: str = "starter") -> str:
    """The bed's provisioning file: every member is a member of the number, in order."""
    lines = ["workspace:", "  name: Starter", f"  plan: {plan}", "users:"]
    for member in members:
        lines += [
            f"  - email: {member.email}",
            f"    name: Member {member.index}",
            "    devices:",
            f"      - username: {member.username}",
            f'        password: "{member.password}"',
        ]
    lines += [
        "trunks:",
        "  - name: carrier",
        f"    allowed_sources: [{HOST}/32]",
        "numbers:",
        f'  - e164: "{NUMBER}"',
        f"    name: {NUMBER_NAME}",
        "    trunk: carrier",
        "    members:",
    ]
    lines += [f"      - user: {member.email}" for member in members]
    return "\n".join(lines) + "\n"


def sharedline(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``sharedline ARGS`` in a child process; fail the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-m", "sharedline", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"sharedline {' '.join(args)} failed:\n{done.stderr}"
    return done


@dataclass
class SwitchBed:
    """A provisioned team on a switch of its own, in ``root``."""

    root: Path
    members: list[Member]
    port: int = field(default_factory=free_udp_port)
    sip_settings: dict[str, float] = field(default_factory=dict)
    """Extra ``sip:`` settings for ``sharedline serve`` (e.g. ``{"t1": 0.05}``)."""
    flows: Path | None = None
    """The call-flow file or directory for ``sharedline serve --flows`` (None: no flows)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for ``sharedline serve`` (``{"SHAREDLINE_SIP__VOICEMAIL_URI": …}``)."""

    @classmethod
    def create(cls, root: Path, members: int, *, plan: str = "starter") -> SwitchBed:
        """Write ``bed.yaml`` for ``members`` users and provision it into ``bed.db``."""
        require_sipp()
        root.mkdir(parents=True, exist_ok=True)
        bed = cls(root, [Member(i, free_udp_port()) for i in range(1, members + 1)])
        (root / "bed.yaml").write_text(provisioning_yaml(bed.members, plan=plan), "utf-8")
        sharedline("provision", str(root / "bed.yaml"), "--db", bed.db)
        return bed

    @property
    def db(self) -> str:
        return f"sqlite+aiosqlite:///{self.root / 'bed.db'}"

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"

    def serve_args(self) -> tuple[str, ...]:
        args: tuple[str, ...] = ("--sip-listen", f"udp:{self.target}", "--db", self.db)
        if self.sip_settings:
            config = self.root / "settings.yaml"
            lines = ["sip:", *(f"  {key}: {value}" for key, value in self.sip_settings.items())]
            config.write_text("\n".join(lines) + "\n", "utf-8")
            args += ("--config", str(config))
        if self.flows is not None:
            args += ("--flows", str(self.flows))
        return args

    @contextmanager
    def serving(self) -> Iterator[subprocess.Popen[str]]:
        """``sharedline serve`` on the bed's port and database until the block ends."""
        with serving(*self.serve_args(), listeners=1, env=self.env) as process:
            yield process

    @contextmanager
    def serving_logged(self) -> Iterator[ServerLog]:
        """As :meth:`serving`, keeping the switch's log records (see :class:`ServerLog`)."""
        with serving_logged(*self.serve_args(), listeners=1, env=self.env) as log:
            yield log

    def register(self, members: Sequence[Member] | None = None) -> None:
        """Register each member's device from its own port (see :func:`register_device`)."""
        for member in self.members if members is None else members:
            register_device(
                (HOST, self.port),
                username=member.username,
                password=member.password,
                port=member.port,
            )

    @contextmanager
    def phones(
        self,
        scenarios: Sequence[tuple[Member, str]],
        *,
        calls: int = 1,
        timeout: float = 20,
    ) -> Iterator[list[SippProcess]]:
        """One SIPp UAS per (member, scenario file name), on the member's registered port.

        Every SIPp runs in ``<root>/<username>`` and is killed when the block ends.
        """
        with ExitStack() as stack:
            started = []
            for member, scenario in scenarios:
                phone = SippProcess.start(
                    SCENARIOS / scenario,
                    "",
                    calls=calls,
                    timeout=timeout,
                    cwd=self.root / member.username,
                    port=member.port,
                )
                stack.enter_context(phone)
                started.append(phone)
            for phone in started:
                _wait_until_bound(phone)
            yield started

    @contextmanager
    def uas(
        self, scenario: str, *, name: str, port: int, calls: int = 1, timeout: float = 20
    ) -> Iterator[SippProcess]:
        """A SIPp UAS that is no member's phone (a voicemail server …) on ``port``, in
        ``<root>/<name>``, listening when the block starts and killed when it ends."""
        with SippProcess.start(
            SCENARIOS / scenario, "", calls=calls, timeout=timeout, cwd=self.root / name, port=port
        ) as peer:
            _wait_until_bound(peer)
            yield peer

    def call(
        self,
        scenario: str = "carrier_call.xml",
        *,
        calls: int = 1,
        rate: float | None = None,
        limit: int | None = None,
        timeout: float = 20,
        name: str = "carrier",
    ) -> SippResult:
        """The carrier's call(s) to the shared number from 127.0.0.1, run to completion."""
        extra = ["-s", NUMBER]
        if limit is not None:
            extra += ["-l", str(limit)]
        return run_sipp(
            SCENARIOS / scenario,
            self.target,
            calls=calls,
            rate=rate,
            timeout=timeout,
            extra=extra,
            cwd=self.root / name,
        )

    def start_call(
        self, scenario: str = "carrier_call.xml", *, timeout: float = 20, name: str = "carrier"
    ) -> SippProcess:
        """The carrier's call to the shared number, started: :meth:`SippProcess.wait` ends it."""
        return SippProcess.start(
            SCENARIOS / scenario,
            self.target,
            timeout=timeout,
            extra=["-s", NUMBER],
            cwd=self.root / name,
        )

    def call_history(self) -> list[dict[str, Any]]:
        """``sharedline calls list --json`` on the bed's database, newest first.

        Read it after :meth:`serving` ends: the switch writes call records in the background
        and flushes them when it stops.
        """
        return _json_list(sharedline("calls", "list", "--json", "--db", self.db).stdout)

    def registrations(self) -> list[dict[str, Any]]:
        """``sharedline registrations list --json`` on the bed's database."""
        return _json_list(sharedline("registrations", "list", "--json", "--db", self.db).stdout)


def _wait_until_bound(phone: SippProcess, limit: float = 5.0) -> None:
    """Return once SIPp holds its UDP port, so the switch's first INVITE finds the phone."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert phone.process.poll() is None, f"sipp exited at start:\n{phone.wait().describe()}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((HOST, phone.port))
            except OSError:
                return  # taken: SIPp is listening
        time.sleep(0.01)
    raise AssertionError(f"sipp did not bind 127.0.0.1:{phone.port} within {limit:g} s")


def _json_list(text: str) -> list[dict[str, Any]]:
    listed = json.loads(text)
    assert isinstance(listed, list), text
    return listed


def wait_all(phones: Sequence[SippProcess]) -> list[SippResult]:
    """Every phone's result, once each has exited."""
    return [phone.wait() for phone in phones]


# -- the switch's own log ------------------------------------------------------------------------


class ServerLog:
    """The JSON log records of a running ``sharedline serve``, kept as they arrive.

    A thread reads the child's standard error line by line (so a full pipe never blocks the
    switch); :meth:`wait_for` blocks until a record with a given ``event`` shows up.
    """

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._records: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        try:
            for line in self.process.stderr:
                try:
                    record = json.loads(line)
                except ValueError:
                    record = {"event": None, "text": line}
                if not isinstance(record, dict):
                    record = {"event": None, "text": line}
                with self._changed:
                    self._records.append(record)
                    self._changed.notify_all()
        except (OSError, ValueError):  # closed under us at shutdown
            pass
        with self._changed:
            self._changed.notify_all()

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record so far, oldest first (a copy)."""
        with self._changed:
            return list(self._records)

    def events(self, event: str) -> list[dict[str, Any]]:
        """The records so far whose ``event`` is ``event``."""
        return [record for record in self.records if record.get("event") == event]

    def mark(self) -> int:
        """How many records there are now: pass it to :meth:`wait_for` as ``after``."""
        with self._changed:
            return len(self._records)

    def wait_for(self, event: str, *, after: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        """The first record numbered ``after`` or later whose ``event`` is ``event``.

        Fails the test when none arrives within ``timeout`` seconds or the switch exits first.
        """
        index = self._wait_index(event, after, timeout)
        with self._changed:
            return self._records[index]

    def _wait_index(self, event: str, after: int, timeout: float) -> int:
        """The number of the first record from ``after`` on with ``event`` (see wait_for)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(after, len(self._records)):
                    if self._records[index].get("event") == event:
                        return index
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._reader.is_alive():
                    break
                self._changed.wait(remaining)
        raise AssertionError(f"no {event!r} in the switch's log within {timeout:g} s:\n{self}")

    def close(self) -> None:
        self._reader.join(timeout=10)

    def __str__(self) -> str:
        return "\n".join(json.dumps(record) for record in self.records[-40:])


@contextmanager
def serving_logged(
    *args: str, listeners: int, env: dict[str, str] | None = None
) -> Iterator[ServerLog]:
    """Like :func:`tests.integration.process.serving`, keeping the log (:class:`ServerLog`)."""
    process = subprocess.Popen(
        serve_command(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    log = ServerLog(process)
    try:
        after = 0
        for _ in range(listeners):
            after = log._wait_index("sip_listening", after, 15) + 1
        yield log
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, f"sharedline serve failed:\n{log}"
    finally:
        process.kill()
        process.wait()
        log.close()
        assert process.stderr is not None
        process.stderr.close()


# -- SIPp's message trace ------------------------------------------------------------------------

_TRACE_HEAD = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d [\d:.]+)$", re.MULTILINE)
_DIRECTION = re.compile(r"^\w+ message (sent|received)")


@dataclass(frozen=True, slots=True)
class TraceMessage:
    """One SIP message in a SIPp message log, as SIPp sent or received it."""

    direction: Literal["sent", "received"]
    text: str
    at: float | None = None
    """When SIPp logged it, in epoch seconds (SIPp writes its local wall-clock time)."""

    @property
    def start_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def method(self) -> str | None:
        """The request method, or None for a response."""
        first = self.start_line.split(" ", 1)[0]
        return None if first == "SIP/2.0" else first

    @property
    def status(self) -> int | None:
        """The status code, or None for a request."""
        parts = self.start_line.split(" ", 2)
        return int(parts[1]) if parts[0] == "SIP/2.0" else None

    def headers(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive; no compact forms), in order."""
        head = self.text.split("\n\n", 1)[0]
        wanted = name.lower()
        values = []
        for line in head.split("\n")[1:]:
            key, colon, value = line.partition(":")
            if colon and key.strip().lower() == wanted:
                values.append(value.strip())
        return values

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        return values[0] if values else None

    @property
    def body(self) -> str:
        return self.text.partition("\n\n")[2]


def trace(messages: str) -> list[TraceMessage]:
    """The messages in a SIPp ``-trace_msg`` log, in the order SIPp logged them."""
    found = []
    parts = _TRACE_HEAD.split(messages)[1:]  # stamp, block, stamp, block …
    for stamp, block in zip(parts[::2], parts[1::2], strict=True):
        block = block.strip("\n")
        first, _, text = block.partition("\n")
        match = _DIRECTION.match(first)
        if match is None:
            continue
        direction: Literal["sent", "received"] = "sent" if match.group(1) == "sent" else "received"
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        found.append(TraceMessage(direction, text.strip("\n").replace("\r", ""), at))
    return found


def received(result: SippResult, what: str | int) -> list[TraceMessage]:
    """The requests with method ``what`` (or responses with status ``what``) a peer received."""
    return _matching(result, "received", what)


def sent(result: SippResult, what: str | int) -> list[TraceMessage]:
    """The requests with method ``what`` (or responses with status ``what``) a peer sent."""
    return _matching(result, "sent", what)


def _matching(result: SippResult, direction: str, what: str | int) -> list[TraceMessage]:
    return [
        message
        for message in trace(result.messages)
        if message.direction == direction
        and (message.status == what if isinstance(what, int) else message.method == what)
    ]


# -- a digest client for REGISTER (RFC 3261 section 22, RFC 7616) ---------------------------------

_HASHES = {"SHA-256": "sha256", "MD5": "md5"}
_PARAM = re.compile(r'([A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')


def _digest_params(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    assert scheme.lower() == "digest", f"not a Digest challenge: {value!r}"
    return {k.lower(): v.strip('"') for k, v in _PARAM.findall(rest)}


def register_device(
    server: tuple[str, int],
    *,
    username: str,
    password: str,
    port: int,
    expires: int = 3600,
    timeout: float = 5.0,
) -> str:
    """REGISTER ``sip:<username>@<server host>`` from ``127.0.0.1:<port>``; the 200's text.

    Sends the REGISTER, expects 401, answers the first challenge whose algorithm it knows
    (SHA-256 or MD5, qop=auth) with CSeq 2 and expects 200. The socket is closed before
    returning, so a SIPp phone can take the port over.
    """
    host = server[0]
    call_id = f"{secrets.token_hex(8)}@{HOST}"
    tag = secrets.token_hex(4)
    uri = f"sip:{host}"

    def request(cseq: int, authorization: str | None) -> bytes:
        lines = [
            f"REGISTER {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:{username}@{host}>;tag={tag}",
            f"To: <sip:{username}@{host}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <sip:{username}@{HOST}:{port}>",
            f"Expires: {expires}",
        ]
        if authorization is not None:
            lines.append(f"Authorization: {authorization}")
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, port))
        sock.settimeout(timeout)

        def exchange(data: bytes) -> str:
            sock.sendto(data, server)
            while True:
                reply = sock.recv(65535).decode("utf-8", "replace")
                if not reply.startswith("SIP/2.0 1"):  # skip provisionals
                    return reply

        challenge = exchange(request(1, None))
        assert challenge.startswith("SIP/2.0 401"), f"expected 401, got:\n{challenge}"
        offers = [
            _digest_params(line.partition(":")[2])
            for line in challenge.split("\r\n")
            if line.lower().startswith("www-authenticate:")
        ]
        offer = next(o for o in offers if o.get("algorithm", "MD5").upper() in _HASHES)
        algorithm = offer.get("algorithm", "MD5").upper()

        def h(text: str) -> str:
            return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()

        cnonce, nc = secrets.token_hex(8), "00000001"
        ha1 = h(f"{username}:{offer['realm']}:{password}")
        ha2 = h(f"REGISTER:{uri}")
        response = h(f"{ha1}:{offer['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        authorization = (
            f'Digest username="{username}", realm="{offer["realm"]}", nonce="{offer["nonce"]}", '
            f'uri="{uri}", response="{response}", algorithm={algorithm}, qop=auth, nc={nc}, '
            f'cnonce="{cnonce}"'
        )
        answer = exchange(request(2, authorization))
        assert answer.startswith("SIP/2.0 200"), f"REGISTER as {username} failed:\n{answer}"
        return answer


# -- the switch preferring MD5, for SIPp's register.xml -------------------------------------------


@contextmanager
def serving_md5_first(*args: str, listeners: int) -> Iterator[subprocess.Popen[str]]:
    """Like :func:`tests.integration.process.serving`, with the registrar offering MD5 first."""
    with serving(*args, listeners=listeners, env=MD5_FIRST) as process:
        yield process
