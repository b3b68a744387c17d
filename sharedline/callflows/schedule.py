"""Schedules: weekly hours, holidays and one-off overrides, read in a time zone (pure).

A schedule answers one question: at this instant, is it open, closed or a holiday? A call-flow
document names its schedules under ``schedules:`` (a ``schedule:`` step branches on the answer),
and a member's personal hours (shifts) are written the same way. The whole format::

    schedules:
      office:
        timezone: Europe/Paris
        hours:
          mon-fri: "09:00-12:30, 13:30-18:00"
          sat: "10:00-14:00"
          sun: closed
        holidays:
          - "2026-12-24"
          - "12-25"
          - { date: "2027-01-01", name: "New Year" }
          - { from: "2026-08-01", until: "2026-08-15", name: "Summer closure" }
        overrides:
          - { from: "2026-12-31T14:00", until: "2027-01-02T09:00", state: closed }
          - { from: "2026-12-20T10:00", until: "2026-12-20T16:00", state: open,
              name: "Sunday sale" }

``timezone``
    An IANA zone name. Without one, the schedule is read in the zone the caller passes
    (the number's ``timezone``, else the document's).
``hours``
    Weekly open hours; a day that no key names is closed. A key is a day (``mon`` ``tue``
    ``wed`` ``thu`` ``fri`` ``sat`` ``sun``), a range of days (``mon-fri``; ranges wrap, so
    ``fri-mon`` is fri, sat, sun and mon), a comma list of those (``sat,sun``, ``mon-wed,fri``;
    quote it inside ``{ }``), or ``daily``. Naming a day twice, in one key or two, is an error.
    A value is comma-separated ``HH:MM-HH:MM`` ranges, the start included and the end excluded;
    ``24:00`` ends a day, ``00:00-24:00`` is all day and ``closed`` is no hours. A range that
    ends before it starts crosses midnight: ``fri: "22:00-02:00"`` is open until 02:00 on
    Saturday, and ``sun: "22:00-02:00"`` until 02:00 on Monday. Ranges may not overlap, whether
    on one day or where one runs past midnight into the next day's.
``holidays``
    Whole days, 00:00 to 24:00 local time, in state ``holiday``: ``"2026-12-24"`` (one date),
    ``"12-25"`` (that day every year; ``"02-29"`` in leap years only), ``{ date: ..., name: ...
    }``, or ``{ from: ..., until: ..., name: ... }`` with both days included: either both dated,
    ``until`` not before ``from``, or both ``MM-DD`` (a yearly period, which may wrap the new
    year: ``{ from: "12-24", until: "01-01" }``). Unquoted dates, which YAML reads as dates, are
    accepted as well.
``overrides``
    One-off periods: ``from`` (included) and ``until`` (excluded) as local wall times
    ``YYYY-MM-DDTHH:MM`` (a space for the ``T``, seconds and ``24:00`` are accepted) without a
    UTC offset, ``until`` after ``from``; a ``state`` (open, closed or holiday); an optional
    ``name``. Overrides may not overlap.

Precedence: an override covering the instant decides; else, on a holiday, ``holiday``; else the
weekly hours say ``open`` or ``closed``. A holiday takes its whole day, so a range begun the
evening before stops at midnight; and it cancels the whole of the ranges that start on it, so
the part of such a range after midnight is closed (a bar that never opened on Friday evening is
not open at 01:00 on Saturday).

Time zones and daylight saving time: the instant is converted to the schedule's zone and the
weekly hours and holidays compare *wall-clock* times, which makes clock changes right by
construction. On a spring-forward day the skipped hour never occurs, so a range inside it is
never open; on a fall-back day a repeated wall time is in or out on both occurrences, so
``"01:00-03:00"`` on America/New_York's 2026-11-01 is open for three real hours; and
``"09:00-17:00"`` opens at 09:00 local on both sides of a change, one hour apart in UTC.
Overrides are turned into instants: a repeated wall time means its first occurrence (PEP 495
``fold=0``), and a skipped one is read with the offset in force before the change.

Parsed ranges are compiled once, when the model is validated, into a private plan: per weekday
a sorted tuple of ``(start, end)`` minutes, so evaluation is O(ranges).
"""

