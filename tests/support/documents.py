"""PDFs as a reader sees them: their text (pdftotext), page 1 as PNG (pdftoppm), its QR codes.

The machine tools come from Debian (poppler-utils, fonts-noto-cjk, libharfbuzz-subset0), installed
with apt where missing, as the browser tests install chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shared.settings import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "documents"
PACKAGES = {
    "poppler-utils": Path("/usr/bin/pdftotext"),
    "fonts-noto-cjk": Path("/usr/share/fonts/opentype/noto"),
    # weasyprint subsets the 20 MB CJK fonts with HarfBuzz in milliseconds; without it, fontTools
    # takes seconds per PDF.
    "libharfbuzz-subset0": Path("/usr/lib/x86_64-linux-gnu/libharfbuzz-subset.so.0"),
}


def ensure_print_tools() -> None:
    from tests.browser.fixtures import apt_install

    for package, marker in PACKAGES.items():
        if marker.exists() or not Path("/usr/bin/dpkg").exists():
            continue
        if shutil.which("apt-get") is None or _not_root():
            pytest.skip(f"document tests need {package}: run `apt-get install -y {package}` as root")
        result = apt_install(package)
        if result.returncode != 0:
            pytest.fail(f"could not install {package} with apt: {result.stderr[-500:]}")


def _not_root() -> bool:
    import os

    return os.geteuid() != 0


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "document.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(source), "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode("utf-8")


def page_count(pdf: bytes, tmp_path: Path) -> int:
    source = tmp_path / "count.pdf"
    source.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(source)], capture_output=True, text=True, check=True, timeout=60)
    line = next(line for line in info.stdout.splitlines() if line.startswith("Pages:"))
    return int(line.split()[1])


def first_page_png(pdf: bytes, name: str, dpi: int = 150) -> Path:
    """Page 1 as `test-artifacts/documents/<name>.png` (kept: a rendered sample to look at)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    source = ARTIFACTS / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            str(dpi),
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(source),
            str(ARTIFACTS / name),
        ],
        check=True,
        timeout=120,
    )
    return ARTIFACTS / f"{name}.png"


def decode_qr_codes(png: Path) -> list[str]:
    """Every QR code's text on the image, as a phone camera would read it."""
    import zxingcpp
    from PIL import Image

    with Image.open(png) as image:
        return [result.text for result in zxingcpp.read_barcodes(image) if result.format.name == "QRCode"]
