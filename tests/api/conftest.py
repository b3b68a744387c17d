"""The API in-process (``httpx.ASGITransport``) on a migrated store: SQLite, and PostgreSQL
when ``SHAREDLINE_TEST_DATABASE_URL`` is set (the store's ``database`` fixture).

Users are created straight in the store and get tokens without logging in, so only the auth
tests pay for argon2 (with cheap parameters here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sharedline.api import create_app
from sharedline.api.passwords import Passwords
from sharedline.config.settings import Settings, load_settings
from sharedline.store import (
    Database,
    NumberMembership,
    NumberRole,
    PhoneNumber,
    Plan,
    User,
    Workspace,
    WorkspaceRole,
)
from sharedline.store.accounts import issue_token
from tests.store.conftest import database, database_url  # noqa: F401  (fixtures)

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def api_settings(**api: object) -> Settings:
    cheap = {"password_time_cost": 1, "password_memory_cost": 8, "password_parallelism": 1}
    return load_settings(api={**cheap, **api})


@dataclass
class Clock:
    """The API's clock, moved by tests."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Person:
    """A user of the test workspace, logged in."""

    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Team:
    """A workspace on the store, an API client and helpers to populate it."""

    database: Database
    client: httpx.AsyncClient
    clock: Clock
    passwords: Passwords
    workspace_id: int = 0
    numbers: dict[str, int] = field(default_factory=dict)

    async def workspace(self, name: str = "Acme", plan: Plan = Plan.STARTER) -> int:
        async with self.database.session() as session:
            workspace = Workspace(name=name, plan=plan)
            session.add(workspace)
            await session.commit()
            self.workspace_id = self.workspace_id or workspace.id  # the first is the default
            return workspace.id

    async def number(self, e164: str, name: str = "Support", workspace_id: int = 0) -> int:
        async with self.database.session() as session:
            number = PhoneNumber(
                workspace_id=workspace_id or self.workspace_id, e164=e164, name=name
            )
            session.add(number)
            await session.commit()
            self.numbers[e164] = number.id
            return number.id

    async def person(
        self,
        email: str,
        role: WorkspaceRole = WorkspaceRole.MEMBER,
        numbers: Mapping[str, NumberRole] | None = None,
        *,
        password: str | None = None,
        workspace_id: int = 0,
    ) -> Person:
        async with self.database.session() as session:
            user = User(
                workspace_id=workspace_id or self.workspace_id,
                email=email,
                name=email.split("@")[0].title(),
                role=role,
                password_hash=self.passwords.hash(password) if password else None,
            )
            session.add(user)
            await session.flush()
            for e164, number_role in (numbers or {}).items():
                session.add(
                    NumberMembership(
                        number_id=self.numbers[e164], user_id=user.id, role=number_role
                    )
                )
            issued = await issue_token(session, user.id, now=self.clock(), ttl=timedelta(hours=1))
            await session.commit()
            return Person(id=user.id, email=email, token=issued.token)


@pytest.fixture(scope="session")
def passwords() -> Passwords:
    return Passwords(api_settings().api)


@pytest.fixture
async def team(database: Database, passwords: Passwords) -> AsyncIterator[Team]:  # noqa: F811
    clock = Clock()
    app = create_app(database, api_settings(), clock=clock, passwords=passwords)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        team = Team(database=database, client=client, clock=clock, passwords=passwords)
        await team.workspace()
        yield team
