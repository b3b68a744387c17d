"""The shape of one call-flow file: each wrong value or key as the admin reads it, with its
``FILE:LINE:COLUMN``; the shorthands; the JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sharedline.callflows.loader import FlowError, FlowSet, parse_flows
from sharedline.callflows.model import (
    SCHEMA_DIALECT,
    FlowDocument,
    HangupSpec,
    Outcome,
    StepKind,
    TargetSpec,
    document_schema,
)

FILE = "flows/main.yaml"

HEAD = """\
version: 1
numbers:
  "+14155550100": main
flows:
  main:
    start: ring_team
    steps:
"""
# Steps written after HEAD start at line 8, with the step name at column 7.


def flows(steps: str) -> str:
    return HEAD + steps


def errors(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse_flows(text, FILE)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def valid(text: str) -> FlowSet:
    return parse_flows(text, FILE)


RING_TEAM = """\
      ring_team:
        ring:
          targets: [alice@acme.test]
          leg_timeout: {leg}
        on: {{default: end}}
"""


# --- timeouts and counts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leg", "message"),
    [
        ("-5", "must be a positive number of seconds, got -5"),
        ("0", "must be a positive number of seconds, got 0"),
        ("4000", "must be at most 3600 seconds, got 4000"),
        ("20s", "must be a number of seconds, got '20s'"),
        ("true", "must be a number of seconds, got True"),
    ],
)
def test_a_timeout_must_be_a_positive_number_of_seconds(leg: str, message: str) -> None:
    assert errors(flows(RING_TEAM.format(leg=leg))) == [
        f"{FILE}:11:24 flows.main.steps.ring_team.ring.leg_timeout: {message}"
    ]


def test_a_timeout_keeps_its_fraction() -> None:
    document = valid(flows(RING_TEAM.format(leg="2.5"))).document
    ring = document.flows["main"].steps["ring_team"].ring
    assert ring is not None
    assert ring.leg_timeout == 2.5


def test_the_issue_example_reads_as_written() -> None:
    text = """\
version: 1
numbers:
  "+14155550100": main
flows:
  main:
    start: ring_team
    steps:
      ring_team:
        ring:
          targets:
            - alice@acme.test
            - bob@acme.test
          strategy: sequential
          leg_timeout:
            -5
        on: {default: end}
"""
    assert errors(text) == [
        f"{FILE}:15:13 flows.main.steps.ring_team.ring.leg_timeout: "
        "must be a positive number of seconds, got -5"
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_parallel", "11", "must be a whole number from 1 to 10, got 11"),
        ("batches", "0", "must be a whole number from 1 to 10, got 0"),
        ("batches", "2.5", "must be a whole number from 1 to 10, got 2.5"),
    ],
)
def test_counts_say_their_range(field: str, value: str, message: str) -> None:
    text = flows(f"""\
      ring_team:
        ring: {{targets: [alice@acme.test], {field}: {value}}}
        on: {{default: end}}
""")
    (line,) = errors(text)
    assert line.startswith(f"{FILE}:9:")
    assert line.endswith(f" flows.main.steps.ring_team.ring.{field}: {message}")


def test_max_visits_says_its_range() -> None:
    text = flows("""\
      ring_team:
        goto: ring_team
        max_visits: 0
        on: {max_visits: end}
""")
    assert errors(text) == [
        f"{FILE}:10:21 flows.main.steps.ring_team.max_visits: "
        "must be a whole number from 1 to 100, got 0"
    ]


# --- keys ---------------------------------------------------------------------------------------


def test_a_misspelt_step_kind_gets_a_did_you_mean_at_the_key() -> None:
    text = flows("""\
      ring_team:
        rnig: {targets: [alice@acme.test]}
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:9:9 flows.main.steps.ring_team.rnig: unknown field 'rnig'; did you mean 'ring'?"
    ]


