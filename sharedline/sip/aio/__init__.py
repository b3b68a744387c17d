"""The only asyncio in :mod:`sharedline.sip`: thin pumps between sockets and the sans-IO core."""

from __future__ import annotations

from .endpoint import SipEndpoint

__all__ = ["SipEndpoint"]
