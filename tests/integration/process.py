"""``sharedline serve`` as a child process, for tests that drive it with real peers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sharedline", "serve", "--log-format", "json", *args]


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


@contextmanager
def serving(*args: str, listeners: int) -> Iterator[subprocess.Popen[str]]:
    """Run ``sharedline serve ARGS`` until the block ends; it must exit 0 on SIGTERM."""
    process = subprocess.Popen(
        serve_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        listening = wait_for_listening(process, listeners)
        assert len(listening) == listeners, "sharedline serve did not report its listeners"
        yield process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()  # reaps the process and closes its pipes
