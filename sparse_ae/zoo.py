"""The book's trained models, trained once per machine and cached (chapters 1-13).

Several chapters need the same trained models, and some need them from more
than one seed, to measure how much a result moves from seed to seed.
:func:`trained_autoencoder` trains a model exactly as the chapters do
(``seed_everything(seed)``, build, :func:`sparse_ae.training.train` for 10
epochs on the full data, batch 32) and caches its weights and training history
under ``$SPARSE_AE_CACHE/models`` (default ``~/.cache/sparse_ae/models``).
:func:`recipe` shows those lines.

A cached model is bit-identical to a freshly trained one, because training is
deterministic on one machine with the same number of TensorFlow threads
(``TF_NUM_INTRAOP_THREADS``; the tests set it to 1). The cache key includes
the model's settings, the seed, the data, the source of every ``sparse_ae``
module that takes part in training, and the versions of Keras, its backend
and NumPy, so a change to any of them retrains. A lock file lets several processes (parallel notebook
runs) share the cache: one trains, the others wait and load.

What it prints does not depend on the cache:

- ``log="epochs"`` (chapters 1, 2 and 4, which teach training): the per-epoch
  log, printed while it trains, or replayed from the cache;
- ``log="summary"`` (the later chapters): one line naming the model and
  giving its final metrics. A model missing from the cache is trained and
  stored first, silently, then loaded like any other.

``python -m sparse_ae.zoo --jobs 2`` trains every model the chapters use,
in parallel processes (``make test`` does this first).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import inspect
import json
import os
import subprocess
import sys

import keras
import numpy as np

from . import models
from .data import cache_dir
from .metrics import sparsity_report
from .reproducibility import seed_everything
from .training import EpochLogger, train

__all__ = [
    "BOOK_MODELS",
    "SEEDS",
    "DeadUnitsLogger",
    "recipe",
    "trained_autoencoder",
    "warm",
]

#: name -> (builder, keyword arguments, chapter that introduces it).
BOOK_MODELS = {
    "baseline": (models.build_stacked_autoencoder, {}, 1),
    "l1": (models.build_sparse_l1_autoencoder, {"l1": 1e-3}, 2),
    "kl": (
        models.build_sparse_kl_autoencoder,
        {"weight": 0.05, "target": 0.1},
        4,
    ),
    "kl_running": (
        models.build_sparse_kl_autoencoder,
        {"weight": 0.05, "target": 0.1, "momentum": 0.99},
        4,
    ),
    "dense300": (models.build_stacked_autoencoder, {"codings_size": 300}, 5),
    "topk11": (models.build_topk_autoencoder, {"k": 11}, 9),
    "topk95": (models.build_topk_autoencoder, {"k": 95}, 9),
}

#: The seeds the chapters use: the book's 42, and two more to measure the spread.
SEEDS = (42, 0, 1)

#: (name, seeds) of every model some chapter loads; ``warm()`` trains them all.
USED = {
    "baseline": SEEDS,
    "l1": SEEDS,
    "kl": SEEDS,
    "kl_running": SEEDS,
    "dense300": SEEDS,
    "topk11": (42,),
    "topk95": SEEDS,
}


class DeadUnitsLogger(keras.callbacks.Callback):
    """Add the validation codings' dead fraction and mean activation to each epoch's logs.

    ``val_dead_fraction`` is the share of coding units that are below
    ``threshold`` on every validation image (see
    :func:`sparse_ae.metrics.sparsity_report`); ``val_mean_activation`` the
    mean of all codings. Chapter 6 plots them epoch by epoch.
    """

    def __init__(self, encoder, X_valid, threshold=0.1):
        super().__init__()
        self.encoder, self.X_valid, self.threshold = (
            encoder,
            X_valid,
            threshold,
        )

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        report = sparsity_report(
            self.encoder.predict(self.X_valid, batch_size=1000, verbose=0),
            threshold=self.threshold,
        )
        logs["val_dead_fraction"] = report["fraction_dead"]
        logs["val_mean_activation"] = report["mean_activation"]


def _train(name, X_train, X_valid, epochs, seed, print_fn):
    """How every cached model is trained: the lines :func:`recipe` shows."""
    build, kwargs, _ = BOOK_MODELS[name]
    seed_everything(seed)
    encoder, decoder, autoencoder = build(**kwargs)
    history = train(
        autoencoder,
        X_train,
        X_valid,
        epochs=epochs,
        logger=EpochLogger(print_fn=print_fn),
        callbacks=[DeadUnitsLogger(encoder, X_valid)],
    )
    return (encoder, decoder, autoencoder), history


def recipe():
    """The function that trains every cached model, as highlighted source."""
    from .display import source

    return source(_train)


def _library_versions():
    """Keras, its backend and NumPy: the libraries whose numerics decide the weights."""
    backend = keras.backend.backend()
    return [
        keras.__version__,
        backend,
        importlib.import_module(backend).__version__,
        np.__version__,
    ]


def _source_digest():
    """A hash of the code that decides the trained weights and the logged history.

    Whole modules for the model code; single functions from modules that also
    hold unrelated code, so that adding, say, a new metric does not retrain.
    """
    from . import (
        layers,
        metrics,
        models,
        regularizers,
        reproducibility,
        training,
    )

    h = hashlib.sha256()
    for obj in (
        layers,
        models,
        regularizers,
        reproducibility,
        training,
        metrics.rounded_accuracy,
        metrics.sparsity_report,
        DeadUnitsLogger,
        _train,
    ):
        h.update(inspect.getsource(obj).encode())
    return h.hexdigest()


def _cache_paths(name, X_train, X_valid, epochs, seed):
    key = json.dumps(
        {
            "name": name,
            "kwargs": BOOK_MODELS[name][1],
            "epochs": epochs,
            "seed": seed,
            "data": [
                hashlib.sha256(np.ascontiguousarray(X)).hexdigest()
                for X in (X_train, X_valid)
            ],
            "source": _source_digest(),
            "versions": _library_versions(),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    weights = (
        cache_dir() / "models" / f"{name}-seed{seed}-{digest}.weights.h5"
    )
    return weights, weights.with_name(
        weights.name.replace(".weights.h5", ".log.json")
    )


@contextlib.contextmanager
def _locked(path, wait=True):
    """Hold an exclusive lock on ``path`` + ".lock" while the block runs.

    Yields True. With ``wait=False`` it does not wait: if another process
    holds the lock, it yields False and holds nothing. Where locking is
    unavailable it is a no-op that yields True.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no sharing between processes, still correct
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached(weights_path, log_path):
    """Whether a model's weights and training log are both in the cache."""
    return weights_path.is_file() and log_path.is_file()


