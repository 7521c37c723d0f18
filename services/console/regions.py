"""Region names for display from static/regions.json (GB/T 2260, see deploy/console_regions.py)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

REGIONS = Path(__file__).parent / "static" / "regions.json"


@cache
def _names() -> dict[str, str]:
    names: dict[str, str] = {}

    def walk(entries: list[list[object]], prefix: str) -> None:
        for entry in entries:
            code, name = str(entry[0]), str(entry[1])
            # Municipalities list a 市辖区 level: 北京市东城区, not 北京市市辖区东城区.
            full = prefix + ("" if name in ("市辖区", "县") else name)
            names[code] = full
            if len(entry) > 2:
                walk(entry[2], full)  # type: ignore[arg-type]

    walk(json.loads(REGIONS.read_text(encoding="utf-8")), "")
    return names


def region_name(code: object) -> str:
    """`330602` → 浙江省绍兴市越城区; a code the table lacks falls back to its province, then ""."""
    text = str(code or "")
    names = _names()
    return names.get(text) or names.get(text[:4].ljust(6, "0")) or names.get(text[:2].ljust(6, "0")) or ""
