"""Internal comments on messages, calls and voicemail, and their threads of replies."""

from __future__ import annotations

from fastapi import APIRouter

from .errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["comments"], responses=ERROR_RESPONSES)
