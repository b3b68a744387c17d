"""Sending messages from a shared number (with collision control), delivery status, and
messages arriving from the provider."""

from __future__ import annotations

from fastapi import APIRouter

from .errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(tags=["messages"], responses=ERROR_RESPONSES)
