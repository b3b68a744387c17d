"""Schedules: weekly hours, holidays, overrides, time zones and clock changes, and admins' errors.

Instants are literal: ``local("2026-01-05T09:00")`` is a wall time in Europe/Paris (or the zone
given), ``utc("2026-03-29T01:00")`` a UTC instant. 2026-01-05 is a Monday. Clock changes in
2026: Europe/Paris springs forward on 29 March (02:00 → 03:00 CEST, at 01:00 UTC) and falls back
on 25 October (03:00 CEST → 02:00 CET, at 01:00 UTC); America/New_York springs forward on
8 March (02:00 → 03:00 EDT, at 07:00 UTC) and falls back on 1 November (02:00 EDT → 01:00 EST,
at 06:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from sharedline.callflows.schedule import ScheduleSpec, ScheduleState, schedule_state
from sharedline.yamldoc.source import load_yaml, validation_errors

OPEN, CLOSED, HOLIDAY = ScheduleState.OPEN, ScheduleState.CLOSED, ScheduleState.HOLIDAY
PARIS, NEW_YORK = "Europe/Paris", "America/New_York"


def local(text: str, zone: str = PARIS, *, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def spec(**data: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate(data)


def state(schedule: ScheduleSpec, at: datetime, default: str = PARIS) -> ScheduleState:
    return schedule_state(schedule, at, default)


def states(schedule: ScheduleSpec, *times: str, zone: str = PARIS) -> list[ScheduleState]:
    return [state(schedule, local(t, zone), zone) for t in times]


# --- weekly hours -------------------------------------------------------------------------------


def test_start_is_included_and_end_excluded() -> None:
    office = spec(hours={"mon": "09:00-17:00"})
    got = states(
        office, "2026-01-05T08:59:59", "2026-01-05T09:00", "2026-01-05T16:59:59", "2026-01-05T17:00"
    )
    assert got == [CLOSED, OPEN, OPEN, CLOSED]


def test_several_ranges_a_day_and_days_not_named_are_closed() -> None:
    office = spec(hours={"mon-fri": "09:00-12:30, 13:30-18:00", "sat": "10:00-14:00"})
    got = states(
        office,
        "2026-01-05T12:29",  # Monday
        "2026-01-05T12:30",
        "2026-01-05T13:30",
        "2026-01-09T17:59",  # Friday
        "2026-01-10T10:00",  # Saturday
        "2026-01-10T14:00",
        "2026-01-11T12:00",  # Sunday: not named
    )
    assert got == [OPEN, CLOSED, OPEN, OPEN, OPEN, CLOSED, CLOSED]


def test_closed_and_all_day() -> None:
    shop = spec(hours={"mon-sat": "00:00-24:00", "sun": "closed"})
    got = states(shop, "2026-01-05T00:00", "2026-01-10T23:59:59", "2026-01-11T00:00")
    assert got == [OPEN, OPEN, CLOSED]


def test_24_00_ends_the_day() -> None:
    bar = spec(hours={"fri": "18:00-24:00"})
    assert states(bar, "2026-01-09T23:59", "2026-01-10T00:00") == [OPEN, CLOSED]


def test_a_range_ending_before_it_starts_crosses_midnight() -> None:
    bar = spec(hours={"fri": "22:00-02:00"})
    got = states(
        bar,
        "2026-01-09T21:59",  # Friday
        "2026-01-09T22:00",
        "2026-01-10T01:59",  # Saturday
        "2026-01-10T02:00",
        "2026-01-10T22:30",  # Saturday evening: not named
        "2026-01-09T01:00",  # Friday early morning: Thursday has no hours
    )
    assert got == [CLOSED, OPEN, OPEN, CLOSED, CLOSED, CLOSED]


def test_sunday_night_runs_into_monday() -> None:
    night = spec(hours={"sun": "22:00-02:00"})
    assert states(night, "2026-01-11T23:00", "2026-01-12T01:00", "2026-01-12T02:00") == [
        OPEN,
        OPEN,
        CLOSED,
    ]


@pytest.mark.parametrize(
    ("key", "days"),
    [
        ("mon-fri", "MTWTF.."),
        ("fri-mon", "M...FSS"),
        ("sat,sun", ".....SS"),
        ("mon-wed, fri", "MTW.F.."),
        ("daily", "MTWTFSS"),
        ("Tue", ".T....."),
        ("sun-sun", "......S"),
    ],
)
def test_day_keys(key: str, days: str) -> None:
    office = spec(hours={key: "10:00-11:00"})
    monday = date(2026, 1, 5)
    got = "".join(
        "MTWTFSS"[i] if state(office, local(f"{monday + timedelta(days=i)}T10:30")) is OPEN else "."
        for i in range(7)
    )
    assert got == days


# --- holidays -----------------------------------------------------------------------------------

OFFICE_HOURS = {"daily": "09:00-18:00"}


def test_holidays_dated_yearly_mapping_and_periods() -> None:
    office = spec(
        hours=OFFICE_HOURS,
        holidays=[
            "2026-12-24",
            "12-25",
            {"date": "2027-01-01", "name": "New Year"},
            {"from": "2026-08-01", "until": "2026-08-15", "name": "Summer closure"},
        ],
    )
    cases = {
        "2026-12-23T10:00": OPEN,
        "2026-12-24T10:00": HOLIDAY,
        "2026-12-24T20:00": HOLIDAY,  # a whole day, hours or not
        "2026-12-25T10:00": HOLIDAY,
        "2031-12-25T10:00": HOLIDAY,  # every year
        "2027-12-24T10:00": OPEN,  # that one was dated
        "2027-01-01T00:00": HOLIDAY,
        "2026-07-31T17:59": OPEN,
        "2026-08-01T00:00": HOLIDAY,
        "2026-08-15T23:59": HOLIDAY,  # until is included
        "2026-08-16T09:00": OPEN,
    }
    assert {t: state(office, local(t)) for t in cases} == cases


def test_a_yearly_period_may_wrap_the_new_year() -> None:
    office = spec(hours=OFFICE_HOURS, holidays=[{"from": "12-24", "until": "01-01"}])
    got = states(
        office, "2026-12-23T10:00", "2026-12-24T10:00", "2027-01-01T10:00", "2027-01-02T10:00"
    )
    assert got == [OPEN, HOLIDAY, HOLIDAY, OPEN]
    august = spec(hours=OFFICE_HOURS, holidays=[{"from": "08-01", "until": "08-15"}])
    assert states(august, "2030-08-10T10:00", "2030-08-16T10:00") == [HOLIDAY, OPEN]


def test_yaml_dates_are_accepted() -> None:
    office = spec(
        hours=OFFICE_HOURS,
        holidays=[
            date(2026, 12, 24),
            datetime(2026, 12, 31),
            {"from": date(2026, 8, 1), "until": date(2026, 8, 2)},
        ],
    )
    assert states(office, "2026-12-24T10:00", "2026-12-31T10:00", "2026-08-02T10:00") == [
        HOLIDAY,
        HOLIDAY,
        HOLIDAY,
    ]


def test_a_holiday_takes_its_day_from_the_night_before() -> None:
    bar = spec(hours={"fri": "22:00-02:00"}, holidays=["2026-01-10"])  # a Saturday
    assert states(bar, "2026-01-09T23:00", "2026-01-10T01:00") == [OPEN, HOLIDAY]


def test_a_holiday_cancels_its_ranges_past_midnight() -> None:
    bar = spec(hours={"fri": "22:00-02:00"}, holidays=["2026-01-09"])  # a Friday
    assert states(bar, "2026-01-09T23:00", "2026-01-10T01:00") == [HOLIDAY, CLOSED]


# --- overrides ----------------------------------------------------------------------------------


def test_overrides_come_before_holidays_and_hours() -> None:
    office = spec(
        hours={"mon-sat": "09:00-18:00"},
        holidays=["12-25"],
        overrides=[
            {"from": "2026-12-31T14:00", "until": "2027-01-02T09:00", "state": "closed"},
            {"from": "2026-12-20T10:00", "until": "2026-12-20T16:00", "state": "open"},
            {"from": "2026-12-25T12:00", "until": "2026-12-25T13:00", "state": "open"},
            {"from": "2026-12-22T09:00", "until": "2026-12-22T12:00", "state": "holiday"},
        ],
    )
    cases = {
        "2026-12-31T13:59": OPEN,
        "2026-12-31T14:00": CLOSED,
        "2027-01-02T08:59": CLOSED,
        "2027-01-02T09:00": OPEN,  # until is excluded
        "2026-12-20T09:59": CLOSED,  # a Sunday
        "2026-12-20T10:00": OPEN,
        "2026-12-20T16:00": CLOSED,
        "2026-12-25T11:59": HOLIDAY,
        "2026-12-25T12:00": OPEN,
        "2026-12-22T11:00": HOLIDAY,
        "2026-12-22T12:00": OPEN,
    }
    assert {t: state(office, local(t)) for t in cases} == cases


def test_override_times_may_be_yaml_datetimes_or_end_at_24_00() -> None:
    office = spec(
        overrides=[
            {"from": datetime(2026, 12, 31, 14, 0), "until": "2026-12-31T24:00", "state": "open"}
        ]
    )
    assert states(office, "2026-12-31T23:59", "2027-01-01T00:00") == [OPEN, CLOSED]


# --- time zones ---------------------------------------------------------------------------------


def test_the_same_instant_differs_by_zone() -> None:
    at = utc("2026-01-05T08:30")  # 09:30 in Paris, 03:30 in New York
    assert state(spec(timezone=PARIS, hours={"mon": "09:00-17:00"}), at) is OPEN
    assert state(spec(timezone=NEW_YORK, hours={"mon": "09:00-17:00"}), at) is CLOSED


def test_the_schedules_zone_wins_over_the_default() -> None:
    office = spec(hours={"mon": "09:00-17:00"})
    paris = spec(timezone=PARIS, hours={"mon": "09:00-17:00"})
    at = utc("2026-01-05T08:30")
    assert schedule_state(office, at, PARIS) is OPEN
    assert schedule_state(office, at, NEW_YORK) is CLOSED
    assert schedule_state(paris, at, NEW_YORK) is OPEN


def test_at_in_any_zone_is_the_same_instant() -> None:
    office = spec(timezone=PARIS, hours={"mon": "09:00-17:00"})
    assert state(office, local("2026-01-05T03:30", NEW_YORK)) is OPEN


def test_holidays_are_local_days() -> None:
    office = spec(timezone=NEW_YORK, hours=OFFICE_HOURS, holidays=["2026-12-25"])
    assert state(office, utc("2026-12-25T03:00")) is CLOSED  # still 22:00 on the 24th
    assert state(office, utc("2026-12-25T05:00")) is HOLIDAY


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        schedule_state(spec(), datetime(2026, 1, 5, 9), PARIS)


# --- clock changes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        # the day before and the day of each change: 09:00 local, as UTC
        (PARIS, "2026-03-28T08:00", "2026-03-29T07:00"),
        (PARIS, "2026-10-24T07:00", "2026-10-25T08:00"),
        (NEW_YORK, "2026-03-07T14:00", "2026-03-08T13:00"),
        (NEW_YORK, "2026-10-31T13:00", "2026-11-01T14:00"),
    ],
)
def test_opening_time_follows_the_wall_clock(zone: str, before: str, after: str) -> None:
    office = spec(timezone=zone, hours={"daily": "09:00-17:00"})
    one_second = timedelta(seconds=1)
    for opening in (utc(before), utc(after)):
        assert state(office, opening - one_second) is CLOSED
        assert state(office, opening) is OPEN
        assert opening.astimezone(ZoneInfo(zone)).hour == 9


def minutes(start: str, end: str) -> list[datetime]:
    first, last = utc(start), utc(end)
    return [first + timedelta(minutes=m) for m in range(int((last - first).total_seconds()) // 60)]


@pytest.mark.parametrize(
    ("zone", "day", "start", "end"),
    [
        (PARIS, "2026-03-29", "2026-03-28T22:00", "2026-03-29T04:00"),
        (NEW_YORK, "2026-03-08", "2026-03-08T04:00", "2026-03-08T10:00"),
    ],
)
def test_the_skipped_hour_is_never_open(zone: str, day: str, start: str, end: str) -> None:
    night = spec(timezone=zone, hours={"daily": "02:00-03:00"})
    assert [t for t in minutes(start, end) if state(night, t) is OPEN] == []
    day_before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    assert state(night, local(f"{day_before}T02:30", zone)) is OPEN


def test_a_repeated_hour_is_open_twice_in_paris() -> None:
    night = spec(timezone=PARIS, hours={"sun": "02:00-03:00"})
    opened = [t for t in minutes("2026-10-24T22:00", "2026-10-25T04:00") if state(night, t) is OPEN]
    # 02:00-02:59 CEST (00:00-00:59 UTC), then 02:00-02:59 CET (01:00-01:59 UTC)
    assert (opened[0], opened[-1], len(opened)) == (
        utc("2026-10-25T00:00"),
        utc("2026-10-25T01:59"),
        120,
    )


def test_a_repeated_hour_is_open_twice_in_new_york() -> None:
    night = spec(timezone=NEW_YORK, hours={"sun": "01:00-03:00"})
    opened = [t for t in minutes("2026-11-01T03:00", "2026-11-01T10:00") if state(night, t) is OPEN]
    # 01:xx EDT (05:xx UTC), 01:xx EST (06:xx UTC), 02:xx EST (07:xx UTC)
    assert (opened[0], opened[-1], len(opened)) == (
        utc("2026-11-01T05:00"),
        utc("2026-11-01T07:59"),
        180,
    )
    assert state(night, local("2026-11-01T01:30", NEW_YORK, fold=0)) is OPEN
    assert state(night, local("2026-11-01T01:30", NEW_YORK, fold=1)) is OPEN


def test_an_ambiguous_override_time_means_its_first_occurrence() -> None:
    # until 02:30 on the fall-back day: 02:30 CEST (00:30 UTC), not 02:30 CET (01:30 UTC)
    office = spec(
        timezone=PARIS,
        overrides=[{"from": "2026-10-25T00:00", "until": "2026-10-25T02:30", "state": "open"}],
    )
    assert state(office, utc("2026-10-25T00:29")) is OPEN
    assert state(office, utc("2026-10-25T00:30")) is CLOSED
    assert state(office, local("2026-10-25T02:15", PARIS, fold=1)) is CLOSED


ZONES = [PARIS, NEW_YORK, "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@given(
    at=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2040, 12, 31),
        timezones=st.sampled_from([ZoneInfo(z) for z in ZONES]),
    ),
    zone=st.sampled_from(ZONES),
    holidays=st.lists(st.dates(date(2000, 1, 1), date(2040, 12, 31)), max_size=5),
)
def test_an_all_day_schedule_is_open_except_on_holidays(
    at: datetime, zone: str, holidays: list[date]
) -> None:
    always = spec(timezone=zone, hours={"daily": "00:00-24:00"}, holidays=holidays)
    day = at.astimezone(ZoneInfo(zone)).date()
    assert state(always, at) is (HOLIDAY if day in holidays else OPEN)


# --- admins' errors -----------------------------------------------------------------------------

DAY_HELP = "(mon tue wed thu fri sat sun, ranges like mon-fri, daily)"


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        (
            {"hours": {"mnd": "09:00-17:00"}},
            ("hours", "mnd", "[key]"),
            f"unknown day \"mnd\" {DAY_HELP}; did you mean 'mon'?",
        ),
        (
            {"hours": {"mon-fry": "09:00-17:00"}},
            ("hours", "mon-fry", "[key]"),
            f"unknown day \"fry\" {DAY_HELP}; did you mean 'fri'?",
        ),
        (
            {"hours": {"mon-fri,wed": "closed"}},
            ("hours", "mon-fri,wed", "[key]"),
            'wed is named twice in "mon-fri,wed"',
        ),
        (
            {"hours": {"daily,sat": "closed"}},
            ("hours", "daily,sat", "[key]"),
            'daily names every day: use it alone (in "daily,sat")',
        ),
        (
            {"hours": {"mon-fri": "09:00-17:00", "fri": "closed"}},
            ("hours",),
            'fri is named by both "mon-fri" and "fri"',
        ),
        (
            {"hours": {"mon": "09:00-25:00"}},
            ("hours", "mon"),
            '"25:00" is not a time (HH:MM, 00:00 to 24:00)',
        ),
        (
            {"hours": {"mon": "9h-17h"}},
            ("hours", "mon"),
            '"9h" is not a time (HH:MM, 00:00 to 24:00)',
        ),
        (
            {"hours": {"mon": "09:00"}},
            ("hours", "mon"),
            '"09:00" is not a range of times (like "09:00-17:00", or closed)',
        ),
        (
            {"hours": {"mon": "24:00-02:00"}},
            ("hours", "mon"),
            'a range cannot start at 24:00 (in "24:00-02:00")',
        ),
        (
            {"hours": {"mon": "10:00-10:00"}},
            ("hours", "mon"),
            '"10:00-10:00" starts and ends at the same time; "00:00-24:00" is all day',
        ),
        (
            {"hours": {"mon": "09:00-12:30, 12:00-18:00"}},
            ("hours", "mon"),
            '"09:00-12:30" and "12:00-18:00" overlap',
        ),
        (
            {"hours": {"sun": "22:00-02:00", "mon": "01:00-09:00"}},
            ("hours",),
            'sun "22:00-02:00" runs past midnight into mon "01:00-09:00"',
        ),
        (
            {"hours": {"mon": None}},
            ("hours", "mon"),
            'no hours given: write ranges like "09:00-17:00", or closed',
        ),
        (
            {"timezone": "Europe/Pariss"},
            ("timezone",),
            '"Europe/Pariss" is not an IANA time zone (like Europe/Paris or America/New_York); '
            "did you mean 'Europe/Paris'?",
        ),
        (
            {"holidays": ["2026-02-30"]},
            ("holidays", 0, "date"),
            '"2026-02-30" is not a date (YYYY-MM-DD, or MM-DD for every year)',
        ),
        (
            {"holidays": ["Christmas"]},
            ("holidays", 0, "date"),
            '"Christmas" is not a date (YYYY-MM-DD, or MM-DD for every year)',
        ),
        (
            {"holidays": [datetime(2026, 12, 24, 12, 0)]},
            ("holidays", 0, "date"),
            '"2026-12-24 12:00:00" has a time; a holiday is a whole day (YYYY-MM-DD)',
        ),
        (
            {"holidays": [{"from": "2026-08-15", "until": "2026-08-01"}]},
            ("holidays", 0),
            'until "2026-08-01" is before from "2026-08-15"',
        ),
        (
            {"holidays": [{"from": "2026-08-01"}]},
            ("holidays", 0),
            "a holiday is a date, or a from and until period; got from",
        ),
        (
            {"holidays": [{"from": "2026-12-24", "until": "01-01"}]},
            ("holidays", 0),
            "from and until both have a year, or are both MM-DD (every year)",
        ),
        (
            {
                "overrides": [
                    {"from": "2026-12-31T14:00", "until": "2026-12-31T14:00", "state": "open"}
                ]
            },
            ("overrides", 0),
            'until "2026-12-31T14:00" is not after from "2026-12-31T14:00"',
        ),
        (
            {
                "overrides": [
                    {"from": "2026-12-31 25:00", "until": "2027-01-01T00:00", "state": "open"}
                ]
            },
            ("overrides", 0, "from"),
            '"2026-12-31 25:00" is not a date and time (YYYY-MM-DDTHH:MM, local time)',
        ),
        (
            {
                "overrides": [
                    {"from": "2026-12-31T14:00Z", "until": "2027-01-01T00:00", "state": "open"}
                ]
            },
            ("overrides", 0, "from"),
            '"2026-12-31T14:00Z" has a UTC offset; '
            "override times are local wall times in the schedule's zone",
        ),
        (
            {
                "overrides": [
                    {"from": date(2026, 12, 31), "until": "2027-01-01T00:00", "state": "open"}
                ]
            },
            ("overrides", 0, "from"),
            '"2026-12-31" has no time; give a local date and time (YYYY-MM-DDTHH:MM)',
        ),
        (
            {
                "overrides": [
                    {"from": "2026-12-31T10:00", "until": "2026-12-31T12:00", "state": "open"},
                    {"from": "2026-12-31T08:00", "until": "2026-12-31T10:01", "state": "closed"},
                ]
            },
            ("overrides",),
            "overrides[0] and overrides[1] overlap",
        ),
    ],
)
def test_validation_errors(data: dict[str, Any], loc: tuple[str | int, ...], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.model_validate(data)
    [error] = caught.value.errors()
    assert (error["loc"], error["msg"]) == (loc, message)


class Document(BaseModel):
    schedules: dict[str, ScheduleSpec]


def test_errors_point_at_the_bad_value_in_the_file() -> None:
    text = """\
