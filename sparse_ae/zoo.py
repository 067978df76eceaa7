"""The book's trained models, trained once per machine and cached (chapters 5-9).

Chapters 1, 2 and 4 train their model in plain sight. Later chapters need the
same trained models again; :func:`trained_autoencoder` trains one exactly as
those chapters do (seed 42, 10 epochs, full data) and caches its weights and
history under ``$SPARSE_AE_CACHE/models`` (default ``~/.cache/sparse_ae``).

A cached model is bit-identical to a freshly trained one, because training is
deterministic. The cache key includes the model's settings, the data, the
source of every ``sparse_ae`` module that takes part in training, and the
versions of Keras, TensorFlow and NumPy, so a change to any of them retrains. Either way the function prints the same
per-epoch log, so a chapter's output does not depend on the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import models
from .data import cache_dir
from .reproducibility import seed_everything
from .training import EpochLogger, train

__all__ = ["BOOK_MODELS", "trained_autoencoder"]

#: name -> (builder, keyword arguments): the book's three models.
BOOK_MODELS = {
    "baseline": (models.build_stacked_autoencoder, {}),
    "l1": (models.build_sparse_l1_autoencoder, {"l1": 1e-3}),
    "kl": (models.build_sparse_kl_autoencoder, {"weight": 0.05, "target": 0.1}),
}


#: The modules whose code decides the trained weights.
_TRAINING_MODULES = (
    "layers.py", "metrics.py", "models.py", "regularizers.py",
    "reproducibility.py", "training.py", "zoo.py",
)


def _source_digest():
    h = hashlib.sha256()
    for path in (Path(__file__).parent / name for name in _TRAINING_MODULES):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def trained_autoencoder(name, X_train, X_valid, epochs=10, seed=42, print_fn=print):
    """``(encoder, decoder, autoencoder)`` for one of :data:`BOOK_MODELS`, trained.

    Trains exactly as the chapters do (``seed_everything(seed)``, build,
    :func:`sparse_ae.training.train`) unless a cached copy exists, and prints
    the per-epoch log either way.
    """
    if name not in BOOK_MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(BOOK_MODELS)}")
    build, kwargs = BOOK_MODELS[name]
    key = json.dumps(
        {
            "name": name, "kwargs": kwargs, "epochs": epochs, "seed": seed,
            "data": [hashlib.sha256(np.ascontiguousarray(X)).hexdigest() for X in (X_train, X_valid)],
            "source": _source_digest(),
            "versions": [keras.__version__, tf.__version__, np.__version__],
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    weights_path = cache_dir() / "models" / f"{name}-{digest}.weights.h5"
    log_path = weights_path.with_suffix("").with_suffix(".log.json")

    seed_everything(seed)
    encoder, decoder, autoencoder = build(**kwargs)
    if weights_path.is_file() and log_path.is_file():
        autoencoder.load_weights(weights_path)
        for line in json.loads(log_path.read_text()):
            print_fn(line)
        return encoder, decoder, autoencoder

    lines = []

    def record(line):
        lines.append(line)
        print_fn(line)

    train(autoencoder, X_train, X_valid, epochs=epochs, logger=EpochLogger(print_fn=record))
    try:
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = weights_path.with_name(f"tmp-{os.getpid()}-{weights_path.name}")
        autoencoder.save_weights(tmp)
        log_path.write_text(json.dumps(lines))
        os.replace(tmp, weights_path)
    except OSError:
        pass  # no writable cache: the next call trains again
    return encoder, decoder, autoencoder
