"""``sharedline users set-password``: the password comes from stdin or a prompt, never argv."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sharedline.api.passwords import Passwords
from sharedline.cli import app
from sharedline.store import Database, User
from sharedline.store.accounts import find_credentials
from tests.api.conftest import api_settings

EXAMPLE = Path(__file__).parents[2] / "examples" / "workspace.yaml"
CHEAP = {
    "SHAREDLINE_API__PASSWORD_MEMORY_COST": "8",
    "SHAREDLINE_API__PASSWORD_TIME_COST": "1",
    "SHAREDLINE_API__PASSWORD_PARALLELISM": "1",
}
runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    result = runner.invoke(app, ["provision", str(EXAMPLE), "--db", url])
    assert result.exit_code == 0, result.output
    return url


async def _hash(url: str, email: str) -> str | None:
    database = Database(url)
    try:
        async with database.session() as session:
            (credential,) = await find_credentials(session, email)
            user = await session.get_one(User, credential.user_id)
            return user.password_hash
    finally:
        await database.close()


def test_set_password_from_stdin(db_url: str) -> None:
    result = runner.invoke(
        app,
        ["users", "set-password", "bob@acme.test", "--db", db_url],
        input="a long enough secret\n",
        env=CHEAP,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "password set for bob@acme.test in workspace 'Acme'\n"
    assert "a long enough secret" not in result.output
    stored = asyncio.run(_hash(db_url, "bob@acme.test"))
    assert Passwords(api_settings().api).verify(stored, "a long enough secret")


def test_set_password_refuses_short_passwords_and_unknown_users(db_url: str) -> None:
    short = runner.invoke(
        app, ["users", "set-password", "bob@acme.test", "--db", db_url], input="short\n", env=CHEAP
    )
    assert short.exit_code == 1
    assert "at least 10 characters" in short.output
    unknown = runner.invoke(
        app,
        ["users", "set-password", "nobody@acme.test", "--db", db_url],
        input="a long enough secret\n",
        env=CHEAP,
    )
    assert unknown.exit_code == 1
    assert "no member 'nobody@acme.test'" in unknown.output
