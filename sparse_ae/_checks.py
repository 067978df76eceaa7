"""Argument checks shared by the package's modules: one definition each.

Every check returns the value normalised (``int``, ``float``) or raises a
``ValueError`` whose message starts with the argument's name.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "check_finite_array",
    "check_non_negative",
    "check_positive_int",
    "check_positive_number",
    "check_seed",
]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value):
    """``value`` as an ``int`` if it is an integer >= 1 (``True`` is not)."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _as_real(value):
    """``value`` as a float if it is a real number (not a bool or a string), else NaN."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    return float(value)


def check_non_negative(name, value):
    """``value`` as a float if it is a finite number >= 0 (a penalty's weight).

    Booleans and strings are refused: ``l1=True`` or ``l1="0.1"`` is a
    mistake, not a number.
    """
    x = _as_real(value)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return x


def check_positive_number(name, value):
    """``value`` as a float if it is a finite number > 0."""
    x = _as_real(value)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return x


def check_seed(seed):
    """``None`` or an ``int``."""
    if seed is not None and not _is_int(seed):
        raise ValueError(f"seed must be None or an integer, got {seed!r}")
    return None if seed is None else int(seed)


def check_finite_array(name, x):
    """Raise ``ValueError`` if the array ``x`` holds a NaN or an infinity.

    The message says how many values and in which rows (examples), so that a
    bad example can be found. Returns ``x`` unchanged.
    """
    values = np.asarray(x)
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {values.dtype}")
    if np.issubdtype(values.dtype, np.integer):
        return x
    finite = np.isfinite(values)
    if not finite.all():
        bad = ~finite
        rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1)) if values.ndim else []
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values "
            f"(in example{'s' if len(rows) != 1 else ''} {shown}); "
            "nothing was changed"
        )
    return x