from __future__ import annotations

import difflib
import enum
import functools
import itertools
import json
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..yamldoc.fields import text

__all__ = ["HolidaySpec", "OverrideSpec", "ScheduleSpec", "ScheduleState", "schedule_state"]


class ScheduleState(enum.StrEnum):
    """What a schedule says at an instant (the outcomes of a ``schedule:`` step)."""

    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in ``datetime.weekday()`` order: Monday is 0."""

_DAY = 24 * 60
Span = tuple[int, int]
"""Minutes after local midnight: start included, end excluded."""


def _quote(value: object) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _checked_by(parse: Callable[[str], object]) -> AfterValidator:
    """Validate a string with ``parse`` and keep it as written (the model dumps what was read)."""

    def check(value: str) -> str:
        parse(value)
        return value

    return AfterValidator(check)


def _error(kind: str, template: str, **context: object) -> PydanticCustomError:
    return PydanticCustomError(kind, template, context)


# --- time zones ---------------------------------------------------------------------------------


@functools.cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(value, _zone_names(), n=1, cutoff=0.6)
        raise _error(
            "timezone",
            "{value} is not an IANA time zone (like Europe/Paris or America/New_York){hint}",
            value=_quote(value),
            hint=f"; did you mean {close[0]!r}?" if close else "",
        ) from None
    return value


TimeZone = Annotated[str, text(64), AfterValidator(_timezone)]


# --- weekly hours -------------------------------------------------------------------------------


def _day_number(word: str, key: str) -> int:
    if word in DAYS:
        return DAYS.index(word)
    if word == "daily":
        raise _error("day", "daily names every day: use it alone (in {key})", key=_quote(key))
    close = difflib.get_close_matches(word, [*DAYS, "daily"], n=1, cutoff=0.6)
    raise _error(
        "day",
        "unknown day {day} (mon tue wed thu fri sat sun, ranges like mon-fri, daily){hint}",
        day=_quote(word),
        hint=f"; did you mean {close[0]!r}?" if close else "",
    )


def parse_days(key: str) -> tuple[int, ...]:
    """The weekdays (Monday 0) an ``hours`` key names, in the order it names them."""
    words = key.strip().lower()
    if words == "daily":
        return tuple(range(7))
    days: list[int] = []
    for part in words.split(","):
        first, dash, last = part.strip().partition("-")
        start = _day_number(first.strip(), key)
        stop = _day_number(last.strip(), key) if dash else start
        for offset in range((stop - start) % 7 + 1):
            day = (start + offset) % 7
            if day in days:
                raise _error(
                    "day_twice", "{day} is named twice in {key}", day=DAYS[day], key=_quote(key)
                )
            days.append(day)
    return tuple(days)


_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def _minute(word: str) -> int:
    match = _TIME_RE.fullmatch(word)
    hour, minute = (int(match[1]), int(match[2])) if match else (99, 99)
    if hour * 60 + minute > _DAY or minute > 59:
        raise _error("time", "{value} is not a time (HH:MM, 00:00 to 24:00)", value=_quote(word))
    return hour * 60 + minute


def _span(word: str) -> Span:
    """One ``HH:MM-HH:MM``; an overnight range ends past 1440 (minutes after its start day)."""
    first, dash, last = word.partition("-")
    if not dash or not first.strip() or not last.strip():
        raise _error(
            "range",
            '{value} is not a range of times (like "09:00-17:00", or closed)',
            value=_quote(word),
        )
    start, end = _minute(first.strip()), _minute(last.strip())
    if start == _DAY:
        raise _error("range", "a range cannot start at 24:00 (in {value})", value=_quote(word))
    if start == end:
        raise _error(
            "range",
            '{value} starts and ends at the same time; "00:00-24:00" is all day',
            value=_quote(word),
        )
    return (start, end) if end > start else (start, end + _DAY)


def _show(span: Span) -> str:
    start, end = span
    end = end - _DAY if end > _DAY else end
    return _quote(f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}")


def parse_hours(value: str) -> tuple[Span, ...]:
    """The sorted ranges of one ``hours`` value (``closed`` is none); overlaps are an error."""
    if value.strip().lower() == "closed":
        return ()
    spans = sorted(_span(word.strip()) for word in value.split(","))
    for before, after in itertools.pairwise(spans):
        if after[0] < before[1]:
            raise _error(
                "overlap", "{first} and {second} overlap", first=_show(before), second=_show(after)
            )
    return tuple(spans)


def _hours_before(value: object) -> object:
    if value is None:
        raise _error("hours", 'no hours given: write ranges like "09:00-17:00", or closed')
    return value


@dataclass(frozen=True, slots=True)
class _Week:
    """Per weekday: the ranges that start that day, and the tails of the day before's."""

    own: tuple[tuple[Span, ...], ...]
    tails: tuple[tuple[Span, ...], ...]


