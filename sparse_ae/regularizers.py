"""The KL-divergence sparsity regularizer (chapters 3 and 4).

For a coding layer with ``m`` units and a batch of activations ``a[i, j]``,
the mean activation of unit ``j`` over the batch is ``q_j = mean_i a[i, j]``.
The penalty is

    weight * sum_j KL(target || q_j),
    KL(p || q) = p log(p / q) + (1 - p) log((1 - p) / (1 - q)),

the KL divergence between two Bernoulli distributions: "fires with
probability p" versus "fires with probability q". Keras (3.14 and later, like
tf.keras 2) then divides every activity penalty by the batch size.

:class:`KLActivityRegularization` is the same penalty as a layer, which can
estimate ``q_j`` with a running average over batches instead of one batch's
mean (chapter 4).
"""

from __future__ import annotations

import math
import numbers

import keras
from keras import ops

__all__ = [
    "bernoulli_kl",
    "check_non_negative",
    "KLActivityRegularization",
    "KLDivergenceRegularizer",
]


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


def _check_momentum(momentum):
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        x = math.nan  # True, None and "0.5" are mistakes, not numbers
    else:
        x = float(momentum)
    if not 0.0 <= x < 1.0:  # also rejects NaN
        raise ValueError(
            f"momentum must be a number in [0, 1), got {momentum!r}"
        )
    return x


@keras.saving.register_keras_serializable(package="sparse_ae")
class KLActivityRegularization(keras.layers.Layer):
    """The KL sparsity penalty as a layer, with ``q_j`` a running average.

    Put it after a sigmoid coding layer, as the book puts
    ``ActivityRegularization`` after the l1 model's. It passes its input
    through unchanged and adds ``weight * sum_j KL(target || q_j) / n`` to
    the loss (``n`` the batch size: Keras's convention for activity
    penalties), like :class:`KLDivergenceRegularizer`, with one difference
    in training: ``q_j`` is not the batch's mean activation ``m_j`` but an
    exponentially decaying average of it over the batches seen so far,

        q_j <- momentum * q_j + (1 - momentum) * m_j

    (the first batch's mean at the first step), as Hinton's practical guide
    to RBMs (2010, section 11) estimates a unit's mean activity; UFLDL's
    sparse autoencoder uses the mean over the whole training set. The
    penalty's value is the KL divergence at that average, and its gradient
    flows through the batch's mean as if it were the average::

        d loss / d a_ij = weight / n**2 * KL'(q_j),
        KL'(q) = (q - target) / (q (1 - q)),

    the batch version's gradient with the running average in place of the
    batch mean. ``momentum=0`` is exactly the batch version. The average is
    a non-trainable weight (``running_mean``), saved with the model; it is
    updated only in training. Outside training (``evaluate``, ``predict``)
    the layer adds the batch version's penalty, so that Keras's validation
    loss means the same for both.

    Introduced in chapter 4, *The KL sparse autoencoder*.
    """

    def __init__(self, weight=0.05, target=0.1, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.weight = check_non_negative("weight", weight)
        self.target = _check_target(target)
        self.momentum = _check_momentum(momentum)

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "KLActivityRegularization takes codings of shape "
                f"(batch, units), got {tuple(input_shape)}"
            )
        self.running_mean = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.target),
            trainable=False,
            name="running_mean",
        )
        self.steps = self.add_weight(
            shape=(),
            initializer="zeros",
            trainable=False,
            name="steps",
        )

    def call(self, inputs, training=False):
        batch_mean = ops.mean(inputs, axis=0)
        q = batch_mean
        if training:
            momentum = ops.where(
                self.steps > 0,
                ops.cast(self.momentum, batch_mean.dtype),
                ops.cast(0.0, batch_mean.dtype),
            )
            running = momentum * ops.cast(
                self.running_mean, batch_mean.dtype
            ) + (1.0 - momentum) * ops.stop_gradient(batch_mean)
            self.running_mean.assign(
                ops.cast(running, self.running_mean.dtype)
            )
            self.steps.assign(self.steps + 1.0)
            # the value of the running average, the gradient of the batch mean
            q = batch_mean + ops.stop_gradient(running - batch_mean)
        penalty = self.weight * ops.sum(bernoulli_kl(self.target, q))
        n = ops.cast(ops.shape(inputs)[0], penalty.dtype)
        self.add_loss(ops.divide_no_nan(penalty, n))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "weight": self.weight,
            "target": self.target,
            "momentum": self.momentum,
        }
