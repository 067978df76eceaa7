"""The rendered book, tested the way a reader uses it: in a real browser.

Needs the built book (`make book`) and Debian's chromium; `make test` builds
the book first and .ci/run installs chromium. Each page is loaded from a
server on 127.0.0.1, at the width of a laptop (1280 px) and of a phone (390 px).

`test_page` checks every page of _toc.yml at both widths and reports all of a
page's problems at once, each naming the block to fix:

- console errors, failed requests, requests that leave 127.0.0.1;
- images that did not load; math left as raw TeX; MathJax errors (an
  `mjx-merror` element, e.g. from a control character such as "\\x08eta" that
  a non-raw Python string made of "\\beta");
- code, output, table and equation blocks too narrow for their content
  (BLOCKS; the criterion is above MAY_SCROLL_SIDEWAYS); a page wider than the
  screen, naming what sticks out;
- images that are not in a numbered figure with a caption, or whose alt text
  is empty or a file name;
- printed Python source shown without syntax highlighting;
- at 390 px, a chapter list the "Toggle primary sidebar" button does not open;
- at 1280 px, a notebook chapter without its notebook (.ipynb) to download;
- figures whose smallest text is shown under 9 CSS px at 390 px or under
  11 px at 1280 px (FIGURE_TEXT below says how it is measured);
- at 390 px, a checked claim ("✓ ...") that runs past the right edge of
  its block (it would need scrolling sideways); a number broken across two
  lines ("4.649e-" / "02"); inline code broken inside a name or a number
  ("kullback_leibler_divergen" / "ce"); a table wider than its block that
  does not say that it scrolls, or whose first column scrolls out of view.

With SCREENSHOTS=1 (`make screenshots`), full-page screenshots of every page
are saved as _build/screenshots/<page>-<width>.jpg, to look at what readers
see; they are off by default, as they took a fifth of this file's time.
"""

import ast
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# The built book; BOOK_HTML tests another build (e.g. one with other versions).
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
# Where SCREENSHOTS=1 saves screenshots (none by default).
SCREENSHOTS = ROOT / "_build" / "screenshots"
TAKE_SCREENSHOTS = os.environ.get("SCREENSHOTS", "") not in ("", "0")
# Debian's chromium by default; CHROMIUM=/path/to/chromium picks another
# (e.g. /snap/bin/chromium on Ubuntu, where chromium is a snap).
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The flags this machine's sandbox needs (root, no GPU), and no background
# traffic of Chromium's own.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# A laptop, and a phone (iPhone 12-15). Below 992 px the theme hides the
# chapter list behind the "Toggle primary sidebar" button.
VIEWPORTS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
BOOK_TITLE = CONFIG["title"]


