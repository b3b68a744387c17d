"""sharedline: a call-routing engine and team inbox for shared phone numbers."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
