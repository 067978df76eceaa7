"""The modern sparse autoencoder (SAE) of interpretability research (chapters 11-13).

This is the SAE of Gao et al. (2024), *Scaling and evaluating sparse
autoencoders* (arXiv:2406.04093), written with ``keras.ops`` only, so that it
trains unchanged on Keras's TensorFlow and JAX backends::

    latents = activation((x - b_dec) @ W_enc + b_enc)
    x_hat   = latents @ W_dec + b_dec

The book's earlier autoencoders call their hidden code *codings*. Here we
follow the interpretability literature and call the SAE's code its *latents*;
each row of ``W_dec`` is the direction one latent writes, and together the rows
are the *dictionary*.

What makes it different from the book's earlier models:

- one bias, ``b_dec``, is subtracted before encoding and added back after
  decoding (the *pre-encoder bias*);
- the dictionary rows have unit norm, kept so by removing the gradient's
  component along each row before the optimizer's update and renormalising the
  rows after it (:func:`remove_parallel_gradient` and a ``UnitNorm``
  constraint);
- the encoder starts as the transpose of the decoder;
- sparsity comes either from an ℓ1 penalty on ReLU latents, or exactly from
  TopK, optionally with the AuxK loss that revives dead latents.

Importing :mod:`sparse_ae` registers :class:`SparseAutoencoder`, so a saved
model loads with ``keras.models.load_model`` after ``import sparse_ae``.
"""

from __future__ import annotations

import numbers

import keras
from keras import ops

from .regularizers import check_non_negative

__all__ = [
    "ACTIVATIONS",
    "AUXK_COEF",
    "DEAD_AFTER",
    "SparseAutoencoder",
    "keep_top_k",
    "remove_parallel_gradient",
]

#: The two ways to make latents sparse.
ACTIVATIONS = ("relu", "topk")

#: Weight of the AuxK loss, as in Gao et al. (2024), section A.2.
AUXK_COEF = 1 / 32

#: Default number of training examples after which a silent latent is dead.
#: Gao et al. use 10 million tokens, only about 76 of their batches of 131,072
#: tokens: a small fraction of training, so that AuxK starts reviving a latent
#: soon after it dies. Ten thousand examples is likewise a small fraction of
#: training here, under a fifth of an epoch of Fashion-MNIST's 55,000 training
#: images (about 300 of Keras's default batches of 32), yet long enough to be
#: sure: each of the 10 classes appears about 1,000 times in it, so a latent
#: silent on all of them is rarer than any feature that a class shares.
DEAD_AFTER = 10_000

# The counter of examples since a latent fired saturates here (int32).
_COUNTER_MAX = 2**31 - 1