def _plots_constant(name):
    """A constant of sparse_ae/plots.py, read without importing it (and so
    TensorFlow, which plots.py's imports load)."""
    tree = ast.parse((ROOT / "sparse_ae" / "plots.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(value)
    raise LookupError(f"sparse_ae/plots.py defines no {name}")


# FIGURE_TEXT: how tall a figure's smallest text is as the page shows it.
# Every figure is drawn by sparse_ae/plots.py with no text under MIN_FONT_PT
# points (tests/test_plots_legible.py checks every function there, and
# tests/test_chapters.py that every figure of a chapter comes from it).
# Text of s points in an image saved at d dpi is s / 72 * d px tall in the
# image; shown w px wide, an image n px wide scales it by w / n. The dpi is
# the one the PNG records (its pHYs chunk, which matplotlib writes), n is
# the image's naturalWidth and w its displayed width.
MIN_FONT_PT = _plots_constant("MIN_FONT_PT")
MIN_TEXT_PX = _plots_constant("MIN_TEXT_PX")


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
        _missing(f"a chromium browser (Debian: apt-get install chromium; elsewhere set "
                 f"CHROMIUM=/path/to/chromium); looked for {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageLog:
    """What a page did besides rendering: errors, failed and outside requests
    (a request answered with an HTTP error, such as a 404, failed too)."""

    def __init__(self, page, base):
        self.errors, self.failed, self.outside = [], [], []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url}: HTTP {r.status}"))
        page.on("request", lambda r: r.url.startswith((base, "data:", "blob:")) or self.outside.append(r.url))


def open_page(browser, url, base, width=1280):
    page = browser.new_page(viewport=VIEWPORTS.get(width, {"width": width, "height": 900}))
    log = PageLog(page, base)
    page.goto(url, wait_until="networkidle")
    return page, log


MATHJAX_DONE = "() => window.MathJax && MathJax.startup && MathJax.startup.promise.then(() => true)"
TEXT_OUTSIDE_CODE = """() => {
    const body = document.querySelector('main, article, body').cloneNode(true);
    body.querySelectorAll('pre, code, script, style, mjx-container').forEach(e => e.remove());
    return body.innerText;
}"""
RAW_MATH = re.compile(r".{0,30}(?:\$\$|\\\(|\\\[).{0,30}")

# Every formula MathJax could not typeset, with its TeX source.
MATHJAX_ERRORS = """() => {
    const found = [];
    const doc = window.MathJax && MathJax.startup && MathJax.startup.document;
    for (const item of (doc && doc.math) || []) {
        const error = item.typesetRoot && item.typesetRoot.querySelector('mjx-merror');
        if (error) found.push([item.math, error.getAttribute('data-mjx-error') || error.textContent]);
    }
    return [document.querySelectorAll('mjx-merror').length, found];
}"""

# The blocks whose content must fit their width, by what an author calls them.
# All are in the page's article (main content). Hidden blocks (hide-input
# code) are measured too: `test_page` opens every <details> first.
BLOCKS = {
    "code block": ".bd-article div.highlight > pre:not(.cell_output pre)",
    "output block": ".bd-article .cell_output pre, .bd-article .cell_output > *",
    "table": ".bd-article .pst-scrollable-table-container, .bd-article table",
    "display equation": ".bd-article div.math, .bd-article mjx-container[display='true']",
}
# The criterion. A block is too narrow when its content is more than 1 px
# wider than its inside (scrollWidth > clientWidth + 1: the 1 px absorbs
# sub-pixel rounding). The theme makes code, output, table and equation blocks
# scroll sideways (overflow-x: auto); content that does not scroll spills out
# of its block instead (overflow-x: visible). A block too narrow for its
# content fails
# - at 1280 px, always: a reader at a laptop should never have to scroll a
#   block sideways (code and output blocks there fit 77 monospace columns);
# - at 390 px, only when it spills out. A phone's code block fits 38 columns,
#   which no Python written to 77 columns can meet; scrolling sideways is how
#   every book and documentation site shows code on a phone. What must not
#   happen on a phone is content that does not scroll and sticks out, or a
#   page wider than the screen (checked separately).
MAY_SCROLL_SIDEWAYS = {1280: False, 390: True}
# The numbered heading of the section an element is in: "7.2. The trade-off front".
SECTION = """(el) => {
    const section = el.closest('section');
    const heading = section && section.querySelector('h1, h2, h3, h4, h5, h6');
    return heading ? heading.textContent.replace(/#$/, '').trim() : '';
}"""
TOO_WIDE = """([blocks, mayScroll]) => {
    const section = """ + SECTION + """;
    const flagged = [];
    for (const [kind, selector] of Object.entries(blocks)) {
        for (const el of document.querySelectorAll(selector)) {
            if (el.scrollWidth <= el.clientWidth + 1) continue;
            const overflow = getComputedStyle(el).overflowX;
            const scrolls = overflow === 'auto' || overflow === 'scroll';
            if (scrolls && mayScroll) continue;
            if (flagged.some(f => f.el === el)) continue;
            flagged.push({el, kind, scrolls});
        }
    }
    // Report the innermost block: a pre, not also the output around it.
    const innermost = flagged.filter(f => !flagged.some(g => g !== f && f.el.contains(g.el)));
    return innermost.map(({el, kind, scrolls}) => {
        const lines = el.textContent.replace(/\\n$/, '').split('\\n');
        const first = lines.find(l => l.trim()) || '';
        const longest = lines.reduce((best, line, i) => (line.length > lines[best].length ? i : best), 0);
        let columns = null;
        if (el.tagName === 'PRE') {
            const probe = document.createElement('span');
            probe.textContent = '0'.repeat(100);
            el.appendChild(probe);
            const style = getComputedStyle(el);
            const inner = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            columns = Math.floor(inner / (probe.getBoundingClientRect().width / 100));
            probe.remove();
        }
        return {kind, scrolls, content: el.scrollWidth, width: el.clientWidth, first: first.trim(),
                longest: lines[longest].length, line: longest + 1, columns, section: section(el)};
    });
}"""

# Why a page is wider than the window: the outermost elements that reach past
# its right edge, are shown, and are not clipped by a scrolling ancestor.
PAGE_WIDTH = """() => {
    const width = window.innerWidth;
    const culprits = [];
    const clipped = (el) => {
        for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
            const style = getComputedStyle(a);
            if (style.position === 'fixed' || style.overflowX !== 'visible') return true;
        }
        return false;
    };
    for (const el of document.body.querySelectorAll('*')) {
        const style = getComputedStyle(el);
        if (style.position === 'fixed' || style.visibility === 'hidden') continue;
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.right <= width + 1 || clipped(el)) continue;
        if (culprits.some(c => c.el.contains(el))) continue;
        culprits.push({el, right: Math.round(box.right)});
    }
    return [document.documentElement.scrollWidth, width, culprits.slice(0, 5).map(({el, right}) =>
        [el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).trim().split(/\\s+/).join('.') : ''),
         right, el.textContent.trim().split('\\n')[0].slice(0, 70)])];
}"""

# Images in the main content: each must be in a numbered figure with a
# caption, with alt text that describes it.
IMAGES = """() => [...document.querySelectorAll('.bd-article img')].map(img => {
    const section = """ + SECTION + """;
    const figure = img.closest('figure');
    const caption = figure && figure.querySelector('figcaption');
    const part = (selector) => caption && caption.querySelector(selector) ? caption.querySelector(selector).textContent.trim() : null;
    return {
        src: img.getAttribute('src') || '',
        alt: img.getAttribute('alt'),
        figure: figure ? (figure.id || '(no id)') : null,
        caption: caption ? (part('.caption-text') || caption.textContent.trim()) : null,
        number: part('.caption-number'),
        section: section(img),
    };
})"""
# Alt text that is a file name or a path: an image suffix, a long hex hash
# (myst-nb names output images by their SHA-256), or a slash-separated path.
FILE_NAME_ALT = re.compile(r"\.(png|jpe?g|gif|svg|webp|pdf)\b|[0-9a-f]{16,}|^\S*/\S*$", re.IGNORECASE)

# Printed Python source: an output <pre> whose first line starts a function or
# class definition (as `print(inspect.getsource(f))` shows it). It is
# highlighted when Pygments marked its tokens (span.k: a keyword, as in
# `def`); a plain-text output has no such spans.
UNHIGHLIGHTED_SOURCE = """() => [...document.querySelectorAll('.bd-article .cell_output pre')]
    .map(pre => [pre, (pre.textContent.split('\\n').find(l => l.trim()) || '')])
    .filter(([pre, first]) => /^\\s*(@[\\w.]+|(async\\s+)?def\\s+\\w+\\s*\\(|class\\s+\\w+\\s*[(:])/.test(first))
    .filter(([pre]) => !pre.querySelector('span.k, span.kd, span.nf, span.nc'))
    .map(([pre, first]) => first.trim())"""


def short(text, n=90):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def first_line(text, n=90):
    """A line of a block as the author typed it, spaces kept, cut at n."""
    return text if len(text) <= n else text[: n - 1] + "…"


def block_problems(page, width):
    problems = []
    for b in page.evaluate(TOO_WIDE, [BLOCKS, MAY_SCROLL_SIDEWAYS[width]]):
        how = "needs scrolling sideways" if b["scrolls"] else "spills out of its block"
        fit = f"; {b['columns']} columns fit, line {b['line']} has {b['longest']}" if b["columns"] else ""
        problems.append(
            f"{b['kind']} in {b['section'] or 'the page'!r} {how}: {b['content']} px of content "
            f"in {b['width']} px{fit}; its first line: {first_line(b['first'])!r}"
        )
    return problems


def image_problems(page):
    problems = []
    for img in page.evaluate(IMAGES):
        if img["caption"]:
            where = f"image {img['number'] or img['figure']} ({short(img['caption'], 60)!r})"
        else:
            where = f"image {Path(img['src']).name[:12]}… in {img['section'] or 'the page'!r}"
        if not (img["figure"] and img["caption"] and img["number"]):
            problems.append(
                f"{where} is not in a numbered figure with a caption (cell metadata "
                "mystnb: figure: {caption: ..., name: ...})"
            )
        alt = (img["alt"] or "").strip()
        if not alt or FILE_NAME_ALT.search(alt):
            problems.append(
                f"{where} has {'no alt text' if not alt else f'a file name as alt text ({short(alt, 40)!r})'} "
                "(cell metadata mystnb: image: {alt: ...})"
            )
    return problems


def notebook_download_problems(page, path):
    """A chapter offers its notebook (.ipynb) for download, and it is there."""
    hrefs = page.eval_on_selector_all("a", "as => as.map(a => a.href)")
    notebook = [h for h in hrefs if h.endswith(Path(path).stem + ".ipynb")]
    if not notebook:
        return ["no .ipynb download link"]
    with urllib.request.urlopen(notebook[0]) as response:
        if response.status != 200 or b'"cells"' not in response.read():
            return [f"the .ipynb download link {notebook[0]} gives no notebook"]
    return []


def phone_sidebar_problem(page, server, path):
    """At 390 px the chapter list is hidden; the toggle must open it."""
    pages = chapter_pages()
    target = pages[(pages.index(path) + 1) % len(pages)]
    toggle = page.locator(".primary-toggle:visible")
    if toggle.count() == 0:
        return "no visible 'Toggle primary sidebar' button"
    link = page.locator(f"nav.bd-docs-nav a.reference.internal[href$='{Path(target).name}']")
    if link.count() == 0:
        return f"the chapter list has no link to {target}"
    toggle.first.click()
    try:
        link.first.wait_for(state="visible", timeout=3000)
        # Every check of a real click (visible, stable, enabled, not covered
        # by another element), without loading the next page:
        # test_primary_sidebar_toggle follows such a link to its page.
        link.first.click(timeout=3000, trial=True)
    except Exception as error:  # Playwright's TimeoutError, with its reason
        return (
            f"pressing 'Toggle primary sidebar' did not give a clickable link to {target}: "
            f"{short(str(error).splitlines()[0], 200)}"
        )
    return None


# The figures of the main content, as shown.
FIGURES = """() => [...document.querySelectorAll('.bd-article img')].map(img => {
    const figure = img.closest('figure');
    const number = figure && figure.querySelector('.caption-number');
    return {src: img.getAttribute('src'), url: img.src, natural: img.naturalWidth,
            shown: img.getBoundingClientRect().width,
            name: number ? number.textContent.trim() : (figure ? figure.id : '')};
})"""


def png_dpi(data):
    """The dpi a PNG records in its pHYs chunk, or None."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    at = 8
    while at + 8 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8]
        if kind == b"pHYs":
            x = int.from_bytes(data[at + 8:at + 12], "big")
            unit = data[at + 16]
            return x * 0.0254 if unit == 1 else None
        if kind == b"IDAT":
            return None  # pHYs comes before the image data
        at += 12 + length
    return None


def figure_text_problems(page, width):
    """Each figure's smallest text, as shown, is at least MIN_TEXT_PX tall."""
    problems = []
    for fig in page.evaluate(FIGURES):
        if not fig["natural"]:
            continue  # reported as an image that did not load
        with urllib.request.urlopen(fig["url"]) as response:
            dpi = png_dpi(response.read())
        name = fig["name"] or Path(fig["src"]).name[:12] + "…"
        if dpi is None:
            problems.append(f"figure {name}: its PNG records no dpi (pHYs), so its text cannot be measured")
            continue
        text_px = MIN_FONT_PT / 72 * dpi * fig["shown"] / fig["natural"]
        if text_px < MIN_TEXT_PX[width] - 0.05:
            problems.append(
                f"figure {name}: its smallest text is {text_px:.1f} CSS px tall, under "
                f"{MIN_TEXT_PX[width]} (an image {fig['natural']} px wide at {dpi:.0f} dpi, shown "
                f"{fig['shown']:.0f} px wide; draw it with sparse_ae.plots at the column's width "
                "and refresh the chapter)")
    return problems


# Checked claims that reach past the right edge of the block that shows
# them. A claim is a line of printed output starting with "✓" (with the
# lines check() indented under it); the range from its "✓" to the end of
# its line must lie inside the visible part of its output block.
CLAIMS_CUT = """() => {
    const cut = [];
    for (const pre of document.querySelectorAll('.bd-article .cell_output pre')) {
        const nodes = [];
        const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
        let text = '';
        for (let n = walker.nextNode(); n; n = walker.nextNode()) { nodes.push([n, text.length]); text += n.data; }
        const at = (offset) => {
            for (let i = nodes.length - 1; i >= 0; i--) {
                if (nodes[i][1] <= offset) return [nodes[i][0], Math.min(offset - nodes[i][1], nodes[i][0].length)];
            }
        };
        const box = pre.getBoundingClientRect();
        const style = getComputedStyle(pre);
        // 2 px for rounding: clientWidth is a whole number of px, the text is not.
        const right = box.left + pre.clientLeft + pre.clientWidth - parseFloat(style.paddingRight) + 2;
        for (let i = text.indexOf('✓'); i >= 0; i = text.indexOf('✓', i + 1)) {
            let end = text.indexOf('\\n', i);
            if (end < 0) end = text.length;
            const range = document.createRange();
            range.setStart(...at(i));
            range.setEnd(...at(end));
            const reach = Math.max(...[...range.getClientRects()].map(r => r.right));
            if (reach > right || pre.scrollLeft > 0) {
                cut.push({claim: text.slice(i, end).slice(0, 60), reach: Math.round(reach - box.left),
                          width: Math.round(right - box.left)});
            }
        }
    }
    return cut;
}"""

# Numbers whose characters are shown on two lines ("4.649e-" and "02"):
# every number in the main content's text, outside typeset math.
BROKEN_NUMBERS = """() => {
    const broken = [];
    const walker = document.createTreeWalker(document.querySelector('.bd-article'), NodeFilter.SHOW_TEXT, {
        acceptNode: n => n.parentElement.closest('script, style, mjx-container, .math')
            ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
    const number = /[-−+]?\\d[\\d,]*(?:\\.\\d+)?(?:[eE][-−+]?\\d+)?%?/g;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        for (const m of n.data.matchAll(number)) {
            if (m[0].length < 2) continue;
            const range = document.createRange();
            range.setStart(n, m.index);
            range.setEnd(n, m.index + m[0].length);
            const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top);
            if (tops.length > 1 && Math.max(...tops) - Math.min(...tops) > 2) {
                broken.push(n.data.slice(Math.max(0, m.index - 20), m.index + m[0].length + 10).trim());
            }
        }
    }
    return broken;
}"""

# Tables wider than the block that scrolls them: each must say so in a
# visible line above it ("Scroll the table sideways ..."), and keep its first
# column in view when scrolled to its end.
WIDE_TABLES = """() => {
    const problems = [];
    const section = """ + SECTION + """;
    for (const table of document.querySelectorAll('.bd-article table')) {
        let box = table.parentElement;
        while (box && !box.matches('.bd-article')) {
            const overflow = getComputedStyle(box).overflowX;
            if (overflow === 'auto' || overflow === 'scroll') break;
            box = box.parentElement;
        }
        if (!box || box.matches('.bd-article') || box.scrollWidth <= box.clientWidth + 1) continue;
        const head = (table.querySelector('th, td') || table).textContent.trim().slice(0, 30);
        const where = `table starting ${JSON.stringify(head)} in ${JSON.stringify(section(table))}`;
        const hint = box.previousElementSibling;
        const hinted = hint && !hint.hidden && hint.getBoundingClientRect().height > 0
            && /scroll/i.test(hint.textContent);
        if (!hinted) problems.push(`${where} scrolls sideways (${box.scrollWidth} px in ${box.clientWidth}) without a visible line above it saying so`);
        const first = table.querySelector('tr > :first-child');
        box.scrollLeft = box.scrollWidth;
        const cell = first.getBoundingClientRect(), edge = box.getBoundingClientRect();
        if (cell.left < edge.left - 1 || cell.right > edge.right + 1) {
            problems.push(`${where}: its first column scrolls out of view`);
        }
        box.scrollLeft = 0;
    }
    return problems;
}"""


# Inline code broken inside an identifier or a number: every line break in
# a `code.literal` must follow a space or one of "( [ , = /", or a "." that
# a name follows (keras.|ops, not 1.|7e-05).
CODE_BROKEN = """() => {
    const broken = [];
    const range = document.createRange();
    for (const code of document.querySelectorAll('.bd-article code.literal')) {
        if (code.getClientRects().length < 2) continue;
        const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
        let top = null, before = '', text = '';
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            for (let i = 0; i < n.length; i++) {
                range.setStart(n, i);
                range.setEnd(n, i + 1);
                const rect = range.getClientRects()[0];
                if (rect && /\\S/.test(n.data[i])) {
                    const between = /[\\s(\\[,=\\/]/.test(before)
                        || (before === '.' && /[A-Za-z_]/.test(n.data[i]));
                    if (top !== null && rect.top - top > 2 && !between) {
                        broken.push(text + '|' + code.textContent.slice(text.length));
                    }
                    top = rect.top;
                }
                before = n.data[i];
                text += n.data[i];
            }
        }
    }
    return broken;
}"""


def phone_text_problems(page):
    problems = [
        f"a checked claim reaches {c['reach']} px into its {c['width']} px block "
        f"(it needs scrolling sideways): {c['claim']!r}"
        for c in page.evaluate(CLAIMS_CUT)
    ]
    problems += [f"a number broken across two lines: {short(text, 60)!r}"
                 for text in page.evaluate(BROKEN_NUMBERS)]
    problems += [f"inline code broken inside a name or a number: {short(text, 70)!r}"
                 for text in page.evaluate(CODE_BROKEN)]
    problems += page.evaluate(WIDE_TABLES)
    return problems


@pytest.mark.parametrize("width", list(VIEWPORTS))
@pytest.mark.parametrize("path", chapter_pages())
def test_page(browser, server, path, width):
    page, log = open_page(browser, server + path, server, width)
    problems = []
    try:
        # Sphinx loads MathJax only on pages with math; those must render it.
        if page.locator(".math").count():
            if not page.evaluate(MATHJAX_DONE):
                problems.append("MathJax did not load")
            elif page.locator("mjx-container").count() == 0:
                problems.append("MathJax rendered nothing")
            count, errors = page.evaluate(MATHJAX_ERRORS)
            for tex, message in errors:
                problems.append(f"MathJax error ({message}) in the TeX {tex!r}")
            if count > len(errors):
                problems.append(f"{count - len(errors)} more MathJax errors (mjx-merror) outside known formulas")
        images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.src, i.complete, i.naturalWidth])")
        problems += [f"image did not load: {src}" for src, complete, w in images if not (complete and w > 0)]
        problems += [f"math left unrendered: {raw!r}" for raw in RAW_MATH.findall(page.evaluate(TEXT_OUTSIDE_CODE))]
        problems += image_problems(page)
        problems += figure_text_problems(page, width)
        problems += [
            f"printed Python source without syntax highlighting (show it with IPython.display.Code "
            f"or a Markdown code block): first line {short(first)!r}"
            for first in page.evaluate(UNHIGHLIGHTED_SOURCE)
        ]
        if width == 1280 and (ROOT / path).with_suffix(".ipynb").is_file():
            problems += notebook_download_problems(page, path)
        if page.title().count(BOOK_TITLE) > 1:
            problems.append(f"the browser tab title repeats the book's name: {page.title()!r}")

        if TAKE_SCREENSHOTS:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            # JPEG: a full page is up to 25,000 px tall, and encoding it as
            # PNG took about a third of this test's time.
            page.screenshot(path=str(SCREENSHOTS / f"{Path(path).stem}-{width}.jpg"),
                            full_page=True, type="jpeg", quality=80)

        # What a reader can unfold must fit too: open hidden code cells.
        page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        problems += block_problems(page, width)
        if width < 992:
            problems += phone_text_problems(page)
        page_width, window, culprits = page.evaluate(PAGE_WIDTH)
        if page_width > window:
            problems.append(
                f"the page is {page_width} px wide, wider than the {window} px window; sticking out: "
                + "; ".join(f"{tag} to {right} px ({short(text, 50)!r})" for tag, right, text in culprits)
            )
        if width < 992:
            page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = false; })")
            problem = phone_sidebar_problem(page, server, path)
            if problem:
                problems.append(problem)
    finally:
        page.close()
    problems += [f"console error: {short(e, 200)}" for e in log.errors]
    problems += [f"failed request: {f}" for f in log.failed]
    problems += [f"request left 127.0.0.1: {url}" for url in log.outside]
    if problems:
        # The message alone, without a traceback: it names every block to fix.
        pytest.fail(
            f"{path} at {width} px: {len(problems)} problems\n" + "\n".join(f"  - {p}" for p in problems),
            pytrace=False,
        )


