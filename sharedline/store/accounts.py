"""The team inbox API's accounts: credentials, tokens, numbers' members, invitations, audit log.

Every function takes the caller's ``AsyncSession`` and leaves committing to it, so one request
is one transaction: a membership change and its audit entry are written together or not at all.
Functions return dataclasses, never ORM rows (STYLE.md §9). Authorization is not decided here
(``inbox.permissions`` does that); the rules of the data are: plan limits per number, a number
keeps at least one Owner, a workspace user is on a number at most once.

Secrets never reach the database in clear: bearer and invitation tokens are stored as SHA-256
hashes (:func:`token_hash`), passwords as the argon2id hashes the caller computed.

Errors (each has a machine-readable ``code``)::

    AccountError
     ├── NotFound            no such number, user or invitation (in this workspace)
     ├── InvalidInvitation   the invitation token is unknown, used or expired
     ├── PlanLimitExceeded   a number would have more users than the workspace's plan allows
     ├── LastOwner           the change would leave a number without an Owner
     ├── AlreadyMember       the user is on the number already
     └── UserExists          a user with that email is in the workspace already
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .database import Database
from .flowstate import _user, _workspace
from .models import (
    PLAN_USER_LIMITS,
    ApiToken,
    AuditEntry,
    Invitation,
    NumberMembership,
    NumberRole,
    PhoneNumber,
    Plan,
    User,
    Workspace,
    WorkspaceRole,
)
from .provisioning import _plan_limit

__all__ = [
    "Account",
    "AccountError",
    "AlreadyMember",
    "AuditRecord",
    "Credential",
    "InvalidInvitation",
    "InvitationRecord",
    "IssuedToken",
    "LastOwner",
    "Member",
    "NotFound",
    "NumberAccess",
    "NumberGrant",
    "PlanLimitExceeded",
    "TeamUser",
    "UserExists",
    "accept_invitation",
    "account_for_token",
    "add_member",
    "change_role",
    "create_invitation",
    "find_credentials",
    "issue_token",
    "list_audit",
    "list_members",
    "list_users",
    "number_access",
    "numbers_for",
    "remove_member",
    "rename_number",
    "revoke_token",
    "set_password",
    "set_password_hash",
    "token_hash",
]


class AccountError(Exception):
    """A change the data's rules refuse; ``code`` is stable, ``details`` machine-readable."""

    code: ClassVar[str] = "conflict"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(AccountError):
    code = "not_found"


class InvalidInvitation(AccountError):
    code = "invalid_invitation"


class PlanLimitExceeded(AccountError):
    code = "plan_limit"


class LastOwner(AccountError):
    code = "last_owner"


class AlreadyMember(AccountError):
    code = "already_member"


