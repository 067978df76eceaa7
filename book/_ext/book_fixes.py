"""Fixes for the rendered book, loaded by _config.yml (sphinx: local_extensions).

sphinx-thebe 0.3.1 (the version jupyter-book 1.0.4 installs) adds an inline
script declaring `const THEBE_JS_URL` from an `env-before-read-docs` handler.
In our Jupyter Book build it ends up on every page twice, and the second
declaration is a JavaScript error in the console of every page. This drops
exact duplicate scripts from each page, keeping the first.
"""


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


def setup(app):
    # Late, after the theme and other extensions have added their scripts.
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
