"""Every relative link in README.md and docs/ resolves inside the repository, anchors included:
a clone must be readable on its own, so a renamed file or heading must not leave a dead link."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _anchors(document: Path) -> set[str]:
    """Heading slugs as GitHub makes them: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", FENCE.sub("", document.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def _broken(document: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in LINK.findall(FENCE.sub("", document.read_text())):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto: are not checked here
            continue
        path, _, anchor = target.partition("#")
        destination = (document.parent / path).resolve() if path else document
        if root not in destination.parents:
            problems.append(f"{target} leaves the repository")
        elif not destination.exists():
            problems.append(f"{target} does not exist")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            problems.append(f"{target} names no heading of {destination.name}")
    return problems


def test_the_docs_exist() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in _documents()}
    assert {"docs/README.md", "docs/architecture.md", "docs/api.md", "docs/domain.md"} <= names
    assert any(name.startswith("docs/decisions/0001-") for name in names)


def test_relative_links_resolve() -> None:
    broken = {
        document.relative_to(ROOT).as_posix(): problems
        for document in _documents()
        if (problems := _broken(document))
    }
    assert broken == {}


def test_a_dead_link_is_caught(tmp_path: Path) -> None:
    # The check itself must be able to fail: a missing file, a missing heading, a way out.
    root = tmp_path.resolve()
    page = root / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text("# Title\n\n[a](gone.md) [b](page.md#nothing) [c](page.md#title) [d](../../x.md)\n")
    assert _broken(page, root) == [
        "gone.md does not exist",
        "page.md#nothing names no heading of page.md",
        "../../x.md leaves the repository",
    ]
