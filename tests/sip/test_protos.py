"""The PROTOS c07-sip corpus: 4,527 mutated INVITEs and their CANCELs against parser and core.

Pass criterion (``shared/fuzz/protos-c07-sip/README.md``): no crash, no hang, bounded state,
a 400 (or 505, 513) or a silent drop for what cannot be accepted, and an OPTIONS liveness probe
still answered. Everything runs in-process on a virtual clock, one case per virtual second; the
over-the-wire run is a separate integration test.

The engine is the ``sharedline serve`` responder: an :class:`OptionsService` serving OPTIONS only,
so every INVITE gets a final answer (405) and every transaction ends by its timers.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from functools import cache

from sharedline.sip.errors import MessageTooLarge, ParseError
from sharedline.sip.events import Address, MessageDropped, RequestReceived
from sharedline.sip.ids import CountingIds
from sharedline.sip.parser import DEFAULT_LIMITS, parse_message
from sharedline.sip.service import OptionsService
from sharedline.sip.transactions import TransactionLayer
from sharedline.sip.uas import UasPolicy

from .conformance import missing_shared
from .helpers import lf2crlf, parse_request, parse_response
from .protos import CASE_COUNT, LOCAL_PORT, ProtosCase, find_shared_dir, iter_cases, load_case
from .test_parser import read_every_view

SOURCE: Address = ("127.0.0.1", LOCAL_PORT)  # where the PDUs' Via says responses go
STEP = 1.0  # virtual seconds between cases
PROBE_EVERY = 500
MAX_DATAGRAM = 65_535
# What the core and an OPTIONS-only service may say to the corpus, and nothing else (no 500).
EXPECTED_STATUSES = {100, 200, 400, 405, 481, 505, 513}


@cache
def corpus() -> tuple[ProtosCase, ...]:
    return tuple(iter_cases())


def require_corpus() -> tuple[ProtosCase, ...]:
    if find_shared_dir() is None:
        missing_shared("fuzz/protos-c07-sip")
    return corpus()


def options_probe(number: int) -> bytes:
    return lf2crlf(
        f"""\
OPTIONS sip:probe@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{LOCAL_PORT};branch=z9hG4bK-probe-{number}
Max-Forwards: 70
From: <sip:monitor@127.0.0.1>;tag=probe
To: <sip:probe@127.0.0.1>
Call-ID: protos-probe-{number}
CSeq: {number + 1} OPTIONS
Content-Length: 0

"""
    )


@dataclass
class CorpusRun:
    """What one engine did with the whole corpus (see :func:`run_corpus`)."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    destinations: set[Address] = field(default_factory=set)
    probes: list[tuple[int, list[int]]] = field(default_factory=list)
    oversized: list[tuple[int, str, list[bytes], bool, bool]] = field(default_factory=list)
    """(case, "invite"/"teardown", status lines sent, dropped reported, handed up)."""
    unusable_answers: list[tuple[int, int, str]] = field(default_factory=list)
    """(case, size, why): answers we could not parse ourselves or that exceed a datagram."""
    answer_sizes: list[int] = field(default_factory=list)
    max_live: int = 0
    live_after_timeout: int = -1
    seconds: float = 0.0


@cache
def run_corpus() -> CorpusRun:
    """Feed every INVITE and teardown to one layer and service; probe with OPTIONS as we go."""
    cases = corpus()
    layer = TransactionLayer()
    service = OptionsService(ids=CountingIds(), policy=UasPolicy(allowed_methods=("OPTIONS",)))
    run = CorpusRun()
    now = 0.0

    def deliver(data: bytes, number: int) -> tuple[list[bytes], bool, bool]:
        layer.receive(data, SOURCE, "udp", now)
        events = layer.take_events()
        for event in events:
            service.handle(event, layer, now)
        events += layer.take_events()
        return (
            collect(number),
            any(isinstance(e, MessageDropped) for e in events),
            any(isinstance(e, RequestReceived) for e in events),
        )

    def collect(number: int) -> list[bytes]:
        lines = []
        for send in layer.take_sends():
            run.destinations.add(send.destination)
            status_line = send.data.partition(b"\r\n")[0]
            lines.append(status_line)
            run.statuses[int(status_line.split(b" ")[1])] += 1
            run.answer_sizes.append(len(send.data))
            if len(send.data) > MAX_DATAGRAM:
                run.unusable_answers.append((number, len(send.data), "larger than a datagram"))
                continue
            try:
                # framing only: an error answer copies the request's own (malformed) Via, From,
                # To, Call-ID and CSeq as RFC 3261 §8.2.6.2 says, so its typed views may not read
                parse_message(send.data)
            except ParseError as error:
                run.unusable_answers.append((number, len(send.data), error.message[:80]))
        return lines

    def probe(number: int) -> None:
        sent, _, _ = deliver(options_probe(number), number)
        run.probes.append((number, [int(line.split(b" ")[1]) for line in sent]))

    for case in cases:
        now += STEP
        layer.handle_timer(now)
        collect(case.number)
        for which, data in (("invite", case.invite), ("teardown", case.teardown)):
            sent, dropped, handed_up = deliver(data, case.number)
            if len(data) > DEFAULT_LIMITS.max_message_size:
                run.oversized.append((case.number, which, sent, dropped, handed_up))
        run.max_live = max(run.max_live, layer.transaction_count)
        if case.number % PROBE_EVERY == 0:
            probe(case.number)
    probe(len(cases))
    layer.handle_timer(now + layer.timers.timeout + layer.timers.t4 + STEP)
    collect(len(cases))
    run.live_after_timeout = layer.transaction_count
    return run


