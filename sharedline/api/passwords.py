"""Password hashing: argon2id (RFC 9106) with the settings' cost parameters.

Unknown users are checked against a dummy hash, so a login takes about as long whether or not
the email exists. Hashes made with older parameters are upgraded at the next successful login
(:meth:`Passwords.needs_rehash`).
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ..config.settings import ApiSettings

__all__ = ["Passwords"]


class Passwords:
    """Hash and check users' API passwords."""

    def __init__(self, settings: ApiSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_cost,
            parallelism=settings.password_parallelism,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        self.min_length = settings.min_password_length

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; None (no password set) never matches."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
