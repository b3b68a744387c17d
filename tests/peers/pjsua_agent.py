"""A pjsua2 softphone process for real-peer tests: registers devices and answers their calls.

Run it as a subprocess (pjsua2 aborts the whole process on misuse, and allows one Endpoint, 4
calls and 8 accounts per process)::

    python tests/peers/pjsua_agent.py --registrar 127.0.0.1:5060 \\
        --account alice-desk:secret --account bob-phone:secret2 \\
        --answer-after 0.5 --port 40000 --events events.jsonl

- One Endpoint, UDP on ``127.0.0.1:PORT``, the null audio device, PCMU preferred, no SRTP.
- One Account per ``--account USER:PASSWORD`` (at most 4), each REGISTERing to the registrar
  with digest credentials (any realm).
- Every incoming call gets 180 at once, then 200 after ``--answer-after`` seconds (``never``:
  it rings until the caller gives up).
- Events go to ``--events`` as JSON lines, one object each, with ``event`` and ``t``:

  ``registration``  account, code, reason, expiration (the outcome of each REGISTER)
  ``incoming``      account, call, from (the raw From header), remote_uri, request_uri
  ``answering``     account, call, code (each 180/200 the agent sends)
  ``state``         account, call, state, code, reason (every ``onCallState``)
  ``disconnected``  account, call, code, reason (``lastStatusCode`` / ``lastReason``)
  ``rx``            account, method, request_uri, message: the full text of every received
                    INVITE, CANCEL, BYE and ACK (from pjsip's message log, so a CANCEL's
                    ``Reason`` headers can be checked)
  ``stopped``       on the way out

- stdout carries one line only, ``{"ready": true, "port": PORT}``, once every account has
  been added; everything pjsip logs goes to the events file or nowhere.
- SIGTERM or SIGINT: hang up every call, destroy the calls and accounts, then
  ``libDestroy(PJSUA_DESTROY_NO_NETWORK)`` and exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pjsua2 as pj  # type: ignore[import-untyped]

MAX_ACCOUNTS = 4
_LOGGED_METHODS = ("INVITE", "CANCEL", "BYE", "ACK")
_RX_HEADER = re.compile(r"RX \d+ bytes Request msg (?P<method>[A-Z]+)/")
_END_MSG = "--end msg--"


class Events:
    """The events file: one JSON object per line, written from any thread."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self.usernames: tuple[str, ...] = ()

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "t": time.time(), **fields})
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def account_for(self, request_uri: str, message: str) -> str | None:
        """Which of our accounts a received request is for: by Request-URI, then by To."""
        for text in (request_uri, _header(message, "To") or ""):
            match = re.search(r"sips?:([^@;>\s]+)@", text)
            if match is not None and match.group(1) in self.usernames:
                return match.group(1)
        return None


def _header(message: str, name: str) -> str | None:
    """The first header ``name`` of a SIP message's text (compact forms: by name)."""
    for line in message.splitlines()[1:]:
        if not line.strip():
            break
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


class Writer(pj.LogWriter):  # type: ignore[misc]
    """pjsip's log: keeps the received requests (the message log), drops everything else."""

    def __init__(self, events: Events) -> None:
        super().__init__()
        self.events = events

    def write(self, entry: Any) -> None:
        text: str = entry.msg
        found = _RX_HEADER.search(text)
        if found is None or found.group("method") not in _LOGGED_METHODS:
            return
        body = text.split("\n", 1)[1] if "\n" in text else ""
        message = body.split(_END_MSG, 1)[0].strip("\r\n") + "\r\n"
        request_uri = message.split(" ", 2)[1] if message.count(" ") >= 2 else ""
        self.events.write(
            "rx",
            account=self.events.account_for(request_uri, message),
            method=found.group("method"),
            request_uri=request_uri,
            message=message,
        )


class AgentCall(pj.Call):  # type: ignore[misc]
    def __init__(self, agent: Agent, account: AgentAccount, call_id: int) -> None:
        super().__init__(account, call_id)
        self.agent = agent
        self.username = account.username
        self.number = call_id
        self.answer_at: float | None = None
        self.disconnected = False

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        code, reason = int(info.lastStatusCode), str(info.lastReason)
        self.agent.events.write(
            "state",
            account=self.username,
            call=self.number,
            state=str(info.stateText),
            code=code,
            reason=reason,
        )
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            self.answer_at = None
            self.agent.events.write(
                "disconnected", account=self.username, call=self.number, code=code, reason=reason
            )

    def respond(self, code: int) -> None:
        op = pj.CallOpParam()
        op.statusCode = code
        self.agent.events.write("answering", account=self.username, call=self.number, code=code)
        self.answer(op)


class AgentAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, agent: Agent, username: str) -> None:
        super().__init__()
        self.agent = agent
        self.username = username

    def onRegState(self, prm: Any) -> None:
        self.agent.events.write(
            "registration",
            account=self.username,
            code=int(prm.code),
            reason=str(prm.reason),
            expiration=int(prm.expiration),
        )

    def onIncomingCall(self, prm: Any) -> None:
        call = AgentCall(self.agent, self, prm.callId)
        self.agent.calls.append(call)  # keep it: a collected Call is hung up by pjsua2
        invite = str(prm.rdata.wholeMsg)
        info = call.getInfo()
        self.agent.events.write(
            "incoming",
            account=self.username,
            call=call.number,
            **{"from": _header(invite, "From") or _header(invite, "f") or ""},
            remote_uri=str(info.remoteUri),
            request_uri=invite.split(" ", 2)[1] if invite.count(" ") >= 2 else "",
        )
        call.respond(180)
        if self.agent.answer_after is not None:
            call.answer_at = time.monotonic() + self.agent.answer_after


