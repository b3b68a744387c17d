"""The API with messaging installed, for the messages and comments tests: a loopback provider,
Twilio webhook settings, a bus that remembers what was published, and store helpers for
conversations, calls and voicemail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from sharedline.api import create_app
from sharedline.api.messages import install_messaging
from sharedline.api.passwords import Passwords
from sharedline.api.state import ApiState
from sharedline.bus.memory import MemoryBus
from sharedline.config.settings import MessagingSettings, TwilioSettings
from sharedline.inbox.events import EventKind, InboxEvent
from sharedline.messaging.loopback import LoopbackProvider
from sharedline.messaging.twilio import signature
from sharedline.store import CallRecord, Database
from sharedline.store.inbox_models import Conversation, Voicemail
from tests.api.conftest import Clock, Team, api_settings

ACCOUNT_SID = "AC00000000000000000000000000000001"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"


class RecordingBus(MemoryBus):
    """The in-memory bus, keeping every published event for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[InboxEvent] = []

    async def publish(self, event: InboxEvent) -> bool:
        self.published.append(event)
        return await super().publish(event)

    def kinds(self) -> list[EventKind]:
        return [event.kind for event in self.published]


@dataclass
class Inbox:
    """A :class:`Team` whose app sends through :attr:`provider` and records its events."""

    team: Team
    app: FastAPI
    provider: LoopbackProvider
    bus: RecordingBus
    conversations: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.team.client

    @property
    def state(self) -> ApiState:
        state = self.app.state.api
        assert isinstance(state, ApiState)
        return state

    @property
    def clock(self) -> Clock:
        return self.team.clock

    async def conversation(self, number: str, contact: str) -> int:
        async with self.team.database.session() as session:
            row = Conversation(
                number_id=self.team.numbers[number],
                contact_e164=contact,
                created_at=self.clock(),
                last_activity_at=self.clock(),
            )
            session.add(row)
            await session.commit()
            self.conversations[(number, contact)] = row.id
            return row.id

    async def call(self, number: str, caller: str, direction: str = "inbound") -> int:
        async with self.team.database.session() as session:
            ours, theirs = number, caller
            row = CallRecord(
                call_id=f"call-{caller}-{direction}-{self.clock().timestamp()}",
                number_id=self.team.numbers[number],
                direction=direction,
                caller=theirs if direction == "inbound" else ours,
                callee=ours if direction == "inbound" else theirs,
                started_at=self.clock(),
                outcome="answered",
            )
            session.add(row)
            await session.commit()
            return row.id

    async def voicemail(self, conversation_id: int) -> int:
        async with self.team.database.session() as session:
            row = Voicemail(conversation_id=conversation_id, box="main", created_at=self.clock())
            session.add(row)
            await session.commit()
            return row.id

    async def webhook(
        self,
        path: str,
        form: list[tuple[str, str]],
        *,
        token: str = AUTH_TOKEN,
        signed: bool = True,
        url: str | None = None,
    ) -> httpx.Response:
        """POST ``form`` to ``path`` as Twilio would, signed with ``token``."""
        target = url or f"http://api.test{path}"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers["X-Twilio-Signature"] = signature(token, target, form)
        return await self.client.post(path, content=urlencode(form), headers=headers)


def messaging_settings(**twilio: Any) -> MessagingSettings:
    return MessagingSettings(
        provider="twilio",
        twilio=TwilioSettings(account_sid=ACCOUNT_SID, auth_token=SecretStr(AUTH_TOKEN), **twilio),
    )


@pytest.fixture(name="inbox")
async def inbox_fixture(database: Database, passwords: Passwords) -> AsyncIterator[Inbox]:
    clock = Clock()
    bus = RecordingBus()
    app = create_app(database, api_settings(), clock=clock, passwords=passwords, bus=bus)
    provider = LoopbackProvider()
    install_messaging(app, messaging_settings(), provider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        team = Team(database=database, client=client, clock=clock, passwords=passwords)
        await team.workspace()
        yield Inbox(team=team, app=app, provider=provider, bus=bus)
    await bus.close()
