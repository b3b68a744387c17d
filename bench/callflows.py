"""Call-flow interpreter cost: decisions per second on the example flow, and what it adds.

Run: ``.venv/bin/python -m bench.callflows [--seconds 1.0] [--runs 5]``. Times whole calls
through ``examples/flows`` (a schedule step, then two stages: two members at once, then one,
nobody answering, then voicemail: three decisions per call) and a round-robin group of 25 in
waves of 10 (three waves, then the end: four decisions). The baseline,
measured in the same run, is the cost of parsing one carrier INVITE lazily (``bench.parser``'s
message), so the ratio says how many INVITE parses one decision costs on this machine.
Prints the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sharedline.callflows.facts import CallFacts
from sharedline.callflows.interpreter import Interpreter
from sharedline.callflows.loader import load_flows, parse_flows
from sharedline.sip.parser import parse_message

from .parser import INVITE

NUMBER = "+14155550100"
EXAMPLES = Path(__file__).parents[1] / "examples" / "flows"
TEAM = tuple(f"m{i}@acme.test" for i in range(1, 26))
ROUND_ROBIN = f"""
version: 1
numbers: {{"{NUMBER}": main}}
groups:
  team: {{members: [{", ".join(TEAM)}]}}
flows:
  main:
    start: ring
    steps:
      ring: {{ring: {{targets: [group:team], strategy: round_robin, batches: 10}}, next: end}}
"""
# a Wednesday at 10:05 in Los Angeles: the example's office is open
WEDNESDAY = datetime(2026, 12, 23, 18, 5, tzinfo=UTC).timestamp()


def example_call() -> Callable[[], int]:
    flows = load_flows(EXAMPLES)
    interpreter = Interpreter(flows.document, flows.revision)
    facts = CallFacts(
        number=NUMBER,
        caller="+12125550123",
        members=("alice@acme.test", "bob@acme.test", "carol@acme.test"),
        wall_offset=WEDNESDAY,
    )
    return _whole_call(interpreter, facts)


def round_robin_call() -> Callable[[], int]:
    flows = parse_flows(ROUND_ROBIN)
    interpreter = Interpreter(flows.document, flows.revision)
    turns = {f"{NUMBER}/group:team": {member: i for i, member in enumerate(TEAM)}}
    facts = CallFacts(number=NUMBER, caller="+12125550123", members=TEAM, turns=turns)
    return _whole_call(interpreter, facts)


def _whole_call(interpreter: Interpreter, facts: CallFacts) -> Callable[[], int]:
    def call() -> int:
        decision = interpreter.start(NUMBER, 0.0, facts, seed=1)
        now = 0.0
        decisions = 1
        while not decision.position.done:
            now += 20.0
            decision = interpreter.step(decision.position, "no_answer", now, facts)
            decisions += 1
        return decisions

    return call


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls of ``work`` per second over about ``seconds``."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while (now := time.perf_counter()) < deadline:
        for _ in range(50):
            work()
        count += 50
    return count / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases = {"example flow": example_call(), "round robin 25": round_robin_call()}
    for name, call in cases.items():
        decisions = call()
        calls: list[float] = []
        ratios: list[float] = []
        for _ in range(args.runs):
            calls.append(rate(call, args.seconds))
            baseline = rate(lambda: parse_message(INVITE), args.seconds)
            ratios.append(baseline / (calls[-1] * decisions))
        per_call = statistics.median(calls)
        print(
            f"{name:<16} {per_call:>9,.0f} calls/s  {per_call * decisions:>9,.0f} decisions/s"
            f"  ({decisions} per call)"
            f"  one decision = {statistics.median(ratios):.1f} INVITE parses"
        )


if __name__ == "__main__":
    main()
