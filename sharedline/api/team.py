"""Team management, both ways (product reference "Adding team members to numbers").

From a number's settings: list the numbers one can see, read one with its members, rename it,
add a workspace user, change a member's role, remove a member. From team management: list the
workspace's users, invite someone by email with a workspace role and numbers, accept an
invitation. Plus the audit log of all of it. Roles decide per ``inbox.permissions``; plan limits
refuse with 409 ``plan_limit`` in both directions; a number's last Owner stays (409 ``last_owner``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query, Response

from ..inbox.permissions import Action, allowed, may_grant, visible
from ..store import accounts
from ..store.accounts import Account, Member, NumberAccess, NumberGrant
from ..store.models import NumberRole
from .access import number_for, require, require_workspace
from .auth import CurrentUser, account_out
from .errors import ERROR_RESPONSES, Forbidden, InvalidRequest
from .schemas import (
    E164_PATTERN,
    MAX_ID,
    AddMemberIn,
    AuditEntryOut,
    ChangeRoleIn,
    InvitationAcceptIn,
    InvitationCreatedOut,
    InvitationIn,
    MemberOut,
    NumberDetailOut,
    NumberGrantOut,
    NumberOut,
    NumberPatchIn,
    TokenOut,
    UserOut,
)
from .state import Session, State

__all__ = ["router"]

log = structlog.get_logger(__name__)

router = APIRouter(responses=ERROR_RESPONSES)

E164Path = Annotated[str, Path(pattern=E164_PATTERN, description="the number, E.164: +14155550100")]
UserIdPath = Annotated[int, Path(gt=0, le=MAX_ID)]


def _member_out(member: Member) -> MemberOut:
    return MemberOut(user_id=member.user_id, email=member.email, name=member.name, role=member.role)


def _number_out(number: NumberAccess) -> NumberOut:
    return NumberOut(e164=number.e164, name=number.name, role=number.role)


async def _detail(session: Session, number: NumberAccess) -> NumberDetailOut:
    members = await accounts.list_members(session, number.id)
    return NumberDetailOut(
        e164=number.e164,
        name=number.name,
        role=number.role,
        members=[_member_out(m) for m in members],
    )


# --- from a number's settings ---------------------------------------------------------------------


@router.get(
    "/numbers", tags=["numbers"], operation_id="listNumbers", response_model=list[NumberOut]
)
async def list_numbers(account: CurrentUser, session: Session) -> list[NumberOut]:
    """The numbers you can see: yours, or all of the workspace's for its Owners and Admins."""
    numbers = await accounts.numbers_for(session, account)
    return [_number_out(n) for n in numbers if visible(account.role, n.role)]


@router.get(
    "/numbers/{e164}", tags=["numbers"], operation_id="getNumber", response_model=NumberDetailOut
)
async def get_number(e164: E164Path, account: CurrentUser, session: Session) -> NumberDetailOut:
    """A number's settings and its members with their roles."""
    number = await number_for(session, account, e164, Action.VIEW_NUMBER)
    return await _detail(session, number)


@router.patch(
    "/numbers/{e164}", tags=["numbers"], operation_id="updateNumber", response_model=NumberDetailOut
)
async def update_number(
    e164: E164Path, body: NumberPatchIn, account: CurrentUser, session: Session, state: State
) -> NumberDetailOut:
    """Change a number's settings (its name): number Owners and Admins, workspace Owners/Admins."""
    number = await number_for(session, account, e164, Action.MANAGE_SETTINGS, lock=True)
    await accounts.rename_number(session, account, number, body.name, now=state.clock())
    await session.commit()
    renamed = NumberAccess(id=number.id, e164=number.e164, name=body.name, role=number.role)
    return await _detail(session, renamed)


@router.post(
    "/numbers/{e164}/members",
    tags=["numbers"],
    operation_id="addNumberMember",
    status_code=201,
    response_model=MemberOut,
)
async def add_number_member(
    e164: E164Path, body: AddMemberIn, account: CurrentUser, session: Session, state: State
) -> MemberOut:
    """Add a workspace user to the number (Member by default); only Owners may add an Owner."""
    number = await number_for(session, account, e164, Action.ADD_MEMBER, lock=True)
    if body.role is NumberRole.OWNER:
        require(account, number, Action.ASSIGN_OWNER)
    member = await accounts.add_member(
        session, account, number, body.user_id, body.role, now=state.clock()
    )
    await session.commit()
    return _member_out(member)


@router.patch(
    "/numbers/{e164}/members/{user_id}",
    tags=["numbers"],
    operation_id="changeNumberMemberRole",
    response_model=MemberOut,
)
async def change_number_member_role(
    e164: E164Path,
    user_id: UserIdPath,
    body: ChangeRoleIn,
    account: CurrentUser,
    session: Session,
    state: State,
) -> MemberOut:
    """Change a member's role: number Owners and workspace Owners/Admins."""
    number = await number_for(session, account, e164, Action.CHANGE_ROLE, lock=True)
    member = await accounts.change_role(
        session, account, number, user_id, body.role, now=state.clock()
    )
    await session.commit()
    return _member_out(member)


@router.delete(
    "/numbers/{e164}/members/{user_id}",
    tags=["numbers"],
    operation_id="removeNumberMember",
    status_code=204,
    response_class=Response,
)
async def remove_number_member(
    e164: E164Path, user_id: UserIdPath, account: CurrentUser, session: Session, state: State
) -> Response:
    """Take a member off the number: number Owners and workspace Owners/Admins."""
    number = await number_for(session, account, e164, Action.REMOVE_MEMBER, lock=True)
    await accounts.remove_member(session, account, number, user_id, now=state.clock())
    await session.commit()
    return Response(status_code=204)


