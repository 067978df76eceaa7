"""Metrics: the book's rounded accuracy, a report of how sparse codings are,
and the standard measures of a sparse autoencoder (SAE) from chapters 11 and 12."""

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
    "fraction_variance_explained",
    "normalized_mse",
    "l0",
    "silent_fraction",
    "loss_recovered",
    "pareto_front",
]


@keras.saving.register_keras_serializable(package="sparse_ae")
def rounded_accuracy(y_true, y_pred):
    """Binary accuracy after rounding both the target and the reconstruction.

    A pixel counts as right when both are on the same side of 0.5. This is the
    book's metric for autoencoders. Introduced in chapter 1.
    """
    return keras.metrics.binary_accuracy(
        ops.round(y_true), ops.round(y_pred)
    )


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
        raise ValueError(
            f"threshold must be a finite number, got {threshold!r}"
        )
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
    reconstructions = autoencoder.predict(
        X, batch_size=batch_size, verbose=0
    )
    return float(
        np.mean(
            ops.convert_to_numpy(
                keras.losses.binary_crossentropy(X, reconstructions)
            )
        )
    )


# ------------------------------------------------------------ SAE metrics
#
# The functions below take NumPy arrays (anything np.asarray accepts) and
# return Python floats. Like the SAE module, they call an SAE's code its
# *latents*, the interpretability literature's word for codings.


def _as_finite(name, array, dtype=np.float64):
    """``array`` as a non-empty array of at least one axis, all finite.

    ``dtype=None`` keeps a numeric array's own dtype (no float64 copy of a
    large matrix of latents).
    """
    try:
        a = np.asarray(array, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name} must be an array of numbers: {error}"
        ) from None
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    if a.ndim == 0 or a.size == 0:
        raise ValueError(
            f"{name} must be a non-empty array of shape (n_examples, ...), got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _as_pair(x, x_hat):
    """``x`` and ``x_hat`` as finite arrays of the same shape ``(n, d)``, the
    trailing axes of each example flattened into one."""
    x = _as_finite("x", x)
    x_hat = _as_finite("x_hat", x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(
            f"x and x_hat must have the same shape, got {x.shape} and {x_hat.shape}"
        )
    return x.reshape(len(x), -1), x_hat.reshape(len(x_hat), -1)


def _as_latents(latents):
    a = _as_finite("latents", latents, dtype=None)
    if a.ndim != 2:
        raise ValueError(
            f"latents must be a 2-D array (n_examples, n_latents), got shape {a.shape}"
        )
    return a


def fraction_variance_explained(x, x_hat):
    """``1 - sum |x - x_hat|^2 / sum |x - mean(x)|^2``, the mean taken over examples.

    The share of the data's variance that the reconstruction ``x_hat``
    captures: 1 for a perfect reconstruction, 0 for one no better than
    predicting the mean example, negative for a worse one. ``x`` and
    ``x_hat`` have the same shape ``(n_examples, ...)``; the trailing axes are
    flattened (so 28x28 images work as they are). Raises ``ValueError`` if
    every example of ``x`` is the same (there is no variance to explain).

    Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    x, x_hat = _as_pair(x, x_hat)
    total = np.sum(np.square(x - x.mean(axis=0)))
    if total == 0:
        raise ValueError(
            "x has no variance (every example is the same): nothing to explain"
        )
    return float(1.0 - np.sum(np.square(x - x_hat)) / total)


def normalized_mse(x, x_hat):
    """``sum |x - x_hat|^2 / sum |x - mean(x)|^2``: Gao et al.'s *normalized MSE*.

    The squared error of the reconstruction relative to that of predicting
    the mean example: 0 for a perfect reconstruction, 1 for one no better
    than the mean. It is ``1 - fraction_variance_explained(x, x_hat)``, and on
    the training data it is the reconstruction term of
    :class:`sparse_ae.sae.SparseAutoencoder`'s loss (which divides by the
    variance stored by ``adapt``). Shapes as in
    :func:`fraction_variance_explained`; raises ``ValueError`` if every
    example of ``x`` is the same.

    Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    return 1.0 - fraction_variance_explained(x, x_hat)


def l0(latents):
    """Mean number of non-zero latents per example: the L0 "norm" of the code.

    Counts entries that are exactly non-zero (no threshold): an SAE's ReLU or
    TopK produces exact zeros. ``latents`` has shape ``(n_examples, n_latents)``.

    Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    return float(np.count_nonzero(_as_latents(latents), axis=1).mean())


def silent_fraction(latents):
    """Share of latents that are exactly zero on every example of ``latents``.

    ``latents`` has shape ``(n_examples, n_latents)``. A latent *silent* on
    these inputs reconstructs nothing of them. It is not the same as *dead*,
    which :class:`sparse_ae.sae.SparseAutoencoder` counts during training (no
    firing in its last ``dead_after`` training examples, the definition AuxK
    uses, reported by ``fit`` as ``dead_fraction``): a rare latent can be
    silent on a small validation set and alive in training.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    return float(np.mean(~np.any(_as_latents(latents) != 0, axis=0)))


def _as_finite_number(name, value):
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return x


def loss_recovered(original_loss, reconstructed_loss, ablated_loss):
    """``(ablated - reconstructed) / (ablated - original)``: the share of the loss gap closed.

    Replace a network's activations with an SAE's reconstruction of them and
    measure the network's loss (``reconstructed_loss``); compare it with the
    loss of the untouched network (``original_loss``) and of the network with
    those activations set to zero (``ablated_loss``). The result is 1 when the
    reconstruction is as good as the original activations, 0 when it is no
    better than zeros; it can fall outside [0, 1].

    The ratio does not change when every loss goes through the same map
    ``a * loss + b`` (``a != 0``), so it works for cross-entropy, for the error
    rate (1 - accuracy), and for accuracies passed directly: a reconstruction
    that recovers 90% of the lost accuracy scores 0.9 either way.

    Raises ``ValueError`` on a non-finite input, or when ``ablated_loss``
    equals ``original_loss`` (ablating changes nothing: there is no gap).

    Introduced in chapter 12, *An SAE on a real network*.
    """
    original = _as_finite_number("original_loss", original_loss)
    reconstructed = _as_finite_number(
        "reconstructed_loss", reconstructed_loss
    )
    ablated = _as_finite_number("ablated_loss", ablated_loss)
    if ablated == original:
        raise ValueError(
            f"ablated_loss equals original_loss ({ablated}): zero-ablation does not "
            "change the loss, so there is no gap to recover"
        )
    return float((ablated - reconstructed) / (ablated - original))


def pareto_front(points):
    """Indices of the points that no other point beats on both coordinates.

    ``points`` is a sequence of ``(cost_1, cost_2)`` pairs where lower is
    better on both, e.g. ``(mean L0, reconstruction loss)``. A point is on the
    front unless another point is at least as good on both coordinates and
    strictly better on one. Returns the indices sorted by the first
    coordinate. Introduced in chapter 7, *Choosing the sparsity knobs*.
    """
    p = _as_finite("points", points)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(
            f"points must be a sequence of (cost_1, cost_2) pairs, got shape {p.shape}"
        )
    front = [
        i
        for i in range(len(p))
        if not np.any(np.all(p <= p[i], axis=1) & np.any(p < p[i], axis=1))
    ]
    return sorted(front, key=lambda i: (p[i, 0], p[i, 1]))
