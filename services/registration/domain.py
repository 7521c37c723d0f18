"""Registration rules: the org tree, resident ID numbers, member facts, masking, routes.

Pure: no Flask, no SQLAlchemy, no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.auth import ORG_ROLES, Principal
from shared.errors import Conflict, Forbidden, InvalidInput

LEVELS = ("central", "province", "city", "county", "township", "branch")
ROOT_CODE = "CN"
ORG_CODE = re.compile(r"^[A-Z0-9-]{2,40}$")
PHONE = re.compile(r"^1[3-9]\d{9}$")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def level_rank(level: str) -> int:
    return LEVELS.index(level)


def acts_for(principal: Principal, org_path: str) -> bool:
    """May an org role (or admin) act on something placed at `org_path`? Its subtree only."""
    if principal.is_admin or principal.is_service:
        return True
    return principal.role in ORG_ROLES and f"/{principal.org}/" in org_path


def require_scope(principal: Principal, org_path: str, what: str) -> None:
    if not acts_for(principal, org_path):
        raise Forbidden(f"{principal.role} of {principal.org} may not {what} outside its subtree")


def may_read_member(principal: Principal, member_id: str, branch_path: str) -> bool:
    """The member themself, or an org role whose subtree holds the member's branch."""
    if principal.role == "member":
        return principal.sub == member_id
    return acts_for(principal, branch_path)


def check_org_placement(level: str, parent_level: str | None) -> None:
    """An org sits strictly below its parent; only the root has none."""
    if parent_level is None:
        raise InvalidInput("every org but the root CN needs a parent_code", field="parent_code")
    if level_rank(level) <= level_rank(parent_level):
        raise InvalidInput(f"a {level} cannot sit under a {parent_level}", field="level")


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character of an 18-character resident ID number."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number_problem(id_number: str, today: date | None = None) -> str | None:
    """Why an ID number is invalid, or None if it is valid; born after `today` (when given) is invalid."""
    if len(id_number) != 18 or not id_number[:17].isdigit():
        return "must be 18 characters: 17 digits and a check digit or X"
    if id_number[17].upper() != id_check_digit(id_number[:17]):
        return "check digit does not match"
    try:
        born = id_birth_date(id_number)
    except ValueError:
        return "contains no valid birth date"
    if (today is not None and born > today) or born.year < 1900:
        return "contains no valid birth date"
    return None


def id_birth_date(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class NewMember:
    name: str
    gender: str
    birth_date: date
    id_number: str
    phone: str
    status: str
    branch_code: str
    joined_on: date
    dues_paid_through: str


def check_new_member(member: NewMember, today: date) -> None:
    """The field rules of a member record; raises InvalidInput naming the first field that breaks one."""
    problems = member_problems(asdict(member), today)
    if problems:
        field, message = problems[0]
        raise InvalidInput(message, field=field)


def member_problems(fields: Mapping[str, Any], today: date) -> list[tuple[str, str]]:
    """Every (field, message) a member record breaks. A rule whose inputs are missing is skipped,
    so a record that failed its schema in part still gets the rest of its fields checked."""
    problems: list[tuple[str, str]] = []
    id_number, birth_date = fields.get("id_number"), fields.get("birth_date")
    joined_on, phone, dues = fields.get("joined_on"), fields.get("phone"), fields.get("dues_paid_through")
    id_problem = id_number_problem(id_number, today) if isinstance(id_number, str) else None
    if id_problem:
        problems.append(("id_number", f"id_number {id_problem}"))
    elif (
        isinstance(id_number, str) and isinstance(birth_date, date) and id_birth_date(id_number) != birth_date
    ):
        problems.append(("birth_date", "birth_date differs from the one in id_number"))
    if isinstance(phone, str) and not PHONE.match(phone):
        problems.append(("phone", "phone must be an 11-digit mainland mobile number"))
    if isinstance(joined_on, date):
        if isinstance(birth_date, date) and joined_on < add_years(birth_date, 18):
            problems.append(("joined_on", "joined_on must be on or after the 18th birthday"))
        if joined_on > today:
            problems.append(("joined_on", "joined_on cannot be in the future"))
    if isinstance(dues, str) and dues > today.strftime("%Y-%m"):
        problems.append(("dues_paid_through", "dues_paid_through cannot be beyond this month"))
    return problems


def mask_id_number(id_number: str) -> str:
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:] if len(id_number) > 8 else "****"


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def classify_route(sending: Mapping[str, str], receiving: Mapping[str, str]) -> str:
    """same_county, cross_county or cross_province between two branches.

    Each side maps level -> the code of the branch's ancestor at that level (levels may be
    skipped in a tree, so positions in the path are not used). A missing level counts as
    a different place.
    """
    province = sending.get("province")
    if province is None or province != receiving.get("province"):
        return "cross_province"
    county = sending.get("county")
    if county is None or county != receiving.get("county"):
        return "cross_county"
    return "same_county"