class Agent:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.events = Events(Path(options.events))
        self.answer_after: float | None = (
            None if options.answer_after == "never" else float(options.answer_after)
        )
        self.calls: list[AgentCall] = []
        self.accounts: list[AgentAccount] = []
        self.stopping = False
        self.ep = pj.Endpoint()
        self.writer: Writer | None = None

    def start(self) -> None:
        ep = self.ep
        _silently(ep.libCreate)
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.uaConfig.maxCalls = 4
        config.uaConfig.userAgent = "sharedline-test-pjsua"
        config.medConfig.threadCnt = 1
        config.logConfig.level = 5
        config.logConfig.consoleLevel = 5
        config.logConfig.msgLogging = True
        self.writer = Writer(self.events)
        config.logConfig.writer = self.writer
        config.logConfig.decor = 0
        ep.libInit(config)
        transport = pj.TransportConfig()
        transport.port = self.options.port
        transport.boundAddress = "127.0.0.1"
        transport.publicAddress = "127.0.0.1"
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        ep.audDevManager().setNullDev()
        ep.libStart()
        ep.codecSetPriority("PCMU/8000/1", 255)
        ep.codecSetPriority("PCMA/8000/1", 254)

        registrar = self.options.registrar
        usernames = []
        for spec in self.options.account:
            username, _, password = spec.partition(":")
            usernames.append(username)
            account_config = pj.AccountConfig()
            account_config.idUri = f"sip:{username}@{registrar}"
            account_config.regConfig.registrarUri = f"sip:{registrar}"
            account_config.regConfig.timeoutSec = 300
            account_config.regConfig.retryIntervalSec = 1
            credentials = pj.AuthCredInfo("digest", "*", username, 0, password)
            account_config.sipConfig.authCreds.append(credentials)
            account_config.natConfig.contactRewriteUse = 0
            account_config.natConfig.viaRewriteUse = 0
            account_config.natConfig.sdpNatRewriteUse = 0
            account_config.natConfig.sipOutboundUse = 0
            account_config.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_DISABLED
            account_config.mediaConfig.srtpSecureSignaling = 0
            account = AgentAccount(self, username)
            account.create(account_config)
            self.accounts.append(account)
        self.events.usernames = tuple(usernames)
        self.events.write("started", port=self.options.port, accounts=usernames)
        sys.stdout.write(json.dumps({"ready": True, "port": self.options.port}) + "\n")
        sys.stdout.flush()

    def run(self) -> None:
        while not self.stopping:
            self.ep.libHandleEvents(10)
            self._answer_due(time.monotonic())
            # Calls are deleted outside their own callbacks, once pjsua2 is done with them.
            self.calls = [call for call in self.calls if not call.disconnected]

    def _answer_due(self, now: float) -> None:
        for call in self.calls:
            if call.answer_at is not None and now >= call.answer_at:
                call.answer_at = None
                call.respond(200)

    def stop(self) -> None:
        """Hang up, then destroy every Call and Account, and only then the library.

        A Call or Account that outlives ``libDestroy`` aborts the process (SIGABRT in
        ``pjsua_call_set_user_data``), so none may stay referenced: not even by a loop
        variable, which is why the loops live in helpers whose frames are gone by then.
        """
        self._hang_up_all()
        self.calls.clear()
        self._shut_down_accounts()
        gc.collect()
        self.events.write("stopped")
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        self.events.close()

    def _hang_up_all(self) -> None:
        for call in self.calls:
            if not call.disconnected:
                with contextlib.suppress(pj.Error):
                    call.hangup(pj.CallOpParam())
        deadline = time.monotonic() + 1.0
        while any(not c.disconnected for c in self.calls) and time.monotonic() < deadline:
            self.ep.libHandleEvents(10)

    def _shut_down_accounts(self) -> None:
        for account in self.accounts:
            account.shutdown()
        self.accounts.clear()


def _silently(work: Any) -> None:
    """Run ``work`` with fd 1 on /dev/null: ``libCreate`` prints to stdout before any config."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        work()
        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--registrar", required=True, help="HOST:PORT of the registrar")
    parser.add_argument(
        "--account", action="append", required=True, help="USER:PASSWORD (repeatable, ≤ 4)"
    )
    parser.add_argument("--answer-after", default="never", help="seconds, or never")
    parser.add_argument("--port", type=int, required=True, help="local UDP port")
    parser.add_argument("--events", required=True, help="JSON-lines events file")
    options = parser.parse_args(argv)
    if len(options.account) > MAX_ACCOUNTS:
        parser.error(f"at most {MAX_ACCOUNTS} accounts per process (pjsua2 allows 8, 4 calls)")
    if options.answer_after != "never":
        try:
            float(options.answer_after)
        except ValueError:
            parser.error("--answer-after takes seconds or 'never'")
    for spec in options.account:
        if ":" not in spec:
            parser.error(f"--account {spec!r} is not USER:PASSWORD")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    agent = Agent(options)

    def stop(signum: int, frame: object) -> None:
        agent.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        agent.start()
        agent.run()
    finally:
        agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
