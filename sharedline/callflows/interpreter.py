"""The call-flow interpreter: one pure step, ``(position, outcome, now) -> (position, actions)``.

Theory of operation
-------------------
:meth:`Interpreter.start` enters a number's flow at its ``start`` step; :meth:`Interpreter.step`
takes what became of the last action (an outcome such as ``no_answer``, or a DTMF digit) and
moves on. Both return a :class:`Decision`: the new :class:`Position` and the actions for the
backend. The position is plain data (:meth:`Position.to_dict`), so a webhook backend can keep
it between requests; the interpreter keeps nothing between calls, and the same position,
outcome, time and facts always give the same decision (random strategies draw from a
generator seeded with the position's ``seed``).

Steps that decide at once (``schedule``, ``goto``) are followed within one call to the
interpreter; it stops at the first step that needs the backend (``ring``, ``forward``,
``play``, ``menu``) or ends the flow (``voicemail``, ``hangup``, ``end``).

A ``ring`` step is a list of stages; a stage's targets, expanded (groups, ``everyone``),
de-duplicated and filtered (``skip_busy``, ``skip_unavailable``, members no longer on the
number), are planned into waves by its strategy (:mod:`.strategies`). Each wave is one
:class:`~.actions.Ring` of ``leg_timeout`` seconds (cut short by ``total_timeout``). A wave
that ends unanswered moves to the next wave, then the next stage; when none is left, or the
total timeout has passed, the step's outcome is taken from its waves' outcomes::

    any wave no_answer                      -> no_answer
    every wave busy / declined / failed     -> busy / declined / failed
    otherwise                               -> busy if any was busy, else declined, else failed

``answered`` and ``caller_hangup`` end the flow (nothing can follow). ``declined`` from a wave
ends the step at once only with ``decline_scope: group`` (the backend reports it so); with
``leg`` it is one wave's result like the others. Every step entered counts a visit; past its
``max_visits`` the step takes its ``max_visits`` outcome, and past :data:`MAX_HOPS` steps in
one call the flow hangs up (the loader already refuses loops without ``max_visits``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .actions import (
    Action,
    CollectDigit,
    Hangup,
    Play,
    RecordTurn,
    Ring,
    RingTarget,
    Voicemail,
)
from .facts import CallFacts
from .model import (
    END,
    MAX_PARALLEL,
    DeclineScope,
    FlowDocument,
    FlowSpec,
    Outcome,
    RingSpec,
    StageSpec,
    StepKind,
    StepSpec,
)
from .schedule import schedule_state
from .strategies import Strategy, next_turn, plan_waves

__all__ = ["MAX_HOPS", "Decision", "FlowNotFound", "Interpreter", "Position"]

MAX_HOPS = 100
"""Steps entered in one call before the flow gives up (a safety net under max_visits)."""

_RING_RESULTS = (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.DECLINED, Outcome.FAILED)


class FlowNotFound(LookupError):
    """The number is bound to no flow (or to one the document lacks)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """Where a call is in its flow: plain, JSON-ready data."""

    flow: str
    revision: str
    number: str
    seed: int
    step: str
    done: bool = False
    stage: int = 0
    wave: int = 0
    waves: tuple[tuple[str, ...], ...] = ()
    """The current stage's planned waves, as :attr:`RingTarget.key` strings."""
    results: tuple[str, ...] = ()
    """The outcomes of the current ring step's waves so far."""
    deadline: float | None = None
    """When the current ring step's ``total_timeout`` runs out."""
    tries: int = 0
    """Menu prompts played so far in the current menu step."""
    visits: tuple[tuple[str, int], ...] = ()
    hops: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Position:
        values = dict(data)
        values["waves"] = tuple(tuple(wave) for wave in values.get("waves", ()))
        values["results"] = tuple(values.get("results", ()))
        values["visits"] = tuple((str(s), int(n)) for s, n in values.get("visits", ()))
        return cls(**values)

    def visit_count(self, step: str) -> int:
        return dict(self.visits).get(step, 0)

    def evolve(self, **changes: Any) -> Position:
        """A copy with ``changes``: ``dataclasses.replace`` without its per-call introspection
        (the interpreter makes several per decision)."""
        new = object.__new__(Position)
        for name in _POSITION_FIELDS:
            object.__setattr__(new, name, changes.pop(name, getattr(self, name)))
        if changes:
            raise TypeError(f"not Position fields: {', '.join(changes)}")
        return new


