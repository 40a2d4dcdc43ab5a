"""The built book in a real browser: math typeset, images loaded, widgets drawn, nothing remote.

Issue "book and launch", item 2.  Serves `_build/html` (the session's fresh
build) on 127.0.0.1 at a free port and opens every page in headless Debian
Chromium (`/usr/bin/chromium`, installed with apt-get when missing; Playwright
only drives it and never downloads a browser).  Every request that leaves
127.0.0.1 is recorded and refused.  Per page it waits for MathJax
(`MathJax.startup.promise`), the images and the embedded widgets, then reads
the DOM, including the width of every display equation against its box at the
1280 px desktop viewport.  Screenshots of two pages go to `_build/artifacts/`, a per-page table
to `_build/artifacts/browser-summary.txt` and to the closing summary of pytest.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from book_tools import ARTIFACTS, notebook, run_book_build, tiny_book
from notebook_tools import ROOT, book_notebooks, load_config

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}  # a desktop screen: the book's full layout with both sidebars
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.IGNORECASE)

# Read after MathJax, images and widgets are done.  Text inside code, scripts and
# typeset math is skipped when looking for raw LaTeX.
INSPECT = r"""() => {
  const math = [...document.querySelectorAll('.math')];
  const skip = 'pre, code, script, style, textarea, mjx-container';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: n => n.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const raw = [];
  while (walker.nextNode()) {
    const text = walker.currentNode.nodeValue;
    if (text.includes('\\begin{')) raw.push(text.trim().slice(0, 100));
  }
  return {
    math: math.length,
    untypeset: math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 100)),
    equations: document.querySelectorAll('mjx-container').length,
    merrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 100)),
    raw: raw,
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    widget_views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgets: document.querySelectorAll('.jupyter-widgets').length,
    sliders: document.querySelectorAll('.widget-slider').length,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    displays: [...document.querySelectorAll('mjx-container[display="true"]')].filter(c => c.offsetParent !== null).length,
    wide: [...document.querySelectorAll('mjx-container[display="true"]')].flatMap(c => {
      // MathJax 3 cannot break a display across lines: a formula wider than its box
      // (the text column, minus the equation number) hides behind a scrollbar.
      const need = c.querySelector('mjx-math').getBoundingClientRect().width;
      const box = c.closest('div.math') || c.parentElement;
      const room = Math.min(c.clientWidth, box.clientWidth);
      if (c.offsetParent === null || need <= room + 0.5) return [];
      const item = MathJax.startup.document.getMathItemsWithin(c)[0];
      const heading = c.closest('section')?.querySelector('h1, h2, h3, h4, h5, h6');
      return [{label: box.id.replace(/^equation-/, ''), tex: item ? item.math.trim().replace(/\s+/g, ' ').slice(0, 60) : '',
               section: heading ? heading.textContent.replace(/#$/, '').trim() : '',
               need: Math.round(need), room: room}];
    }),
  };
}"""


@dataclass
class Page:
    path: str
    math: int = 0
    equations: int = 0
    untypeset: list = field(default_factory=list)
    merrors: list = field(default_factory=list)
    raw: list = field(default_factory=list)
    images: list = field(default_factory=list)
    widget_views: int = 0
    widgets: int = 0
    sliders: int = 0
    links: list = field(default_factory=list)
    displays: int = 0  # display equations shown on the page (MathJax containers), each measured
    wide: list = field(default_factory=list)  # displays wider than their box, at the viewport below
    remote: list = field(default_factory=list)  # refused requests to other hosts
    failed: list = field(default_factory=list)  # local requests that failed (status >= 400 ...)
    errors: list = field(default_factory=list)  # uncaught JavaScript exceptions


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.geteuid() != 0:
            pytest.fail(f"{CHROMIUM} missing: install Debian's chromium (sudo apt-get install -y chromium)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
    return CHROMIUM


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(html: Path):
    """Serve `html` on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _pages(html: Path) -> tuple[list[str], dict[str, str]]:
    """(pages to open, {redirect page: target}) under html/, _static excluded."""
    pages, redirects = [], {}
    for path in sorted(html.rglob("*.html")):
        name = path.relative_to(html).as_posix()
        if name.startswith(("_static/", "_sources/")):
            continue
        target = REDIRECT.search(path.read_text(errors="replace"))
        if target:
            redirects[name] = target.group(1)
        else:
            pages.append(name)
    return pages, redirects


