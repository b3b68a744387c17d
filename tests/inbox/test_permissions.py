"""The role matrix as pure data: ``allowed``, ``visible`` and ``may_grant``."""

from __future__ import annotations

import pytest

from sharedline.inbox.permissions import Action, allowed, may_grant, visible
from sharedline.store.models import NumberRole, WorkspaceRole

NUMBER_ROLES: list[NumberRole | None] = [*NumberRole, None]

# what a workspace Member may do, by number role (the module docstring's table)
EVERY_MEMBER = {Action.VIEW_NUMBER, Action.VIEW_CONVERSATIONS, Action.SEND_MESSAGE, Action.COMMENT}
RIGHTS: dict[NumberRole | None, set[Action]] = {
    NumberRole.OWNER: set(Action) - {Action.LIST_USERS, Action.DELETE_CONTACT},
    NumberRole.ADMIN: EVERY_MEMBER
    | {Action.MANAGE_SETTINGS, Action.ADD_MEMBER, Action.INVITE, Action.VIEW_AUDIT},
    NumberRole.MEMBER: EVERY_MEMBER,
    None: set(),
}


@pytest.mark.parametrize("workspace_role", [WorkspaceRole.OWNER, WorkspaceRole.ADMIN])
@pytest.mark.parametrize("number_role", NUMBER_ROLES)
@pytest.mark.parametrize("action", list(Action))
def test_workspace_owners_and_admins_may_do_everything(
    workspace_role: WorkspaceRole, number_role: NumberRole | None, action: Action
) -> None:
    assert allowed(workspace_role, number_role, action)


@pytest.mark.parametrize("number_role", NUMBER_ROLES)
@pytest.mark.parametrize("action", list(Action))
def test_workspace_members_follow_their_number_role(
    number_role: NumberRole | None, action: Action
) -> None:
    assert allowed(WorkspaceRole.MEMBER, number_role, action) == (action in RIGHTS[number_role])


def test_number_admins_add_but_never_remove_or_move() -> None:
    assert allowed(WorkspaceRole.MEMBER, NumberRole.ADMIN, Action.ADD_MEMBER)
    for action in (Action.REMOVE_MEMBER, Action.CHANGE_ROLE, Action.ASSIGN_OWNER):
        assert not allowed(WorkspaceRole.MEMBER, NumberRole.ADMIN, action)


def test_a_number_one_is_not_on_is_invisible_to_workspace_members_only() -> None:
    assert not visible(WorkspaceRole.MEMBER, None)
    assert visible(WorkspaceRole.ADMIN, None)
    assert all(visible(WorkspaceRole.MEMBER, role) for role in NumberRole)


@pytest.mark.parametrize(
    ("granter", "role", "ok"),
    [
        (WorkspaceRole.OWNER, WorkspaceRole.OWNER, True),
        (WorkspaceRole.OWNER, WorkspaceRole.ADMIN, True),
        (WorkspaceRole.ADMIN, WorkspaceRole.OWNER, False),
        (WorkspaceRole.ADMIN, WorkspaceRole.ADMIN, True),
        (WorkspaceRole.ADMIN, WorkspaceRole.MEMBER, True),
        (WorkspaceRole.MEMBER, WorkspaceRole.ADMIN, False),
        (WorkspaceRole.MEMBER, WorkspaceRole.MEMBER, True),
    ],
)
def test_workspace_roles_are_granted_downwards(
    granter: WorkspaceRole, role: WorkspaceRole, ok: bool
) -> None:
    assert may_grant(granter, role) is ok
