"""Per-number authorization for route handlers, on top of ``inbox.permissions``.

:func:`number_for` finds a number of the caller's workspace and checks one action: a number the
caller cannot see answers 404 (its existence must not leak), a visible number with too little
role answers 403. Later routes (conversations, calls, voicemail) use it the same way.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..inbox.permissions import Action, allowed, visible
from ..store import accounts
from ..store.accounts import Account, NumberAccess
from .errors import Forbidden, NumberNotFound

__all__ = ["number_for", "require", "require_workspace"]


async def number_for(
    session: AsyncSession, account: Account, e164: str, action: Action, *, lock: bool = False
) -> NumberAccess:
    """The number, if ``account`` may do ``action`` on it; else 404 (not visible) or 403."""
    number = await accounts.number_access(session, account, e164, lock=lock)
    if number is None or not visible(account.role, number.role):
        raise NumberNotFound(f"no number {e164}", number=e164)
    require(account, number, action)
    return number


def require(account: Account, number: NumberAccess, action: Action) -> None:
    """403 unless ``account`` may do ``action`` on the (visible) ``number``."""
    if not allowed(account.role, number.role, action):
        role = number.role.value if number.role else "none"
        raise Forbidden(
            f"your role on {number.e164} ({role}) does not allow {action.value}",
            number=number.e164,
            action=action.value,
            role=role,
        )


def require_workspace(account: Account, action: Action) -> None:
    """403 unless the account's workspace role allows a workspace-wide ``action``."""
    if not allowed(account.role, None, action):
        raise Forbidden(
            f"your workspace role ({account.role.value}) does not allow {action.value}",
            action=action.value,
            role=account.role.value,
        )
