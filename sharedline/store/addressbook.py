"""The workspace's shared address book (DESIGN.md "Team inbox"), and caller names for the switch.

A contact has a name, notes and any number of phone numbers; a number names at most one contact
per workspace (the table's unique constraint), so a caller's number finds one name. Numbers are
stored in E.164; :func:`normalise_number` turns what a SIP From header or a person typed
(``12125550100``, ``+1 (212) 555-0100``, ``0012125550100``) into that form.

Every function takes the caller's ``AsyncSession`` and leaves committing to it; results are
dataclasses, never ORM rows (STYLE.md §9). Errors are the accounts tree's, so the API maps them:

    AccountError
     ├── NotFound        no such contact in this workspace (404)
     └── NumberTaken     the number is on another contact already (409 ``number_taken``)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .accounts import AccountError, NotFound
from .database import Database
from .inbox_models import Contact, ContactNumber

__all__ = [
    "ContactNumberView",
    "ContactView",
    "NumberTaken",
    "caller_names",
    "create_contact",
    "delete_contact",
    "get_contact",
    "list_contacts",
    "lookup_contact",
    "names_for",
    "normalise_number",
    "number_variants",
    "update_contact",
]

_SEPARATORS = re.compile(r"[\s().\-/]")
_DIGITS = re.compile(r"[1-9][0-9]{1,14}")


class NumberTaken(AccountError):
    code = "number_taken"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactNumberView:
    e164: str
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactView:
    """A contact of the address book."""

    id: int
    name: str
    notes: str
    numbers: tuple[ContactNumberView, ...]
    created_at: datetime
    updated_at: datetime


def aware(moment: datetime) -> datetime:
    """A stored time, timezone-aware (SQLite hands back the UTC value without its zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def normalise_number(raw: str) -> str | None:
    """``raw`` in E.164 (``+12125550100``), or None if it is not a phone number.

    Visual separators go; a leading ``00`` or a bare run of digits (what many carriers put in
    the From user part) reads as international: ``12125550100`` is ``+12125550100``.
    """
    text = _SEPARATORS.sub("", raw)
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    return f"+{text}" if _DIGITS.fullmatch(text) else None


def number_variants(e164: str) -> list[str]:
    """The spellings of an E.164 number a call record may hold: with and without the plus."""
    return [e164, e164.removeprefix("+")] if e164.startswith("+") else [e164]


def _view(contact: Contact) -> ContactView:
    return ContactView(
        id=contact.id,
        name=contact.name,
        notes=contact.notes,
        numbers=tuple(ContactNumberView(e164=n.e164, label=n.label) for n in contact.numbers),
        created_at=aware(contact.created_at),
        updated_at=aware(contact.updated_at),
    )


async def _contact(session: AsyncSession, workspace_id: int, contact_id: int) -> Contact:
    contact = await session.scalar(
        select(Contact)
        .where(Contact.id == contact_id, Contact.workspace_id == workspace_id)
        .options(selectinload(Contact.numbers))
    )
    if contact is None:
        raise NotFound(f"no contact {contact_id} in this workspace", contact_id=contact_id)
    return contact


async def _check_free(
    session: AsyncSession, workspace_id: int, numbers: Iterable[str], contact_id: int | None
) -> None:
    """Raise :class:`NumberTaken` if one of ``numbers`` is on a contact but ``contact_id``."""
    wanted = list(numbers)
    if not wanted:
        return
    row = (
        await session.execute(
            select(ContactNumber.e164, Contact.id, Contact.name)
            .join(Contact, ContactNumber.contact_id == Contact.id)
            .where(ContactNumber.workspace_id == workspace_id, ContactNumber.e164.in_(wanted))
            .where(Contact.id != (contact_id or 0))
            .order_by(ContactNumber.e164)
            .limit(1)
        )
    ).first()
    if row is not None:
        e164, other_id, other_name = row
        raise NumberTaken(
            f"{e164} is already on the contact {other_name!r}",
            number=e164,
            contact_id=other_id,
            contact_name=other_name,
        )


async def _flush(
    session: AsyncSession, workspace_id: int, numbers: Sequence[str], contact_id: int | None
) -> None:
    # Two requests may pass the check at once; the unique constraint decides, and the loser is
    # told which contact won.
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        await _check_free(session, workspace_id, numbers, contact_id)
        raise


async def list_contacts(
    session: AsyncSession, workspace_id: int, *, q: str | None = None, limit: int = 100
) -> list[ContactView]:
    """The workspace's contacts by name; ``q`` matches part of a name or of a number."""
    query = select(Contact).where(Contact.workspace_id == workspace_id)
    if q:
        matches = [func.lower(Contact.name).contains(q.lower(), autoescape=True)]
        digits = re.sub(r"[^0-9]", "", q)
        if digits:
            matches.append(
                Contact.id.in_(
                    select(ContactNumber.contact_id).where(
                        ContactNumber.workspace_id == workspace_id,
                        ContactNumber.e164.contains(digits, autoescape=True),
                    )
                )
            )
        query = query.where(or_(*matches))
    rows = await session.scalars(
        query.order_by(func.lower(Contact.name), Contact.id)
        .limit(limit)
        .options(selectinload(Contact.numbers))
    )
    return [_view(contact) for contact in rows]


async def get_contact(session: AsyncSession, workspace_id: int, contact_id: int) -> ContactView:
    """One contact; raises :class:`NotFound` if it is not in the workspace."""
    return _view(await _contact(session, workspace_id, contact_id))


async def create_contact(
    session: AsyncSession,
    workspace_id: int,
    *,
    name: str,
    numbers: Sequence[tuple[str, str]],
    notes: str,
    now: datetime,
) -> ContactView:
    """Add a contact with ``numbers`` as ``(e164, label)``; raises :class:`NumberTaken`."""
    e164s = [e164 for e164, _ in numbers]
    await _check_free(session, workspace_id, e164s, None)
    contact = Contact(
        workspace_id=workspace_id, name=name, notes=notes, created_at=now, updated_at=now
    )
    contact.numbers = [
        ContactNumber(workspace_id=workspace_id, e164=e164, label=label) for e164, label in numbers
    ]
    session.add(contact)
    await _flush(session, workspace_id, e164s, None)
    return _view(contact)


async def update_contact(
    session: AsyncSession,
    workspace_id: int,
    contact_id: int,
    *,
    now: datetime,
    name: str | None = None,
    notes: str | None = None,
    numbers: Sequence[tuple[str, str]] | None = None,
) -> ContactView:
    """Change what is given; ``numbers`` replaces the contact's list. Raises :class:`NotFound`,
    :class:`NumberTaken`."""
    contact = await _contact(session, workspace_id, contact_id)
    if name is not None:
        contact.name = name
    if notes is not None:
        contact.notes = notes
    if numbers is not None:
        e164s = [e164 for e164, _ in numbers]
        await _check_free(session, workspace_id, e164s, contact_id)
        labels = dict(numbers)
        for number in list(contact.numbers):
            if number.e164 in labels:
                number.label = labels.pop(number.e164)
            else:
                contact.numbers.remove(number)  # delete-orphan
        # Deletes first, so a number moving between contacts never meets the unique constraint.
        await _flush(session, workspace_id, e164s, contact_id)
        contact.numbers.extend(
            ContactNumber(workspace_id=workspace_id, e164=e164, label=label)
            for e164, label in labels.items()
        )
    contact.updated_at = now
    await _flush(
        session, workspace_id, [] if numbers is None else [e for e, _ in numbers], contact_id
    )
    return _view(contact)


async def delete_contact(session: AsyncSession, workspace_id: int, contact_id: int) -> None:
    """Remove a contact and its numbers; raises :class:`NotFound`."""
    contact = await _contact(session, workspace_id, contact_id)
    await session.delete(contact)


async def lookup_contact(
    session: AsyncSession, workspace_id: int, number: str
) -> ContactView | None:
    """The contact ``number`` (any spelling :func:`normalise_number` reads) belongs to, if any."""
    e164 = normalise_number(number)
    if e164 is None:
        return None
    contact_id = await session.scalar(
        select(ContactNumber.contact_id).where(
            ContactNumber.workspace_id == workspace_id, ContactNumber.e164 == e164
        )
    )
    return None if contact_id is None else await get_contact(session, workspace_id, contact_id)


async def names_for(
    session: AsyncSession, workspace_id: int, numbers: Iterable[str]
) -> dict[str, tuple[int, str]]:
    """For each of ``numbers`` (E.164) on a contact: the contact's id and name."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    rows = await session.execute(
        select(ContactNumber.e164, Contact.id, Contact.name)
        .join(Contact, ContactNumber.contact_id == Contact.id)
        .where(ContactNumber.workspace_id == workspace_id, ContactNumber.e164.in_(wanted))
    )
    return {e164: (contact_id, name) for e164, contact_id, name in rows}


async def caller_names(source: AsyncSession | Database) -> dict[int, dict[str, str]]:
    """Every workspace's address book as workspace id → E.164 → name, for ringing phones."""
    if isinstance(source, Database):
        async with source.session() as session:
            return await caller_names(session)
    names: dict[int, dict[str, str]] = {}
    rows = await source.execute(
        select(ContactNumber.workspace_id, ContactNumber.e164, Contact.name).join(
            Contact, ContactNumber.contact_id == Contact.id
        )
    )
    for workspace_id, e164, name in rows:
        names.setdefault(workspace_id, {})[e164] = name
    return names
