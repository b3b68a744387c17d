"""Repositories on SQLite and PostgreSQL: the directory, bindings, call records, registrations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from sharedline.store import (
    Database,
    Device,
    NumberMembership,
    NumberRole,
    PhoneNumber,
    Plan,
    Trunk,
    User,
    Workspace,
)
from sharedline.store.repositories import (
    CallSummary,
    LegSummary,
    StoredBinding,
    delete_expired_bindings,
    list_calls,
    list_registrations,
    load_bindings,
    load_directory,
    save_bindings,
    save_call,
)
from sharedline.switch.directory import DirectoryMember

T0 = 1_900_000_000.0  # epoch seconds, 2030-03-17


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


async def seed(database: Database) -> dict[str, int]:
    """Acme (Business): Support with carol, alice, bob joined in that order; three devices."""
    async with database.session() as session:
        acme = Workspace(name="Acme", plan=Plan.BUSINESS)
        session.add(acme)
        await session.flush()
        trunk = Trunk(
            workspace_id=acme.id,
            name="carrier",
            allowed_sources=["127.0.0.1/32", "10.0.0.0/8"],
            outbound_proxy="sip:127.0.0.1:5080",
        )
        users = {
            name: User(workspace_id=acme.id, email=f"{name}@acme.test", name=name.title())
            for name in ("alice", "bob", "carol")
        }
        session.add_all([trunk, *users.values()])
        await session.flush()
        support = PhoneNumber(
            workspace_id=acme.id, e164="+14155550100", name="Support", trunk_id=trunk.id
        )
        sales = PhoneNumber(workspace_id=acme.id, e164="+14155550111", name="Sales")
        session.add_all([support, sales])
        await session.flush()
        session.add_all(
            [
                # carol joined first; alice and bob joined at the same moment: user id decides.
                NumberMembership(number_id=support.id, user_id=users["bob"].id, created_at=at(60)),
                NumberMembership(
                    number_id=support.id,
                    user_id=users["alice"].id,
                    role=NumberRole.OWNER,
                    created_at=at(60),
                ),
                NumberMembership(number_id=support.id, user_id=users["carol"].id, created_at=at(0)),
            ]
        )
        devices = {
            username: Device(
                user_id=users[owner].id,
                username=username,
                realm="sharedline",
                ha1_md5="1" * 32,
                ha1_sha256="2" * 64,
                default_number_id=support.id if username == "alice-desk" else None,
            )
            for username, owner in (
                ("alice-desk", "alice"),
                ("alice-mobile", "alice"),
                ("bob-phone", "bob"),
            )
        }
        session.add_all(devices.values())
        await session.commit()
        ids = {name: user.id for name, user in users.items()}
        ids.update({name: device.id for name, device in devices.items()})
        return ids


# --- the directory ------------------------------------------------------------------------------


async def test_load_directory_maps_numbers_members_devices_and_trunks(database: Database) -> None:
    ids = await seed(database)
    directory = await load_directory(database)

    support = directory.numbers["+14155550100"]
    assert support.name == "Support"
    assert support.plan == "business"
    alice_and_bob = sorted([("alice", "owner"), ("bob", "member")], key=lambda p: ids[p[0]])
    assert support.members == tuple(
        DirectoryMember(user_id=ids[name], name=name.title(), email=f"{name}@acme.test", role=role)
        for name, role in [("carol", "member"), *alice_and_bob]
    )
    assert support.trunk is not None
    assert support.trunk.name == "carrier"
    assert support.trunk.allowed_sources == ("127.0.0.1/32", "10.0.0.0/8")
    assert directory.trunk_for_source("10.1.2.3") == support.trunk
    assert directory.numbers["+14155550111"].members == ()
    assert directory.numbers["+14155550111"].trunk is None

    assert sorted(directory.devices) == ["alice-desk", "alice-mobile", "bob-phone"]
    desk = directory.devices["alice-desk"]
    assert (desk.id, desk.user_id, desk.realm) == (ids["alice-desk"], ids["alice"], "sharedline")
    assert desk.ha1("MD5") == "1" * 32
    assert desk.ha1("SHA-256") == "2" * 64
    assert desk.default_number == "+14155550100"
    assert directory.devices["alice-mobile"].default_number is None
    assert [d.username for d in directory.devices_of(ids["alice"])] == [
        "alice-desk",
        "alice-mobile",
    ]
    assert directory.numbers_of(ids["bob"]) == (support,)


async def test_an_empty_store_gives_an_empty_directory(database: Database) -> None:
    directory = await load_directory(database)
    assert (directory.numbers, directory.devices, directory.trunks) == ({}, {}, {})


# --- bindings -----------------------------------------------------------------------------------


def binding(contact: str, expires: float, **changes: object) -> StoredBinding:
    base = StoredBinding(
        contact=contact,
        expires_at=T0 + expires,
        q=0.5,
        call_id="reg-1@10.0.0.5",
        cseq=7,
        source="udp:10.0.0.5:5062",
        user_agent="Phone/1.0",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_bindings_are_saved_loaded_and_replaced_per_device(database: Database) -> None:
    ids = await seed(database)
    desk = [binding("sip:a@10.0.0.5:5062", 3600.25), binding("sip:a@[2001:db8::5]", 60, q=None)]
    phone = [binding("sip:b@10.0.0.6", 120, user_agent=None, cseq=1)]
    await save_bindings(database, ids["alice-desk"], desk)
    await save_bindings(database, ids["bob-phone"], phone)
    assert await load_bindings(database) == {ids["alice-desk"]: desk, ids["bob-phone"]: phone}

    # Replacing keeps nothing of the old set, even a contact that stays (with new values).
    renewed = [binding("sip:a@10.0.0.5:5062", 7200, cseq=8)]
    await save_bindings(database, ids["alice-desk"], renewed)
    assert await load_bindings(database) == {ids["alice-desk"]: renewed, ids["bob-phone"]: phone}

    await save_bindings(database, ids["alice-desk"], [])
    assert await load_bindings(database) == {ids["bob-phone"]: phone}


async def test_bindings_of_an_unknown_device_are_refused(database: Database) -> None:
    await seed(database)
    with pytest.raises(LookupError, match="device 9999 does not exist"):
        await save_bindings(database, 9999, [binding("sip:x@10.0.0.9", 60)])
    assert await load_bindings(database) == {}


async def test_expired_bindings_are_deleted_and_counted(database: Database) -> None:
    ids = await seed(database)
    await save_bindings(
        database,
        ids["alice-desk"],
        [binding("sip:old@10.0.0.5", 10), binding("sip:new@10.0.0.5", 100)],
    )
    await save_bindings(database, ids["bob-phone"], [binding("sip:b@10.0.0.6", 20)])

    assert await delete_expired_bindings(database, T0 + 20) == 2  # expiring at `now` counts
    assert await load_bindings(database) == {ids["alice-desk"]: [binding("sip:new@10.0.0.5", 100)]}
    assert await delete_expired_bindings(database, T0 + 20) == 0


async def test_list_registrations_shows_unexpired_bindings_with_their_owner(
    database: Database,
) -> None:
    ids = await seed(database)
    await save_bindings(
        database,
        ids["bob-phone"],
        [binding("sip:b@10.0.0.6", 90.5), binding("sip:gone@10.0.0.6", 5)],
    )
    await save_bindings(database, ids["alice-desk"], [binding("sip:a@10.0.0.5", 3600)])

    views = await list_registrations(database, now=T0 + 10)
    assert [(v.username, v.user_email, v.contact, v.expires_in) for v in views] == [
        ("alice-desk", "alice@acme.test", "sip:a@10.0.0.5", 3590),
        ("bob-phone", "bob@acme.test", "sip:b@10.0.0.6", 81),  # 80.5 s left, rounded up
    ]
    assert (views[0].source, views[0].user_agent) == ("udp:10.0.0.5:5062", "Phone/1.0")


# --- call records -------------------------------------------------------------------------------


def call(call_id: str, started: float, ids: dict[str, int], **changes: object) -> CallSummary:
    base = CallSummary(
        call_id=call_id,
        number="+14155550100",
        direction="inbound",
        caller="+12125550123",
        callee="+14155550100",
        started_at=T0 + started,
        answered_at=T0 + started + 4,
        ended_at=T0 + started + 64,
        outcome="answered",
        answered_by=ids["alice"],
        legs=(
            LegSummary(
                user_id=ids["alice"],
                device_id=ids["alice-desk"],
                contact="sip:a@10.0.0.5",
                started_at=T0 + started,
                answered_at=T0 + started + 4,
                ended_at=T0 + started + 64,
                status_code=200,
                outcome="answered",
            ),
            LegSummary(
                user_id=ids["bob"],
                device_id=ids["bob-phone"],
                contact="sip:b@10.0.0.6",
                started_at=T0 + started + 0.5,
                ended_at=T0 + started + 4,
                status_code=487,
                outcome="completed_elsewhere",
            ),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_save_call_then_list_it_with_legs_and_who_answered(database: Database) -> None:
    ids = await seed(database)
    saved = call("c1", 0, ids)
    await save_call(database, saved)

    [listed] = await list_calls(database)
    assert listed.answered_by_name == "Alice"
    assert [(leg.device_username, leg.outcome) for leg in listed.legs] == [
        ("alice-desk", "answered"),
        ("bob-phone", "completed_elsewhere"),
    ]
    # Everything saved comes back as it went in (the names are additions).
    assert replace(
        listed,
        answered_by_name=None,
        legs=tuple(replace(leg, device_username=None) for leg in listed.legs),
    ) == replace(saved, legs=tuple(saved.legs))


async def test_save_call_upserts_by_call_id_and_replaces_the_legs(database: Database) -> None:
    ids = await seed(database)
    ringing = call(
        "c1",
        0,
        ids,
        answered_at=None,
        ended_at=None,
        outcome=None,
        answered_by=None,
        legs=(
            LegSummary(
                user_id=ids["bob"],
                device_id=ids["bob-phone"],
                contact="sip:b@10.0.0.6",
                started_at=T0,
                outcome="ringing",
            ),
        ),
    )
    await save_call(database, ringing)
    [first] = await list_calls(database)
    assert (first.outcome, first.answered_by_name, len(first.legs)) == (None, None, 1)

    await save_call(database, call("c1", 0, ids, outcome="missed", answered_by=None))
    [second] = await list_calls(database)
    assert second.outcome == "missed"
    assert [leg.outcome for leg in second.legs] == ["answered", "completed_elsewhere"]


async def test_list_calls_is_newest_first_filtered_by_number_and_limited(
    database: Database,
) -> None:
    ids = await seed(database)
    await save_call(database, call("old", 0, ids))
    await save_call(database, call("new", 300, ids))
    await save_call(database, call("sales", 200, ids, number="+14155550111", callee="+14155550111"))
    await save_call(database, call("elsewhere", 100, ids, number="+19995550000", legs=()))

    assert [c.call_id for c in await list_calls(database)] == ["new", "sales", "elsewhere", "old"]
    assert [c.call_id for c in await list_calls(database, limit=2)] == ["new", "sales"]
    support = await list_calls(database, number="+14155550100")
    assert [c.call_id for c in support] == ["new", "old"]
    assert [c.call_id for c in await list_calls(database, number="+14155550111")] == ["sales"]
    # A number the store does not know is saved as no number.
    [elsewhere] = [c for c in await list_calls(database) if c.call_id == "elsewhere"]
    assert (elsewhere.number, elsewhere.callee) == (None, "+14155550100")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("direction", "sideways", "call direction 'sideways' is not inbound or outbound"),
        ("outcome", "busy", "call outcome 'busy' is not one of"),
    ],
)
async def test_save_call_refuses_undocumented_values(
    database: Database, field: str, value: str, message: str
) -> None:
    ids = await seed(database)
    with pytest.raises(ValueError, match=message):
        await save_call(database, call("c1", 0, ids, **{field: value}))
    assert await list_calls(database) == []


async def test_deleting_a_device_keeps_its_legs_without_a_username(database: Database) -> None:
    ids = await seed(database)
    await save_call(database, call("c1", 0, ids))
    async with database.session() as session:
        device = await session.scalar(select(Device).where(Device.username == "bob-phone"))
        await session.delete(device)
        await session.commit()
    [listed] = await list_calls(database)
    assert [(leg.device_id, leg.device_username) for leg in listed.legs] == [
        (ids["alice-desk"], "alice-desk"),
        (None, None),
    ]
