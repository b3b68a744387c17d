"""Internal comments on a conversation's messages, calls and voicemail: threads of replies
(replies to replies join the root), editing and deleting one's own only (soft delete keeps the
thread), items that must belong to the conversation, live events, isolation and bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sharedline.store import NumberRole, WorkspaceRole
from tests.api.conftest import Person
from tests.messaging.fixtures import Inbox, inbox_fixture  # noqa: F401  (fixture)

A = "+14155550100"
B = "+14155550199"
CUSTOMER = "+12125550123"
OTHER = "+12125550177"


async def _setup(inbox: Inbox) -> tuple[Person, Person, int, int]:
    """Alice and Bob on A; a conversation with CUSTOMER holding one message (its id returned)."""
    await inbox.team.number(A)
    alice = await inbox.team.person("alice@acme.test", numbers={A: NumberRole.MEMBER})
    bob = await inbox.team.person("bob@acme.test", numbers={A: NumberRole.MEMBER})
    conversation = await inbox.conversation(A, CUSTOMER)
    sent = await inbox.client.post(
        f"/conversations/{conversation}/messages", headers=alice.headers, json={"body": "Hi"}
    )
    return alice, bob, conversation, sent.json()["id"]


async def _comment(
    inbox: Inbox, person: Person, conversation: int, kind: str, item: int, body: str = "note"
) -> httpx.Response:
    return await inbox.client.post(
        f"/conversations/{conversation}/comments",
        headers=person.headers,
        json={"item_kind": kind, "item_id": item, "body": body},
    )


async def _reply(inbox: Inbox, person: Person, comment: int, body: str) -> httpx.Response:
    return await inbox.client.post(
        f"/comments/{comment}/replies", headers=person.headers, json={"body": body}
    )


async def _threads(
    inbox: Inbox, person: Person, conversation: int, query: str = ""
) -> list[dict[str, Any]]:
    response = await inbox.client.get(
        f"/conversations/{conversation}/comments{query}", headers=person.headers
    )
    assert response.status_code == 200, response.text
    threads: list[dict[str, Any]] = response.json()
    return threads


async def test_comment_on_a_message_and_reply_in_its_thread(inbox: Inbox) -> None:
    alice, bob, conversation, message = await _setup(inbox)
    created = await _comment(inbox, bob, conversation, "message", message, "  Refund? ")
    assert created.status_code == 201, created.text
    root = created.json()
    assert root["author"] == {"id": bob.id, "name": "Bob"}
    assert (root["body"], root["parent_id"], root["item_kind"]) == ("Refund?", None, "message")
    assert root["edited_at"] is None
    assert root["deleted_at"] is None

    inbox.clock.advance(5)
    first = (await _reply(inbox, alice, root["id"], "Yes, done")).json()
    second = (await _reply(inbox, bob, first["id"], "Thanks")).json()  # a reply to a reply
    assert first["parent_id"] == root["id"]
    assert second["parent_id"] == root["id"]  # joins the root's thread
    assert (second["item_kind"], second["item_id"]) == ("message", message)

    (thread,) = await _threads(inbox, alice, conversation)
    assert thread["id"] == root["id"]
    assert [(r["body"], r["author"]["name"]) for r in thread["replies"]] == [
        ("Yes, done", "Alice"),
        ("Thanks", "Bob"),
    ]
    kinds = [(e.kind.value, e.actor_id) for e in inbox.bus.published[1:]]
    assert kinds == [
        ("comment.created", bob.id),
        ("thread.reply", alice.id),
        ("thread.reply", bob.id),
    ]
    assert inbox.bus.published[-1].payload["parent_id"] == root["id"]
    assert inbox.bus.published[-1].conversation_id == conversation


async def test_comments_on_calls_and_voicemail_and_filtering_by_item(inbox: Inbox) -> None:
    alice, _, conversation, message = await _setup(inbox)
    inbound = await inbox.call(A, CUSTOMER)
    outbound = await inbox.call(A, CUSTOMER, direction="outbound")
    voicemail = await inbox.voicemail(conversation)
    for kind, item in [
        ("call", inbound),
        ("call", outbound),
        ("voicemail", voicemail),
        ("message", message),
    ]:
        response = await _comment(inbox, alice, conversation, kind, item, f"{kind} {item}")
        assert response.status_code == 201, response.text
    everything = await _threads(inbox, alice, conversation)
    assert [t["item_kind"] for t in everything] == ["call", "call", "voicemail", "message"]
    calls = await _threads(inbox, alice, conversation, "?item_kind=call")
    assert [t["item_id"] for t in calls] == [inbound, outbound]
    one = await _threads(inbox, alice, conversation, f"?item_kind=call&item_id={outbound}")
    assert [t["body"] for t in one] == [f"call {outbound}"]


async def test_items_of_other_conversations_are_404(inbox: Inbox) -> None:
    alice, _, conversation, _ = await _setup(inbox)
    await inbox.team.number(B)
    elsewhere = await inbox.conversation(A, OTHER)
    foreign_message = (
        await inbox.client.post(
            f"/conversations/{elsewhere}/messages", headers=alice.headers, json={"body": "x"}
        )
    ).json()["id"]
    cases = [
        ("message", foreign_message),
        ("message", 999_999),
        ("call", await inbox.call(A, OTHER)),  # same number, other party
        ("call", await inbox.call(B, CUSTOMER)),  # same party, other number
        ("voicemail", await inbox.voicemail(elsewhere)),
    ]
    for kind, item in cases:
        response = await _comment(inbox, alice, conversation, kind, item)
        assert response.status_code == 404, (kind, item, response.text)
        assert response.json()["error"]["message"] == (
            f"no {kind} {item} in conversation {conversation}"
        )
    assert await _threads(inbox, alice, conversation) == []


async def test_only_the_author_edits_or_deletes(inbox: Inbox) -> None:
    alice, bob, conversation, message = await _setup(inbox)
    owner = await inbox.team.person("owner@acme.test", WorkspaceRole.OWNER)
    root = (await _comment(inbox, bob, conversation, "message", message, "draft")).json()
    url = f"/comments/{root['id']}"
    for person in (alice, owner):
        edit = await inbox.client.patch(url, headers=person.headers, json={"body": "mine now"})
        assert edit.status_code == 403
        assert edit.json()["error"]["code"] == "forbidden"
        delete = await inbox.client.delete(url, headers=person.headers)
        assert delete.status_code == 403

    inbox.clock.advance(60)
    edited = await inbox.client.patch(url, headers=bob.headers, json={"body": "final"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["body"] == "final"
    assert edited.json()["edited_at"] == "2026-11-24T09:01:00Z"
    assert inbox.bus.published[-1].kind == "comment.updated"
    (thread,) = await _threads(inbox, alice, conversation)
    assert thread["body"] == "final"


async def test_deleting_keeps_the_thread_and_its_replies(inbox: Inbox) -> None:
    alice, bob, conversation, message = await _setup(inbox)
    root = (await _comment(inbox, bob, conversation, "message", message, "secret")).json()
    await _reply(inbox, alice, root["id"], "noted")
    deleted = await inbox.client.delete(f"/comments/{root['id']}", headers=bob.headers)
    assert deleted.status_code == 204
    event = inbox.bus.published[-1]
    assert event.kind == "comment.deleted"
    assert event.payload["body"] == ""

    (thread,) = await _threads(inbox, alice, conversation)
    assert thread["body"] == ""
    assert thread["deleted_at"] is not None
    assert [r["body"] for r in thread["replies"]] == ["noted"]

    again = await inbox.client.patch(
        f"/comments/{root['id']}", headers=bob.headers, json={"body": "back"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "comment_deleted"
    assert (await _reply(inbox, alice, root["id"], "still here")).status_code == 201


# --- isolation and bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("outsider", ["other_number", "other_workspace"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/conversations/{c}/comments", {"item_kind": "message", "item_id": 0}),
        ("GET", "/conversations/{c}/comments", None),
        ("POST", "/comments/{k}/replies", {"body": "x"}),
        ("PATCH", "/comments/{k}", {"body": "x"}),
        ("DELETE", "/comments/{k}", None),
    ],
)
async def test_outsiders_get_404_on_every_comment_route(
    inbox: Inbox, outsider: str, method: str, path: str, body: Any
) -> None:
    alice, _, conversation, message = await _setup(inbox)
    comment = (await _comment(inbox, alice, conversation, "message", message)).json()["id"]
    await inbox.team.number(B)
    if outsider == "other_number":
        person = await inbox.team.person("b@acme.test", numbers={B: NumberRole.OWNER})
    else:
        elsewhere = await inbox.team.workspace("Elsewhere")
        person = await inbox.team.person(
            "owner@elsewhere.test", WorkspaceRole.OWNER, workspace_id=elsewhere
        )
    if body is not None and "item_id" in body:
        body = {**body, "item_id": message, "body": "x"}
    url = path.format(c=conversation, k=comment)
    response = await inbox.client.request(method, url, headers=person.headers, json=body)
    assert response.status_code == 404, response.text
    assert A not in response.json()["error"]["message"]
    (thread,) = await _threads(inbox, alice, conversation)
    assert thread["body"] == "note"
    assert thread["replies"] == []


async def test_workspace_admins_may_comment_on_any_number(inbox: Inbox) -> None:
    _, _, conversation, message = await _setup(inbox)
    admin = await inbox.team.person("admin@acme.test", WorkspaceRole.ADMIN)
    response = await _comment(inbox, admin, conversation, "message", message)
    assert response.status_code == 201


COMMENTS = "/conversations/{c}/comments"


def _on(kind: str, item: int, body: str = "x") -> dict[str, Any]:
    return {"item_kind": kind, "item_id": item, "body": body}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", COMMENTS, {"item_kind": "message", "item_id": 1}, 422),
        ("POST", COMMENTS, _on("sms", 1), 422),
        ("POST", COMMENTS, _on("call", 0), 422),
        ("POST", COMMENTS, _on("call", 1, " "), 422),
        ("POST", COMMENTS, _on("call", 1, "x" * 5001), 422),
        ("POST", "/conversations/0/comments", _on("call", 1), 422),
        ("POST", "/conversations/999999/comments", _on("call", 1), 404),
        ("POST", "/comments/999999/replies", {"body": "x"}, 404),
        ("POST", "/comments/{k}/replies", {"body": ""}, 422),
        ("POST", "/comments/{k}/replies", {"body": "x", "parent_id": 1}, 422),
        ("PATCH", "/comments/{k}", {}, 422),
        ("PATCH", "/comments/x", {"body": "x"}, 422),
        ("DELETE", "/comments/0", None, 422),
        ("GET", "/conversations/{c}/comments?item_kind=fax", None, 422),
        ("GET", "/conversations/{c}/comments?item_id=3", None, 400),
        ("GET", "/conversations/{c}/comments?item_kind=call&item_id=-1", None, 422),
    ],
)
async def test_bad_comment_input_is_a_4xx(
    inbox: Inbox, method: str, path: str, body: Any, status: int
) -> None:
    alice, _, conversation, message = await _setup(inbox)
    comment = (await _comment(inbox, alice, conversation, "message", message)).json()["id"]
    url = path.format(c=conversation, k=comment)
    response = await inbox.client.request(method, url, headers=alice.headers, json=body)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"]["message"], str)


async def test_comments_need_a_token(inbox: Inbox) -> None:
    _, _, conversation, _ = await _setup(inbox)
    response = await inbox.client.get(f"/conversations/{conversation}/comments")
    assert response.status_code == 401
