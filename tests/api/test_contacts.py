"""The shared address book: every workspace user reads and edits it, Owners and Admins delete;
search, lookup by number, a number on one contact only, workspaces apart, caller names."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from sharedline.store import WorkspaceRole
from sharedline.store.addressbook import caller_names, normalise_number
from tests.api.conftest import Person, Team

ANN = "+12125550100"
ANN_OFFICE = "+12125550101"
BOB = "+442071838750"


async def _create(team: Team, caller: Person, **body: Any) -> dict[str, Any]:
    response = await team.client.post("/contacts", headers=caller.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_member_adds_reads_edits_and_searches_contacts(team: Team) -> None:
    member = await team.person("member@acme.test")
    other = await team.person("other@acme.test")
    ann = await _create(
        team,
        member,
        name="  Ann Smith ",
        numbers=[{"e164": ANN, "label": "mobile"}, {"e164": ANN_OFFICE, "label": "office"}],
        notes="prefers texts",
    )
    assert ann["name"] == "Ann Smith"
    assert ann["numbers"] == [
        {"e164": ANN, "label": "mobile"},
        {"e164": ANN_OFFICE, "label": "office"},
    ]
    await _create(team, member, name="Bob Jones", numbers=[{"e164": BOB}])

    # shared: another member sees and edits it
    seen = await team.client.get(f"/contacts/{ann['id']}", headers=other.headers)
    assert seen.status_code == 200
    assert seen.json() == ann
    team.clock.advance(60)
    patched = await team.client.patch(
        f"/contacts/{ann['id']}",
        headers=other.headers,
        json={"numbers": [{"e164": ANN_OFFICE, "label": "desk"}, {"e164": "+12125550102"}]},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "Ann Smith"
    assert body["notes"] == "prefers texts"
    assert body["numbers"] == [
        {"e164": ANN_OFFICE, "label": "desk"},
        {"e164": "+12125550102", "label": ""},
    ]
    assert body["updated_at"] > ann["updated_at"]

    async def search(q: str) -> list[str]:
        response = await team.client.get(f"/contacts?q={quote(q)}", headers=member.headers)
        assert response.status_code == 200, response.text
        return [c["name"] for c in response.json()]

    assert await search("smith") == ["Ann Smith"]
    assert await search("2071") == ["Bob Jones"]
    assert await search("+1 212 555") == ["Ann Smith"]
    assert await search("%") == []
    everyone = await team.client.get("/contacts", headers=member.headers)
    assert [c["name"] for c in everyone.json()] == ["Ann Smith", "Bob Jones"]


async def test_lookup_finds_the_contact_of_a_number_or_404(team: Team) -> None:
    member = await team.person("member@acme.test")
    ann = await _create(team, member, name="Ann", numbers=[{"e164": ANN}])
    found = await team.client.get(f"/contacts/lookup?number={quote(ANN)}", headers=member.headers)
    assert found.status_code == 200
    assert found.json()["id"] == ann["id"]
    missing = await team.client.get(f"/contacts/lookup?number={quote(BOB)}", headers=member.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_a_number_on_another_contact_is_409_naming_it(team: Team) -> None:
    member = await team.person("member@acme.test")
    ann = await _create(team, member, name="Ann", numbers=[{"e164": ANN}])
    bob = await _create(team, member, name="Bob", numbers=[{"e164": BOB}])
    expected = {
        "code": "number_taken",
        "message": f"{ANN} is already on the contact 'Ann'",
        "details": {"number": ANN, "contact_id": ann["id"], "contact_name": "Ann"},
    }
    created = await team.client.post(
        "/contacts", headers=member.headers, json={"name": "Ann 2", "numbers": [{"e164": ANN}]}
    )
    assert created.status_code == 409
    assert created.json()["error"] == expected
    patched = await team.client.patch(
        f"/contacts/{bob['id']}",
        headers=member.headers,
        json={"numbers": [{"e164": BOB}, {"e164": ANN}]},
    )
    assert patched.status_code == 409
    assert patched.json()["error"] == expected
    unchanged = await team.client.get(f"/contacts/{bob['id']}", headers=member.headers)
    assert [n["e164"] for n in unchanged.json()["numbers"]] == [BOB]
    # a contact may keep its own numbers
    kept = await team.client.patch(
        f"/contacts/{ann['id']}", headers=member.headers, json={"numbers": [{"e164": ANN}]}
    )
    assert kept.status_code == 200


@pytest.mark.parametrize(
    ("role", "status"),
    [(WorkspaceRole.OWNER, 204), (WorkspaceRole.ADMIN, 204), (WorkspaceRole.MEMBER, 403)],
)
async def test_only_workspace_owners_and_admins_delete_contacts(
    team: Team, role: WorkspaceRole, status: int
) -> None:
    creator = await team.person("creator@acme.test")
    caller = await team.person("caller@acme.test", role)
    ann = await _create(team, creator, name="Ann", numbers=[{"e164": ANN}])
    response = await team.client.delete(f"/contacts/{ann['id']}", headers=caller.headers)
    assert response.status_code == status, response.text
    after = await team.client.get(f"/contacts/{ann['id']}", headers=creator.headers)
    assert after.status_code == (404 if status == 204 else 200)
    if status == 204:  # the number is free again
        await _create(team, creator, name="Ann again", numbers=[{"e164": ANN}])


async def test_contacts_of_another_workspace_do_not_exist(team: Team) -> None:
    member = await team.person("member@acme.test")
    ann = await _create(team, member, name="Ann", numbers=[{"e164": ANN}])
    elsewhere = await team.workspace("Globex")
    stranger = await team.person("boss@globex.test", WorkspaceRole.OWNER, workspace_id=elsewhere)
    url = f"/contacts/{ann['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"name": "Mine"}),
        ("DELETE", url, None),
        ("GET", f"/contacts/lookup?number={quote(ANN)}", None),
    ]:
        response = await team.client.request(method, path, headers=stranger.headers, json=body)
        assert response.status_code == 404, (method, path, response.text)
    listed = await team.client.get("/contacts", headers=stranger.headers)
    assert listed.json() == []
    # the same number may name another contact in another workspace
    theirs = await _create(team, stranger, name="Ann (Globex)", numbers=[{"e164": ANN}])
    names = await caller_names(team.database)
    assert names == {team.workspace_id: {ANN: "Ann"}, elsewhere: {ANN: "Ann (Globex)"}}
    assert theirs["id"] != ann["id"]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/contacts", {"name": ""}),
        ("POST", "/contacts", {"name": "x" * 201}),
        ("POST", "/contacts", {"name": "Ann", "numbers": [{"e164": "2125550100"}]}),
        ("POST", "/contacts", {"name": "Ann", "numbers": [{"e164": "+0212"}]}),
        ("POST", "/contacts", {"name": "Ann", "numbers": [{"e164": ANN}, {"e164": ANN}]}),
        ("POST", "/contacts", {"name": "Ann", "numbers": [{"e164": ANN, "label": "x" * 51}]}),
        ("POST", "/contacts", {"name": "Ann", "nickname": "A"}),
        ("POST", "/contacts", {"name": "Ann", "notes": "x" * 5001}),
        ("PATCH", "/contacts/1", {"numbers": [{"e164": "abc"}]}),
        ("GET", "/contacts/0", None),
        ("GET", "/contacts/-1", None),
        ("GET", "/contacts/99999999999", None),
        ("GET", "/contacts/lookup?number=12125550100", None),
        ("GET", "/contacts/lookup", None),
        ("GET", "/contacts?limit=0", None),
        ("GET", "/contacts?q=", None),
    ],
)
async def test_bad_contact_input_is_a_422(team: Team, method: str, url: str, body: object) -> None:
    member = await team.person("member@acme.test")
    response = await team.client.request(method, url, headers=member.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_unknown_contacts_are_404_and_every_route_needs_a_token(team: Team) -> None:
    member = await team.person("member@acme.test")
    response = await team.client.get("/contacts/12345", headers=member.headers)
    assert response.status_code == 404
    assert response.json()["error"]["details"] == {"contact_id": 12345}
    for method, url in [("GET", "/contacts"), ("POST", "/contacts"), ("GET", "/contacts/1")]:
        anonymous = await team.client.request(method, url, json={"name": "x"})
        assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+12125550100", "+12125550100"),
        ("12125550100", "+12125550100"),
        ("+1 (212) 555-0100", "+12125550100"),
        ("0012125550100", "+12125550100"),
        ("anonymous", None),
        ("+0123", None),
        ("", None),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, e164: str | None) -> None:
    assert normalise_number(raw) == e164
