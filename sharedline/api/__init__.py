"""The team inbox REST API (FastAPI), served by ``sharedline serve`` on the switch's store.

- :mod:`.app`: :func:`create_app`, the application factory.
- :mod:`.auth`: login, logout, and the :func:`~.auth.current_user` dependency (Bearer tokens).
- :mod:`.access`: per-number authorization for route handlers (404 for numbers one cannot see).
- :mod:`.team`: numbers, their members, workspace users, invitations, the audit log.
- :mod:`.errors`: every 4xx as ``{"error": {"code", "message", "details"}}``.
- :mod:`.passwords`: argon2id hashing.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
