"""The KL-divergence sparsity regularizer (chapters 3 and 4).

For a coding layer with ``m`` units and a batch of activations ``a[i, j]``,
the mean activation of unit ``j`` over the batch is ``q_j = mean_i a[i, j]``.
The penalty is

    weight * sum_j KL(target || q_j),
    KL(p || q) = p log(p / q) + (1 - p) log((1 - p) / (1 - q)),

the KL divergence between two Bernoulli distributions: "fires with
probability p" versus "fires with probability q". Keras (3.14 and later, like
tf.keras 2) then divides every activity penalty by the batch size.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["bernoulli_kl", "check_non_negative", "KLDivergenceRegularizer"]


def bernoulli_kl(target, q, epsilon=None):
    """Elementwise ``KL(target || q)`` between Bernoulli distributions.

    ``target`` is a number strictly between 0 and 1; ``q`` a tensor, an
    array or a Python number. ``q`` is clipped to ``[epsilon, 1 - epsilon]``
    (``keras.config.epsilon()`` by default), so that ``q`` of exactly 0 or
    1 gives a finite value. The clipping has a price that chapter 3 shows:
    where ``q < epsilon`` the gradient is exactly zero.

    Introduced in chapter 3, *Measuring sparsity: the KL divergence*.
    """
    target = _check_target(target)
    if epsilon is None:
        epsilon = keras.config.epsilon()
    q = ops.clip(
        ops.convert_to_tensor(q, dtype=_float_dtype(q)),
        epsilon,
        1.0 - epsilon,
    )
    return target * ops.log(target / q) + (1.0 - target) * ops.log(
        (1.0 - target) / (1.0 - q)
    )


def _float_dtype(q):
    """A tensor's own float dtype, or Keras's default float for anything else."""
    dtype = getattr(q, "dtype", None)
    if dtype is not None and "float" in str(dtype):
        return None
    return keras.config.floatx()


def check_non_negative(name, value):
    """Return ``value`` as a float, or raise ``ValueError`` naming ``name``
    unless it is a finite number >= 0 (a penalty's weight or coefficient)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or x < 0:
        raise ValueError(
            f"{name} must be a finite number >= 0, got {value!r}"
        )
    return x


def _check_target(target):
    try:
        x = float(target)
    except (TypeError, ValueError):
        x = math.nan
    if not 0.0 < x < 1.0:  # also rejects NaN
        raise ValueError(
            "target must be a number strictly between 0 and 1, "
            f"got {target!r}"
        )
    return x


@keras.saving.register_keras_serializable(package="sparse_ae")
class KLDivergenceRegularizer(keras.regularizers.Regularizer):
    """``weight * sum_j KL(target || q_j)``, ``q_j`` unit j's mean activation.

    Use it as the ``activity_regularizer`` of a sigmoid coding layer. The
    activations must lie in [0, 1]; the mean is taken over the batch (axis
    0), so the batch must be large enough for ``q_j`` to be a fair estimate.

    Introduced in chapter 4, *The KL sparse autoencoder*.
    """

    def __init__(self, weight=0.05, target=0.1):
        self.weight = check_non_negative("weight", weight)
        self.target = _check_target(target)

    def __call__(self, inputs):
        mean_activities = ops.mean(inputs, axis=0)
        return self.weight * ops.sum(
            bernoulli_kl(self.target, mean_activities)
        )

    def get_config(self):
        return {"weight": self.weight, "target": self.target}

    def __repr__(self):
        return (
            f"KLDivergenceRegularizer(weight={self.weight}, "
            f"target={self.target})"
        )