def test_a_misspelt_field_deep_in_a_ring_gets_a_did_you_mean() -> None:
    text = flows("""\
      ring_team:
        ring:
          stages:
            - targets: [alice@acme.test]
              leg_timout: 10
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:12:15 flows.main.steps.ring_team.ring.stages[0].leg_timout: "
        "unknown field 'leg_timout'; did you mean 'leg_timeout'?"
    ]


def test_a_misspelt_top_level_key_gets_a_did_you_mean() -> None:
    assert errors("version: 1\nflow: {}\n") == [
        f"{FILE}:2:1 flow: unknown field 'flow'; did you mean 'flows'?"
    ]


def test_a_misspelt_outcome_is_not_an_outcome_with_a_hint_at_the_key() -> None:
    text = flows("""\
      ring_team:
        ring: {targets: [alice@acme.test]}
        on:
          noanswer: end
          default: end
""")
    assert errors(text) == [
        f"{FILE}:11:11 flows.main.steps.ring_team.on.noanswer: "
        "'noanswer' is not an outcome; did you mean 'no_answer'?"
    ]


def test_an_outcome_like_nothing_lists_the_outcomes() -> None:
    text = flows("""\
      ring_team:
        ring: {targets: [alice@acme.test]}
        on: {whatever: end}
""")
    outcomes = ", ".join(outcome.value for outcome in Outcome)
    assert errors(text) == [
        f"{FILE}:10:14 flows.main.steps.ring_team.on.whatever: "
        f"'whatever' is not an outcome (one of {outcomes})"
    ]


def test_a_name_that_is_not_a_name_is_reported_at_the_key() -> None:
    text = flows("""\
      ring_team: {goto: 2nd}
      2nd: {hangup: }
""")
    name_rule = "letters, digits, '_', '.' and '-', starting with a letter or '_'"
    assert errors(text) == [
        f"{FILE}:8:25 flows.main.steps.ring_team.goto: '2nd' is not a name: {name_rule}",
        f"{FILE}:9:7 flows.main.steps.2nd: '2nd' is not a name: {name_rule}",
    ]


def test_an_unquoted_number_is_reported_at_its_key_with_the_fix() -> None:
    text = "version: 1\nnumbers:\n  +14155550100: main\n"
    assert errors(text) == [
        f'{FILE}:3:3 numbers.+14155550100: put E.164 numbers in quotes ("+14155550100"): '
        "YAML reads +14155550100 as an integer"
    ]


def test_a_number_that_is_not_e164_is_reported_at_its_key() -> None:
    text = 'version: 1\nnumbers:\n  "+0415": main\n'
    assert errors(text) == [
        f"{FILE}:3:3 numbers.+0415: '+0415' is not an E.164 number: "
        "'+' then 2 to 15 digits, the first not 0"
    ]


def test_a_menu_key_must_be_one_digit_star_or_hash() -> None:
    text = flows("""\
      ring_team:
        menu:
          prompt: hello
          choices: {1: end, 12: end, "#": end}
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:11:29 flows.main.steps.ring_team.menu.choices.12: "
        "'12' is not a key: one of 0-9, * or # (quote * and #)"
    ]


# --- steps --------------------------------------------------------------------------------------


def test_a_step_has_exactly_one_action() -> None:
    text = flows("""\
      ring_team:
        goto: other
        hangup: 480
      other: {}
""")
    kinds = ", ".join(kind.value for kind in StepKind)
    assert errors(text) == [
        f"{FILE}:9:9 flows.main.steps.ring_team: a step has exactly one of {kinds}, "
        "got goto, hangup",
        f"{FILE}:11:14 flows.main.steps.other: a step has exactly one of {kinds}, got none",
    ]