schedules:
  office:
    timezone: Europe/Paris
    hours:
      mon-fri: "09:00-12:30, 13:30-18:00"
      sat: "10:00-25:00"
    holidays:
      - 2026-12-24
      - "2026-13-01"
"""
    data, source = load_yaml(text, "flows.yaml")
    with pytest.raises(ValidationError) as caught:
        Document.model_validate(data)
    assert validation_errors(caught.value, source, Document) == [
        'flows.yaml:6:12 schedules.office.hours.sat: "25:00" is not a time (HH:MM, 00:00 to 24:00)',
        'flows.yaml:9:9 schedules.office.holidays[1].date: "2026-13-01" is not a date '
        "(YYYY-MM-DD, or MM-DD for every year)",
    ]


def test_the_documented_example_loads_from_yaml() -> None:
    text = """\
schedules:
  office:
    timezone: Europe/Paris
    hours:
      mon-fri: "09:00-12:30, 13:30-18:00"
      sat: "10:00-14:00"
      sun: closed
    holidays:
      - 2026-12-24
      - "12-25"
      - { date: 2027-01-01, name: "New Year" }
      - { from: "2026-08-01", until: "2026-08-15", name: "Summer closure" }
    overrides:
      - { from: "2026-12-31T14:00", until: "2027-01-02T09:00", state: closed }
      - { from: 2026-12-20T10:00:00, until: "2026-12-20T16:00", state: open, name: Sale }
"""
    data, _ = load_yaml(text, "flows.yaml")
    office = Document.model_validate(data).schedules["office"]
    got = states(office, "2026-12-24T10:00", "2027-01-01T10:00", "2026-12-20T11:00")
    # New Year's Day is a holiday, but the closing override covering it comes first
    assert got == [HOLIDAY, CLOSED, OPEN]
    assert "from" in ScheduleSpec.model_json_schema()["$defs"]["OverrideSpec"]["properties"]


def test_a_schedule_built_without_validation_still_evaluates() -> None:
    office = ScheduleSpec.model_construct(hours={"mon": "09:00-17:00"})
    assert state(office, local("2026-01-05T09:00")) is OPEN
