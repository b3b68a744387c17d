"""Checks across a whole call-flow document, files and directories, the store, the backends.

Each problem is asserted as the full line an admin reads: ``FILE:LINE:COLUMN path: message``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sharedline.callflows.loader import (
    REQUIRED_OUTCOMES,
    STEP_OUTCOMES,
    Backend,
    FlowError,
    FlowSet,
    KnownEntities,
    known_from_directory,
    load_flows,
    parse_flows,
)
from sharedline.callflows.model import StepKind
from sharedline.switch.directory import (
    Directory,
    DirectoryMember,
    DirectoryNumber,
    DirectoryTrunk,
)

FILE = "flows/main.yaml"

HEAD = """\
version: 1
numbers:
  "+14155550100": main
flows:
  main:
    start: first
    steps:
"""
# Steps written after HEAD start at line 8, with the step name at column 7.

KNOWN = KnownEntities(
    numbers={
        "+14155550100": frozenset({"alice@acme.test", "bob@acme.test"}),
        "+14155550111": frozenset({"alice@acme.test"}),
    },
    trunks=frozenset({"carrier"}),
)


def flows(steps: str) -> str:
    return HEAD + steps


def errors(
    text: str, *, known: KnownEntities | None = None, backend: Backend | None = None
) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse_flows(text, FILE, known=known, backend=backend)
    return caught.value.errors


def valid(
    text: str, *, known: KnownEntities | None = None, backend: Backend | None = None
) -> FlowSet:
    return parse_flows(text, FILE, known=known, backend=backend)


# --- references ---------------------------------------------------------------------------------


def test_a_number_must_name_a_flow() -> None:
    text = """\
version: 1
numbers:
  "+14155550100": mian
  "+14155550111": {flow: sales}
flows:
  main:
    start: first
    steps:
      first: {hangup: }
"""
    assert errors(text) == [
        f"{FILE}:3:19 numbers.+14155550100: no flow 'mian'; did you mean 'main'?",
        f"{FILE}:4:26 numbers.+14155550111.flow: no flow 'sales'",
    ]


def test_start_and_every_transition_must_name_a_step_of_the_flow() -> None:
    text = """\
version: 1
flows:
  main:
    start: frist
    steps:
      first:
        play: hello
        on: {done: secnod}
      second:
        menu: {prompt: choose, choices: {1: thrid, 2: end}}
        on: {no_input: ned, invalid: end}
      third: {goto: fourth}
      other: {play: bye, next: first}
"""
    assert errors(text) == [
        f"{FILE}:4:12 flows.main.start: no step 'frist' in flow main; did you mean 'first'?",
        f"{FILE}:8:20 flows.main.steps.first.on.done: "
        "no step 'secnod' in flow main; did you mean 'second'?",
        f"{FILE}:10:45 flows.main.steps.second.menu.choices.1: "
        "no step 'thrid' in flow main; did you mean 'third'?",
        f"{FILE}:11:24 flows.main.steps.second.on.no_input: "
        "no step 'ned' in flow main; did you mean 'end'?",
        f"{FILE}:12:21 flows.main.steps.third.goto: no step 'fourth' in flow main",
    ]


def test_a_step_cannot_lead_into_another_flow() -> None:
    text = """\
version: 1
flows:
  main:
    start: first
    steps:
      first: {goto: second}
  other:
    start: second
    steps:
      second: {hangup: }
"""
    assert errors(text) == [
        f"{FILE}:6:21 flows.main.steps.first.goto: no step 'second' in flow main"
    ]


def test_a_schedule_step_must_name_a_schedule() -> None:
    text = flows("""\
      first:
        schedule: ofice
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:9:19 flows.main.steps.first.schedule: no schedule 'ofice'; "
        "define it under schedules:"
    ]
    with_office = text + "schedules:\n  office: {}\n"
    assert errors(with_office) == [
        f"{FILE}:9:19 flows.main.steps.first.schedule: no schedule 'ofice'; did you mean 'office'?"
    ]


