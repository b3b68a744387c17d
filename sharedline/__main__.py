"""``python -m sharedline``: the same as the ``sharedline`` command."""

from __future__ import annotations

from .cli import main

main()
