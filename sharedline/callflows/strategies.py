"""Ring strategies: who rings in which wave (pure).

A *wave* is the set of members that should be ringing during one ``leg_timeout``. The
interpreter tries the waves of a plan in order until someone answers. A wave is always the full
set that should ring, never a delta: for ``cumulative``, members in one wave and the next keep
ringing, and the backend diffs consecutive waves to know whom to start and whom to cancel.

:func:`plan_waves` takes the members in configured order, already filtered (busy or unavailable
members removed) and de-duplicated by the caller, and returns the waves. The wave size is
``batches: N`` when given, else the strategy's own size, and never more than ``max_parallel``
(1..10), so no more than ten phones ring at once.

=============  =================================  =========  =====================================
strategy       order                              wave size  equivalents
=============  =================================  =========  =====================================
simultaneous   configured                         all [#]_   Asterisk ``ringall``;
                                                             FreeSWITCH ``a,b,c``
sequential     configured                         1          Asterisk ``linear``;
                                                             FreeSWITCH ``a|b|c``
round_robin    least recently served first        1          Asterisk ``rrmemory``
random         uniformly shuffled                 1          Asterisk ``random``
longest_idle   longest since last call first      1          Asterisk ``leastrecent``; FreeSWITCH
                                                             callcenter ``longest-idle-agent``
weighted       weighted shuffle                   1          Asterisk ``wrandom``
cumulative     configured, growing                k·step     FreePBX ``memoryhunt``;
                                                             FreeSWITCH ``a|a,b|a,b,c``
=============  =================================  =========  =====================================

.. [#] ``max_parallel`` at a time: 25 members with ``max_parallel: 10`` ring 10, then 10, then 5.

Orders in detail:

- ``round_robin`` keeps memory between calls in ``turns``: member → turn number, higher means
  served more recently; the store keeps it per rotation, so it survives restarts and is shared
  by engine nodes. Members are ordered by turn, ascending (least recently served first, ties in
  configured order). After the call the caller records ``next_turn(turns)`` for the first
  member of the first wave, which sends that member to the back: every call moves the rotation
  on by exactly one member. A member missing from ``turns`` has never been served in this
  rotation and counts as the least recently served of all, as in ``longest_idle``: the
  never-served go first, in configured order. That is what makes a fresh rotation (empty
  ``turns``) go round: were they placed last, only the first member would ever be recorded and
  it would take every call. So a member added to a running rotation takes the next call, once,
  then queues behind the others; the others keep their order. Removing a member drops it out
  and the rotation continues with the next one; nothing ever resets the turns.
- ``random`` shuffles a copy of the candidates with ``rng`` (every order equally likely).
- ``longest_idle`` orders by ``idle_since`` (epoch seconds the member last finished a call),
  ascending; members missing from it have never been busy and come first, in configured order.
- ``weighted`` draws an order without replacement, each member's chance to come next
  proportional to ``weights.get(member, 1.0)`` (Efraimidis and Spirakis, "Weighted random
  sampling with a reservoir", 2006: sort by ``rng.random() ** (1 / weight)``, descending). With
  weights 1 and 3, the second member comes first three times as often as the first.
- ``cumulative`` rings "1, then 1+2, then 1+2+3": wave k holds the first ``k * step`` members in
  configured order (``step`` is ``batches`` or 1); once that is more than ``max_parallel`` the
  window slides and keeps the newest ``max_parallel`` (members ``k*step - max_parallel + 1`` to
  ``k*step``, counting from 1). The last wave ends at the last candidate.

Only ``random`` and ``weighted`` draw from ``rng``, so a plan is a function of the arguments and
the state of ``rng``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

__all__ = ["Strategy", "next_turn", "plan_waves"]

_RING_LIMIT = 10
"""No more than this many members ring at once (``model.MAX_PARALLEL``)."""


class Strategy(enum.StrEnum):
    """The order members ring in, and how many at a time (the module docstring has the table)."""

    SIMULTANEOUS = "simultaneous"
    SEQUENTIAL = "sequential"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LONGEST_IDLE = "longest_idle"
    WEIGHTED = "weighted"
    CUMULATIVE = "cumulative"


def plan_waves(
    strategy: Strategy,
    candidates: Sequence[str],
    *,
    batch: int | None,
    max_parallel: int,
    rng: random.Random,
    weights: Mapping[str, float],
    turns: Mapping[str, int],
    idle_since: Mapping[str, float],
) -> list[tuple[str, ...]]:
    """The waves to ring, in order: each wave is every member that should ring during it.

    ``candidates`` are member keys in configured order, filtered and distinct; ``batch`` is the
    YAML ``batches`` (None: the strategy's own wave size); ``max_parallel`` caps every wave.
    ``weights`` (for ``weighted``), ``turns`` (``round_robin``) and ``idle_since``
    (``longest_idle``) are read by their strategy only. No candidates, no waves.

    Raises ValueError when ``max_parallel`` is outside 1..10, ``batch`` is below 1, a candidate
    is repeated, or a ``weighted`` candidate's weight is not a positive finite number.
    """
    if not 1 <= max_parallel <= _RING_LIMIT:
        raise ValueError(f"max_parallel {max_parallel!r} is outside 1..{_RING_LIMIT}")
    if batch is not None and batch < 1:
        raise ValueError(f"batch {batch!r} is below 1")
    if len(set(candidates)) != len(candidates):
        repeated = next(m for i, m in enumerate(candidates) if m in candidates[:i])
        raise ValueError(f"candidate {repeated!r} is repeated")
    if strategy is Strategy.CUMULATIVE:
        return _cumulative(candidates, min(batch or 1, max_parallel), max_parallel)
    own_size = max_parallel if strategy is Strategy.SIMULTANEOUS else 1
    size = min(batch or own_size, max_parallel)
    match strategy:
        case Strategy.SIMULTANEOUS | Strategy.SEQUENTIAL:
            order = list(candidates)
        case Strategy.ROUND_ROBIN:
            order = _by_turn(candidates, turns)
        case Strategy.RANDOM:
            order = list(candidates)
            rng.shuffle(order)
        case Strategy.LONGEST_IDLE:
            order = _by_idle(candidates, idle_since)
        case Strategy.WEIGHTED:
            order = _weighted(candidates, weights, rng)
    return [tuple(order[i : i + size]) for i in range(0, len(order), size)]


def next_turn(turns: Mapping[str, int]) -> int:
    """The turn to record for the member a round-robin call went to first: one past the latest."""
    return max(turns.values(), default=0) + 1


def _by_turn(candidates: Sequence[str], turns: Mapping[str, int]) -> list[str]:
    """Least recently served first; the never-served before everyone, in configured order."""
    ranked = sorted(
        range(len(candidates)),
        key=lambda i: (candidates[i] in turns, turns.get(candidates[i], 0), i),
    )
    return [candidates[i] for i in ranked]


def _by_idle(candidates: Sequence[str], idle_since: Mapping[str, float]) -> list[str]:
    """Idle the longest first; the never-busy before everyone, in configured order."""
    ranked = sorted(
        range(len(candidates)),
        key=lambda i: (candidates[i] in idle_since, idle_since.get(candidates[i], 0.0), i),
    )
    return [candidates[i] for i in ranked]


def _weighted(
    candidates: Sequence[str], weights: Mapping[str, float], rng: random.Random
) -> list[str]:
    """A weighted order without replacement (Efraimidis-Spirakis keys, highest first)."""
    keys: list[tuple[float, int]] = []
    for i, member in enumerate(candidates):
        weight = weights.get(member, 1.0)
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"weight {weight!r} of {member!r} is not a positive number")
        keys.append((-(rng.random() ** (1 / weight)), i))
    return [candidates[i] for _, i in sorted(keys)]


def _cumulative(candidates: Sequence[str], step: int, max_parallel: int) -> list[tuple[str, ...]]:
    """Wave k: the first ``k * step`` candidates, or the newest ``max_parallel`` of them."""
    ends = [min(end, len(candidates)) for end in range(step, len(candidates) + step, step)]
    return [tuple(candidates[max(0, end - max_parallel) : end]) for end in ends]
