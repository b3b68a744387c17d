"""Twilio Programmable Messaging: sending through the REST API, and checking its webhooks.

Sending (Twilio's "Create a Message resource"): ``POST {base}/2010-04-01/Accounts/{sid}/
Messages.json`` with HTTP basic auth ``sid:token`` and form fields ``To``, ``From``, ``Body``,
``MediaUrl`` (repeated, one per attachment) and ``StatusCallback``. Twilio answers ``201`` with
the message resource as JSON (``sid``, ``status``, …) or a 4xx/5xx with an error object
``{"code": 21211, "message": "...", "more_info": "...", "status": 400}``.

The request goes through ``httpx`` (async, typed, explicit timeouts, any base URL): the
``twilio`` package's ``Client`` has no base-URL setting to point it at a test server, and its
async HTTP client opens an aiohttp session in its constructor. Webhook signatures are checked
with the ``twilio`` package's own ``RequestValidator`` (Twilio's reference implementation of
``X-Twilio-Signature``: HMAC-SHA1 keyed with the auth token over the URL followed by every
parameter name and value in name order, base64; it also accepts the URL with or without the
default port, as Twilio signs either).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import structlog
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from ..config.settings import TwilioSettings
from ..store.inbox_models import MessageStatus
from . import ProviderRejected, ProviderUnavailable, SendResult

__all__ = [
    "SIGNATURE_HEADER",
    "TwilioProvider",
    "signature",
    "status_from_twilio",
    "valid_signature",
]

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"

# Twilio's message statuses (the Message resource's "status") and ours.
_STATUSES: dict[str, MessageStatus] = {
    "accepted": MessageStatus.QUEUED,
    "scheduled": MessageStatus.QUEUED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "partially_delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
    "receiving": MessageStatus.RECEIVED,
    "received": MessageStatus.RECEIVED,
}


def status_from_twilio(status: str) -> MessageStatus | None:
    """Our status for one of Twilio's (``sending`` → sent); None for one we do not know."""
    return _STATUSES.get(status.strip().lower())


class _Params(dict[str, list[str]]):
    """Form parameters with repeated names, as ``RequestValidator`` reads them (``getall``)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def _params(pairs: Sequence[tuple[str, str]]) -> _Params:
    params = _Params()
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def signature(auth_token: str, url: str, pairs: Sequence[tuple[str, str]]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a POST of ``pairs`` to ``url``."""
    computed: str = RequestValidator(auth_token).compute_signature(url, _params(pairs))
    return computed


def valid_signature(
    auth_token: str, url: str, pairs: Sequence[tuple[str, str]], header: str | None
) -> bool:
    """Whether ``header`` is Twilio's signature of this request (False when missing)."""
    if not header:
        return False
    valid: bool = RequestValidator(auth_token).validate(url, _params(pairs), header)
    return valid


class TwilioProvider:
    """Sends through Twilio's REST API. ``client`` may be injected (tests, shared pools)."""

    name = "twilio"

    def __init__(self, settings: TwilioSettings, *, client: httpx.AsyncClient | None = None):
        if not settings.account_sid or settings.auth_token is None:
            raise ValueError("the twilio provider needs an account_sid and an auth_token")
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.timeout)
        base = settings.api_base_url.rstrip("/")
        self._url = f"{base}/2010-04-01/Accounts/{settings.account_sid}/Messages.json"

    async def send(
        self, from_e164: str, to_e164: str, body: str, media_urls: Sequence[str]
    ) -> SendResult:
        # A list value is sent as the field repeated: MediaUrl=a&MediaUrl=b.
        data: dict[str, str | list[str]] = {"To": to_e164, "From": from_e164}
        if body:
            data["Body"] = body
        if media_urls:
            data["MediaUrl"] = list(media_urls)
        if self._settings.status_callback_url:
            data["StatusCallback"] = self._settings.status_callback_url
        token = self._settings.auth_token
        assert token is not None
        try:
            response = await self._client.post(
                self._url, data=data, auth=(self._settings.account_sid, token.get_secret_value())
            )
        except httpx.HTTPError as error:
            log.warning("twilio_unreachable", error_type=type(error).__name__)
            raise ProviderUnavailable(f"twilio did not answer: {type(error).__name__}") from None
        return _result(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _result(response: httpx.Response) -> SendResult:
    document = _json(response)
    if response.is_success:
        sid = document.get("sid") if document else None
        status = status_from_twilio(str(document.get("status", ""))) if document else None
        if not isinstance(sid, str) or not sid or status is None:
            log.warning("twilio_unreadable_answer", status=response.status_code)
            raise ProviderUnavailable(
                f"twilio answered {response.status_code} without a message sid and status",
                provider_status=response.status_code,
            )
        return SendResult(provider_id=sid, status=status)
    code = document.get("code") if document else None
    text = document.get("message") if document else None
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    detail = text if isinstance(text, str) and text else response.reason_phrase.lower()
    log.warning("twilio_refused", status=response.status_code, code=code)
    error_class = ProviderRejected if response.is_client_error else ProviderUnavailable
    suffix = f" (error {code})" if code is not None else ""
    raise error_class(
        f"twilio refused the message with {response.status_code}{suffix}: {detail}",
        provider_status=response.status_code,
        code=code,
    )
