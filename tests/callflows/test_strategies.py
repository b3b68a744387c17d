"""Ring strategies: the waves each strategy plans, its memory across calls, and its statistics.

Members are the letters' people: ``ana``, ``ben``, ``cat``, ``dan``, ``eve`` at acme.test, in
that configured order unless a test says otherwise. Statistical tests use a seeded ``rng``, so
they are exact reruns; their tolerances are several standard deviations wide.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharedline.callflows.strategies import Strategy, next_turn, plan_waves

ANA, BEN, CAT, DAN, EVE = (f"{name}@acme.test" for name in ("ana", "ben", "cat", "dan", "eve"))
TEAM = (ANA, BEN, CAT, DAN)
ORDERED = (Strategy.SIMULTANEOUS, Strategy.SEQUENTIAL, Strategy.CUMULATIVE)
MEMORY = (Strategy.ROUND_ROBIN, Strategy.LONGEST_IDLE)


def plan(
    strategy: Strategy,
    candidates: Sequence[str],
    *,
    batch: int | None = None,
    max_parallel: int = 10,
    rng: random.Random | None = None,
    weights: Mapping[str, float] | None = None,
    turns: Mapping[str, int] | None = None,
    idle_since: Mapping[str, float] | None = None,
) -> list[tuple[str, ...]]:
    return plan_waves(
        strategy,
        candidates,
        batch=batch,
        max_parallel=max_parallel,
        rng=rng or random.Random(0),
        weights=weights or {},
        turns=turns or {},
        idle_since=idle_since or {},
    )


def people(n: int) -> list[str]:
    return [f"m{i:02}@acme.test" for i in range(1, n + 1)]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_no_candidates_plan_no_waves(strategy: Strategy) -> None:
    assert plan(strategy, []) == []


# --- simultaneous and sequential ----------------------------------------------------------------


def test_simultaneous_rings_max_parallel_at_a_time_in_configured_order() -> None:
    members = people(25)
    waves = plan(Strategy.SIMULTANEOUS, members, max_parallel=10)
    assert waves == [tuple(members[:10]), tuple(members[10:20]), tuple(members[20:])]
    assert plan(Strategy.SIMULTANEOUS, TEAM) == [TEAM]


@pytest.mark.parametrize(
    ("batch", "max_parallel", "sizes"),
    [(4, 10, [4, 4, 2]), (1, 10, [1] * 10), (8, 5, [5, 5]), (None, 3, [3, 3, 3, 1])],
)
def test_simultaneous_batches_set_the_wave_size_capped_at_max_parallel(
    batch: int | None, max_parallel: int, sizes: list[int]
) -> None:
    members = people(10)
    waves = plan(Strategy.SIMULTANEOUS, members, batch=batch, max_parallel=max_parallel)
    assert [len(wave) for wave in waves] == sizes
    assert [m for wave in waves for m in wave] == members


def test_sequential_rings_one_at_a_time_in_configured_order() -> None:
    assert plan(Strategy.SEQUENTIAL, TEAM) == [(ANA,), (BEN,), (CAT,), (DAN,)]


def test_sequential_batches_ring_that_many_at_a_time() -> None:
    members = (ANA, BEN, CAT, DAN, EVE)
    assert plan(Strategy.SEQUENTIAL, members, batch=2) == [(ANA, BEN), (CAT, DAN), (EVE,)]
    assert plan(Strategy.SEQUENTIAL, members, batch=4, max_parallel=3) == [
        (ANA, BEN, CAT),
        (DAN, EVE),
    ]


# --- round robin --------------------------------------------------------------------------------


def serve(candidates: Sequence[str], turns: dict[str, int]) -> str:
    """One round-robin call as the interpreter makes it: plan, then record the first's turn."""
    first = plan(Strategy.ROUND_ROBIN, candidates, turns=turns)[0][0]
    turns[first] = next_turn(turns)
    return first


def test_next_turn_is_one_past_the_latest_turn() -> None:
    assert next_turn({}) == 1
    assert next_turn({ANA: 3, BEN: 7, CAT: 5}) == 8