def test_a_group_target_must_name_a_group() -> None:
    text = flows("""\
      first:
        ring:
          targets:
            - group:salse
            - {group: support}
        on: {default: end}
groups:
  sales: {members: [alice@acme.test]}
""")
    assert errors(text) == [
        f"{FILE}:11:15 flows.main.steps.first.ring.targets[0]: no group 'salse'; "
        "did you mean 'sales'?",
        f"{FILE}:12:23 flows.main.steps.first.ring.targets[1].group: no group 'support'",
    ]


def test_end_is_a_reserved_step_name() -> None:
    text = flows("""\
      first: {goto: end}
      end: {hangup: }
""")
    assert errors(text) == [
        f"{FILE}:9:7 flows.main.steps.end: "
        "'end' is reserved: it means the flow stops; give this step another name"
    ]


# --- outcomes -----------------------------------------------------------------------------------


def test_outcomes_per_kind_and_those_to_handle() -> None:
    call = {"answered", "no_answer", "busy", "declined", "failed", "caller_hangup"}
    assert {k: {o.value for o in v} for k, v in STEP_OUTCOMES.items()} == {
        StepKind.RING: call,
        StepKind.FORWARD: call,
        StepKind.SCHEDULE: {"open", "closed", "holiday"},
        StepKind.PLAY: {"done"},
        StepKind.MENU: {"no_input", "invalid"},
        StepKind.GOTO: set(),
        StepKind.VOICEMAIL: set(),
        StepKind.HANGUP: set(),
    }
    assert [o.value for o in REQUIRED_OUTCOMES[StepKind.RING]] == [
        "no_answer",
        "busy",
        "declined",
        "failed",
    ]


def test_an_unhandled_outcome_names_what_to_add() -> None:
    text = flows("""\
      first:
        ring: {targets: [alice@acme.test]}
        on:
          no_answer: end
          declined: end
          failed: end
""")
    assert errors(text) == [
        f"{FILE}:10:9 flows.main.steps.first.on: outcome busy is not handled; "
        "add busy: STEP or default: STEP"
    ]


def test_several_unhandled_outcomes_are_one_problem() -> None:
    text = flows("""\
      first:
        forward: {number: "+14155550199"}
""")
    assert errors(text) == [
        f"{FILE}:9:9 flows.main.steps.first.on: outcomes no_answer, busy, declined and failed "
        "are not handled; add no_answer: STEP, busy: STEP, declined: STEP, failed: STEP "
        "or default: STEP"
    ]


@pytest.mark.parametrize(
    "step",
    [
        "{ring: {targets: [alice@acme.test]}, on: {default: end}}",
        "{ring: {targets: [alice@acme.test]}, next: end}",
        "{forward: {number: '+14155550199'}, on: {no_answer: end, busy: end, declined: end, "
        "failed: end}}",
        "{schedule: office, on: {open: end, closed: end, holiday: end}}",
        "{schedule: office, on: {open: end, default: end}}",
        "{play: hello, next: end}",
        "{play: hello, on: {done: end}}",
        "{menu: {prompt: p, choices: {1: end}}, on: {no_input: end, invalid: end}}",
        "{goto: end}",
        "{voicemail: {box: support}}",
        "{hangup: 480}",
    ],
)
def test_steps_that_handle_their_outcomes(step: str) -> None:
    valid(flows(f"      first: {step}\n") + "schedules:\n  office: {}\n")


def test_an_outcome_the_step_cannot_have() -> None:
    text = flows("""\
      first:
        schedule: office
        on: {open: end, default: end, answered: end, done: end}
schedules:
  office: {}
""")
    assert errors(text) == [
        f"{FILE}:10:39 flows.main.steps.first.on.answered: "
        "a schedule step has no outcome answered; it has open, closed and holiday",
        f"{FILE}:10:54 flows.main.steps.first.on.done: "
        "a schedule step has no outcome done; it has open, closed and holiday",
    ]


