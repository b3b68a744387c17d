"""Conversations per (shared number, contact): their timeline of messages, calls and
voicemail, who opened them and when; calls and voicemail per number."""

from __future__ import annotations

from fastapi import APIRouter

from .errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["conversations"], responses=ERROR_RESPONSES)
