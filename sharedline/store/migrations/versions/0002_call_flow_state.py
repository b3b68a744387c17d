"""call flow state: members' availability and round-robin turns

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:54:11.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_availability",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("dnd", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("schedule", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "ring_turns",
        sa.Column("rotation", sa.String(length=300), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("rotation", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("ring_turns")
    op.drop_table("member_availability")
