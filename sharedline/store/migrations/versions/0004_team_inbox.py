"""team inbox: address book, conversations, messages, voicemail, comments, opens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contacts_workspace_id", "contacts", ["workspace_id"])
    op.create_table(
        "contact_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "e164"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number_id", sa.Integer(), nullable=False),
        sa.Column("contact_e164", sa.String(length=32), nullable=False),
        _when("created_at"),
        _when("last_activity_at"),
        sa.ForeignKeyConstraint(["number_id"], ["numbers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number_id", "contact_e164"),
    )
    op.create_index(
        "ix_conversations_number_id_last_activity_at",
        "conversations",
        ["number_id", "last_activity_at"],
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("direction", _enum("messagedirection", "inbound", "outbound"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("media_urls", sa.Text(), nullable=False),
        sa.Column("sender_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            _enum(
                "messagestatus",
                "queued",
                "sent",
                "delivered",
                "undelivered",
                "failed",
                "received",
            ),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_messages_conversation_id_created_at", "messages", ["conversation_id", "created_at"]
    )
    op.create_index("ix_messages_provider_id", "messages", ["provider", "provider_id"])
    op.create_table(
        "voicemails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("call_record_id", sa.Integer(), nullable=True),
        sa.Column("box", sa.String(length=100), nullable=False),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("audio_url", sa.String(length=1000), nullable=True),
        sa.Column("transcription", sa.Text(), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["call_record_id"], ["call_records.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_voicemails_conversation_id", "voicemails", ["conversation_id"])
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("item_kind", _enum("itemkind", "message", "call", "voicemail"), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        _when("created_at"),
        _when("edited_at", nullable=True),
        _when("deleted_at", nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_id"], ["comments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_comments_conversation_id", "comments", ["conversation_id"])
    op.create_index("ix_comments_item", "comments", ["item_kind", "item_id"])
    op.create_index("ix_comments_parent_id", "comments", ["parent_id"])
    op.create_table(
        "conversation_opens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _when("opened_at"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("conversation_opens")
    op.drop_index("ix_comments_parent_id", table_name="comments")
    op.drop_index("ix_comments_item", table_name="comments")
    op.drop_index("ix_comments_conversation_id", table_name="comments")
    op.drop_table("comments")
    op.drop_index("ix_voicemails_conversation_id", table_name="voicemails")
    op.drop_table("voicemails")
    op.drop_index("ix_messages_provider_id", table_name="messages")
    op.drop_index("ix_messages_conversation_id_created_at", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_conversations_number_id_last_activity_at", table_name="conversations")
    op.drop_table("conversations")
    op.drop_table("contact_numbers")
    op.drop_index("ix_contacts_workspace_id", table_name="contacts")
    op.drop_table("contacts")
