"""Delivery rules: preferences and quiet hours, the channels a person is reached on and their
fallbacks, and the delivery state machine: queued → sent, or → retrying (exponential backoff
with jitter) → failed once the attempts are spent (or at once for a permanent error) → dead when
settled; a dead delivery hands over to the next fallback channel of that person."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.clock import CHINA_ZONE_NAME, local_now
from shared.errors import InvalidInput

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")

# --- the readers' clock and the retry schedule ----------------------------------------------


@dataclass(frozen=True)
class DeliveryPolicy:
    """The configurable parts of delivery: the readers' zone and the retry schedule."""

    zone: str = CHINA_ZONE_NAME
    max_attempts: int = 5
    retry_base: timedelta = timedelta(seconds=30)
    retry_cap: timedelta = timedelta(hours=1)


DEFAULT_POLICY = DeliveryPolicy()


def in_zone(moment: datetime, zone: str) -> datetime:
    """`moment` on the readers' clock: China time (shared.clock) unless settings name another zone."""
    return local_now(moment) if zone == CHINA_ZONE_NAME else moment.astimezone(ZoneInfo(zone))


# --- preferences and quiet hours ------------------------------------------------------------

CONTACT_FIELD = {"email": "email", "sms": "phone", "webhook": "webhook_url"}
# When a channel is dead for a person, try these next (those the person gave an address for).
FALLBACK: dict[str, tuple[str, ...]] = {
    "webhook": ("email", "sms"),
    "email": ("sms", "webhook"),
    "sms": ("email", "webhook"),
}
CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
CLOCK_ERROR = "must be HH:MM (00:00-23:59)"


@dataclass(frozen=True)
class Channels:
    inapp: bool = True
    sms: bool = False
    email: bool = False
    webhook: bool = False


@dataclass(frozen=True)
class QuietHours:
    start: str  # HH:MM on the readers' clock
    end: str


@dataclass(frozen=True)
class Preferences:
    """One person's channels, quiet hours, locale and addresses, shaped as the API shows them."""

    channels: Channels = field(default_factory=Channels)
    quiet_hours: QuietHours | None = None
    locale: str = DEFAULT_LOCALE
    email: str | None = None
    phone: str | None = None
    webhook_url: str | None = None
    # Only in the answer to the PUT that made it: the secret the webhook's signatures use.
    webhook_secret: str | None = field(default=None, repr=False)

    def as_mapping(self) -> dict[str, Any]:
        """The fields the channel rules read (`planned_channels`, `fallback_channel`)."""
        return {
            "channels": dict(vars(self.channels)),
            "email": self.email,
            "phone": self.phone,
            "webhook_url": self.webhook_url,
        }


DEFAULT_PREFERENCES = Preferences()


# A member's SMS address: their registered phone, read from registration when it is sent.
REGISTERED_PHONE = "member:"


def registered_phone(member_id: str) -> str:
    return f"{REGISTERED_PHONE}{member_id}"


def check_preferences(preferences: Preferences, has_registered_phone: bool = False) -> None:
    """Quiet hours are two different HH:MM clocks; a chosen channel has an address to reach (a
    member's SMS has their registered phone).

    The request schema says the same to a caller at once; this keeps a command built any other
    way from storing preferences no delivery could honour."""
    quiet = preferences.quiet_hours
    if quiet is not None:
        for name in ("start", "end"):
            if not re.match(CLOCK_PATTERN, getattr(quiet, name)):
                raise InvalidInput(CLOCK_ERROR, field=f"quiet_hours.{name}")
        if quiet.start == quiet.end:
            raise InvalidInput("must differ from start", field="quiet_hours.end")
    if preferences.locale not in LOCALES:
        raise InvalidInput(f"must be one of {', '.join(LOCALES)}", field="locale")
    for channel, contact in CONTACT_FIELD.items():
        if channel == "sms" and has_registered_phone:
            continue
        if getattr(preferences.channels, channel) and not getattr(preferences, contact):
            raise InvalidInput(f"required when channels.{channel} is true", field=contact)


def parse_clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, start: str | None, end: str | None, zone: str) -> datetime | None:
    """If `now` falls in the quiet hours [start, end) of `zone`, when they end (aware); else None.

    Quiet hours may wrap midnight (22:00–07:00).
    """
    if not start or not end or start == end:
        return None
    local = in_zone(now, zone)
    begin, finish = parse_clock(start), parse_clock(end)
    clock = local.time().replace(second=0, microsecond=0)
    wraps = begin > finish
    inside = (clock >= begin or clock < finish) if wraps else (begin <= clock < finish)
    if not inside:
        return None
    ends = local.replace(hour=finish.hour, minute=finish.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(now.tzinfo)


def planned_channels(preference: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(channel, address) for each enabled outside channel the person has an address for."""
    channels = preference.get("channels") or {}
    planned = []
    for channel in ("webhook", "email", "sms"):
        address = preference.get(CONTACT_FIELD[channel])
        if channels.get(channel) and address:
            planned.append((channel, address))
    return planned


def fallback_channel(failed: str, preference: Mapping[str, Any], tried: set[str]) -> tuple[str, str] | None:
    """The next channel (and address) for a person whose `failed` channel is dead, if any."""
    for channel in FALLBACK.get(failed, ()):
        address = preference.get(CONTACT_FIELD[channel])
        if channel not in tried and address:
            return channel, address
    return None


# --- the delivery state machine -------------------------------------------------------------

QUEUED, SENT, RETRYING, FAILED, DEAD = "queued", "sent", "retrying", "failed", "dead"
STATUSES = (QUEUED, SENT, RETRYING, FAILED, DEAD)
DUE = (QUEUED, RETRYING)


@dataclass(frozen=True)
class Outcome:
    status: str
    attempts: int
    retry_in: timedelta | None = None


def retry_delay(
    attempts: int, base: timedelta, cap: timedelta, jitter: Callable[[], float] = random.random
) -> timedelta:
    """Exponential backoff with jitter: base·2^(n-1), capped, scaled into [50%, 100%]."""
    raw = min(cap.total_seconds(), base.total_seconds() * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=raw * (0.5 + 0.5 * jitter()))


def after_attempt(
    status: str,
    attempts: int,
    error: str | None,
    permanent: bool,
    max_attempts: int,
    base: timedelta,
    cap: timedelta,
    jitter: Callable[[], float] = random.random,
) -> Outcome:
    """The delivery's state after one attempt: sent, retrying with a delay, or failed."""
    if status not in DUE:
        raise ValueError(f"a {status} delivery is not attempted")
    tries = attempts + 1
    if error is None:
        return Outcome(SENT, tries)
    if permanent or tries >= max_attempts:
        return Outcome(FAILED, tries)
    return Outcome(RETRYING, tries, retry_delay(tries, base, cap, jitter))


def settle_failed(status: str) -> str:
    """A failed delivery is settled as dead once its fallback (if any) is queued."""
    if status != FAILED:
        raise ValueError(f"only a failed delivery is settled, not a {status} one")
    return DEAD
