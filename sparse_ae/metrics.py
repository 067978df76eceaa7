"""Metrics: the book's rounded accuracy, and a report of how sparse codings are."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = [
    "rounded_accuracy",
    "sparsity_report",
    "lifetime_sparsity",
    "population_sparsity",
    "reconstruction_loss",
]


@keras.saving.register_keras_serializable(package="sparse_ae")
def rounded_accuracy(y_true, y_pred):
    """Binary accuracy after rounding both the target and the reconstruction.

    A pixel counts as right when both are on the same side of 0.5. This is the
    book's metric for autoencoders. Introduced in chapter 1.
    """
    return keras.metrics.binary_accuracy(ops.round(y_true), ops.round(y_pred))


def sparsity_report(codings, threshold=0.1):
    """Summarise how sparse a batch of codings is.

    ``codings`` is an array of shape ``(n_examples, n_units)`` (e.g. the
    encoder's output on the validation set). A unit is *active* on an example
    when its activation is at least ``threshold``.

    Returns a dict with:

    - ``mean_activation``: mean over all activations;
    - ``fraction_inactive``: fraction of activations below ``threshold``;
    - ``fraction_dead``: fraction of units never active on these inputs;
    - ``mean_active_units``: average number of active units per example
      (the L0 of the code, i.e. population sparsity);
    - ``neuron_mean_activations``: each unit's mean activation (``n_units``,);
    - ``n_examples``, ``n_units``, ``threshold``.

    Introduced in chapter 1; used in every chapter after it.
    """
    a = _as_codings(codings)
    threshold = _check_threshold(threshold)
    active = a >= threshold
    return {
        "mean_activation": float(a.mean()),
        "fraction_inactive": float(1.0 - active.mean()),
        "fraction_dead": float((~active.any(axis=0)).mean()),
        "mean_active_units": float(active.sum(axis=1).mean()),
        "neuron_mean_activations": a.mean(axis=0),
        "n_examples": a.shape[0],
        "n_units": a.shape[1],
        "threshold": threshold,
    }


def _as_codings(codings):
    a = np.asarray(codings, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(
            f"codings must be a non-empty 2-D array (n_examples, n_units), got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError("codings contain NaN or infinite values")
    return a


def _check_threshold(threshold):
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return value


def _active(codings, threshold):
    return _as_codings(codings) >= _check_threshold(threshold)


def lifetime_sparsity(codings, threshold=0.1):
    """Per unit: the fraction of examples on which it is active (>= threshold).

    A unit with lifetime sparsity 0 is dead on these inputs; one with 1 fires
    on everything. Introduced in chapter 6, *What the units learn*.
    """
    return _active(codings, threshold).mean(axis=0)


def population_sparsity(codings, threshold=0.1):
    """Per example: how many units are active (>= threshold), the L0 of its code.

    Introduced in chapter 6, *What the units learn*.
    """
    return _active(codings, threshold).sum(axis=1)


def reconstruction_loss(autoencoder, X, batch_size=1000):
    """Mean binary cross-entropy between ``X`` and its reconstruction.

    Unlike Keras's reported loss, it leaves out any sparsity penalty, so
    models with different penalties can be compared. Introduced in chapter 5.
    """
    reconstructions = autoencoder.predict(X, batch_size=batch_size, verbose=0)
    return float(np.mean(ops.convert_to_numpy(keras.losses.binary_crossentropy(X, reconstructions))))
