"""Parameter lists: ``;name=value`` on URIs (RFC 3261 §19.1.1) and on header values (§25.1).

:class:`Parameters` is an immutable, ordered list of ``(name, value)`` pairs. Names keep the case
they were written in and compare case-insensitively; a value is ``None`` for a bare flag such as
``;lr``. Values are kept exactly as written (a quoted-string keeps its quotes), so a message that
is parsed and written again says the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import grammar
from .errors import BadHeader

__all__ = ["Parameters", "parse_header_params", "quote", "unquote"]


class Parameters:
    """An ordered, immutable list of parameters with case-insensitive lookup by name."""

    __slots__ = ("_items",)

    def __init__(self, items: tuple[tuple[str, str | None], ...] = ()) -> None:
        self._items = items

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first parameter called ``name``; ``default`` when absent or bare."""
        lowered = name.lower()
        for key, value in self._items:
            if key.lower() == lowered:
                return default if value is None else value
        return default

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lowered = name.lower()
        return any(key.lower() == lowered for key, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Parameters):
            return NotImplemented
        return self._normalized() == other._normalized()

    def __hash__(self) -> int:
        return hash(self._normalized())

    def __repr__(self) -> str:
        return f"Parameters({self._items!r})"

    def __str__(self) -> str:
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self._items)

    def _normalized(self) -> tuple[tuple[str, str | None], ...]:
        return tuple((k.lower(), v) for k, v in self._items)

    def with_param(self, name: str, value: str | None = None) -> Parameters:
        """A copy with ``name`` set to ``value``, replacing an existing one in place."""
        lowered = name.lower()
        items = list(self._items)
        for index, (key, _) in enumerate(items):
            if key.lower() == lowered:
                items[index] = (key, value)
                return Parameters(tuple(items))
        return Parameters((*items, (name, value)))

    def without(self, name: str) -> Parameters:
        """A copy with every parameter called ``name`` removed."""
        lowered = name.lower()
        return Parameters(tuple(item for item in self._items if item[0].lower() != lowered))


# generic-param preceded by SEMI (SEMI = SWS ";" SWS), RFC 3261 §25.1; a bare IPv6address is
# tried first because via-received allows one (a token would match only its first group)
_HEADER_PARAM_RE = re.compile(
    rf"{grammar.sws};{grammar.sws}({grammar.token})(?:{grammar.sws}={grammar.sws}"
    rf"({grammar.ipv6address}|{grammar.gen_value}))?"
)
_TRAILING_SPACE_RE = re.compile(grammar.sws)


def parse_header_params(text: str, pos: int, what: str) -> Parameters:
    """Parse ``*( SEMI generic-param )`` from ``text[pos:]`` up to the end of ``text``.

    Raises :class:`BadHeader` naming ``what`` when anything but parameters follows, which is how
    stray separators such as ``;;,;`` (RFC 4475 §3.1.2.1) are refused.
    """
    items: list[tuple[str, str | None]] = []
    end = len(text)
    while True:
        pos = _TRAILING_SPACE_RE.match(text, pos).end()  # type: ignore[union-attr]
        if pos == end:
            return Parameters(tuple(items))
        match = _HEADER_PARAM_RE.match(text, pos)
        if match is None:
            raise BadHeader(f"malformed parameters in {what}: {text[pos : pos + 40]!r}")
        items.append((match.group(1), match.group(2)))
        pos = match.end()


_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)


def unquote(value: str) -> str:
    """The text of a quoted-string with its quoted-pairs resolved; other values unchanged."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return _QUOTED_PAIR_RE.sub(r"\1", value[1:-1])
    return value


def quote(text: str) -> str:
    """``text`` as a quoted-string, escaping ``"`` and ``\\`` (RFC 3261 §25.1 quoted-pair)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
