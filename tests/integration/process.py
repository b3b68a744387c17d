"""``sharedline serve`` as a child process, for tests that drive it with real peers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


def serve_command(*args: str) -> list[str]:
    """``sharedline serve`` with JSON logs and the API on an ephemeral port (``args`` may
    override it: the last ``--api-listen`` wins)."""
    return [
        sys.executable,
        "-m",
        "sharedline",
        "serve",
        "--log-format",
        "json",
        "--api-listen",
        "127.0.0.1:0",
        *args,
    ]


def wait_for_listening(process: subprocess.Popen[str], count: int) -> list[dict[str, Any]]:
    """The first ``count`` ``sip_listening`` log records (JSON lines on stderr)."""
    assert process.stderr is not None
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(events) < count and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        record = json.loads(line)
        if record["event"] == "sip_listening":
            events.append(record)
    return events


def _drain(process: subprocess.Popen[str]) -> None:
    """Read and discard a child's log until it closes."""
    assert process.stderr is not None
    try:
        for _ in process.stderr:
            pass
    except (OSError, ValueError):  # closed under us at shutdown
        return


@contextmanager
def serving(
    *args: str,
    listeners: int,
    env: Mapping[str, str] | None = None,
    listening: list[dict[str, Any]] | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """Run ``sharedline serve ARGS`` until the block ends; it must exit 0 on SIGTERM.

    ``env`` adds environment variables (settings such as ``SHAREDLINE_SIP__RING_TIMEOUT``);
    ``listening``, when given, receives the ``sip_listening`` log records.
    """
    process = subprocess.Popen(
        serve_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    drainer: threading.Thread | None = None
    try:
        records = wait_for_listening(process, listeners)
        assert len(records) == listeners, "sharedline serve did not report its listeners"
        if listening is not None:
            listening.extend(records)
        # keep reading its log, or a full pipe would block the server mid-call
        drainer = threading.Thread(target=_drain, args=(process,), daemon=True)
        drainer.start()
        yield process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        if drainer is not None:
            drainer.join(timeout=10)
        process.communicate()  # reaps the process and closes its pipes


MD5_FIRST = {"SHAREDLINE_SIP__DIGEST_ALGORITHMS": '["MD5", "SHA-256"]'}
"""Settings that make the registrar challenge with MD5 first: SIPp answers only the first
challenge of a 401, and only with MD5."""
