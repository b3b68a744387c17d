"""Logging in and out, and the :func:`current_user` dependency every other route uses.

``POST /auth/token`` trades an email and password for an opaque bearer token
(``secrets.token_urlsafe(32)``), stored only as its SHA-256 hash, valid ``api.token_ttl``
seconds; ``POST /auth/logout`` revokes the token it is called with. Unknown emails and wrong
passwords get the same 401, after the same argon2 work. Neither passwords nor tokens are logged.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..store import accounts
from ..store.accounts import Account
from .errors import ERROR_RESPONSES, InvalidRequest, NotAuthenticated
from .schemas import AccountOut, LoginIn, TokenOut
from .state import Session, State

__all__ = ["CurrentUser", "account_out", "current_user", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)

_bearer = HTTPBearer(auto_error=False, description="a token from POST /auth/token")
_BAD_LOGIN = "wrong email or password"


async def current_user(
    session: Session,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Account:
    """The caller, from ``Authorization: Bearer TOKEN``; 401 if missing, unknown or expired."""
    if credentials is None:
        raise NotAuthenticated("a bearer token is required (POST /auth/token)")
    account = await accounts.account_for_token(session, credentials.credentials, now=state.clock())
    if account is None:
        raise NotAuthenticated("the bearer token is unknown, expired or revoked")
    structlog.contextvars.bind_contextvars(user_id=account.id)
    return account


CurrentUser = Annotated[Account, Depends(current_user)]


def account_out(account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        email=account.email,
        name=account.name,
        role=account.role,
        workspace=account.workspace,
    )


@router.post("/token", operation_id="login", response_model=TokenOut)
async def login(body: LoginIn, session: Session, state: State) -> TokenOut:
    """Log in with email and password; the token goes in ``Authorization: Bearer``."""
    passwords = state.passwords
    candidates = await accounts.find_credentials(session, body.email, body.workspace)
    if not candidates:
        await asyncio.to_thread(passwords.verify, None, body.password)  # same work as a user's
        log.info("login_failed", reason="unknown")
        raise NotAuthenticated(_BAD_LOGIN)
    matches = [
        candidate
        for candidate in candidates
        if await asyncio.to_thread(passwords.verify, candidate.password_hash, body.password)
    ]
    if not matches:
        log.info("login_failed", reason="password")
        raise NotAuthenticated(_BAD_LOGIN)
    if len(matches) > 1:
        raise InvalidRequest(
            "this email is in several workspaces: name one in 'workspace'",
            workspaces=[m.workspace for m in matches],
        )
    (credential,) = matches
    now = state.clock()
    if credential.password_hash is not None and passwords.needs_rehash(credential.password_hash):
        new_hash = await asyncio.to_thread(passwords.hash, body.password)
        await accounts.set_password_hash(session, credential.user_id, new_hash, now=now)
    issued = await accounts.issue_token(
        session, credential.user_id, now=now, ttl=timedelta(seconds=state.settings.token_ttl)
    )
    account = await accounts.account_for_token(session, issued.token, now=now)
    assert account is not None
    await session.commit()
    log.info("login_succeeded", user_id=credential.user_id)
    return TokenOut(
        access_token=issued.token, expires_at=issued.expires_at, user=account_out(account)
    )


@router.post("/logout", operation_id="logout", status_code=204, response_class=Response)
async def logout(
    _: CurrentUser,
    session: Session,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Response:
    """Revoke the token this request carries."""
    assert credentials is not None  # current_user checked it
    await accounts.revoke_token(session, credentials.credentials, now=state.clock())
    await session.commit()
    return Response(status_code=204)


@router.get("/me", operation_id="whoami", response_model=AccountOut)
async def whoami(account: CurrentUser) -> AccountOut:
    """The user the token belongs to."""
    return account_out(account)