def compile_week(hours: dict[str, str]) -> _Week:
    """Spread ``hours`` over the seven days; a day named twice or ranges overlapping are errors."""
    named: dict[int, str] = {}
    spans: dict[int, tuple[Span, ...]] = {}
    for key, value in hours.items():
        parsed = parse_hours(value)
        for day in parse_days(key):
            if day in named:
                raise _error(
                    "day_twice",
                    "{day} is named by both {first} and {second}",
                    day=DAYS[day],
                    first=_quote(named[day]),
                    second=_quote(key),
                )
            named[day], spans[day] = key, parsed
    own = [tuple((s, min(e, _DAY)) for s, e in spans.get(day, ())) for day in range(7)]
    tails = [
        tuple((0, e - _DAY) for _, e in spans.get((day - 1) % 7, ()) if e > _DAY)
        for day in range(7)
    ]
    for day in range(7):
        for overnight in spans.get((day - 1) % 7, ()):
            clash = next((s for s in own[day] if s[0] < overnight[1] - _DAY), None)
            if clash is not None:
                raise _error(
                    "overlap",
                    "{before} {overnight} runs past midnight into {day} {clash}",
                    before=DAYS[day - 1],
                    overnight=_show(overnight),
                    day=DAYS[day],
                    clash=_show(clash),
                )
    return _Week(own=tuple(own), tails=tuple(tails))


def _check_week(hours: dict[str, str]) -> dict[str, str]:
    compile_week(hours)
    return hours


HoursKey = Annotated[str, _checked_by(parse_days)]


HoursValue = Annotated[str, BeforeValidator(_hours_before), _checked_by(parse_hours)]


# --- holidays -----------------------------------------------------------------------------------

Day = date | tuple[int, int]
"""A dated day, or ``(month, day)`` for that day every year."""

_DATE_RE = re.compile(r"(?:([0-9]{4})-)?([0-9]{2})-([0-9]{2})")


def parse_day(value: str) -> Day:
    """``YYYY-MM-DD`` as a date, ``MM-DD`` as ``(month, day)``."""
    match = _DATE_RE.fullmatch(value.strip())
    try:
        if match is None:
            raise ValueError(value)
        month, day = int(match[2]), int(match[3])
        found = date(int(match[1]) if match[1] else 2000, month, day)  # 2000: has a 29 February
    except ValueError:
        raise _error(
            "date",
            "{value} is not a date (YYYY-MM-DD, or MM-DD for every year)",
            value=_quote(value),
        ) from None
    return found if match[1] else (month, day)


def _day_before(value: object) -> object:
    # YAML reads an unquoted 2026-12-24 as a date (and one with a time as a datetime)
    if isinstance(value, datetime):
        if value.tzinfo is not None or value.time() != time():
            raise _error(
                "date",
                "{value} has a time; a holiday is a whole day (YYYY-MM-DD)",
                value=_quote(value.isoformat(sep=" ")),
            )
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


