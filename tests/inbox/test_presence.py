"""Typing indicators on a virtual clock: no sleeps."""

from __future__ import annotations

import itertools

import pytest

from sharedline.inbox.events import EventKind, InboxEvent, NumberAccess, audience
from sharedline.inbox.presence import DEFAULT_TTL, TypingTracker

NUMBER = "+14155550100"
T0 = 1_700_000_000.0


def make_tracker(ttl: float = DEFAULT_TTL) -> TypingTracker:
    counter = itertools.count(1)
    return TypingTracker(ttl=ttl, ids=lambda: f"t{next(counter)}", origin="node-a")


def summary(events: list[InboxEvent]) -> list[tuple[str, int | None, int | None, float]]:
    return [(e.kind.value, e.conversation_id, e.actor_id, e.at) for e in events]


def test_typing_emits_started_once_then_nothing_while_it_continues() -> None:
    tracker = make_tracker()
    now = T0
    [started] = tracker.typing(3, 42, NUMBER, now, workspace_id=1)
    assert started.kind is EventKind.TYPING_STARTED
    assert (started.number, started.workspace_id, started.conversation_id) == (NUMBER, 1, 42)
    assert (started.id, started.origin, started.actor_id) == ("t1", "node-a", 3)
    assert started.payload == {"user_id": 3}
    now += 2
    assert tracker.typing(3, 42, NUMBER, now, workspace_id=1) == []
    assert tracker.typing_in(42, now) == {3}
    assert tracker.next_deadline() == now + DEFAULT_TTL


def test_silence_for_the_ttl_expires_the_typist_at_the_deadline() -> None:
    tracker = make_tracker()
    now = T0
    tracker.typing(3, 42, NUMBER, now, workspace_id=1)
    assert tracker.next_deadline() == T0 + 5
    now = T0 + 4.999
    assert tracker.expire(now) == []  # early: harmless
    assert tracker.typing_in(42, now) == {3}
    now = T0 + 5
    assert tracker.typing_in(42, now) == set()  # already gone, even before expire runs
    [stopped] = tracker.expire(now)
    assert stopped.kind is EventKind.TYPING_STOPPED
    assert stopped.payload == {"user_id": 3, "expired": True}
    assert stopped.at == now
    assert tracker.next_deadline() is None
    assert tracker.expire(now + 10) == []


def test_refreshes_push_the_deadline_back() -> None:
    tracker = make_tracker()
    tracker.typing(3, 42, NUMBER, T0, workspace_id=1)
    tracker.typing(3, 42, NUMBER, T0 + 4, workspace_id=1)
    assert tracker.next_deadline() == T0 + 9
    assert tracker.expire(T0 + 8) == []
    assert summary(tracker.expire(T0 + 9)) == [("typing.stopped", 42, 3, T0 + 9)]


def test_the_earliest_deadline_is_next_and_expiry_goes_in_deadline_order() -> None:
    tracker = make_tracker(ttl=3)
    tracker.typing(4, 42, NUMBER, T0 + 1, workspace_id=1)
    tracker.typing(3, 42, NUMBER, T0, workspace_id=1)
    tracker.typing(5, 43, NUMBER, T0 + 2, workspace_id=1)
    assert tracker.next_deadline() == T0 + 3
    assert summary(tracker.expire(T0 + 4)) == [
        ("typing.stopped", 42, 3, T0 + 4),
        ("typing.stopped", 42, 4, T0 + 4),
    ]
    assert tracker.next_deadline() == T0 + 5
    assert tracker.typing_in(43, T0 + 4) == {5}


def test_stopped_emits_only_for_a_current_typist() -> None:
    tracker = make_tracker()
    assert tracker.stopped(3, 42, T0) == []
    tracker.typing(3, 42, NUMBER, T0, workspace_id=1)
    [stopped] = tracker.stopped(3, 42, T0 + 1)
    assert stopped.payload == {"user_id": 3}
    assert tracker.stopped(3, 42, T0 + 2) == []
    assert tracker.expire(T0 + 100) == []
    assert summary(tracker.typing(3, 42, NUMBER, T0 + 3, workspace_id=1)) == [
        ("typing.started", 42, 3, T0 + 3)
    ]


def test_typing_again_after_a_missed_expiry_restarts_the_indicator() -> None:
    tracker = make_tracker()
    tracker.typing(3, 42, NUMBER, T0, workspace_id=1)
    assert summary(tracker.typing(3, 42, NUMBER, T0 + 7, workspace_id=1)) == [
        ("typing.stopped", 42, 3, T0 + 7),
        ("typing.started", 42, 3, T0 + 7),
    ]


def test_users_and_conversations_are_tracked_apart() -> None:
    tracker = make_tracker()
    tracker.typing(3, 42, NUMBER, T0, workspace_id=1)
    assert len(tracker.typing(4, 42, NUMBER, T0, workspace_id=1)) == 1
    assert len(tracker.typing(3, 43, NUMBER, T0, workspace_id=1)) == 1
    assert tracker.typing_in(42, T0) == {3, 4}
    assert tracker.typing_in(43, T0) == {3}
    assert tracker.typing_in(44, T0) == set()


def test_a_disconnected_user_stops_typing_everywhere() -> None:
    tracker = make_tracker()
    tracker.typing(3, 42, NUMBER, T0, workspace_id=1)
    tracker.typing(3, 43, NUMBER, T0, workspace_id=1)
    tracker.typing(4, 42, NUMBER, T0, workspace_id=1)
    assert summary(tracker.disconnected(3, T0 + 1)) == [
        ("typing.stopped", 42, 3, T0 + 1),
        ("typing.stopped", 43, 3, T0 + 1),
    ]
    assert tracker.typing_in(42, T0 + 1) == {4}


def test_typing_events_from_other_nodes_are_observed_without_echo() -> None:
    here, there = make_tracker(), make_tracker()
    [started] = there.typing(7, 42, NUMBER, T0, workspace_id=1)
    here.observe(started, T0 + 0.01)
    assert here.typing_in(42, T0 + 1) == {7}
    assert here.next_deadline() == pytest.approx(T0 + 5.01)
    [stopped] = there.stopped(7, 42, T0 + 2)
    here.observe(stopped, T0 + 2)
    assert here.typing_in(42, T0 + 2) == set()
    here.observe(there.typing(8, 42, NUMBER, T0 + 3, workspace_id=1)[0], T0 + 3)
    assert [e.actor_id for e in here.expire(T0 + 8)] == [8]  # remote typists expire too


def test_typing_events_reach_teammates_but_not_the_typist() -> None:
    tracker = make_tracker()
    [started] = tracker.typing(3, 42, NUMBER, T0, workspace_id=1)
    access = NumberAccess(workspace_id=1, number=NUMBER, members=frozenset({3, 4, 5}))
    assert audience(started, access) == {4, 5}


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ttl 0"):
        TypingTracker(ttl=0)