def test_next_and_on_default_do_not_go_together() -> None:
    text = flows("""\
      ring_team:
        play: hello
        next: end
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:9:9 flows.main.steps.ring_team: give next or on.default, not both"
    ]


def test_a_ring_has_targets_or_stages_not_both() -> None:
    text = flows("""\
      ring_team:
        ring:
          targets: [alice@acme.test]
          stages: [{targets: [bob@acme.test]}]
        on: {default: end}
""")
    assert errors(text) == [
        f"{FILE}:10:11 flows.main.steps.ring_team.ring: "
        "give either stages or targets for a single stage, not both"
    ]


def test_a_busy_status_is_refused_for_a_shared_number() -> None:
    text = flows("      ring_team: {hangup: 486}\n")
    assert errors(text) == [
        f"{FILE}:8:27 flows.main.steps.ring_team.hangup.status: "
        "486 says busy, and a shared number is never busy; use 480 (the default)"
    ]


def test_a_hangup_status_is_a_sip_final_status() -> None:
    text = flows("      ring_team: {hangup: 200}\n")
    assert errors(text) == [
        f"{FILE}:8:27 flows.main.steps.ring_team.hangup.status: "
        "must be a SIP status from 400 to 699, got 200"
    ]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("hangup:", HangupSpec()),
        ("hangup: 503", HangupSpec(status=503)),
        ("hangup: {status: 404, reason: Not Here}", HangupSpec(status=404, reason="Not Here")),
    ],
)
def test_hangup_shorthands(written: str, expected: HangupSpec) -> None:
    document = valid(flows(f"      ring_team:\n        {written}\n")).document
    assert document.flows["main"].steps["ring_team"].hangup == expected


def test_play_and_number_shorthands() -> None:
    document = valid(
        """\
version: 1
numbers:
  "+14155550100": main
  "+14155550101": {flow: main, timezone: Europe/Paris}
flows:
  main:
    start: hello
    steps:
      hello: {play: welcome, next: end}
"""
    ).document
    assert document.numbers["+14155550100"].flow == "main"
    assert document.numbers["+14155550101"].timezone == "Europe/Paris"
    play = document.flows["main"].steps["hello"].play
    assert play is not None
    assert play.prompt == "welcome"


def test_menu_digits_written_as_numbers_are_keys() -> None:
    document = valid(
        flows("""\
      ring_team:
        menu: {prompt: hello, choices: {1: end, 0: end, "*": end}}
        on: {default: end}
""")
    ).document
    menu = document.flows["main"].steps["ring_team"].menu
    assert menu is not None
    assert list(menu.choices) == ["1", "0", "*"]


# --- targets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("alice@acme.test", TargetSpec(member="alice@acme.test")),
        ("Alice@Acme.Test", TargetSpec(member="alice@acme.test")),
        ("group:sales", TargetSpec(group="sales")),
        ("everyone", TargetSpec(everyone=True)),
        ('"+14155550199"', TargetSpec(number="+14155550199")),
        (
            '{number: "+14155550199", trunk: carrier}',
            TargetSpec(number="+14155550199", trunk="carrier"),
        ),
        ("{member: bob@acme.test, weight: 3}", TargetSpec(member="bob@acme.test", weight=3)),
    ],
)
def test_target_forms(written: str, expected: TargetSpec) -> None:
    text = flows(f"""\
      ring_team:
        ring: {{targets: [{written}], strategy: weighted}}
        on: {{default: end}}
groups:
  sales: {{members: [carol@acme.test]}}
""")
    ring = valid(text).document.flows["main"].steps["ring_team"].ring
    assert ring is not None
    assert ring.targets == [expected]


@pytest.mark.parametrize(
    ("written", "column", "message"),
    [
        (
            "alice",
            26,
            "'alice' is not a target: write a member's email, group:NAME, everyone "
            'or an outside number in quotes ("+14155550199")',
        ),
        (
            "+14155550199",
            26,
            'put E.164 numbers in quotes ("+14155550199"): YAML reads +14155550199 as an integer',
        ),
        (
            "{member: a@b.test, group: sales}",
            26,
            "a target is exactly one of member, group, everyone or number, got member, group",
        ),
        (
            "{member: a@b.test, trunk: carrier}",
            26,
            "trunk applies only to an outside number",
        ),
    ],
)
def test_wrong_targets(written: str, column: int, message: str) -> None:
    text = flows(f"""\
      ring_team:
        ring: {{targets: [{written}]}}
        on: {{default: end}}
""")
    assert errors(text) == [
        f"{FILE}:9:{column} flows.main.steps.ring_team.ring.targets[0]: {message}"
    ]


# --- the document -------------------------------------------------------------------------------


def test_version_must_be_1() -> None:
    assert errors("version: 2\n") == [
        f"{FILE}:1:10 version: this is version 2 of the format; this release reads version 1"
    ]


def test_version_is_required() -> None:
    assert errors("flows: {}\n") == [
        f"{FILE}:1:1 version: missing: a call-flow file starts with version: 1"
    ]


def test_a_time_zone_must_be_an_iana_name() -> None:
    assert errors("version: 1\ntimezone: Paris\n") == [
        f"{FILE}:2:11 timezone: 'Paris' is not an IANA time zone "
        "(like Europe/Paris or America/New_York)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", f"{FILE}:1:1 document: empty file: a call-flow file starts with version: 1"),
        (
            "# nothing\n",
            f"{FILE}:1:1 document: empty file: a call-flow file starts with version: 1",
        ),
        ("- version: 1\n", f"{FILE}:1:1 document: expected a mapping (key: value lines)"),
        (
            "version: 1\nflows: [\n",
            f"{FILE}:3:1 yaml: expected the node content, but found '<stream end>' "
            "(while parsing a flow node)",
        ),
        (
            "version: 1\nversion: 1\n",
            f"{FILE}:2:1 version: duplicate key 'version' (first at line 1)",
        ),
    ],
)
def test_files_that_are_not_a_document(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_every_shape_problem_is_reported_at_once() -> None:
    text = flows("""\
      ring_team:
        ring: {targets: [alice@acme.test], leg_timeout: -1, total_timeout: 0}
        on: {noanswer: end}
""")
    found = errors(text)
    assert len(found) == 3
    assert [line.split(" ", 2)[1] for line in found] == [
        "flows.main.steps.ring_team.ring.leg_timeout:",
        "flows.main.steps.ring_team.ring.total_timeout:",
        "flows.main.steps.ring_team.on.noanswer:",
    ]


def test_defaults_and_a_minimal_document() -> None:
    document = valid("version: 1\n").document
    assert document == FlowDocument(version=1)
    assert (document.timezone, document.defaults.leg_timeout) == ("UTC", 20.0)
    assert document.defaults.max_parallel == 10


# --- JSON Schema --------------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_the_schema_is_draft_2020_12_with_a_title_and_no_id() -> None:
    schema = document_schema()
    assert schema["$schema"] == SCHEMA_DIALECT == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "sharedline call flows"
    assert "$id" not in schema
    assert schema["type"] == "object"
    assert schema["required"] == ["version"]
    assert schema["additionalProperties"] is False
    assert json.loads(json.dumps(schema)) == schema


def test_every_schema_reference_resolves() -> None:
    schema = document_schema()
    refs = set(_refs(schema))
    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


def test_the_schema_accepts_the_shorthands() -> None:
    schema = document_schema()
    defs = schema["$defs"]
    targets = defs["RingSpec"]["properties"]["targets"]["anyOf"][0]["items"]
    assert targets == {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/TargetSpec"}]}
    binding = schema["properties"]["numbers"]["patternProperties"][r"^\+[1-9][0-9]{1,14}$"]
    assert binding == {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/NumberBinding"}]}
    hangup = defs["StepSpec"]["properties"]["hangup"]["anyOf"]
    assert {"type": "integer"} in hangup
    assert {"type": "null"} in hangup


def test_the_schema_says_a_step_has_one_action_and_names_fit_the_pattern() -> None:
    schema = document_schema()
    step = schema["$defs"]["StepSpec"]
    assert step["oneOf"] == [{"required": [kind.value]} for kind in StepKind]
    assert step["properties"]["on"]["propertyNames"] == {"$ref": "#/$defs/Outcome"}
    assert schema["$defs"]["Outcome"]["enum"] == [outcome.value for outcome in Outcome]
    flows_map = schema["properties"]["flows"]
    assert flows_map["additionalProperties"] is False
    assert list(flows_map["patternProperties"]) == ["^[A-Za-z_][A-Za-z0-9_.-]*$"]
    leg = schema["$defs"]["Defaults"]["properties"]["leg_timeout"]
    assert (leg["exclusiveMinimum"], leg["maximum"]) == (0, 3600)
    assert leg["description"]
