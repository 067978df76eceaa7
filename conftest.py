"""pytest configuration shared by the unit tests and nbval.

It lives at the top of the repository so that both ``pytest --nbval`` and
``pytest --nbval book`` load it.
"""

import os
import sys
from pathlib import Path

# Set before TensorFlow loads, here and in every notebook kernel nbval starts
# (kernels inherit this process's environment): TensorFlow's C++ start-up
# messages would otherwise go to stderr.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow splits some operations, even inside XLA, over as many threads as
# it has intra-op threads (by default one per core), and the split changes the
# rounding in the last digits. One thread makes a run's numbers the same on a
# 2-core and a 64-core machine of one CPU model; the chapters' training is no
# slower for it (it does not use a second core), and the tests run two
# notebooks at a time instead (pytest-xdist). The zoo's warm-up inherits it.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

sys.path.insert(0, str(Path(__file__).parent / "tests"))
import nbval_tolerance  # noqa: E402


def pytest_configure(config):
    # Decimal numbers within a tolerance, everything else exact; kernels draw
    # figures inline whatever MPLBACKEND says (tests/nbval_tolerance.py).
    nbval_tolerance.install()


def pytest_collectstart(collector):
    """Do not compare stderr in notebooks: TensorFlow and absl write log lines
    there that depend on the machine, not on the chapter's results."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
