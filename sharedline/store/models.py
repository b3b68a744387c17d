"""The schema: workspaces, users, shared numbers and their members, devices, trunks,
registrations and call records (see DESIGN.md "Roles, access and plans"), the state call
flows keep between calls (members' availability and round-robin turns), and the team inbox API's
accounts: password hashes, bearer tokens, invitations and the audit log.

Device passwords are never stored: only the digest HA1 values (RFC 7616 §3.4.2) for MD5 and
SHA-256, which is what a registrar needs to check a response and nothing more. Users' API
passwords are argon2id hashes; bearer tokens and invitation tokens are stored as SHA-256 hashes.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "PLAN_USER_LIMITS",
    "RINGING_LIMIT",
    "ApiToken",
    "AuditEntry",
    "AvailabilityRecord",
    "Base",
    "CallLeg",
    "CallRecord",
    "Device",
    "Invitation",
    "NumberMembership",
    "NumberRole",
    "PhoneNumber",
    "Plan",
    "Registration",
    "RingTurn",
    "Trunk",
    "User",
    "Workspace",
    "WorkspaceRole",
]


class Plan(enum.StrEnum):
    """A workspace's plan; it bounds how many users one number may have."""

    STARTER = "starter"
    BUSINESS = "business"


PLAN_USER_LIMITS = {Plan.STARTER: 10, Plan.BUSINESS: 100}
"""Users per shared number, by plan."""
RINGING_LIMIT = 10
"""People rung at once on any plan; larger teams ring in stages."""


class WorkspaceRole(enum.StrEnum):
    """A user's role in the workspace: Owners and Admins can manage every number."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class NumberRole(enum.StrEnum):
    """A member's role on one number: Owner adds and removes, Admin adds, Member uses."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


def _now() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[enum.Enum]) -> Enum:
    # VARCHAR plus a CHECK constraint: portable across SQLite and PostgreSQL, easy to migrate.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    """Declarative base with timezone-aware timestamps everywhere."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    plan: Mapped[Plan] = mapped_column(_enum(Plan), default=Plan.STARTER)
    created_at: Mapped[datetime] = mapped_column(default=_now)

    users: Mapped[list[User]] = relationship(back_populates="workspace")
    numbers: Mapped[list[PhoneNumber]] = relationship(back_populates="workspace")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[WorkspaceRole] = mapped_column(_enum(WorkspaceRole), default=WorkspaceRole.MEMBER)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    """argon2id hash of the user's API password; None: the user cannot log in to the API."""

    workspace: Mapped[Workspace] = relationship(back_populates="users")
    devices: Mapped[list[Device]] = relationship(back_populates="user")


class Trunk(Base):
    """A carrier connection: who may send us calls, and how calls leave."""

    __tablename__ = "trunks"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    allowed_sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Source addresses or networks (CIDR) whose INVITEs are accepted as this trunk's."""
    outbound_proxy: Mapped[str | None] = mapped_column(String(300))
    """Where outbound calls go: a SIP URI such as ``sip:carrier.example.net:5060``."""
    auth_username: Mapped[str | None] = mapped_column(String(200))
    auth_realm: Mapped[str | None] = mapped_column(String(200))
    auth_ha1_md5: Mapped[str | None] = mapped_column(String(64))
    auth_ha1_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class PhoneNumber(Base):
    """A shared number (E.164), its name and the trunk it lives on."""

    __tablename__ = "numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    trunk_id: Mapped[int | None] = mapped_column(ForeignKey("trunks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    workspace: Mapped[Workspace] = relationship(back_populates="numbers")
    memberships: Mapped[list[NumberMembership]] = relationship(back_populates="number")


class NumberMembership(Base):
    __tablename__ = "number_memberships"

    number_id: Mapped[int] = mapped_column(
        ForeignKey("numbers.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[NumberRole] = mapped_column(_enum(NumberRole), default=NumberRole.MEMBER)
    created_at: Mapped[datetime] = mapped_column(default=_now)

    number: Mapped[PhoneNumber] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()


class Device(Base):
    """A SIP account a member's phone or app registers with."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(100), unique=True)
    realm: Mapped[str] = mapped_column(String(200))
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    default_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("numbers.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=_now)

    user: Mapped[User] = relationship(back_populates="devices")


class Registration(Base):
    """One binding of a device to a contact (RFC 3261 §10.3), persisted across restarts."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("device_id", "contact_uri"),
        Index("ix_registrations_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    contact_uri: Mapped[str] = mapped_column(String(1024))
    expires_at: Mapped[datetime]
    q: Mapped[float | None]
    call_id: Mapped[str] = mapped_column(String(256))
    cseq: Mapped[int]
    source: Mapped[str] = mapped_column(String(100))
    """Where the REGISTER came from, as ``transport:host:port`` (for NAT traversal)."""
    user_agent: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class CallRecord(Base):
    """One call on a shared number: who called, when, and who answered."""

    __tablename__ = "call_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(256), unique=True)
    number_id: Mapped[int | None] = mapped_column(ForeignKey("numbers.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(8))
    caller: Mapped[str] = mapped_column(String(256))
    callee: Mapped[str] = mapped_column(String(256))
    started_at: Mapped[datetime] = mapped_column(default=_now)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    """answered, missed, abandoned, voicemail or failed."""
    answered_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    legs: Mapped[list[CallLeg]] = relationship(back_populates="call", cascade="all, delete-orphan")


class CallLeg(Base):
    """One device rung (or dialled) for a call."""

    __tablename__ = "call_legs"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_record_id: Mapped[int] = mapped_column(ForeignKey("call_records.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    contact_uri: Mapped[str] = mapped_column(String(1024))
    started_at: Mapped[datetime] = mapped_column(default=_now)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    status_code: Mapped[int | None]
    outcome: Mapped[str | None] = mapped_column(String(24))
    """answered, declined, busy, no_answer, cancelled, completed_elsewhere or failed."""

    call: Mapped[CallRecord] = relationship(back_populates="legs")


class AvailabilityRecord(Base):
    """A member's own availability: do-not-disturb and personal hours (``callflows.facts``)."""

    __tablename__ = "member_availability"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    dnd: Mapped[bool] = mapped_column(default=False, server_default=false())
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """A ``callflows.schedule.ScheduleSpec`` as JSON (its non-default fields); None: no hours."""
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class RingTurn(Base):
    """Round-robin state: a member's latest turn in one rotation (higher: served more recently).

    A rotation key names one rotating group of one number (``"+14155550100/group:front_desk"``);
    the store does not interpret it.
    """

    __tablename__ = "ring_turns"

    rotation: Mapped[str] = mapped_column(String(300), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    turn: Mapped[int]


class ApiToken(Base):
    """A bearer token of the team inbox API; only its SHA-256 hash is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Invitation(Base):
    """An invitation to join a workspace, with the numbers and roles the new user gets.

    Only the SHA-256 hash of its token is stored; the token is shown once, to the inviter.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[WorkspaceRole] = mapped_column(_enum(WorkspaceRole), default=WorkspaceRole.MEMBER)
    numbers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """``[{"number_id": 1, "role": "member"}, ...]``: the memberships acceptance creates."""
    invited_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=_now)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One change to a workspace's team or numbers: who did what, to which number or user."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace_id_number_id", "workspace_id", "number_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    """``number_renamed``, ``member_added``, ``member_role_changed``, ``member_removed``,
    ``invitation_created``, ``invitation_accepted``, ``password_set``."""
    number_id: Mapped[int | None] = mapped_column(ForeignKey("numbers.id", ondelete="SET NULL"))
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=_now)
