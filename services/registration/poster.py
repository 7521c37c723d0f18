"""The printable A4 poster of a station: its name, address, opening hours, how to check in,
and its poster code (valid until the station's key is rotated), on the shared PDF pipeline."""

from __future__ import annotations

from pathlib import Path

from services.registration.station_queries import Poster
from shared.documents import DocumentLoader, render_pdf

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOADER = DocumentLoader(TEMPLATES)
KIND_NAMES = {"home": "流动党员之家", "station": "流动党员驿站", "service_point": "流动党员服务站"}


def poster_pdf(poster: Poster) -> bytes:
    """Render with no session open (the caller loaded `poster` in a short read)."""
    return render_pdf(
        LOADER, "station_poster.html", {"poster": poster, "kind_name": KIND_NAMES.get(poster.kind, "")}
    )
