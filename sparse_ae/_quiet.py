"""Silence the process-level stderr while a noisy C++ library loads."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stderr():
    """Send file descriptor 2 to /dev/null inside the block, then restore it.

    TensorFlow's C++ code writes its start-up messages straight to the file
    descriptor, below Python's ``sys.stderr``, so only this silences them.
    Exceptions raised inside the block propagate as usual, after stderr is
    restored. Where there is no real descriptor 2, it does nothing.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