def test_round_robin_rings_the_least_recently_served_first() -> None:
    turns = {ANA: 5, BEN: 2, CAT: 9, DAN: 3}
    assert plan(Strategy.ROUND_ROBIN, TEAM, turns=turns) == [(BEN,), (DAN,), (ANA,), (CAT,)]


def test_round_robin_rings_the_never_served_first_in_configured_order() -> None:
    turns = {ANA: 1, CAT: 2}
    assert plan(Strategy.ROUND_ROBIN, TEAM, turns=turns) == [(BEN,), (DAN,), (ANA,), (CAT,)]


def test_round_robin_ties_keep_configured_order() -> None:
    turns = {ANA: 4, BEN: 4, CAT: 1, DAN: 4}
    assert plan(Strategy.ROUND_ROBIN, TEAM, turns=turns) == [(CAT,), (ANA,), (BEN,), (DAN,)]


def test_round_robin_batches_ring_the_rotation_that_many_at_a_time() -> None:
    turns = {ANA: 4, BEN: 1, CAT: 2, DAN: 3}
    waves = plan(Strategy.ROUND_ROBIN, TEAM, turns=turns, batch=2)
    assert waves == [(BEN, CAT), (DAN, ANA)]


def test_round_robin_is_fair_over_1000_calls_from_an_empty_rotation() -> None:
    turns: dict[str, int] = {}
    firsts = [serve(TEAM, turns) for _ in range(1000)]
    assert Counter(firsts) == dict.fromkeys(TEAM, 250)
    assert firsts == list(TEAM) * 250
    assert turns == {ANA: 997, BEN: 998, CAT: 999, DAN: 1000}


def test_round_robin_each_call_moves_the_whole_order_on_by_one() -> None:
    turns: dict[str, int] = {}
    orders = []
    for _ in range(4):
        orders.append([m for (m,) in plan(Strategy.ROUND_ROBIN, TEAM, turns=turns)])
        serve(TEAM, turns)
    assert orders == [
        [ANA, BEN, CAT, DAN],
        [BEN, CAT, DAN, ANA],
        [CAT, DAN, ANA, BEN],
        [DAN, ANA, BEN, CAT],
    ]


def test_round_robin_removing_a_member_continues_the_rotation_with_the_next() -> None:
    turns: dict[str, int] = {}
    assert [serve(TEAM, turns) for _ in range(6)] == [ANA, BEN, CAT, DAN, ANA, BEN]
    # cat was next; cat leaves the team (its turn stays in storage, unused)
    team = (ANA, BEN, DAN)
    assert [serve(team, turns) for _ in range(6)] == [DAN, ANA, BEN, DAN, ANA, BEN]


def test_round_robin_removing_the_member_served_last_changes_nothing_for_the_others() -> None:
    turns: dict[str, int] = {}
    assert [serve(TEAM, turns) for _ in range(5)] == [ANA, BEN, CAT, DAN, ANA]
    team = (BEN, CAT, DAN)
    assert [serve(team, turns) for _ in range(4)] == [BEN, CAT, DAN, BEN]


def test_round_robin_an_added_member_takes_the_next_call_then_joins_the_back() -> None:
    turns: dict[str, int] = {}
    assert [serve(TEAM, turns) for _ in range(5)] == [ANA, BEN, CAT, DAN, ANA]
    # eve joins; she has never been served, so she goes first once; nobody else's turn moves
    team = (ANA, BEN, CAT, DAN, EVE)
    assert [m for (m,) in plan(Strategy.ROUND_ROBIN, team, turns=turns)] == [
        EVE,
        BEN,
        CAT,
        DAN,
        ANA,
    ]
    assert [serve(team, turns) for _ in range(10)] == [EVE, BEN, CAT, DAN, ANA] * 2


def test_round_robin_a_member_added_in_the_middle_of_the_list_changes_no_one_elses_turn() -> None:
    turns: dict[str, int] = {}
    assert [serve(TEAM, turns) for _ in range(2)] == [ANA, BEN]
    team = (ANA, EVE, BEN, CAT, DAN)
    assert [serve(team, turns) for _ in range(6)] == [EVE, CAT, DAN, ANA, BEN, EVE]


