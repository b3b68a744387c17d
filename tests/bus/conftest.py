"""Buses for the bus tests: in memory, and on the real Redis and PostgreSQL on 127.0.0.1.

``SHAREDLINE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) and
``SHAREDLINE_TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) pick
the servers. Locally an unreachable server skips its tests with the reason; in CI (``CI`` set)
it fails them. Every test gets its own channel, so parallel runs do not hear each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sharedline.bus import MemoryBus, PostgresBus, RedisBus
from sharedline.bus.postgres import dsn_from_url

REDIS_URL = os.environ.get("SHAREDLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "SHAREDLINE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

Backend = Literal["memory", "redis", "postgres"]
Bus = MemoryBus | RedisBus | PostgresBus


def unavailable(what: str, error: BaseException) -> None:
    reason = f"{what} unreachable: {error}"
    if os.environ.get("CI"):
        pytest.fail(f"CI needs a running {reason}")
    pytest.skip(reason)


async def check_redis() -> None:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        unavailable(f"Redis at {REDIS_URL}", error)
    finally:
        await client.aclose()


async def check_postgres() -> None:
    try:
        connection = await asyncpg.connect(dsn_from_url(POSTGRES_URL), timeout=2)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        unavailable(f"PostgreSQL at {POSTGRES_URL}", error)
    else:
        await connection.close()


def channel_for(backend: Backend) -> str:
    suffix = uuid.uuid4().hex[:12]
    return f"sharedline:test:{suffix}" if backend == "redis" else f"sharedline_test_{suffix}"


class Nodes:
    """Makes started buses of one backend sharing one fresh channel: each one is a "node"."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.channel = channel_for(backend)
        self.buses: list[Bus] = []

    async def __call__(self, node_id: str, **options: Any) -> Bus:
        bus: Bus
        if self.backend == "memory":
            # One process: every "node" is the same bus.
            bus = self.buses[0] if self.buses else MemoryBus(node_id=node_id, **options)
        elif self.backend == "redis":
            options.setdefault("reconnect_initial", 0.05)
            bus = RedisBus(REDIS_URL, channel=self.channel, node_id=node_id, **options)
            assert await bus.start(5.0)
        else:
            options.setdefault("reconnect_initial", 0.05)
            bus = PostgresBus(POSTGRES_URL, channel=self.channel, node_id=node_id, **options)
            assert await bus.start(5.0)
        self.buses.append(bus)
        return bus

    async def close(self) -> None:
        for bus in self.buses:
            await bus.close()


@pytest.fixture
async def nodes(backend: Backend) -> AsyncIterator[Nodes]:
    """Bus "nodes" of ``backend``; the server must be reachable (see the module docstring)."""
    if backend == "redis":
        await check_redis()
    elif backend == "postgres":
        await check_postgres()
    factory = Nodes(backend)
    yield factory
    await factory.close()


@pytest.fixture(params=["memory", "redis", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The bus implementation under test."""
    value: Backend = request.param
    return value


async def publish_raw(backend: Backend, channel: str, text: str) -> None:
    """Put ``text`` on the channel as an outside client would, bypassing the bus."""
    if backend == "redis":
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            await client.publish(channel, text)
        finally:
            await client.aclose()
    elif backend == "postgres":
        connection = await asyncpg.connect(dsn_from_url(POSTGRES_URL))
        try:
            await connection.execute("SELECT pg_notify($1, $2)", channel, text)
        finally:
            await connection.close()
    else:
        raise AssertionError("the memory bus has no wire")


async def drop_listener(bus: Bus) -> None:
    """Make the server drop the bus's listening connection."""
    if isinstance(bus, RedisBus):
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            assert await client.client_kill_filter(_type="pubsub") >= 1  # CLIENT KILL TYPE pubsub
        finally:
            await client.aclose()
    elif isinstance(bus, PostgresBus):
        assert bus.listener_pid is not None
        connection = await asyncpg.connect(dsn_from_url(POSTGRES_URL))
        try:
            assert await connection.fetchval("SELECT pg_terminate_backend($1)", bus.listener_pid)
        finally:
            await connection.close()
    else:
        raise AssertionError("the memory bus has no connection")
