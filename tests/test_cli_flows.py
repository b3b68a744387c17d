"""``sharedline flows validate`` and ``sharedline flows schema`` as an admin runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sharedline.cli import app

EXAMPLES = Path(__file__).parents[1] / "examples"
runner = CliRunner()

OK = re.compile(r"ok: 1 number, 1 flow(, checked against the store)? \(revision [0-9a-f]{12}\)\n")

BROKEN = """\
version: 1
numbers:
  "+14155550100": main
flows:
  main:
    start: ring_team
    steps:
      ring_team:
        ring: {targets: [alice@acme.test], leg_timeout: -5}
        on: {no_answer: voicemial}
      voicemail: {voicemail: {box: support}}
"""


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'flows.db'}"


@pytest.fixture
def provisioned(db_url: str) -> str:
    result = runner.invoke(app, ["provision", str(EXAMPLES / "workspace.yaml"), "--db", db_url])
    assert result.exit_code == 0, result.output
    return db_url


def test_valid_flows_print_a_summary_and_exit_0() -> None:
    result = runner.invoke(app, ["flows", "validate", str(EXAMPLES / "flows"), "--backend", "sip"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"ok: 1 number, 1 flow \(revision [0-9a-f]{12}\)\n", result.stdout)
    assert result.stderr == ""


def test_each_problem_goes_to_stderr_and_the_exit_status_is_1(tmp_path: Path) -> None:
    path = tmp_path / "main.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(app, ["flows", "validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:9:57 flows.main.steps.ring_team.ring.leg_timeout: "
        "must be a positive number of seconds, got -5"
    ]
    path.write_text(BROKEN.replace("-5", "15"), encoding="utf-8")
    result = runner.invoke(app, ["flows", "validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:10:9 flows.main.steps.ring_team.on: outcomes busy, declined and failed are "
        "not handled; add busy: STEP, declined: STEP, failed: STEP or default: STEP",
        f"{path}:10:25 flows.main.steps.ring_team.on.no_answer: "
        "no step 'voicemial' in flow main; did you mean 'voicemail'?",
        f"{path}:11:7 flows.main.steps.voicemail: "
        "unreachable: no path from start (ring_team) leads to this step",
    ]


def test_a_missing_path_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["flows", "validate", str(tmp_path / "nowhere.yaml")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nowhere.yaml'}: no such file or directory\n"


def test_the_backend_is_checked_when_named() -> None:
    ivr = str(EXAMPLES / "flows-ivr")
    for backend in ("asterisk", "twilio"):
        result = runner.invoke(app, ["flows", "validate", ivr, "--backend", backend])
        assert result.exit_code == 0, result.output
    refused = runner.invoke(app, ["flows", "validate", ivr, "--backend", "sip"])
    assert refused.exit_code == 1
    assert "the SIP switch carries no media: play needs" in refused.stderr
    unknown = runner.invoke(app, ["flows", "validate", ivr, "--backend", "sippy"])
    assert unknown.exit_code == 2


def test_with_a_database_the_store_is_checked(provisioned: str) -> None:
    result = runner.invoke(app, ["flows", "validate", str(EXAMPLES / "flows"), "--db", provisioned])
    assert result.exit_code == 0, result.output
    assert OK.fullmatch(result.stdout)
    assert "checked against the store" in result.stdout


def test_a_number_missing_from_the_store_is_an_error(db_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["flows", "validate", str(EXAMPLES / "flows"), "--db", db_url])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{EXAMPLES / 'flows' / 'main.yaml'}:18:3 numbers.+14155550100: "
        "+14155550100 is not a shared number in the store"
    ]
    skipped = runner.invoke(
        app, ["flows", "validate", str(EXAMPLES / "flows"), "--db", db_url, "--no-store"]
    )
    assert skipped.exit_code == 0, skipped.output
    assert "checked against the store" not in skipped.stdout


def test_store_explicitly_uses_the_configured_database(
    provisioned: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHAREDLINE_DATABASE_URL", provisioned)
    plain = runner.invoke(app, ["flows", "validate", str(EXAMPLES / "flows")])
    assert "checked against the store" not in plain.stdout
    checked = runner.invoke(app, ["flows", "validate", str(EXAMPLES / "flows"), "--store"])
    assert checked.exit_code == 0, checked.output
    assert "checked against the store" in checked.stdout


def test_schema_prints_the_json_schema() -> None:
    result = runner.invoke(app, ["flows", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "sharedline call flows"
    assert {"version", "numbers", "groups", "schedules", "flows"} <= set(schema["properties"])
    assert "StepSpec" in schema["$defs"]


# -- simulate -----------------------------------------------------------------------------------

SIMULATE = ["flows", "simulate", str(EXAMPLES / "flows"), "--number", "+14155550100"]


def timeline(output: str) -> list[str]:
    """The timeline's lines, spaces squeezed: ``+20s ring ring_team stage 2 …``."""
    return [" ".join(line.split()) for line in output.splitlines()[1:]]


