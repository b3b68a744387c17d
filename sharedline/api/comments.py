"""Internal comments on messages, calls and voicemail, and their threads of replies.

Any member of the conversation's number may comment and reply (``Action.COMMENT``); everyone
else gets 404, as for the conversation itself. The item commented on must be the conversation's
(:func:`sharedline.store.comments.item_belongs`), else 404. Threads are one level deep: replying
to a reply adds to its root's thread. Only the author edits (``edited_at``) or deletes a comment
(403 otherwise, also for workspace Owners: a comment speaks for its author); deleting empties the
body and sets ``deleted_at``, and the replies stay. A deleted comment can no longer be edited
(409), but its thread can still be replied to.

Events: ``comment.created`` for a root, ``thread.reply`` for a reply, ``comment.updated``,
``comment.deleted``; each payload is the comment as the API shows it.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ..inbox.events import EventKind, JSONValue
from ..inbox.permissions import Action
from ..store import comments as store
from ..store.accounts import Account, NumberAccess
from ..store.comments import CommentRecord, CommentRef
from ..store.inbox_models import ItemKind
from .access import number_for
from .auth import CurrentUser
from .errors import ERROR_RESPONSES, ApiError, Forbidden, InvalidRequest, NumberNotFound
from .events import emit
from .message_schemas import (
    CommentEditIn,
    CommentIn,
    CommentOut,
    ReplyIn,
    ThreadOut,
    comment_out,
    thread_out,
)
from .messages import conversation_access
from .schemas import MAX_ID
from .state import ApiState, Session, State

__all__ = ["router"]

log = structlog.get_logger(__name__)

router = APIRouter(tags=["comments"], responses=ERROR_RESPONSES)

IdPath = Annotated[int, Path(gt=0, le=MAX_ID)]


class CommentDeleted(ApiError):
    status_code = 409
    code = "comment_deleted"


def _payload(comment: CommentRecord) -> dict[str, JSONValue]:
    payload: dict[str, JSONValue] = comment_out(comment).model_dump(mode="json")
    return payload


async def _emit(
    state: ApiState,
    kind: EventKind,
    number: NumberAccess,
    account: Account,
    comment: CommentRecord,
) -> None:
    await emit(
        state,
        kind,
        number,
        account,
        conversation_id=comment.conversation_id,
        payload=_payload(comment),
    )


async def _comment_for(
    session: AsyncSession, account: Account, comment_id: int
) -> tuple[CommentRef, NumberAccess]:
    """The comment and its number if the account may comment there; 404 otherwise."""
    found = await store.find_comment(session, account.workspace_id, comment_id)
    missing = NumberNotFound(f"no comment {comment_id}", comment_id=comment_id)
    if found is None:
        raise missing
    try:
        number = await number_for(session, account, found.number, Action.COMMENT)
    except NumberNotFound:
        raise missing from None
    return found, number


def _own(account: Account, comment: CommentRecord, verb: str) -> None:
    if comment.author_id != account.id:
        raise Forbidden(
            f"only its author may {verb} comment {comment.id}",
            comment_id=comment.id,
            author_id=comment.author_id,
        )
    if comment.deleted_at is not None:
        raise CommentDeleted(f"comment {comment.id} is deleted", comment_id=comment.id)


@router.post(
    "/conversations/{conversation_id}/comments",
    operation_id="createComment",
    status_code=201,
    response_model=CommentOut,
)
async def create_comment(
    conversation_id: IdPath, body: CommentIn, account: CurrentUser, session: Session, state: State
) -> CommentOut:
    """Comment on a message, call or voicemail of the conversation (starts a thread)."""
    conversation, number = await conversation_access(
        session, account, conversation_id, Action.COMMENT
    )
    if not await store.item_belongs(session, conversation, body.item_kind, body.item_id):
        raise NumberNotFound(
            f"no {body.item_kind.value} {body.item_id} in conversation {conversation.id}",
            item_kind=body.item_kind.value,
            item_id=body.item_id,
        )
    comment = await store.add_comment(
        session,
        conversation_id=conversation.id,
        item_kind=body.item_kind,
        item_id=body.item_id,
        author_id=account.id,
        body=body.body,
        now=state.clock(),
    )
    await session.commit()
    await _emit(state, EventKind.COMMENT_CREATED, number, account, comment)
    log.info("comment_created", comment_id=comment.id, conversation_id=conversation.id)
    return comment_out(comment)


@router.post(
    "/comments/{comment_id}/replies",
    operation_id="replyToComment",
    status_code=201,
    response_model=CommentOut,
)
async def reply_to_comment(
    comment_id: IdPath, body: ReplyIn, account: CurrentUser, session: Session, state: State
) -> CommentOut:
    """Reply in the comment's thread (a reply to a reply joins the root's thread)."""
    found, number = await _comment_for(session, account, comment_id)
    parent = found.comment
    root_id = parent.parent_id if parent.parent_id is not None else parent.id
    reply = await store.add_comment(
        session,
        conversation_id=parent.conversation_id,
        item_kind=parent.item_kind,
        item_id=parent.item_id,
        author_id=account.id,
        body=body.body,
        now=state.clock(),
        parent_id=root_id,
    )
    await session.commit()
    await _emit(state, EventKind.THREAD_REPLY, number, account, reply)
    log.info("thread_reply", comment_id=reply.id, root_id=root_id)
    return comment_out(reply)


@router.patch("/comments/{comment_id}", operation_id="editComment", response_model=CommentOut)
async def edit_comment(
    comment_id: IdPath, body: CommentEditIn, account: CurrentUser, session: Session, state: State
) -> CommentOut:
    """Change your own comment's text."""
    found, number = await _comment_for(session, account, comment_id)
    _own(account, found.comment, "edit")
    edited = await store.edit_comment(session, comment_id, body.body, now=state.clock())
    await session.commit()
    await _emit(state, EventKind.COMMENT_UPDATED, number, account, edited)
    return comment_out(edited)


@router.delete(
    "/comments/{comment_id}", operation_id="deleteComment", status_code=204, response_class=Response
)
async def delete_comment(
    comment_id: IdPath, account: CurrentUser, session: Session, state: State
) -> Response:
    """Delete your own comment: its text goes, its thread stays."""
    found, number = await _comment_for(session, account, comment_id)
    _own(account, found.comment, "delete")
    deleted = await store.delete_comment(session, comment_id, now=state.clock())
    await session.commit()
    await _emit(state, EventKind.COMMENT_DELETED, number, account, deleted)
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/comments",
    operation_id="listComments",
    response_model=list[ThreadOut],
)
async def list_comments(
    conversation_id: IdPath,
    account: CurrentUser,
    session: Session,
    item_kind: ItemKind | None = None,
    item_id: Annotated[int | None, Query(gt=0, le=2**63 - 1)] = None,
) -> list[ThreadOut]:
    """The conversation's threads, oldest first, each root with its replies; ``item_kind`` and
    ``item_id`` narrow them to one kind of item, or one item."""
    if item_id is not None and item_kind is None:
        raise InvalidRequest("item_id needs item_kind", item_id=item_id)
    conversation, _ = await conversation_access(session, account, conversation_id, Action.COMMENT)
    threads = await store.list_threads(
        session, conversation.id, item_kind=item_kind, item_id=item_id
    )
    return [thread_out(thread) for thread in threads]