# --- from team management -------------------------------------------------------------------------


@router.get("/users", tags=["team"], operation_id="listUsers", response_model=list[UserOut])
async def list_users(account: CurrentUser, session: Session) -> list[UserOut]:
    """The workspace's users and their numbers: workspace Owners and Admins."""
    require_workspace(account, Action.LIST_USERS)
    users = await accounts.list_users(session, account.workspace_id)
    return [
        UserOut(
            id=u.id,
            email=u.email,
            name=u.name,
            role=u.role,
            has_password=u.has_password,
            numbers=[NumberGrantOut(e164=g.e164, role=g.role) for g in u.numbers],
        )
        for u in users
    ]


async def _grants(session: Session, account: Account, body: InvitationIn) -> list[NumberGrant]:
    """The invitation's numbers, each checked: visible, INVITE allowed, Owner only by Owners."""
    seen: set[str] = set()
    grants: list[NumberGrant] = []
    for entry in body.numbers:
        if entry.number in seen:
            raise InvalidRequest(f"{entry.number} is listed twice", number=entry.number)
        seen.add(entry.number)
        number = await number_for(session, account, entry.number, Action.INVITE, lock=True)
        if entry.role is NumberRole.OWNER:
            require(account, number, Action.ASSIGN_OWNER)
        grants.append(NumberGrant(number_id=number.id, e164=number.e164, role=entry.role))
    return grants


@router.post(
    "/invitations",
    tags=["team"],
    operation_id="createInvitation",
    status_code=201,
    response_model=InvitationCreatedOut,
)
async def create_invitation(
    body: InvitationIn, account: CurrentUser, session: Session, state: State
) -> InvitationCreatedOut:
    """Invite someone by email with a workspace role and numbers; the token is shown once.

    Workspace Owners and Admins invite to any number; number Owners and Admins to their numbers
    (at least one), as workspace Members.
    """
    if not may_grant(account.role, body.role):
        raise Forbidden(
            f"your workspace role ({account.role.value}) cannot grant {body.role.value}",
            role=body.role.value,
        )
    if not body.numbers and not allowed(account.role, None, Action.INVITE):
        raise Forbidden("name at least one number you administer to invite someone")
    grants = await _grants(session, account, body)
    name = body.name or body.email.split("@", 1)[0]
    invitation = await accounts.create_invitation(
        session,
        account,
        email=body.email,
        name=name,
        role=body.role,
        grants=grants,
        now=state.clock(),
        ttl=timedelta(seconds=state.settings.invitation_ttl),
    )
    await session.commit()
    assert invitation.token is not None
    log.info("invitation_created", invitation_id=invitation.id, numbers=len(grants))
    return InvitationCreatedOut(
        id=invitation.id,
        email=invitation.email,
        name=invitation.name,
        role=invitation.role,
        numbers=[NumberGrantOut(e164=g.e164, role=g.role) for g in invitation.numbers],
        expires_at=invitation.expires_at,
        token=invitation.token,
    )


@router.post(
    "/invitations/accept",
    tags=["team"],
    operation_id="acceptInvitation",
    status_code=201,
    response_model=TokenOut,
)
async def accept_invitation(body: InvitationAcceptIn, session: Session, state: State) -> TokenOut:
    """Join with an invitation token: creates the user and their memberships, logs them in."""
    passwords = state.passwords
    if len(body.password) < passwords.min_length:
        raise InvalidRequest(
            f"the password must have at least {passwords.min_length} characters",
            min_length=passwords.min_length,
        )
    password_hash = await asyncio.to_thread(passwords.hash, body.password)
    now = state.clock()
    user_id = await accounts.accept_invitation(
        session, body.token, name=body.name, password_hash=password_hash, now=now
    )
    issued = await accounts.issue_token(
        session, user_id, now=now, ttl=timedelta(seconds=state.settings.token_ttl)
    )
    account = await accounts.account_for_token(session, issued.token, now=now)
    assert account is not None
    await session.commit()
    log.info("invitation_accepted", user_id=user_id)
    return TokenOut(
        access_token=issued.token, expires_at=issued.expires_at, user=account_out(account)
    )


# --- audit log ------------------------------------------------------------------------------------


@router.get("/audit", tags=["audit"], operation_id="listAudit", response_model=list[AuditEntryOut])
async def list_audit(
    account: CurrentUser,
    session: Session,
    number: Annotated[
        str | None, Query(pattern=E164_PATTERN, description="only this number's entries")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    """Changes to the team and numbers, newest first: the whole workspace for its Owners and
    Admins; one number's for its Owners and Admins (``?number=``)."""
    number_id = None
    if number is not None:
        number_id = (await number_for(session, account, number, Action.VIEW_AUDIT)).id
    else:
        require_workspace(account, Action.VIEW_AUDIT)
    entries = await accounts.list_audit(
        session, account.workspace_id, number_id=number_id, limit=limit
    )
    return [
        AuditEntryOut(
            id=e.id,
            at=e.at,
            action=e.action,
            actor_user_id=e.actor_user_id,
            number=e.number,
            subject_user_id=e.subject_user_id,
            details=e.details,
        )
        for e in entries
    ]
