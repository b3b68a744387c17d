"""Where Call-IDs, tags and branches come from: injected, so tests are deterministic."""

from __future__ import annotations

import itertools
import secrets
from typing import Protocol

__all__ = ["MAGIC_COOKIE", "CountingIds", "IdSource", "RandomIds"]

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7


class IdSource(Protocol):
    """Makes the identifiers a SIP element invents."""

    def branch(self) -> str:
        """A Via branch, unique in space and time, starting with the magic cookie."""
        ...

    def tag(self) -> str:
        """A From/To tag with at least 32 bits of randomness (RFC 3261 §19.3)."""
        ...

    def call_id(self) -> str:
        """A globally unique Call-ID (RFC 3261 §8.1.1.4)."""
        ...


class RandomIds:
    """Production identifiers: 128 random bits each, so dialogs cannot be guessed."""

    def branch(self) -> str:
        return MAGIC_COOKIE + secrets.token_hex(12)

    def tag(self) -> str:
        return secrets.token_hex(8)

    def call_id(self) -> str:
        return secrets.token_hex(16)


class CountingIds:
    """Predictable identifiers for tests: ``z9hG4bK-1``, ``tag-2``, ``call-3``..."""

    def __init__(self, prefix: str = "") -> None:
        self._counter = itertools.count(1)
        self._prefix = prefix

    def branch(self) -> str:
        return f"{MAGIC_COOKIE}-{self._prefix}{next(self._counter)}"

    def tag(self) -> str:
        return f"tag-{self._prefix}{next(self._counter)}"

    def call_id(self) -> str:
        return f"call-{self._prefix}{next(self._counter)}"
