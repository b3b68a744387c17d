"""The schema and its migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from sharedline.store import (
    Base,
    CallLeg,
    CallRecord,
    Database,
    Device,
    NumberMembership,
    NumberRole,
    PhoneNumber,
    Plan,
    Registration,
    User,
    Workspace,
    WorkspaceRole,
)


async def test_migrations_produce_exactly_the_models(database: Database) -> None:
    def differences(connection):
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_a_shared_number_with_members_devices_and_a_call(database: Database) -> None:
    async with database.session() as session:
        workspace = Workspace(name="Acme", plan=Plan.BUSINESS)
        alice = User(
            workspace=workspace, email="alice@acme.test", name="Alice", role=WorkspaceRole.OWNER
        )
        bob = User(workspace=workspace, email="bob@acme.test", name="Bob")
        number = PhoneNumber(workspace=workspace, e164="+14155550100", name="Support")
        session.add_all([workspace, alice, bob, number])
        await session.flush()
        session.add_all(
            [
                NumberMembership(number_id=number.id, user_id=alice.id, role=NumberRole.OWNER),
                NumberMembership(number_id=number.id, user_id=bob.id),
                Device(
                    user=alice,
                    username="alice-desk",
                    realm="acme",
                    ha1_md5="0" * 32,
                    ha1_sha256="0" * 64,
                ),
            ]
        )
        call = CallRecord(
            call_id="c1",
            number_id=number.id,
            direction="inbound",
            caller="+12125550123",
            callee=number.e164,
        )
        call.legs.append(
            CallLeg(user_id=alice.id, contact_uri="sip:alice@127.0.0.1:5070", outcome="answered")
        )
        call.legs.append(
            CallLeg(
                user_id=bob.id, contact_uri="sip:bob@127.0.0.1:5071", outcome="completed_elsewhere"
            )
        )
        session.add(call)
        await session.commit()

    async with database.session() as session:
        loaded = await session.scalar(
            select(PhoneNumber)
            .options(selectinload(PhoneNumber.memberships))
            .where(PhoneNumber.e164 == "+14155550100")
        )
        assert loaded is not None
        assert sorted(m.role for m in loaded.memberships) == [NumberRole.MEMBER, NumberRole.OWNER]
        record = await session.scalar(select(CallRecord).options(selectinload(CallRecord.legs)))
        assert record is not None
        assert [leg.outcome for leg in record.legs] == ["answered", "completed_elsewhere"]


BAD_PLAN_INSERT = """
    INSERT INTO workspaces (name, plan, created_at) VALUES ('x', 'platinum', CURRENT_TIMESTAMP)
"""


async def test_enum_columns_refuse_unknown_values(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(IntegrityError):
            await session.execute(text(BAD_PLAN_INSERT))


async def test_a_number_belongs_to_one_workspace_only_once(database: Database) -> None:
    async with database.session() as session:
        workspace = Workspace(name="Acme")
        session.add_all(
            [
                PhoneNumber(workspace=workspace, e164="+14155550100", name="A"),
                PhoneNumber(workspace=workspace, e164="+14155550100", name="B"),
            ]
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_deleting_a_user_removes_devices_and_registrations(database: Database) -> None:
    async with database.session() as session:
        workspace = Workspace(name="Acme")
        user = User(workspace=workspace, email="a@acme.test", name="A")
        device = Device(
            user=user, username="a1", realm="acme", ha1_md5="0" * 32, ha1_sha256="0" * 64
        )
        session.add_all([workspace, user, device])
        await session.flush()
        session.add(
            Registration(
                device_id=device.id,
                contact_uri="sip:a1@127.0.0.1:5070",
                expires_at=datetime.now(UTC) + timedelta(hours=1),
                call_id="r1",
                cseq=1,
                source="udp:127.0.0.1:5070",
            )
        )
        await session.commit()
        await session.execute(text("DELETE FROM users"))
        await session.commit()
        assert await session.scalar(select(Registration)) is None
        assert await session.scalar(select(Device)) is None
