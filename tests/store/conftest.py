"""Databases for the store's tests: a SQLite file always, PostgreSQL when configured.

Set ``SHAREDLINE_TEST_DATABASE_URL`` (``.ci/run`` does: ``postgresql+asyncpg://...``) to run
every store test on PostgreSQL too. In CI a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from sharedline.store import Base, Database, migrate

POSTGRES_URL = os.environ.get("SHAREDLINE_TEST_DATABASE_URL")


def _backends() -> list[str]:
    backends = ["sqlite"]
    if POSTGRES_URL:
        backends.append("postgresql")
    elif os.environ.get("CI"):
        raise RuntimeError(
            "CI must set SHAREDLINE_TEST_DATABASE_URL to test the store on PostgreSQL"
        )
    return backends


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    assert POSTGRES_URL is not None
    return POSTGRES_URL


async def _drop_everything(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database; PostgreSQL is wiped before and after."""
    db = Database(database_url)
    await _drop_everything(db)
    await migrate(db)
    yield db
    await _drop_everything(db)
    await db.close()
