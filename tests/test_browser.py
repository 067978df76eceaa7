"""The rendered book, tested the way a reader uses it: in a real browser.

Needs the built book (`make book`) and Debian's chromium; `make test` builds
the book first and .ci/run installs chromium. Each chapter page is loaded from
a server on 127.0.0.1, and the test asserts that every image loaded, MathJax
rendered the equations, nothing was logged as an error, and no request failed
or left 127.0.0.1. Full-page screenshots are saved in _build/screenshots/.
"""

import functools
import http.server
import os
import re
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# The flags this machine's sandbox needs (root, no GPU), and no background
# traffic of Chromium's own.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _missing(what):
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide {what}")
    pytest.skip(f"needs {what}")


def chapter_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f + ".html" for f in files]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        _missing("the built book in _build/html (run `make book`)")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        _missing(f"Debian's chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageLog:
    """What a page did besides rendering: errors, failed and outside requests."""

    def __init__(self, page, base):
        self.errors, self.failed, self.outside = [], [], []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        page.on("request", lambda r: r.url.startswith((base, "data:", "blob:")) or self.outside.append(r.url))


def open_page(browser, url, base):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log = PageLog(page, base)
    page.goto(url, wait_until="networkidle")
    return page, log


MATHJAX_DONE = "() => window.MathJax && MathJax.startup && MathJax.startup.promise.then(() => true)"
TEXT_OUTSIDE_CODE = """() => {
    const body = document.querySelector('main, article, body').cloneNode(true);
    body.querySelectorAll('pre, code, script, style, mjx-container').forEach(e => e.remove());
    return body.innerText;
}"""


@pytest.mark.parametrize("path", chapter_pages())
def test_chapter_page(browser, server, path):
    page, log = open_page(browser, server + path, server)
    try:
        # Sphinx loads MathJax only on pages with math; those must render it.
        if page.locator(".math").count():
            assert page.evaluate(MATHJAX_DONE), "MathJax did not load"
            assert page.locator("mjx-container").count() > 0, "MathJax rendered nothing"
        images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.src, i.complete, i.naturalWidth])")
        broken = [src for src, complete, width in images if not (complete and width > 0)]
        assert not broken, f"images that did not load: {broken}"
        text = page.evaluate(TEXT_OUTSIDE_CODE)
        raw = re.findall(r".{0,30}(?:\$\$|\\\(|\\\[).{0,30}", text)
        assert not raw, f"math left unrendered: {raw}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / (Path(path).stem + ".png")), full_page=True)
    finally:
        page.close()
    assert not log.errors, f"console errors: {log.errors}"
    assert not log.failed, f"failed requests: {log.failed}"
    assert not log.outside, f"requests that left 127.0.0.1: {log.outside}"


def test_chapters_with_equations_render_them(browser, server):
    page, _ = open_page(browser, server + "book/03_kl_divergence.html", server)
    page.evaluate(MATHJAX_DONE)
    assert page.locator("mjx-container").count() > 20
    # numbered display equations, e.g. (3.2) for the KL divergence
    assert page.locator("span.eqno").count() >= 4
    page.close()


def test_search_finds_the_kl_chapter(browser, server):
    page, log = open_page(browser, server + "search.html?q=KL+divergence", server)
    page.wait_for_selector("#search-results li a", timeout=15000)
    links = page.eval_on_selector_all("#search-results li a", "as => as.map(a => a.getAttribute('href'))")
    page.close()
    assert any("04_kl_sparse_autoencoder" in href for href in links), links
    assert not log.outside and not log.failed


def test_every_chapter_offers_its_notebook_for_download(browser, server):
    for path in chapter_pages()[1:]:
        page, _ = open_page(browser, server + path, server)
        hrefs = page.eval_on_selector_all("a", "as => as.map(a => a.href)")
        page.close()
        notebook = [h for h in hrefs if h.endswith(Path(path).stem + ".ipynb")]
        assert notebook, f"{path} has no .ipynb download link"
        with urllib.request.urlopen(notebook[0]) as response:
            assert response.status == 200
            assert b'"cells"' in response.read()
