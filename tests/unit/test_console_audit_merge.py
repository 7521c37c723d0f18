"""The console's merged audit reader without services: four logs paged as the APIs page them (by id,
newest first, `shared.audit.cursor_after`), merged by time; every page boundary keeps every entry
exactly once, in time order, whatever the interleaving."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.console import audit_reader
from shared.pagination import decode_cursor


def logs(seed: int, sizes: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    made: dict[str, list[dict[str, Any]]] = {}
    for source, size in sizes.items():
        moments = sorted(rng.randrange(10_000) for _ in range(size))
        # ids sort as times do (ULIDs); the source's name keeps them unique across services
        made[source] = [
            {"id": f"{moment:08d}{source}{n:04d}", "at": (start + timedelta(seconds=moment)).isoformat(), "action": "x"}
            for n, moment in enumerate(moments)
        ]
    return made


def fetcher(entries: dict[str, list[dict[str, Any]]], calls: list[str]) -> audit_reader.Fetch:
    """Each service as the API answers: newest first by id, after the cursor's id, `limit` a page."""

    def fetch(source: str, query: dict[str, Any]) -> dict[str, Any]:
        calls.append(source)
        after = decode_cursor(query.get("cursor"))
        newest_first = sorted(entries[source], key=lambda entry: entry["id"], reverse=True)
        if after:
            newest_first = [entry for entry in newest_first if entry["id"] < after[0]]
        shown = newest_first[: query["limit"]]
        more = len(newest_first) > query["limit"]
        return {"items": shown, "next_cursor": "more" if more else None}

    return fetch


def read_all(fetch: audit_reader.Fetch, sources: tuple[str, ...], limit: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        page = audit_reader.read_merged(fetch, sources, {}, limit, cursor, lambda error: None)
        pages.append(page.entries)
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 1000


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("limit", [1, 3, 25])
def test_pages_across_four_logs_show_every_entry_once_newest_first(seed, limit):
    sizes = {"registration": 40, "transfer": 7, "tasks": 0, "notify": 23}
    entries = logs(seed, sizes)
    calls: list[str] = []
    pages = read_all(fetcher(entries, calls), audit_reader.SOURCES, limit)
    shown = [entry for page in pages for entry in page]
    assert all(len(page) == limit for page in pages[:-1])
    assert sorted(entry["id"] for entry in shown) == sorted(entry["id"] for log in entries.values() for entry in log)
    assert [entry["at"] for entry in shown] == sorted((entry["at"] for entry in shown), reverse=True)
    assert {entry["source"] for entry in shown} == {"registration", "transfer", "notify"}
    # an exhausted log is not asked again
    assert calls.count("tasks") == 1


def test_one_source_only_reads_that_log():
    entries = logs(1, {"registration": 5, "transfer": 5, "tasks": 5, "notify": 5})
    calls: list[str] = []
    pages = read_all(fetcher(entries, calls), ("transfer",), 2)
    assert {entry["source"] for page in pages for entry in page} == {"transfer"}
    assert set(calls) == {"transfer"} and sum(len(page) for page in pages) == 5


def test_a_service_that_cannot_be_read_is_named_and_the_others_are_shown():
    entries = logs(2, {"registration": 3, "transfer": 3, "tasks": 3, "notify": 3})
    fetch = fetcher(entries, [])

    def failing(source: str, query: dict[str, Any]) -> dict[str, Any]:
        if source == "tasks":
            raise ConnectionError("down")
        return fetch(source, query)

    page = audit_reader.read_merged(failing, audit_reader.SOURCES, {}, 25, None, lambda error: "暂不可用")
    assert page.problems == {"tasks": "暂不可用"}
    assert len(page.entries) == 9 and "tasks" not in {entry["source"] for entry in page.entries}
    # its position is kept: the next page asks it again, from its newest entry
    assert audit_reader.decode_positions(page.next_cursor, audit_reader.SOURCES)["tasks"] is None


@pytest.mark.parametrize("cursor", ["%%%", "bnVsbA", "eyJ0YXNrcyI6IDF9", "WyJhIl0"])
def test_a_cursor_the_console_did_not_issue_is_refused(cursor):
    with pytest.raises(audit_reader.BadCursor):
        audit_reader.decode_positions(cursor, audit_reader.SOURCES)
