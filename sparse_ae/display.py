"""How the chapters show source code, tables and checked claims.

- :func:`source` shows a function's or class's real source, highlighted, so
  that a chapter teaches the code it runs instead of a retyped copy.
- :func:`table` shows rows of results as a real HTML table in the book (and
  as aligned text in a terminal), so that wide results fit a phone's screen.
- :func:`check` is the book's convention for a claim in the text: it asserts
  the claim and prints ``✓ <claim>`` under the cell, where the reader sees it.
  A claim that does not hold stops the chapter with an ``AssertionError``.
- :func:`glue` puts a computed number into the text (MyST's ``{glue:text}``
  role), so that a number in a sentence is the number the code produced.
"""

from __future__ import annotations

import html
import inspect
import math
import numbers
import re
import textwrap

__all__ = ["Table", "check", "glue", "source", "table"]


def source(obj):
    """The source of ``obj`` as a highlighted Python display (plain text elsewhere)."""
    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")


#: Printed claims are wrapped to this width, the book's column at 1280 px.
WIDTH = 76


def check(claim, condition, detail=""):
    """Assert ``condition``; print ``✓ claim``. A failure names the claim.

    ``detail`` (e.g. the numbers compared) is shown only if the check fails.
    The printed claim is wrapped at :data:`WIDTH` columns. The appendix, *How
    this book checks itself*, shows this source (at most 77 columns).
    """
    if not isinstance(claim, str) or not claim:
        raise ValueError("claim must be a non-empty sentence")
    if not condition:
        message = f"the text claims: {claim!r}, but it does not hold."
        raise AssertionError(f"{message} {detail}".strip())
    print(textwrap.fill(f"✓ {claim}", width=WIDTH, subsequent_indent="  "))


def glue(name, value, display=False):
    """``myst_nb.glue`` for the numbers and words a sentence quotes.

    NumPy scalars become Python numbers first: myst-nb formats
    ``{glue:text}`name:.3f``` by calling ``float()`` on the stored text, and
    NumPy 2 stores ``np.float64(0.3)``, which ``float()`` rejects (the
    sentence would then show the raw repr). A NaN or infinite value is an
    error, not a number to print. nbval compares a glued number at the
    precision the sentence prints it with (tests/nbval_tolerance.py).
    """
    import numpy as np
    from myst_nb import glue as myst_glue

    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise TypeError(
            f"glue({name!r}, ...) takes a real number or a string, "
            f"not {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"glue({name!r}, ...): the value is {value}")
    myst_glue(name, value, display=display)


# A significant-figures format with no fill, alignment, width or "#" ("g",
# ".3g", "+.4g"): the only kind whose trailing zeros _format restores.
_BARE_G = re.compile(r"^([-+ ]?)((?:\.\d+)?g)$")


def _format(value, fmt):
    if value is None:
        return ""
    if fmt:
        bare = _BARE_G.match(fmt)
        if bare:
            # keep trailing zeros: 0.660, not 0.66, so that a value printed
            # as 0.659 on another machine has the same number of decimals
            sign, precision = bare.groups()
            return format(value, f"{sign}#{precision}").rstrip(".")
        return format(value, fmt)
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}"


class Table:
    """Rows of results; rendered as an HTML table by Jupyter and as text by ``repr``."""

    def __init__(self, rows, columns, formats=None, caption=None):
        self.columns = list(columns)
        formats = formats or {}
        unknown = set(formats) - set(self.columns)
        if unknown:
            raise ValueError(
                f"formats given for unknown columns: {sorted(unknown)}"
            )
        self.cells = []
        for row in rows:
            if isinstance(row, dict):
                missing = [c for c in self.columns if c not in row]
                if missing:
                    raise ValueError(
                        f"a row lacks the columns {missing}: {row}"
                    )
                row = [row[c] for c in self.columns]
            row = list(row)
            if len(row) != len(self.columns):
                raise ValueError(
                    f"a row has {len(row)} values for {len(self.columns)} columns: {row}"
                )
            self.cells.append(
                [
                    _format(v, formats.get(c))
                    for v, c in zip(row, self.columns)
                ]
            )
        self.numeric = [
            all(_is_number(r[i]) for r in self.cells if r[i])
            and any(r[i] for r in self.cells)
            for i in range(len(self.columns))
        ]
        self.caption = caption

    def __repr__(self):
        widths = [
            max(len(c), *(len(r[i]) for r in self.cells))
            if self.cells
            else len(c)
            for i, c in enumerate(self.columns)
        ]

        def line(values):
            return "  ".join(
                v.rjust(w) if num else v.ljust(w)
                for v, w, num in zip(values, widths, self.numeric)
            ).rstrip()

        lines = [line(self.columns), line(["-" * w for w in widths])]
        lines += [line(r) for r in self.cells]
        if self.caption:
            lines.insert(0, self.caption)
        return "\n".join(lines)

    def _repr_html_(self):
        def cell(tag, value, numeric):
            style = ' style="text-align: right"' if numeric else ""
            return f"<{tag}{style}>{html.escape(value)}</{tag}>"

        head = "".join(
            cell("th", c, n) for c, n in zip(self.columns, self.numeric)
        )
        body = "".join(
            "<tr>"
            + "".join(cell("td", v, n) for v, n in zip(r, self.numeric))
            + "</tr>"
            for r in self.cells
        )
        caption = (
            f"<caption>{html.escape(self.caption)}</caption>"
            if self.caption
            else ""
        )
        return (
            f'<table class="table sparse-ae-results">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )


def _is_number(text):
    try:
        float(text.replace(",", "").rstrip("%"))
    except ValueError:
        return False
    return True


def table(rows, columns, formats=None, caption=None):
    """A :class:`Table` of ``rows`` (dicts keyed by column, or sequences in column order).

    ``formats`` maps a column to a format spec (``".4f"``, ``".1%"``, ...);
    integers default to thousands separators, other numbers to 4 decimals.
    """
    return Table(rows, columns, formats, caption)
