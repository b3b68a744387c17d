"""Real peers: pjsua2 softphones register with ``sharedline serve`` and a SIPp carrier calls.

The bed (one per module): a provisioned workspace (three users with one device each, a carrier
trunk allowing 127.0.0.1/32, +14155550100 "Support" ringing all three), ``sharedline serve`` on
a free UDP port, and two pjsua2 agent processes (``tests/peers/pjsua_agent.py``):

- ``ringers``: alice-desk and bob-phone, which ring and never answer;
- ``answerer``: carol-softphone, which answers 0.5 s after it starts ringing.

pjsua2 runs only in those subprocesses: it aborts its process on misuse and allows 4 calls and
8 accounts per process (notes/dependencies.md §1). Without pjsua2 (it has wheels for x86_64
only) the tests are skipped, or fail under ``CI``; the same goes for SIPp.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.process import serving
from tests.peers.sipp import free_udp_port, require_sipp, run_sipp

AGENT = Path(__file__).resolve().parents[1] / "peers" / "pjsua_agent.py"
NUMBER = "+14155550100"
COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'

DEVICES = {
    "alice-desk": "correct horse battery",
    "bob-phone": "blue kettle morning",
    "carol-softphone": "seven quiet lanterns",
}

WORKSPACE = f"""\
workspace:
  name: Acme
  plan: starter
users:
  - email: alice@acme.test
    name: Alice Martin
    role: owner
    devices:
      - username: alice-desk
        password: "{DEVICES["alice-desk"]}"
  - email: bob@acme.test
    name: Bob Chen
    devices:
      - username: bob-phone
        password: "{DEVICES["bob-phone"]}"
  - email: carol@acme.test
    name: Carol Diaz
    devices:
      - username: carol-softphone
        password: "{DEVICES["carol-softphone"]}"
trunks:
  - name: carrier
    allowed_sources: [127.0.0.1/32]
numbers:
  - e164: "{NUMBER}"
    name: Support
    trunk: carrier
    members:
      - user: alice@acme.test
        role: owner
      - user: bob@acme.test
      - user: carol@acme.test
"""


def _truthy(value: str | None) -> bool:
    return (value or "").lower() not in ("", "0", "false", "no")


def require_pjsua2() -> None:
    """Skip without an importable pjsua2 (fail under CI). Checked in a child: no pjsip here."""
    probe = subprocess.run(
        [sys.executable, "-c", "import pjsua2; pjsua2.Endpoint"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        reason = (
            "pjsua2 is not importable (pip install -e '.[test]' installs pjsua2-python on "
            f"x86_64 Linux): {last}"
        )
        if _truthy(os.environ.get("CI")):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


# -- agents ---------------------------------------------------------------------------------------


@dataclass
class Agent:
    """One pjsua_agent.py process and its events file."""

    name: str
    process: subprocess.Popen[str]
    events_path: Path
    stderr_path: Path
    accounts: tuple[str, ...]

    def events(self, kind: str | None = None, account: str | None = None) -> list[dict[str, Any]]:
        found = []
        try:
            text = self.events_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line still being written
            if (kind is None or event["event"] == kind) and (
                account is None or event.get("account") == account
            ):
                found.append(event)
        return found

    def describe(self) -> str:
        stderr = self.stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        events = [
            json.dumps({k: v for k, v in event.items() if k != "message"})
            for event in self.events()
        ]
        head = f"agent {self.name} (exit {self.process.poll()}): stderr {stderr!r}"
        return "\n".join([head, *events[-40:]])


def start_agent(
    name: str, directory: Path, registrar: str, accounts: list[str], answer_after: str
) -> Agent:
    port = free_udp_port()
    events_path = directory / f"{name}.events.jsonl"
    stderr_path = directory / f"{name}.stderr"
    command = [sys.executable, str(AGENT), "--registrar", registrar, "--port", str(port)]
    for username in accounts:
        command += ["--account", f"{username}:{DEVICES[username]}"]
    command += ["--answer-after", answer_after, "--events", str(events_path)]
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
    return Agent(name, process, events_path, stderr_path, tuple(accounts))


def wait_ready(agent: Agent, timeout: float = 15) -> dict[str, Any]:
    """The agent's one stdout line, ``{"ready": true, ...}``."""
    assert agent.process.stdout is not None
    ready, _, _ = select.select([agent.process.stdout], [], [], timeout)
    assert ready, f"no readiness line within {timeout} s\n{agent.describe()}"
    line = agent.process.stdout.readline()
    assert line, f"the agent exited before it was ready\n{agent.describe()}"
    parsed: dict[str, Any] = json.loads(line)
    assert parsed["ready"] is True
    return parsed