def test_round_robin_a_member_busy_on_their_turn_keeps_their_place() -> None:
    turns: dict[str, int] = {}
    assert [serve(TEAM, turns) for _ in range(4)] == [ANA, BEN, CAT, DAN]
    # ana is on a call: the caller filters her out, and ben is served in her place
    assert serve((BEN, CAT, DAN), turns) == BEN
    # she is back and still the least recently served
    assert [serve(TEAM, turns) for _ in range(4)] == [ANA, CAT, DAN, BEN]


def test_round_robin_rotation_survives_a_restart() -> None:
    turns: dict[str, int] = {}
    for _ in range(7):
        serve(TEAM, turns)
    stored = json.dumps(turns)  # what the store writes, one row per member
    reloaded: dict[str, int] = json.loads(stored)
    assert plan(Strategy.ROUND_ROBIN, TEAM, turns=reloaded) == plan(
        Strategy.ROUND_ROBIN, TEAM, turns=turns
    )
    assert [serve(TEAM, reloaded) for _ in range(5)] == [DAN, ANA, BEN, CAT, DAN]


def test_round_robin_turns_of_members_not_ringing_still_count_for_the_next_turn() -> None:
    turns = {ANA: 3, BEN: 4, "gone@acme.test": 12}
    assert serve((ANA, BEN), turns) == ANA
    assert turns[ANA] == 13


# --- random -------------------------------------------------------------------------------------


def test_random_rings_a_shuffled_order_drawn_from_rng() -> None:
    members = people(12)
    first = plan(Strategy.RANDOM, members, rng=random.Random(7))
    again = plan(Strategy.RANDOM, members, rng=random.Random(7))
    assert first == again
    assert all(len(wave) == 1 for wave in first)
    assert sorted(m for (m,) in first) == members
    assert first != [(m,) for m in members]


def test_random_every_order_is_equally_likely() -> None:
    rng = random.Random(2024)
    members = (ANA, BEN, CAT)
    calls = 12_000
    orders = Counter(
        tuple(m for (m,) in plan(Strategy.RANDOM, members, rng=rng)) for _ in range(calls)
    )
    assert set(orders) == set(itertools.permutations(members))
    for count in orders.values():
        assert abs(count / calls - 1 / 6) < 0.015


def test_random_batches_ring_a_shuffled_order_that_many_at_a_time() -> None:
    waves = plan(Strategy.RANDOM, people(7), batch=3, rng=random.Random(1))
    assert [len(wave) for wave in waves] == [3, 3, 1]
    assert sorted(m for wave in waves for m in wave) == people(7)


# --- longest idle -------------------------------------------------------------------------------


def test_longest_idle_rings_the_never_busy_first_then_the_longest_idle() -> None:
    members = (ANA, BEN, CAT, DAN, EVE)
    idle_since = {ANA: 1_800_000_300.0, BEN: 1_800_000_100.0, DAN: 1_800_000_200.0}
    waves = plan(Strategy.LONGEST_IDLE, members, idle_since=idle_since)
    assert waves == [(CAT,), (EVE,), (BEN,), (DAN,), (ANA,)]


def test_longest_idle_batches_and_ties_keep_configured_order() -> None:
    idle_since = {ANA: 50.0, BEN: 10.0, CAT: 10.0, DAN: 10.0}
    waves = plan(Strategy.LONGEST_IDLE, TEAM, idle_since=idle_since, batch=2)
    assert waves == [(BEN, CAT), (DAN, ANA)]


# --- weighted -----------------------------------------------------------------------------------


def first_shares(
    members: Sequence[str], weights: Mapping[str, float], calls: int, seed: int
) -> dict[str, float]:
    rng = random.Random(seed)
    firsts = Counter(
        plan(Strategy.WEIGHTED, members, rng=rng, weights=weights)[0][0] for _ in range(calls)
    )
    return {m: firsts[m] / calls for m in members}


def test_weighted_comes_first_in_proportion_to_weight() -> None:
    shares = first_shares((ANA, BEN, CAT), {ANA: 1, BEN: 2, CAT: 7}, 20_000, seed=11)
    for member, expected in ((ANA, 0.1), (BEN, 0.2), (CAT, 0.7)):
        assert abs(shares[member] - expected) < 0.02