def visit(chromium: Path, base: str, names: list[str], screenshots=None) -> dict[str, Page]:
    """Open every page; `screenshots(pages) -> names` picks the pages to photograph afterwards."""
    from playwright.sync_api import sync_playwright

    pages: dict[str, Page] = {}
    current: list[Page] = []

    def route(route):
        url = route.request.url
        if urlparse(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            current[-1].remote.append(url)
            route.abort()

    def response(resp):
        if resp.status >= 400 and urlparse(resp.url).path != "/favicon.ico":
            current[-1].failed.append(f"{resp.status} {resp.url}")

    def request_failed(req):
        if urlparse(req.url).hostname in LOCAL_HOSTS:
            current[-1].failed.append(f"{req.failure} {req.url}")

    def settle(page):
        if page.query_selector('script[src*="mathjax/tex-chtml.js"]'):
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
        if views:
            page.wait_for_function(f"() => document.querySelectorAll('.jupyter-widgets').length >= {views}",
                                   timeout=30_000)
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
        page.wait_for_load_state("networkidle")  # late requests (fonts of rendered widgets) count too

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        context.route("**/*", route)
        page = context.new_page()
        page.on("response", response)
        page.on("requestfailed", request_failed)
        page.on("pageerror", lambda error: current[-1].errors.append(str(error)))
        for name in names:
            current.append(Page(name))
            page.goto(base + name, wait_until="load")
            settle(page)
            for key, value in page.evaluate(INSPECT).items():
                setattr(current[-1], key, value)
            pages[name] = current[-1]
        if screenshots:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for old in ARTIFACTS.glob("screenshot-*.png"):
                old.unlink()
            for name in screenshots(pages):
                current.append(Page(name))  # requests of the second visit are recorded, not reported
                page.goto(base + name, wait_until="load")
                settle(page)
                page.screenshot(path=str(ARTIFACTS / f"screenshot-{name.replace('/', '_')}.png"), full_page=True)
        browser.close()
    return pages


@pytest.fixture(scope="session")
def visited(chromium, book_build, stage_report) -> dict[str, Page]:
    if book_build.returncode != 0:
        pytest.fail("the book build failed (see tests/test_book.py)")
    html = book_build.html
    names, redirects = _pages(html)
    for name, target in redirects.items():
        assert (html / Path(name).parent / target).is_file(), f"{name} redirects to missing {target}"
    with serve(html) as base:
        pages = visit(chromium, base, names, screenshots=_screenshot_pages)

    lines = [f"{'page':42s} {'equations':>9s} {'images':>8s} {'widgets':>7s} {'remote':>6s}"]
    for p in pages.values():
        ok = sum(i["ok"] for i in p.images)
        lines.append(f"{p.path:42s} {p.equations:9d} {f'{ok}/{len(p.images)}':>8s} {p.widgets:7d} {len(p.remote):6d}")
    total_images = sum(len(p.images) for p in pages.values())
    lines.append(f"{len(pages)} pages opened ({len(redirects)} redirect pages checked), "
                 f"{sum(p.equations for p in pages.values())} equations typeset "
                 f"({sum(p.displays for p in pages.values())} displays measured against their column) on "
                 f"{sum(1 for p in pages.values() if p.math)} pages with math, "
                 f"{sum(sum(i['ok'] for i in p.images) for p in pages.values())}/{total_images} images loaded, "
                 f"{sum(p.widgets for p in pages.values())} widgets rendered, "
                 f"{sum(len(p.remote) for p in pages.values())} non-local requests")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "browser-summary.txt").write_text("\n".join(lines) + "\n")
    for line in lines:
        stage_report("Browser (headless Chromium)", line)
    return pages


def _screenshot_pages(pages: dict[str, Page]) -> list[str]:
    """The page with the most equations and the notebook page with the most figures and widgets."""
    math_page = max(pages.values(), key=lambda p: p.equations).path
    notebooks = [p for p in pages.values() if p.path.startswith("notebooks/")] or list(pages.values())
    figure_page = max(notebooks, key=lambda p: (p.widgets, len(p.images))).path
    return list(dict.fromkeys([math_page, figure_page]))


def test_every_toc_page_was_opened(visited):
    from notebook_tools import toc_files

    assert {f"{f}.html" for f in toc_files()} <= set(visited)


def test_nothing_is_requested_from_other_hosts(visited):
    remote = {name: p.remote for name, p in visited.items() if p.remote}
    assert not remote, f"non-local requests (refused): {remote}"


def test_every_local_request_succeeds_and_no_script_fails(visited):
    failed = {name: p.failed for name, p in visited.items() if p.failed}
    assert not failed
    errors = {name: p.errors for name, p in visited.items() if p.errors}
    assert not errors, f"uncaught JavaScript errors: {errors}"


