"""The one HTML→PDF pipeline of the services that print (letters, activity cards).

Jinja templates → HTML → weasyprint → PDF bytes, on Debian's Noto CJK fonts, with QR codes drawn
by segno as inline SVG. A render holds no database session: callers load what they print, close
their session, then call `render_pdf` (rendering takes tens of milliseconds; a session held that
long would starve the other endpoints' connection pool).
"""

from shared.documents.pipeline import (
    DocumentLoader,
    ensure_fonts,
    qr_svg,
    render_html,
    render_pdf,
)

__all__ = ["DocumentLoader", "ensure_fonts", "qr_svg", "render_html", "render_pdf"]
