"""Time as the people who use nuanliu count it: China Standard Time.

Every "today", "this month" and "this quarter" goes through here. The servers run in UTC; a
secretary in Beijing at 00:30 on 1 July is already in July, so a date taken from the server's
local clock (`date.today()`) would refuse her "today" as a future date for eight hours a day.
China has no daylight saving, so a fixed offset needs no time-zone database and stays
deterministic (workflows and templates can use it alike).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CHINA_TIME = timezone(timedelta(hours=8), "CST")
# The zone's name, for libraries that want one (quiet hours read it with zoneinfo).
CHINA_ZONE_NAME = "Asia/Shanghai"


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_now(now: datetime | None = None) -> datetime:
    """The instant `now` (default: the present) on a clock in China."""
    return (now or utcnow()).astimezone(CHINA_TIME)


def local_today(now: datetime | None = None) -> date:
    """The calendar date in China at instant `now` (default: the present)."""
    return local_now(now).date()


def local_date(at: datetime) -> date:
    """The calendar date in China at instant `at`: 00:30 in Beijing is already the next day."""
    return at.astimezone(CHINA_TIME).date()


def month_of(day: date) -> str:
    """`YYYY-MM` of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def current_month(now: datetime | None = None) -> str:
    """This month in China, as `YYYY-MM`."""
    return month_of(local_today(now))


def quarter_of(day: date) -> str:
    """`YYYY-Qn` of a date."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
