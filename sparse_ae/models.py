"""The book's three autoencoders (chapters 1, 2 and 4), and a TopK one (chapter 9).

Each builder returns ``(encoder, decoder, autoencoder)``, compiled exactly as
the book compiles them: binary cross-entropy, plain SGD with a learning rate
of 1.0, and :func:`sparse_ae.metrics.rounded_accuracy`. The chapters train
them with :func:`sparse_ae.training.train`, which makes ``fit``'s updates
faster; ``benchmarks/bench_fit.py`` compares the two.

(The compile does not set ``steps_per_execution``: on the TensorFlow
backend, Keras traces ``predict`` with that many unrolled steps, and the
first ``predict`` of each model took about 11 s instead of 0.7 s.)
"""

from __future__ import annotations

import numbers

import keras

from .layers import TopKSparsity
from .metrics import rounded_accuracy
from .regularizers import (
    KLActivityRegularization,
    KLDivergenceRegularizer,
    check_non_negative,
)

__all__ = [
    "build_stacked_autoencoder",
    "build_sparse_l1_autoencoder",
    "build_sparse_kl_autoencoder",
    "build_topk_autoencoder",
    "compile_autoencoder",
]



def _check_codings_size(codings_size):
    if (
        isinstance(codings_size, bool)
        or not isinstance(codings_size, numbers.Integral)
        or codings_size < 1
    ):
        raise ValueError(
            f"codings_size must be a positive integer, got {codings_size!r}"
        )
    return int(codings_size)


def compile_autoencoder(autoencoder):
    """Compile as the book does."""
    autoencoder.compile(
        loss="binary_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=1.0),
        metrics=[rounded_accuracy],
    )
    return autoencoder


def _build(make_coding_layers, codings_size):
    # Layers are created in the order of the book's listing: Keras draws
    # each initializer's seed when its layer is created, so this order is
    # what makes a seeded build start from the same weights as the book's
    # code.
    encoder = keras.Sequential(name="encoder")
    encoder.add(keras.Input(shape=(28, 28)))
    encoder.add(keras.layers.Flatten())
    encoder.add(keras.layers.Dense(100, activation="selu"))
    for layer in make_coding_layers():
        encoder.add(layer)
    decoder = keras.Sequential(
        [
            keras.Input(shape=(codings_size,)),
            keras.layers.Dense(100, activation="selu"),
            keras.layers.Dense(28 * 28, activation="sigmoid"),
            keras.layers.Reshape((28, 28)),
        ],
        name="decoder",
    )
    autoencoder = keras.Sequential([encoder, decoder], name="autoencoder")
    compile_autoencoder(autoencoder)
    return encoder, decoder, autoencoder


def build_stacked_autoencoder(codings_size=30):
    """The baseline: 30 sigmoid codings, no sparsity penalty (chapter 1)."""
    codings_size = _check_codings_size(codings_size)
    return _build(
        lambda: [keras.layers.Dense(codings_size, activation="sigmoid")],
        codings_size,
    )


def build_sparse_l1_autoencoder(
    l1=1e-3, codings_size=300, *, as_layer=True
):
    """300 sigmoid codings with an l1 activity penalty (chapter 2).

    As in the book, the penalty is an ``ActivityRegularization(l1=l1)``
    layer after the coding layer. With ``as_layer=False`` it is the coding
    layer's ``activity_regularizer=keras.regularizers.l1(l1)`` instead: the
    same loss, as chapter 2 shows, and from the same seed the same initial
    weights.
    """
    codings_size = _check_codings_size(codings_size)
    l1 = check_non_negative("l1", l1)
    if as_layer:
        coding_layers = lambda: [  # noqa: E731
            keras.layers.Dense(codings_size, activation="sigmoid"),
            keras.layers.ActivityRegularization(l1=l1),
        ]
    else:
        coding_layers = lambda: [  # noqa: E731
            keras.layers.Dense(
                codings_size,
                activation="sigmoid",
                activity_regularizer=keras.regularizers.l1(l1),
            ),
        ]
    return _build(coding_layers, codings_size)


def build_sparse_kl_autoencoder(
    weight=0.05, target=0.1, codings_size=300, *, momentum=None
):
    """300 sigmoid codings with the KL sparsity regularizer (chapter 4).

    As in the book, the penalty is the coding layer's
    ``activity_regularizer``, :class:`KLDivergenceRegularizer`, which takes
    each unit's mean activation ``q_j`` over the batch. With ``momentum``
    (a number in [0, 1)) it is a :class:`KLActivityRegularization` layer
    after the coding layer instead, whose ``q_j`` is a running average over
    batches; from the same seed, both start from the same weights.
    """
    codings_size = _check_codings_size(codings_size)
    if momentum is not None:
        layer = KLActivityRegularization(weight, target, momentum)
        return _build(
            lambda: [
                keras.layers.Dense(codings_size, activation="sigmoid"),
                layer,
            ],
            codings_size,
        )
    regularizer = KLDivergenceRegularizer(weight=weight, target=target)
    return _build(
        lambda: [
            keras.layers.Dense(
                codings_size,
                activation="sigmoid",
                activity_regularizer=regularizer,
            )
        ],
        codings_size,
    )


def build_topk_autoencoder(k, codings_size=300):
    """300 sigmoid codings of which only the ``k`` largest are kept.

    The same encoder and decoder as the book's sparse models, with
    :class:`sparse_ae.layers.TopKSparsity` after the coding layer instead
    of a penalty. ``k`` must be a positive integer no larger than
    ``codings_size``. Introduced in chapter 9.
    """
    codings_size = _check_codings_size(codings_size)
    return _build(
        lambda: [
            keras.layers.Dense(codings_size, activation="sigmoid"),
            TopKSparsity(k),
        ],
        codings_size,
    )