@pytest.mark.parametrize("width", [390, 900, 1280])
def test_primary_sidebar_toggle(browser, server, width):
    """The "Toggle primary sidebar" button works at every width.

    Below 992 px the chapter list is hidden and the button opens it as a
    dialog; from 992 px it is shown and the button hides and shows it again.
    pydata-sphinx-theme 0.17 broke this (its script wires a hidden duplicate
    button: pydata/pydata-sphinx-theme#2451); requirements.txt pins 0.16.1.
    """
    page, log = open_page(browser, server + "book/03_kl_divergence.html", server, width)
    toggle = page.locator(".primary-toggle:visible")
    link = page.locator("nav.bd-docs-nav a.reference.internal[href$='04_kl_sparse_autoencoder.html']")
    try:
        assert toggle.count() == 1, "one visible 'Toggle primary sidebar' button"
        if width >= 992:
            assert link.is_visible(), "at a laptop's width the chapter list is shown"
            toggle.click()
            link.wait_for(state="hidden", timeout=3000)
        else:
            assert not link.is_visible(), "below 992 px the chapter list starts hidden"
        toggle.click()
        link.wait_for(state="visible", timeout=3000)
        if TAKE_SCREENSHOTS:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"sidebar-open-{width}.png"))
        link.click()
        page.wait_for_url("**/book/04_kl_sparse_autoencoder.html", timeout=5000)
    finally:
        page.close()
    assert not log.errors and not log.failed and not log.outside


