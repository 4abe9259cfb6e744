"""Statutory papers as PDF: the stored HTML rendered by WeasyPrint (Pango, Debian's CJK fonts), on A4.

The printable HTML stays the record people open in the browser; the PDF is what is handed out or filed,
stored beside it with its own sha256, which the case log records with the paper (``pdf_sha256``).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

# Paper size, margins and the CJK faces fonts-noto-cjk installs (fontconfig finds them by family name).
PRINT_CSS = """
@page { size: A4; margin: 22mm 20mm 20mm 20mm; @bottom-center { content: counter(page) " / " counter(pages);
        font-size: 9pt; color: #555; } }
body { max-width: none; margin: 0; padding: 0;
       font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", "Songti SC", SimSun, serif; }
.sign { display: block; }
.sign div { display: inline-block; width: 45%; vertical-align: top; }
.noprint { display: none; }
"""


@lru_cache(maxsize=1)
def _stylesheet() -> Any:
    from weasyprint import CSS  # imported on first use: Pango loads once per process

    return CSS(string=PRINT_CSS)


def render_pdf(html: str) -> bytes:
    """The PDF of a paper's HTML (no network: the papers reference no outside resources)."""
    from weasyprint import HTML

    def refuse(url: str, timeout: int = 10, ssl_context: Any = None) -> dict[str, Any]:
        raise ValueError(f"文书不得引用外部资源：{url}")

    return bytes(HTML(string=html, url_fetcher=refuse).write_pdf(stylesheets=[_stylesheet()]))


def pdf_with_hash(html: str) -> tuple[bytes, str]:
    pdf = render_pdf(html)
    return pdf, hashlib.sha256(pdf).hexdigest()
