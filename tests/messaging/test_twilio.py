"""The Twilio provider against a fake Twilio built from the published API reference
(:mod:`tests.messaging.fake_twilio`, a real HTTP server on 127.0.0.1): the form fields and basic
auth it sends, the answers it reads, Twilio's error objects and unusable answers turned into
:class:`MessagingError`; Twilio's statuses; ``X-Twilio-Signature`` per Twilio's published
algorithm and its published example."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from sharedline.config.settings import MessagingSettings, TwilioSettings
from sharedline.messaging import ProviderRejected, ProviderUnavailable
from sharedline.messaging.twilio import (
    TwilioProvider,
    signature,
    status_from_twilio,
    valid_signature,
)
from sharedline.store.inbox_models import MessageStatus
from tests.messaging.fake_twilio import FakeTwilio, fake_twilio

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "0123456789abcdef0123456789abcdef"
SHARED = "+14155550100"
CUSTOMER = "+12125550123"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio(SID, TOKEN) as fake:
        yield fake


def _provider(base_url: str, token: str = TOKEN, **settings: object) -> TwilioProvider:
    return TwilioProvider(
        TwilioSettings(
            account_sid=SID,
            auth_token=SecretStr(token),
            api_base_url=base_url,
            timeout=5.0,
            **settings,
        )
    )


async def test_send_posts_the_form_with_basic_auth_and_reads_the_sid(twilio: FakeTwilio) -> None:
    provider = _provider(
        twilio.base_url, status_callback_url="https://inbox.test/webhooks/twilio/status"
    )
    try:
        result = await provider.send(
            SHARED, CUSTOMER, "Hello & welcome", ["https://cdn.test/a.png", "https://cdn.test/b"]
        )
    finally:
        await provider.aclose()
    assert result.provider_id == f"SM{1:032x}"
    assert result.status is MessageStatus.QUEUED
    (request,) = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.content_type == "application/x-www-form-urlencoded"
    assert (request.user, request.password) == (SID, TOKEN)
    assert request.form == {
        "To": [CUSTOMER],
        "From": [SHARED],
        "Body": ["Hello & welcome"],
        "MediaUrl": ["https://cdn.test/a.png", "https://cdn.test/b"],
        "StatusCallback": ["https://inbox.test/webhooks/twilio/status"],
    }


async def test_media_only_messages_send_no_body(twilio: FakeTwilio) -> None:
    provider = _provider(twilio.base_url)
    try:
        await provider.send(SHARED, CUSTOMER, "", ["https://cdn.test/a.png"])
    finally:
        await provider.aclose()
    assert twilio.requests[0].form == {
        "To": [CUSTOMER],
        "From": [SHARED],
        "MediaUrl": ["https://cdn.test/a.png"],
    }


@pytest.mark.parametrize(
    ("token", "to", "status", "code", "text"),
    [
        ("wrong", CUSTOMER, 401, 20003, "Authenticate"),
        (TOKEN, "12125550123", 400, 21211, "The 'To' number 12125550123 is not a valid phone"),
    ],
)
async def test_twilio_errors_become_provider_rejected(
    twilio: FakeTwilio, token: str, to: str, status: int, code: int, text: str
) -> None:
    provider = _provider(twilio.base_url, token=token)
    try:
        with pytest.raises(ProviderRejected) as raised:
            await provider.send(SHARED, to, "hi", [])
    finally:
        await provider.aclose()
    error = raised.value
    assert (error.provider_status, error.code) == (status, code)
    assert error.message.startswith(f"twilio refused the message with {status} (error {code}): ")
    assert text in error.message
    assert error.status_code == 502


async def test_a_5xx_page_is_provider_unavailable(twilio: FakeTwilio) -> None:
    twilio.fail_with_status = 503
    provider = _provider(twilio.base_url)
    try:
        with pytest.raises(ProviderUnavailable) as raised:
            await provider.send(SHARED, CUSTOMER, "hi", [])
    finally:
        await provider.aclose()
    assert raised.value.provider_status == 503
    assert raised.value.message == "twilio refused the message with 503: service unavailable"


async def test_no_answer_is_provider_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = _provider(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(ProviderUnavailable, match="twilio did not answer: ConnectError"):
            await provider.send(SHARED, CUSTOMER, "hi", [])
    finally:
        await provider.aclose()


def test_twilio_settings_need_credentials() -> None:
    with pytest.raises(ValueError, match="account_sid and auth_token"):
        MessagingSettings(provider="twilio")
    with pytest.raises(ValueError, match="account_sid and an auth_token"):
        TwilioProvider(TwilioSettings())


@pytest.mark.parametrize(
    ("twilio_status", "ours"),
    [
        ("accepted", MessageStatus.QUEUED),
        ("queued", MessageStatus.QUEUED),
        ("sending", MessageStatus.SENT),
        ("sent", MessageStatus.SENT),
        ("delivered", MessageStatus.DELIVERED),
        ("read", MessageStatus.DELIVERED),
        ("undelivered", MessageStatus.UNDELIVERED),
        ("failed", MessageStatus.FAILED),
        ("canceled", MessageStatus.FAILED),
        ("received", MessageStatus.RECEIVED),
        ("Delivered", MessageStatus.DELIVERED),
        ("teleported", None),
    ],
)
def test_twilio_statuses(twilio_status: str, ours: MessageStatus | None) -> None:
    assert status_from_twilio(twilio_status) is ours


# --- X-Twilio-Signature ---------------------------------------------------------------------

EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLE_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]


def _published_algorithm(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's description: the URL, then each name and value sorted by name; HMAC-SHA1 keyed
    with the auth token; base64."""
    text = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_the_signature_of_twilios_published_example() -> None:
    assert signature("12345", EXAMPLE_URL, EXAMPLE_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert _published_algorithm("12345", EXAMPLE_URL, EXAMPLE_PARAMS) == (
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_valid_signatures_and_tampering() -> None:
    params = [("MessageSid", "SM1"), ("MessageStatus", "delivered"), ("Body", "ünïcode +&=")]
    url = "https://inbox.test/webhooks/twilio/status"
    good = _published_algorithm(TOKEN, url, params)
    assert valid_signature(TOKEN, url, params, good)
    assert valid_signature(TOKEN, "https://inbox.test:443/webhooks/twilio/status", params, good)
    assert not valid_signature("other", url, params, good)
    assert not valid_signature(TOKEN, url, [*params[:2], ("Body", "changed")], good)
    assert not valid_signature(TOKEN, url + "?x=1", params, good)
    assert not valid_signature(TOKEN, url, params, None)
    assert not valid_signature(TOKEN, url, params, "")