def _summary(name, seed, epochs, history):
    last = {k: v[-1] for k, v in history.items()}
    shown = "  ".join(
        f"{k}={last[k]:.4f}"
        for k in ("loss", "val_loss", "val_rounded_accuracy")
        if k in last
    )
    chapter = BOOK_MODELS[name][2]
    return (
        f"{name}: chapter {chapter}'s model, seed {seed}, {epochs} epochs, "
        f"from the cache\n  {shown}"
    )


def trained_autoencoder(
    name, X_train, X_valid, epochs=10, seed=42, log="summary", print_fn=print
):
    """``(encoder, decoder, autoencoder)`` for one of :data:`BOOK_MODELS`, trained.

    Loads it from the cache, training and storing it first if it is not
    there (see the module docstring for what ``log`` prints). The training
    history, with the validation dead fraction and mean activation of every
    epoch (see :class:`DeadUnitsLogger`), is in ``autoencoder.history.history``.
    """
    if name not in BOOK_MODELS:
        raise ValueError(
            f"unknown model {name!r}; choose one of {sorted(BOOK_MODELS)}"
        )
    if log not in ("epochs", "summary"):
        raise ValueError(f"log must be 'epochs' or 'summary', got {log!r}")
    weights_path, log_path = _cache_paths(
        name, X_train, X_valid, epochs, seed
    )
    with _locked(weights_path):
        if _cached(weights_path, log_path):
            record = json.loads(log_path.read_text())
            if log == "epochs":
                for line in record["lines"]:
                    print_fn(line)
        else:
            lines = []
            shown = print_fn if log == "epochs" else (lambda line: None)
            (encoder, decoder, autoencoder), history = _train(
                name,
                X_train,
                X_valid,
                epochs,
                seed,
                lambda line: (lines.append(line), shown(line)),
            )
            record = {
                "lines": lines,
                "history": {
                    k: [float(v) for v in vs]
                    for k, vs in history.history.items()
                },
            }
            try:
                tmp = weights_path.with_name(
                    f"tmp-{os.getpid()}-{weights_path.name}"
                )
                autoencoder.save_weights(tmp)
                log_path.write_text(json.dumps(record))
                os.replace(tmp, weights_path)
            except OSError:  # no writable cache: the next call trains again
                autoencoder.history.history = record["history"]
                if log == "summary":
                    print_fn(_summary(name, seed, epochs, record["history"]))
                return encoder, decoder, autoencoder
    build, kwargs, _ = BOOK_MODELS[name]
    seed_everything(seed)
    encoder, decoder, autoencoder = build(**kwargs)
    autoencoder.load_weights(weights_path)
    autoencoder.history = keras.callbacks.History()
    autoencoder.history.history = record["history"]
    if log == "summary":
        print_fn(_summary(name, seed, epochs, record["history"]))
    return encoder, decoder, autoencoder


