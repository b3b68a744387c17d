"""Hot reload of call flows into a switch: a change goes live, a broken file never does."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog

from sharedline.callflows.loader import FlowError
from sharedline.flowreload import FlowReloader
from sharedline.store import Database, migrate
from sharedline.store.flowstate import set_availability
from sharedline.store.provisioning import load_provisioning_file, provision

from .switch.playbook import NUMBER, Bench

FLOW = """version: 1
numbers: {{"{number}": main}}
flows:
  main:
    start: team
    steps:
      team: {{ring: {{targets: [{member}]}}, next: end}}
"""


def write(path: Path, member: str) -> None:
    path.write_text(FLOW.format(number=NUMBER, member=member), encoding="utf-8")
    stat = path.stat()  # make the change visible even within the filesystem's mtime resolution
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'reload.db'}")
    await migrate(db)
    yield db
    await db.close()


def reloader(tmp_path: Path, database: Database) -> tuple[FlowReloader, Path]:
    path = tmp_path / "flows" / "main.yaml"
    path.parent.mkdir()
    write(path, "u1@acme.test")
    bench = Bench.create(members=2)
    reloader = FlowReloader(path.parent, bench.switch, database, interval=1.0)
    reloader.load_initial()
    return reloader, path


async def test_a_changed_file_goes_live_and_an_unchanged_one_is_not_reloaded(
    tmp_path: Path, database: Database
) -> None:
    loader, path = reloader(tmp_path, database)
    first = loader.switch.flows
    assert first is not None
    assert loader.check_files() is False
    write(path, "u2@acme.test")
    with structlog.testing.capture_logs() as logs:
        assert loader.check_files() is True
    assert loader.switch.flows is not first
    assert loader.switch.flows is not None
    assert loader.switch.flows.revision != first.revision
    assert [entry["event"] for entry in logs] == ["flows_reloaded"]


async def test_a_broken_file_is_refused_with_its_errors_and_the_old_flows_stay(
    tmp_path: Path, database: Database
) -> None:
    loader, path = reloader(tmp_path, database)
    live = loader.switch.flows
    assert live is not None
    write(path, "nobody@acme.test")  # not a member of the number in the directory
    with structlog.testing.capture_logs() as logs:
        assert loader.check_files() is False
    assert loader.switch.flows is live
    [entry] = logs
    assert entry["event"] == "flows_rejected"
    assert entry["kept_revision"] == live.revision
    assert any(
        line.startswith(f"{path}:7:") and "nobody@acme.test is not a member of" in line
        for line in entry["errors"]
    ), entry["errors"]


async def test_sighup_reads_the_files_even_when_they_look_unchanged(
    tmp_path: Path, database: Database
) -> None:
    loader, path = reloader(tmp_path, database)
    before = path.stat()
    path.write_text(FLOW.format(number=NUMBER, member="u2@acme.test"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    assert loader.check_files() is False  # the poll cannot see it
    loader.request()  # SIGHUP
    assert loader.check_files() is True


async def test_broken_flows_at_start_up_raise(tmp_path: Path, database: Database) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nflows: {main: {start: nowhere, steps: {}}}\n", encoding="utf-8")
    loader = FlowReloader(path, Bench.create().switch, database, interval=1.0)
    with pytest.raises(FlowError):
        loader.load_initial()


async def test_members_availability_is_read_from_the_store(
    tmp_path: Path, database: Database
) -> None:
    await provision(
        database,
        load_provisioning_file(Path(__file__).parents[1] / "examples" / "workspace.yaml"),
        realm="sharedline",
    )
    view = await set_availability(database, workspace=None, email="bob@acme.test", dnd=True)
    loader = FlowReloader(None, Bench.create().switch, database, interval=1.0)
    await loader.refresh_availability()
    assert [a.dnd for a in loader.switch.availability.values()] == [True]
    assert view.dnd
