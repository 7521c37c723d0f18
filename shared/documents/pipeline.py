"""Rendering: templates from a service's own folder plus the shared print stylesheet."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

log = logging.getLogger(__name__)

SHARED_TEMPLATES = Path(__file__).resolve().parent / "templates"
# Debian's fonts-noto-cjk: the family names the print stylesheet asks for.
CJK_FONT_DIR = Path("/usr/share/fonts/opentype/noto")
CJK_PACKAGE = "fonts-noto-cjk"


class DocumentLoader:
    """A Jinja environment over a service's template folder, then the shared one (base.html)."""

    def __init__(self, *folders: Path) -> None:
        loader = ChoiceLoader([FileSystemLoader(str(folder)) for folder in (*folders, SHARED_TEMPLATES)])
        # StrictUndefined: a missing particular is a bug to see in tests, not a blank on paper.
        self.environment = Environment(
            loader=loader, autoescape=select_autoescape(["html"]), undefined=StrictUndefined
        )
        self.environment.globals["qr_svg"] = qr_svg

    def html(self, template: str, context: dict[str, Any]) -> str:
        return self.environment.get_template(template).render(**context)


def qr_svg(data: str, scale: int = 3) -> Markup:
    """A QR code as inline SVG (vector: sharp at any print resolution, no image files).

    Error correction M with a 4-module quiet zone: what phone cameras read off a printed page.
    No light background path: the paper is white, and each path costs weasyprint a parse."""
    code = segno.make_qr(data, error="m")
    svg = code.svg_inline(scale=scale, border=4, dark="#000", light=None, omitsize=False)
    return Markup(svg)  # noqa: S704 - segno's own SVG, no user markup


def render_html(loader: DocumentLoader, template: str, context: dict[str, Any]) -> str:
    return loader.html(template, context)


def render_pdf(loader: DocumentLoader, template: str, context: dict[str, Any]) -> bytes:
    """The template rendered to A4 PDF bytes. Call with no database session open."""
    return html_to_pdf(loader.html(template, context))


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported late: loading it costs ~0.3 s and most processes never print

    ensure_fonts()
    pdf = HTML(string=html, base_url=str(SHARED_TEMPLATES)).write_pdf()
    assert pdf is not None
    return bytes(pdf)


@lru_cache(maxsize=1)
def ensure_fonts() -> bool:
    """True when the CJK fonts are present; otherwise warn once (Chinese then prints as boxes).

    Installing is the set-up's job (deploy/bootstrap.sh, the test fixtures), never a request's."""
    if CJK_FONT_DIR.exists():
        return True
    log.warning("%s is not installed: Chinese text in PDFs will not render", CJK_PACKAGE)
    return False