def test_weighted_a_missing_weight_counts_as_one() -> None:
    shares = first_shares((ANA, BEN), {BEN: 3}, 20_000, seed=12)
    assert abs(shares[BEN] - 0.75) < 0.02


def test_weighted_rings_everyone_once_drawn_from_rng() -> None:
    weights = {ANA: 1, BEN: 2, CAT: 7}
    waves = plan(Strategy.WEIGHTED, TEAM, weights=weights, rng=random.Random(3))
    assert waves == plan(Strategy.WEIGHTED, TEAM, weights=weights, rng=random.Random(3))
    assert all(len(wave) == 1 for wave in waves)
    assert sorted(m for (m,) in waves) == sorted(TEAM)


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")])
def test_weighted_rejects_a_weight_that_is_not_a_positive_number(weight: float) -> None:
    with pytest.raises(ValueError, match=r"weight .* of 'ben@acme.test' is not a positive"):
        plan(Strategy.WEIGHTED, TEAM, weights={BEN: weight})


# --- cumulative ---------------------------------------------------------------------------------


def test_cumulative_rings_one_then_one_and_two_then_one_two_and_three() -> None:
    assert plan(Strategy.CUMULATIVE, TEAM) == [
        (ANA,),
        (ANA, BEN),
        (ANA, BEN, CAT),
        (ANA, BEN, CAT, DAN),
    ]


def test_cumulative_batches_add_that_many_each_wave_and_the_last_ends_at_the_last() -> None:
    members = (ANA, BEN, CAT, DAN, EVE)
    assert plan(Strategy.CUMULATIVE, members, batch=2) == [
        (ANA, BEN),
        (ANA, BEN, CAT, DAN),
        (ANA, BEN, CAT, DAN, EVE),
    ]


def test_cumulative_slides_past_max_parallel_keeping_the_newest() -> None:
    members = (ANA, BEN, CAT, DAN, EVE)
    assert plan(Strategy.CUMULATIVE, members, max_parallel=3) == [
        (ANA,),
        (ANA, BEN),
        (ANA, BEN, CAT),
        (BEN, CAT, DAN),
        (CAT, DAN, EVE),
    ]


def test_cumulative_with_batches_slides_by_a_batch() -> None:
    m = people(7)
    assert plan(Strategy.CUMULATIVE, m, batch=2, max_parallel=4) == [
        (m[0], m[1]),
        (m[0], m[1], m[2], m[3]),
        (m[2], m[3], m[4], m[5]),
        (m[3], m[4], m[5], m[6]),
    ]


def test_cumulative_a_batch_above_max_parallel_is_capped() -> None:
    m = people(7)
    assert plan(Strategy.CUMULATIVE, m, batch=5, max_parallel=3) == [
        tuple(m[0:3]),
        tuple(m[3:6]),
        tuple(m[4:7]),
    ]


def test_cumulative_never_rings_more_than_ten_of_twenty_five() -> None:
    m = people(25)
    waves = plan(Strategy.CUMULATIVE, m, batch=5)
    assert waves == [
        tuple(m[0:5]),
        tuple(m[0:10]),
        tuple(m[5:15]),
        tuple(m[10:20]),
        tuple(m[15:25]),
    ]


# --- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", list(Strategy))
def test_only_random_and_weighted_draw_from_rng(strategy: Strategy) -> None:
    rng = random.Random(5)
    before = rng.getstate()
    plan(strategy, TEAM, rng=rng)
    drew = rng.getstate() != before
    assert drew is (strategy in (Strategy.RANDOM, Strategy.WEIGHTED))


@pytest.mark.parametrize("max_parallel", [0, 11, -1])
def test_max_parallel_outside_one_to_ten_is_refused(max_parallel: int) -> None:
    with pytest.raises(ValueError, match=rf"max_parallel {max_parallel} is outside 1\.\.10"):
        plan(Strategy.SIMULTANEOUS, TEAM, max_parallel=max_parallel)


def test_a_batch_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch 0 is below 1"):
        plan(Strategy.SEQUENTIAL, TEAM, batch=0)