HolidayDay = Annotated[str, BeforeValidator(_day_before), _checked_by(parse_day)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HolidaySpec(_Spec):
    """One entry of ``holidays``: a ``date``, or a ``from``/``until`` period (both included)."""

    date: HolidayDay | None = None
    from_: HolidayDay | None = Field(default=None, alias="from")
    until: HolidayDay | None = None
    name: Annotated[str, text(100)] | None = None

    @model_validator(mode="after")
    def _date_or_period(self) -> HolidaySpec:
        values = {"date": self.date, "from": self.from_, "until": self.until}
        given = [key for key, value in values.items() if value is not None]
        if given not in (["date"], ["from", "until"]):
            raise _error(
                "holiday",
                "a holiday is a date, or a from and until period; got {given}",
                given=", ".join(given) or "neither",
            )
        if self.from_ is not None and self.until is not None:
            first, last = parse_day(self.from_), parse_day(self.until)
            if type(first) is not type(last):
                raise _error(
                    "holiday_period",
                    "from and until both have a year, or are both MM-DD (every year)",
                )
            if isinstance(first, date) and isinstance(last, date) and last < first:
                raise _error(
                    "holiday_period",
                    "until {until} is before from {first}",
                    until=_quote(self.until),
                    first=_quote(self.from_),
                )
        return self


def _holiday_before(value: object) -> object:
    return value if isinstance(value, dict) else {"date": value}


Holiday = Annotated[
    HolidaySpec, BeforeValidator(_holiday_before, json_schema_input_type=str | HolidaySpec)
]
"""A date (``"2026-12-24"``, ``"12-25"``) or a mapping."""


@dataclass(frozen=True, slots=True)
class _Holidays:
    dates: frozenset[date]
    yearly: frozenset[tuple[int, int]]
    periods: tuple[tuple[Day, Day], ...]

    @classmethod
    def compile(cls, holidays: list[HolidaySpec]) -> _Holidays:
        days = [parse_day(h.date) for h in holidays if h.date is not None]
        return cls(
            dates=frozenset(d for d in days if isinstance(d, date)),
            yearly=frozenset(d for d in days if isinstance(d, tuple)),
            periods=tuple(
                (parse_day(h.from_), parse_day(h.until))
                for h in holidays
                if h.from_ is not None and h.until is not None
            ),
        )

    def __contains__(self, day: date) -> bool:
        yearly = (day.month, day.day)
        if day in self.dates or yearly in self.yearly:
            return True
        for first, last in self.periods:
            if isinstance(first, date) and isinstance(last, date):
                if first <= day <= last:
                    return True
            elif isinstance(first, tuple) and isinstance(last, tuple):
                inside = first <= yearly <= last if first <= last else not last < yearly < first
                if inside:
                    return True
        return False


# --- overrides ----------------------------------------------------------------------------------

_WALL_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_OFFSET_RE = re.compile(r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$", re.IGNORECASE)


def _offset_error(value: object) -> PydanticCustomError:
    return _error(
        "wall_time",
        "{value} has a UTC offset; override times are local wall times in the schedule's zone",
        value=_quote(value),
    )


def _wall_time(value: str) -> datetime:
    match = _WALL_RE.fullmatch(value.strip())
    if match is None and _OFFSET_RE.search(value.strip()):
        raise _offset_error(value)
    try:
        if match is None:
            raise ValueError(value)
        day = date.fromisoformat(match[1])
        hour, minute, second = int(match[2]), int(match[3]), int(match[4] or 0)
        if (hour, minute, second) == (24, 0, 0):  # 24:00 is the next day's 00:00
            return datetime.combine(day + timedelta(days=1), time())
        return datetime.combine(day, time(hour, minute, second))
    except ValueError:
        raise _error(
            "wall_time",
            "{value} is not a date and time (YYYY-MM-DDTHH:MM, local time)",
            value=_quote(value),
        ) from None


def _wall_time_before(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise _offset_error(value.isoformat())
        return value
    if isinstance(value, date):
        raise _error(
            "wall_time",
            "{value} has no time; give a local date and time (YYYY-MM-DDTHH:MM)",
            value=_quote(value.isoformat()),
        )
    if isinstance(value, str):
        return _wall_time(value)
    raise _error("wall_time", 'expected a local date and time like "2026-12-31T14:00"')


WallTime = Annotated[datetime, BeforeValidator(_wall_time_before, json_schema_input_type=str)]
"""A naive local date and time: ``"2026-12-31T14:00"`` (YAML may also hand a datetime)."""


def _show_wall(value: datetime) -> str:
    return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")


class OverrideSpec(_Spec):
    """One entry of ``overrides``: a state from ``from`` (included) to ``until`` (excluded)."""

    from_: WallTime = Field(alias="from")
    until: WallTime
    state: ScheduleState
    name: Annotated[str, text(100)] | None = None

    @model_validator(mode="after")
    def _until_after_from(self) -> OverrideSpec:
        if self.until <= self.from_:
            raise _error(
                "override_period",
                "until {until} is not after from {first}",
                until=_quote(_show_wall(self.until)),
                first=_quote(_show_wall(self.from_)),
            )
        return self

    def covers(self, at: datetime, zone: zoneinfo.ZoneInfo) -> bool:
        """Whether ``at`` falls in the period (repeated wall times: the first occurrence)."""
        # PEP 495: a naive time given a zone has fold=0, the earlier of two repeated wall times;
        # compare timestamps, as aware datetimes sharing a tzinfo compare by wall time alone.
        start = self.from_.replace(tzinfo=zone).timestamp()
        return start <= at.timestamp() < self.until.replace(tzinfo=zone).timestamp()


def _no_overlap(overrides: list[OverrideSpec]) -> list[OverrideSpec]:
    ordered = sorted(range(len(overrides)), key=lambda i: overrides[i].from_)
    for before, after in itertools.pairwise(ordered):
        if overrides[after].from_ < overrides[before].until:
            first, second = sorted((before, after))
            raise _error(
                "override_overlap",
                "overrides[{first}] and overrides[{second}] overlap",
                first=first,
                second=second,
            )
    return overrides


# --- the schedule -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    week: _Week
    holidays: _Holidays


class ScheduleSpec(_Spec):
    """A schedule as written under ``schedules:`` (or as a member's personal hours)."""

    timezone: TimeZone | None = None
    """Read the schedule in this zone; without it, in the zone the caller passes."""
    hours: Annotated[dict[HoursKey, HoursValue], AfterValidator(_check_week)] = Field(
        default_factory=dict
    )
    holidays: list[Holiday] = Field(default_factory=list)
    overrides: Annotated[list[OverrideSpec], AfterValidator(_no_overlap)] = Field(
        default_factory=list
    )

    _plan: _Plan | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> ScheduleSpec:
        self._plan = _compile_plan(self)
        return self

    @property
    def plan(self) -> _Plan:
        """The compiled hours and holidays (compiled now if the model skipped validation)."""
        if self._plan is None:
            self._plan = _compile_plan(self)
        return self._plan


def _compile_plan(spec: ScheduleSpec) -> _Plan:
    return _Plan(week=compile_week(spec.hours), holidays=_Holidays.compile(spec.holidays))


def schedule_state(spec: ScheduleSpec, at: datetime, default_timezone: str) -> ScheduleState:
    """What ``spec`` says at the instant ``at``: an override, else holiday, else its hours.

    ``at`` must be timezone-aware (ValueError otherwise); it is read in ``spec.timezone``, or
    ``default_timezone`` when the schedule names none.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"schedule time {at.isoformat()!r} has no time zone")
    zone = zoneinfo.ZoneInfo(spec.timezone or default_timezone)
    for override in spec.overrides:
        if override.covers(at, zone):
            return override.state
    plan = spec.plan
    local = at.astimezone(zone)
    today = local.date()
    if today in plan.holidays:
        return ScheduleState.HOLIDAY
    minute, weekday = local.hour * 60 + local.minute, local.weekday()
    if _within(plan.week.own[weekday], minute):
        return ScheduleState.OPEN
    yesterday = today - timedelta(days=1)
    if _within(plan.week.tails[weekday], minute) and yesterday not in plan.holidays:
        return ScheduleState.OPEN
    return ScheduleState.CLOSED


def _within(spans: tuple[Span, ...], minute: int) -> bool:
    return any(start <= minute < end for start, end in spans)
