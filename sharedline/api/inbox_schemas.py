"""Request and response bodies of the team inbox: contacts, conversations, calls, voicemail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from .schemas import E164_PATTERN

__all__ = [
    "CallOut",
    "ContactIn",
    "ContactNumberIn",
    "ContactNumberOut",
    "ContactOut",
    "ContactPatchIn",
    "ConversationContactOut",
    "ConversationDetailOut",
    "ConversationOut",
    "LastItemOut",
    "LegOut",
    "MessageOut",
    "OpenOut",
    "PersonOut",
    "TimelineItemOut",
    "VoicemailOut",
]

E164 = Annotated[str, StringConstraints(pattern=E164_PATTERN)]
ContactName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
Notes = Annotated[str, StringConstraints(max_length=5000)]

MAX_CONTACT_NUMBERS = 20


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _distinct(numbers: list[ContactNumberIn] | None) -> list[ContactNumberIn] | None:
    if numbers is not None:
        e164s = [n.e164 for n in numbers]
        if len(set(e164s)) != len(e164s):
            raise ValueError("a number is listed twice")
    return numbers


# --- contacts -------------------------------------------------------------------------------------


class ContactNumberIn(_In):
    e164: E164
    label: Label = Field("", description="mobile, office … (free text)")


class ContactIn(_In):
    name: ContactName
    numbers: list[ContactNumberIn] = Field(default_factory=list, max_length=MAX_CONTACT_NUMBERS)
    notes: Notes = ""

    @field_validator("numbers")
    @classmethod
    def _numbers_once(cls, numbers: list[ContactNumberIn] | None) -> list[ContactNumberIn] | None:
        return _distinct(numbers)


class ContactPatchIn(_In):
    name: ContactName | None = None
    numbers: list[ContactNumberIn] | None = Field(
        None, max_length=MAX_CONTACT_NUMBERS, description="replaces the contact's numbers"
    )
    notes: Notes | None = None

    @field_validator("numbers")
    @classmethod
    def _numbers_once(cls, numbers: list[ContactNumberIn] | None) -> list[ContactNumberIn] | None:
        return _distinct(numbers)


class ContactNumberOut(BaseModel):
    e164: str
    label: str


class ContactOut(BaseModel):
    id: int
    name: str
    numbers: list[ContactNumberOut]
    notes: str
    created_at: datetime
    updated_at: datetime


# --- items ----------------------------------------------------------------------------------------


class PersonOut(BaseModel):
    id: int
    name: str


class MessageOut(BaseModel):
    kind: Literal["message"] = "message"
    id: int
    at: datetime
    direction: Literal["inbound", "outbound"]
    body: str
    media_urls: list[str]
    status: str
    sender: PersonOut | None = Field(description="the member who sent it (outbound messages)")
    comments: int = Field(description="internal comments on it (not deleted)")


class LegOut(BaseModel):
    user: PersonOut | None
    outcome: str | None = Field(
        description="answered, declined, busy, no_answer, cancelled, completed_elsewhere, failed"
    )


class CallOut(BaseModel):
    kind: Literal["call"] = "call"
    id: int
    at: datetime
    direction: Literal["inbound", "outbound"]
    other_party: str = Field(description="the outside number")
    status: Literal["answered", "missed", "voicemail", "failed", "ongoing"] = Field(
        description="the number's view, the same for every member: answered (by answered_by), "
        "missed (nobody answered), voicemail; never missed for members another member beat"
    )
    outcome: str | None
    answered_by: PersonOut | None
    answered_at: datetime | None
    ended_at: datetime | None
    legs: list[LegOut]
    comments: int


class VoicemailOut(BaseModel):
    kind: Literal["voicemail"] = "voicemail"
    id: int
    at: datetime
    call_id: int | None
    box: str
    duration: float | None
    audio_url: str | None
    transcription: str | None
    comments: int
    contact_e164: str | None = Field(None, description="the caller (in per-number lists)")


TimelineItemOut = Annotated[MessageOut | CallOut | VoicemailOut, Field(discriminator="kind")]


# --- conversations --------------------------------------------------------------------------------


class ConversationContactOut(BaseModel):
    e164: str
    name: str | None = Field(description="from the address book; null: not in it")
    contact_id: int | None


class LastItemOut(BaseModel):
    kind: Literal["message", "call", "voicemail"]
    id: int
    at: datetime
    summary: str


class ConversationOut(BaseModel):
    id: int
    number: str
    contact: ConversationContactOut
    created_at: datetime
    last_activity_at: datetime
    last_item: LastItemOut | None


class ConversationDetailOut(ConversationOut):
    items: list[TimelineItemOut] = Field(description="oldest first")


class OpenOut(BaseModel):
    user: PersonOut
    opened_at: datetime
