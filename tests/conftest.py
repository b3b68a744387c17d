"""Hypothesis profiles: ``dev`` (the default) and ``ci`` (derandomized, more examples).

Select one with ``HYPOTHESIS_PROFILE=ci``. The ``ci`` profile is derandomized so a CI failure
reproduces locally with the same profile, and runs more examples because CI has the time.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=100)
settings.register_profile(
    "ci",
    max_examples=500,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
