"""The toy model of superposition (chapters 10 and 11).

Elhage et al. (2022), *Toy Models of Superposition*
(https://transformer-circuits.pub/2022/toy_model/index.html), squeeze
``n`` sparse features ``x`` into ``m < n`` dimensions and back::

    h     = W x                   (the hidden activations, m numbers)
    x_hat = ReLU(W^T h + b)

and train ``W`` (``m x n``) and ``b`` to minimise the importance-weighted
squared error ``sum_i I_i (x_i - x_hat_i)^2``. Column ``W_i`` of ``W`` is
the direction in which feature ``i`` is stored in the hidden space.

This module holds the data (:func:`toy_features`), the model
(:class:`ToyModel`, many independent *instances* trained at once, one per
setting), and the measures the chapters read off ``W``
(:func:`feature_norms`, :func:`superposition`, :func:`neighbour_angles`,
:func:`cosine_similarities`, :func:`max_cosine_similarity`).

Lines are at most 77 characters: the chapters show this source.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops

from ._checks import check_positive_int, check_seed

__all__ = [
    "ToyModel",
    "cosine_similarities",
    "feature_norms",
    "geometric_importance",
    "max_cosine_similarity",
    "neighbour_angles",
    "superposition",
    "toy_features",
]


def _check_sparsity(sparsity):
    """``sparsity`` as a 1-D float array of values in [0, 1), and whether
    it was a single number."""
    try:
        s = np.asarray(sparsity, dtype=np.float64)
    except (TypeError, ValueError):
        s = np.array([np.nan])
    if s.ndim > 1 or s.size == 0:
        raise ValueError(
            "sparsity must be a number or a 1-D sequence of numbers, "
            f"got {sparsity!r}"
        )
    if not np.all(np.isfinite(s)) or np.any(s < 0) or np.any(s >= 1):
        raise ValueError(
            "sparsity must lie in [0, 1) (the probability that a feature "
            f"is 0), got {sparsity!r}"
        )
    return s.reshape(-1), s.ndim == 0


def toy_features(n_examples, n_features, sparsity, seed=None):
    """Sparse synthetic features, as Elhage et al. (2022) draw them.

    Each feature of each example is, independently, 0 with probability
    ``sparsity`` and otherwise uniform on [0, 1]. ``sparsity`` is a
    number, or a sequence with one sparsity per instance of a
    :class:`ToyModel`.

    Returns a float32 array of shape ``(n_examples, n_features)`` for a
    single number, and ``(n_examples, n_instances, n_features)`` for a
    sequence. ``seed`` seeds a NumPy ``Generator``: the same seed gives the
    same data.

    Introduced in chapter 10, *Superposition in a toy model*.
    """
    n_examples = check_positive_int("n_examples", n_examples)
    n_features = check_positive_int("n_features", n_features)
    s, single = _check_sparsity(sparsity)
    rng = np.random.default_rng(check_seed(seed))
    shape = (n_examples, len(s), n_features)
    values = rng.uniform(0.0, 1.0, size=shape).astype(np.float32)
    present = rng.uniform(0.0, 1.0, size=shape) >= s[:, None]
    x = np.where(present, values, np.float32(0.0))
    return x[:, 0, :] if single else x


def geometric_importance(n_features, ratio):
    """``ratio ** i`` for ``i = 0 .. n_features - 1``: feature 0 matters
    most.

    Elhage et al. (2022) use ratios such as 0.7 and 0.9. ``ratio`` must lie
    in (0, 1]; 1 makes every feature equally important.

    Introduced in chapter 10, *Superposition in a toy model*.
    """
    n_features = check_positive_int("n_features", n_features)
    try:
        r = float(ratio)
    except (TypeError, ValueError):
        r = float("nan")
    if not 0 < r <= 1:
        raise ValueError(f"ratio must be a number in (0, 1], got {ratio!r}")
    return r ** np.arange(n_features, dtype=np.float64)


def _check_importance(importance, n_features):
    if importance is None:
        return [1.0] * n_features
    try:
        values = np.asarray(importance, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"importance must be a sequence of numbers, got {importance!r}"
        ) from None
    if values.shape != (n_features,):
        raise ValueError(
            "importance must have one value per feature "
            f"(n_features={n_features}), got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("importance must be finite and > 0 everywhere")
    return [float(v) for v in values]


@keras.saving.register_keras_serializable(package="sparse_ae")
class ToyModel(keras.Model):
    """Elhage et al.'s toy model, ``x_hat = ReLU(W^T W x + b)``, in many
    instances.

    ``ToyModel(n_features, n_hidden, n_instances=..., importance=...)``
    holds ``n_instances`` independent toy models, each with its own ``W``
    and ``b``, trained together: the instances share nothing but the
    batch, and the loss is the sum of their losses, so each one's gradient
    is its own. This is how one ``fit`` trains a model per sparsity.

    Arguments:

    - ``n_features``: ``n``, the number of features (inputs and outputs);
    - ``n_hidden``: ``m``, the hidden dimension;
    - ``n_instances``: number of independent models;
    - ``importance``: ``I_i``, one positive weight per feature (e.g.
      :func:`geometric_importance`); None: all 1;
    - ``seed``: seed of the initial ``W`` (None: Keras's global seed, as
      set by :func:`sparse_ae.reproducibility.seed_everything`).

    Every bad argument raises ``ValueError`` naming it.

    **Weights.** ``W`` has shape ``(n_instances, n_hidden, n_features)``:
    ``W[k, :, i]`` is the column ``W_i`` of instance ``k``, the direction
    of feature ``i`` in its hidden space. It starts Glorot-normal, as in
    Elhage et al.'s code; ``b`` (``(n_instances, n_features)``) starts at 0.

    **Inputs** have shape ``(n_examples, n_instances, n_features)``
    (:func:`toy_features` with one sparsity per instance).

    **Loss.** Compile with an optimizer only and fit on the inputs alone;
    the target is the input. Each instance's loss is the
    importance-weighted squared error, summed over features and averaged
    over examples, ``mean_examples sum_i I_i (x_i - x_hat_i)^2``; the
    model's loss is the sum over instances (:meth:`instance_losses` gives
    them one by one).

    Introduced in chapter 10, *Superposition in a toy model*.
    """

    def __init__(
        self,
        n_features,
        n_hidden,
        *,
        n_instances=1,
        importance=None,
        seed=None,
        **kwargs,
    ):
        n_features = check_positive_int("n_features", n_features)
        n_hidden = check_positive_int("n_hidden", n_hidden)
        n_instances = check_positive_int("n_instances", n_instances)
        importance = _check_importance(importance, n_features)
        seed = check_seed(seed)
        super().__init__(**kwargs)
        self.n_features = n_features
        self.n_hidden = n_hidden
        self.n_instances = n_instances
        self.importance = importance
        self.seed = seed
        # Glorot normal on each instance's (n_hidden, n_features) matrix.
        std = float(np.sqrt(2.0 / (n_features + n_hidden)))
        self.W = self.add_weight(
            shape=(n_instances, n_hidden, n_features),
            initializer=keras.initializers.RandomNormal(
                stddev=std, seed=seed
            ),
            name="W",
        )
        self.b = self.add_weight(
            shape=(n_instances, n_features), initializer="zeros", name="b"
        )
        self._importance = ops.convert_to_tensor(
            np.asarray(importance, np.float32)
        )
        self.built = True

    def _as_inputs(self, x):
        x = ops.cast(x, self.compute_dtype)
        expected = (self.n_instances, self.n_features)
        if len(x.shape) != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                "inputs must have shape (n_examples, "
                f"n_instances={self.n_instances}, "
                f"n_features={self.n_features}), got shape {tuple(x.shape)}"
            )
        return x

    # The instances axis goes first inside the model, so that each product
    # is one batched matrix product (faster on a CPU than an einsum).

    def _hidden_by_instance(self, x):
        # x: (instances, examples, features); h = W x for each example
        x = ops.transpose(self._as_inputs(x), (1, 0, 2))
        return ops.matmul(x, ops.transpose(self.W, (0, 2, 1)))

    def hidden(self, x):
        """``h = W x`` for each instance, shape
        ``(n_examples, n_instances, n_hidden)``."""
        return ops.transpose(self._hidden_by_instance(x), (1, 0, 2))

    def call(self, inputs):
        """``x_hat = ReLU(W^T h + b)``, shaped like ``inputs``."""
        h = self._hidden_by_instance(inputs)
        x_hat = ops.relu(ops.matmul(h, self.W) + ops.expand_dims(self.b, 1))
        return ops.transpose(x_hat, (1, 0, 2))

    def _instance_losses(self, x, x_hat):
        x = ops.cast(x, x_hat.dtype)
        error = self._importance * ops.square(x - x_hat)
        return ops.mean(ops.sum(error, axis=2), axis=0)

    def instance_losses(self, x):
        """Each instance's loss on ``x``, a NumPy array
        ``(n_instances,)``."""
        x = self._as_inputs(x)
        return ops.convert_to_numpy(self._instance_losses(x, self(x)))

    def best_instances(self, x, n_settings, tolerance=0.02):
        """The first instance of each setting whose loss on ``x`` is
        within ``tolerance`` of the setting's lowest.

        A toy model can end in a poor local minimum, so the chapters train
        each setting (e.g. a sparsity) from several random starts: the
        instances are ``n_settings`` consecutive groups of equal size, one
        group per setting (``np.repeat(sparsities, n_starts)``). In each
        group, the pick is the instance of lowest index whose loss is at
        most ``(1 + tolerance)`` times the group's lowest loss. Returns
        the picks, a NumPy array ``(n_settings,)`` of instance indices.

        Why not simply the lowest loss? Two starts often end in minima
        whose losses differ by a fraction of a percent, and the rounding
        of another CPU (or library version) can swap their order; the
        argmin would then pick a different start and change every number
        read off it. A relative ``tolerance`` (default 2%) makes the pick
        change only if the losses move by about that much.
        ``tolerance=0`` gives the argmin.

        Introduced in chapter 10, *Superposition in a toy model*.
        """
        n_settings = check_positive_int("n_settings", n_settings)
        if self.n_instances % n_settings:
            raise ValueError(
                f"n_settings={n_settings} does not divide "
                f"n_instances={self.n_instances} into equal groups"
            )
        if (isinstance(tolerance, bool)
                or not isinstance(tolerance, numbers.Real)
                or not 0 <= tolerance < np.inf):
            raise ValueError(
                "tolerance must be a finite number >= 0 (a relative "
                f"margin on the loss), got {tolerance!r}"
            )
        losses = self.instance_losses(x).reshape(n_settings, -1)
        lowest = losses.min(axis=1, keepdims=True)
        near = losses <= lowest * (1 + tolerance)
        offsets = np.arange(n_settings) * losses.shape[1]
        return offsets + near.argmax(axis=1)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The sum over instances of the importance-weighted squared
        error; ``y`` is ignored."""
        if self.loss is not None:
            raise ValueError(
                f"loss={self.loss!r} was given to compile(), but a "
                "ToyModel brings its own loss (the importance-weighted "
                "squared error): compile it with an optimizer only"
            )
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by ToyModel")
        return ops.sum(self._instance_losses(x, y_pred))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, x, y_pred, sample_weight)

    def compute_output_shape(self, input_shape):
        return input_shape

    @property
    def weight_matrix(self):
        """``W`` as a NumPy array ``(n_instances, n_hidden, n_features)``."""
        return ops.convert_to_numpy(self.W)

    def get_config(self):
        return {
            **super().get_config(),
            "n_features": self.n_features,
            "n_hidden": self.n_hidden,
            "n_instances": self.n_instances,
            "importance": list(self.importance),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ------------------------------------------------------------ measures


def _as_weights(W, name="W"):
    try:
        W = np.asarray(W, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers") from None
    if W.ndim < 2 or 0 in W.shape:
        raise ValueError(
            f"{name} must have at least 2 non-empty axes, got {W.shape}"
        )
    if not np.all(np.isfinite(W)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return W


def feature_norms(W):
    """``|W_i|``: the length of each feature's column, shape
    ``(..., n_features)``.

    ``W`` has shape ``(..., n_hidden, n_features)`` (one instance, or all
    of a :class:`ToyModel`'s). A feature with ``|W_i|`` near 1 is stored;
    one near 0 is dropped.

    Introduced in chapter 10, *Superposition in a toy model*.
    """
    return np.linalg.norm(_as_weights(W), axis=-2)


def superposition(W, eps=1e-8):
    """``sum_{j != i} (W_i_hat . W_j)^2`` for each feature ``i``, shape
    ``(..., n_features)``.

    Elhage et al.'s measure of how much the other features share feature
    ``i``'s direction (``W_i_hat = W_i / |W_i|``): 0 when ``W_i`` is
    orthogonal to every other column, about ``|W_j|^2`` for each ``W_j``
    along it. A column shorter than ``eps`` has no direction and scores 0.

    Introduced in chapter 10, *Superposition in a toy model*.
    """
    W = _as_weights(W)
    norms = np.linalg.norm(W, axis=-2, keepdims=True)
    directions = np.where(norms > eps, W / np.maximum(norms, eps), 0.0)
    overlaps = np.einsum("...hi,...hj->...ij", directions, W) ** 2
    diagonal = np.diagonal(overlaps, axis1=-2, axis2=-1)
    return overlaps.sum(axis=-1) - diagonal


def neighbour_angles(vectors):
    """Angles, in degrees, between angularly adjacent 2-D vectors, going
    round the circle.

    ``vectors`` has shape ``(n, 2)`` (e.g. the columns of a 2-D toy model,
    ``W[k].T``). The ``n`` angles sum to 360; ``n`` vectors at the corners
    of a regular polygon give ``360 / n`` each.

    Introduced in chapter 10, *Superposition in a toy model*.
    """
    v = _as_weights(vectors, "vectors")
    if v.ndim != 2 or v.shape[1] != 2:
        raise ValueError(f"vectors must have shape (n, 2), got {v.shape}")
    polar = np.sort(np.degrees(np.arctan2(v[:, 1], v[:, 0])))
    return np.diff(np.append(polar, polar[0] + 360.0))


def cosine_similarities(directions, dictionary):
    """The cosine of every row of ``directions`` with every row of
    ``dictionary``, an array ``(n, k)``.

    ``directions`` ``(n, d)`` are the true features' directions (e.g. a
    toy model's columns, ``W.T``); ``dictionary`` ``(k, d)`` are an SAE's
    decoder rows. Rows of zero length raise ``ValueError``.

    Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    a = _as_weights(directions, "directions")
    b = _as_weights(dictionary, "dictionary")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            "directions and dictionary must be 2-D with the same width, "
            f"got {a.shape} and {b.shape}"
        )
    norms_a = np.linalg.norm(a, axis=1, keepdims=True)
    norms_b = np.linalg.norm(b, axis=1, keepdims=True)
    if np.any(norms_a == 0) or np.any(norms_b == 0):
        raise ValueError("directions and dictionary must have no zero rows")
    return (a / norms_a) @ (b / norms_b).T


def max_cosine_similarity(directions, dictionary):
    """For each row of ``directions``, its largest cosine with a row of
    ``dictionary``, an array ``(n,)``.

    A true feature is *recovered* when some dictionary row points its way:
    a value near 1. Arguments as in :func:`cosine_similarities`.

    Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    return cosine_similarities(directions, dictionary).max(axis=1)
