"""The role matrix through the real app: every (workspace role, number role) by action.

One table gives the expected status of each action for each pair of roles; workspace Owners and
Admins may do everything whatever their number role. A number the caller cannot see answers 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sharedline.store import NumberRole, WorkspaceRole
from tests.api.conftest import Person, Team

NUMBER = "+14155550100"

OK = {
    "view": 200,
    "settings": 200,
    "add_member": 201,
    "assign_owner": 201,
    "change_role": 200,
    "remove_member": 204,
    "invite": 201,
    "view_audit": 200,
    "list_users": 200,
}
ACTIONS = list(OK)

# number role of a workspace Member -> actions allowed; the rest answer 403 (404 when not on it)
MEMBER_TABLE: dict[NumberRole | None, set[str]] = {
    NumberRole.OWNER: {
        "view",
        "settings",
        "add_member",
        "assign_owner",
        "change_role",
        "remove_member",
        "invite",
        "view_audit",
    },
    NumberRole.ADMIN: {"view", "settings", "add_member", "invite", "view_audit"},
    NumberRole.MEMBER: {"view"},
    None: set(),
}


def expected(workspace_role: WorkspaceRole, number_role: NumberRole | None, action: str) -> int:
    if workspace_role in (WorkspaceRole.OWNER, WorkspaceRole.ADMIN):
        return OK[action]
    if action in MEMBER_TABLE[number_role]:
        return OK[action]
    if number_role is None and action != "list_users":
        return 404
    return 403


CASES = [
    pytest.param(ws, nr, action, expected(ws, nr, action), id=f"{ws}-{nr or 'none'}-{action}")
    for ws in WorkspaceRole
    for nr in [NumberRole.OWNER, NumberRole.ADMIN, NumberRole.MEMBER, None]
    for action in ACTIONS
]


async def _do(team: Team, caller: Person, action: str, target: int, newbie: int) -> httpx.Response:
    client, headers = team.client, caller.headers
    requests: dict[str, tuple[str, str, dict[str, Any] | None]] = {
        "view": ("GET", f"/numbers/{NUMBER}", None),
        "settings": ("PATCH", f"/numbers/{NUMBER}", {"name": "Front desk"}),
        "add_member": ("POST", f"/numbers/{NUMBER}/members", {"user_id": newbie}),
        "assign_owner": (
            "POST",
            f"/numbers/{NUMBER}/members",
            {"user_id": newbie, "role": "owner"},
        ),
        "change_role": ("PATCH", f"/numbers/{NUMBER}/members/{target}", {"role": "admin"}),
        "remove_member": ("DELETE", f"/numbers/{NUMBER}/members/{target}", None),
        "invite": (
            "POST",
            "/invitations",
            {"email": "new@acme.test", "numbers": [{"number": NUMBER, "role": "member"}]},
        ),
        "view_audit": ("GET", f"/audit?number={quote(NUMBER)}", None),
        "list_users": ("GET", "/users", None),
    }
    method, url, body = requests[action]
    return await client.request(method, url, headers=headers, json=body)


@pytest.mark.parametrize(("workspace_role", "number_role", "action", "status"), CASES)
async def test_role_matrix(
    team: Team,
    workspace_role: WorkspaceRole,
    number_role: NumberRole | None,
    action: str,
    status: int,
) -> None:
    await team.number(NUMBER)
    await team.person("keeper@acme.test", numbers={NUMBER: NumberRole.OWNER})
    target = await team.person("target@acme.test", numbers={NUMBER: NumberRole.MEMBER})
    newbie = await team.person("newbie@acme.test")
    roles = {NUMBER: number_role} if number_role is not None else {}
    caller = await team.person("caller@acme.test", workspace_role, roles)

    response = await _do(team, caller, action, target.id, newbie.id)

    assert response.status_code == status, response.text
    if status >= 400:
        error = response.json()["error"]
        assert error["code"] == {403: "forbidden", 404: "not_found"}[status]
        assert "Front desk" not in response.text