def test_the_chapter_list_shows_the_current_chapter(browser, server):
    """At 1280x800 the chapter list is taller than the screen. Arriving at
    the last chapter from the first page (whose list was not scrolled: the
    theme restores that position on the next page), the current chapter's
    entry must still be on the screen."""
    pages = chapter_pages()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log = PageLog(page, server)
    try:
        page.goto(server + pages[0], wait_until="networkidle")
        page.goto(server + pages[-1], wait_until="load")
        link = page.locator("nav.bd-docs-nav a.current")  # the current page's entry
        assert link.count() == 1, "one entry marked as the current page"
        page.wait_for_function(
            "(a) => { const r = a.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }",
            arg=link.first.element_handle(), timeout=3000)
    finally:
        page.close()
    assert not log.errors and not log.failed


def test_the_root_page_redirects_without_errors(browser, server):
    """The build's index.html sends the reader to the first page; browsers
    also ask for /favicon.ico there, which must exist."""
    page, log = open_page(browser, server, server)
    try:
        page.wait_for_url("**/" + chapter_pages()[0], timeout=5000)
        page.wait_for_load_state("networkidle")
    finally:
        page.close()
    assert not log.errors and not log.failed and not log.outside, (log.errors, log.failed, log.outside)
    with urllib.request.urlopen(server + "favicon.ico") as response:
        assert response.read()[:4] == b"\x00\x00\x01\x00", "favicon.ico is an ICO file"


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
    # Excerpts load one by one after the result list; wait until all have.
    page.wait_for_function(
        "() => document.querySelectorAll('#search-results li').length > 0 && "
        "[...document.querySelectorAll('#search-results li')].every(li => li.querySelector('p.context'))",
        timeout=15000,
    )
    excerpts = page.eval_on_selector_all("#search-results p.context", "ps => ps.map(p => p.textContent)")
    page.close()
    assert any("04_kl_sparse_autoencoder" in href for href in links), links
    raw = [m for text in excerpts for m in RAW_MATH.findall(text)]
    assert not raw, f"search excerpts show raw TeX: {raw}"
    # Excerpts come from the pages' text, not from the theme's navigation
    # (the previous/next links, the page's contents list) or from code.
    navigation = [e for e in excerpts if re.search(r"\bprevious\b.*\bnext\b", e, re.S)
                  or re.search(r"\bContents\b", e) or "import " in e]
    assert not navigation, f"search excerpts from the navigation or code: {navigation}"
    assert not log.outside and not log.failed and not log.errors


