"""YAML with positions: data plus where every value sits in the file, for admins' error messages.

DESIGN.md "Who uses it": admins get errors with file:line and a fix. PyYAML's composer keeps a
mark (0-based line and column) on every node; :func:`load_yaml` composes the document once,
records the mark of each value and each mapping key under its path (``("numbers", 0,
"members")``), then constructs plain Python data from the same nodes with the safe constructor.

Booleans are YAML 1.2's (only ``true``/``false``), so a key ``on:`` stays the string "on".

Errors read ``FILE:LINE:COLUMN path: message`` with 1-based line and column
(:meth:`SourceMap.format`); a path missing from the file (a required field left out) is reported
at its nearest ancestor that is present. :func:`validation_errors` turns a pydantic
``ValidationError`` into such lines, mapping each error's ``loc`` back to its node and rewording
pydantic's messages for admins (with did-you-mean hints for unknown keys and enum values).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = [
    "Path",
    "SourceMap",
    "YamlSourceError",
    "did_you_mean",
    "format_error",
    "format_path",
    "load_yaml",
    "validation_errors",
]

KEY_MARK = "[key]"
"""The last element pydantic gives the location of a mapping key (not its value) that failed."""

Path = tuple[str | int, ...]
"""A location in the document: mapping keys and sequence indexes, from the root."""


def format_path(path: Sequence[str | int]) -> str:
    """``("numbers", 0, "members")`` → ``numbers[0].members``; the root is ``document``."""
    text = ""
    for part in path:
        if part == KEY_MARK:
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "document"


@dataclass(slots=True)
class SourceMap:
    """Where each path of a document was written (0-based marks, as PyYAML keeps them)."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of ``path``'s value (or key), else of its nearest ancestor."""
        current = tuple(path)
        if current and current[-1] == KEY_MARK:  # pydantic's mark for a bad mapping key
            current, key = current[:-1], True
        if key and current in self.keys:
            line, column = self.keys[current]
            return line + 1, column + 1
        while current not in self.values and current:
            current = current[:-1]
        line, column = self.values.get(current, (0, 0))
        return line + 1, column + 1

    def format(self, path: Sequence[str | int], message: str, *, key: bool = False) -> str:
        """``FILE:LINE:COLUMN path: message``."""
        line, column = self.position(path, key=key)
        return f"{self.file}:{line}:{column} {format_path(path)}: {message}"


class YamlSourceError(ValueError):
    """The text is not YAML we accept; ``errors`` are formatted ``FILE:LINE:COLUMN …`` lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document; return its data (None when empty) and its source map.

    Raises :class:`YamlSourceError` for a syntax error (at the parser's mark) and for a key
    written twice in one mapping, which plain PyYAML would silently resolve to the last value.
    """
    source = SourceMap(file)
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            raise YamlSourceError([_syntax_error(error, file)]) from None
        if node is None:
            return None, source
        walk = _Walk(source)
        walk.record(node, ())
        if walk.errors:
            raise YamlSourceError(walk.errors)
        try:
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as error:
            raise YamlSourceError([_syntax_error(error, file)]) from None
        return data, source
    finally:
        loader.dispose()


class _Loader(yaml.SafeLoader):
    """The safe loader with YAML 1.2 booleans: only true and false (any case) are booleans.

    YAML 1.1 also reads ``on``, ``off``, ``yes``, ``no``, ``y`` and ``n`` as booleans, which
    would turn a call flow's ``on:`` key into ``True`` (and Norway's ``NO`` into ``False``).
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class attribute)
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _syntax_error(error: yaml.MarkedYAMLError, file: str) -> str:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = error.problem or "not valid YAML"
    context = f" ({error.context})" if error.context else ""
    return f"{file}:{line}:{column} yaml: {problem}{context}"


MAX_VALUES = 100_000
"""More values than this (aliases expanding exponentially, say) is refused, not walked."""


@dataclass(slots=True)
class _Walk:
    """Records every node's position; finds duplicate keys, alias loops and alias bombs."""

    source: SourceMap
    errors: list[str] = field(default_factory=list)
    visited: int = 0
    active: set[int] = field(default_factory=set)

    def record(self, node: yaml.Node, path: Path) -> None:
        self.visited += 1
        if self.visited > MAX_VALUES or id(node) in self.active:
            if not self.errors:
                what = f"more than {MAX_VALUES} values" if self.visited > MAX_VALUES else "a loop"
                self.errors.append(self.source.format(path, f"aliases expand to {what}"))
            return
        self.source.values.setdefault(path, (node.start_mark.line, node.start_mark.column))
        self.active.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.record(item, (*path, index))
        elif isinstance(node, yaml.MappingNode):
            self.record_mapping(node, path)
        self.active.discard(id(node))

    def record_mapping(self, node: yaml.MappingNode, path: Path) -> None:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue  # complex keys and merge keys: positions fall back to the mapping
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                first_line = self.source.keys[child][0] + 1
                line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                self.errors.append(
                    f"{self.source.file}:{line}:{column} {format_path(child)}: "
                    f"duplicate key {key!r} (first at line {first_line})"
                )
                continue
            seen.add(key)
            self.source.keys[child] = (key_node.start_mark.line, key_node.start_mark.column)
            self.record(value_node, child)


# --- errors from validation ---------------------------------------------------------------------


def format_error(
    source: SourceMap | None, path: Sequence[str | int], message: str, *, key: bool = False
) -> str:
    """``FILE:LINE:COLUMN path: message``, or ``path: message`` for data from no file."""
    if source is None:
        return f"{format_path(path)}: {message}"
    return source.format(path, message, key=key)


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def validation_errors(
    error: ValidationError, source: SourceMap | None, model: type[BaseModel]
) -> list[str]:
    """One formatted line per problem pydantic found validating data for ``model``."""
    return [_problem(problem, source, model) for problem in error.errors()]


def _problem(problem: ErrorDetails, source: SourceMap | None, model: type[BaseModel]) -> str:
    loc = tuple(problem["loc"])
    kind = problem["type"]
    given = problem.get("input")
    context = problem.get("ctx") or {}
    # The input is echoed only where it cannot be a secret: unknown keys and enum values.
    if kind == "extra_forbidden":
        name = str(loc[-1])
        hint = did_you_mean(name, _fields_at(model, loc[:-1]))
        return format_error(source, loc, f"unknown field {name!r}{hint}", key=True)
    if kind == "missing":
        return format_error(source, loc, "required field missing")
    if kind == "enum":
        expected = str(context.get("expected", ""))
        hint = did_you_mean(str(given), re.findall(r"'([^']*)'", expected))
        return format_error(source, loc, f"{given!r} is not one of {expected}{hint}")
    if kind == "string_type" and isinstance(given, int | float | bool):
        return format_error(source, loc, "expected text, got a number or boolean; quote it")
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return format_error(source, loc, "expected a mapping (key: value lines)")
    if kind == "list_type":
        return format_error(source, loc, "expected a list (- item lines)")
    if kind in {"string_too_short", "too_short"} and context.get("min_length") == 1:
        return format_error(source, loc, "must not be empty")
    message = problem["msg"].removeprefix("Value error, ")
    return format_error(source, loc, message[:1].lower() + message[1:])


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names of the model found at ``loc`` under ``model``."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        found = current.model_fields.get(part)
        current = _model_in(found.annotation) if found is not None else None
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)
