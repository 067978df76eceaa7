"""nbval's output comparison, with floating-point numbers compared within a tolerance.

nbval compares a cell's fresh text outputs with the stored ones character by
character. Numbers that come out of training differ in the last printed digit
between CPU models (the same 10-epoch training prints 0.3090 on an AMD EPYC
with AVX2 and 0.3088 on one with AVX-512), so an exact comparison fails on
any machine but the one that made the outputs. This module relaxes exactly
that, and nothing else:

* A *decimal number* is a token with a decimal point or an exponent, such as
  ``0.3090``, ``-2.57``, ``96.5`` (in ``96.5%``) or ``1.7e-05``. Two decimal
  numbers match when they are printed with the same number of decimals (and,
  in scientific notation, the same number of mantissa decimals) and

      |stored - fresh| <= RTOL * max(|stored|, |fresh|) + one unit in the last printed digit.

  The unit in the last digit absorbs rounding: two values a hair apart can
  round to neighbouring last digits. RTOL absorbs the CPU's floating-point
  noise; README.md ("How the notebooks are tested") gives the measurements
  it is chosen from. A number printed at full precision (Python's repr of a
  float: 6 decimals or more) has as many decimals as its value needs, so two
  of those may differ in length; they are compared the same way, with the
  unit of the shorter one.
* A number glued into the text (myst-nb's ``glue``, which stores it at full
  precision in a hidden output) is compared at the precision the text prints
  it with: for ``{glue:text}`loss:.4f``` the unit is 0.0001, for ``:.1%``
  0.001, for ``:.2e`` one unit in the second mantissa decimal. A difference
  of two near-equal values is noise-sized in absolute terms but not in
  relative ones, so its full-precision digits would fail a relative test
  that the printed sentence passes. Glued words and integers, and numbers
  the text never formats, are compared by the rules above.
* Everything else is compared exactly: integers (shapes, counts, parameter
  numbers, epoch numbers), words, printed source, layer tables, headers, and
  the position of every number. Only runs of spaces may differ in length,
  because a table pads a number to its column width.

The comparison is applied by :func:`install`, which root ``conftest.py``
calls: before nbval compares a cell, every fresh output that matches its
stored counterpart under these rules is replaced by the stored one, and nbval's
own comparison then decides. A fresh output that does not match is left as it
is, so nbval reports the real difference. tests/test_nbval_tolerance.py tests
both directions.
"""

from __future__ import annotations

import copy
import math
import re

__all__ = [
    "RTOL", "INLINE_BACKEND", "decimal_numbers", "glue_formats",
    "glued_numbers_match", "texts_match", "tolerate", "install",
]

#: Relative tolerance for decimal numbers; see the module docstring and README.md.
RTOL = 0.003

#: From this many decimals on, a number is taken as printed at full precision.
FULL_PRECISION = 6

#: The matplotlib backend of every notebook kernel (see :func:`kernel_env`).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

# A decimal number: digits, a point and digits, optionally an exponent; or
# digits with an exponent. Not part of a longer word, version or identifier
# (no letter, digit, point or underscore directly before or after it).
_DECIMAL = re.compile(
    r"(?<![\w.])[-+]?(?:\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.])"
)
_SPACES = re.compile(r" +")


def decimal_numbers(text):
    """The decimal numbers in ``text``, as regex matches, in order."""
    return list(_DECIMAL.finditer(text))


