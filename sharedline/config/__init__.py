"""Typed settings, loaded once by the composition root and passed down."""

from __future__ import annotations

from .settings import ListenAddress, Settings, SipSettings, load_settings

__all__ = ["ListenAddress", "Settings", "SipSettings", "load_settings"]
