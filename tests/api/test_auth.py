"""Logging in and out; bearer tokens; secrets stay out of the logs."""

from __future__ import annotations

import httpx
from structlog.testing import capture_logs

from sharedline.api.passwords import Passwords
from sharedline.store import User
from tests.api.conftest import Team, api_settings

PASSWORD = "correct horse battery"


async def _login(team: Team, email: str, password: str, **extra: str) -> httpx.Response:
    body = {"email": email, "password": password, **extra}
    return await team.client.post("/auth/token", json=body)


async def test_login_returns_a_token_that_authenticates(team: Team) -> None:
    await team.person("alice@acme.test", password=PASSWORD)
    response = await _login(team, "Alice@Acme.test", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == "alice@acme.test"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = await team.client.get("/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["workspace"] == "Acme"


async def test_wrong_password_and_unknown_email_get_the_same_401(team: Team) -> None:
    await team.person("alice@acme.test", password=PASSWORD)
    wrong = await _login(team, "alice@acme.test", "not the password")
    unknown = await _login(team, "nobody@acme.test", PASSWORD)
    no_password = await team.person("bob@acme.test")
    unset = await _login(team, no_password.email, PASSWORD)
    assert wrong.status_code == unknown.status_code == unset.status_code == 401
    assert wrong.json() == unknown.json() == unset.json()
    assert wrong.json()["error"]["code"] == "not_authenticated"


async def test_missing_unknown_expired_and_revoked_tokens_get_401_with_bearer_challenge(
    team: Team,
) -> None:
    alice = await team.person("alice@acme.test")
    missing = await team.client.get("/numbers")
    unknown = await team.client.get("/numbers", headers={"Authorization": "Bearer nope"})
    for response in (missing, unknown):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "not_authenticated"

    assert (await team.client.get("/numbers", headers=alice.headers)).status_code == 200
    logout = await team.client.post("/auth/logout", headers=alice.headers)
    assert logout.status_code == 204
    assert (await team.client.get("/numbers", headers=alice.headers)).status_code == 401

    bob = await team.person("bob@acme.test")  # tokens live one hour in these tests
    team.clock.advance(3601)
    expired = await team.client.get("/numbers", headers=bob.headers)
    assert expired.status_code == 401


async def test_login_token_expires_after_the_configured_ttl(team: Team) -> None:
    await team.person("alice@acme.test", password=PASSWORD)
    token = (await _login(team, "alice@acme.test", PASSWORD)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    team.clock.advance(12 * 3600 - 1)
    assert (await team.client.get("/numbers", headers=headers)).status_code == 200
    team.clock.advance(1)
    assert (await team.client.get("/numbers", headers=headers)).status_code == 401


async def test_password_and_token_never_reach_the_log(team: Team) -> None:
    await team.person("alice@acme.test", password=PASSWORD)
    with capture_logs() as records:
        token = (await _login(team, "alice@acme.test", PASSWORD)).json()["access_token"]
        await _login(team, "alice@acme.test", PASSWORD + "!")
        await team.client.get("/numbers", headers={"Authorization": f"Bearer {token}"})
        await team.client.post("/auth/token", json={"email": "x", "password": PASSWORD})
    text = repr(records)
    assert "login_succeeded" in text
    assert "login_failed" in text
    assert PASSWORD not in text
    assert token not in text


async def test_validation_errors_do_not_echo_the_password(team: Team) -> None:
    response = await team.client.post(
        "/auth/token", json={"email": "not-an-email", "password": PASSWORD}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert PASSWORD not in response.text


async def test_an_email_in_two_workspaces_needs_the_workspace_named(team: Team) -> None:
    await team.person("alice@acme.test", password=PASSWORD)
    other = await team.workspace("Globex")
    await team.person("alice@acme.test", password=PASSWORD, workspace_id=other)
    ambiguous = await _login(team, "alice@acme.test", PASSWORD)
    assert ambiguous.status_code == 400
    assert sorted(ambiguous.json()["error"]["details"]["workspaces"]) == ["Acme", "Globex"]
    named = await _login(team, "alice@acme.test", PASSWORD, workspace="Globex")
    assert named.status_code == 200
    assert named.json()["user"]["workspace"] == "Globex"


async def test_login_rehashes_a_password_made_with_older_parameters(team: Team) -> None:
    weaker = Passwords(api_settings(password_time_cost=2).api)
    alice = await team.person("alice@acme.test")
    async with team.database.session() as session:
        user = await session.get_one(User, alice.id)
        user.password_hash = old = weaker.hash(PASSWORD)
        await session.commit()
    assert (await _login(team, "alice@acme.test", PASSWORD)).status_code == 200
    async with team.database.session() as session:
        new = (await session.get_one(User, alice.id)).password_hash
    assert new is not None
    assert new != old
    assert not team.passwords.needs_rehash(new)