def test_search_excerpts_show_math_as_text(browser, server):
    """book/_ext/static/search_excerpts.js turns the TeX of excerpts into text."""
    page, _ = open_page(browser, server + "search.html", server)
    cases = {
        r"\(\beta = 0.05\)": "β = 0.05",
        r"\(10^{-3}\)": "10⁻³",
        r"\(\hat{\rho}_j\)": "ρ̂ⱼ",
        r"\(\beta \in \{0.005, 0.05\}\)": "β ∈ {0.005, 0.05}",
        r"\(D_{\mathrm{KL}}(p \,\|\, q)\)": "D_KL(p ‖ q)",
        r"\(e^{-x}\)": "e^(-x)",
        r"\[\frac{1-p}{1-q}\]": "(1-p)/(1-q)",
    }
    got = {}
    for tex in cases:
        html = f'<div role="main"><p>A <span class="math notranslate nohighlight">{tex}</span>.</p></div>'
        got[tex] = page.evaluate("html => Search.htmlToText(html)", html).strip()
    page.close()
    assert got == {tex: f"A {text}." for tex, text in cases.items()}


# Without a browser: the buttons that need the repository follow repository.url.

REPOSITORY_MARKERS = ("btn-source-repository-button", "dropdown-launch-buttons")


def test_the_book_has_no_repository_or_launch_buttons_without_a_repository_url():
    if CONFIG.get("repository", {}).get("url"):
        pytest.skip("_config.yml sets repository.url")
    if not (HTML / "index.html").is_file():
        _missing("the built book in _build/html (run `make book`)")
    for path in chapter_pages():
        html = (HTML / path).read_text()
        assert not [m for m in REPOSITORY_MARKERS if m in html], path


