"""The built site in headless Chromium: pages load offline, search, copy, Mermaid, dark mode.

Uses Debian's /usr/bin/chromium rather than a browser downloaded by Playwright.
Without it the tests skip locally; under CI=true a skip is a failure (conftest.py).
The tests are synchronous: Playwright's sync API refuses to run inside a running loop.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from mkdocs.utils.yaml import yaml_load
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    sync_playwright,
)

if TYPE_CHECKING:
    from conftest import BuiltSite

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"]
# Material renders each Mermaid diagram into a *closed* shadow root, out of the tests'
# reach; opening them (test-only) lets us see the SVG.
OPEN_SHADOW_ROOTS = """
const attachShadow = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attachShadow.call(this, {...init, mode: "open"});
};
"""


def nav_pages() -> list[str]:
    """Site-relative URLs of the pages in mkdocs.yml's nav, in nav order."""
    with (ROOT / "mkdocs.yml").open(encoding="utf-8") as file:
        nav = yaml_load(file).get("nav") or []
    urls: list[str] = []

    def walk(items: list[Any]) -> None:
        for item in items:
            target = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(target, list):
                walk(target)
            elif "://" not in target:  # use_directory_urls: a/b.md -> a/b/, a/index.md -> a/
                parts = target.removesuffix(".md").split("/")
                if parts[-1] == "index":
                    parts.pop()
                urls.append("".join(f"{part}/" for part in parts))

    walk(nav)
    return urls


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output for failures


@pytest.fixture(scope="module")
def site_url(built_site: BuiltSite) -> Iterator[str]:
    assert built_site.returncode == 0, built_site.log
    handler = functools.partial(_QuietHandler, directory=str(built_site.path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/"
        server.shutdown()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install --no-install-recommends chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Tab:
    """A fresh browser tab that records what could break offline use."""

    page: Page
    base: str
    problems: list[str] = field(default_factory=list)

    def open(self, path: str = "") -> Page:
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def on_request(self, request: Request) -> None:
        url = urlsplit(request.url)
        if url.scheme not in ("data", "blob") and url.hostname != "127.0.0.1":
            self.problems.append(f"request leaving 127.0.0.1: {request.url}")


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One context for the module: its HTTP cache spares serving the 3.5 MB Mermaid script
    again to every page, which is what a reader's browser does too."""
    context = browser.new_context(color_scheme="light", viewport={"width": 1280, "height": 900})
    context.add_init_script(OPEN_SHADOW_ROOTS)
    # Material keeps the chosen palette in localStorage: start every page from the default.
    context.add_init_script("localStorage.clear()")
    yield context
    context.close()


@pytest.fixture
def tab(context: BrowserContext, site_url: str) -> Iterator[Tab]:
    page = context.new_page()
    tab = Tab(page, site_url)
    page.on("console", tab.on_console)
    page.on("pageerror", lambda error: tab.problems.append(f"page error: {error}"))
    page.on("request", tab.on_request)
    yield tab
    page.close()


@pytest.fixture(scope="module")
def home_links(context: BrowserContext, site_url: str) -> list[str]:
    page = context.new_page()
    try:
        page.goto(site_url)
        links: list[str] = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        return links
    finally:
        page.close()


@pytest.mark.parametrize("path", nav_pages(), ids=lambda path: path or "home")
def test_nav_page_loads_offline_and_home_links_it(
    tab: Tab, path: str, home_links: list[str]
) -> None:
    assert tab.base + path in home_links
    tab.open(path)
    assert tab.page.locator("article h1").count() == 1
    assert tab.problems == []


def test_home_table_links_every_topic_page(tab: Tab) -> None:
    table_links = tab.open().eval_on_selector_all(
        "article table a[href]", "links => links.map(a => a.href)")
    topics = sorted((ROOT / "docs" / "topics").glob("[!_]*.md"))  # _*.md are partials
    missing = [t.name for t in topics if f"{tab.base}topics/{t.stem}/" not in table_links]
    assert missing == []


def test_search_finds_ainvoke(tab: Tab) -> None:
    page = tab.open()
    query = page.locator("input[data-md-component=search-query]")
    query.click()
    query.press_sequentially("ainvoke")  # Material searches on keyup, which fill() skips
    results = page.locator(".md-search-result__item")
    results.first.wait_for()
    assert results.count() >= 1
    assert tab.problems == []


def first_page_with(built_site: BuiltSite, html: str) -> str:
    """The first nav page whose built HTML contains `html`, so the checks below follow the
    content wherever it moves."""
    for path in nav_pages():
        if html in (built_site.path / path / "index.html").read_text(encoding="utf-8"):
            return path
    raise AssertionError(f"no page in the nav contains {html!r}")


def test_code_blocks_have_copy_buttons(tab: Tab, built_site: BuiltSite) -> None:
    page = tab.open(first_page_with(built_site, '<div class="language-python highlight"'))
    blocks = page.locator("pre > code").count()
    assert blocks >= 1
    assert page.locator("pre [data-clipboard-target]").count() == blocks


def test_mermaid_diagrams_render_to_svg(tab: Tab, built_site: BuiltSite) -> None:
    page = tab.open(first_page_with(built_site, '<pre class="mermaid">'))
    diagrams = page.locator(".mermaid svg")
    diagrams.first.wait_for()
    assert "__start__" in (diagrams.first.text_content() or "")
    assert page.locator("pre.mermaid").count() == 0  # every diagram was replaced by its SVG
    assert tab.problems == []


def test_dark_mode_toggle_switches_the_palette(tab: Tab) -> None:
    page = tab.open()

    def scheme() -> str | None:
        return page.locator("body").get_attribute("data-md-color-scheme")

    assert scheme() == "default"
    page.locator("[data-md-component=palette] label:visible").click()
    page.wait_for_function("document.body.dataset.mdColorScheme === 'slate'")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "home-dark.png", full_page=True)
    page.locator("[data-md-component=palette] label:visible").click()
    assert scheme() == "default"


def test_screenshot_of_the_home_page(tab: Tab) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "home.png"
    tab.open().screenshot(path=shot, full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