def remove_parallel_gradient(weights):
    """Return ``weights`` unchanged; in the backward pass, make each row's
    gradient orthogonal to that row.

    The forward value is exactly ``weights``. The gradient that reaches
    ``weights`` is the incoming gradient ``g`` with, for each row ``w``, its
    component along ``w`` removed: ``g - (g . u) u`` with ``u = w / |w|``.
    That component would only change the row's length, which the unit-norm
    constraint undoes after each step anyway; removing it first means the
    optimizer spends its step on the row's direction (Gao et al., 2024).

    It works on every backend without a custom gradient: with ``u`` and
    ``stop_gradient(a)`` constant,
    ``w - u * (a - stop_gradient(a))`` with ``a = w . u`` equals ``w``, and its
    derivative applied to ``g`` is ``g - u (g . u)``.

    Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    norms = ops.sqrt(ops.sum(ops.square(weights), axis=1, keepdims=True))
    directions = ops.stop_gradient(
        weights / ops.maximum(norms, keras.config.epsilon())
    )
    along = ops.sum(weights * directions, axis=1, keepdims=True)
    return weights - directions * (along - ops.stop_gradient(along))


def keep_top_k(values, k):
    """Keep the ``k`` largest entries of each row of ``values``; zero the rest.

    Exactly ``k`` entries are kept per row (``ops.top_k`` breaks ties), and
    the gradient flows only through them. The kept values are scattered into a
    zero matrix, so the memory is that of ``values`` plus ``k`` per row (a
    mask built from one-hot vectors, as :class:`sparse_ae.layers.TopKSparsity`
    does, needs ``k`` times the memory of ``values``: too much for AuxK's
    hundreds of latents).

    Introduced in chapter 13, *TopK done properly*.
    """
    kept, indices = ops.top_k(values, k, sorted=False)
    rows = ops.broadcast_to(
        ops.expand_dims(
            ops.arange(ops.shape(values)[0], dtype=indices.dtype), 1
        ),
        ops.shape(indices),
    )
    coordinates = ops.reshape(ops.stack([rows, indices], axis=-1), (-1, 2))
    return ops.scatter(
        coordinates, ops.reshape(kept, (-1,)), ops.shape(values)
    )


def _reconstruction_mse(x, x_hat):
    """Mean over examples and inputs of the squared reconstruction error."""
    return ops.mean(ops.square(ops.cast(x, x_hat.dtype) - x_hat))


def _auxk_normalized_mse(residual, residual_hat):
    """``MSE(residual_hat, residual) / MSE(mean residual, residual)``.

    Gao et al. normalise the AuxK loss by the variance of its target (over the
    batch), so that it keeps its size as training shrinks the residual. It is 0
    when the residual does not vary over the batch (e.g. a batch of one).
    """
    error = ops.mean(ops.square(residual - residual_hat))
    variance = ops.mean(
        ops.square(residual - ops.mean(residual, axis=0, keepdims=True))
    )
    tiny = keras.config.epsilon()
    return ops.where(
        variance > tiny, error / ops.maximum(variance, tiny), 0.0
    )


# ---------------------------------------------------------------- arguments


def _check_positive_int(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_arguments(
    n_inputs, n_latents, activation, k, l1, auxk, auxk_coef, dead_after, seed
):
    """Validate the constructor's arguments; return them normalised, as a dict.

    Every error is a ``ValueError`` whose message starts with the argument's
    name.
    """
    n_inputs = _check_positive_int("n_inputs", n_inputs)
    n_latents = _check_positive_int("n_latents", n_latents)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {ACTIVATIONS}, got {activation!r}"
        )
    topk = activation == "topk"
    if topk and k is None:
        raise ValueError(
            "k must be given with activation='topk': how many latents to keep"
        )
    if not topk and k is not None:
        raise ValueError(
            f"k is only used with activation='topk', got k={k!r} with {activation!r}"
        )
    if k is not None:
        k = _check_positive_int("k", k)
        if k > n_latents:
            raise ValueError(f"k={k} is larger than n_latents={n_latents}")
    l1 = check_non_negative("l1", l1)
    if topk and l1 > 0:
        raise ValueError(
            "l1 must be 0 with activation='topk': TopK already fixes the sparsity, "
            "and an l1 penalty would only shrink the kept latents"
        )
    if auxk is not None:
        if not topk:
            raise ValueError(
                "auxk needs activation='topk' (AuxK picks dead latents by TopK)"
            )
        auxk = _check_positive_int("auxk", auxk)
        if auxk > n_latents:
            raise ValueError(
                f"auxk={auxk} is larger than n_latents={n_latents}"
            )
    auxk_coef = check_non_negative("auxk_coef", auxk_coef)
    dead_after = _check_positive_int("dead_after", dead_after)
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
    ):
        raise ValueError(f"seed must be None or an integer, got {seed!r}")
    return {
        "n_inputs": n_inputs,
        "n_latents": n_latents,
        "activation": activation,
        "k": k,
        "l1": l1,
        "auxk": auxk,
        "auxk_coef": auxk_coef,
        "dead_after": dead_after,
        "seed": None if seed is None else int(seed),
    }


class _LatestValue(keras.metrics.Metric):
    """A metric that reports the last value given to it (not a running mean)."""

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(
            shape=(), initializer="zeros", name="value"
        )

    def update_state(self, value):
        self.value.assign(ops.cast(value, self.value.dtype))

    def result(self):
        return ops.convert_to_tensor(self.value)


# -------------------------------------------------------------------- model


@keras.saving.register_keras_serializable(package="sparse_ae")
class SparseAutoencoder(keras.Model):
    """A sparse autoencoder with a unit-norm dictionary (Gao et al., 2024).

    ``SparseAutoencoder(n_inputs, n_latents, activation="relu", l1=...)`` is the
    ReLU SAE with an ℓ1 penalty (chapter 11);
    ``SparseAutoencoder(n_inputs, n_latents, activation="topk", k=..., auxk=...)``
    is the TopK SAE, optionally with AuxK (chapter 13).

    Arguments:

    - ``n_inputs``: width of the vectors to reconstruct;
    - ``n_latents``: number of latents (size of the dictionary);
    - ``activation``: ``"relu"`` (latents = ReLU of the pre-activations) or
      ``"topk"`` (keep each example's ``k`` largest pre-activations, zero the
      rest, then ReLU);
    - ``k``: latents kept per example; required with ``"topk"``, refused
      otherwise;
    - ``l1``: weight of the ℓ1 penalty; only with ``"relu"`` (with TopK the
      sparsity is already exact, and the penalty would only shrink latents);
    - ``auxk``: with ``"topk"``, add the AuxK loss on the ``auxk`` largest
      pre-activations of the dead latents (None: no AuxK);
    - ``auxk_coef``: weight of the AuxK loss (Gao et al.'s 1/32);
    - ``dead_after``: a latent is *dead* once it has not fired (latent > 0) on
      ``dead_after`` training examples (see :data:`DEAD_AFTER`);
    - ``seed``: seed of the initial dictionary (None: Keras's global seed, as
      set by :func:`sparse_ae.reproducibility.seed_everything`);
    - ``unit_norm``: keep the dictionary rows at unit norm (the default; see
      below). ``False`` leaves ``W_dec`` free: no constraint and no gradient
      projection, so the rows start at unit norm and then go where the
      optimizer takes them. Chapter 11 uses it to show why the constraint is
      needed: with an ℓ1 penalty, an unconstrained SAE lowers the penalty by
      shrinking its latents and growing its rows to match.

    Every bad argument raises ``ValueError`` naming it.

    **Weights.** ``W_enc`` (``n_inputs, n_latents``), ``b_enc``, ``W_dec``
    (``n_latents, n_inputs``; its rows are the dictionary) and ``b_dec`` are
    Keras variables. The rows of ``W_dec`` start as random unit vectors, and
    ``W_enc`` starts as ``W_dec``'s transpose; ``b_enc`` and ``b_dec`` start at
    0. To start ``b_dec`` at the data's mean (or, as Gao et al., its geometric
    median), assign it before training:
    ``model.b_dec.assign(X_train.mean(axis=0))``.

    **Unit-norm dictionary.** In the forward pass, ``W_dec`` goes through
    :func:`remove_parallel_gradient`, so the optimizer receives gradients
    orthogonal to each row; ``W_dec`` has a ``UnitNorm(axis=1)`` constraint,
    which Keras's optimizers apply after every update, on every backend. The
    rows have unit norm (to within 1e-6) after every training step. With
    ``unit_norm=False``, neither applies.

    **Loss.** Compile with an optimizer only (``model.compile(optimizer=...)``)
    and fit on the inputs alone (``model.fit(X_train, ...)``); the target is
    always the input, and any ``y`` is ignored. The loss, in training and in
    evaluation alike, is

    - the MSE: the squared error averaged over examples *and* inputs,
      ``mean((x - x_hat) ** 2)``;
    - plus, with ReLU, ``l1 * mean over examples of sum_j latents[:, j]``;
    - plus, with AuxK, ``auxk_coef * MSE(e_hat, e) / MSE(mean(e), e)``: the
      residual ``e = x - x_hat`` (held constant: no gradient flows into the main
      model through it) is reconstructed *without* ``b_dec`` from the ``auxk``
      largest ReLU'd pre-activations of the dead latents, and the error is
      divided by the residual's variance over the batch, as Gao et al. do, so
      that the term keeps its size as the residual shrinks. It is 0 while no
      latent is dead.

    Metrics given to ``compile`` compare the reconstruction with the input.
    ``fit`` and ``evaluate`` also report ``dead_fraction``: the share of latents
    dead at the last batch.

    **Dead latents.** The non-trainable variable ``examples_since_fired``
    counts, for each latent, the training examples seen since the last batch
    in which it fired; it is updated in training only (``fit``), and saved with
    the model.

    Introduced in chapter 11, *Recovering the features with an SAE*; TopK and
    AuxK in chapter 13, *TopK done properly*.
    """

    def __init__(
        self,
        n_inputs,
        n_latents,
        *,
        activation="relu",
        k=None,
        l1=0.0,
        auxk=None,
        auxk_coef=AUXK_COEF,
        dead_after=DEAD_AFTER,
        seed=None,
        unit_norm=True,
        **kwargs,
    ):
        args = _check_arguments(
            n_inputs,
            n_latents,
            activation,
            k,
            l1,
            auxk,
            auxk_coef,
            dead_after,
            seed,
        )
        if not isinstance(unit_norm, bool):
            raise ValueError(
                f"unit_norm must be True or False, got {unit_norm!r}"
            )
        super().__init__(**kwargs)
        for name, value in args.items():
            setattr(self, name, value)
        self.unit_norm = unit_norm

        dictionary = _random_unit_rows(
            (self.n_latents, self.n_inputs), self.seed
        )
        self.W_dec = self.add_weight(
            shape=(self.n_latents, self.n_inputs),
            initializer=lambda shape, dtype=None: ops.cast(
                dictionary, dtype
            ),
            constraint=keras.constraints.UnitNorm(axis=1)
            if unit_norm
            else None,
            name="W_dec",
        )
        self.W_enc = self.add_weight(
            shape=(self.n_inputs, self.n_latents),
            initializer=lambda shape, dtype=None: ops.cast(
                ops.transpose(dictionary), dtype
            ),
            name="W_enc",
        )
        self.b_enc = self.add_weight(
            shape=(self.n_latents,), initializer="zeros", name="b_enc"
        )
        self.b_dec = self.add_weight(
            shape=(self.n_inputs,), initializer="zeros", name="b_dec"
        )
        self.examples_since_fired = self.add_weight(
            shape=(self.n_latents,),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            name="examples_since_fired",
        )
        self._dead_fraction_tracker = _LatestValue(name="dead_fraction")
        self.built = True

    # ---------------------------------------------------- forward pieces

    def _as_inputs(self, x):
        x = ops.cast(x, self.compute_dtype)
        if len(x.shape) != 2 or (
            x.shape[-1] is not None and x.shape[-1] != self.n_inputs
        ):
            raise ValueError(
                f"inputs must have shape (n_examples, n_inputs={self.n_inputs}), "
                f"got shape {tuple(x.shape)}"
            )
        return x

    def pre_activations(self, x):
        """``(x - b_dec) @ W_enc + b_enc``, shape ``(n_examples, n_latents)`` (a tensor)."""
        x = self._as_inputs(x)
        return ops.matmul(x - self.b_dec, self.W_enc) + self.b_enc

    def _activate(self, pre_activations):
        if self.k is not None:
            pre_activations = keep_top_k(pre_activations, self.k)
        return ops.relu(pre_activations)

    def encode(self, x):
        """The latents of ``x``, shape ``(n_examples, n_latents)``, all >= 0 (a tensor).

        With TopK, at most ``k`` are non-zero per example. Use
        ``keras.ops.convert_to_numpy`` for a NumPy array.
        """
        return self._activate(self.pre_activations(x))

    def _dictionary(self):
        """``W_dec`` as the forward pass uses it: with ``unit_norm``, its
        gradient has no part along its rows."""
        if not self.unit_norm:
            return self.W_dec
        return remove_parallel_gradient(self.W_dec)

    def decode(self, latents):
        """``latents @ W_dec + b_dec``, shape ``(n_examples, n_inputs)`` (a tensor)."""
        return (
            ops.matmul(
                ops.cast(latents, self.compute_dtype), self._dictionary()
            )
            + self.b_dec
        )

    @property
    def decoder_weights(self):
        """The dictionary: a NumPy copy of ``W_dec``, shape ``(n_latents, n_inputs)``;
        row ``j`` is the direction latent ``j`` adds to the reconstruction."""
        return ops.convert_to_numpy(self.W_dec)

    def dead_mask(self):
        """Which latents are dead (as a tensor of booleans, ``(n_latents,)``):
        silent for at least ``dead_after`` training examples."""
        return self.examples_since_fired >= self.dead_after

    @property
    def dead_latents(self):
        """A NumPy boolean array, ``(n_latents,)``: True for the dead latents."""
        return ops.convert_to_numpy(self.dead_mask())

    # --------------------------------------------------------- training

    def call(self, inputs, training=False):
        """Reconstruct ``inputs``; add the penalties to ``self.losses``.

        In training, also update ``examples_since_fired``.
        """
        x = self._as_inputs(inputs)
        pre_activations = self.pre_activations(x)
        latents = self._activate(pre_activations)
        x_hat = self.decode(latents)
        if training:
            self._count_examples_since_fired(latents)
        if self.l1 > 0:
            self.add_loss(self.l1 * ops.mean(ops.sum(latents, axis=1)))
        if self.auxk is not None:
            self.add_loss(self._auxk_loss(x, x_hat, pre_activations))
        return x_hat

    def _count_examples_since_fired(self, latents):
        fired = ops.any(latents > 0, axis=0)
        counts = ops.convert_to_tensor(self.examples_since_fired)
        n = ops.cast(ops.shape(latents)[0], counts.dtype)
        saturated = counts + ops.minimum(n, _COUNTER_MAX - counts)
        self.examples_since_fired.assign(
            ops.where(fired, ops.zeros_like(counts), saturated)
        )

    def _auxk_loss(self, x, x_hat, pre_activations):
        """AuxK (Gao et al., 2024, section A.2): the dead latents model the residual."""
        dead = ops.cast(self.dead_mask(), pre_activations.dtype)
        aux_latents = ops.relu(keep_top_k(pre_activations * dead, self.auxk))
        residual = ops.stop_gradient(x - x_hat)
        residual_hat = ops.matmul(aux_latents, self._dictionary())  # no bias
        any_dead = ops.cast(ops.max(dead) > 0, residual.dtype)
        return (
            self.auxk_coef
            * any_dead
            * _auxk_normalized_mse(residual, residual_hat)
        )

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The MSE between ``x`` and ``y_pred``, plus the penalties ``call`` added.

        ``y`` is ignored: an autoencoder's target is its input. It also records
        the dead fraction for the ``dead_fraction`` metric (here, because on
        JAX this is where the counter's updated value is visible).
        """
        if self.loss is not None:
            raise ValueError(
                f"loss={self.loss!r} was given to compile(), but a SparseAutoencoder "
                "brings its own loss (the MSE plus its penalties): compile it with an "
                "optimizer only"
            )
        if sample_weight is not None:
            raise ValueError(
                "sample_weight is not supported by SparseAutoencoder"
            )
        loss = _reconstruction_mse(x, y_pred)
        for extra in self.losses:
            loss = loss + extra
        self._dead_fraction_tracker.update_state(
            ops.mean(ops.cast(self.dead_mask(), "float32"))
        )
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Compiled metrics compare the reconstruction with the input ``x``."""
        return super().compute_metrics(x, x, y_pred, sample_weight)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "n_inputs": self.n_inputs,
            "n_latents": self.n_latents,
            "activation": self.activation,
            "k": self.k,
            "l1": self.l1,
            "auxk": self.auxk,
            "auxk_coef": self.auxk_coef,
            "dead_after": self.dead_after,
            "seed": self.seed,
            "unit_norm": self.unit_norm,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _random_unit_rows(shape, seed):
    """Rows drawn from a standard normal, then scaled to unit norm: directions
    uniform on the sphere."""
    rows = keras.random.normal(shape, seed=seed)
    return rows / ops.sqrt(ops.sum(ops.square(rows), axis=1, keepdims=True))