def _taken(name, X_train, X_valid, seed, epochs=10):
    """Whether the model is cached already, or another process is training it."""
    weights_path, log_path = _cache_paths(name, X_train, X_valid, epochs, seed)
    if _cached(weights_path, log_path):
        return True
    with _locked(weights_path, wait=False) as free:
        return not free


def warm(jobs=1, used=None):
    """Train every model in ``used`` (default :data:`USED`) that is not cached yet.

    With ``jobs > 1``, that many processes share the work: the training of
    one small model does not keep two cores busy, so two processes train
    about twice as fast as one. Each goes through the whole list, from its
    own place in it, and trains the models that are neither cached nor
    being trained by another: they finish within one model of each other,
    whatever each model costs.
    """
    from .data import load_fashion_mnist

    if jobs > 1 and used is not None:
        raise ValueError("used is for jobs=1; the processes of jobs > 1 train USED")
    used = USED if used is None else used
    todo = [(name, seed) for name, seeds in used.items() for seed in seeds]
    if jobs > 1:
        # One TensorFlow thread per process: they then share the cores
        # without getting in each other's way (see conftest.py). This
        # process takes a share itself unless TensorFlow has started already
        # (with its own number of threads).
        here = _one_thread_here()
        env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1"}
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "sparse_ae.zoo", "--start", str(i)],
                env=env,
            )
            for i in range(1 if here else 0, jobs)
        ]
        try:
            if here:
                _warm_child(0)
        finally:
            failed = [child.wait() for child in children]
        if any(failed):
            raise RuntimeError(
                "training the cached models failed in a child process"
            )
        print(f"the {len(todo)} models the chapters use are in "
              f"{cache_dir() / 'models'}")
        return
    (X_train, _), (X_valid, _), _ = load_fashion_mnist()
    for name, seed in todo:
        trained_autoencoder(
            name, X_train, X_valid, seed=seed, print_fn=print
        )


def _one_thread_here():
    """Give this process one TensorFlow intra-op thread; False if TensorFlow
    has started already and keeps the number it has."""
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # "cannot be modified after initialization"
        return False
    return True


def _warm_child(start):
    """One process of ``warm(jobs)``: from ``start``, train what nobody has."""
    from .data import load_fashion_mnist

    todo = [(name, seed) for name, seeds in USED.items() for seed in seeds]
    (X_train, _), (X_valid, _), _ = load_fashion_mnist()
    for name, seed in todo[start:] + todo[:start]:
        if not _taken(name, X_train, X_valid, seed):
            trained_autoencoder(
                name, X_train, X_valid, seed=seed, print_fn=print
            )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train and cache every model the chapters use."
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="parallel processes (default 1)"
    )
    # A child of --jobs: where in the list it starts; it skips the models
    # that are cached or being trained.
    parser.add_argument("--start", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.start is not None:
        _warm_child(args.start)
    else:
        warm(args.jobs)


if __name__ == "__main__":
    main()