def stop_agent(agent: Agent) -> int:
    """SIGTERM, then SIGKILL after 5 s; the exit status."""
    process = agent.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
    return process.returncode


def wait_for(check: Callable[[], bool], timeout: float, describe: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s\n{describe()}", pytrace=False)
        time.sleep(0.05)


# -- the bed --------------------------------------------------------------------------------------


@dataclass
class Bed:
    port: int
    db: str
    directory: Path
    agents: dict[str, Agent] = field(default_factory=dict)

    def agent_of(self, username: str) -> Agent:
        return next(a for a in self.agents.values() if username in a.accounts)

    def describe(self) -> str:
        return "\n".join(agent.describe() for agent in self.agents.values())


def sharedline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sharedline", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    require_pjsua2()
    require_sipp()
    directory = tmp_path_factory.mktemp("pjsua")
    db = f"sqlite+aiosqlite:///{directory / 'sharedline.db'}"
    workspace = directory / "workspace.yaml"
    workspace.write_text(WORKSPACE, encoding="utf-8")
    provisioned = sharedline("provision", str(workspace), "--db", db)
    assert provisioned.returncode == 0, provisioned.stderr
    port = free_udp_port()
    registrar = f"127.0.0.1:{port}"
    bed = Bed(port=port, db=db, directory=directory)
    exits: dict[str, int] = {}
    with serving("--sip-listen", f"udp:{registrar}", "--db", db, listeners=1):
        try:
            bed.agents["ringers"] = start_agent(
                "ringers", directory, registrar, ["alice-desk", "bob-phone"], "never"
            )
            bed.agents["answerer"] = start_agent(
                "answerer", directory, registrar, ["carol-softphone"], "0.5"
            )
            for agent in bed.agents.values():
                wait_ready(agent)

            def all_registered() -> bool:
                return all(
                    any(e["code"] == 200 for e in bed.agent_of(u).events("registration", u))
                    for u in DEVICES
                )

            wait_for(all_registered, 10, bed.describe)
            yield bed
        finally:
            for name, agent in bed.agents.items():
                exits[name] = stop_agent(agent)
    assert exits == dict.fromkeys(bed.agents, 0), bed.describe()


# -- tests ----------------------------------------------------------------------------------------


@pytest.mark.peer
def test_registrations_list_shows_the_three_pjsua_devices(bed: Bed) -> None:
    def listed() -> list[dict[str, Any]]:
        result = sharedline("registrations", "list", "--json", "--db", bed.db)
        assert result.returncode == 0, result.stderr
        views: list[dict[str, Any]] = json.loads(result.stdout)
        return views

    # the switch answers REGISTER first and writes the binding just after: poll, bounded
    wait_for(lambda: len(listed()) >= len(DEVICES), 10, lambda: json.dumps(listed(), indent=2))
    views = listed()
    by_device = {view["username"]: view for view in views}
    assert sorted(by_device) == sorted(DEVICES), views
    assert len(views) == len(DEVICES), views  # one contact per device
    assert by_device["carol-softphone"]["user_email"] == "carol@acme.test"
    for username, view in by_device.items():
        agent = bed.agent_of(username)
        local_port = agent.events("started")[0]["port"]
        assert f"sip:{username}@127.0.0.1:{local_port}" in view["contact"]
        assert view["source"] == f"udp:127.0.0.1:{local_port}"
        assert 0 < view["expires_in"] <= 300


@pytest.mark.peer
def test_a_carrier_call_rings_every_device_and_the_first_answer_wins(
    bed: Bed, tmp_path: Path
) -> None:
    result = run_sipp(
        "uac", f"127.0.0.1:{bed.port}", extra=["-s", NUMBER], calls=1, timeout=15, cwd=tmp_path
    )
    assert (result.successful, result.failed) == (1, 0), result.describe()
    # one 180 upstream although every phone sent 100 Trying and then 180 Ringing
    received = [
        line.split(" ", 2)[1]
        for line in result.messages.splitlines()
        if line.startswith("SIP/2.0 ")
    ]
    assert received == ["100", "180", "200", "200"], result.describe()  # INVITE, then BYE
    # carol's own SDP answer reached the carrier untouched (no media anchoring in the switch)
    assert "s=pjmedia" in result.messages, result.describe()

    answerer, ringers = bed.agents["answerer"], bed.agents["ringers"]
    carol = "carol-softphone"

    def settled() -> bool:
        return bool(answerer.events("disconnected", carol)) and all(
            ringers.events("disconnected", u) for u in ringers.accounts
        )

    wait_for(settled, 10, bed.describe)

    # every device rang, and its phone showed the shared line's name
    for username in DEVICES:
        incoming = bed.agent_of(username).events("incoming", username)
        assert len(incoming) == 1, bed.describe()
        assert incoming[0]["from"].startswith('"[Support] '), incoming[0]
        assert "[Support]" in incoming[0]["remote_uri"], incoming[0]
        assert incoming[0]["request_uri"].startswith(f"sip:{username}@127.0.0.1:")

    # carol answered; the carrier's BYE reached her through the switch
    states = [e["state"] for e in answerer.events("state", carol)]
    assert "CONFIRMED" in states, bed.describe()
    assert [e["code"] for e in answerer.events("answering", carol)] == [180, 200]
    carol_rx = [e["method"] for e in answerer.events("rx", carol)]
    assert carol_rx.count("BYE") == 1, carol_rx
    assert "CANCEL" not in carol_rx, carol_rx

    # the others rang and were cancelled with "Call completed elsewhere": no missed call
    for username in ringers.accounts:
        assert [e["code"] for e in ringers.events("answering", username)] == [180]
        states = [e["state"] for e in ringers.events("state", username)]
        assert "EARLY" in states, bed.describe()
        assert "CONFIRMED" not in states, bed.describe()
        cancels = [e for e in ringers.events("rx", username) if e["method"] == "CANCEL"]
        assert len(cancels) == 1, bed.describe()
        reasons = [
            line.split(":", 1)[1].strip()
            for line in cancels[0]["message"].splitlines()
            if line.lower().startswith("reason:")
        ]
        assert reasons == [COMPLETED_ELSEWHERE, "Q.850;cause=26"], cancels[0]["message"]
        (disconnected,) = ringers.events("disconnected", username)
        assert disconnected["code"] == 487, disconnected
        assert "BYE" not in [e["method"] for e in ringers.events("rx", username)]

    # the shared history: answered by Carol; the others' legs completed elsewhere
    def recorded() -> list[dict[str, Any]]:
        listed = sharedline("calls", "list", "--json", "--db", bed.db)
        assert listed.returncode == 0, listed.stderr
        calls: list[dict[str, Any]] = json.loads(listed.stdout)
        return calls

    wait_for(lambda: any(c["outcome"] for c in recorded()), 10, lambda: str(recorded()))
    (call,) = recorded()
    assert (call["number"], call["direction"], call["outcome"]) == (NUMBER, "inbound", "answered")
    assert call["answered_by_name"] == "Carol Diaz"
    legs = {leg["device_username"]: leg["outcome"] for leg in call["legs"]}
    assert legs == {
        "alice-desk": "completed_elsewhere",
        "bob-phone": "completed_elsewhere",
        "carol-softphone": "answered",
    }
