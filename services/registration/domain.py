"""Registration rules: the org tree, resident ID numbers, member facts, masking, routes.

Pure: no Flask, no SQLAlchemy, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from shared.auth import ORG_ROLES, Principal
from shared.errors import Conflict, Forbidden, InvalidInput, PreconditionFailed, PreconditionRequired

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


def may_read_member(
    principal: Principal, member_id: str, branch_path: str, inflow_branch_path: str | None = None
) -> bool:
    """The member themself, or an org role whose subtree holds the member's branch, or (双向管理)
    the branch of the member's open inflow, when the caller passes its path."""
    if principal.role == "member":
        return principal.sub == member_id
    return acts_for(principal, branch_path) or (
        inflow_branch_path is not None and acts_for(principal, inflow_branch_path)
    )


# The org levels each staff role may be held at (the API's "role fits the org's level").
STAFF_ROLE_LEVELS: Mapping[str, tuple[str, ...]] = {
    "branch_secretary": ("branch",),
    "township_officer": ("township",),
    "org_department": ("county", "city", "province", "central"),
}


def check_staff_role_fits(role: str, level: str) -> None:
    """422 naming `role` unless a holder of `role` can sit in an org of `level`."""
    levels = STAFF_ROLE_LEVELS.get(role)
    if levels is None:
        raise InvalidInput(f"role must be one of {', '.join(STAFF_ROLE_LEVELS)}", field="role")
    if level not in levels:
        raise InvalidInput(f"a {role} cannot be assigned to a {level}", field="role")


def role_fits_level(role: str, level: str) -> bool:
    return level in STAFF_ROLE_LEVELS.get(role, ())


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


def card_matches(mobile: bool, open_card: str | None, presented: str) -> bool:
    """Does the presented activity card belong to the member's open outflow? (Compared in constant
    time: the answer must tell nothing about how close a guess came.)"""
    return bool(mobile and open_card) and hmac.compare_digest(str(open_card).encode(), presented.encode())


def mask_id_number(id_number: str) -> str:
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:] if len(id_number) > 8 else "****"


def normalized_id_number(id_number: str) -> str:
    """The ID number as stored and hashed: no surrounding blanks, the check character upper-case."""
    return id_number.strip().upper()


def id_number_hash(id_number: str, key: str) -> str:
    """The keyed lookup hash of an ID number (members.id_number_hash): an exact search finds the
    row by this index, and without the key the column tells nothing (a bare hash of 18 mostly
    predictable digits would be brute-forced in minutes)."""
    return hmac.new(key.encode(), normalized_id_number(id_number).encode(), hashlib.sha256).hexdigest()


# --- the name search's grams (docs/decisions/0022) ----------------------------------------

# A query of more bigrams than this is narrowed by this many of them (first, last, evenly between):
# the candidates are verified against the whole text anyway, and each more costs a lookup.
SEARCH_BIGRAMS = 3


def name_grams(name: str) -> set[str]:
    """The characters and adjacent character pairs of a name (lower-cased, so that the gram
    lookup never misses what the database's LIKE would find): a name contains a text of one
    character only if it has it as a gram, and of two or more only if it has all its pairs."""
    text = name.lower()
    return set(text) | {text[i : i + 2] for i in range(len(text) - 1)}


def search_grams(text: str) -> list[str]:
    """The grams a name must have to contain `text`: the character itself for one character,
    else up to SEARCH_BIGRAMS of its distinct pairs (the first leads the lookup)."""
    lowered = text.lower()
    if len(lowered) == 1:
        return [lowered]
    pairs = list(dict.fromkeys(lowered[i : i + 2] for i in range(len(lowered) - 1)))
    if len(pairs) <= SEARCH_BIGRAMS:
        return pairs
    last = len(pairs) - 1
    picked = {round(step * last / (SEARCH_BIGRAMS - 1)) for step in range(SEARCH_BIGRAMS)}
    return [pairs[index] for index in sorted(picked)]


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


