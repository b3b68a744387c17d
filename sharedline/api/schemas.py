"""Request and response bodies (pydantic), as they appear in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..store.models import NumberRole, WorkspaceRole

__all__ = [
    "E164_PATTERN",
    "AccountOut",
    "AddMemberIn",
    "AuditEntryOut",
    "ChangeRoleIn",
    "Email",
    "ErrorBody",
    "ErrorResponse",
    "InvitationAcceptIn",
    "InvitationCreatedOut",
    "InvitationIn",
    "InvitationNumberIn",
    "LoginIn",
    "MemberOut",
    "NumberDetailOut",
    "NumberGrantOut",
    "NumberOut",
    "NumberPatchIn",
    "TokenOut",
    "UserOut",
]

E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
"""ITU-T E.164: a plus, a country code not starting with 0, at most 15 digits."""

E164 = Annotated[str, StringConstraints(pattern=E164_PATTERN)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


MAX_ID = 2**31 - 1
"""The largest row id (PostgreSQL's ``integer``): larger ids are refused as bad input."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str = Field(description="stable, machine-readable: plan_limit, last_owner, not_found …")
    message: str = Field(description="for people: names the limit, the number or the user")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    error: ErrorBody


class LoginIn(_In):
    email: Email
    password: Password
    workspace: str | None = Field(
        None, description="the workspace's name, when the email is in several"
    )


class AccountOut(BaseModel):
    id: int
    email: str
    name: str
    role: WorkspaceRole
    workspace: str


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: AccountOut


class NumberOut(BaseModel):
    e164: str
    name: str
    role: NumberRole | None = Field(description="your role on the number; null: not on it")


class MemberOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: NumberRole


class NumberDetailOut(NumberOut):
    members: list[MemberOut]


class NumberPatchIn(_In):
    name: Name


class AddMemberIn(_In):
    user_id: int = Field(gt=0, le=MAX_ID)
    role: NumberRole = NumberRole.MEMBER


class ChangeRoleIn(_In):
    role: NumberRole


class NumberGrantOut(BaseModel):
    e164: str
    role: NumberRole


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: WorkspaceRole
    has_password: bool
    numbers: list[NumberGrantOut]


class InvitationNumberIn(_In):
    number: E164
    role: NumberRole = NumberRole.MEMBER


class InvitationIn(_In):
    email: Email
    name: Name | None = Field(None, description="defaults to the email's local part")
    role: WorkspaceRole = WorkspaceRole.MEMBER
    numbers: list[InvitationNumberIn] = Field(default_factory=list, max_length=100)


class InvitationCreatedOut(BaseModel):
    id: int
    email: str
    name: str
    role: WorkspaceRole
    numbers: list[NumberGrantOut]
    expires_at: datetime
    token: str = Field(description="shown once: give it to the invitee; only its hash is kept")


class InvitationAcceptIn(_In):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    name: Name | None = None
    password: Password


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    action: str
    actor_user_id: int | None
    number: str | None
    subject_user_id: int | None
    details: dict[str, Any]
