"""Sending from a shared number as a member, collision control, the provider failing, paging,
Twilio's delivery reports and inbound messages (signed webhooks), isolation and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from sharedline.api.messages import install_messaging, provider_from_settings
from sharedline.config.settings import MessagingSettings
from sharedline.messaging import ProviderRejected
from sharedline.messaging.loopback import LoopbackProvider
from sharedline.messaging.twilio import TwilioProvider, signature
from sharedline.store import NumberRole, WorkspaceRole
from sharedline.store.inbox_models import Message
from tests.api.conftest import Person, Team
from tests.messaging.fake_twilio import fake_twilio
from tests.messaging.fixtures import (  # noqa: F401  (fixture)
    ACCOUNT_SID,
    AUTH_TOKEN,
    Inbox,
    inbox_fixture,
    messaging_settings,
)

A = "+14155550100"
B = "+14155550199"
CUSTOMER = "+12125550123"
OTHER_CUSTOMER = "+12125550177"


async def _send(inbox: Inbox, person: Person, conversation: int, **body: Any) -> Any:
    return await inbox.client.post(
        f"/conversations/{conversation}/messages",
        headers=person.headers,
        json={"body": "On it!", **body},
    )


async def _two_members(inbox: Inbox) -> tuple[Person, Person, int]:
    await inbox.team.number(A)
    alice = await inbox.team.person("alice@acme.test", numbers={A: NumberRole.MEMBER})
    bob = await inbox.team.person("bob@acme.test", numbers={A: NumberRole.MEMBER})
    conversation = await inbox.conversation(A, CUSTOMER)
    return alice, bob, conversation


def _typing(inbox: Inbox, person: Person, conversation: int) -> None:
    inbox.state.typing.typing(
        person.id,
        conversation,
        A,
        inbox.clock().timestamp(),
        workspace_id=inbox.team.workspace_id,
    )


async def test_a_message_sent_through_the_loopback_names_its_sender(inbox: Inbox) -> None:
    alice, bob, conversation = await _two_members(inbox)
    response = await _send(inbox, alice, conversation, media_urls=["https://cdn.test/a.png"])
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["sender"] == {"id": alice.id, "name": "Alice"}
    assert message["direction"] == "outbound"
    assert message["status"] == "sent"
    assert message["provider_id"] == "LB1"
    assert message["media_urls"] == ["https://cdn.test/a.png"]
    (sent,) = inbox.provider.sent
    assert (sent.from_e164, sent.to_e164, sent.body) == (A, CUSTOMER, "On it!")

    (event,) = [e for e in inbox.bus.published if e.kind == "message.created"]
    assert event.actor_id == alice.id
    assert event.conversation_id == conversation
    assert event.workspace_id == inbox.team.workspace_id
    assert event.payload["sender"] == {"id": alice.id, "name": "Alice"}

    listed = await inbox.client.get(f"/conversations/{conversation}/messages", headers=bob.headers)
    assert listed.status_code == 200
    assert [(m["id"], m["sender"]["name"]) for m in listed.json()["items"]] == [
        (message["id"], "Alice")
    ]


async def test_texting_a_number_starts_the_conversation_then_continues_it(inbox: Inbox) -> None:
    await inbox.team.number(A)
    alice = await inbox.team.person("alice@acme.test", numbers={A: NumberRole.MEMBER})
    url = f"/numbers/{A}/messages"
    first = await inbox.client.post(url, headers=alice.headers, json={"to": CUSTOMER, "body": "1"})
    assert first.status_code == 201, first.text
    second = await inbox.client.post(url, headers=alice.headers, json={"to": CUSTOMER, "body": "2"})
    assert second.status_code == 201, second.text  # her own reply is no collision
    other = await inbox.client.post(
        url, headers=alice.headers, json={"to": OTHER_CUSTOMER, "body": "3"}
    )
    assert first.json()["conversation_id"] == second.json()["conversation_id"]
    assert other.json()["conversation_id"] != first.json()["conversation_id"]
    assert [m.to_e164 for m in inbox.provider.sent] == [CUSTOMER, CUSTOMER, OTHER_CUSTOMER]


async def test_a_teammate_typing_is_a_collision_until_overridden(inbox: Inbox) -> None:
    alice, bob, conversation = await _two_members(inbox)
    _typing(inbox, bob, conversation)
    refused = await _send(inbox, alice, conversation)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "collision"
    assert error["message"] == "a teammate is typing or has just replied in this conversation"
    assert error["details"] == {
        "conversation_id": conversation,
        "typing": [bob.id],
        "replies": [],
        "names": {str(bob.id): "Bob"},
    }
    assert inbox.provider.sent == []

    by_body = await _send(inbox, alice, conversation, override=True)
    assert by_body.status_code == 201, by_body.text
    by_header = await inbox.client.post(
        f"/conversations/{conversation}/messages",
        headers={**alice.headers, "Sharedline-Override-Collision": "true"},
        json={"body": "again"},
    )
    assert by_header.status_code == 201, by_header.text
    assert len(inbox.provider.sent) == 2


async def test_a_teammates_reply_30_seconds_ago_is_a_collision_for_60_seconds(
    inbox: Inbox,
) -> None:
    alice, bob, conversation = await _two_members(inbox)
    replied = await _send(inbox, bob, conversation)
    assert replied.status_code == 201
    replied_at = inbox.clock().timestamp()
    inbox.clock.advance(30)
    refused = await _send(inbox, alice, conversation)
    assert refused.status_code == 409
    details = refused.json()["error"]["details"]
    assert details["typing"] == []
    assert details["replies"] == [{"user_id": bob.id, "at": replied_at}]
    assert details["names"] == {str(bob.id): "Bob"}
    inbox.clock.advance(31)
    assert (await _send(inbox, alice, conversation)).status_code == 201


async def test_the_senders_own_typing_never_blocks(inbox: Inbox) -> None:
    alice, _, conversation = await _two_members(inbox)
    _typing(inbox, alice, conversation)
    assert (await _send(inbox, alice, conversation)).status_code == 201
    assert (await _send(inbox, alice, conversation)).status_code == 201


async def test_sending_stops_the_senders_typing_indicator_at_once(inbox: Inbox) -> None:
    alice, _, conversation = await _two_members(inbox)
    _typing(inbox, alice, conversation)
    assert (await _send(inbox, alice, conversation)).status_code == 201
    assert inbox.state.typing.typing_in(conversation, inbox.clock().timestamp()) == set()
    assert [e.kind for e in inbox.bus.published] == ["message.created", "typing.stopped"]
    assert inbox.bus.published[-1].actor_id == alice.id


async def test_a_provider_refusal_is_a_502_and_the_message_stays_failed(inbox: Inbox) -> None:
    alice, _, conversation = await _two_members(inbox)
    inbox.provider.fail_next(
        ProviderRejected("the 'To' number is not valid", provider_status=400, code=21211)
    )
    response = await _send(inbox, alice, conversation)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert error["message"] == "the message was not sent: the 'To' number is not valid"
    assert error["details"]["provider_code"] == 21211
    listed = await inbox.client.get(
        f"/conversations/{conversation}/messages", headers=alice.headers
    )
    (message,) = listed.json()["items"]
    assert message["id"] == error["details"]["message_id"]
    assert (message["status"], message["error"]) == ("failed", "the 'To' number is not valid")
    (event,) = inbox.bus.published
    assert event.payload["status"] == "failed"


async def test_messages_page_newest_first(inbox: Inbox) -> None:
    alice, _, conversation = await _two_members(inbox)
    ids = [(await _send(inbox, alice, conversation, body=f"m{i}")).json()["id"] for i in range(5)]
    url = f"/conversations/{conversation}/messages?limit=2"
    seen: list[int] = []
    page = (await inbox.client.get(url, headers=alice.headers)).json()
    while True:
        seen += [m["id"] for m in page["items"]]
        if page["next_before"] is None:
            break
        page = (
            await inbox.client.get(f"{url}&before={page['next_before']}", headers=alice.headers)
        ).json()
    assert seen == ids[::-1]


# --- Twilio's webhooks ---------------------------------------------------------------------------


async def test_a_signed_delivery_report_updates_the_status(inbox: Inbox) -> None:
    alice, _, conversation = await _two_members(inbox)
    message = (await _send(inbox, alice, conversation)).json()
    await _as_twilio(inbox, message["id"], "SM0001")
    response = await inbox.webhook(
        "/webhooks/twilio/status", [("MessageSid", "SM0001"), ("MessageStatus", "delivered")]
    )
    assert response.status_code == 204, response.text
    listed = await inbox.client.get(
        f"/conversations/{conversation}/messages", headers=alice.headers
    )
    assert listed.json()["items"][0]["status"] == "delivered"
    event = inbox.bus.published[-1]
    assert event.kind == "message.status"
    assert event.workspace_id == inbox.team.workspace_id
    assert dict(event.payload) == {"id": message["id"], "status": "delivered", "error": None}

    undelivered = await inbox.webhook(
        "/webhooks/twilio/status",
        [("MessageSid", "SM0001"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")],
    )
    assert undelivered.status_code == 204
    listed = await inbox.client.get(
        f"/conversations/{conversation}/messages", headers=alice.headers
    )
    item = listed.json()["items"][0]
    assert (item["status"], item["error"]) == ("undelivered", "twilio error 30003")


async def _as_twilio(inbox: Inbox, message_id: int, sid: str) -> None:
    async with inbox.team.database.session() as session:
        row = await session.get_one(Message, message_id)
        row.provider, row.provider_id = "twilio", sid
        await session.commit()


@pytest.mark.parametrize(
    ("token", "signed"), [("wrong-token", True), ("unused", False)], ids=["wrong", "missing"]
)
async def test_a_delivery_report_without_a_valid_signature_is_403(
    inbox: Inbox, token: str, signed: bool
) -> None:
    alice, _, conversation = await _two_members(inbox)
    message = (await _send(inbox, alice, conversation)).json()
    await _as_twilio(inbox, message["id"], "SM0001")
    form = [("MessageSid", "SM0001"), ("MessageStatus", "delivered")]
    response = await inbox.webhook("/webhooks/twilio/status", form, token=token, signed=signed)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    listed = await inbox.client.get(
        f"/conversations/{conversation}/messages", headers=alice.headers
    )
    assert listed.json()["items"][0]["status"] == "sent"


async def test_a_signature_over_other_parameters_is_403(inbox: Inbox) -> None:
    await inbox.team.number(A)
    signed_form = [("MessageSid", "SM0001"), ("MessageStatus", "delivered")]
    header = signature(AUTH_TOKEN, "http://api.test/webhooks/twilio/status", signed_form)
    response = await inbox.client.post(
        "/webhooks/twilio/status",
        content="MessageSid=SM0001&MessageStatus=failed",
        headers={"X-Twilio-Signature": header, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 403


async def test_a_delivery_report_for_an_unknown_sid_is_404(inbox: Inbox) -> None:
    response = await inbox.webhook(
        "/webhooks/twilio/status", [("MessageSid", "SM404"), ("MessageStatus", "sent")]
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no message SM404"


async def test_an_inbound_message_lands_in_the_conversation(inbox: Inbox) -> None:
    await inbox.team.number(A)
    alice = await inbox.team.person("alice@acme.test", numbers={A: NumberRole.MEMBER})
    form = [
        ("MessageSid", "SM9001"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", CUSTOMER),
        ("To", A),
        ("Body", "Is my order on its way? 😊"),
        ("NumMedia", "1"),
        ("MediaUrl0", "https://api.twilio.test/media/ME1"),
        ("MediaContentType0", "image/jpeg"),
    ]
    response = await inbox.webhook("/webhooks/twilio/messages", form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    (event,) = inbox.bus.published
    assert event.kind == "message.created"
    assert event.actor_id is None
    assert event.workspace_id == inbox.team.workspace_id
    conversation = event.conversation_id
    assert conversation is not None
    listed = await inbox.client.get(
        f"/conversations/{conversation}/messages", headers=alice.headers
    )
    (message,) = listed.json()["items"]
    assert message["direction"] == "inbound"
    assert message["status"] == "received"
    assert message["sender"] is None
    assert message["body"] == "Is my order on its way? 😊"
    assert message["media_urls"] == ["https://api.twilio.test/media/ME1"]

    retried = await inbox.webhook("/webhooks/twilio/messages", form)
    assert retried.status_code == 200
    again = await inbox.client.get(f"/conversations/{conversation}/messages", headers=alice.headers)
    assert len(again.json()["items"]) == 1

    reply = await inbox.client.post(
        f"/numbers/{A}/messages", headers=alice.headers, json={"to": CUSTOMER, "body": "Yes!"}
    )
    assert reply.json()["conversation_id"] == conversation


async def test_inbound_to_an_unknown_number_is_404_and_unsigned_is_403(inbox: Inbox) -> None:
    form = [("MessageSid", "SM1"), ("From", CUSTOMER), ("To", B), ("Body", "hi")]
    unknown = await inbox.webhook("/webhooks/twilio/messages", form)
    assert unknown.status_code == 404
    await inbox.team.number(B)
    unsigned = await inbox.webhook("/webhooks/twilio/messages", form, signed=False)
    assert unsigned.status_code == 403
    missing = await inbox.webhook("/webhooks/twilio/messages", [("From", CUSTOMER)])
    assert missing.status_code == 400


# --- isolation and bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("outsider", ["other_number", "other_workspace"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/conversations/{c}/messages", {"body": "hi", "override": True}),
        ("GET", "/conversations/{c}/messages", None),
        ("POST", "/numbers/{n}/messages", {"to": CUSTOMER, "body": "hi"}),
    ],
)
async def test_outsiders_get_404_everywhere(
    inbox: Inbox, outsider: str, method: str, path: str, body: Any
) -> None:
    await inbox.team.number(A)
    await inbox.team.number(B)
    conversation = await inbox.conversation(A, CUSTOMER)
    if outsider == "other_number":
        person = await inbox.team.person("b@acme.test", numbers={B: NumberRole.OWNER})
    else:
        elsewhere = await inbox.team.workspace("Elsewhere")
        person = await inbox.team.person(
            "owner@elsewhere.test", WorkspaceRole.OWNER, workspace_id=elsewhere
        )
    url = path.format(c=conversation, n=A)
    response = await inbox.client.request(method, url, headers=person.headers, json=body)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert str(A) not in response.json()["error"]["message"] or path.startswith("/numbers")
    assert inbox.provider.sent == []


async def test_workspace_admins_may_text_any_number(inbox: Inbox) -> None:
    await inbox.team.number(A)
    admin = await inbox.team.person("admin@acme.test", WorkspaceRole.ADMIN)
    conversation = await inbox.conversation(A, CUSTOMER)
    assert (await _send(inbox, admin, conversation)).status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/conversations/{c}/messages", {"body": ""}, 422),
        ("/conversations/{c}/messages", {"body": "   "}, 422),
        ("/conversations/{c}/messages", {"body": "x" * 1601}, 422),
        ("/conversations/{c}/messages", {"body": "x", "media_urls": ["ftp://x"]}, 422),
        ("/conversations/{c}/messages", {"body": "x", "media_urls": ["https://a"] * 11}, 422),
        ("/conversations/{c}/messages", {"body": "x", "sender": 1}, 422),
        ("/conversations/0/messages", {"body": "x"}, 422),
        ("/conversations/999999/messages", {"body": "x"}, 404),
        ("/numbers/{n}/messages", {"to": "12125550123", "body": "x"}, 422),
        ("/numbers/{n}/messages", {"body": "x"}, 422),
        ("/numbers/{n}/messages", {"to": A, "body": "x"}, 400),
        ("/numbers/14155550100/messages", {"to": CUSTOMER, "body": "x"}, 422),
    ],
)
async def test_bad_input_is_a_4xx(inbox: Inbox, path: str, body: Any, status: int) -> None:
    alice, _, conversation = await _two_members(inbox)
    url = path.format(c=conversation, n=A)
    response = await inbox.client.post(url, headers=alice.headers, json=body)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"]["message"], str)
    assert inbox.provider.sent == []


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "before=0", "before=x"])
async def test_bad_paging_is_a_422(inbox: Inbox, query: str) -> None:
    alice, _, conversation = await _two_members(inbox)
    response = await inbox.client.get(
        f"/conversations/{conversation}/messages?{query}", headers=alice.headers
    )
    assert response.status_code == 422


async def test_sending_needs_a_token(inbox: Inbox) -> None:
    _, _, conversation = await _two_members(inbox)
    response = await inbox.client.post(
        f"/conversations/{conversation}/messages", json={"body": "hi"}
    )
    assert response.status_code == 401


async def test_sending_through_twilio_stores_its_sid_and_maps_its_errors(inbox: Inbox) -> None:
    """Through the Twilio provider, against the fake Twilio built from the published API."""
    alice, _, conversation = await _two_members(inbox)
    with fake_twilio(ACCOUNT_SID, AUTH_TOKEN) as twilio:
        twilio.invalid_numbers.add("+999")
        settings = messaging_settings(api_base_url=twilio.base_url)
        messaging = install_messaging(inbox.app, settings)
        try:
            sent = await _send(inbox, alice, conversation)
            assert sent.status_code == 201, sent.text
            assert sent.json()["provider_id"] == f"SM{1:032x}"
            assert sent.json()["status"] == "queued"
            assert twilio.requests[0].form["From"] == [A]

            refused = await inbox.client.post(
                f"/numbers/{A}/messages",
                headers=alice.headers,
                json={"to": "+999", "body": "hi", "override": True},
            )
            assert refused.status_code == 502, refused.text
            error = refused.json()["error"]
            assert error["code"] == "provider_error"
            assert "(error 21211)" in error["message"]
            assert error["details"]["provider_status"] == 400

            twilio.fail_with_status = 500
            down = await _send(inbox, alice, conversation, override=True)
            assert down.status_code == 502
        finally:
            await messaging.aclose()

    report = await inbox.webhook(
        "/webhooks/twilio/status",
        [("MessageSid", f"SM{1:032x}"), ("MessageStatus", "delivered")],
    )
    assert report.status_code == 204
    listed = await inbox.client.get(
        f"/conversations/{conversation}/messages", headers=alice.headers
    )
    statuses = [m["status"] for m in listed.json()["items"]]
    assert statuses == ["failed", "delivered"]


async def test_signatures_are_checked_against_the_public_url(inbox: Inbox) -> None:
    alice, _, conversation = await _two_members(inbox)
    message = (await _send(inbox, alice, conversation)).json()
    await _as_twilio(inbox, message["id"], "SM0001")
    install_messaging(
        inbox.app, messaging_settings(webhook_base_url="https://inbox.example.com/"), inbox.provider
    )
    form = [("MessageSid", "SM0001"), ("MessageStatus", "delivered")]
    internal = await inbox.webhook("/webhooks/twilio/status", form)
    assert internal.status_code == 403
    public = "https://inbox.example.com/webhooks/twilio/status"
    assert (await inbox.webhook("/webhooks/twilio/status", form, url=public)).status_code == 204


async def test_webhooks_are_404_without_twilio_credentials(inbox: Inbox) -> None:
    install_messaging(inbox.app, MessagingSettings(), inbox.provider)
    response = await inbox.webhook(
        "/webhooks/twilio/status", [("MessageSid", "SM1"), ("MessageStatus", "sent")]
    )
    assert response.status_code == 404


async def test_an_app_without_messaging_installed_sends_through_the_loopback(team: Team) -> None:
    await team.number(A)
    alice = await team.person("alice@acme.test", numbers={A: NumberRole.MEMBER})
    response = await team.client.post(
        f"/numbers/{A}/messages", headers=alice.headers, json={"to": CUSTOMER, "body": "hi"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["provider_id"] == "LB1"


async def test_the_provider_follows_the_settings() -> None:
    assert isinstance(provider_from_settings(MessagingSettings()), LoopbackProvider)
    twilio = provider_from_settings(messaging_settings())
    assert isinstance(twilio, TwilioProvider)
    await twilio.aclose()
