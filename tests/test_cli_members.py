"""``sharedline members`` as an admin runs it, on a workspace provisioned from the example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sharedline.cli import app
from sharedline.cli_members import hours_summary

EXAMPLE = Path(__file__).parents[1] / "examples" / "workspace.yaml"
runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'members.db'}"
    result = runner.invoke(app, ["provision", str(EXAMPLE), "--db", url])
    assert result.exit_code == 0, result.output
    return url


def members(db_url: str, *args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["members", *args, "--json", "--db", db_url])
    assert result.exit_code == 0, result.output
    views: list[dict[str, object]] = json.loads(result.stdout)
    return views


def test_dnd_on_then_off(db_url: str) -> None:
    result = runner.invoke(
        app, ["members", "availability", "bob@acme.test", "--dnd", "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["WORKSPACE", "EMAIL", "NAME", "DND", "HOURS", "UPDATED"]
    assert row.split()[:5] == ["Acme", "bob@acme.test", "Bob", "Chen", "on"]

    [shown] = members(db_url, "availability", "bob@acme.test")
    assert shown["dnd"] is True
    [off] = members(db_url, "availability", "bob@acme.test", "--no-dnd")
    assert off["dnd"] is False


def test_personal_hours_from_a_file_then_cleared(db_url: str, tmp_path: Path) -> None:
    hours = tmp_path / "alice-hours.yaml"
    hours.write_text('timezone: Europe/Paris\nhours:\n  mon-fri: "09:00-17:00"\n', encoding="utf-8")
    [view] = members(db_url, "availability", "alice@acme.test", "--schedule", str(hours))
    assert view == {
        "workspace": "Acme",
        "email": "alice@acme.test",
        "name": "Alice Martin",
        "dnd": False,
        "schedule": {"timezone": "Europe/Paris", "hours": {"mon-fri": "09:00-17:00"}},
        "updated_at": view["updated_at"],
    }
    assert isinstance(view["updated_at"], float)

    table = runner.invoke(app, ["members", "list", "--db", db_url])
    assert table.exit_code == 0, table.output
    alice = table.stdout.splitlines()[1]
    assert "Alice Martin  off  mon-fri 09:00-17:00 (Europe/Paris)" in alice

    [cleared] = members(db_url, "availability", "alice@acme.test", "--clear-schedule")
    assert cleared["schedule"] is None


def test_a_bad_schedule_file_exits_1_with_file_line_column(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "hours.yaml"
    bad.write_text('timezone: Europe/Paris\nhour:\n  mon-fri: "09:00-17:00"\n', encoding="utf-8")
    result = runner.invoke(
        app, ["members", "availability", "alice@acme.test", "--schedule", str(bad), "--db", db_url]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"{bad}:2:1 hour: unknown field 'hour'; did you mean 'hours'?\n"
    [alice, *_] = members(db_url, "list")
    assert alice["schedule"] is None


def test_a_schedule_file_that_is_not_yaml_or_missing_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("hours: {mon-fri: [\n", encoding="utf-8")
    result = runner.invoke(
        app, ["members", "availability", "alice@acme.test", "--schedule", str(broken)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{broken}:2:1 yaml: ")

    missing = tmp_path / "missing.yaml"
    result = runner.invoke(
        app, ["members", "availability", "alice@acme.test", "--schedule", str(missing)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{missing}: cannot read schedule file: ")


def test_an_unknown_member_exits_1_with_a_suggestion(db_url: str) -> None:
    result = runner.invoke(
        app, ["members", "availability", "carl@acme.test", "--dnd", "--db", db_url]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: no member 'carl@acme.test' in workspace 'Acme'; did you mean 'carol@acme.test'?\n"
    )


def test_an_unknown_workspace_exits_1(db_url: str) -> None:
    result = runner.invoke(app, ["members", "list", "--workspace", "Acne", "--db", db_url])
    assert result.exit_code == 1
    assert result.stderr == "error: no workspace 'Acne'; did you mean 'Acme'?\n"


def test_a_schedule_and_clearing_it_together_is_a_usage_error() -> None:
    result = runner.invoke(
        app,
        ["members", "availability", "alice@acme.test", "--schedule", "x.yaml", "--clear-schedule"],
    )
    assert result.exit_code == 2
    assert "choose one" in result.stderr


def test_list_as_json_has_every_member(db_url: str) -> None:
    runner.invoke(app, ["members", "availability", "carol@acme.test", "--dnd", "--db", db_url])
    views = members(db_url, "list", "--workspace", "Acme")
    assert [(v["email"], v["dnd"], v["schedule"]) for v in views] == [
        ("alice@acme.test", False, None),
        ("bob@acme.test", False, None),
        ("carol@acme.test", True, None),
    ]


def test_hours_summary_names_hours_and_counts_the_rest() -> None:
    assert hours_summary(None) == "-"
    assert hours_summary({"hours": {"mon-fri": "09:00-17:00", "sat": ["10:00-12:00"]}}) == (
        "mon-fri 09:00-17:00, sat 10:00-12:00"
    )
    assert hours_summary({"timezone": "Europe/Paris", "holidays": ["2026-12-25"]}) == (
        "no hours (Europe/Paris); holidays: 1"
    )
