"""A provider that sends nothing: it records each message, for development and tests.

Every message is taken with status ``sent`` (or :attr:`LoopbackProvider.status`) and an id
``LB1``, ``LB2`` …; :meth:`LoopbackProvider.fail_next` makes the next send raise, as a provider
refusing a message would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from ..store.inbox_models import MessageStatus
from . import MessagingError, SendResult

__all__ = ["LoopbackProvider", "SentMessage"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SentMessage:
    """One message the loopback provider was given."""

    provider_id: str
    from_e164: str
    to_e164: str
    body: str
    media_urls: tuple[str, ...]


class LoopbackProvider:
    """Takes every message and keeps it in :attr:`sent`."""

    name = "loopback"

    def __init__(self, *, status: MessageStatus = MessageStatus.SENT) -> None:
        self.status = status
        """The status reported for each message taken (``delivered`` to skip the wait)."""
        self.sent: list[SentMessage] = []
        self._failure: MessagingError | None = None

    def fail_next(self, error: MessagingError) -> None:
        """Make the next :meth:`send` raise ``error`` (once)."""
        self._failure = error

    async def send(
        self, from_e164: str, to_e164: str, body: str, media_urls: Sequence[str]
    ) -> SendResult:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        provider_id = f"LB{len(self.sent) + 1}"
        self.sent.append(
            SentMessage(
                provider_id=provider_id,
                from_e164=from_e164,
                to_e164=to_e164,
                body=body,
                media_urls=tuple(media_urls),
            )
        )
        log.info("loopback_message_sent", provider_id=provider_id, to=to_e164)
        return SendResult(provider_id=provider_id, status=self.status)

    async def aclose(self) -> None:
        return None
