"""The team inbox's tables: the address book, conversations and what they hold.

DESIGN.md "Team inbox": conversations per (shared number, contact); in them, in time order,
messages (with the sending member on every outbound one), calls (the switch's call records,
matched by number and the other party; not copied) and voicemail. On any item, internal
comments; a comment with a ``parent_id`` is a reply in that comment's thread. Who opened a
conversation and when is kept per member (the latest time). The address book is per workspace,
one contact with any number of phone numbers (each at most once per workspace, so a caller's
number names one contact).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .models import Base, _enum

__all__ = [
    "Comment",
    "Contact",
    "ContactNumber",
    "Conversation",
    "ConversationOpen",
    "ItemKind",
    "Message",
    "MessageDirection",
    "MessageStatus",
    "Voicemail",
]


def _now() -> datetime:
    return datetime.now(UTC)


class MessageDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageStatus(enum.StrEnum):
    """Where a message is (Twilio's statuses, trimmed): outbound queued → sent → delivered or
    failed/undelivered; inbound messages are received."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    RECEIVED = "received"


class ItemKind(enum.StrEnum):
    """What a comment is about."""

    MESSAGE = "message"
    CALL = "call"
    VOICEMAIL = "voicemail"


class Contact(Base):
    """An entry of a workspace's shared address book."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_workspace_id", "workspace_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now)

    numbers: Mapped[list[ContactNumber]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactNumber.id"
    )


class ContactNumber(Base):
    """One phone number of a contact (E.164), unique within the workspace."""

    __tablename__ = "contact_numbers"
    __table_args__ = (UniqueConstraint("workspace_id", "e164"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(50), default="")

    contact: Mapped[Contact] = relationship(back_populates="numbers")


class Conversation(Base):
    """Everything between one shared number and one outside number."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("number_id", "contact_e164"),
        Index("ix_conversations_number_id_last_activity_at", "number_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number_id: Mapped[int] = mapped_column(ForeignKey("numbers.id", ondelete="CASCADE"))
    contact_e164: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    last_activity_at: Mapped[datetime] = mapped_column(default=_now)


class Message(Base):
    """An SMS/MMS in a conversation; outbound ones name the member who sent them."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at"),
        Index("ix_messages_provider_id", "provider", "provider_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[MessageDirection] = mapped_column(_enum(MessageDirection))
    body: Mapped[str] = mapped_column(Text)
    media_urls: Mapped[str] = mapped_column(Text, default="")
    """Newline-separated links of MMS media."""
    sender_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[MessageStatus] = mapped_column(_enum(MessageStatus))
    provider: Mapped[str] = mapped_column(String(32), default="")
    provider_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class Voicemail(Base):
    """A voicemail left on a shared number: metadata, and the audio's link once media exists."""

    __tablename__ = "voicemails"
    __table_args__ = (Index("ix_voicemails_conversation_id", "conversation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    call_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("call_records.id", ondelete="SET NULL")
    )
    box: Mapped[str] = mapped_column(String(100), default="")
    duration: Mapped[float | None]
    audio_url: Mapped[str | None] = mapped_column(String(1000))
    transcription: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Comment(Base):
    """An internal comment on a message, call or voicemail; with ``parent_id``, a thread reply.

    Deleting keeps the row (``deleted_at``, body emptied) so replies keep their thread.
    """

    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_conversation_id", "conversation_id"),
        Index("ix_comments_item", "item_kind", "item_id"),
        Index("ix_comments_parent_id", "parent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    item_kind: Mapped[ItemKind] = mapped_column(_enum(ItemKind))
    item_id: Mapped[int]
    """The message, call record or voicemail commented on (per ``item_kind``)."""
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class ConversationOpen(Base):
    """Who opened a conversation and when (the latest time, per member)."""

    __tablename__ = "conversation_opens"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    opened_at: Mapped[datetime] = mapped_column(default=_now)
