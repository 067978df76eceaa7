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


# The suite's longest files, longest first (measured with --durations on the
# 2-core CI machine: the browser test, the nbval tolerance tests and chapters
# 7, 11, 12 and 13 about a minute each). pytest-xdist
# hands whole files to its workers in collection order when run with
# --no-loadscope-reorder (as the Makefile does), so the long files start
# first and the many short unit-test files fill the gaps at the end, instead
# of one worker finishing a long chapter alone.
LONGEST_FIRST = [
    "tests/test_browser.py",
    "tests/test_nbval_tolerance.py",
    "book/07_choosing_knobs.ipynb",
    "book/12_sae_on_a_network.ipynb",
    "book/11_recovering_features.ipynb",
    "book/13_topk_done_properly.ipynb",
    "book/08_codes_as_features.ipynb",
    "book/09_topk.ipynb",
]


def pytest_collection_modifyitems(config, items):
    """Move the longest files to the front; a stable sort keeps the order of
    the tests inside each file (a notebook's cells must run in order)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
