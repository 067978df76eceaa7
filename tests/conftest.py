"""Fixtures and helpers of the unit tests.

Nothing here imports Keras or sparse_ae at the top: pytest's main process
loads this file before it starts its workers (pytest-xdist), and importing
TensorFlow there cost 5 s on one core at the start of every run. The test
modules import what they test (TensorFlow's C++ start-up messages are off:
the root conftest.py sets TF_CPP_MIN_LOG_LEVEL).
"""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest


def write_idx(path, array, compress=True):
    """Write ``array`` (uint8) as an IDX file, gzip-compressed by default."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    raw = header + array.tobytes()
    path = Path(path)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return raw


def _require_real_data():
    """The real Fashion-MNIST of Debian's dataset-fashion-mnist.

    Skipped on a developer machine without it; required under CI, where
    .ci/run installs it."""
    from sparse_ae import data

    if data._has_all_files(data.DEBIAN_DIR):
        return data.DEBIAN_DIR
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide the real data in {data.DEBIAN_DIR}")
    pytest.skip("install dataset-fashion-mnist to run the tests on the real data")


@pytest.fixture
def real_data_dir():
    return _require_real_data()


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real data, split as in the book, loaded once per test session."""
    from sparse_ae import data

    return data.load_fashion_mnist(_require_real_data())


def autodiff(*args, **kwargs):
    """:func:`sparse_ae.gradients.gradient` (tests import it from here)."""
    from sparse_ae.gradients import gradient

    return gradient(*args, **kwargs)