def test_a_repeated_candidate_is_refused() -> None:
    with pytest.raises(ValueError, match=r"candidate 'ben@acme\.test' is repeated"):
        plan(Strategy.SEQUENTIAL, (ANA, BEN, CAT, BEN))


# --- properties ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    strategy: Strategy
    candidates: list[str]
    batch: int | None
    max_parallel: int
    seed: int
    weights: dict[str, float]
    turns: dict[str, int]
    idle_since: dict[str, float]

    def waves(self) -> list[tuple[str, ...]]:
        return plan_waves(
            self.strategy,
            self.candidates,
            batch=self.batch,
            max_parallel=self.max_parallel,
            rng=random.Random(self.seed),
            weights=self.weights,
            turns=self.turns,
            idle_since=self.idle_since,
        )


@st.composite
def cases(draw: st.DrawFn, strategies: Sequence[Strategy] = tuple(Strategy)) -> Case:
    candidates = draw(st.lists(st.text("abcdefghijkl", min_size=1, max_size=3), unique=True))
    # keys of members who rang before and have since left are in the store too
    keys = st.sampled_from([*candidates, "gone@acme.test"])
    return Case(
        strategy=draw(st.sampled_from(strategies)),
        candidates=candidates,
        batch=draw(st.none() | st.integers(1, 10)),
        max_parallel=draw(st.integers(1, 10)),
        seed=draw(st.integers(0, 2**32)),
        weights=draw(st.dictionaries(keys, st.floats(0.001, 1000))),
        turns=draw(st.dictionaries(keys, st.integers(0, 10**9))),
        idle_since=draw(st.dictionaries(keys, st.floats(0, 4e9))),
    )


@given(cases())
def test_no_wave_is_empty_or_rings_more_than_max_parallel(case: Case) -> None:
    assert all(1 <= len(wave) <= case.max_parallel for wave in case.waves())


@given(cases())
def test_every_candidate_rings_in_some_wave_and_nobody_else(case: Case) -> None:
    assert {m for wave in case.waves() for m in wave} == set(case.candidates)


@given(cases())
def test_a_plan_is_a_function_of_the_arguments_and_the_rng_state(case: Case) -> None:
    assert case.waves() == case.waves()


@given(cases([s for s in Strategy if s is not Strategy.CUMULATIVE]))
def test_every_strategy_but_cumulative_rings_each_candidate_exactly_once(case: Case) -> None:
    waves = case.waves()
    rung = [m for wave in waves for m in wave]
    assert sorted(rung) == sorted(case.candidates)
    own = case.max_parallel if case.strategy is Strategy.SIMULTANEOUS else 1
    size = min(case.batch or own, case.max_parallel)
    assert all(len(wave) == size for wave in waves[:-1])


@given(cases(ORDERED))
def test_ordered_strategies_keep_the_configured_order(case: Case) -> None:
    for wave in case.waves():
        indexes = [case.candidates.index(m) for m in wave]
        assert indexes == list(range(indexes[0], indexes[0] + len(wave)))


@given(cases([Strategy.CUMULATIVE]))
def test_cumulative_each_wave_grows_the_last_or_slides_it_forward(case: Case) -> None:
    waves = case.waves()
    windows = [(case.candidates.index(w[0]), case.candidates.index(w[0]) + len(w)) for w in waves]
    for (start, end), wave in zip(windows, waves, strict=True):
        assert wave == tuple(case.candidates[start:end])
    for (start, end), (next_start, next_end) in itertools.pairwise(windows):
        assert next_end > end
        assert next_start >= start
        if next_start > start:
            assert next_end - next_start == case.max_parallel
    if waves:
        assert windows[-1][1] == len(case.candidates)


@given(cases(MEMORY))
def test_memory_strategies_ring_what_they_remember_nothing_about_first(case: Case) -> None:
    memory = case.turns if case.strategy is Strategy.ROUND_ROBIN else case.idle_since
    order = [m for wave in case.waves() for m in wave]
    unknown = [m for m in case.candidates if m not in memory]
    assert order[: len(unknown)] == unknown
    remembered = [memory[m] for m in order[len(unknown) :]]
    assert remembered == sorted(remembered)
