"""``inspect --html``: the size map as one self-contained HTML page (no network, no CDN).

The page (``treemap.html``, package data) carries its own CSS and JavaScript: a squarified
treemap written for it (about a hundred lines: a vendored charting library would be ten times the
page), a details panel, and tables of the same data for keyboards and screen readers. A
Content-Security-Policy of ``default-src 'none'`` makes the browser refuse any fetch, so the page
is the same from ``file://``, a CI artifact store or an air-gapped laptop.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from packager.artifact.tarball import atomic_write
from packager.inspect.sizemap import SizeMap

_TEMPLATE = "treemap.html"


def render_page(smap: SizeMap) -> bytes:
    """The page's bytes; the data is JSON inside a ``<script type="application/json">`` element."""
    template = resources.files("packager.inspect").joinpath(_TEMPLATE).read_text(encoding="utf-8")
    data = json.dumps(smap.to_dict(), separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    # Inside <script>, "</script" or "<!--" would end or change the element: escape every < > &.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = html.escape(f"{Path(smap.artifact).name}: where the size goes")
    return template.replace("__TITLE__", title, 1).replace("__DATA__", data, 1).encode("utf-8")


def write_page(smap: SizeMap, out: Path) -> int:
    """Write the page atomically to *out*; return its size in bytes."""
    page = render_page(smap)
    atomic_write(Path(out), [page])
    return len(page)