class UserExists(AccountError):
    code = "user_exists"


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """A user as the API knows them once authenticated."""

    id: int
    workspace_id: int
    workspace: str
    plan: Plan
    email: str
    name: str
    role: WorkspaceRole


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    """A login candidate: a user with this email and their password hash (None: no password)."""

    user_id: int
    workspace: str
    password_hash: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    """A new bearer token, in clear: shown once, stored only as its hash."""

    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberAccess:
    """A number of the caller's workspace and the caller's role on it (None: not on it)."""

    id: int
    e164: str
    name: str
    role: NumberRole | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A user on a number, with their role there."""

    user_id: int
    email: str
    name: str
    role: NumberRole


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberGrant:
    """A number and a role on it (a user's membership, or one an invitation will create)."""

    number_id: int
    e164: str
    role: NumberRole


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamUser:
    """A workspace user with their numbers, for team management."""

    id: int
    email: str
    name: str
    role: WorkspaceRole
    has_password: bool
    numbers: tuple[NumberGrant, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class InvitationRecord:
    """A pending invitation; ``token`` is set only when it was just created."""

    id: int
    email: str
    name: str
    role: WorkspaceRole
    numbers: tuple[NumberGrant, ...]
    expires_at: datetime
    token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One audit log entry."""

    id: int
    at: datetime
    action: str
    actor_user_id: int | None
    number: str | None
    subject_user_id: int | None
    details: dict[str, Any]


def token_hash(token: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up as."""
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back the UTC value we stored, without its zone
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _audit(
    session: AsyncSession,
    *,
    workspace_id: int,
    actor: int | None,
    action: str,
    now: datetime,
    number_id: int | None = None,
    subject: int | None = None,
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            workspace_id=workspace_id,
            actor_user_id=actor,
            action=action,
            number_id=number_id,
            subject_user_id=subject,
            details=details,
            at=now,
        )
    )


# --- credentials and tokens ---------------------------------------------------------------------


async def find_credentials(
    session: AsyncSession, email: str, workspace: str | None = None
) -> list[Credential]:
    """Users with this email (case-insensitive), in the named workspace or in any."""
    query = (
        select(User.id, Workspace.name, User.password_hash)
        .join(Workspace, User.workspace_id == Workspace.id)
        .where(func.lower(User.email) == email.lower())
        .order_by(User.id)
    )
    if workspace is not None:
        query = query.where(Workspace.name == workspace)
    rows = await session.execute(query)
    return [Credential(user_id=i, workspace=w, password_hash=h) for i, w, h in rows]


async def set_password_hash(
    session: AsyncSession, user_id: int, password_hash: str, *, now: datetime, audit: bool = False
) -> None:
    """Store a user's new password hash; with ``audit``, say so in the audit log."""
    user = await session.get_one(User, user_id)
    user.password_hash = password_hash
    if audit:
        _audit(
            session,
            workspace_id=user.workspace_id,
            actor=None,
            action="password_set",
            now=now,
            subject=user.id,
        )


async def set_password(
    database: Database, *, workspace: str | None, email: str, password_hash: str, now: datetime
) -> str:
    """Set a user's password (by workspace name and email) and revoke their tokens.

    Returns a line for the admin; raises ``flowstate.MemberNotFound`` naming what is missing.
    """
    async with database.session() as session:
        found = await _workspace(session, workspace)
        user = await _user(session, found, email)
        await set_password_hash(session, user.id, password_hash, now=now, audit=True)
        await session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await session.commit()
        return f"password set for {user.email} in workspace {found.name!r}"


async def issue_token(
    session: AsyncSession, user_id: int, *, now: datetime, ttl: timedelta
) -> IssuedToken:
    """A new bearer token for the user, valid for ``ttl``."""
    token = secrets.token_urlsafe(32)
    expires_at = now + ttl
    session.add(
        ApiToken(
            token_hash=token_hash(token), user_id=user_id, created_at=now, expires_at=expires_at
        )
    )
    await session.flush()
    return IssuedToken(token=token, expires_at=expires_at)


async def account_for_token(session: AsyncSession, token: str, *, now: datetime) -> Account | None:
    """The user a live (unexpired, unrevoked) token belongs to, or None."""
    row = (
        await session.execute(
            select(User, Workspace)
            .join(ApiToken, ApiToken.user_id == User.id)
            .join(Workspace, User.workspace_id == Workspace.id)
            .where(
                ApiToken.token_hash == token_hash(token),
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
            )
        )
    ).first()
    if row is None:
        return None
    user, workspace = row
    return Account(
        id=user.id,
        workspace_id=workspace.id,
        workspace=workspace.name,
        plan=workspace.plan,
        email=user.email,
        name=user.name,
        role=user.role,
    )


async def revoke_token(session: AsyncSession, token: str, *, now: datetime) -> bool:
    """Revoke a token; False if it was unknown or revoked already."""
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None:
        return False
    row.revoked_at = now
    return True


# --- numbers and their members --------------------------------------------------------------------


async def numbers_for(session: AsyncSession, account: Account) -> list[NumberAccess]:
    """Every number of the account's workspace with the account's role on it (None: not on it)."""
    rows = await session.execute(
        select(PhoneNumber, NumberMembership.role)
        .outerjoin(
            NumberMembership,
            (NumberMembership.number_id == PhoneNumber.id)
            & (NumberMembership.user_id == account.id),
        )
        .where(PhoneNumber.workspace_id == account.workspace_id)
        .order_by(PhoneNumber.e164)
    )
    return [NumberAccess(id=n.id, e164=n.e164, name=n.name, role=role) for n, role in rows]


async def number_access(
    session: AsyncSession, account: Account, e164: str, *, lock: bool = False
) -> NumberAccess | None:
    """One number of the account's workspace and the account's role on it; None: no such number.

    ``lock`` takes a row lock on the number (PostgreSQL), which serializes membership changes so
    plan limits and the last-Owner rule hold across engine nodes.
    """
    query = select(PhoneNumber).where(
        PhoneNumber.e164 == e164, PhoneNumber.workspace_id == account.workspace_id
    )
    if lock:
        query = query.with_for_update()
    number = await session.scalar(query)
    if number is None:
        return None
    role = await session.scalar(
        select(NumberMembership.role).where(
            NumberMembership.number_id == number.id, NumberMembership.user_id == account.id
        )
    )
    return NumberAccess(id=number.id, e164=number.e164, name=number.name, role=role)


async def list_members(session: AsyncSession, number_id: int) -> list[Member]:
    """A number's members: Owners first, then Admins, then Members, each by name."""
    rows = await session.execute(
        select(User, NumberMembership.role)
        .join(NumberMembership, NumberMembership.user_id == User.id)
        .where(NumberMembership.number_id == number_id)
    )
    order = {NumberRole.OWNER: 0, NumberRole.ADMIN: 1, NumberRole.MEMBER: 2}
    members = [Member(user_id=u.id, email=u.email, name=u.name, role=role) for u, role in rows]
    return sorted(members, key=lambda m: (order[m.role], m.name.lower(), m.user_id))


async def rename_number(
    session: AsyncSession, actor: Account, number: NumberAccess, name: str, *, now: datetime
) -> None:
    """Change a number's name (its settings); audited."""
    row = await session.get_one(PhoneNumber, number.id)
    if row.name == name:
        return
    _audit(
        session,
        workspace_id=actor.workspace_id,
        actor=actor.id,
        action="number_renamed",
        now=now,
        number_id=number.id,
        old=row.name,
        new=name,
    )
    row.name = name


async def _check_plan(
    session: AsyncSession, plan: Plan, number_id: int, e164: str, adding: int = 1
) -> None:
    count = await session.scalar(
        select(func.count())
        .select_from(NumberMembership)
        .where(NumberMembership.number_id == number_id)
    )
    members = count or 0
    message = _plan_limit(plan, members + adding)
    if message is not None:
        raise PlanLimitExceeded(
            f"{e164}: {message}",
            limit="users_per_number",
            plan=plan.value,
            maximum=PLAN_USER_LIMITS[plan],
            number=e164,
            members=members,
        )


async def _workspace_user(session: AsyncSession, workspace_id: int, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or user.workspace_id != workspace_id:
        raise NotFound(f"no user {user_id} in this workspace", user_id=user_id)
    return user


async def add_member(
    session: AsyncSession,
    actor: Account,
    number: NumberAccess,
    user_id: int,
    role: NumberRole,
    *,
    now: datetime,
) -> Member:
    """Put a workspace user on a number (lock it first: :func:`number_access` with ``lock``).

    Raises :class:`NotFound`, :class:`AlreadyMember` or :class:`PlanLimitExceeded`.
    """
    user = await _workspace_user(session, actor.workspace_id, user_id)
    if await session.get(NumberMembership, (number.id, user.id)) is not None:
        raise AlreadyMember(f"user {user.id} is on {number.e164} already", user_id=user.id)
    await _check_plan(session, actor.plan, number.id, number.e164)
    session.add(NumberMembership(number_id=number.id, user_id=user.id, role=role, created_at=now))
    _audit(
        session,
        workspace_id=actor.workspace_id,
        actor=actor.id,
        action="member_added",
        now=now,
        number_id=number.id,
        subject=user.id,
        role=role.value,
    )
    await session.flush()
    return Member(user_id=user.id, email=user.email, name=user.name, role=role)


async def _membership(
    session: AsyncSession, number: NumberAccess, user_id: int
) -> NumberMembership:
    membership = await session.get(NumberMembership, (number.id, user_id))
    if membership is None:
        raise NotFound(f"user {user_id} is not on {number.e164}", user_id=user_id)
    return membership


async def _check_not_last_owner(
    session: AsyncSession, number: NumberAccess, membership: NumberMembership, verb: str
) -> None:
    if membership.role is not NumberRole.OWNER:
        return
    owners = await session.scalar(
        select(func.count())
        .select_from(NumberMembership)
        .where(NumberMembership.number_id == number.id, NumberMembership.role == NumberRole.OWNER)
    )
    if (owners or 0) <= 1:
        raise LastOwner(
            f"cannot {verb} the last Owner of {number.e164}; make another member Owner first",
            number=number.e164,
            user_id=membership.user_id,
        )


async def change_role(
    session: AsyncSession,
    actor: Account,
    number: NumberAccess,
    user_id: int,
    role: NumberRole,
    *,
    now: datetime,
) -> Member:
    """Change a member's role on a number; raises :class:`NotFound` or :class:`LastOwner`."""
    membership = await _membership(session, number, user_id)
    user = await session.get_one(User, user_id)
    if membership.role is not role:
        if role is not NumberRole.OWNER:
            await _check_not_last_owner(session, number, membership, "demote")
        _audit(
            session,
            workspace_id=actor.workspace_id,
            actor=actor.id,
            action="member_role_changed",
            now=now,
            number_id=number.id,
            subject=user_id,
            old=membership.role.value,
            new=role.value,
        )
        membership.role = role
    return Member(user_id=user.id, email=user.email, name=user.name, role=role)


async def remove_member(
    session: AsyncSession, actor: Account, number: NumberAccess, user_id: int, *, now: datetime
) -> None:
    """Take a user off a number; raises :class:`NotFound` or :class:`LastOwner`."""
    membership = await _membership(session, number, user_id)
    await _check_not_last_owner(session, number, membership, "remove")
    _audit(
        session,
        workspace_id=actor.workspace_id,
        actor=actor.id,
        action="member_removed",
        now=now,
        number_id=number.id,
        subject=user_id,
        role=membership.role.value,
    )
    await session.delete(membership)
    await session.flush()


# --- team management ------------------------------------------------------------------------------


async def list_users(session: AsyncSession, workspace_id: int) -> list[TeamUser]:
    """The workspace's users by email, each with the numbers they are on."""
    users = (
        await session.scalars(
            select(User).where(User.workspace_id == workspace_id).order_by(User.email)
        )
    ).all()
    rows = await session.execute(
        select(NumberMembership.user_id, PhoneNumber.id, PhoneNumber.e164, NumberMembership.role)
        .join(PhoneNumber, PhoneNumber.id == NumberMembership.number_id)
        .where(PhoneNumber.workspace_id == workspace_id)
        .order_by(PhoneNumber.e164)
    )
    grants: dict[int, list[NumberGrant]] = {}
    for user_id, number_id, e164, role in rows:
        grants.setdefault(user_id, []).append(
            NumberGrant(number_id=number_id, e164=e164, role=role)
        )
    return [
        TeamUser(
            id=u.id,
            email=u.email,
            name=u.name,
            role=u.role,
            has_password=u.password_hash is not None,
            numbers=tuple(grants.get(u.id, ())),
        )
        for u in users
    ]


async def _check_new_email(session: AsyncSession, workspace_id: int, email: str) -> None:
    existing = await session.scalar(
        select(User.id).where(
            User.workspace_id == workspace_id, func.lower(User.email) == email.lower()
        )
    )
    if existing is not None:
        raise UserExists(f"{email} is in this workspace already", user_id=existing)


async def create_invitation(
    session: AsyncSession,
    actor: Account,
    *,
    email: str,
    name: str,
    role: WorkspaceRole,
    grants: Sequence[NumberGrant],
    now: datetime,
    ttl: timedelta,
) -> InvitationRecord:
    """Invite someone to the workspace and to ``grants``' numbers (locked by the caller).

    The numbers' plan limits are checked now and again on acceptance. Raises
    :class:`UserExists` or :class:`PlanLimitExceeded`.
    """
    await _check_new_email(session, actor.workspace_id, email)
    for grant in grants:
        await _check_plan(session, actor.plan, grant.number_id, grant.e164)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        workspace_id=actor.workspace_id,
        token_hash=token_hash(token),
        email=email,
        name=name,
        role=role,
        numbers=[{"number_id": g.number_id, "role": g.role.value} for g in grants],
        invited_by_user_id=actor.id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invitation)
    await session.flush()
    number_ids: list[int | None] = [g.number_id for g in grants]
    for number_id in number_ids or [None]:
        _audit(
            session,
            workspace_id=actor.workspace_id,
            actor=actor.id,
            action="invitation_created",
            now=now,
            number_id=number_id,
            invitation_id=invitation.id,
            email=email,
            role=role.value,
            numbers={g.e164: g.role.value for g in grants},
        )
    return InvitationRecord(
        id=invitation.id,
        email=email,
        name=name,
        role=role,
        numbers=tuple(grants),
        expires_at=invitation.expires_at,
        token=token,
    )


async def accept_invitation(
    session: AsyncSession, token: str, *, name: str | None, password_hash: str, now: datetime
) -> int:
    """Create the invited user with their memberships; return the new user's id.

    Raises :class:`InvalidInvitation`, :class:`UserExists` or :class:`PlanLimitExceeded`
    (nothing is written then: the caller rolls back).
    """
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_hash == token_hash(token)).with_for_update()
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or _aware(invitation.expires_at) <= now
    ):
        raise InvalidInvitation("the invitation token is unknown, used or expired")
    workspace = await session.get_one(Workspace, invitation.workspace_id)
    await _check_new_email(session, workspace.id, invitation.email)
    user = User(
        workspace_id=workspace.id,
        email=invitation.email,
        name=name or invitation.name,
        role=invitation.role,
        password_hash=password_hash,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    invitation.accepted_at = now
    _audit(
        session,
        workspace_id=workspace.id,
        actor=user.id,
        action="invitation_accepted",
        now=now,
        subject=user.id,
        invitation_id=invitation.id,
        invited_by=invitation.invited_by_user_id,
    )
    for entry in invitation.numbers:
        number = await session.scalar(
            select(PhoneNumber).where(PhoneNumber.id == entry["number_id"]).with_for_update()
        )
        if number is None:  # deleted since: nothing to join
            continue
        await _check_plan(session, workspace.plan, number.id, number.e164)
        role = NumberRole(entry["role"])
        session.add(
            NumberMembership(number_id=number.id, user_id=user.id, role=role, created_at=now)
        )
        _audit(
            session,
            workspace_id=workspace.id,
            actor=invitation.invited_by_user_id,
            action="member_added",
            now=now,
            number_id=number.id,
            subject=user.id,
            role=role.value,
            invitation_id=invitation.id,
        )
        await session.flush()
    return user.id


# --- audit log ------------------------------------------------------------------------------------


async def list_audit(
    session: AsyncSession, workspace_id: int, *, number_id: int | None = None, limit: int = 100
) -> list[AuditRecord]:
    """The newest entries first, of the workspace or of one of its numbers."""
    query = (
        select(AuditEntry, PhoneNumber.e164)
        .outerjoin(PhoneNumber, PhoneNumber.id == AuditEntry.number_id)
        .where(AuditEntry.workspace_id == workspace_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if number_id is not None:
        query = query.where(AuditEntry.number_id == number_id)
    rows = await session.execute(query)
    return [
        AuditRecord(
            id=entry.id,
            at=_aware(entry.at),
            action=entry.action,
            actor_user_id=entry.actor_user_id,
            number=e164,
            subject_user_id=entry.subject_user_id,
            details=entry.details,
        )
        for entry, e164 in rows
    ]
