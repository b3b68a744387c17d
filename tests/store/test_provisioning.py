"""Declarative provisioning from YAML, on SQLite and PostgreSQL: changes, idempotence, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sharedline.sip.auth import compute_ha1
from sharedline.store import Base, Database, Device, Trunk
from sharedline.store.provisioning import (
    ProvisioningDocument,
    ProvisioningError,
    load_provisioning_file,
    provision,
)
from sharedline.store.repositories import load_directory

REALM = "sharedline"
EXAMPLE = Path(__file__).parents[2] / "examples" / "workspace.yaml"
DEVICE_PASSWORDS = {
    "alice-desk": "correct horse battery",
    "alice-mobile": "staple gun 42",
    "bob-phone": "blue kettle morning",
    "carol-softphone": "seven quiet lanterns",
}
TRUNK_PASSWORD = "s3cret-trunk-pass"

CREATED = [
    "created workspace Acme",
    "created user alice@acme.test",
    "created user bob@acme.test",
    "created user carol@acme.test",
    "created trunk carrier",
    "created number +14155550100",
    "added alice@acme.test to +14155550100 as owner",
    "added bob@acme.test to +14155550100 as admin",
    "added carol@acme.test to +14155550100 as member",
    "created device alice-desk",
    "created device alice-mobile",
    "created device bob-phone",
    "created device carol-softphone",
]


@pytest.fixture
def example() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is not in the text being edited"
    return text.replace(old, new, 1)


async def apply(
    database: Database, tmp_path: Path, text: str, *, realm: str = REALM, dry_run: bool = False
) -> list[str]:
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    return await provision(database, load_provisioning_file(path), realm=realm, dry_run=dry_run)


async def errors_of(database: Database, tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ProvisioningError) as raised:
        await apply(database, tmp_path, text)
    return raised.value.errors


async def snapshot(database: Database) -> dict[str, list[str]]:
    """Every row of every table, as text: to compare before/after and to search for secrets."""
    async with database.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in await connection.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def team(size: int, plan: str) -> str:
    """A workspace whose one number has ``size`` members."""
    users = "".join(f"  - email: user{i}@acme.test\n    name: User {i}\n" for i in range(size))
    members = "".join(f"      - user: user{i}@acme.test\n" for i in range(size))
    return (
        f"workspace:\n  name: Acme\n  plan: {plan}\nusers:\n{users}"
        f'numbers:\n  - e164: "+14155550100"\n    name: Support\n    members:\n{members}'
    )


# --- creating, idempotence, edits ---------------------------------------------------------------


async def test_the_example_creates_everything_then_a_second_run_changes_nothing(
    database: Database, tmp_path: Path, example: str
) -> None:
    assert await apply(database, tmp_path, example) == CREATED
    assert await apply(database, tmp_path, example) == ["no changes"]

    directory = await load_directory(database)
    number = directory.numbers["+14155550100"]
    assert number.name == "Support"
    assert number.plan == "starter"
    assert [(m.email, m.role) for m in number.members] == [
        ("alice@acme.test", "owner"),
        ("bob@acme.test", "admin"),
        ("carol@acme.test", "member"),
    ]
    assert number.trunk is not None
    assert number.trunk.allows("127.0.0.1")
    assert not number.trunk.allows("127.0.0.2")
    assert number.trunk.outbound_proxy == "sip:127.0.0.1:5080"
    assert sorted(directory.devices) == sorted(DEVICE_PASSWORDS)
    assert directory.devices["alice-desk"].default_number == "+14155550100"
    assert directory.devices["alice-mobile"].default_number is None


async def test_an_edit_reports_exactly_what_changed(
    database: Database, tmp_path: Path, example: str
) -> None:
    await apply(database, tmp_path, example)
    edited = edit(example, "name: Support", "name: Help desk")
    edited = edit(edited, "      - user: carol@acme.test\n", "")
    edited = edit(edited, '"staple gun 42"', '"a brand new one"')

    assert await apply(database, tmp_path, edited) == [
        "updated number +14155550100: name 'Support' -> 'Help desk'",
        "removed carol@acme.test from +14155550100",
        "updated device alice-mobile: password changed",
    ]
    async with database.session() as session:
        device = await session.scalar(select(Device).where(Device.username == "alice-mobile"))
    assert device is not None
    assert device.ha1_md5 == compute_ha1("alice-mobile", REALM, "a brand new one", "MD5")
    assert await apply(database, tmp_path, edited) == ["no changes"]
    members = (await load_directory(database)).numbers["+14155550100"].members
    assert [m.email for m in members] == ["alice@acme.test", "bob@acme.test"]


async def test_every_kind_of_update_is_reported_field_by_field(
    database: Database, tmp_path: Path, example: str
) -> None:
    await apply(database, tmp_path, example)
    edited = edit(example, "plan: starter", "plan: business")
    edited = edit(edited, "name: Bob Chen\n    role: admin", "name: Robert Chen\n    role: member")
    edited = edit(edited, "[127.0.0.1/32]", "[127.0.0.1/32, 10.0.0.0/8]")
    edited = edit(edited, '"s3cret-trunk-pass"', '"rotated"')
    edited = edit(edited, "user: bob@acme.test\n        role: admin", "user: bob@acme.test")
    edited = edit(
        edited, '        default_number: "+14155550100"\n  - email: carol', "  - email: carol"
    )
    edited = edit(edited, "username: carol-softphone", "username: bob-softphone")

    assert await apply(database, tmp_path, edited) == [
        "updated workspace Acme: plan 'starter' -> 'business'",
        "updated user bob@acme.test: name 'Bob Chen' -> 'Robert Chen'",
        "updated user bob@acme.test: role 'admin' -> 'member'",
        "updated trunk carrier: allowed_sources ['127.0.0.1/32'] -> ['127.0.0.1/32', '10.0.0.0/8']",
        "updated trunk carrier: password changed",
        "updated bob@acme.test on +14155550100: role 'admin' -> 'member'",
        "updated device bob-phone: default_number '+14155550100' -> none",
        "created device bob-softphone",
    ]
    # A device left out of the file is left alone.
    assert "carol-softphone" in (await load_directory(database)).devices


async def test_a_device_named_under_another_user_moves_to_that_user(
    database: Database, tmp_path: Path, example: str
) -> None:
    await apply(database, tmp_path, example)
    moved = edit(example, "username: carol-softphone", "username: alice-mobile")
    moved = edit(moved, "      - username: alice-mobile\n", "      - username: alice-spare\n")
    assert await apply(database, tmp_path, moved) == [
        "created device alice-spare",
        "updated device alice-mobile: user 'alice@acme.test' -> 'carol@acme.test'",
        "updated device alice-mobile: password changed",
    ]


async def test_a_new_engine_realm_recomputes_every_device_ha1(
    database: Database, tmp_path: Path, example: str
) -> None:
    await apply(database, tmp_path, example)
    changes = await apply(database, tmp_path, example, realm="pbx.acme.test")
    assert changes == [
        f"updated device {name}: realm 'sharedline' -> 'pbx.acme.test'" for name in DEVICE_PASSWORDS
    ]
    device = (await load_directory(database)).devices["bob-phone"]
    assert device.ha1_sha256 == compute_ha1(
        "bob-phone", "pbx.acme.test", DEVICE_PASSWORDS["bob-phone"], "SHA-256"
    )


async def test_members_left_out_keep_the_membership_and_an_empty_list_clears_it(
    database: Database, tmp_path: Path, example: str
) -> None:
    await apply(database, tmp_path, example)
    no_list = example.split("    members:\n")[0]
    no_list = no_list.replace('        default_number: "+14155550100"\n', "")
    assert await apply(database, tmp_path, no_list) == [
        "updated device alice-desk: default_number '+14155550100' -> none",
        "updated device bob-phone: default_number '+14155550100' -> none",
    ]
    assert len((await load_directory(database)).numbers["+14155550100"].members) == 3
    assert await apply(database, tmp_path, no_list + "    members: []\n") == [
        f"removed {who}@acme.test from +14155550100" for who in ("alice", "bob", "carol")
    ]


# --- secrets ------------------------------------------------------------------------------------


async def test_passwords_are_stored_as_ha1_only(
    database: Database, tmp_path: Path, example: str
) -> None:
    await apply(database, tmp_path, example)
    async with database.session() as session:
        devices = list(await session.scalars(select(Device)))
        trunk = await session.scalar(select(Trunk))
    assert {d.username for d in devices} == set(DEVICE_PASSWORDS)
    for device in devices:
        password = DEVICE_PASSWORDS[device.username]
        assert device.realm == REALM
        assert device.ha1_md5 == compute_ha1(device.username, REALM, password, "MD5")
        assert device.ha1_sha256 == compute_ha1(device.username, REALM, password, "SHA-256")
    assert trunk is not None
    assert trunk.auth_ha1_md5 == compute_ha1("acme", "carrier.example.net", TRUNK_PASSWORD, "MD5")
    assert trunk.auth_ha1_sha256 == compute_ha1(
        "acme", "carrier.example.net", TRUNK_PASSWORD, "SHA-256"
    )

    dump = repr(await snapshot(database))
    for password in [*DEVICE_PASSWORDS.values(), TRUNK_PASSWORD]:
        assert password not in dump
    if database.engine.dialect.name == "sqlite":
        await database.engine.dispose()  # checkpoint and release the file
        file = Path(str(database.engine.url.database))
        raw = b"".join(p.read_bytes() for p in file.parent.glob(file.name + "*"))
        for password in [*DEVICE_PASSWORDS.values(), TRUNK_PASSWORD]:
            assert password.encode() not in raw


def test_a_password_is_never_shown_by_the_document() -> None:
    document = ProvisioningDocument.from_data(
        {
            "workspace": {"name": "Acme"},
            "users": [
                {
                    "email": "a@acme.test",
                    "name": "A",
                    "devices": [{"username": "a", "password": "hunter2"}],
                }
            ],
        }
    )
    assert "hunter2" not in repr(document)
    assert "hunter2" not in document.model_dump_json()


# --- plan limits (DESIGN.md "Roles, access and plans") -------------------------------------------


async def test_an_eleventh_member_on_starter_is_refused_naming_the_limit(
    database: Database, tmp_path: Path
) -> None:
    text = team(11, "starter")
    members_line = text.splitlines().index("    members:") + 2  # the list starts on the next line
    assert await errors_of(database, tmp_path, text) == [
        f"{tmp_path / 'acme.yaml'}:{members_line}:7 numbers[0].members: the Starter plan "
        "allows at most 10 users per number (11 given); upgrade to Business for up to 100"
    ]
    assert all(rows == [] for rows in (await snapshot(database)).values())


async def test_business_allows_eleven_members(database: Database, tmp_path: Path) -> None:
    changes = await apply(database, tmp_path, team(11, "business"))
    assert changes.count("created number +14155550100") == 1
    assert len((await load_directory(database)).numbers["+14155550100"].members) == 11


async def test_the_stored_plan_applies_when_the_file_names_none(
    database: Database, tmp_path: Path
) -> None:
    await apply(database, tmp_path, team(10, "starter"))
    before = await snapshot(database)
    errors = await errors_of(
        database, tmp_path, team(11, "starter").replace("  plan: starter\n", "")
    )
    assert len(errors) == 1
    assert "numbers[0].members: the Starter plan allows at most 10 users per number" in errors[0]
    assert await snapshot(database) == before


async def test_a_downgrade_is_refused_while_a_number_has_too_many_members(
    database: Database, tmp_path: Path
) -> None:
    await apply(database, tmp_path, team(11, "business"))
    before = await snapshot(database)
    untouched = team(11, "starter").split("    members:\n")[0]
    errors = await errors_of(database, tmp_path, untouched)
    assert errors == [
        f"{tmp_path / 'acme.yaml'}:3:9 workspace.plan: the Starter plan allows at most 10 users "
        "per number but +14155550100 has 11; remove members first"
    ]
    assert await snapshot(database) == before


# --- errors: FILE:LINE:COLUMN path: message ------------------------------------------------------

ERROR_CASES = [
    pytest.param(
        "user: bob@acme.test",
        "user: bobb@acme.test",
        "45:15 numbers[0].members[1].user: no user 'bobb@acme.test' in this file or in "
        "workspace 'Acme'; did you mean 'bob@acme.test'?",
        id="unknown-user",
    ),
    pytest.param(
        "trunk: carrier",
        "trunk: carier",
        "41:12 numbers[0].trunk: no trunk 'carier' in this file or in workspace 'Acme'; "
        "did you mean 'carrier'?",
        id="unknown-trunk",
    ),
    pytest.param(
        '"+14155550100"\n      - username: alice-mobile',
        '"+14155550199"\n      - username: alice-mobile',
        "14:25 users[0].devices[0].default_number: no number '+14155550199' in this file or in "
        "workspace 'Acme'; did you mean '+14155550100'?",
        id="unknown-default-number",
    ),
    pytest.param(
        "      - user: bob@acme.test\n        role: admin\n",
        "",
        "23:25 users[1].devices[0].default_number: bob@acme.test is not a member of "
        "+14155550100; add them to its members",
        id="default-number-of-a-non-member",
    ),
    pytest.param(
        "email: carol@acme.test",
        "email: bob@acme.test",
        "24:12 users[2].email: duplicate user 'bob@acme.test' (first at users[1].email)",
        id="duplicate-user",
    ),
    pytest.param(
        "username: carol-softphone",
        "username: alice-desk",
        "27:19 users[2].devices[0].username: duplicate device username 'alice-desk' "
        "(first at users[0].devices[0].username)",
        id="device-username-used-twice",
    ),
    pytest.param(
        "  - name: carrier\n",
        "  - name: carrier\n    allowed_sources: []\n",
        "33:5 trunks[0].allowed_sources: duplicate key 'allowed_sources' (first at line 32)",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        "user: carol@acme.test",
        "user: alice@acme.test",
        "47:15 numbers[0].members[2].user: duplicate member 'alice@acme.test' "
        "(first at numbers[0].members[0].user)",
        id="duplicate-member",
    ),
    pytest.param(
        "      - user: carol@acme.test\n",
        '      - user: carol@acme.test\n  - e164: "+14155550100"\n    name: Sales\n',
        "48:11 numbers[1].e164: duplicate number '+14155550100' (first at numbers[0].e164)",
        id="duplicate-number",
    ),
    pytest.param(
        "role: owner            #",
        "role: ownr             #",
        "10:11 users[0].role: 'ownr' is not one of 'owner', 'admin' or 'member'; "
        "did you mean 'owner'?",
        id="bad-workspace-role",
    ),
    pytest.param(
        "plan: starter",
        "plan: busines",
        "5:9 workspace.plan: 'busines' is not one of 'starter' or 'business'; "
        "did you mean 'business'?",
        id="bad-plan",
    ),
    pytest.param(
        'e164: "+14155550100"',
        'e164: "+1 415 555 0100"',
        "39:11 numbers[0].e164: '+1 415 555 0100' is not an E.164 number: '+' then 2 to 15 "
        "digits, the first not 0",
        id="malformed-e164",
    ),
    pytest.param(
        'e164: "+14155550100"',
        "e164: +14155550100",
        '39:11 numbers[0].e164: put E.164 numbers in quotes ("+14155550100"): YAML reads '
        "+14155550100 as an integer",
        id="unquoted-e164",
    ),
    pytest.param(
        "  - email: carol@acme.test\n    name: Carol Diaz\n",
        "  - email: carol@acme.test\n    name: Carol Diaz\n    rol: admin\n",
        "26:5 users[2].rol: unknown field 'rol'; did you mean 'role'?",
        id="unknown-field",
    ),
    pytest.param(
        "    name: Carol Diaz\n",
        "",
        "24:5 users[2].name: required field missing",
        id="missing-field",
    ),
    pytest.param(
        "    realm: carrier.example.net\n",
        "",
        "31:5 trunks[0]: username, realm and password go together: realm missing",
        id="incomplete-trunk-credentials",
    ),
    pytest.param(
        "[127.0.0.1/32]",
        "[127.0.0.300]",
        "32:23 trunks[0].allowed_sources[0]: '127.0.0.300' is not an IP address or CIDR network",
        id="bad-source-network",
    ),
    pytest.param(
        "outbound_proxy: sip:127.0.0.1:5080",
        "outbound_proxy: http://carrier.example.net",
        "33:21 trunks[0].outbound_proxy: 'http://carrier.example.net' is not a sip: or sips: URI",
        id="bad-outbound-proxy",
    ),
    pytest.param(
        '"staple gun 42"',
        "1234",
        "16:19 users[0].devices[1].password: expected text, got a number or boolean; quote it",
        id="unquoted-numeric-password",
    ),
    pytest.param(
        "    name: Support\n",
        "    name: [Support\n",
        "41:10 yaml: expected ',' or ']', but got ':' (while parsing a flow sequence)",
        id="yaml-syntax",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), ERROR_CASES)
async def test_each_error_names_file_line_column_and_path(
    database: Database, tmp_path: Path, example: str, old: str, new: str, expected: str
) -> None:
    errors = await errors_of(database, tmp_path, edit(example, old, new))
    assert errors == [f"{tmp_path / 'acme.yaml'}:{expected}"]
    assert all(rows == [] for rows in (await snapshot(database)).values())


async def test_every_problem_is_reported_at_once(
    database: Database, tmp_path: Path, example: str
) -> None:
    text = edit(example, "trunk: carrier", "trunk: carier")
    text = edit(text, "user: carol@acme.test", "user: karol@acme.test")
    errors = await errors_of(database, tmp_path, text)
    assert [error.split(" ")[1] for error in errors] == [
        "numbers[0].trunk:",
        "numbers[0].members[2].user:",
    ]


async def test_a_number_or_device_of_another_workspace_is_refused(
    database: Database, tmp_path: Path, example: str
) -> None:
    await apply(database, tmp_path, example)
    before = await snapshot(database)
    globex = (
        "workspace:\n  name: Globex\n"
        "users:\n  - email: hank@globex.test\n    name: Hank\n"
        "    devices:\n      - username: alice-desk\n        password: x\n"
        'numbers:\n  - e164: "+14155550100"\n    name: Sales\n'
    )
    path = tmp_path / "acme.yaml"
    assert await errors_of(database, tmp_path, globex) == [
        f"{path}:10:11 numbers[0].e164: +14155550100 belongs to another workspace",
        f"{path}:7:19 users[0].devices[0].username: device username 'alice-desk' is taken by "
        "another workspace",
    ]
    assert await snapshot(database) == before


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ProvisioningError) as raised:
        load_provisioning_file(missing)
    assert raised.value.errors[0].startswith(f"{missing}: cannot read provisioning file")


def test_an_empty_file_says_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ProvisioningError) as raised:
        load_provisioning_file(path)
    assert raised.value.errors == [
        f"{path}:1:1 document: empty document: expected workspace: and its entries"
    ]


async def test_a_dry_run_reports_the_changes_and_writes_nothing(
    database: Database, tmp_path: Path, example: str
) -> None:
    assert await apply(database, tmp_path, example, dry_run=True) == CREATED
    assert all(rows == [] for rows in (await snapshot(database)).values())
    await apply(database, tmp_path, example)
    before = await snapshot(database)
    edited = edit(example, "name: Support", "name: Help desk")
    assert await apply(database, tmp_path, edited, dry_run=True) == [
        "updated number +14155550100: name 'Support' -> 'Help desk'"
    ]
    assert await snapshot(database) == before


async def test_a_document_from_plain_data_reports_paths_without_positions(
    database: Database,
) -> None:
    document = ProvisioningDocument.from_data(
        {
            "workspace": {"name": "Acme"},
            "numbers": [{"e164": "+14155550100", "name": "Support", "members": [{"user": "x@y"}]}],
        }
    )
    with pytest.raises(ProvisioningError) as raised:
        await provision(database, document, realm=REALM)
    assert raised.value.errors == [
        "numbers[0].members[0].user: no user 'x@y' in this file or in workspace 'Acme'"
    ]
