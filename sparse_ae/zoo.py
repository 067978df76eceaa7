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

The sparse autoencoders of Part III are cached the same way:
:func:`trained_sae` trains a :class:`sparse_ae.sae.SparseAutoencoder` on
given data with :func:`sparse_ae.sae.train_sae` (to convergence: until the
validation FVE stops improving) and caches its weights and training record,
keyed by its settings, seed, data, source and library versions.
:func:`sae_recipe` shows the lines that train it.

``python -m sparse_ae.zoo --jobs 2`` trains every model the chapters use
(:data:`USED`, and the SAEs of :data:`USED_SAES`), in parallel processes
(``make test`` does this first).
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
from .metrics import l0, sparsity_report
from .reproducibility import seed_everything
from .sae import SparseAutoencoder, train_sae
from .training import EpochLogger, train

__all__ = [
    "BOOK_MODELS",
    "SEEDS",
    "USED_SAES",
    "DeadUnitsLogger",
    "ValidationL0",
    "recipe",
    "sae_recipe",
    "trained_autoencoder",
    "trained_sae",
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

#: The SAEs some chapter loads through :func:`trained_sae`: dicts of its
#: keyword arguments, with ``n_latents``, and ``data`` naming the data
#: (see :func:`sparse_ae.checkpoints.data`); ``warm()`` trains them too. The SAEs
#: of chapters 12 and 13 are published checkpoints instead
#: (:mod:`sparse_ae.checkpoints`), trained by ``make checkpoints``.
USED_SAES = []


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


# ------------------------------------------------------------ SAEs (Part III)


class ValidationL0(keras.callbacks.Callback):
    """Add ``val_l0``, the SAE's mean L0 on the validation data, to each epoch's logs.

    The number of latents firing per example (:func:`sparse_ae.metrics.l0`):
    ``k`` for a TopK SAE, and what the ℓ1 penalty decides for a ReLU one.
    """

    def __init__(self, sae, x_valid):
        super().__init__()
        self.sae, self.x_valid = sae, x_valid

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            latents = keras.ops.convert_to_numpy(self.sae.encode(self.x_valid))
            logs["val_l0"] = l0(latents)


def _train_sae(
    x_train, x_valid, n_latents, seed, learning_rate, batch_size, settings
):
    """How every cached SAE is trained: the lines :func:`sae_recipe` shows."""
    seed_everything(seed)
    sae = SparseAutoencoder(
        x_train.shape[1], n_latents, seed=seed, **settings
    )
    sae.adapt(x_train)  # b_dec at the mean, and the data's variance
    history = train_sae(
        sae,
        x_train,
        x_valid,
        learning_rate=learning_rate,
        batch_size=batch_size,
        callbacks=[ValidationL0(sae, x_valid)],
    )
    return sae, history


def sae_recipe():
    """The function that trains every cached SAE, as highlighted source."""
    from .display import source

    return source(_train_sae)


def _sae_source_digest():
    """A hash of the code that decides an SAE's trained weights and record."""
    from . import reproducibility, sae

    h = hashlib.sha256()
    for obj in (sae, reproducibility, ValidationL0, _train_sae):
        h.update(inspect.getsource(obj).encode())
    return h.hexdigest()


def _sae_settings(n_latents, seed, learning_rate, batch_size, settings):
    """The settings of one SAE run as a JSON-able dict (checked by SparseAutoencoder)."""
    return {
        "n_latents": int(n_latents),
        "seed": int(seed),
        "learning_rate": float(learning_rate),
        "batch_size": int(batch_size),
        **{
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in settings.items()
            if v is not None  # None is every optional setting's default
        },
    }


def sae_name(settings):
    """A short file name for an SAE run: its activation, sparsity knob, seed."""
    parts = [settings.get("activation", "relu")]
    for key in ("k", "l1", "l0", "auxk"):
        if settings.get(key) is not None and settings.get(key) != 0:
            parts.append(f"{key}{settings[key]:g}")
    if settings.get("unit_norm") is False:
        parts.append("free")
    parts += [f"lr{settings['learning_rate']:g}", f"seed{settings['seed']}"]
    return "-".join(parts)


def _sae_cache_paths(x_train, x_valid, run):
    key = json.dumps(
        {
            "run": run,
            "data": [
                hashlib.sha256(np.ascontiguousarray(x)).hexdigest()
                for x in (x_train, x_valid)
            ],
            "source": _sae_source_digest(),
            "versions": _library_versions(),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    weights = cache_dir() / "models" / f"sae-{sae_name(run)}-{digest}.weights.h5"
    return weights, weights.with_name(weights.name.replace(".weights.h5", ".log.json"))


def _record(history):
    """What is kept of a training run besides its weights."""
    return {
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "steps": int(history.steps),
        "best_epoch": int(history.best_epoch),
    }


def trained_sae(
    x_train,
    x_valid,
    n_latents,
    *,
    seed=42,
    learning_rate=1e-3,
    batch_size=1024,
    **settings,
):
    """``(sae, record)``: a :class:`~sparse_ae.sae.SparseAutoencoder` trained to convergence, cached.

    Trains (see :func:`sae_recipe`) ``SparseAutoencoder(x_train.shape[1],
    n_latents, seed=seed, **settings)``, adapted on ``x_train``, with
    :func:`sparse_ae.sae.train_sae` at ``learning_rate`` in batches of
    ``batch_size``, until the FVE on ``x_valid`` stops improving, and keeps
    the best epoch's weights. ``record`` holds the per-epoch ``history``
    (every logged metric, with ``val_l0`` from :class:`ValidationL0`),
    ``steps`` (optimizer steps taken) and ``best_epoch``. The weights and
    the record are cached, keyed by the settings, the seed, the data, the
    source of the SAE code and the library versions; a second call loads
    them (the same weights bit for bit, on one machine).

    Introduced in chapter 12, *An SAE on a real network*.
    """
    x_train = np.asarray(x_train, dtype=np.float32)
    x_valid = np.asarray(x_valid, dtype=np.float32)
    run = _sae_settings(n_latents, seed, learning_rate, batch_size, settings)
    SparseAutoencoder(x_train.shape[1], n_latents, seed=seed, **settings)  # checks
    weights_path, log_path = _sae_cache_paths(x_train, x_valid, run)
    with _locked(weights_path):
        if _cached(weights_path, log_path):
            record = json.loads(log_path.read_text())
        else:
            sae, history = _train_sae(
                x_train, x_valid, n_latents, seed, learning_rate, batch_size, settings
            )
            record = _record(history)
            try:
                tmp = weights_path.with_name(f"tmp-{os.getpid()}-{weights_path.name}")
                sae.save_weights(tmp)
                log_path.write_text(json.dumps(record))
                os.replace(tmp, weights_path)
            except OSError:  # no writable cache: the next call trains again
                pass
            return sae, record
    sae = SparseAutoencoder(x_train.shape[1], n_latents, seed=seed, **settings)
    sae.load_weights(weights_path)
    return sae, record


def _sae_run_settings(**kwargs):
    """The run :func:`trained_sae` makes of these keyword arguments (with its defaults)."""
    bound = inspect.signature(trained_sae).bind(None, None, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    settings = arguments.pop("settings")
    return _sae_settings(
        arguments["n_latents"], arguments["seed"], arguments["learning_rate"],
        arguments["batch_size"], settings,
    )


def _sae_taken(x_train, x_valid, run):
    """Whether the SAE run is cached already, or another process is training it."""
    weights_path, log_path = _sae_cache_paths(x_train, x_valid, run)
    if _cached(weights_path, log_path):
        return True
    with _locked(weights_path, wait=False) as free:
        return not free


def _taken(name, X_train, X_valid, seed, epochs=10):
    """Whether the model is cached already, or another process is training it."""
    weights_path, log_path = _cache_paths(name, X_train, X_valid, epochs, seed)
    if _cached(weights_path, log_path):
        return True
    with _locked(weights_path, wait=False) as free:
        return not free


def warm(jobs=1, used=None):
    """Train every model in ``used`` (default :data:`USED`, then the SAEs of
    :data:`USED_SAES`) that is not cached yet.

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
    if jobs > 1:
        in_processes("sparse_ae.zoo", jobs, _warm_child)
        print(f"the {len(_todo())} models the chapters use are in "
              f"{cache_dir() / 'models'}")
        return
    if used is not None:
        (X_train, _), (X_valid, _), _ = load_fashion_mnist()
        for name, seeds in used.items():
            for seed in seeds:
                trained_autoencoder(name, X_train, X_valid, seed=seed, print_fn=print)
        return
    _warm_child(0)


def in_processes(module, jobs, child):
    """Run ``child(start)`` in ``jobs`` processes that share a list of work.

    The others are ``python -m module --start i``, with one TensorFlow thread
    each: they then share the cores without getting in each other's way (see
    conftest.py). This process runs ``child(0)`` itself unless TensorFlow has
    started already (with its own number of threads). Used by :func:`warm`
    and by ``python -m sparse_ae.checkpoints``.
    """
    here = _one_thread_here()
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1"}
    children = [
        subprocess.Popen(
            [sys.executable, "-m", module, "--start", str(i)], env=env
        )
        for i in range(1 if here else 0, jobs)
    ]
    try:
        if here:
            child(0)
    finally:
        failed = [process.wait() for process in children]
    if any(failed):
        raise RuntimeError(f"training failed in a child process of {module}")


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


def _todo():
    """Every model :func:`warm` trains: ``("book", name, seed)`` and ``("sae", run)``."""
    return [("book", name, seed) for name, seeds in USED.items() for seed in seeds] + [
        ("sae", run) for run in USED_SAES
    ]


def _sae_run(run):
    """``(x_train, x_valid, keyword arguments of trained_sae)`` for an entry of :data:`USED_SAES`."""
    from .checkpoints import data

    run = dict(run)
    x_train, x_valid = data(run.pop("data"))
    return x_train, x_valid, run


def _warm_child(start):
    """One process of ``warm(jobs)``: from ``start``, train what nobody has."""
    from .data import load_fashion_mnist

    todo = _todo()
    (X_train, _), (X_valid, _), _ = load_fashion_mnist()
    for job in todo[start:] + todo[:start]:
        if job[0] == "book":
            _, name, seed = job
            if not _taken(name, X_train, X_valid, seed):
                trained_autoencoder(
                    name, X_train, X_valid, seed=seed, print_fn=print
                )
        else:
            x_train, x_valid, kwargs = _sae_run(job[1])
            if not _sae_taken(x_train, x_valid, _sae_run_settings(**kwargs)):
                trained_sae(x_train, x_valid, **kwargs)


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