ROUTE_LEVELS = ("township", "county", "city", "province")
CARD_SERIAL_MAX = 999_999


def ancestors_by_level(path_levels: Mapping[str, str]) -> dict[str, str | None]:
    """The branch and its ancestors at each level of the route contract (None where skipped)."""
    return {"branch": path_levels.get("branch")} | {level: path_levels.get(level) for level in ROUTE_LEVELS}


def card_issuer(path_levels: Mapping[str, str]) -> str:
    """Activity cards are numbered by the county org department; a tree without a county level
    falls back to the nearest ancestor above the township (then the township itself)."""
    for level in ("county", "city", "province", "township"):
        code = path_levels.get(level)
        if code:
            return code
    raise InvalidInput("the branch has no county, city, province or township above it", field="branch_code")


def activity_card_no(county_code: str, year: int, number: int) -> str:
    """`WQ-2026-000123`: the county's short code (the last part of its org code), year, serial."""
    if not 1 <= number <= CARD_SERIAL_MAX:
        raise Conflict(f"{county_code} has issued every card number for {year}")
    short = county_code.rsplit("-", 1)[-1]
    return f"{short}-{year}-{number:06d}"


def check_outflow_dates(departed_on: date, expected_return_on: date | None, today: date) -> None:
    if departed_on > add_years(today, 1):
        raise InvalidInput("departed_on is more than a year ahead", field="departed_on")
    if expected_return_on is not None and expected_return_on < departed_on:
        raise InvalidInput("expected_return_on is before departed_on", field="expected_return_on")


def contact_cutoff(now: datetime, lost_contact_days: int) -> datetime:
    """A member whose last contact is older than this has lost contact (失联)."""
    return now - timedelta(days=lost_contact_days)


def check_contact_phone(phone: str, field: str = "contact_phone") -> None:
    if not PHONE.match(phone):
        raise InvalidInput(f"{field} must be an 11-digit mainland mobile number", field=field)


def region_prefixes(region: str) -> list[str]:
    """Prefixes of a region code to try for the nearest branch, deepest first (at least 2 digits)."""
    return [region[:length] for length in range(len(region), 1, -1)]


# --- stations -----------------------------------------------------------------------------

STATION_KINDS = ("home", "station", "service_point")
STATION_HOSTS = ("branch", "township")
EARTH_RADIUS_KM = 6371.0088


def check_station_host(level: str) -> None:
    """A station is run by a branch or a township (a check-in lands at its host org)."""
    if level not in STATION_HOSTS:
        raise InvalidInput(
            f"a station is hosted by a branch or a township, not a {level}", field="host_org_code"
        )


def check_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise InvalidInput(
            "give latitude and longitude together", field="latitude" if latitude is None else "longitude"
        )


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


BANDS_PER_DEGREE = 10
# Beyond this many latitude bands (about 2,200 km of latitude) a box reads by latitude range.
MAX_BANDS = 200


def latitude_band(latitude: float | None) -> int | None:
    """The 0.1° latitude band of a point: stations are indexed by (band, longitude)."""
    return None if latitude is None else math.floor(latitude * BANDS_PER_DEGREE)


@dataclass(frozen=True)
class Box:
    """Every point within `radius_km` of a centre lies in this box; `min_lon`/`max_lon` are None
    when the circle reaches a pole or crosses the antimeridian (then any longitude may be close)."""

    min_lat: float
    max_lat: float
    min_lon: float | None
    max_lon: float | None

    @property
    def bands(self) -> list[int] | None:
        """The latitude bands the box spans, or None when they are too many to list."""
        first, last = latitude_band(self.min_lat), latitude_band(self.max_lat)
        assert first is not None and last is not None
        return list(range(first, last + 1)) if last - first < MAX_BANDS else None


def bounding_box(lat: float, lon: float, radius_km: float) -> Box:
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90:
        return Box(max(min_lat, -90.0), min(max_lat, 90.0), None, None)
    # The widest longitude span of the circle (at the latitude of its tangent points).
    ratio = math.sin(radius_km / EARTH_RADIUS_KM) / math.cos(math.radians(lat))
    if ratio >= 1:
        return Box(min_lat, max_lat, None, None)
    dlon = math.degrees(math.asin(ratio))
    if lon - dlon < -180 or lon + dlon > 180:
        return Box(min_lat, max_lat, None, None)
    return Box(min_lat, max_lat, lon - dlon, lon + dlon)
