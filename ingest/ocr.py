"""OCR of scanned PDF pages with the `tesseract` program (Debian: `tesseract-ocr`), when it is
installed. The only module that runs it. A page's images are read with pypdf (no renderer
needed: a scanned page is an image); what tesseract reads is flagged as OCR text wherever
it is cited, since it may differ from the printed page.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

PAGE_TIMEOUT_S = 120
MIN_SIDE_PX = 300  # smaller images are logos and rules, not scanned text


def available() -> bool:
    return shutil.which("tesseract") is not None


def read_image(path: Path, language: str = "eng") -> str:
    result = subprocess.run(
        ["tesseract", str(path), "stdout", "-l", language, "--psm", "3"],
        capture_output=True, text=True, timeout=PAGE_TIMEOUT_S, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError((result.stderr or "tesseract failed").strip().splitlines()[-1][:200])
    return result.stdout


def read_page(page) -> str:
    """The text of a pypdf page's images, top to bottom as tesseract reads each."""
    texts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hha-ocr-") as tmp:
        for n, image_file in enumerate(page.images):
            image = image_file.image
            if image is None or min(image.size) < MIN_SIDE_PX:
                continue
            path = Path(tmp) / f"{n}.png"
            image.convert("L").save(path)
            texts.append(read_image(path))
    return "\n\n".join(t.strip() for t in texts if t.strip())
