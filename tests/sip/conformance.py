"""Locating ``shared/`` (conformance vectors, fuzz corpora) and reading its ``cases.tsv`` files.

The shared directory is ``$SHAREDLINE_SHARED_DIR`` when set, else ``<repo>/../shared``. It is
test input kept beside the product, not inside it. When it is missing the tests that need it fail
under CI (``$CI`` set: missing vectors must never pass silently) and are skipped elsewhere.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = [
    "ConformanceCase",
    "case_params",
    "missing_shared",
    "read_tsv",
    "require_shared",
    "rfc4475_cases",
    "rfc5118_cases",
    "shared_dir",
]

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """Where the shared test data lives (it may not exist)."""
    configured = os.environ.get("SHAREDLINE_SHARED_DIR")
    return Path(configured) if configured else REPO.parent / "shared"


def missing_shared(what: str) -> NoReturn:
    """Fail under CI, skip elsewhere: the shared test data ``what`` is not there."""
    message = f"shared test data not found: {what} (set SHAREDLINE_SHARED_DIR)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_shared(*parts: str) -> Path:
    """``shared_dir() / parts``, or fail/skip through :func:`missing_shared` when absent."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        missing_shared(str(path))
    return path


def read_tsv(path: Path) -> list[dict[str, str]]:
    """The rows of a tab-separated file with a header line (quoted fields as RFC 4180)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@dataclass(frozen=True, slots=True)
class ConformanceCase:
    """One row of a ``cases.tsv``: the file to send and what must happen to it."""

    name: str
    expect: str
    path: Path
    size: int
    sha256: str
    row: dict[str, str]

    def read(self) -> bytes:
        """The file's bytes, after checking they are the bytes the row describes."""
        data = self.path.read_bytes()
        assert len(data) == self.size, f"{self.path}: {len(data)} bytes, cases.tsv says {self.size}"
        digest = hashlib.sha256(data).hexdigest()
        assert digest == self.sha256, f"{self.path}: SHA-256 {digest} differs from cases.tsv"
        return data


def _cases(rfc: str, file: str, size: str, sha256: str) -> list[ConformanceCase]:
    folder = shared_dir() / "conformance" / rfc
    table = folder / "cases.tsv"
    if not table.exists():
        return []
    return [
        ConformanceCase(
            name=row["name"],
            expect=row["expect"],
            path=folder / row[file],
            size=int(row[size]),
            sha256=row[sha256],
            row=row,
        )
        for row in read_tsv(table)
    ]


def rfc4475_cases() -> list[ConformanceCase]:
    """Every RFC 4475 row, or ``[]`` when the shared directory is missing."""
    return _cases("rfc4475", "file", "bytes", "sha256")


def rfc5118_cases() -> list[ConformanceCase]:
    """Every RFC 5118 row with its on-the-wire file (``wire/``), or ``[]`` when missing."""
    return _cases("rfc5118", "wire_file", "wire_bytes", "wire_sha256")


def case_params(cases: list[ConformanceCase]) -> list[Any]:
    """``pytest.param`` per case (id = name); one ``None`` placeholder when there are none.

    The placeholder keeps the test collected, so it can fail under CI via :func:`missing_shared`
    instead of vanishing as an empty parametrization.
    """
    if not cases:
        return [pytest.param(None, id="shared-dir-missing")]
    return [pytest.param(case, id=case.name) for case in cases]