class HasContact(Protocol):
    """A member's contact: the member record, or the part of it a check-in reads."""

    last_contact_at: datetime | None
    lost_contact: bool
    lost_contact_since: date | None
    suspension_due_on: date | None


@dataclass
class MemberContact:
    """What a check-in reads of a member, and the contact it may move: the hot path reads these
    by one statement and writes the contact back with its commit, not the whole record."""

    id: str
    name: str
    branch_code: str
    branch_path: str
    last_contact_at: datetime | None
    lost_contact: bool
    lost_contact_since: date | None
    suspension_due_on: date | None

    def contact(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in CONTACT_FIELDS}


CONTACT_FIELDS = ("last_contact_at", "lost_contact", "lost_contact_since", "suspension_due_on")


def follow_contact(member: HasContact, occurred_at: datetime, cutoff: datetime) -> bool:
    """The latest contact moves forward; a contact within the window ends a lapse. True when the
    record changed in what its version counts (the last contact and the flag)."""
    before = (member.last_contact_at, member.lost_contact)
    if member.last_contact_at is None or occurred_at > member.last_contact_at:
        member.last_contact_at = occurred_at
    # A late record of a visit from before the lost-contact window does not end the lapse
    # (the next sweep would flag it again and announce the same lapse twice).
    if member.last_contact_at >= cutoff:
        member.lost_contact = False
        # Contact ends the lost episode: a later one starts its own clock and its own notice.
        member.lost_contact_since = None
        member.suspension_due_on = None
    return (member.last_contact_at, member.lost_contact) != before


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


# --- editing a member record (PATCH with If-Match) ------------------------------------------

# What a secretary of the member's branch (or anyone above it) may change; `six_facts.x` are the
# member's current facts.
STAFF_PATCHABLE = frozenset(
    {
        "name",
        "gender",
        "birth_date",
        "phone",
        "status",
        "six_facts.occupation",
        "six_facts.employer",
        "six_facts.current_address",
        "six_facts.contact_phone",
    }
)
# The member corrects their own phone and current facts, nothing of their party record.
MEMBER_PATCHABLE = frozenset(
    {
        "phone",
        "six_facts.current_address",
        "six_facts.occupation",
        "six_facts.employer",
        "six_facts.contact_phone",
    }
)
# Set by other processes (the ID by registration, the branch by a transfer, dues by payments).
NOT_PATCHABLE = ("id_number", "branch_code", "dues_paid_through")


def member_etag(version: int) -> str:
    """The member record's entity tag (strong: If-Match compares it byte for byte)."""
    return f'"{version}"'


def expected_version(if_match: str | None) -> int:
    """The record version an If-Match header names: none → 428; anything but one strong tag of
    ours (a list, `*`, a weak tag) → 412, since it cannot prove the caller saw this version."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "send If-Match with the ETag of the record you edited", field="If-Match", location="headers"
        )
    value = if_match.strip()
    if value == "*":
        raise PreconditionRequired(
            "If-Match must name the ETag of the record you edited, not *",
            field="If-Match",
            location="headers",
        )
    if len(value) < 3 or value[0] != '"' or value[-1] != '"' or not value[1:-1].isdigit():
        raise PreconditionFailed("If-Match does not name a current version of this member")
    return int(value[1:-1])


def check_patch_fields(by_member: bool, fields: set[str]) -> None:
    """403 naming the first field the caller may not change (a member: their phone and current facts)."""
    allowed = MEMBER_PATCHABLE if by_member else STAFF_PATCHABLE
    refused = sorted(fields - allowed)
    if refused:
        who = "a member" if by_member else "staff"
        raise Forbidden(f"{who} may not change {refused[0]}", field=refused[0])


def changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The names (in `wanted`'s order) whose wanted value differs from the current one."""
    return [name for name, value in wanted.items() if current.get(name) != value]


