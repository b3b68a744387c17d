"""The workspace's shared address book: contacts with names, numbers and notes, and
caller-name lookup.

Product reference: "Shared business address book for all team members". Every workspace user
reads, adds and edits contacts; deleting one is for workspace Owners and Admins
(``Action.DELETE_CONTACT``). A number names at most one contact: adding it to another answers
409 ``number_taken`` with the contact that has it. Contacts of another workspace do not exist
here (404). Contact changes are not pushed live: they are not about one number.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ..inbox.permissions import Action
from ..store import addressbook
from ..store.accounts import NotFound
from ..store.addressbook import ContactView
from .access import require_workspace
from .auth import CurrentUser
from .errors import ERROR_RESPONSES
from .inbox_schemas import ContactIn, ContactNumberIn, ContactNumberOut, ContactOut, ContactPatchIn
from .schemas import E164_PATTERN, MAX_ID
from .state import Session, State

__all__ = ["router"]

router = APIRouter(tags=["contacts"], responses=ERROR_RESPONSES)

ContactIdPath = Annotated[int, Path(gt=0, le=MAX_ID)]


def contact_out(contact: ContactView) -> ContactOut:
    return ContactOut(
        id=contact.id,
        name=contact.name,
        numbers=[ContactNumberOut(e164=n.e164, label=n.label) for n in contact.numbers],
        notes=contact.notes,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


def _pairs(numbers: list[ContactNumberIn]) -> list[tuple[str, str]]:
    return [(n.e164, n.label) for n in numbers]


@router.get("/contacts", operation_id="listContacts", response_model=list[ContactOut])
async def list_contacts(
    account: CurrentUser,
    session: Session,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="part of a name or number")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ContactOut]:
    """The address book by name; ``q`` searches names and numbers."""
    contacts = await addressbook.list_contacts(session, account.workspace_id, q=q, limit=limit)
    return [contact_out(c) for c in contacts]


@router.post("/contacts", operation_id="createContact", status_code=201, response_model=ContactOut)
async def create_contact(
    body: ContactIn, account: CurrentUser, session: Session, state: State
) -> ContactOut:
    """Add a contact; a number on another contact answers 409 ``number_taken``."""
    contact = await addressbook.create_contact(
        session,
        account.workspace_id,
        name=body.name,
        numbers=_pairs(body.numbers),
        notes=body.notes,
        now=state.clock(),
    )
    await session.commit()
    return contact_out(contact)


@router.get("/contacts/lookup", operation_id="lookupContact", response_model=ContactOut)
async def lookup_contact(
    account: CurrentUser,
    session: Session,
    number: Annotated[str, Query(pattern=E164_PATTERN, description="E.164: +14155550100")],
) -> ContactOut:
    """The contact a number belongs to; 404 if it is on none."""
    contact = await addressbook.lookup_contact(session, account.workspace_id, number)
    if contact is None:
        raise NotFound(f"no contact has the number {number}", number=number)
    return contact_out(contact)


@router.get("/contacts/{contact_id}", operation_id="getContact", response_model=ContactOut)
async def get_contact(
    contact_id: ContactIdPath, account: CurrentUser, session: Session
) -> ContactOut:
    """One contact."""
    return contact_out(await addressbook.get_contact(session, account.workspace_id, contact_id))


@router.patch("/contacts/{contact_id}", operation_id="updateContact", response_model=ContactOut)
async def update_contact(
    contact_id: ContactIdPath,
    body: ContactPatchIn,
    account: CurrentUser,
    session: Session,
    state: State,
) -> ContactOut:
    """Change a contact's name, notes or numbers (``numbers`` replaces the list)."""
    contact = await addressbook.update_contact(
        session,
        account.workspace_id,
        contact_id,
        now=state.clock(),
        name=body.name,
        notes=body.notes,
        numbers=None if body.numbers is None else _pairs(body.numbers),
    )
    await session.commit()
    return contact_out(contact)


@router.delete(
    "/contacts/{contact_id}",
    operation_id="deleteContact",
    status_code=204,
    response_class=Response,
)
async def delete_contact(
    contact_id: ContactIdPath, account: CurrentUser, session: Session
) -> Response:
    """Remove a contact: workspace Owners and Admins."""
    await addressbook.get_contact(session, account.workspace_id, contact_id)  # 404 before 403
    require_workspace(account, Action.DELETE_CONTACT)
    await addressbook.delete_contact(session, account.workspace_id, contact_id)
    await session.commit()
    return Response(status_code=204)
