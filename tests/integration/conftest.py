"""An in-process engine on ephemeral loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sharedline.app import Engine
from sharedline.config.settings import load_settings


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    settings = load_settings(
        sip_listen=["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        sip={"tcp_message_timeout": 0.5},
        api={"listen": "127.0.0.1:0"},
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}",
    )
    running = Engine(settings)
    await running.start()
    yield running
    await running.stop()


def bound(engine: Engine, transport: str) -> tuple[str, int]:
    """The address the engine bound for ``transport``."""
    return next(address for name, address in engine.bound if name == transport)