def test_setting_repository_url_turns_on_repository_and_launch_buttons(tmp_path):
    """Build the introduction and chapter 1 with repository.url set."""
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    if not jupyter_book:
        _missing("jupyter-book in the virtual environment")
    url = "https://github.com/example-owner/sparse-ae-book"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["url"] = url
    # Paths in _config.yml are relative to its folder; this copy lives elsewhere.
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / path) for name, path in config["sphinx"]["local_extensions"].items()
    }
    config["html"]["favicon"] = str(ROOT / config["html"]["favicon"])
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    toc = {"format": "jb-book", "root": "book/intro", "chapters": [{"file": "book/01_data_and_baseline"}]}
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    build = subprocess.run(
        [jupyter_book, "build", str(ROOT), "--config", str(tmp_path / "_config.yml"),
         "--toc", str(tmp_path / "_toc.yml"), "--path-output", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    html = (tmp_path / "_build" / "html" / "book" / "01_data_and_baseline.html").read_text()
    for marker in REPOSITORY_MARKERS:
        assert marker in html, f"{marker} missing with repository.url set"
    assert f'href="{url}"' in html, "the repository button links to the repository"
    assert f"{url}/issues/new" in html, "the issues button"
    assert f"https://mybinder.org/v2/gh/example-owner/sparse-ae-book/main?urlpath=tree/book/01_data_and_baseline.ipynb" in html
    assert f"https://colab.research.google.com/github/example-owner/sparse-ae-book/blob/main/book/01_data_and_baseline.ipynb" in html
