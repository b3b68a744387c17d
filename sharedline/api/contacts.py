"""The workspace's shared address book: contacts with names, numbers and notes, and
caller-name lookup."""

from __future__ import annotations

from fastapi import APIRouter

from .errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["contacts"], responses=ERROR_RESPONSES)
