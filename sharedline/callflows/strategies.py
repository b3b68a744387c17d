"""Ring strategies: who rings in which wave (pure)."""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence

__all__ = ["Strategy", "next_turn", "plan_waves"]


class Strategy(enum.StrEnum):
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
    raise NotImplementedError


def next_turn(turns: Mapping[str, int]) -> int:
    raise NotImplementedError
