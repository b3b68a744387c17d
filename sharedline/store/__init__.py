"""Persistence: SQLAlchemy 2 (async) models and migrations; SQLite by default, PostgreSQL by URL.

``sip/``, ``routing/`` and ``callflows/`` never import this package; adapters and the
composition root do.
"""

from __future__ import annotations

from . import inbox_models  # noqa: F401 (registers the inbox tables on Base.metadata)
from .database import Database, migrate
from .models import (
    PLAN_USER_LIMITS,
    RINGING_LIMIT,
    ApiToken,
    AuditEntry,
    AvailabilityRecord,
    Base,
    CallLeg,
    CallRecord,
    Device,
    Invitation,
    NumberMembership,
    NumberRole,
    PhoneNumber,
    Plan,
    Registration,
    RingTurn,
    Trunk,
    User,
    Workspace,
    WorkspaceRole,
)

__all__ = [
    "PLAN_USER_LIMITS",
    "RINGING_LIMIT",
    "ApiToken",
    "AuditEntry",
    "AvailabilityRecord",
    "Base",
    "CallLeg",
    "CallRecord",
    "Database",
    "Device",
    "Invitation",
    "NumberMembership",
    "NumberRole",
    "PhoneNumber",
    "Plan",
    "Registration",
    "RingTurn",
    "Trunk",
    "User",
    "Workspace",
    "WorkspaceRole",
    "migrate",
]