def test_simulate_prints_who_rings_when_and_who_answers() -> None:
    # a Wednesday morning in Los Angeles: Alice and Bob ring, then Carol, who answers
    args = [*SIMULATE, "--at", "2026-12-23T10:05", "--answer", "carol@acme.test@30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith(
        "+14155550100 called by anonymous on Wed 2026-12-23 10:05 America/Los_Angeles"
    )
    assert timeline(result.stdout) == [
        "+0s call flow support",
        "+0s step office_hours: open -> ring_team",
        "+0s ring ring_team stage 1 wave 1: alice@acme.test, bob@acme.test for 20 s",
        "+20s no answer",
        "+20s ring ring_team stage 2 wave 1: carol@acme.test for 15 s",
        "+30s answered carol@acme.test",
        "+30s flow ended",
    ]


def test_simulate_after_hours_goes_straight_to_the_closed_greeting() -> None:
    result = runner.invoke(app, [*SIMULATE, "--at", "2026-12-24T18:05-08:00"])
    assert result.exit_code == 0, result.output
    assert timeline(result.stdout)[1:] == [
        "+0s step office_hours: closed -> closed_voicemail",
        "+0s voicemail box support, greeting closed",
    ]


def test_simulate_honours_busy_and_do_not_disturb_from_the_command_line() -> None:
    args = [*SIMULATE, "--at", "2026-12-23T10:05", "--busy", "bob@acme.test"]
    result = runner.invoke(app, [*args, "--dnd", "carol@acme.test", "--json"])
    assert result.exit_code == 0, result.output
    events = [(entry["at"], entry["event"], entry["detail"]) for entry in json.loads(result.stdout)]
    assert events[2] == (
        0.0,
        "ring",
        "ring_team stage 1 wave 1: alice@acme.test for 20 s",  # Bob is busy: skip_busy
    )
    # Carol is on do-not-disturb: stage 2 has nobody, the step fails over to voicemail at 20 s
    assert events[-1] == (20.0, "voicemail", "box support")


def test_simulate_reads_the_team_from_the_store(provisioned: str) -> None:
    args = [*SIMULATE, "--at", "2026-12-23T10:05", "--hangup-at", "25", "--db", provisioned]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert timeline(result.stdout)[-3:] == [
        "+20s ring ring_team stage 2 wave 1: carol@acme.test for 15 s",
        "+25s caller hung up",
        "+25s flow ended",
    ]
    # Alice turns do-not-disturb on in the store: the simulation no longer rings her
    dnd = ["members", "availability", "alice@acme.test", "--dnd", "--db", provisioned]
    assert runner.invoke(app, dnd).exit_code == 0
    result = runner.invoke(app, args)
    assert timeline(result.stdout)[2] == (
        "+0s ring ring_team stage 1 wave 1: bob@acme.test for 20 s"
    )


def test_simulate_refuses_bad_input_with_a_message() -> None:
    bad_answer = runner.invoke(app, [*SIMULATE, "--answer", "carol"])
    assert bad_answer.exit_code == 2
    assert "expected MEMBER@SECONDS" in bad_answer.output
    bad_time = runner.invoke(app, [*SIMULATE, "--at", "Christmas"])
    assert bad_time.exit_code == 2
    assert "expected a date and time" in bad_time.output
    unbound = runner.invoke(app, [*SIMULATE[:3], "--number", "+14155550199"])
    assert unbound.exit_code == 1
    assert "+14155550199 is bound to no flow (bound: +14155550100)" in unbound.stderr