# --- dues (党费) ---------------------------------------------------------------------------

MAX_DUES_MONTHS_AHEAD = 12
MAX_DUES_AMOUNT = Decimal("99999999.99")


def month_index(year_month: str) -> int:
    year, month = year_month.split("-")
    return int(year) * 12 + int(month) - 1


def check_dues_month(paid_through: str, current: str, today: date) -> None:
    """A payment moves the dues forward, at most 12 months beyond this month (China time)."""
    if month_index(paid_through) - month_index(today.strftime("%Y-%m")) > MAX_DUES_MONTHS_AHEAD:
        raise InvalidInput(
            f"paid_through is more than {MAX_DUES_MONTHS_AHEAD} months after this month",
            field="paid_through",
        )
    if paid_through <= current:
        raise Conflict(f"dues are already paid through {current}", field="paid_through")


def dues_amount(text: str) -> Decimal:
    """The amount in yuan as a Decimal: digits with at most 2 decimals, above zero (never a float)."""
    if not re.fullmatch(r"\d{1,8}(\.\d{1,2})?", text):
        raise InvalidInput(
            'amount must be a decimal string of yuan with at most 2 decimals, e.g. "12.50"', field="amount"
        )
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover (the pattern admits only decimals)
        raise InvalidInput("amount is not a decimal", field="amount") from None
    if amount <= 0:
        raise InvalidInput("amount must be more than 0", field="amount")
    return amount


def check_paid_on(paid_on: date, today: date) -> None:
    if paid_on > today:
        raise InvalidInput("paid_on cannot be in the future", field="paid_on")


# --- returns (the end of a mobility) -------------------------------------------------------


def check_returned_on(returned_on: date, departed_on: date, today: date) -> None:
    if returned_on > today:
        raise InvalidInput("returned_on cannot be in the future", field="returned_on")
    if returned_on < departed_on:
        raise InvalidInput("returned_on is before the outflow's departed_on", field="returned_on")


# --- the lost-contact course and monthly coverage ----------------------------------------

CONTACT_METHODS = ("phone", "visit", "relative", "online", "letter", "other")
CONTACT_RESULTS = ("reached", "not_reached")
STANDINGS = ("normal", "suspended", "removed")
STANDING_DECISIONS = ("suspended", "restored", "removed")
# Failed attempts since the member was lost before the suspension is due (with the days).
SUSPENSION_DUE_ATTEMPTS = 3


def standing_after(current: str, decision: str) -> str:
    """The member's standing after an org department's decision; 409 where it makes no sense
    (suspending a suspended member, restoring one in normal standing, anything after removal)."""
    if current == "removed":
        raise Conflict("the member's party membership was removed; no further decision", field="standing")
    if decision == "suspended":
        if current != "normal":
            raise Conflict("the member is already suspended", field="standing")
        return "suspended"
    if decision == "restored":
        if current != "suspended":
            raise Conflict("only a suspended member can be restored", field="standing")
        return "normal"
    if decision == "removed":
        return "removed"
    raise InvalidInput(f"standing must be one of {', '.join(STANDING_DECISIONS)}", field="standing")


def suspension_due(lost_since: date | None, today: date, due_days: int, failed_attempts: int) -> bool:
    """Has a lost member been lost long enough, and searched for often enough, for the org
    department to decide on stopping their membership (停止党籍)?"""
    return (
        lost_since is not None
        and today >= lost_since + timedelta(days=due_days)
        and failed_attempts >= SUSPENSION_DUE_ATTEMPTS
    )


def day_start(day: date, zone: Any) -> datetime:
    """The instant a calendar day begins on the clock of `zone` (China time)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def month_bounds(month: str, zone: Any) -> tuple[datetime, datetime]:
    """The instants [start, end) of a `YYYY-MM` month on the clock of `zone` (China time)."""
    year, number = int(month[:4]), int(month[5:7])
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end
