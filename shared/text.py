"""Rules for text a person types that ends up in other people's screens, files and logs."""

from __future__ import annotations

import re

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