@pytest.mark.parametrize(
    ("outcome", "why"),
    [
        ("answered", "answered means the call is connected and the flow is over"),
        ("caller_hangup", "caller_hangup means the caller is gone and the flow is over"),
    ],
)
def test_answered_and_caller_hangup_can_only_lead_to_end(outcome: str, why: str) -> None:
    text = flows(f"""\
      first:
        ring: {{targets: [alice@acme.test]}}
        on:
          {outcome}: second
          default: second
      second: {{voicemail: {{box: support}}}}
""")
    column = 13 + len(outcome)
    assert errors(text) == [
        f"{FILE}:11:{column} flows.main.steps.first.on.{outcome}: {why}: it can only lead to end"
    ]
    valid(text.replace(f"{outcome}: second", f"{outcome}: end"))


@pytest.mark.parametrize("kind", ["voicemail: {box: support}", "hangup: 480"])
def test_nothing_can_follow_a_step_that_ends_the_call(kind: str) -> None:
    name = kind.split(":")[0]
    text = flows(f"""\
      first:
        {kind}
        next: second
        on: {{done: second}}
        max_visits: 2
      second: {{hangup: }}
""")
    found = errors(text)
    assert found[:3] == [
        f"{FILE}:10:9 flows.main.steps.first.next: {name} ends the call; nothing can follow",
        f"{FILE}:11:9 flows.main.steps.first.on: {name} ends the call; nothing can follow",
        f"{FILE}:12:9 flows.main.steps.first.max_visits: "
        f"{name} ends the call, so it runs once at most; remove max_visits",
    ]


def test_a_goto_has_no_outcomes_unless_it_counts_visits() -> None:
    text = flows("""\
      first:
        goto: second
        next: second
      second: {hangup: }
""")
    assert errors(text) == [
        f"{FILE}:10:9 flows.main.steps.first.next: "
        "goto has no outcomes: it always goes on at 'second'; remove next"
    ]


def test_max_visits_must_be_handled_explicitly() -> None:
    text = flows("""\
      first:
        ring: {targets: [alice@acme.test]}
        max_visits: 3
        on: {default: first}
""")
    assert errors(text) == [
        f"{FILE}:11:9 flows.main.steps.first.on: outcome max_visits is not handled; add "
        "max_visits: STEP (default does not cover it: say where a call goes once it has been "
        "here too often)"
    ]


def test_max_visits_outcome_without_max_visits_never_happens() -> None:
    text = flows("""\
      first:
        play: hello
        on: {done: end, max_visits: end}
""")
    assert errors(text) == [
        f"{FILE}:10:25 flows.main.steps.first.on.max_visits: "
        "this step sets no max_visits, so this never happens"
    ]


# --- reachability and loops ---------------------------------------------------------------------


def test_each_unreachable_step_is_reported_at_its_key() -> None:
    text = flows("""\
      first: {play: hello, next: end}
      orphan: {play: bye, next: orphan_too}
      orphan_too: {hangup: }
""")
    assert errors(text) == [
        f"{FILE}:9:7 flows.main.steps.orphan: "
        "unreachable: no path from start (first) leads to this step",
        f"{FILE}:10:7 flows.main.steps.orphan_too: "
        "unreachable: no path from start (first) leads to this step",
    ]


def test_a_loop_without_max_visits_never_ends() -> None:
    text = flows("""\
      first:
        ring: {targets: [alice@acme.test]}
        on: {default: retry}
      retry: {goto: first}
""")
    assert errors(text) == [
        f"{FILE}:8:7 flows.main.steps.first: "
        "loop first → retry → first never ends; add max_visits: N to one of its steps"
    ]


def test_a_loop_through_a_step_with_max_visits_is_bounded() -> None:
    text = flows("""\
      first:
        ring: {targets: [alice@acme.test]}
        on: {default: retry}
      retry:
        goto: first
        max_visits: 3
        on: {max_visits: voicemail}
      voicemail: {voicemail: {box: support}}
""")
    valid(text)


def test_a_step_leading_to_itself_is_a_loop() -> None:
    text = flows("""\
      first:
        play: hello
        next: first
""")
    assert errors(text) == [
        f"{FILE}:8:7 flows.main.steps.first: "
        "loop first → first never ends; add max_visits: N to one of its steps"
    ]


