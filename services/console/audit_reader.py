"""One audit log out of four: each service keeps its own (`GET /api/v1/audit` of registration,
transfer, tasks and notify), and the console's reader merges them newest first.

A merged page is correct across pages with one position per service: the id of the last entry of
that service already shown (or "not started", or "done"). The next page asks each service for the
entries after its position (`shared.audit.cursor_after`), merges the answers by time and takes the
first page's worth; a service's entries are taken in its own order, so each service's position is
always a prefix of its log and no entry is shown twice or skipped, however the logs interleave.
The positions travel as one opaque `cursor` (base64 of a small JSON object).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.audit import cursor_after

SOURCES = ("registration", "transfer", "tasks", "notify")
DONE = "-"  # a service whose log has nothing more to show
MAX_POSITION = 40  # an entry id is 26 characters; anything longer is not one we issued


class BadCursor(ValueError):
    """A `cursor` the console did not issue: the reader starts from the newest entries again."""


@dataclass
class MergedPage:
    entries: list[dict[str, Any]]
    next_cursor: str | None
    # Services that could not be read (service → the refusal, in Chinese): the page shows the rest.
    problems: dict[str, str] = field(default_factory=dict)


def encode_positions(positions: Mapping[str, str | None]) -> str:
    raw = json.dumps({name: value for name, value in positions.items() if value is not None}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_positions(cursor: str | None, sources: Iterable[str]) -> dict[str, str | None]:
    """Service → the id of its last entry shown, DONE, or None (from its newest entry)."""
    positions: dict[str, str | None] = dict.fromkeys(sources)
    if not cursor:
        return positions
    try:
        found = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise BadCursor(cursor) from error
    if not isinstance(found, dict):
        raise BadCursor(cursor)
    for name, value in found.items():
        if name not in positions:
            continue  # a service the filter leaves out now
        if not isinstance(value, str) or not 0 < len(value) <= MAX_POSITION:
            raise BadCursor(cursor)
        positions[name] = value
    return positions


def _newest_first(entry: dict[str, Any]) -> tuple[datetime, str]:
    try:
        at = datetime.fromisoformat(str(entry.get("at")))
    except ValueError:
        at = datetime.min
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.now().astimezone().tzinfo)
    return at, str(entry.get("id"))


# fetch(service, query) → the service's page ({"items", "next_cursor"}) or raises
Fetch = Callable[[str, dict[str, Any]], dict[str, Any]]


def read_merged(
    fetch: Fetch,
    sources: Iterable[str],
    query: Mapping[str, Any],
    limit: int,
    cursor: str | None,
    describe_error: Callable[[Exception], str | None],
) -> MergedPage:
    """One merged page of `limit` entries from `sources`, newest first, after `cursor`.

    `describe_error` turns a failed read into the words shown for that service, or returns None to
    let the failure propagate (a lapsed sign-in)."""
    sources = tuple(sources)
    positions = decode_positions(cursor, sources)
    wanted = [name for name in sources if positions[name] != DONE]

    def read(name: str) -> dict[str, Any]:
        position = positions[name]
        return fetch(name, {**query, "limit": limit, "cursor": cursor_after(position) if position else None})

    answers: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        futures = {name: pool.submit(read, name) for name in wanted}
        for name, future in futures.items():
            try:
                answers[name] = future.result()
            except Exception as error:
                problem = describe_error(error)
                if problem is None:
                    raise
                problems[name] = problem
    streams = [
        [(_newest_first(entry), name, entry) for entry in answers[name].get("items") or []] for name in answers
    ]
    shown: list[dict[str, Any]] = []
    taken: dict[str, list[dict[str, Any]]] = {name: [] for name in answers}
    for _, name, entry in heapq.merge(*streams, key=lambda item: item[0], reverse=True):
        if len(shown) == limit:
            break
        shown.append({**entry, "source": name})
        taken[name].append(entry)
    moved = dict(positions)
    for name, answer in answers.items():
        items = answer.get("items") or []
        if len(taken[name]) == len(items) and not answer.get("next_cursor"):
            moved[name] = DONE
        elif taken[name]:
            moved[name] = str(taken[name][-1]["id"])
    # A service that could not be read keeps its position: the next page asks it again.
    more = any(moved[name] != DONE for name in sources)
    return MergedPage(shown, encode_positions(moved) if more and shown else None, problems)