def test_math_is_typeset(visited):
    with_math = [p for p in visited.values() if p.math]
    assert with_math, "no page has math: the book's notation page should"
    for p in with_math:
        assert p.equations >= p.math and not p.untypeset, f"{p.path}: untypeset math {p.untypeset[:3]}"
        assert not p.merrors, f"{p.path}: MathJax errors {p.merrors[:3]}"
    raw = {p.path: p.raw for p in visited.values() if p.raw}
    assert not raw, f"raw LaTeX left in the text: {raw}"


def _equation_name(wide: dict) -> str:
    """The label of a display, or its first TeX and its section when it has none."""
    name = wide["label"] or f'"{wide["tex"]}" in section "{wide["section"]}"'
    return f'{name}: {wide["need"]} px in {wide["room"]} px'


def test_display_math_fits_its_column(visited):
    """No display equation is wider than its box at the desktop viewport (VIEWPORT, 1280 px).

    MathJax 3 does not wrap display math, so an over-wide formula sits behind a
    horizontal scrollbar (issue 18, item 7: the diffusion-temperature page's
    equation 10).  Break it into `aligned` lines instead.
    """
    assert sum(p.displays for p in visited.values()), "no display math was measured"
    wide = {p.path: [_equation_name(w) for w in p.wide] for p in visited.values() if p.wide}
    assert not wide, "display math wider than the text column (split it into aligned lines): " + "; ".join(
        f"{page}: {', '.join(names)}" for page, names in wide.items())


def test_every_image_loads(visited):
    assert any(p.images for p in visited.values())
    broken = {p.path: [i["src"] for i in p.images if not i["ok"]] for p in visited.values()}
    assert not {k: v for k, v in broken.items() if v}


def test_saved_widgets_render(visited):
    for p in visited.values():
        assert p.widgets >= p.widget_views, f"{p.path}: {p.widget_views} widget views, {p.widgets} rendered"


def test_notebook_pages_open_in_colab(visited):
    owner_repo = urlparse(load_config()["repository"]["url"]).path.strip("/")
    branch = load_config()["repository"]["branch"]
    for path in book_notebooks():
        name = path.relative_to(ROOT).as_posix()
        page = visited[str(Path(name).with_suffix(".html"))]
        assert f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{name}" in page.links


def test_screenshots_are_kept(visited):
    shots = sorted(ARTIFACTS.glob("screenshot-*.png"))
    assert len(shots) >= 2 or len(visited) < 2
    assert all(s.stat().st_size > 10_000 for s in shots)


def test_vendored_widget_scripts_render_a_saved_slider(chromium, tmp_path):
    """A tiny book whose notebook saves a slider's state: the static page draws slider and figure.

    The page has math, so MathJax 3 is loaded when the widget bundle typesets the
    slider's description with MathJax 2's `MathJax.Hub.Queue`: the regression test of
    book/_vendor/mathjax2-hub-shim.js (without it: "Cannot read properties of
    undefined (reading 'Queue')").  The description itself is math and must come out
    typeset (written `\\(...\\)`: the book's MathJax 3 does not read `$` delimiters).
    """
    slider = notebook(
        "import matplotlib.pyplot as plt\nimport numpy as np\n"
        "from ipywidgets import FloatSlider, interact\n"
        "def draw(T=1.0):\n"
        "    x = np.linspace(-3, 3, 200)\n"
        "    plt.plot(x, np.exp(-x**2 / T))\n"
        "    plt.title(f'T = {T}')\n"
        "    plt.show()\n"
        "interact(draw, T=FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description=r'\\(T = 1/\\beta\\)'));")
    slider.cells.insert(1, nbformat.v4.new_markdown_cell(r"The density $p(x)^{\beta}$ at temperature $T$."))
    book = tiny_book(tmp_path, """\
        format: jb-book
        root: book/intro
        chapters:
          - file: notebooks/slider
        """, {"book/intro.md": "# Intro\n", "notebooks/slider.ipynb": slider})
    returncode, output, _ = run_book_build(book)
    assert returncode == 0, output[-4000:]
    with serve(book / "_build" / "html") as base:
        (page,) = visit(chromium, base, ["notebooks/slider.html"]).values()
    assert not page.errors, page.errors
    assert page.widget_views == 1 and page.widgets >= 1 and page.sliders == 1
    assert page.math == 2 and page.equations >= 3, "the two formulas and the slider's description"
    assert page.images and all(i["ok"] for i in page.images), "the output widget's figure"
    assert not page.remote and not page.failed
