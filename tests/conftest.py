import gzip
import os
from pathlib import Path

import keras
import numpy as np
import pytest

from sparse_ae import data


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
    return data.load_fashion_mnist(_require_real_data())


def autodiff(f, x):
    """The gradient of the scalar ``f(x)`` at the NumPy array ``x``, on either backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: f(v))(jax.numpy.asarray(x)))
    import tensorflow as tf

    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = f(v)
    return tape.gradient(value, v).numpy()
