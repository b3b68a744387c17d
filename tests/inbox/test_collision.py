"""Collision control: a reply on top of a teammate needs an explicit override."""

from __future__ import annotations

from sharedline.inbox.collision import CollisionWarning, RecentReply, check_collision

NOW = 1_700_000_000.0
ME, ANA, BEN = 1, 2, 3


def test_clear_way_when_nobody_else_is_on_the_conversation() -> None:
    assert check_collision(ME, 42, NOW, set(), []) is None


def test_a_teammate_typing_is_a_collision() -> None:
    warning = check_collision(ME, 42, NOW, {BEN, ANA}, [])
    assert warning == CollisionWarning(conversation_id=42, typing=(ANA, BEN), replies=())


def test_a_teammates_reply_within_the_window_is_a_collision() -> None:
    warning = check_collision(ME, 42, NOW, set(), [(ANA, NOW - 60), (BEN, NOW - 10)])
    assert warning is not None
    assert warning.replies == (
        RecentReply(user_id=BEN, at=NOW - 10),
        RecentReply(user_id=ANA, at=NOW - 60),
    )


def test_replies_older_than_the_window_do_not_count() -> None:
    assert check_collision(ME, 42, NOW, set(), [(ANA, NOW - 60.001)]) is None
    assert check_collision(ME, 42, NOW, set(), [(ANA, NOW - 20)], window=15) is None
    assert check_collision(ME, 42, NOW, set(), [(ANA, NOW - 20)], window=30) is not None


def test_a_reply_stamped_in_the_future_by_a_skewed_clock_still_counts() -> None:
    assert check_collision(ME, 42, NOW, set(), [(ANA, NOW + 2)]) is not None


def test_the_senders_own_typing_and_replies_never_count() -> None:
    assert check_collision(ME, 42, NOW, {ME}, [(ME, NOW - 1)]) is None
    warning = check_collision(ME, 42, NOW, {ME, ANA}, [(ME, NOW - 1), (BEN, NOW - 2)])
    assert warning == CollisionWarning(
        conversation_id=42, typing=(ANA,), replies=(RecentReply(user_id=BEN, at=NOW - 2),)
    )


def test_the_warning_renders_as_a_409_collision_body() -> None:
    warning = check_collision(ME, 42, NOW, {ANA}, [(BEN, NOW - 5)])
    assert warning is not None
    assert warning.status_code == 409
    body = warning.body()
    assert body["code"] == "collision"
    assert body["conversation_id"] == 42
    assert body["typing"] == [ANA]
    assert body["replies"] == [{"user_id": BEN, "at": NOW - 5}]