def _layout(token):
    """(decimals, exponent or None): what must agree for two tokens to be comparable."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return decimals, (int(exponent) if exponent else None)


def _unit(token):
    """One unit in the last printed digit of ``token``."""
    decimals, exponent = _layout(token)
    return 10.0 ** ((exponent or 0) - decimals)


def numbers_match(stored, fresh, rtol=RTOL):
    """Whether two decimal tokens agree within the tolerance (see module docstring)."""
    (d1, e1), (d2, e2) = _layout(stored), _layout(fresh)
    if (e1 is None) != (e2 is None):
        return False  # printed differently: a change of format, not noise
    if d1 != d2 and min(d1, d2) < FULL_PRECISION:
        return False
    a, b = float(stored), float(fresh)
    if not (math.isfinite(a) and math.isfinite(b)):
        return stored == fresh
    unit = max(_unit(stored), _unit(fresh))
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + unit * (1 + 1e-9)


def texts_match(stored, fresh, rtol=RTOL):
    """Whether ``fresh`` equals ``stored`` up to decimal numbers within tolerance.

    The text between the decimal numbers must be identical, except that runs
    of spaces may differ in length.
    """
    if stored == fresh:
        return True
    s_numbers, f_numbers = decimal_numbers(stored), decimal_numbers(fresh)
    if len(s_numbers) != len(f_numbers) or not s_numbers:
        return False
    s_text = _DECIMAL.split(stored)
    f_text = _DECIMAL.split(fresh)
    if [_SPACES.sub(" ", t) for t in s_text] != [_SPACES.sub(" ", t) for t in f_text]:
        return False
    return all(numbers_match(s.group(), f.group(), rtol) for s, f in zip(s_numbers, f_numbers))


#: The hidden output in which myst-nb's ``glue`` stores a value's text.
GLUE_MIME = "application/papermill.record/text/plain"

# {glue:text}`name` or {glue:text}`name:format` in a Markdown cell.
_GLUE_REFERENCE = re.compile(r"\{glue(?::text)?\}`([^`:]+)(?::([^`]*))?`")
# The number formats a sentence may apply: .4f, +.4f, .1%, .2e.
_GLUE_FORMAT = re.compile(r"^[-+ ]?\.(\d+)([fe%])$")


def glue_formats(notebook):
    """{glued name: set of the format specs the notebook's text applies to it}."""
    formats = {}
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for name, spec in _GLUE_REFERENCE.findall(cell.source):
                formats.setdefault(name, set()).add(spec)
    return formats


def _printed_unit(value, spec):
    """One unit in the last digit of ``value`` printed with ``spec``, or None."""
    match = _GLUE_FORMAT.match(spec or "")
    if not match:
        return None
    decimals, kind = int(match.group(1)), match.group(2)
    if kind == "f":
        return 10.0 ** -decimals
    if kind == "%":
        return 10.0 ** -(decimals + 2)
    exponent = math.floor(math.log10(abs(value))) if value else 0
    return 10.0 ** (exponent - decimals)


def glued_numbers_match(stored, fresh, specs, rtol=RTOL):
    """Whether two glued values agree at the precision of the formats ``specs``.

    The most precise format decides. ``None`` if the values are not numbers,
    or a format is not one of ``.Nf``, ``.N%``, ``.Ne`` (optionally signed):
    then the ordinary rules apply.
    """
    try:
        a, b = float(stored), float(fresh)
    except ValueError:
        return None
    if not (specs and math.isfinite(a) and math.isfinite(b)):
        return None
    units = [_printed_unit(max(abs(a), abs(b)), spec) for spec in specs]
    if None in units:
        return None
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + min(units) * (1 + 1e-9)


def _text_slots(outputs):
    """(key, holder, field, output) for every text value in nbval-style outputs.

    In order; ``holder[field]`` is the text. Streams are keyed by their name,
    rich outputs by their MIME type, as nbval pairs them.
    """
    slots = []
    for output in outputs:
        if output.get("output_type") == "stream":
            slots.append((("stream", output["name"]), output, "text", output))
        for mime, value in (output.get("data") or {}).items():
            if isinstance(value, str) and not mime.startswith("image/"):
                slots.append((("data", mime), output["data"], mime, output))
    return slots


def _glued_name(output):
    return ((output.get("metadata") or {}).get("scrapbook") or {}).get("name")


def tolerate(fresh_outputs, stored_outputs, sanitize=lambda s: s, rtol=RTOL,
             glue_specs=None):
    """A copy of ``fresh_outputs`` in which every text that matches its stored
    counterpart within the tolerance is replaced by the stored text.

    Outputs are paired as nbval pairs them: the n-th value of each stream name
    or MIME type with the n-th stored one. Unpaired or non-matching values are
    left unchanged, for nbval to report. ``glue_specs`` (see
    :func:`glue_formats`) gives the formats the text prints glued values with.
    """
    fresh_outputs = copy.deepcopy(list(fresh_outputs))
    glue_specs = glue_specs or {}
    stored_by_key = {}
    for key, holder, field, output in _text_slots(stored_outputs):
        stored_by_key.setdefault(key, []).append((holder[field], output))
    seen = {}
    for key, holder, field, _ in _text_slots(fresh_outputs):
        n = seen[key] = seen.get(key, -1) + 1
        candidates = stored_by_key.get(key, [])
        if n >= len(candidates):
            continue
        stored, stored_output = candidates[n]
        match = None
        if key == ("data", GLUE_MIME):
            specs = glue_specs.get(_glued_name(stored_output))
            match = glued_numbers_match(stored, holder[field], specs, rtol)
        if match is None:
            match = texts_match(sanitize(stored), sanitize(holder[field]), rtol)
        if match:
            holder[field] = stored
    return fresh_outputs


def kernel_env(environ):
    """The environment of a notebook kernel: ``environ`` with the inline backend.

    A kernel inherits its parent's environment; with ``MPLBACKEND=Agg`` (common
    on headless machines) it would draw no figure at all, and every figure
    cell would lose its output. Forcing the inline backend makes figures
    independent of the environment.
    """
    return {**environ, "MPLBACKEND": INLINE_BACKEND}


def install():
    """Patch nbval: tolerant numbers (:func:`tolerate`) and an inline-backend kernel."""
    import os

    from nbval import kernel as nbval_kernel
    from nbval import plugin

    if getattr(plugin.IPyNbCell.compare_outputs, "_tolerant", False):
        return
    original_compare = plugin.IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        notebook_file = self.parent
        if not hasattr(notebook_file, "_glue_formats"):
            notebook_file._glue_formats = glue_formats(notebook_file.nb)
        tolerant = tolerate(test, ref, self.sanitize,
                            glue_specs=notebook_file._glue_formats)
        return original_compare(self, tolerant, ref, skip_compare)

    compare_outputs._tolerant = True
    plugin.IPyNbCell.compare_outputs = compare_outputs

    original_start = nbval_kernel.start_new_kernel

    def start_new_kernel(*args, **kwargs):
        kwargs.setdefault("env", kernel_env(os.environ))
        return original_start(*args, **kwargs)

    nbval_kernel.start_new_kernel = start_new_kernel