def test_each_loop_is_reported_once_at_its_first_step() -> None:
    text = flows("""\
      first:
        menu: {prompt: p, choices: {1: a, 2: c}}
        on: {default: end}
      a: {play: x, next: b}
      b: {play: y, next: a}
      c: {play: z, next: d}
      d:
        menu: {prompt: q, choices: {1: c, 2: d, 3: end}}
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:11:7 flows.main.steps.a: "
        "loop a → b → a never ends; add max_visits: N to one of its steps",
        f"{FILE}:13:7 flows.main.steps.c: "
        "loop c → d → c never ends; add max_visits: N to one of its steps",
    ]


# --- timeouts -----------------------------------------------------------------------------------


def test_a_leg_timeout_longer_than_the_total_timeout() -> None:
    text = flows("""\
      first:
        ring:
          stages:
            - targets: [alice@acme.test]
              leg_timeout: 10
            - targets: [bob@acme.test]
              leg_timeout: 45
          total_timeout: 30
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:14:28 flows.main.steps.first.ring.stages[1].leg_timeout: "
        "leg_timeout 45 is longer than total_timeout 30: "
        "the step would give up while the first wave rings"
    ]


def test_a_total_timeout_shorter_than_the_default_leg_timeout() -> None:
    text = flows("""\
      first:
        ring: {targets: [alice@acme.test], total_timeout: 12.5}
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:9:59 flows.main.steps.first.ring.total_timeout: total_timeout 12.5 is shorter "
        "than defaults.leg_timeout 20: the step would give up while the first wave rings; "
        "give this step a shorter leg_timeout"
    ]
    valid(text.replace("total_timeout: 12.5", "total_timeout: 12.5, leg_timeout: 12"))
    valid("defaults: {leg_timeout: 10}\n" + text)


# --- the store ----------------------------------------------------------------------------------


def test_a_bound_number_must_be_in_the_store() -> None:
    text = flows("      first: {hangup: }\n").replace("+14155550100", "+14155550109")
    assert errors(text, known=KNOWN) == [
        f"{FILE}:3:3 numbers.+14155550109: +14155550109 is not a shared number in the store; "
        "did you mean '+14155550100'?"
    ]


def test_members_rung_must_belong_to_every_number_bound_to_the_flow() -> None:
    text = """\
version: 1
numbers:
  "+14155550100": main
  "+14155550111": main
groups:
  desk: {members: [alice@acme.test, bob@acme.test, carol@acme.test]}
flows:
  main:
    start: first
    steps:
      first:
        ring: {targets: [bob@acme.test, group:desk, {member: dave@acme.test}]}
        on: {default: end}
"""
    assert errors(text, known=KNOWN) == [
        f"{FILE}:6:37 groups.desk.members[1]: bob@acme.test is not a member of +14155550111 "
        "(bound to flow main, which rings group:desk)",
        f"{FILE}:6:52 groups.desk.members[2]: carol@acme.test is not a member of +14155550100 "
        "(bound to flow main, which rings group:desk)",
        f"{FILE}:6:52 groups.desk.members[2]: carol@acme.test is not a member of +14155550111 "
        "(bound to flow main, which rings group:desk)",
        f"{FILE}:12:26 flows.main.steps.first.ring.targets[0]: bob@acme.test is not a member "
        "of +14155550111 (bound to flow main)",
        f"{FILE}:12:62 flows.main.steps.first.ring.targets[2].member: dave@acme.test is not a "
        "member of +14155550100 (bound to flow main)",
        f"{FILE}:12:62 flows.main.steps.first.ring.targets[2].member: dave@acme.test is not a "
        "member of +14155550111 (bound to flow main)",
    ]


def test_trunks_must_be_in_the_store() -> None:
    text = flows("""\
      first:
        forward: {number: "+14155550199", trunk: carier}
        on: {default: second}
      second:
        ring: {targets: [{number: "+14155550198", trunk: other}]}
        on: {default: end}
""")
    assert errors(text, known=KNOWN) == [
        f"{FILE}:9:50 flows.main.steps.first.forward.trunk: no trunk 'carier' in the store; "
        "did you mean 'carrier'?",
        f"{FILE}:12:58 flows.main.steps.second.ring.targets[0].trunk: "
        "no trunk 'other' in the store",
    ]


def test_a_flow_that_fits_the_store() -> None:
    text = flows("""\
      first:
        ring: {targets: [alice@acme.test, bob@acme.test, everyone, "+14155550199"]}
        on: {default: second}
      second:
        forward: {number: "+14155550199", trunk: carrier}
        on: {default: end}
""")
    assert valid(text, known=KNOWN).document.numbers["+14155550100"].flow == "main"


def test_known_entities_from_a_directory() -> None:
    def member(user_id: int, email: str) -> DirectoryMember:
        return DirectoryMember(user_id=user_id, name=email, email=email, role="member")

    trunk = DirectoryTrunk(id=1, name="carrier", allowed_sources=())
    number = DirectoryNumber(
        id=1,
        e164="+14155550100",
        name="Support",
        plan="starter",
        members=(member(1, "alice@acme.test"), member(2, "Bob@Acme.Test")),
        trunk=trunk,
    )
    known = known_from_directory(Directory.build([number], [], [trunk]))
    assert known == KnownEntities(
        numbers={"+14155550100": frozenset({"alice@acme.test", "bob@acme.test"})},
        trunks=frozenset({"carrier"}),
    )


# --- backends -----------------------------------------------------------------------------------

IVR = flows("""\
      first: {play: welcome, next: choose}
      choose:
        menu: {prompt: choose, choices: {1: leave_message}}
        on: {default: leave_message}
      leave_message: {voicemail: {box: support}}
""")


def test_the_sip_switch_refuses_play_and_menu() -> None:
    assert errors(IVR, backend="sip") == [
        f"{FILE}:8:15 flows.main.steps.first.play: "
        "the SIP switch carries no media: play needs the asterisk or twilio backend",
        f"{FILE}:10:9 flows.main.steps.choose.menu: "
        "the SIP switch carries no media: menu needs the asterisk or twilio backend",
    ]


@pytest.mark.parametrize("backend", ["asterisk", "twilio", None])
def test_media_backends_run_play_and_menu(backend: Backend | None) -> None:
    valid(IVR, backend=backend)


def test_the_sip_switch_takes_voicemail() -> None:
    valid(flows("      first: {voicemail: {box: support}}\n"), backend="sip")


# --- all problems at once, in file order --------------------------------------------------------


def test_every_problem_is_reported_in_file_order() -> None:
    text = flows("""\
      first:
        ring: {targets: [group:nobody]}
        on: {answered: second, default: nowhere}
      second: {play: bye}
""")
    found = errors(text, backend="sip")
    assert [line.split(" ")[0] for line in found] == [
        f"{FILE}:9:26",  # no group nobody
        f"{FILE}:10:24",  # answered leads to end only
        f"{FILE}:10:41",  # no step nowhere
        f"{FILE}:11:15",  # done is not handled
        f"{FILE}:11:16",  # no play on the SIP switch
    ]


# --- files and directories ----------------------------------------------------------------------

NUMBERS = 'version: 1\nnumbers:\n  "+14155550100": main\ngroups:\n  desk: {members: [a@b.test]}\n'
MAIN = "version: 1\nflows:\n  main:\n    start: first\n    steps:\n      first: {hangup: }\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_a_directory_is_every_yaml_file_under_it_merged(tmp_path: Path) -> None:
    root = write(
        tmp_path / "flows",
        {
            "numbers.yaml": NUMBERS,
            "flows/main.yml": MAIN,
            "notes.txt": "not read",
            ".hidden.yaml": "not: [read",
            ".git/x.yaml": "not: [read",
        },
    )
    loaded = load_flows(root)
    assert loaded.files == (str(root / "flows/main.yml"), str(root / "numbers.yaml"))
    assert set(loaded.document.numbers) == {"+14155550100"}
    assert set(loaded.document.flows) == {"main"}
    assert set(loaded.document.groups) == {"desk"}
    assert re.fullmatch(r"[0-9a-f]{12}", loaded.revision)


def test_one_file_is_read_on_its_own(tmp_path: Path) -> None:
    path = write(tmp_path, {"main.yaml": MAIN})
    loaded = load_flows(path / "main.yaml")
    assert loaded.files == (str(path / "main.yaml"),)
    assert loaded.revision == parse_flows(MAIN, "main.yaml").revision


def test_the_same_name_in_two_files_cites_both(tmp_path: Path) -> None:
    root = write(tmp_path / "f", {"a.yaml": NUMBERS + MAIN[11:], "b.yaml": MAIN + NUMBERS[11:]})
    with pytest.raises(FlowError) as caught:
        load_flows(root)
    a, b = root / "a.yaml", root / "b.yaml"
    assert caught.value.errors == [
        f"{b}:8:3 numbers.+14155550100: number +14155550100 is also defined at {a}:3:3",
        f"{b}:10:3 groups.desk: group desk is also defined at {a}:5:3",
        f"{b}:3:3 flows.main: flow main is also defined at {a}:7:3",
    ]


def test_timezone_and_defaults_belong_to_one_file(tmp_path: Path) -> None:
    settings = "version: 1\ntimezone: Europe/Paris\ndefaults: {leg_timeout: 15}\n"
    root = write(tmp_path / "f", {"a.yaml": settings, "b.yaml": settings, "c.yaml": MAIN})
    with pytest.raises(FlowError) as caught:
        load_flows(root)
    a, b = root / "a.yaml", root / "b.yaml"
    assert caught.value.errors == [
        f"{b}:2:1 timezone: timezone is also set at {a}:2:1; set it in one file",
        f"{b}:3:1 defaults: defaults is also set at {a}:3:1; set it in one file",
    ]
    write(root, {"b.yaml": "version: 1\n"})
    loaded = load_flows(root)
    assert loaded.document.timezone == "Europe/Paris"
    assert loaded.document.defaults.leg_timeout == 15


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    root = write(tmp_path / "f", {"a.yaml": "version: 1\nflows: [\n", "b.yaml": "version: 3\n"})
    root.joinpath("c.yaml").write_bytes(b"version: 1\n\xff\n")
    with pytest.raises(FlowError) as caught:
        load_flows(root)
    assert caught.value.errors == [
        f"{root / 'a.yaml'}:3:1 yaml: expected the node content, but found '<stream end>' "
        "(while parsing a flow node)",
        f"{root / 'b.yaml'}:1:10 version: this is version 3 of the format; "
        "this release reads version 1",
        f"{root / 'c.yaml'}: cannot read call-flow file: not UTF-8 text (byte 11)",
    ]


def test_references_are_checked_across_files(tmp_path: Path) -> None:
    root = write(tmp_path / "f", {"a.yaml": NUMBERS.replace("main", "mian"), "b.yaml": MAIN})
    with pytest.raises(FlowError) as caught:
        load_flows(root)
    assert caught.value.errors == [
        f"{root / 'a.yaml'}:3:19 numbers.+14155550100: no flow 'mian'; did you mean 'main'?"
    ]


def test_a_directory_without_flow_files(tmp_path: Path) -> None:
    write(tmp_path, {"notes.txt": "x"})
    with pytest.raises(FlowError) as caught:
        load_flows(tmp_path)
    assert caught.value.errors == [
        f"{tmp_path}: no call-flow files (*.yaml, *.yml) in this directory"
    ]


def test_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FlowError) as caught:
        load_flows(tmp_path / "nowhere")
    assert caught.value.errors == [f"{tmp_path / 'nowhere'}: no such file or directory"]


def test_the_revision_changes_iff_the_content_does(tmp_path: Path) -> None:
    root = write(tmp_path / "f", {"a.yaml": NUMBERS, "b.yaml": MAIN})
    first = load_flows(root).revision
    assert load_flows(root).revision == first
    (root / "a.yaml").touch()
    assert load_flows(root).revision == first
    write(root, {"a.yaml": NUMBERS + "# a comment\n"})
    second = load_flows(root).revision
    assert second != first
    write(root, {"a.yaml": NUMBERS})
    assert load_flows(root).revision == first
    (root / "b.yaml").rename(root / "c.yaml")
    assert load_flows(root).revision != first
