import gzip
import hashlib
import os

import numpy as np
import pytest

from sparse_ae import data
from sparse_ae.data import DataError, find_data_dir, load_fashion_mnist, read_idx

from conftest import write_idx


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache, Keras home and no SPARSE_AE_DATA."""
    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("SPARSE_AE_DATA", raising=False)


def no_download():
    raise AssertionError("the loader tried to download")


@pytest.fixture
def tiny_dataset(tmp_path, monkeypatch):
    """A complete, tiny dataset in the real files' format, with FILES made to match it."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 12, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 4, dtype=np.uint8),
    }
    directory = tmp_path / "tiny"
    directory.mkdir()
    files = {}
    for name, array in arrays.items():
        raw = write_idx(directory / name, array)
        files[name] = (hashlib.sha256(raw).hexdigest(), array.shape)
    monkeypatch.setattr(data, "FILES", files)
    monkeypatch.setattr(data, "N_VALID", 3)
    monkeypatch.setattr(data, "_download_with_keras", no_download)
    return directory, arrays


# ---- read_idx on files the tests write -------------------------------------

def test_read_idx_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "a.gz", array)
    out = read_idx(tmp_path / "a.gz", hashlib.sha256(raw).hexdigest(), (2, 3, 4))
    np.testing.assert_array_equal(out, array)
    assert out.dtype == np.uint8


def test_read_idx_rejects_truncated_gzip(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros((50, 28, 28)))
    blob = (tmp_path / "a.gz").read_bytes()
    (tmp_path / "a.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="a.gz"):
        read_idx(tmp_path / "a.gz")


def test_read_idx_rejects_truncated_content(tmp_path):
    """A complete gzip stream whose IDX payload is short."""
    raw = write_idx(tmp_path / "a.gz", np.zeros((5, 28, 28)), compress=False)
    with gzip.open(tmp_path / "b.gz", "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(DataError, match=r"b\.gz.*data bytes"):
        read_idx(tmp_path / "b.gz", expected_shape=(5, 28, 28))


def test_read_idx_rejects_non_gzip(tmp_path):
    (tmp_path / "a.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match="a.gz.*gzip"):
        read_idx(tmp_path / "a.gz")


def test_read_idx_rejects_wrong_content(tmp_path):
    write_idx(tmp_path / "a.gz", np.ones((3, 28, 28)))
    with pytest.raises(DataError, match=r"a\.gz.*SHA-256"):
        read_idx(tmp_path / "a.gz", expected_sha256="0" * 64)


def test_read_idx_rejects_wrong_shape_and_magic(tmp_path):
    write_idx(tmp_path / "a.gz", np.ones((3, 28, 28)))
    with pytest.raises(DataError, match="shape"):
        read_idx(tmp_path / "a.gz", expected_shape=(4, 28, 28))
    with gzip.open(tmp_path / "b.gz", "wb") as f:
        f.write(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00")  # float32 IDX
    with pytest.raises(DataError, match="magic"):
        read_idx(tmp_path / "b.gz")


# ---- where the loader looks ------------------------------------------------

def test_load_from_explicit_dir_splits_as_the_book(tiny_dataset):
    directory, arrays = tiny_dataset
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = load_fashion_mnist(directory)
    images = arrays["train-images-idx3-ubyte.gz"]
    assert X_train.dtype == X_valid.dtype == X_test.dtype == np.float32
    np.testing.assert_allclose(X_train, images[:9] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(X_valid, images[9:] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_valid, arrays["train-labels-idx1-ubyte.gz"][9:])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert X_test.shape == (4, 28, 28) and X_train.min() >= 0 and X_train.max() <= 1


def test_env_var_is_used(tiny_dataset, monkeypatch):
    directory, _ = tiny_dataset
    monkeypatch.setenv("SPARSE_AE_DATA", str(directory))
    assert find_data_dir() == directory


@pytest.mark.parametrize("how", ["argument", "env"])
def test_explicit_dir_without_files_fails_without_download(tmp_path, monkeypatch, how):
    monkeypatch.setattr(data, "_download_with_keras", no_download)
    empty = tmp_path / "empty"
    empty.mkdir()
    if how == "env":
        monkeypatch.setenv("SPARSE_AE_DATA", str(empty))
        call = lambda: load_fashion_mnist()  # noqa: E731
    else:
        call = lambda: load_fashion_mnist(empty)  # noqa: E731
    with pytest.raises(DataError, match=str(empty)) as info:
        call()
    assert "train-images-idx3-ubyte.gz" in str(info.value)


def test_no_data_and_no_network_gives_one_actionable_message(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_download_with_keras", offline)
    with pytest.raises(DataError) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert "network is unreachable" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "SPARSE_AE_DATA" in message
    assert str(tmp_path / "keras_home" / "datasets" / "fashion-mnist") in message


def test_keras_cache_is_searched_after_debian(tiny_dataset, tmp_path, monkeypatch):
    directory, _ = tiny_dataset
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    keras_dir = tmp_path / "keras_home" / "datasets" / "fashion-mnist"
    keras_dir.parent.mkdir(parents=True)
    directory.rename(keras_dir)
    assert find_data_dir() == keras_dir


def test_a_corrupt_file_is_an_error_not_partial_data(tiny_dataset):
    directory, _ = tiny_dataset
    bad = directory / "t10k-labels-idx1-ubyte.gz"
    write_idx(bad, np.arange(4))  # right shape, wrong content
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        load_fashion_mnist(directory)


def test_cache_is_used_and_invalidated(tiny_dataset, monkeypatch):
    directory, arrays = tiny_dataset
    first = load_fashion_mnist(directory)

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded although the cache is current")

    with monkeypatch.context() as m:
        m.setattr(data, "read_idx", must_not_decode)
        second = load_fashion_mnist(directory)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    # Replace a file: the cache is stale and the new (wrong) content is checked.
    target = directory / "train-labels-idx1-ubyte.gz"
    write_idx(target, np.zeros(12))
    os.utime(target, ns=(1, 1))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        load_fashion_mnist(directory)


# ---- the real data ---------------------------------------------------------

def test_real_fashion_mnist(real_data_dir):
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = load_fashion_mnist(real_data_dir)
    assert X_train.shape == (55000, 28, 28) and y_train.shape == (55000,)
    assert X_valid.shape == (5000, 28, 28) and y_valid.shape == (5000,)
    assert X_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert X_train.dtype == np.float32 and X_train.min() == 0.0 and X_train.max() == 1.0
    # Fashion-MNIST is balanced: 6,000 of each class in training, 1,000 in test.
    assert np.bincount(np.concatenate([y_train, y_valid])).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    # The validation set is the *last* 5,000 training images, as in the book.
    raw_train = read_idx(real_data_dir / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal((X_valid * 255).round().astype(np.uint8), raw_train[-5000:])
    assert y_train[:5].tolist() == [9, 0, 0, 3, 0]  # ankle boot, t-shirt, t-shirt, dress, t-shirt