_POSITION_FIELDS = tuple(f.name for f in fields(Position))


@dataclass(frozen=True, slots=True)
class Decision:
    """The interpreter's answer: where the call is now, and what the backend does next."""

    position: Position
    actions: tuple[Action, ...] = field(default=())
    trail: tuple[tuple[str, str, str], ...] = ()
    """The transitions taken on the way, as (step, outcome, next step): for logs and
    simulations."""


class Interpreter:
    """Runs the flows of one document revision. Immutable: share it between calls."""

    def __init__(self, document: FlowDocument, revision: str) -> None:
        self.document = document
        self.revision = revision

    def flow_for(self, number: str) -> str | None:
        binding = self.document.numbers.get(number)
        return binding.flow if binding is not None else None

    def start(
        self, number: str, now: float, facts: CallFacts, *, seed: int, flow: str | None = None
    ) -> Decision:
        """Enter ``number``'s flow (or the named ``flow``) at its start step."""
        name = flow or self.flow_for(number)
        if name is None or name not in self.document.flows:
            raise FlowNotFound(f"{number} is not bound to a flow")
        start = self.document.flows[name].start
        position = Position(flow=name, revision=self.revision, number=number, seed=seed, step=start)
        return self._enter(position, start, now, facts)

    def step(self, position: Position, outcome: str, now: float, facts: CallFacts) -> Decision:
        """What follows ``outcome`` of the action the backend last ran."""
        if position.done:
            return Decision(position)
        if outcome in (Outcome.ANSWERED, Outcome.CALLER_HANGUP):
            return Decision(position.evolve(done=True))
        spec = self._flow(position).steps[position.step]
        match spec.kind:
            case StepKind.RING | StepKind.FORWARD:
                return self._after_wave(position, spec, outcome, now, facts)
            case StepKind.PLAY:
                return self._follow(position, spec, Outcome.DONE, now, facts)
            case StepKind.MENU:
                return self._after_menu(position, spec, outcome, now, facts)
            case _:  # steps that never wait for the backend
                return Decision(position.evolve(done=True))

    # -- entering steps --------------------------------------------------------------------------

    def _flow(self, position: Position) -> FlowSpec:
        return self.document.flows[position.flow]

    def _enter(self, position: Position, name: str, now: float, facts: CallFacts) -> Decision:
        if name == END:
            return Decision(position.evolve(step=END, done=True), (Hangup(),))
        visits = dict(position.visits)
        visits[name] = visits.get(name, 0) + 1
        position = position.evolve(
            step=name,
            hops=position.hops + 1,
            visits=tuple(visits.items()),
            stage=0,
            wave=0,
            waves=(),
            results=(),
            deadline=None,
            tries=0,
        )
        if position.hops > MAX_HOPS:
            hangup = Hangup(reason=f"more than {MAX_HOPS} steps")
            return Decision(position.evolve(done=True), (hangup,))
        spec = self._flow(position).steps[name]
        if spec.max_visits is not None and visits[name] > spec.max_visits:
            return self._follow(position, spec, Outcome.MAX_VISITS, now, facts)
        match spec.kind:
            case StepKind.SCHEDULE:
                assert spec.schedule is not None
                schedule = self.document.schedules[spec.schedule]
                state = schedule_state(schedule, facts.wall_time(now), self._timezone(position))
                return self._follow(position, spec, Outcome(state.value), now, facts)
            case StepKind.GOTO:
                assert spec.goto is not None
                return self._enter(position, spec.goto, now, facts)
            case StepKind.RING:
                assert spec.ring is not None
                total = spec.ring.total_timeout
                position = position.evolve(deadline=now + total if total else None)
                return self._next_wave(position, spec, now, facts, first=True)
            case StepKind.FORWARD:
                assert spec.forward is not None
                target = RingTarget(number=spec.forward.number, trunk=spec.forward.trunk)
                timeout = spec.forward.timeout or self.document.defaults.leg_timeout
                ring = Ring((target,), timeout, step=name)
                return Decision(position.evolve(waves=((target.key,),)), (ring,))
            case StepKind.PLAY:
                assert spec.play is not None
                return Decision(position, (Play(spec.play.prompt),))
            case StepKind.MENU:
                assert spec.menu is not None
                prompt = CollectDigit(spec.menu.prompt, spec.menu.timeout)
                return Decision(position.evolve(tries=1), (prompt,))
            case StepKind.VOICEMAIL:
                assert spec.voicemail is not None
                voicemail = Voicemail(spec.voicemail.box, spec.voicemail.greeting)
                return Decision(position.evolve(done=True), (voicemail,))
            case StepKind.HANGUP:
                assert spec.hangup is not None
                hangup = Hangup(spec.hangup.status, spec.hangup.reason)
                return Decision(position.evolve(done=True), (hangup,))
        raise AssertionError(spec.kind)  # pragma: no cover

    def _follow(
        self, position: Position, spec: StepSpec, outcome: Outcome, now: float, facts: CallFacts
    ) -> Decision:
        """Take the step's transition for ``outcome`` (or its default)."""
        transitions = spec.transitions()
        target = transitions.get(outcome) or transitions.get(Outcome.DEFAULT)
        if target is None:  # the loader refuses unhandled outcomes; end safely all the same
            return Decision(position.evolve(done=True), (Hangup(),))
        decision = self._enter(position, target, now, facts)
        return replace(decision, trail=((position.step, outcome.value, target), *decision.trail))

    def _timezone(self, position: Position) -> str:
        binding = self.document.numbers.get(position.number)
        if binding is not None and binding.timezone is not None:
            return binding.timezone
        return self.document.timezone

    # -- ring steps ------------------------------------------------------------------------------

    def _after_wave(
        self, position: Position, spec: StepSpec, outcome: str, now: float, facts: CallFacts
    ) -> Decision:
        result = Outcome(outcome) if outcome in _RING_RESULTS else Outcome.FAILED
        position = position.evolve(results=(*position.results, result.value))
        ring = spec.ring
        scope_group = ring is not None and ring.decline_scope is DeclineScope.GROUP
        if ring is None or (result is Outcome.DECLINED and scope_group):
            return self._follow(position, spec, self._step_outcome(position), now, facts)
        if position.deadline is not None and now >= position.deadline:
            return self._follow(position, spec, self._step_outcome(position), now, facts)
        return self._next_wave(position.evolve(wave=position.wave + 1), spec, now, facts)

    def _next_wave(
        self,
        position: Position,
        spec: StepSpec,
        now: float,
        facts: CallFacts,
        *,
        first: bool = False,
    ) -> Decision:
        """Ring the position's wave, planning stages as they come; or end the step."""
        assert spec.ring is not None
        ring = spec.ring
        stages = ring.stage_list()
        actions: list[Action] = []
        if first:
            waves, turn = self._plan(position, ring, stages[0], 0, facts, now)
            position = position.evolve(waves=waves)
            actions += turn
        while position.wave >= len(position.waves):
            stage = position.stage + 1
            if stage >= len(stages):
                if not position.results:  # nobody could be rung at all
                    position = position.evolve(results=(Outcome.FAILED.value,))
                decision = self._follow(position, spec, self._step_outcome(position), now, facts)
                return replace(decision, actions=(*actions, *decision.actions))
            waves, turn = self._plan(position, ring, stages[stage], stage, facts, now)
            position = position.evolve(stage=stage, wave=0, waves=waves)
            actions += turn
        leg_timeout = stages[position.stage].leg_timeout or self.document.defaults.leg_timeout
        if position.deadline is not None:
            leg_timeout = min(leg_timeout, max(position.deadline - now, 0.0))
        targets = tuple(RingTarget.from_key(key) for key in position.waves[position.wave])
        actions.append(
            Ring(
                targets,
                leg_timeout,
                ring.decline_scope,
                step=position.step,
                stage=position.stage,
                wave=position.wave,
            )
        )
        return Decision(position, tuple(actions))

    def _plan(
        self,
        position: Position,
        ring: RingSpec,
        stage: StageSpec,
        index: int,
        facts: CallFacts,
        now: float,
    ) -> tuple[tuple[tuple[str, ...], ...], list[Action]]:
        """A stage's waves, and the round-robin turn to record when it has one."""
        keys, weights = self._candidates(ring, stage, facts, now)
        rotation = self._rotation(position, stage, index)
        stored = facts.turns.get(rotation, {})
        turn = next_turn(stored)
        # outside numbers keep no turn of their own: they always come after the members
        turns = {**stored, **{key: turn for key in keys if key.startswith("tel:")}}
        max_parallel = stage.max_parallel or ring.max_parallel
        max_parallel = min(max_parallel or self.document.defaults.max_parallel, MAX_PARALLEL)
        rng = random.Random(
            f"{position.seed}:{position.step}:{index}:{position.visit_count(position.step)}"
        )
        waves = plan_waves(
            stage.strategy,
            keys,
            batch=stage.batches,
            max_parallel=max_parallel,
            rng=rng,
            weights=weights,
            turns=turns,
            idle_since=facts.idle_since,
        )
        actions: list[Action] = []
        if stage.strategy is Strategy.ROUND_ROBIN and waves:
            first = waves[0][0]
            if not first.startswith("tel:"):
                actions.append(RecordTurn(rotation, first, turn))
        return tuple(waves), actions

    def _rotation(self, position: Position, stage: StageSpec, index: int) -> str:
        """The round-robin memory's key: per number and group (or per step and stage)."""
        groups = [target.group for target in stage.targets if target.group is not None]
        if len(stage.targets) == 1 and groups:
            return f"{position.number}/group:{groups[0]}"
        return f"{position.number}/{position.flow}.{position.step}.{index}"

    def _candidates(
        self, ring: RingSpec, stage: StageSpec, facts: CallFacts, now: float
    ) -> tuple[list[str], dict[str, float]]:
        """The stage's targets as keys in order, without duplicates, busy or away members."""
        weights: dict[str, float] = {}
        keys: list[str] = []
        at = facts.wall_time(now)
        timezone = self.document.timezone
        binding = self.document.numbers.get(facts.number)
        if binding is not None and binding.timezone is not None:
            timezone = binding.timezone
        on_number = set(facts.members) if facts.members is not None else None
        for key, weight in self._expand(stage, facts):
            if key in weights:
                continue
            if not key.startswith("tel:"):
                if on_number is not None and key not in on_number:
                    continue  # no longer a member of this number: never ring them its calls
                if ring.skip_busy and key in facts.busy:
                    continue
                availability = facts.availability.get(key)
                if (
                    ring.skip_unavailable
                    and availability is not None
                    and not availability.available_at(at, timezone)
                ):
                    continue
            weights[key] = weight
            keys.append(key)
        return keys, weights

    def _expand(self, stage: StageSpec, facts: CallFacts) -> Iterator[tuple[str, float]]:
        for target in stage.targets:
            if target.member is not None:
                yield target.member, target.weight
            elif target.group is not None:
                for member in self.document.groups[target.group].members:
                    yield member, target.weight
            elif target.everyone:
                for member in facts.members or ():
                    yield member, target.weight
            elif target.number is not None:
                yield RingTarget(number=target.number, trunk=target.trunk).key, target.weight

    @staticmethod
    def _step_outcome(position: Position) -> Outcome:
        results = set(position.results)
        if Outcome.NO_ANSWER.value in results or not results:
            return Outcome.NO_ANSWER
        if len(results) == 1:
            return Outcome(results.pop())
        for outcome in (Outcome.BUSY, Outcome.DECLINED):
            if outcome.value in results:
                return outcome
        return Outcome.FAILED

    # -- menus -----------------------------------------------------------------------------------

    def _after_menu(
        self, position: Position, spec: StepSpec, outcome: str, now: float, facts: CallFacts
    ) -> Decision:
        assert spec.menu is not None
        menu = spec.menu
        choice = menu.choices.get(outcome)
        if choice is not None:
            return self._enter(position, choice, now, facts)
        missed = Outcome.NO_INPUT if outcome == Outcome.NO_INPUT else Outcome.INVALID
        if position.tries <= menu.retries:
            prompt = CollectDigit(menu.prompt, menu.timeout)
            return Decision(position.evolve(tries=position.tries + 1), (prompt,))
        return self._follow(position, spec, missed, now, facts)
