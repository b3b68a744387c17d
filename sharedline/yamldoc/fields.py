"""Field types shared by the admins' YAML documents (provisioning, call flows).

Each raises a pydantic custom error whose message an admin can act on; the ``source`` module
turns it into ``FILE:LINE:COLUMN path: message``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, StringConstraints
from pydantic_core import PydanticCustomError

__all__ = ["E164", "E164_RE", "Email", "Password", "text"]

E164_RE = re.compile(r"\+[1-9][0-9]{1,14}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")


def _e164_before(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        raise PydanticCustomError(
            "e164_unquoted",
            'put E.164 numbers in quotes ("+{digits}"): YAML reads +{digits} as an integer',
            {"digits": str(abs(value))},
        )
    return value


def _e164_after(value: str) -> str:
    if not E164_RE.fullmatch(value):
        raise PydanticCustomError(
            "e164",
            "{value} is not an E.164 number: '+' then 2 to 15 digits, the first not 0",
            {"value": repr(value)},
        )
    return value


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL_RE.fullmatch(value):
        raise PydanticCustomError(
            "email", "{value} is not an email address", {"value": repr(value)}
        )
    return value


def text(max_length: int) -> Any:
    """A stripped, non-empty string of at most ``max_length`` characters."""
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


E164 = Annotated[str, BeforeValidator(_e164_before), AfterValidator(_e164_after)]
Email = Annotated[str, text(320), AfterValidator(_email)]
Password = Annotated[SecretStr, Field(min_length=1, max_length=1000)]
