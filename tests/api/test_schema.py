"""Errors are machine-readable everywhere; the OpenAPI schema describes every route."""

from __future__ import annotations

import pytest

from sharedline.store import WorkspaceRole
from tests.api.conftest import Team

OPERATIONS = {
    ("post", "/auth/token"): "login",
    ("post", "/auth/logout"): "logout",
    ("get", "/auth/me"): "whoami",
    ("get", "/numbers"): "listNumbers",
    ("get", "/numbers/{e164}"): "getNumber",
    ("patch", "/numbers/{e164}"): "updateNumber",
    ("post", "/numbers/{e164}/members"): "addNumberMember",
    ("patch", "/numbers/{e164}/members/{user_id}"): "changeNumberMemberRole",
    ("delete", "/numbers/{e164}/members/{user_id}"): "removeNumberMember",
    ("get", "/users"): "listUsers",
    ("post", "/invitations"): "createInvitation",
    ("post", "/invitations/accept"): "acceptInvitation",
    ("get", "/audit"): "listAudit",
    ("get", "/contacts"): "listContacts",
    ("post", "/contacts"): "createContact",
    ("get", "/contacts/lookup"): "lookupContact",
    ("get", "/contacts/{contact_id}"): "getContact",
    ("patch", "/contacts/{contact_id}"): "updateContact",
    ("delete", "/contacts/{contact_id}"): "deleteContact",
    ("get", "/numbers/{e164}/conversations"): "listConversations",
    ("get", "/conversations/{conversation_id}"): "getConversation",
    ("post", "/conversations/{conversation_id}/open"): "openConversation",
    ("get", "/conversations/{conversation_id}/opens"): "listConversationOpens",
    ("get", "/numbers/{e164}/calls"): "listCalls",
    ("get", "/numbers/{e164}/voicemail"): "listVoicemail",
    ("post", "/conversations/{conversation_id}/messages"): "sendMessage",
    ("get", "/conversations/{conversation_id}/messages"): "listMessages",
    ("post", "/numbers/{e164}/messages"): "sendMessageFromNumber",
    ("post", "/webhooks/twilio/status"): "twilioMessageStatus",
    ("post", "/webhooks/twilio/messages"): "twilioInboundMessage",
    ("post", "/conversations/{conversation_id}/comments"): "createComment",
    ("get", "/conversations/{conversation_id}/comments"): "listComments",
    ("post", "/comments/{comment_id}/replies"): "replyToComment",
    ("patch", "/comments/{comment_id}"): "editComment",
    ("delete", "/comments/{comment_id}"): "deleteComment",
}


async def test_openapi_names_every_operation_with_tags_and_error_responses(team: Team) -> None:
    schema = (await team.client.get("/openapi.json")).json()
    found = {
        (method, path): operation["operationId"]
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    assert found == OPERATIONS
    for path, methods in schema["paths"].items():
        for operation in methods.values():
            assert operation["tags"], path
            for status in ("401", "403", "404", "409", "422"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "code"),
    [
        ("GET", "/no/such/route", None, 404, "not_found"),
        ("PUT", "/numbers", None, 405, "method_not_allowed"),
        ("GET", "/numbers/14155550100", None, 422, "invalid_request"),
        ("GET", "/numbers/+0123", None, 422, "invalid_request"),
        ("PATCH", "/numbers/+14155550100", {"name": ""}, 422, "invalid_request"),
        ("PATCH", "/numbers/+14155550100", {"nom": "x"}, 422, "invalid_request"),
        ("POST", "/numbers/+14155550100/members", {"user_id": "x"}, 422, "invalid_request"),
        ("POST", "/numbers/+14155550100/members", {"user_id": 1, "role": "boss"}, 422, None),
        ("DELETE", "/numbers/+14155550100/members/0", None, 422, "invalid_request"),
        ("POST", "/invitations", {"email": "nope"}, 422, "invalid_request"),
        ("POST", "/invitations", {"email": "a@b.test", "role": "king"}, 422, None),
        ("POST", "/invitations", {"email": "a@b.test", "numbers": [{"number": "1"}]}, 422, None),
        ("GET", "/audit?number=12", None, 422, "invalid_request"),
        ("GET", "/audit?limit=0", None, 422, "invalid_request"),
    ],
)
async def test_bad_input_gets_a_json_error_never_a_5xx(
    team: Team, method: str, url: str, body: object, status: int, code: str | None
) -> None:
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    await team.number("+14155550100")
    response = await team.client.request(method, url, headers=owner.headers, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == (code or "invalid_request")
    assert isinstance(error["message"], str)
    assert isinstance(error["details"], dict)


async def test_malformed_json_is_a_422(team: Team) -> None:
    response = await team.client.post(
        "/auth/token", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_adding_an_unknown_user_is_a_404(team: Team) -> None:
    await team.number("+14155550100")
    owner = await team.person("owner@acme.test", WorkspaceRole.OWNER)
    response = await team.client.post(
        "/numbers/+14155550100/members", headers=owner.headers, json={"user_id": 999}
    )
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "no user 999 in this workspace",
        "details": {"user_id": 999},
    }
