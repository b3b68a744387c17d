"""Schemathesis over every operation of the team inbox API's OpenAPI description, in-process.

Each operation gets a fresh SQLite store seeded with a workspace, the shared number
+14155550100 with members, a contact, and a conversation with a message and a comment.
Requests carry a workspace Owner's bearer token, so they get past authentication to the
handlers; path parameters and JSON body fields named after seeded objects (``e164``,
``user_id``, ``conversation_id`` …) point at a real object in about half the cases, and at
whatever schemathesis generated in the others. Cases are positive and negative (invalid) in turn.

No response may be a 5xx (in-process, an unhandled exception reaches the test instead), and,
except for the operations in ``_NONCONFORMING``, each must match the status codes, content
types and schemas the description declares. The operations are read from the app when the
tests are collected, so routes added later are fuzzed too. Each one runs ``MAX_EXAMPLES``
cases with no deadline, derandomized under ``HYPOTHESIS_PROFILE=ci``.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
import structlog.testing
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from sharedline.api import create_app
from sharedline.api.passwords import Passwords
from sharedline.api.state import utc_now
from sharedline.store import (
    Database,
    NumberMembership,
    NumberRole,
    PhoneNumber,
    User,
    Workspace,
    WorkspaceRole,
    migrate,
)
from sharedline.store.accounts import issue_token
from sharedline.store.inbox_models import (
    Comment,
    Contact,
    ContactNumber,
    Conversation,
    ItemKind,
    Message,
    MessageDirection,
    MessageStatus,
)
from tests.api.conftest import api_settings

NUMBER = "+14155550100"
CALLER = "+14155550123"
OWNER_EMAIL = "owner@acme.test"
OWNER_PASSWORD = "correct horse battery staple"
MAX_EXAMPLES = 25

Operation = APIOperation[Any, Any, Any, Any]

# operationId -> why its responses are held to the no-5xx check only.
_NONCONFORMING: dict[str, str] = {}

_SERVER_ERRORS: list[CheckFunction] = [not_a_server_error]
_CONFORMANCE: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Seeded:
    """What the store holds before fuzzing: values per parameter or body field name (ids, the
    number), and the Owner's token."""

    real_values: dict[str, list[str | int]]
    owner_token: str


async def _seed(database: Database, passwords: Passwords) -> Seeded:
    async with database.session() as session:
        workspace = Workspace(name="Acme")
        session.add(workspace)
        await session.flush()
        number = PhoneNumber(workspace_id=workspace.id, e164=NUMBER, name="Support")
        owner = User(
            workspace_id=workspace.id,
            email=OWNER_EMAIL,
            name="Owner",
            role=WorkspaceRole.OWNER,
            password_hash=passwords.hash(OWNER_PASSWORD),
        )
        admin = User(workspace_id=workspace.id, email="ada@acme.test", name="Ada")
        member = User(workspace_id=workspace.id, email="bob@acme.test", name="Bob")
        contact = Contact(workspace_id=workspace.id, name="Carol", notes="a customer")
        session.add_all([number, owner, admin, member, contact])
        await session.flush()
        session.add_all(
            [
                NumberMembership(number_id=number.id, user_id=admin.id, role=NumberRole.ADMIN),
                NumberMembership(number_id=number.id, user_id=member.id, role=NumberRole.MEMBER),
                ContactNumber(
                    contact_id=contact.id, workspace_id=workspace.id, e164=CALLER, label="mobile"
                ),
            ]
        )
        conversation = Conversation(number_id=number.id, contact_e164=CALLER)
        session.add(conversation)
        await session.flush()
        message = Message(
            conversation_id=conversation.id,
            direction=MessageDirection.INBOUND,
            body="is anyone there?",
            status=MessageStatus.RECEIVED,
        )
        session.add(message)
        await session.flush()
        comments = [
            Comment(
                conversation_id=conversation.id,
                item_kind=ItemKind.MESSAGE,
                item_id=message.id,
                author_user_id=author.id,
                body=body,
            )
            for author, body in [(member, "I'll call her back"), (owner, "thanks, Bob")]
        ]
        session.add_all(comments)
        await session.flush()
        issued = await issue_token(session, owner.id, now=utc_now(), ttl=timedelta(hours=1))
        await session.commit()
    users: list[str | int] = [owner.id, admin.id, member.id]
    return Seeded(
        real_values={
            "e164": [NUMBER],
            "number": [NUMBER],
            "user_id": users,
            "member_id": users,
            "contact_id": [contact.id],
            "conversation_id": [conversation.id],
            "message_id": [message.id],
            "comment_id": [comment.id for comment in comments],
            "item_id": [message.id],
        },
        owner_token=issued.token,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbox:
    """The API's description, bound to the app on the seeded store."""

    schema: OpenApiSchema
    seeded: Seeded

    @property
    def owner_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.seeded.owner_token}"}

    def fresh_owner_headers(self) -> dict[str, str]:
        """A new token for the Owner, logged in through the API."""
        login = self.schema["/auth/token"]["POST"]
        response = login.Case(body={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}).call()
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _build_template(path: Path) -> Seeded:
    database = Database(f"sqlite+aiosqlite:///{path}")
    await migrate(database)
    seeded = await _seed(database, Passwords(api_settings().api))
    await database.close()
    return seeded


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    """A migrated, seeded store file, built once and copied for each test."""
    path = tmp_path_factory.mktemp("fuzz") / "template.db"
    return path, asyncio.run(_build_template(path))


