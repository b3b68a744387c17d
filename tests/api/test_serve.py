"""``sharedline serve --api-listen`` as a real process: the bound port is logged and the API
answers over real HTTP on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.process import serve_command


def _records_until(process: subprocess.Popen[str], event: str) -> list[dict[str, Any]]:
    assert process.stderr is not None
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        records.append(json.loads(line))
        if records[-1]["event"] == event:
            break
    return records


def test_serve_logs_the_api_port_and_answers_openapi(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    args = ("--sip-listen", "udp:127.0.0.1:0", "--api-listen", "127.0.0.1:0", "--db", db)
    process = subprocess.Popen(
        serve_command(*args),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        records = _records_until(process, "api_listening")
        listening = records[-1]
        assert listening["event"] == "api_listening", records
        assert listening["host"] == "127.0.0.1"
        port = listening["port"]
        assert port > 0
        response = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5)
        assert response.status_code == 200
        assert "/numbers/{e164}/members" in response.json()["paths"]
        missing = httpx.get(f"http://127.0.0.1:{port}/numbers", timeout=5)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "not_authenticated"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()
