"""Call-flow state in the store: availability, round-robin turns, idle times."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from structlog.testing import capture_logs

from sharedline.callflows.facts import MemberAvailability
from sharedline.callflows.schedule import ScheduleSpec
from sharedline.store import AvailabilityRecord, Database, User, Workspace
from sharedline.store.flowstate import (
    AvailabilityView,
    MemberNotFound,
    list_availability,
    load_availability,
    load_idle_since,
    load_turns,
    save_turn,
    set_availability,
)
from sharedline.store.repositories import CallSummary, save_call

OFFICE = {"timezone": "Europe/Paris", "hours": {"mon-fri": "09:00-17:00"}}
ROTATION = "+14155550100/group:front_desk"


async def add_workspace(database: Database, name: str, *emails: str) -> dict[str, int]:
    """A workspace with one user per email (named after it); their ids by email."""
    async with database.session() as session:
        workspace = Workspace(name=name)
        users = [
            User(workspace=workspace, email=email, name=email.split("@")[0].title())
            for email in emails
        ]
        session.add_all([workspace, *users])
        await session.commit()
        return {user.email: user.id for user in users}


@pytest.fixture
async def acme(database: Database) -> dict[str, int]:
    return await add_workspace(database, "Acme", "alice@acme.test", "bob@acme.test")


async def test_availability_round_trips_dnd_and_schedule(
    database: Database, acme: dict[str, int]
) -> None:
    view = await set_availability(
        database,
        workspace=None,
        email="alice@acme.test",
        dnd=True,
        schedule=ScheduleSpec.model_validate(OFFICE),
    )
    assert view == AvailabilityView(
        workspace="Acme",
        email="alice@acme.test",
        name="Alice",
        dnd=True,
        schedule=OFFICE,
        updated_at=view.updated_at,
    )
    assert view.updated_at is not None

    reopened = Database(database.url)  # a restart: nothing is cached in the process
    try:
        loaded = await load_availability(reopened)
        async with reopened.session() as session:
            stored = await session.scalar(select(AvailabilityRecord.schedule))
    finally:
        await reopened.close()
    assert loaded == {
        acme["alice@acme.test"]: MemberAvailability(
            dnd=True, schedule=ScheduleSpec.model_validate(OFFICE)
        )
    }
    assert stored == OFFICE  # the spec's JSON form, defaults left out


async def test_each_change_leaves_the_other_fields_alone(
    database: Database, acme: dict[str, int]
) -> None:
    alice = acme["alice@acme.test"]
    spec = ScheduleSpec.model_validate(OFFICE)
    await set_availability(database, workspace="Acme", email="alice@acme.test", schedule=spec)
    assert await load_availability(database) == {alice: MemberAvailability(schedule=spec)}

    await set_availability(database, workspace="Acme", email="alice@acme.test", dnd=True)
    assert await load_availability(database) == {alice: MemberAvailability(True, spec)}

    cleared = await set_availability(
        database, workspace="Acme", email="alice@acme.test", clear_schedule=True
    )
    assert (cleared.dnd, cleared.schedule) == (True, None)
    assert await load_availability(database) == {alice: MemberAvailability(dnd=True)}
    async with database.session() as session:  # a real NULL, not JSON null
        found = await session.scalar(
            text("SELECT count(*) FROM member_availability WHERE schedule IS NULL")
        )
    assert found == 1


async def test_no_change_only_reads(database: Database, acme: dict[str, int]) -> None:
    view = await set_availability(database, workspace=None, email="bob@acme.test")
    assert (view.dnd, view.schedule, view.updated_at) == (False, None, None)
    assert await load_availability(database) == {}


async def test_emails_are_matched_as_provisioning_stores_them(
    database: Database, acme: dict[str, int]
) -> None:
    view = await set_availability(database, workspace=None, email=" Bob@ACME.test ", dnd=True)
    assert view.email == "bob@acme.test"
    assert await load_availability(database) == {acme["bob@acme.test"]: MemberAvailability(True)}


async def test_an_unknown_member_is_named_with_a_did_you_mean(
    database: Database, acme: dict[str, int]
) -> None:
    with pytest.raises(MemberNotFound) as raised:
        await set_availability(database, workspace=None, email="alise@acme.test", dnd=True)
    assert str(raised.value) == (
        "no member 'alise@acme.test' in workspace 'Acme'; did you mean 'alice@acme.test'?"
    )
    assert isinstance(raised.value, LookupError)
    assert await load_availability(database) == {}


async def test_a_schedule_and_clearing_it_together_are_refused(
    database: Database, acme: dict[str, int]
) -> None:
    with pytest.raises(ValueError, match="choose one"):
        await set_availability(
            database,
            workspace=None,
            email="alice@acme.test",
            schedule=ScheduleSpec.model_validate(OFFICE),
            clear_schedule=True,
        )


async def test_with_several_workspaces_one_must_be_named(database: Database) -> None:
    acme = await add_workspace(database, "Acme", "alice@acme.test", "bob@acme.test")
    globex = await add_workspace(database, "Globex", "alice@acme.test", "hank@globex.test")

    with pytest.raises(MemberNotFound, match=r"several workspaces \(Acme, Globex\): name one"):
        await set_availability(database, workspace=None, email="alice@acme.test", dnd=True)
    with pytest.raises(MemberNotFound, match=r"no workspace 'Globx'; did you mean 'Globex'\?"):
        await set_availability(database, workspace="Globx", email="alice@acme.test", dnd=True)

    view = await set_availability(database, workspace="Globex", email="alice@acme.test", dnd=True)
    assert view.workspace == "Globex"
    assert await load_availability(database) == {
        globex["alice@acme.test"]: MemberAvailability(True)
    }

    listed = await list_availability(database)
    assert [(v.workspace, v.email, v.dnd) for v in listed] == [
        ("Acme", "alice@acme.test", False),
        ("Acme", "bob@acme.test", False),
        ("Globex", "alice@acme.test", True),
        ("Globex", "hank@globex.test", False),
    ]
    only_acme = await list_availability(database, workspace="Acme")
    assert [v.email for v in only_acme] == sorted(acme)
    with pytest.raises(MemberNotFound, match="did you mean 'Acme'"):
        await list_availability(database, workspace="acme")


async def test_list_shows_members_without_a_row_as_available(
    database: Database, acme: dict[str, int]
) -> None:
    spec = ScheduleSpec.model_validate(OFFICE)
    await set_availability(database, workspace=None, email="bob@acme.test", schedule=spec)
    alice, bob = await list_availability(database)
    assert (alice.email, alice.dnd, alice.schedule, alice.updated_at) == (
        "alice@acme.test",
        False,
        None,
        None,
    )
    assert (bob.email, bob.dnd, bob.schedule) == ("bob@acme.test", False, OFFICE)
    assert bob.updated_at is not None


async def test_a_stored_schedule_that_no_longer_validates_is_logged_and_ignored(
    database: Database, acme: dict[str, int]
) -> None:
    alice = acme["alice@acme.test"]
    async with database.session() as session:
        session.add(AvailabilityRecord(user_id=alice, dnd=True, schedule={"shifts": ["mon 9-5"]}))
        await session.commit()
    with capture_logs() as logs:
        loaded = await load_availability(database)
    assert loaded == {alice: MemberAvailability(dnd=True, schedule=None)}
    [entry] = [e for e in logs if e["event"] == "stored_schedule_invalid"]
    assert entry["user_id"] == alice
    assert entry["log_level"] == "warning"
    assert entry["problems"][0].startswith("shifts: ")


async def test_turns_upsert_and_survive_a_restart(database: Database, acme: dict[str, int]) -> None:
    alice, bob = acme["alice@acme.test"], acme["bob@acme.test"]
    await save_turn(database, ROTATION, alice, 1)
    await save_turn(database, ROTATION, bob, 2)
    await save_turn(database, ROTATION, alice, 3)
    await save_turn(database, "+14155550100/group:sales", bob, 1)

    reopened = Database(database.url)
    try:
        turns = await load_turns(reopened)
    finally:
        await reopened.close()
    assert turns == {
        ROTATION: {alice: 3, bob: 2},
        "+14155550100/group:sales": {bob: 1},
    }


async def test_a_turn_for_an_unknown_user_is_a_lookup_error(
    database: Database, acme: dict[str, int]
) -> None:
    with pytest.raises(LookupError, match="user 9999 does not exist"):
        await save_turn(database, ROTATION, 9999, 1)
    assert await load_turns(database) == {}


async def test_deleting_a_user_removes_their_availability_and_turns(
    database: Database, acme: dict[str, int]
) -> None:
    alice, bob = acme["alice@acme.test"], acme["bob@acme.test"]
    for email in acme:
        await set_availability(database, workspace=None, email=email, dnd=True)
    await save_turn(database, ROTATION, alice, 1)
    await save_turn(database, ROTATION, bob, 2)

    async with database.session() as session:
        await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": alice})
        await session.commit()

    assert await load_availability(database) == {bob: MemberAvailability(dnd=True)}
    assert await load_turns(database) == {ROTATION: {bob: 2}}


def answered_call(call_id: str, user_id: int | None, ended_at: float | None) -> CallSummary:
    return CallSummary(
        call_id=call_id,
        number=None,
        direction="inbound",
        caller="+12125550123",
        callee="+14155550100",
        started_at=1_900_000_000.0,
        answered_at=None if user_id is None else 1_900_000_004.0,
        ended_at=ended_at,
        outcome=None if ended_at is None else ("answered" if user_id else "missed"),
        answered_by=user_id,
    )


async def test_idle_since_is_when_each_members_last_answered_call_ended(
    database: Database, acme: dict[str, int]
) -> None:
    alice, bob = acme["alice@acme.test"], acme["bob@acme.test"]
    for call in [
        answered_call("c1", alice, 1_900_000_060.0),
        answered_call("c2", alice, 1_900_000_900.0),
        answered_call("c3", alice, 1_900_000_300.0),
        answered_call("c4", bob, None),  # still talking: not idle yet, no idle time either
        answered_call("c5", None, 1_900_000_999.0),  # missed
    ]:
        await save_call(database, call)

    assert await load_idle_since(database) == {alice: 1_900_000_900.0}

    await save_call(database, answered_call("c4", bob, 1_900_001_000.0))
    assert await load_idle_since(database) == {alice: 1_900_000_900.0, bob: 1_900_001_000.0}
