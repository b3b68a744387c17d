"""Sending SMS/MMS from a shared number through a provider, behind one port.

:class:`MessagingProvider` is the port the API sends through: ``send(from, to, body, media)``
returns a :class:`SendResult` (the provider's id for the message and its first status) or raises
a :class:`MessagingError`. Two adapters implement it: :class:`~.loopback.LoopbackProvider`
(development and tests: records what it was given) and :class:`~.twilio.TwilioProvider`
(Twilio's REST API). Delivery reports and inbound messages come back through webhooks
(``sharedline.api.messages``), not through the port.

Errors, each with the HTTP status the API answers with (``status_code``)::

    MessagingError          502 provider_error
     ├── ProviderRejected   the provider refused the message (Twilio 4xx: bad number, auth …)
     └── ProviderUnavailable  no answer, a 5xx, or an answer we cannot read
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from ..store.inbox_models import MessageStatus

__all__ = [
    "MessagingError",
    "MessagingProvider",
    "ProviderRejected",
    "ProviderUnavailable",
    "SendResult",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """What the provider said when it took a message."""

    provider_id: str
    """The provider's id for the message (Twilio's ``SM...`` sid)."""
    status: MessageStatus
    """Its status now: usually queued or sent; delivery comes later by webhook."""


class MessagingError(Exception):
    """The provider did not take the message; ``message`` is for people, ``code`` the
    provider's own error code when it gave one."""

    status_code: ClassVar[int] = 502
    error_code: ClassVar[str] = "provider_error"

    def __init__(
        self, message: str, *, provider_status: int | None = None, code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider_status = provider_status
        self.code = code


class ProviderRejected(MessagingError):
    """The provider answered and refused (Twilio: a 4xx with a JSON ``code`` and ``message``)."""


class ProviderUnavailable(MessagingError):
    """No usable answer: a network error, a timeout, a 5xx or a body we cannot read."""


class MessagingProvider(Protocol):
    """A way out for messages (the port ``sharedline.api.messages`` sends through)."""

    name: str
    """Stored with each message (``Message.provider``) to find it again by provider id."""

    async def send(
        self, from_e164: str, to_e164: str, body: str, media_urls: Sequence[str]
    ) -> SendResult:
        """Hand one message to the provider; raise :class:`MessagingError` if it is not taken."""
        ...

    async def aclose(self) -> None:
        """Release connections; the provider is not used afterwards."""
        ...
