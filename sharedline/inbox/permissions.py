"""Who may do what to a shared number: the role matrix, as data.

DESIGN.md "Roles, access and plans", from the product reference. Access is per number. A
user's rights on a number follow from two roles: their role in the workspace and their role on
that number (None when they are not on it). Workspace Owners and Admins can always
manage any number of their workspace, whatever their number role.

=====================  =========  =========  ==========  ==========  ===========
action                 workspace  number     number      number      not on the
                       Owner or   Owner      Admin       Member      number
                       Admin
=====================  =========  =========  ==========  ==========  ===========
VIEW_NUMBER            yes        yes        yes         yes         no (404)
MANAGE_SETTINGS        yes        yes        yes         no          no (404)
ADD_MEMBER             yes        yes        yes         no          no (404)
ASSIGN_OWNER           yes        yes        no          no          no (404)
CHANGE_ROLE            yes        yes        no          no          no (404)
REMOVE_MEMBER          yes        yes        no          no          no (404)
INVITE                 yes        yes        yes         no          no (404)
VIEW_AUDIT             yes        yes        yes         no          no (404)
LIST_USERS             yes        no         no          no          no
SEND_MESSAGE           yes        yes        yes         yes         no (404)
COMMENT                yes        yes        yes         yes         no (404)
VIEW_CONVERSATIONS     yes        yes        yes         yes         no (404)
DELETE_CONTACT         yes        no         no          no          no
=====================  =========  =========  ==========  ==========  ===========

Decisions the product reference leaves open:

- A number Admin adds members (as Member or Admin) but cannot make anyone an Owner
  (``ASSIGN_OWNER``), change an existing member's role (``CHANGE_ROLE``) or remove anyone: moving
  members between roles is the Owner's ("Owners ... can add or move members").
- A number Admin may invite new people to the numbers they administer (``INVITE``), since an
  invitation only adds members; the number Owner may too.
- A number the user is not on, in a workspace where they are neither Owner nor Admin, does not
  exist for them: the API answers 404, not 403, so its existence does not leak.
- ``LIST_USERS`` (the workspace's team) and granting workspace roles are workspace-wide: only
  workspace Owners and Admins, and only an Owner makes another Owner (:func:`may_grant`).
- The address book is shared by the workspace: every workspace user reads, adds and edits
  contacts; deleting one (``DELETE_CONTACT``) is workspace-wide, for Owners and Admins only
  (contacts do not record who created them).
- ``VIEW_CONVERSATIONS`` covers a number's conversations, calls, voicemail and opened-by.

Members call, text, read and comment; those actions arrive with the conversations API and follow
``VIEW_NUMBER``.
"""

from __future__ import annotations

import enum

from ..store.models import NumberRole, WorkspaceRole

__all__ = ["Action", "allowed", "may_grant", "visible"]


class Action(enum.StrEnum):
    """Something a user may want to do on a number (or, for ``LIST_USERS``, the workspace)."""

    VIEW_NUMBER = "view_number"
    MANAGE_SETTINGS = "manage_settings"
    ADD_MEMBER = "add_member"
    ASSIGN_OWNER = "assign_owner"
    CHANGE_ROLE = "change_role"
    REMOVE_MEMBER = "remove_member"
    INVITE = "invite"
    VIEW_AUDIT = "view_audit"
    LIST_USERS = "list_users"
    SEND_MESSAGE = "send_message"
    COMMENT = "comment"
    VIEW_CONVERSATIONS = "view_conversations"
    DELETE_CONTACT = "delete_contact"


_NUMBER_RIGHTS: dict[NumberRole, frozenset[Action]] = {
    NumberRole.OWNER: frozenset(
        {
            Action.VIEW_NUMBER,
            Action.MANAGE_SETTINGS,
            Action.ADD_MEMBER,
            Action.ASSIGN_OWNER,
            Action.CHANGE_ROLE,
            Action.REMOVE_MEMBER,
            Action.INVITE,
            Action.VIEW_AUDIT,
            Action.SEND_MESSAGE,
            Action.COMMENT,
            Action.VIEW_CONVERSATIONS,
        }
    ),
    NumberRole.ADMIN: frozenset(
        {
            Action.VIEW_NUMBER,
            Action.MANAGE_SETTINGS,
            Action.ADD_MEMBER,
            Action.INVITE,
            Action.VIEW_AUDIT,
            Action.SEND_MESSAGE,
            Action.COMMENT,
            Action.VIEW_CONVERSATIONS,
        }
    ),
    NumberRole.MEMBER: frozenset(
        {Action.VIEW_NUMBER, Action.SEND_MESSAGE, Action.COMMENT, Action.VIEW_CONVERSATIONS}
    ),
}
"""What each number role allows, for users who are not workspace Owners or Admins."""

_WORKSPACE_MANAGERS = frozenset({WorkspaceRole.OWNER, WorkspaceRole.ADMIN})


def allowed(workspace_role: WorkspaceRole, number_role: NumberRole | None, action: Action) -> bool:
    """Whether a user with these roles may do ``action`` on a number (see the module's table).

    ``number_role`` is the user's role on the number, None when they are not on it.
    """
    if workspace_role in _WORKSPACE_MANAGERS:
        return True
    if number_role is None:
        return False
    return action in _NUMBER_RIGHTS[number_role]


def visible(workspace_role: WorkspaceRole, number_role: NumberRole | None) -> bool:
    """Whether the number exists for this user at all (if not, answer 404, not 403)."""
    return allowed(workspace_role, number_role, Action.VIEW_NUMBER)


def may_grant(granter: WorkspaceRole, role: WorkspaceRole) -> bool:
    """Whether a user with workspace role ``granter`` may give someone workspace role ``role``.

    Workspace Members invite only Members (to numbers they administer); Admins invite Admins and
    Members; only an Owner makes another Owner.
    """
    if role is WorkspaceRole.MEMBER:
        return True
    if role is WorkspaceRole.ADMIN:
        return granter in _WORKSPACE_MANAGERS
    return granter is WorkspaceRole.OWNER
