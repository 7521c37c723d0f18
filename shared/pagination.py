"""Keyset pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, fields, validate

from shared.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageQuery(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = fields.String(load_default=None, validate=validate.Length(max=500))


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int = 1) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(
            "cursor is not one this server issued", field="cursor", location="query"
        ) from error
    # A cursor is a few keys of the last row, each a number or a short text; anything else (a
    # forged object, a list, a boolean) would reach SQL as a value of the wrong type.
    if (
        not isinstance(values, list)
        or len(values) != arity
        or not all(_plain_key(value) for value in values)
    ):
        raise InvalidInput("cursor is not one this server issued", field="cursor", location="query")
    return values


def _plain_key(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return len(value) <= 200 and "\x00" not in value
    return isinstance(value, int | float) and abs(value) < 2**62


def page(items: Sequence[Any], limit: int, key: Any) -> dict[str, Any]:
    """Given up to limit+1 rows, return the page and a cursor built by `key(last_row)`."""
    has_more = len(items) > limit
    shown = list(items[:limit])
    next_cursor = encode_cursor(*key(shown[-1])) if has_more and shown else None
    return {"items": shown, "next_cursor": next_cursor}


def page_schema(item_schema: type[Schema], name: str | None = None) -> type[Schema]:
    """A response schema `{items: [item], next_cursor}` for the OpenAPI document."""
    return type(
        name or f"{item_schema.__name__.removesuffix('Schema')}Page",
        (Schema,),
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(allow_none=True, required=True),
        },
    )
