"""The example flows validate: on their own, for their backend, against the example workspace
provisioned into a store, and against the JSON Schema editors use."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sharedline.callflows.loader import (
    Backend,
    FlowError,
    KnownEntities,
    known_from_directory,
    load_flows,
)
from sharedline.callflows.model import document_schema
from sharedline.cli import app
from sharedline.store import Database
from sharedline.store.repositories import load_directory
from sharedline.yamldoc.source import load_yaml

EXAMPLES = Path(__file__).parents[2] / "examples"
SETS: list[tuple[str, Backend]] = [("flows", "sip"), ("flows-ivr", "asterisk")]
FILES = sorted(
    path for name, _ in SETS for path in (EXAMPLES / name).rglob("*") if path.suffix == ".yaml"
)


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> KnownEntities:
    """The example workspace, provisioned into a fresh SQLite store."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'examples.db'}"
    result = CliRunner().invoke(app, ["provision", str(EXAMPLES / "workspace.yaml"), "--db", url])
    assert result.exit_code == 0, result.output

    async def read() -> KnownEntities:
        database = Database(url)
        try:
            return known_from_directory(await load_directory(database))
        finally:
            await database.close()

    return asyncio.run(read())


@pytest.mark.parametrize(("name", "backend"), SETS)
def test_an_example_set_validates_for_its_backend(name: str, backend: Backend) -> None:
    flows = load_flows(EXAMPLES / name, backend=backend)
    assert set(flows.document.numbers) == {"+14155550100"}
    assert re.fullmatch(r"[0-9a-f]{12}", flows.revision)


@pytest.mark.parametrize(("name", "backend"), SETS)
def test_an_example_set_fits_the_example_workspace(
    name: str, backend: Backend, known: KnownEntities
) -> None:
    assert set(known.numbers) == {"+14155550100"}
    assert known.trunks == frozenset({"carrier"})
    load_flows(EXAMPLES / name, known=known, backend=backend)


def test_the_ivr_example_is_refused_by_the_sip_switch() -> None:
    with pytest.raises(FlowError) as caught:
        load_flows(EXAMPLES / "flows-ivr", backend="sip")
    assert caught.value.errors
    assert all("the SIP switch carries no media" in line for line in caught.value.errors)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.relative_to(EXAMPLES).as_posix())
def test_an_example_file_fits_the_json_schema(path: Path) -> None:
    data, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
    schema = document_schema()
    assert SchemaCheck(schema).problems(data, schema) == []


def test_the_schema_check_finds_problems() -> None:
    schema = document_schema()
    data = {
        "version": 2,
        "numbers": {"14155550100": "main"},
        "flows": {"main": {"start": "a", "steps": {"a": {"goto": "b", "hangup": 480}}}},
        "flow": {},
    }
    assert SchemaCheck(schema).problems(data, schema) == [
        "version: 2 is not 1",
        "numbers.14155550100: not allowed",
        "flows.main.steps.a: matches 2 of oneOf",
        "flow: not allowed",
    ]


# --- a small JSON Schema check ------------------------------------------------------------------
# Enough of draft 2020-12 for the schema pydantic generates; it fails on any keyword it does
# not know, so that it cannot pass a document by ignoring part of the schema.

_NOTES = {"$schema", "$defs", "title", "description", "default"}
_MEMBERS = {"properties", "patternProperties", "additionalProperties", "propertyNames"}
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


class SchemaCheck:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def problems(self, value: Any, schema: dict[str, Any], at: str = "") -> list[str]:
        found: list[str] = []
        if isinstance(value, dict) and _MEMBERS & set(schema):
            found += self.members(value, schema, at)
        for keyword, rule in schema.items():
            if keyword not in _NOTES | _MEMBERS:
                found += self.keyword(keyword, rule, value, at)
        return found

    def keyword(self, keyword: str, rule: Any, value: Any, at: str) -> list[str]:
        where = at or "document"
        match keyword:
            case "$ref":
                return self.problems(value, self.root["$defs"][rule.removeprefix("#/$defs/")], at)
            case "type":
                ok = _is(value, rule)
            case "const":
                return [] if value == rule else [f"{where}: {value!r} is not {rule!r}"]
            case "enum":
                ok = value in rule
            case "anyOf":
                ok = any(not self.problems(value, option, at) for option in rule)
            case "oneOf":
                matched = sum(not self.problems(value, option, at) for option in rule)
                return [] if matched == 1 else [f"{where}: matches {matched} of oneOf"]
            case "required":
                missing = [name for name in rule if isinstance(value, dict) and name not in value]
                return [f"{where}: {name} missing" for name in missing]
            case "items":
                items = value if isinstance(value, list) else []
                return [
                    p for i, v in enumerate(items) for p in self.problems(v, rule, f"{at}[{i}]")
                ]
            case _:
                ok = _within(keyword, rule, value)
        return [] if ok else [f"{where}: fails {keyword}"]

    def members(self, value: dict[Any, Any], schema: dict[str, Any], at: str) -> list[str]:
        found: list[str] = []
        for key, item in value.items():
            name = str(key)  # YAML's 1: is the JSON key "1"
            path = f"{at}.{name}" if at else name
            rules = [schema["properties"][name]] if name in schema.get("properties", {}) else []
            patterns = schema.get("patternProperties", {}).items()
            rules += [rule for pattern, rule in patterns if re.search(pattern, name)]
            if "propertyNames" in schema:
                found += self.problems(name, schema["propertyNames"], path)
            extra = schema.get("additionalProperties", True)
            if not rules and extra is False:
                found.append(f"{path}: not allowed")
            elif not rules and isinstance(extra, dict):
                rules = [extra]
            found += [p for rule in rules for p in self.problems(item, rule, path)]
        return found


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, int | float)
    return isinstance(value, _TYPES[kind])


_BOUNDS: dict[str, tuple[tuple[type, ...], Any]] = {
    "minimum": ((int, float), lambda v, r: v >= r),
    "maximum": ((int, float), lambda v, r: v <= r),
    "exclusiveMinimum": ((int, float), lambda v, r: v > r),
    "minLength": ((str,), lambda v, r: len(v) >= r),
    "maxLength": ((str,), lambda v, r: len(v) <= r),
    "pattern": ((str,), lambda v, r: re.search(r, v) is not None),
    "minItems": ((list,), lambda v, r: len(v) >= r),
    "maxItems": ((list,), lambda v, r: len(v) <= r),
    "minProperties": ((dict,), lambda v, r: len(v) >= r),
    "maxProperties": ((dict,), lambda v, r: len(v) <= r),
}


def _within(keyword: str, rule: Any, value: Any) -> bool:
    if keyword not in _BOUNDS:
        raise AssertionError(f"the schema check does not know {keyword!r}")
    kinds, check = _BOUNDS[keyword]
    if not isinstance(value, kinds) or isinstance(value, bool):
        return True
    return bool(check(value, rule))
