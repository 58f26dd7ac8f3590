"""`mkdocs build --strict` is clean, and the built site works offline.

The build itself runs once per session in the `built_site` fixture (conftest.py), which
the browser test shares.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from conftest import BuiltSite

MERMAID = "assets/javascripts/mermaid.min.js"


def test_build_passes_strict_with_no_warnings(built_site: BuiltSite) -> None:
    warnings = [line for line in built_site.log.splitlines() if re.match(r"\s*WARNING\b", line)]
    assert built_site.returncode == 0, built_site.log
    assert warnings == [], built_site.log


class _AssetRefs(HTMLParser):
    """Collects the URLs a browser fetches while rendering a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video") and attributes.get("src"):
            self.urls.append(attributes["src"] or "")
        # rel="canonical" names the page's public address; browsers never fetch it.
        if tag == "link" and attributes.get("href") and attributes.get("rel") != "canonical":
            self.urls.append(attributes["href"] or "")


def test_pages_fetch_nothing_from_other_hosts(built_site: BuiltSite) -> None:
    pages = sorted(built_site.path.rglob("*.html"))
    assert pages
    external = {}
    for page in pages:
        refs = _AssetRefs()
        refs.feed(page.read_text(encoding="utf-8"))
        remote = [url for url in refs.urls if urlsplit(url).scheme or url.startswith("//")]
        if remote:
            external[str(page.relative_to(built_site.path))] = remote
    assert external == {}


def test_mermaid_is_vendored_with_its_licence(built_site: BuiltSite) -> None:
    assert (built_site.path / MERMAID).stat().st_size > 1_000_000
    assert "MIT License" in (built_site.path / MERMAID).with_name("mermaid.LICENSE").read_text()
    index = (built_site.path / "index.html").read_text(encoding="utf-8")
    assert f'<script src="{MERMAID}"></script>' in index


def test_the_mermaid_fence_renders_for_mermaid(built_site: BuiltSite) -> None:
    index = (built_site.path / "index.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid"><code>' in index

