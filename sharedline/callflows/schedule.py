"""Schedules: weekly hours, holidays and one-off overrides, in a time zone (pure)."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = ["ScheduleSpec", "ScheduleState", "schedule_state"]


class ScheduleState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str | None = None
    hours: dict[str, str] = {}


def schedule_state(spec: ScheduleSpec, at: datetime, default_timezone: str) -> ScheduleState:
    raise NotImplementedError
