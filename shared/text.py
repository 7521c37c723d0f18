"""Rules for text a person types that ends up in other people's screens, files and logs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from marshmallow import ValidationError

# C0 controls (CR, LF, tab, ESC...), DEL, C1 controls and the Unicode line and paragraph
# separators: in a name they forge log lines, split CSV rows and hide text on screens.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# What an id in a URL path may be: the services' ids (hex) and the test and seed ids (words
# with dashes). No dot, slash, percent or query character: a `../` id never reaches a URL.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,80}")


def no_control_characters(value: str) -> None:
    """A marshmallow validator: refuse control characters (the error names the field)."""
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError("must not contain control characters (line breaks, tabs and the like)")


def valid_id(value: str) -> None:
    """A marshmallow validator for an id sent in a body or query."""
    if not ID_PATTERN.fullmatch(value):
        raise ValidationError("must be 1-80 characters of A-Z, a-z, 0-9, _ and -")


# A month (YYYY-MM) of this era in ASCII digits: a month's bounds are computed from it, and the
# year 0000 or 9999 would overflow those (a 500 instead of a 422).
YEAR_MONTH_OF_ERA = re.compile(r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$")


def month_of_era(value: str) -> None:
    """A marshmallow validator: `YYYY-MM` between 1900-01 and 2099-12."""
    if not YEAR_MONTH_OF_ERA.fullmatch(value):
        raise ValidationError("must be YYYY-MM, a month from 1900-01 to 2099-12")


def instant_of_era(value: datetime) -> None:
    """A marshmallow validator for a time filter: a year from 1900 to 2999 in UTC (an offset at
    the ends of the calendar would overflow the conversion to UTC: a 500 instead of a 422)."""
    try:
        year = value.astimezone(UTC).year
    except (OverflowError, ValueError) as error:
        raise ValidationError("must be a time between the years 1900 and 2999") from error
    if not 1900 <= year <= 2999:
        raise ValidationError("must be a time between the years 1900 and 2999")