# -- the corpus itself ---------------------------------------------------------------------------


def test_protos_corpus_holds_4527_cases_in_order() -> None:
    cases = require_corpus()
    assert len(cases) == CASE_COUNT == 4527
    assert [case.number for case in cases] == list(range(CASE_COUNT))
    assert cases[0].group == "valid"
    assert load_case(2361) == cases[2361]
    assert sum(len(c.invite) > MAX_DATAGRAM or len(c.teardown) > MAX_DATAGRAM for c in cases) > 0


def test_reference_case_0_is_a_valid_invite_and_its_cancel() -> None:
    reference = require_corpus()[0]
    invite, cancel = parse_request(reference.invite), parse_request(reference.teardown)
    invite.validate()
    cancel.validate()
    assert (invite.method, cancel.method) == ("INVITE", "CANCEL")
    assert invite.call_id == cancel.call_id
    assert invite.top_via.branch == cancel.top_via.branch
    assert invite.top_via.sent_by == ("127.0.0.1", LOCAL_PORT)
    assert invite.content_length == len(invite.body) > 0


# -- the parser ----------------------------------------------------------------------------------


def test_every_protos_message_parses_or_raises_parse_error_and_nothing_else() -> None:
    cases = require_corpus()
    unexpected: list[tuple[int, str, str]] = []
    outcomes: collections.Counter[str] = collections.Counter()
    for case in cases:
        for which, data in (("invite", case.invite), ("teardown", case.teardown)):
            try:
                message = parse_message(data)
            except MessageTooLarge:
                outcomes["too large"] += 1
                continue
            except ParseError:
                outcomes["refused"] += 1
                assert len(data) <= DEFAULT_LIMITS.max_message_size, (case.number, which)
                continue
            except Exception as error:  # the property under test: nothing else escapes
                unexpected.append((case.number, which, repr(error)))
                continue
            assert len(data) <= DEFAULT_LIMITS.max_message_size, (case.number, which)
            outcomes["parsed"] += 1
            try:
                read_every_view(message)
                assert parse_message(bytes(message)) == message
            except Exception as error:
                unexpected.append((case.number, which, repr(error)))
    assert unexpected == []
    assert sum(outcomes.values()) == 2 * CASE_COUNT
    # sanity: the corpus exercised every branch (the counts themselves are not a contract)
    assert outcomes["parsed"] > 0
    assert outcomes["refused"] > 0
    assert outcomes["too large"] > 0


# -- the engine ----------------------------------------------------------------------------------


def test_engine_keeps_answering_options_through_the_whole_protos_corpus() -> None:
    require_corpus()
    run = run_corpus()
    probed_after = [number for number, _ in run.probes]
    assert probed_after == [*range(0, CASE_COUNT, PROBE_EVERY), CASE_COUNT]
    assert [statuses for _, statuses in run.probes] == [[200]] * len(run.probes)


def test_engine_answers_protos_only_with_expected_statuses_and_only_to_the_sender() -> None:
    require_corpus()
    run = run_corpus()
    assert run.destinations == {SOURCE}
    assert set(run.statuses) <= EXPECTED_STATUSES, run.statuses
    assert run.statuses[405] > 0  # the INVITEs that parsed were refused by the OPTIONS service
    assert run.statuses[400] > 0  # and the ones that did not were answered statelessly


def test_oversized_protos_messages_get_513_or_are_dropped_and_never_handed_up() -> None:
    require_corpus()
    run = run_corpus()
    assert run.oversized
    for number, which, sent, dropped, handed_up in run.oversized:
        assert dropped, (number, which)
        assert not handed_up, (number, which)
        assert all(line.startswith(b"SIP/2.0 513 ") for line in sent), (number, which, sent)


def test_protos_corpus_leaves_no_transactions_behind_after_64_t1() -> None:
    require_corpus()
    run = run_corpus()
    # each case opens at most two server transactions (INVITE, CANCEL), each gone 64*T1 later
    window = math.ceil(TransactionLayer().timers.timeout / STEP) + 1
    assert 0 < run.max_live <= 2 * window + 1
    assert run.live_after_timeout == 0


def test_every_answer_to_a_protos_case_is_one_we_could_parse_and_send() -> None:
    require_corpus()
    run = run_corpus()
    assert run.unusable_answers == []
    assert max(run.answer_sizes) < MAX_DATAGRAM


def test_core_answers_a_too_large_datagram_with_513() -> None:
    huge = require_corpus()[0].invite.replace(
        b"Content-Length:", b"X-Pad: " + b"a" * 70_000 + b"\r\nContent-Length:"
    )
    layer = TransactionLayer()
    layer.receive(huge, SOURCE, "udp", 0.0)
    [send] = layer.take_sends()
    assert parse_response(send.data).status_code == 513
    [event] = layer.take_events()
    assert isinstance(event, MessageDropped)
    assert "exceeds" in event.reason
