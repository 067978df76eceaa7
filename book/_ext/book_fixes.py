"""Fixes for the rendered book, loaded by _config.yml (sphinx: local_extensions).

1. Duplicate scripts. sphinx-thebe 0.3.1 (the version jupyter-book 1.0.4
   installs) adds an inline script declaring `const THEBE_JS_URL` from an
   `env-before-read-docs` handler. In our Jupyter Book build it ends up on
   every page twice, and the second declaration is a JavaScript error in the
   console of every page. This drops exact duplicate scripts from each page,
   keeping the first.

2. Buttons that need the book's repository (the repository button, the issues
   button, the Binder and Colab launch buttons) are on exactly when
   `repository.url` is set in _config.yml. While it is empty the book is
   self-contained: no page links to or loads anything outside it. Jupyter Book
   1 refuses `html: use_repository_button: true` without a URL, so the header
   buttons to turn on are listed in `sphinx: config: repository_buttons`
   instead, and the launch buttons stay configured under `launch_buttons:`;
   this extension switches both on or off from the URL.

3. The browser tab title. Sphinx titles every page "<page> — <book>", so the
   first page, whose heading is the book's name, was "<book> — <book>". The
   template in templates/layout.html drops the repetition.

4. static/book_fixes.js and static/book_fixes.css, on every page: text that
   reads on a phone. Checked claims ("✓ ...") wrap inside their output
   block, while printed tables keep their columns; numbers never break
   after their minus sign; inline code breaks between tokens, never inside
   an identifier or a number, so that it does not push a phone's page wider
   than the screen; a table wider than its block scrolls inside it with a
   visible hint, a shadow and its first column kept in view; and the
   chapter list shows the current chapter (the files say how).

5. static/search_excerpts.js, on the search page only: the excerpts under each
   search result come from the page's text, not from its contents list or
   its previous/next links, and show math as readable text ("β = 0.05")
   instead of the raw TeX the fetched page holds ("\\(\\beta = 0.05\\)").

6. favicon.ico. Browsers ask for /favicon.ico on pages that name no icon, as
   the redirecting index.html at the root of the build does; it was a 404.
   The build writes the book's favicon (html.favicon in _config.yml, a PNG)
   there as an ICO file, which may hold a PNG as it is.

This module imports Sphinx and the standard library only: `make book` runs
it in the documentation toolchain's environment (requirements-book.txt),
without TensorFlow, Keras or sparse_ae.

Sphinx copies static/ and re-renders templates/ only when some page is out of
date: after editing them alone, rebuild with `jupyter-book build --all .`.
"""

import struct
from pathlib import Path

from sphinx.errors import ConfigError

HERE = Path(__file__).resolve().parent

# Jupyter Book's own default for repository.url, used when _config.yml has no
# `repository:` block at all: not this book's repository.
JUPYTER_BOOK_DEFAULT_REPOSITORY = "https://github.com/executablebooks/jupyter-book"
# sphinx-book-theme's header buttons that link to the repository.
REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button", "use_edit_page_button")


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # An inline script's filename is None or "", depending on who added it.
        key = (
            getattr(script, "filename", script) or None,
            tuple(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def repository_url(config):
    """The book's repository URL from _config.yml's repository.url, or ""."""
    url = (config.html_theme_options.get("repository_url") or "").strip()
    return "" if url.rstrip("/") == JUPYTER_BOOK_DEFAULT_REPOSITORY else url


def _repository_buttons(app, config):
    unknown = set(config.repository_buttons) - set(REPOSITORY_BUTTONS)
    if unknown:
        raise ConfigError(
            f"sphinx.config.repository_buttons in _config.yml: unknown {sorted(unknown)}; "
            f"choose from {list(REPOSITORY_BUTTONS)}"
        )
    options = config.html_theme_options
    if repository_url(config):
        for button in config.repository_buttons:
            options[button] = True
        return
    # No repository: no buttons that would link to one, and no launch buttons
    # (sphinx-book-theme would otherwise fail to build their links).
    options["repository_url"] = ""
    for button in REPOSITORY_BUTTONS:
        options[button] = False
    options.pop("launch_buttons", None)


def _paths(app, config):
    config.templates_path.append(str(HERE / "templates"))
    config.html_static_path.append(str(HERE / "static"))


def _search_page_script(app, pagename, templatename, context, doctree):
    if pagename == "search":
        # Deferred, so that it runs after searchtools.js, which the search
        # page's template loads after every other script.
        app.add_js_file("search_excerpts.js", defer="defer")


def ico_from_png(png):
    """An ICO file holding one PNG image as it is (ICONDIR, one ICONDIRENTRY, the PNG)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("the favicon must be a PNG file")
    width, height = struct.unpack(">II", png[16:24])
    if width > 256 or height > 256:
        raise ValueError(f"the favicon is {width}x{height} px; an ICO image is at most 256x256")
    entry = struct.pack("<BBBBHHII", width % 256, height % 256, 0, 0, 1, 32, len(png), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + png


def _favicon_ico(app, exception):
    favicon = app.config.html_favicon
    if exception or app.builder.format != "html" or not favicon or "://" in favicon:
        return
    path = Path(app.srcdir, favicon)
    if not path.is_file():
        path = Path(app.outdir, "_static", Path(favicon).name)
    Path(app.outdir, "favicon.ico").write_bytes(ico_from_png(path.read_bytes()))


def setup(app):
    app.add_config_value("repository_buttons", [], "html", types=[list, tuple])
    app.connect("config-inited", _paths)
    app.connect("config-inited", _repository_buttons)
    app.add_css_file("book_fixes.css")
    app.add_js_file("book_fixes.js", defer="defer")
    app.connect("build-finished", _favicon_ico)
    app.connect("html-page-context", _search_page_script)
    # Late, after the theme and other extensions have added their scripts.
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
