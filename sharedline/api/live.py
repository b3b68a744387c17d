"""Live events over WebSocket: every change on the numbers a user may see, and typing."""

from __future__ import annotations

from fastapi import APIRouter

from .errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["live"], responses=ERROR_RESPONSES)
