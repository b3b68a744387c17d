"""Team management both ways: members from a number's settings, invitations from the team;
plan limits, the last Owner, per-number isolation, the audit log."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from sharedline.store import NumberRole, Plan, WorkspaceRole
from tests.api.conftest import Person, Team

A = "+14155550100"
B = "+14155550199"
PASSWORD = "correct horse battery"


async def _fill(team: Team, number: str, count: int) -> None:
    for index in range(count):
        await team.person(f"member{index}@acme.test", numbers={number: NumberRole.MEMBER})


async def _audit(team: Team, caller: Person, number: str | None = None) -> list[dict[str, Any]]:
    url = "/audit" if number is None else f"/audit?number={quote(number)}"
    response = await team.client.get(url, headers=caller.headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


async def _invite(team: Team, caller: Person, **body: Any) -> httpx.Response:
    return await team.client.post("/invitations", headers=caller.headers, json=body)


async def _accept(team: Team, token: str, password: str = PASSWORD) -> httpx.Response:
    body = {"token": token, "password": password, "name": "Newcomer"}
    return await team.client.post("/invitations/accept", json=body)


async def test_starter_refuses_the_eleventh_member_with_plan_limit(team: Team) -> None:
    await team.number(A)
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    await _fill(team, A, 10)
    eleventh = await team.person("eleventh@acme.test")
    response = await team.client.post(
        f"/numbers/{A}/members", headers=owner.headers, json={"user_id": eleventh.id}
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "plan_limit"
    assert error["message"] == (
        f"{A}: the Starter plan allows at most 10 users per number (11 given); "
        "upgrade to Business for up to 100"
    )
    assert error["details"] == {
        "limit": "users_per_number",
        "plan": "starter",
        "maximum": 10,
        "number": A,
        "members": 10,
    }
    detail = await team.client.get(f"/numbers/{A}", headers=owner.headers)
    assert len(detail.json()["members"]) == 10


async def test_business_allows_up_to_a_hundred(team: Team) -> None:
    workspace = await team.workspace("Big", Plan.BUSINESS)
    await team.number(A, workspace_id=workspace)
    owner = await team.person("owner@big.test", WorkspaceRole.OWNER, workspace_id=workspace)
    for index in range(99):
        await team.person(
            f"m{index}@big.test", numbers={A: NumberRole.MEMBER}, workspace_id=workspace
        )
    hundredth = await team.person("hundredth@big.test", workspace_id=workspace)
    extra = await team.person("extra@big.test", workspace_id=workspace)
    url = f"/numbers/{A}/members"
    ok = await team.client.post(url, headers=owner.headers, json={"user_id": hundredth.id})
    assert ok.status_code == 201, ok.text
    refused = await team.client.post(url, headers=owner.headers, json={"user_id": extra.id})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "plan_limit"
    assert "at most 100 users per number" in refused.json()["error"]["message"]


async def test_invitation_end_to_end(team: Team) -> None:
    await team.number(A)
    await team.number(B)
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    invited = await _invite(
        team,
        owner,
        email="carol@acme.test",
        name="Carol",
        numbers=[{"number": A, "role": "admin"}, {"number": B}],
    )
    assert invited.status_code == 201, invited.text
    invitation = invited.json()
    assert invitation["numbers"] == [{"e164": A, "role": "admin"}, {"e164": B, "role": "member"}]

    short = await _accept(team, invitation["token"], password="short")
    assert short.status_code == 400
    accepted = await _accept(team, invitation["token"])
    assert accepted.status_code == 201, accepted.text
    carol = accepted.json()
    assert carol["user"]["name"] == "Newcomer"
    assert carol["user"]["role"] == "member"
    headers = {"Authorization": f"Bearer {carol['access_token']}"}
    numbers = (await team.client.get("/numbers", headers=headers)).json()
    assert [(n["e164"], n["role"]) for n in numbers] == [(A, "admin"), (B, "member")]

    again = await _accept(team, invitation["token"])
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_invitation"
    login = await team.client.post(
        "/auth/token", json={"email": "carol@acme.test", "password": PASSWORD}
    )
    assert login.status_code == 200

    actions = [(e["action"], e["number"]) for e in await _audit(team, owner)]
    assert actions == [
        ("member_added", B),
        ("member_added", A),
        ("invitation_accepted", None),
        ("invitation_created", B),
        ("invitation_created", A),
    ]


async def test_invitation_accept_is_refused_when_the_number_filled_up(team: Team) -> None:
    await team.number(A)
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    await _fill(team, A, 9)
    invitation = (
        await _invite(team, owner, email="late@acme.test", numbers=[{"number": A}])
    ).json()
    await team.person("tenth@acme.test", numbers={A: NumberRole.MEMBER})

    response = await _accept(team, invitation["token"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_limit"
    login = await team.client.post(
        "/auth/token", json={"email": "late@acme.test", "password": PASSWORD}
    )
    assert login.status_code == 401  # nothing was written


async def test_inviting_to_a_full_number_is_refused_at_once(team: Team) -> None:
    await team.number(A)
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    await _fill(team, A, 10)
    response = await _invite(team, owner, email="late@acme.test", numbers=[{"number": A}])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_limit"


async def test_an_expired_invitation_is_refused(team: Team) -> None:
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    invitation = (await _invite(team, owner, email="slow@acme.test")).json()
    team.clock.advance(7 * 24 * 3600)
    response = await _accept(team, invitation["token"])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_invitation"


async def test_number_admins_invite_members_to_their_numbers_only(team: Team) -> None:
    await team.number(A)
    await team.number(B)
    admin = await team.person("admin@acme.test", numbers={A: NumberRole.ADMIN})
    ok = await _invite(team, admin, email="x@acme.test", numbers=[{"number": A}])
    assert ok.status_code == 201
    other = await _invite(team, admin, email="y@acme.test", numbers=[{"number": B}])
    assert other.status_code == 404
    owner_role = await _invite(
        team, admin, email="z@acme.test", numbers=[{"number": A, "role": "owner"}]
    )
    assert owner_role.status_code == 403
    workspace_admin = await _invite(
        team, admin, email="w@acme.test", role="admin", numbers=[{"number": A}]
    )
    assert workspace_admin.status_code == 403
    nowhere = await _invite(team, admin, email="v@acme.test")
    assert nowhere.status_code == 403


async def test_inviting_an_existing_user_is_a_conflict(team: Team) -> None:
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    response = await _invite(team, owner, email="OWNER@acme.test")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "user_exists"


async def test_the_last_owner_cannot_be_removed_or_demoted(team: Team) -> None:
    await team.number(A)
    admin = await team.person("admin@acme.test", WorkspaceRole.ADMIN)
    keeper = await team.person("keeper@acme.test", numbers={A: NumberRole.OWNER})
    url = f"/numbers/{A}/members/{keeper.id}"
    for response in (
        await team.client.delete(url, headers=admin.headers),
        await team.client.patch(url, headers=admin.headers, json={"role": "admin"}),
    ):
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "last_owner"
        assert "last Owner of +14155550100" in error["message"]

    second = await team.person("second@acme.test", numbers={A: NumberRole.MEMBER})
    promote = await team.client.patch(
        f"/numbers/{A}/members/{second.id}", headers=keeper.headers, json={"role": "owner"}
    )
    assert promote.status_code == 200
    assert (await team.client.delete(url, headers=admin.headers)).status_code == 204


async def test_a_member_of_one_number_cannot_reach_another(team: Team) -> None:
    await team.number(A)
    await team.number(B, name="Sales")
    alice = await team.person("alice@acme.test", numbers={A: NumberRole.OWNER})
    bob = await team.person("bob@acme.test", numbers={B: NumberRole.MEMBER})
    assert [
        n["e164"] for n in (await team.client.get("/numbers", headers=alice.headers)).json()
    ] == [A]
    attempts = [
        ("GET", f"/numbers/{B}", None),
        ("PATCH", f"/numbers/{B}", {"name": "mine"}),
        ("POST", f"/numbers/{B}/members", {"user_id": alice.id}),
        ("PATCH", f"/numbers/{B}/members/{bob.id}", {"role": "admin"}),
        ("DELETE", f"/numbers/{B}/members/{bob.id}", None),
        ("GET", f"/audit?number={quote(B)}", None),
        ("GET", "/numbers/+19999999999", None),  # and one that does not exist: the same
    ]
    bodies = []
    for method, url, body in attempts:
        response = await team.client.request(method, url, headers=alice.headers, json=body)
        assert response.status_code == 404, (method, url)
        bodies.append(response.json()["error"]["code"])
        assert "Sales" not in response.text
    assert set(bodies) == {"not_found"}


async def test_numbers_of_another_workspace_are_invisible_even_to_its_owners(team: Team) -> None:
    other = await team.workspace("Globex")
    await team.number(B, workspace_id=other)
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    stranger = await team.person("s@globex.test", workspace_id=other)
    assert (await team.client.get(f"/numbers/{B}", headers=owner.headers)).status_code == 404
    add = await team.client.post(
        f"/numbers/{B}/members", headers=owner.headers, json={"user_id": owner.id}
    )
    assert add.status_code == 404
    await team.number(A)
    foreign = await team.client.post(
        f"/numbers/{A}/members", headers=owner.headers, json={"user_id": stranger.id}
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"
    users = (await team.client.get("/users", headers=owner.headers)).json()
    assert [u["email"] for u in users] == ["owner@acme.test"]


async def test_each_change_writes_one_audit_entry(team: Team) -> None:
    await team.number(A)
    owner = await team.person("owner@acme.test", numbers={A: NumberRole.OWNER})
    bob = await team.person("bob@acme.test")
    url = f"/numbers/{A}"
    headers = owner.headers
    assert (await team.client.patch(url, headers=headers, json={"name": "Desk"})).status_code == 200
    member_url = f"{url}/members/{bob.id}"
    add = await team.client.post(f"{url}/members", headers=headers, json={"user_id": bob.id})
    assert add.status_code == 201
    duplicate = await team.client.post(f"{url}/members", headers=headers, json={"user_id": bob.id})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "already_member"
    assert (
        await team.client.patch(member_url, headers=headers, json={"role": "admin"})
    ).status_code == 200
    assert (await team.client.delete(member_url, headers=headers)).status_code == 204
    assert (await team.client.delete(member_url, headers=headers)).status_code == 404

    entries = await _audit(team, owner, A)
    assert [
        (e["action"], e["actor_user_id"], e["subject_user_id"], e["details"]) for e in entries
    ] == [
        ("member_removed", owner.id, bob.id, {"role": "admin"}),
        ("member_role_changed", owner.id, bob.id, {"old": "member", "new": "admin"}),
        ("member_added", owner.id, bob.id, {"role": "member"}),
        ("number_renamed", owner.id, None, {"old": "Support", "new": "Desk"}),
    ]
    assert all(e["number"] == A for e in entries)
    whole = await team.client.get("/audit", headers=headers)
    assert whole.status_code == 403  # the whole workspace's log: workspace Owners and Admins


async def test_users_lists_everyone_with_their_numbers(team: Team) -> None:
    await team.number(A)
    admin = await team.person("admin@acme.test", WorkspaceRole.ADMIN)
    await team.person("bob@acme.test", numbers={A: NumberRole.ADMIN}, password=PASSWORD)
    users = (await team.client.get("/users", headers=admin.headers)).json()
    assert users == [
        {
            "id": admin.id,
            "email": "admin@acme.test",
            "name": "Admin",
            "role": "admin",
            "has_password": False,
            "numbers": [],
        },
        {
            "id": users[1]["id"],
            "email": "bob@acme.test",
            "name": "Bob",
            "role": "member",
            "has_password": True,
            "numbers": [{"e164": A, "role": "admin"}],
        },
    ]
