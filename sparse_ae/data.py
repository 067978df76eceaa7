"""Fashion-MNIST, loaded and split as the book does (chapter 1, *Data and a baseline*).

The loader never returns partial or unchecked data. Every file is decompressed,
its IDX header is checked, and its *decompressed* bytes are compared with the
SHA-256 of the upstream release. (Debian's ``dataset-fashion-mnist`` package
recompresses the files, so their gzip bytes differ from upstream while their
contents match; hashing the contents accepts both.)

Where it looks, in order:

1. ``data_dir``, or the ``SPARSE_AE_DATA`` environment variable. An explicit
   directory is final: if it lacks the files, that is an error, not a download.
2. ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu ``dataset-fashion-mnist``).
3. Keras's cache, ``$KERAS_HOME/datasets/fashion-mnist`` (default ``~/.keras``).
4. Keras's own download, into that cache.

Decoded arrays are cached (uncompressed ``.npz``) under ``$SPARSE_AE_CACHE``,
or ``$XDG_CACHE_HOME/sparse_ae`` (default ``~/.cache/sparse_ae``), keyed by the
source files' paths, sizes and modification times, so a second load skips the
decompression and hashing.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "CLASS_NAMES",
    "FILES",
    "cache_dir",
    "DEBIAN_DIR",
    "DataError",
    "load_fashion_mnist",
    "find_data_dir",
    "read_idx",
]

#: file name -> (SHA-256 of the decompressed bytes, IDX shape)
FILES = {
    "train-images-idx3-ubyte.gz": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        (60000, 28, 28),
    ),
    "train-labels-idx1-ubyte.gz": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        (60000,),
    ),
    "t10k-images-idx3-ubyte.gz": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        (10000, 28, 28),
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        (10000,),
    ),
}

#: Fashion-MNIST's ten classes, indexed by label.
CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
N_VALID = 5000
_CACHE_VERSION = 1

HOW_TO_GET_THE_DATA = """\
Fashion-MNIST was not found, and Keras could not download it ({reason}).
Any one of these fixes it:
  * On Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist
    (installs the four original files in /usr/share/datasets/fashion-mnist).
  * Put the four files {names}
    in a directory and pass it as data_dir=..., or set SPARSE_AE_DATA to it.
  * Copy them into Keras's cache, {keras_dir}.
  * Run once with network access, so that Keras can download them."""


class DataError(RuntimeError):
    """The Fashion-MNIST files are missing, truncated, corrupt or not the dataset."""


def read_idx(path, expected_sha256=None, expected_shape=None):
    """Decode one gzip-compressed IDX file to a ``uint8`` array.

    Raises :class:`DataError`, naming ``path``, if the file is not valid gzip,
    is truncated, has a wrong header or shape, or (when ``expected_sha256`` is
    given) its decompressed bytes are not the expected ones.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({e})") from e
    if expected_sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected_sha256:
            raise DataError(
                f"{path}: decompressed content has SHA-256 {digest}, expected "
                f"{expected_sha256}; the file is truncated, corrupt or not this "
                "Fashion-MNIST file"
            )
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes (bad magic number)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big")
        for i in range(ndim)
    )
    if expected_shape is not None and shape != tuple(expected_shape):
        raise DataError(
            f"{path}: IDX shape {shape}, expected {tuple(expected_shape)}"
        )
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise DataError(
            f"{path}: {len(raw) - header} data bytes for shape {shape}, expected {size}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _keras_cache_dir():
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return Path(home) / "datasets" / "fashion-mnist"


def _has_all_files(directory):
    return all((Path(directory) / name).is_file() for name in FILES)


def _download_with_keras():
    """Let Keras download the files into its cache; return that directory."""
    import keras

    keras.datasets.fashion_mnist.load_data()
    return _keras_cache_dir()


def find_data_dir(data_dir=None, *, download=True):
    """Return the directory holding the four Fashion-MNIST files.

    Follows the search order in this module's docstring. Raises
    :class:`DataError` if an explicit directory lacks a file, or if nothing is
    found and the download fails.
    """
    explicit, source = data_dir, "data_dir"
    if explicit is None and os.environ.get("SPARSE_AE_DATA"):
        explicit, source = os.environ["SPARSE_AE_DATA"], "SPARSE_AE_DATA"
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        missing = [name for name in FILES if not (explicit / name).is_file()]
        if missing:
            raise DataError(
                f"{explicit} (given as {source}) does not hold the Fashion-MNIST "
                f"file(s) {', '.join(missing)}"
            )
        return explicit
    for candidate in (DEBIAN_DIR, _keras_cache_dir()):
        if _has_all_files(candidate):
            return candidate
    if download:
        try:
            downloaded = _download_with_keras()
        except Exception as e:  # no network, blocked host, ...
            reason = f"{type(e).__name__}: {e}"
        else:
            if _has_all_files(downloaded):
                return downloaded
            reason = f"the download did not leave the files in {downloaded}"
    else:
        reason = "downloading is disabled"
    raise DataError(
        HOW_TO_GET_THE_DATA.format(
            reason=reason,
            names=", ".join(FILES),
            keras_dir=_keras_cache_dir(),
        )
    )


def cache_dir():
    """Where sparse_ae caches what it computes: ``$SPARSE_AE_CACHE``, or
    ``$XDG_CACHE_HOME/sparse_ae`` (default ``~/.cache/sparse_ae``)."""
    base = os.environ.get("SPARSE_AE_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        base = os.path.join(xdg, "sparse_ae")
    return Path(base)


def _cache_path(directory):
    key = hashlib.sha256(
        str(Path(directory).resolve()).encode()
    ).hexdigest()[:16]
    return cache_dir() / f"fashion-mnist-{key}.npz"


def _fingerprint(directory):
    parts = [f"v{_CACHE_VERSION}"]
    for name in FILES:
        st = (Path(directory) / name).stat()
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _load_raw(directory, use_cache):
    """The four verified ``uint8`` arrays, from the cache when it is current."""
    fingerprint = _fingerprint(directory)
    cache = _cache_path(directory)
    if use_cache and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if str(z["fingerprint"]) == fingerprint:
                    arrays = {
                        name: z[name.replace("-", "_")[:-3]]
                        for name in FILES
                    }
                    if all(
                        arrays[n].shape == shape
                        for n, (_, shape) in FILES.items()
                    ):
                        return arrays
        except (OSError, ValueError, KeyError, zlib.error):
            pass  # an unreadable or stale cache is rebuilt below
    arrays = {
        name: read_idx(Path(directory) / name, sha, shape)
        for name, (sha, shape) in FILES.items()
    }
    if use_cache:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                fingerprint=np.array(fingerprint),
                **{
                    name.replace("-", "_")[:-3]: a
                    for name, a in arrays.items()
                },
            )
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only home still loads, only more slowly
    return arrays


def load_fashion_mnist(data_dir=None, *, download=True, cache=True):
    """Load Fashion-MNIST split as in the book: 55,000 train, 5,000 valid, 10,000 test.

    Returns ``(X_train, y_train), (X_valid, y_valid), (X_test, y_test)``. Images
    are ``float32`` in [0, 1] with shape ``(n, 28, 28)``; labels are ``uint8``
    class ids 0-9. The validation set is the *last* 5,000 training images.

    Introduced in chapter 1, *Data and a baseline*.
    """
    directory = find_data_dir(data_dir, download=download)
    raw = _load_raw(directory, cache)
    images = raw["train-images-idx3-ubyte.gz"].astype(np.float32) / 255.0
    labels = raw["train-labels-idx1-ubyte.gz"].copy()
    X_test = raw["t10k-images-idx3-ubyte.gz"].astype(np.float32) / 255.0
    y_test = raw["t10k-labels-idx1-ubyte.gz"].copy()
    X_train, X_valid = images[:-N_VALID], images[-N_VALID:]
    y_train, y_valid = labels[:-N_VALID], labels[-N_VALID:]
    return (X_train, y_train), (X_valid, y_valid), (X_test, y_test)