@pytest.fixture
async def store(
    template: tuple[Path, Seeded], tmp_path: Path
) -> AsyncIterator[tuple[Database, Seeded]]:
    path, seeded = template
    shutil.copyfile(path, tmp_path / "store.db")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    yield database, seeded
    await database.close()


@pytest.fixture
def inbox(store: tuple[Database, Seeded]) -> Inbox:
    database, seeded = store
    app = create_app(database, api_settings())
    # Every app describes the same routes: generate the description once (FastAPI's own cache).
    app.openapi_schema = _description()
    # Authorization is added to each call; generated security parameters would only replace it.
    config = SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    return Inbox(schema=schema, seeded=seeded)


@functools.cache
def _description() -> dict[str, Any]:
    """The app's OpenAPI description; building it needs no store."""
    return create_app(Database("sqlite+aiosqlite://"), api_settings()).openapi()


def _described_operations() -> list[tuple[str, str, str]]:
    """(method, path, operationId) of each operation in the description."""
    return [
        (method.upper(), path, operation["operationId"])
        for path, methods in _description()["paths"].items()
        for method, operation in methods.items()
    ]


def _point_at_seeded_objects(case: Case[Operation], seeded: Seeded, data: st.DataObject) -> None:
    """Replace, on a coin flip each, path parameters and top-level JSON body fields named after
    seeded objects with one of their real values."""
    fields: list[dict[str, Any]] = [case.path_parameters or {}]
    if isinstance(case.body, dict):
        fields.append(case.body)
    for values in fields:
        for name in list(values):
            real = seeded.real_values.get(name)
            if real and data.draw(st.booleans(), label=f"seeded {name}"):
                values[name] = data.draw(st.sampled_from(real), label=name)


@pytest.mark.parametrize(
    ("method", "path", "operation_id"),
    [
        pytest.param(*operation, id=f"{operation[0]} {operation[1]}")
        for operation in _described_operations()
    ],
)
def test_operation_never_answers_with_a_server_error(
    inbox: Inbox, method: str, path: str, operation_id: str
) -> None:
    operation = inbox.schema[path][method]
    checks = _SERVER_ERRORS if operation_id in _NONCONFORMING else _CONFORMANCE
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    # Derandomized or not as the loaded profile says. No example database: the operations share
    # this function, and so its key. No explain phase: tracing every shrunk case costs seconds.
    @hypothesis.settings(
        hypothesis.settings.default,
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[phase for phase in hypothesis.Phase if phase is not hypothesis.Phase.explain],
        suppress_health_check=[hypothesis.HealthCheck.too_slow],
    )
    @hypothesis.given(case=cases, data=st.data())
    def fuzz(case: Case[Operation], data: st.DataObject) -> None:
        _point_at_seeded_objects(case, inbox.seeded, data)
        # Logging out revokes the token it carries: it gets its own, not the Owner's.
        if operation_id == "logout":
            headers = inbox.fresh_owner_headers()
        else:
            headers = inbox.owner_headers
        case.call_and_validate(headers=headers, checks=checks)

    # Captured, not rendered: the console renderer spends seconds on each exception's locals.
    with structlog.testing.capture_logs():
        fuzz()


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        # found by this fuzzing: ids past the store's integers once reached the database (500)
        ("POST", f"/numbers/{NUMBER}/members", {"user_id": 16717361816799281142, "role": "admin"}),
        ("PATCH", f"/numbers/{NUMBER}/members/9223372036854775808", {"role": "admin"}),
        ("DELETE", f"/numbers/{NUMBER}/members/2147483648", None),
        ("GET", "/conversations/2147483648", None),
        ("POST", "/comments/2147483648/replies", {"body": "x"}),
    ],
)
async def test_an_id_past_the_stores_integers_is_bad_input(
    store: tuple[Database, Seeded], method: str, url: str, body: object
) -> None:
    database, seeded = store
    transport = httpx.ASGITransport(app=create_app(database, api_settings()))
    headers = {"Authorization": f"Bearer {seeded.owner_token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        with structlog.testing.capture_logs():
            response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_the_openapi_description_is_valid_openapi_3_with_the_inbox_tags(
    store: tuple[Database, Seeded],
) -> None:
    database, _ = store
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(database, api_settings()))
    schema.validate()  # against the OpenAPI 3 meta-schema
    assert schema.specification.version.startswith("3.")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert len(operations) == len(_described_operations())
    declared = [tag["name"] for tag in schema.raw_schema["tags"]]
    assert {"contacts", "conversations", "messages", "comments", "live"} <= set(declared)
    assert all(set(operation.tags or ()) <= set(declared) for operation in operations)
    assert all(operation.tags for operation in operations)
