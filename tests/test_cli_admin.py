"""The admin commands as an admin runs them: provision, calls list, registrations list."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sharedline.cli import app
from sharedline.store import Database
from sharedline.store.repositories import (
    CallSummary,
    LegSummary,
    StoredBinding,
    load_directory,
    save_bindings,
    save_call,
)

EXAMPLE = Path(__file__).parents[1] / "examples" / "workspace.yaml"
runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"


def provisioned(db_url: str) -> dict[str, int]:
    """Provision the example through the CLI; return user and device ids by name."""
    result = runner.invoke(app, ["provision", str(EXAMPLE), "--db", db_url])
    assert result.exit_code == 0, result.output

    async def ids() -> dict[str, int]:
        database = Database(db_url)
        try:
            directory = await load_directory(database)
        finally:
            await database.close()
        found = {name: d.id for name, d in directory.devices.items()}
        for number in directory.numbers.values():
            found.update({m.email.split("@")[0]: m.user_id for m in number.members})
        return found

    return asyncio.run(ids())


def test_provision_prints_each_change_then_no_changes(db_url: str) -> None:
    first = runner.invoke(app, ["provision", str(EXAMPLE), "--db", db_url])
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0] == "created workspace Acme"
    assert "added carol@acme.test to +14155550100 as member" in lines
    assert len(lines) == 13

    again = runner.invoke(app, ["provision", str(EXAMPLE), "--db", db_url])
    assert (again.exit_code, again.stdout) == (0, "no changes\n")


def test_a_dry_run_writes_nothing(db_url: str) -> None:
    dry = runner.invoke(app, ["provision", str(EXAMPLE), "--db", db_url, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "created workspace Acme" in dry.stdout
    assert "dry run: nothing was written" in dry.stderr
    real = runner.invoke(app, ["provision", str(EXAMPLE), "--db", db_url])
    assert "created workspace Acme" in real.stdout


def test_a_bad_file_exits_1_with_file_line_column_on_stderr(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "acme.yaml"
    bad.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("user: bob@acme.test", "user: bobb@acme.test"),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["provision", str(bad), "--db", db_url])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{bad}:45:15 numbers[0].members[1].user: no user")
    assert "did you mean 'bob@acme.test'?" in result.stderr
    # Nothing was written: the good file still creates everything.
    good = runner.invoke(app, ["provision", str(EXAMPLE), "--db", db_url])
    assert "created workspace Acme" in good.stdout


def test_calls_list_as_json_and_as_a_table(db_url: str) -> None:
    ids = provisioned(db_url)
    started = 1_900_000_000.0
    summary = CallSummary(
        call_id="c1",
        number="+14155550100",
        direction="inbound",
        caller="+12125550123",
        callee="+14155550100",
        started_at=started,
        answered_at=started + 4,
        ended_at=started + 64,
        outcome="answered",
        answered_by=ids["alice"],
        legs=[
            LegSummary(
                user_id=ids["alice"],
                device_id=ids["alice-desk"],
                contact="sip:alice@127.0.0.1:5070",
                started_at=started,
                answered_at=started + 4,
                status_code=200,
                outcome="answered",
            ),
            LegSummary(
                user_id=ids["bob"],
                device_id=ids["bob-phone"],
                contact="sip:bob@127.0.0.1:5071",
                started_at=started + 0.5,
                status_code=487,
                outcome="completed_elsewhere",
            ),
        ],
    )

    async def save() -> None:
        database = Database(db_url)
        try:
            await save_call(database, summary)
        finally:
            await database.close()

    asyncio.run(save())

    result = runner.invoke(app, ["calls", "list", "--json", "--db", db_url])
    assert result.exit_code == 0, result.output
    [listed] = json.loads(result.stdout)
    assert listed["call_id"] == "c1"
    assert listed["answered_by_name"] == "Alice Martin"
    assert listed["started_at"] == started
    assert [(leg["device_username"], leg["outcome"]) for leg in listed["legs"]] == [
        ("alice-desk", "answered"),
        ("bob-phone", "completed_elsewhere"),
    ]

    table = runner.invoke(app, ["calls", "list", "--number", "+14155550100", "--db", db_url])
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()
    assert header.split() == ["STARTED", "NUMBER", "CALLER", "OUTCOME", "ANSWERED", "BY", "LEGS"]
    assert row.startswith("2030-03-17 17:46:40Z  +14155550100  +12125550123  answered")
    assert row.endswith("Alice Martin  alice-desk:answered bob-phone:completed_elsewhere")

    other = runner.invoke(app, ["calls", "list", "--number", "+14155550111", "--db", db_url])
    assert other.stdout == "no calls\n"


def test_registrations_list_as_json(db_url: str) -> None:
    ids = provisioned(db_url)
    expires = time.time() + 600

    async def register() -> None:
        database = Database(db_url)
        try:
            await save_bindings(
                database,
                ids["bob-phone"],
                [
                    StoredBinding(
                        contact="sip:bob@127.0.0.1:5071",
                        expires_at=expires,
                        q=None,
                        call_id="r1",
                        cseq=1,
                        source="udp:127.0.0.1:5071",
                        user_agent="Phone/1.0",
                    ),
                    StoredBinding(
                        contact="sip:bob@127.0.0.1:5099",
                        expires_at=time.time() - 1,
                        q=None,
                        call_id="r0",
                        cseq=1,
                        source="udp:127.0.0.1:5099",
                    ),
                ],
            )
        finally:
            await database.close()

    asyncio.run(register())
    result = runner.invoke(app, ["registrations", "list", "--json", "--db", db_url])
    assert result.exit_code == 0, result.output
    [view] = json.loads(result.stdout)
    assert {k: view[k] for k in ("username", "user_email", "contact", "source")} == {
        "username": "bob-phone",
        "user_email": "bob@acme.test",
        "contact": "sip:bob@127.0.0.1:5071",
        "source": "udp:127.0.0.1:5071",
    }
    assert 590 <= view["expires_in"] <= 600

    table = runner.invoke(app, ["registrations", "list", "--db", db_url])
    assert table.stdout.splitlines()[1].split() == [
        "bob-phone",
        "bob@acme.test",
        "sip:bob@127.0.0.1:5071",
        f"{view['expires_in']}s",
        "udp:127.0.0.1:5071",
    ]


def test_an_unreachable_database_is_exit_1_without_a_traceback(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nobody:hunter2@127.0.0.1:1/none"
    result = runner.invoke(app, ["registrations", "list", "--db", url])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: database: ")
    assert "hunter2" not in result.output


def test_provision_uses_the_realm_and_database_of_the_settings_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'configured.db'}"
    config = tmp_path / "sharedline.yaml"
    config.write_text(f"database_url: {url}\nsip:\n  realm: pbx.acme.test\n", encoding="utf-8")
    result = runner.invoke(app, ["provision", str(EXAMPLE), "--config", str(config)])
    assert result.exit_code == 0, result.output

    async def realms() -> set[str]:
        database = Database(url)
        try:
            return {d.realm for d in (await load_directory(database)).devices.values()}
        finally:
            await database.close()

    assert asyncio.run(realms()) == {"pbx.acme.test"}
