"""The sparse autoencoder (SAE) of interpretability research (chapters 11-14).

The SAE of Gao et al. (2024), *Scaling and evaluating sparse autoencoders*
(arXiv:2406.04093), and the variants that followed it, written with
``keras.ops`` only, so that it trains unchanged on Keras's TensorFlow and JAX
backends::

    latents = activation((x - b_dec) @ W_enc + b_enc)
    x_hat   = latents @ W_dec + b_dec

The book's earlier autoencoders call their hidden code *codings*. Here we
follow the interpretability literature and call the SAE's code its *latents*;
each row of ``W_dec`` is the direction one latent writes, and together the rows
are the *dictionary*.

What makes it different from the book's earlier models:

- one bias, ``b_dec``, is subtracted before encoding and added back after
  decoding (the *pre-encoder bias*); :meth:`SparseAutoencoder.adapt` starts it
  at the data's mean;
- the reconstruction error is measured in units of the data's variance (the
  *normalized MSE*), as in Gao et al.'s ``train.py``, so that the weights of
  the other terms mean the same on any data;
- the dictionary rows have unit norm, kept so by removing the gradient's
  component along each row before the optimizer's update and renormalising the
  rows after it (:func:`remove_parallel_gradient` and a ``UnitNorm``
  constraint);
- the encoder starts as the transpose of the decoder;
- sparsity comes from one of four activations: ReLU with an ℓ1 penalty,
  TopK (optionally with the AuxK loss that revives dead latents), BatchTopK,
  or JumpReLU with an L0 penalty; TopK and BatchTopK can be trained as a
  Matryoshka SAE.

Importing :mod:`sparse_ae` registers :class:`SparseAutoencoder`, so a saved
model loads with ``keras.models.load_model`` after ``import sparse_ae``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._checks import (
    check_finite_array,
    check_non_negative,
    check_positive_int,
    check_positive_number,
    check_seed,
)
from . import sparse_ops
from .activation_files import ActivationDataset, adaptation_sample

__all__ = [
    "ACTIVATIONS",
    "ADAM_EPSILON",
    "AUXK_COEF",
    "BANDWIDTH",
    "DEAD_AFTER",
    "INITIAL_THRESHOLD",
    "SPARSE_CROSSOVER",
    "THRESHOLD_DECAY",
    "SparseAutoencoder",
    "geometric_median",
    "heaviside",
    "jump_relu",
    "keep_top_k",
    "keep_top_k_of_batch",
    "remove_parallel_gradient",
    "train_sae",
]

#: The ways to make latents sparse.
ACTIVATIONS = ("relu", "topk", "batchtopk", "jumprelu")

#: Weight of the AuxK loss, as in Gao et al. (2024), section A.2.
AUXK_COEF = 1 / 32

#: Adam's epsilon in Gao et al.'s ``train.py`` (Keras's default is 1e-7).
ADAM_EPSILON = 6.25e-10

#: Default number of training examples after which a silent latent is dead.
#: Gao et al. use 10 million tokens, only about 76 of their batches of 131,072
#: tokens: a small fraction of training, so that AuxK starts reviving a latent
#: soon after it dies. Ten thousand examples is likewise a small fraction of
#: training here, under a fifth of an epoch of Fashion-MNIST's 55,000 training
#: images, yet long enough to be sure: each of the 10 classes appears about
#: 1,000 times in it, so a latent silent on all of them is rarer than any
#: feature that a class shares.
DEAD_AFTER = 10_000

#: JumpReLU's default bandwidth ε and initial threshold (Rajamanoharan et al.,
#: 2024, and SAELens use 0.001 for both, on activations scaled to unit
#: mean square; both are in the units of the pre-activations).
BANDWIDTH = 1e-3
INITIAL_THRESHOLD = 1e-3

#: BatchTopK's inference threshold is an exponential moving average of the
#: smallest latent kept in each batch (Bussmann et al., 2024). Its decay at
#: training step t is ``min(THRESHOLD_DECAY, (1 + t) / (10 + t))``, as in
#: TensorFlow's ExponentialMovingAverage with ``num_updates``: early steps,
#: while the latents still change fast, are forgotten fast.
THRESHOLD_DECAY = 0.99

#: ``sparse="auto"`` trains a TopK SAE with the sparse step of
#: :mod:`sparse_ae.sparse_ops` when ``n_latents >= SPARSE_CROSSOVER * k``
#: (with AuxK, ``* max(k, auxk)``), and with dense products otherwise.
#: Measured with ``benchmarks/bench_sae.py`` (see the README's "Speed"; 2-core
#: Intel Xeon, 2026-12-08): the sparse step was slower at 4,096 latents and
#: k = 32 (n_latents = 128 k: 0.64x the dense step on TensorFlow, 0.93x on
#: JAX) and at every smaller size, and faster at 16,384 latents (512 k:
#: 2.83x and 1.79x); the crossover lies between, and 256 k is its middle.
SPARSE_CROSSOVER = 256

# The counter of examples since a latent fired saturates here (int32).
_COUNTER_MAX = 2**31 - 1


# ------------------------------------------------------------- functions


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
    zero matrix, so the memory is that of ``values`` plus ``k`` per row.

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


def keep_top_k_of_batch(values, k):
    """BatchTopK: keep the ``k * n_examples`` largest entries of the whole batch.

    ``values`` has shape ``(n_examples, n_latents)``. The batch as a whole
    keeps ``k`` entries per example on average; one example may keep more and
    another fewer (Bussmann et al., 2024). Returns ``(kept, smallest)``: the
    batch with every other entry zeroed, and the smallest kept value.

    Introduced in chapter 14, *The SAE family*.
    """
    shape = ops.shape(values)
    flat = ops.reshape(values, (-1,))
    kept, indices = ops.top_k(flat, k * shape[0], sorted=False)
    batch = ops.scatter(ops.expand_dims(indices, 1), kept, ops.shape(flat))
    return ops.reshape(batch, shape), ops.min(kept)


def _rectangle(u):
    """The rectangle kernel: 1 where ``|u| < 1/2``, else 0."""
    return ops.cast(ops.abs(u) < 0.5, u.dtype)


def heaviside(pre_activations, threshold, bandwidth):
    """``1`` where ``pre_activations > threshold``, else ``0``, with the
    straight-through gradient of Rajamanoharan et al. (2024).

    The step has no useful derivative. Its pseudo-derivative with respect to
    ``threshold`` is ``-(1/ε) K((z - θ)/ε)``, with ``K`` the rectangle kernel
    of width 1 and ``ε`` the ``bandwidth``: the exact derivative of the step
    smoothed into a ramp of width ε. No gradient reaches the pre-activations.

    Introduced in chapter 14, *The SAE family*.
    """
    step = ops.cast(pre_activations > threshold, pre_activations.dtype)
    kernel = ops.stop_gradient(
        _rectangle((pre_activations - threshold) / bandwidth)
    )
    surrogate = -(threshold / bandwidth) * kernel  # d/dθ = -K/ε
    return step + (surrogate - ops.stop_gradient(surrogate))


def jump_relu(pre_activations, threshold, bandwidth):
    """JumpReLU: ``z`` where ``z > threshold``, else ``0`` (Rajamanoharan et al., 2024).

    A latent is either 0 or at least its threshold. The gradient with respect
    to the pre-activations is the ordinary one (1 where the latent is on).
    With respect to ``threshold`` it is the paper's pseudo-derivative
    ``-(θ/ε) K((z - θ)/ε)`` (see :func:`heaviside`).

    Introduced in chapter 14, *The SAE family*.
    """
    on = ops.stop_gradient(
        ops.cast(pre_activations > threshold, pre_activations.dtype)
    )
    kernel = ops.stop_gradient(
        _rectangle((pre_activations - threshold) / bandwidth)
    )
    surrogate = -(ops.stop_gradient(threshold) / bandwidth) * kernel * threshold
    return pre_activations * on + surrogate - ops.stop_gradient(surrogate)


def geometric_median(x, max_iterations=200, tolerance=1e-7):
    """The point minimising the sum of Euclidean distances to the rows of ``x``.

    Weiszfeld's algorithm in float64, started at the mean. Gao et al. start
    ``b_dec`` at the geometric median of a sample of the data (32,768
    examples in their ``train.py``), which is less pulled by outliers than the
    mean. Returns a float32 NumPy vector.

    Introduced in chapter 13, *TopK done properly*.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(
            f"x must be a non-empty 2-D array (n_examples, n_inputs), got shape {x.shape}"
        )
    check_finite_array("x", x)
    median = x.mean(axis=0)
    for _ in range(max_iterations):
        distances = np.linalg.norm(x - median, axis=1)
        weights = 1.0 / np.maximum(distances, 1e-12)
        updated = weights @ x / weights.sum()
        moved = np.linalg.norm(updated - median)
        median = updated
        if moved <= tolerance * max(1.0, np.linalg.norm(median)):
            break
    return median.astype(np.float32)


def _normalized_error(x, x_hat, variance):
    """Mean over examples and inputs of ``(x - x_hat)**2``, divided by ``variance``."""
    return ops.mean(ops.square(ops.cast(x, x_hat.dtype) - x_hat)) / variance


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


def _check_prefixes(prefixes, n_latents):
    """Matryoshka prefix sizes: increasing, positive, ending at ``n_latents``."""
    if prefixes is None:
        return None
    try:
        sizes = [check_positive_int("prefixes", p) for p in prefixes]
    except TypeError:
        raise ValueError(
            f"prefixes must be a sequence of increasing sizes, got {prefixes!r}"
        ) from None
    if not sizes or any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(
            f"prefixes must be a non-empty sequence of increasing sizes, got {prefixes!r}"
        )
    if sizes[-1] > n_latents:
        raise ValueError(
            f"prefixes end at {sizes[-1]}, beyond n_latents={n_latents}"
        )
    if sizes[-1] != n_latents:
        sizes.append(n_latents)
    return tuple(sizes)


def _check_arguments(
    n_inputs,
    n_latents,
    activation,
    k,
    l1,
    l0,
    bandwidth,
    prefixes,
    auxk,
    auxk_coef,
    dead_after,
    unit_norm,
    norm_weighted_l1,
    seed,
):
    """Validate the constructor's arguments; return them normalised, as a dict.

    Every error is a ``ValueError`` whose message starts with the argument's
    name.
    """
    n_inputs = check_positive_int("n_inputs", n_inputs)
    n_latents = check_positive_int("n_latents", n_latents)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {ACTIVATIONS}, got {activation!r}"
        )
    picks = activation in ("topk", "batchtopk")
    if picks and k is None:
        raise ValueError(
            f"k must be given with activation={activation!r}: how many latents "
            "to keep per example"
        )
    if not picks and k is not None:
        raise ValueError(
            f"k is only used with activation='topk' or 'batchtopk', got k={k!r} "
            f"with {activation!r}"
        )
    if k is not None:
        k = check_positive_int("k", k)
        if k > n_latents:
            raise ValueError(f"k={k} is larger than n_latents={n_latents}")
    l1 = check_non_negative("l1", l1)
    if activation != "relu" and l1 > 0:
        raise ValueError(
            f"l1 is only used with activation='relu', got l1={l1} with "
            f"{activation!r}"
            + (
                ": TopK already fixes the sparsity, and an l1 penalty would "
                "only shrink the kept latents"
                if picks
                else ""
            )
        )
    l0 = check_non_negative("l0", l0)
    if activation != "jumprelu" and l0 > 0:
        raise ValueError(
            f"l0 is only used with activation='jumprelu', got l0={l0} with "
            f"{activation!r}"
        )
    if bandwidth is not None and activation != "jumprelu":
        raise ValueError(
            f"bandwidth is only used with activation='jumprelu', got "
            f"bandwidth={bandwidth!r} with {activation!r}"
        )
    if activation == "jumprelu":
        bandwidth = check_positive_number(
            "bandwidth", BANDWIDTH if bandwidth is None else bandwidth
        )
    if prefixes is not None and not picks:
        raise ValueError(
            "prefixes (a Matryoshka SAE) need activation='topk' or "
            f"'batchtopk', got {activation!r}"
        )
    prefixes = _check_prefixes(prefixes, n_latents)
    if auxk is not None:
        if not picks:
            raise ValueError(
                "auxk needs activation='topk' or 'batchtopk' (AuxK picks dead "
                f"latents by TopK), got {activation!r}"
            )
        auxk = check_positive_int("auxk", auxk)
        if auxk > n_latents:
            raise ValueError(
                f"auxk={auxk} is larger than n_latents={n_latents}"
            )
    auxk_coef = check_non_negative("auxk_coef", auxk_coef)
    dead_after = check_positive_int("dead_after", dead_after)
    if not isinstance(unit_norm, bool):
        raise ValueError(f"unit_norm must be True or False, got {unit_norm!r}")
    if norm_weighted_l1 is None:  # only the l1 penalty has rows to weigh
        norm_weighted_l1 = not unit_norm and activation == "relu"
    if not isinstance(norm_weighted_l1, bool):
        raise ValueError(
            f"norm_weighted_l1 must be None, True or False, got {norm_weighted_l1!r}"
        )
    if norm_weighted_l1 and activation != "relu":
        raise ValueError(
            "norm_weighted_l1 weighs the l1 penalty, which needs activation='relu'"
        )
    return {
        "n_inputs": n_inputs,
        "n_latents": n_latents,
        "activation": activation,
        "k": k,
        "l1": l1,
        "l0": l0,
        "bandwidth": bandwidth,
        "prefixes": prefixes,
        "auxk": auxk,
        "auxk_coef": auxk_coef,
        "dead_after": dead_after,
        "unit_norm": unit_norm,
        "norm_weighted_l1": norm_weighted_l1 if activation == "relu" else False,
        "seed": check_seed(seed),
    }


def _check_sparse(sparse, activation, prefixes):
    """``sparse``: ``"auto"``, True or False; True needs a plain TopK SAE."""
    if not isinstance(sparse, bool) and not (
        isinstance(sparse, str) and sparse == "auto"
    ):
        raise ValueError(f"sparse must be 'auto', True or False, got {sparse!r}")
    if sparse is True and (activation != "topk" or prefixes is not None):
        raise ValueError(
            "sparse=True needs activation='topk' without prefixes (the sparse "
            f"step selects k latents per example), got activation={activation!r}"
            + ("" if prefixes is None else " with prefixes")
        )
    return sparse


def _resolve_sparse(sparse, n_latents, k, auxk, activation, prefixes):
    """Whether the model trains with the sparse step (see :data:`SPARSE_CROSSOVER`)."""
    if sparse != "auto":
        return sparse
    if activation != "topk" or prefixes is not None:
        return False
    return n_latents >= SPARSE_CROSSOVER * max(k, auxk or 0)


# ------------------------------------------------------------------ metrics


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


class _VarianceExplained(keras.metrics.Metric):
    """The fraction of variance explained over every batch seen, streamed.

    It accumulates ``n``, the per-input sums of ``x``, the sum of ``x**2`` and
    the squared error, and returns ``1 - error / (sum x**2 - |sum x|**2 / n)``:
    :func:`sparse_ae.metrics.fraction_variance_explained` over the whole
    epoch (or validation set), in float32.
    """

    def __init__(self, n_inputs, name="fve", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")
        self.sums = self.add_variable(
            shape=(n_inputs,), initializer="zeros", name="sums"
        )
        self.squares = self.add_variable(
            shape=(), initializer="zeros", name="squares"
        )
        self.errors = self.add_variable(
            shape=(), initializer="zeros", name="errors"
        )

    def update_state(self, x, x_hat):
        x = ops.cast(x, self.dtype)
        x_hat = ops.cast(x_hat, self.dtype)
        self.count.assign_add(ops.cast(ops.shape(x)[0], self.dtype))
        self.sums.assign_add(ops.sum(x, axis=0))
        self.squares.assign_add(ops.sum(ops.square(x)))
        self.errors.assign_add(ops.sum(ops.square(x - x_hat)))

    def result(self):
        count = ops.maximum(self.count, 1.0)
        total = self.squares - ops.sum(ops.square(self.sums)) / count
        return 1.0 - self.errors / ops.maximum(total, keras.config.epsilon())


# -------------------------------------------------------------------- model


@keras.saving.register_keras_serializable(package="sparse_ae")
class SparseAutoencoder(keras.Model):
    """A sparse autoencoder with a unit-norm dictionary (Gao et al., 2024), and its variants.

    ``SparseAutoencoder(n_inputs, n_latents, activation=..., ...)``:

    - ``"relu"``, with ``l1``: ReLU latents and an ℓ1 penalty (chapter 11);
    - ``"topk"``, with ``k`` (and optionally ``auxk``): each example keeps its
      ``k`` largest pre-activations, then ReLU (chapter 13);
    - ``"batchtopk"``, with ``k``: in training the batch keeps its
      ``k * batch size`` largest ReLU'd pre-activations, so examples keep
      different numbers of latents (Bussmann et al., 2024); at inference a
      latent fires where its pre-activation exceeds one global ``threshold``,
      estimated in training (chapter 14);
    - ``"jumprelu"``, with ``l0`` and ``bandwidth``: a latent is its
      pre-activation where that exceeds the latent's own trainable
      ``threshold``, else 0, and the penalty counts the latents on (an L0
      penalty), trained through straight-through estimators
      (Rajamanoharan et al., 2024; chapter 14).

    Arguments:

    - ``n_inputs``: width of the vectors to reconstruct;
    - ``n_latents``: number of latents (size of the dictionary);
    - ``activation``: one of :data:`ACTIVATIONS`, as above;
    - ``k``: latents kept per example (on average over the batch, with
      BatchTopK); required with ``"topk"`` and ``"batchtopk"``, refused
      otherwise;
    - ``l1``: weight of the ℓ1 penalty; only with ``"relu"``;
    - ``l0``: weight of the L0 penalty; only with ``"jumprelu"``;
    - ``bandwidth``: JumpReLU's ε, the width of the window around each
      threshold through which the straight-through gradients pass
      (default :data:`BANDWIDTH`); only with ``"jumprelu"``;
    - ``prefixes``: a *Matryoshka* SAE (Bussmann et al., 2025; Nabeshima,
      2024), with ``"topk"`` or ``"batchtopk"``: increasing sizes ``m``; the
      reconstruction term is the mean, over the sizes, of the normalized MSE
      of the reconstruction from the first ``m`` latents alone (``n_latents``
      is appended if it is not the last size). Bussmann et al. sum the terms;
      the mean only rescales the loss;
    - ``auxk``: with ``"topk"`` or ``"batchtopk"``, add the AuxK loss on the
      ``auxk`` largest pre-activations of the dead latents (None: no AuxK);
    - ``auxk_coef``: weight of the AuxK loss (Gao et al.'s 1/32);
    - ``dead_after``: a latent is *dead* once it has not fired (latent > 0) on
      ``dead_after`` training examples (see :data:`DEAD_AFTER`);
    - ``unit_norm``: keep the dictionary rows at unit norm (the default; see
      below). ``False`` leaves ``W_dec`` free: no constraint and no gradient
      projection;
    - ``norm_weighted_l1``: with ``"relu"``, weigh each latent's ℓ1 penalty by
      the norm of its dictionary row, ``l1 * sum_j latents[:, j] * |W_dec[j]|``
      (Anthropic's April 2024 update), which closes the loophole a free
      dictionary opens: shrinking the latents and growing the rows to match.
      ``None`` (the default) means ``not unit_norm`` with ``"relu"``: on with
      free rows, and with unit rows the weights are 1 anyway; the other
      activations have no ℓ1 penalty to weigh. Chapter 11 sets it to ``False``
      with ``unit_norm=False`` to show the loophole;
    - ``sparse``: with ``"topk"``, train with the sparse step of
      :mod:`sparse_ae.sparse_ops` (True), which touches only the ``k``
      selected latents per example after the encoder's product, or with
      dense products (False). The two give the same results to float32
      rounding. ``"auto"`` (the default) chooses the sparse step when it is
      the faster, ``n_latents >= SPARSE_CROSSOVER * max(k, auxk)`` (see
      :data:`SPARSE_CROSSOVER`); Matryoshka ``prefixes`` always train densely;
    - ``seed``: seed of the initial dictionary (None: Keras's global seed, as
      set by :func:`sparse_ae.reproducibility.seed_everything`).

    Every bad argument raises ``ValueError`` naming it.

    **Weights.** ``W_enc`` (``n_inputs, n_latents``), ``b_enc``, ``W_dec``
    (``n_latents, n_inputs``; its rows are the dictionary) and ``b_dec`` are
    trainable. The rows of ``W_dec`` start as random unit vectors, and
    ``W_enc`` starts as ``W_dec``'s transpose; ``b_enc`` and ``b_dec`` start at
    0, until :meth:`adapt`. Non-trainable and saved: ``variance`` and
    ``adapted`` (set by :meth:`adapt`), ``examples_since_fired``, and with
    BatchTopK its ``threshold`` (a scalar; 0, so a plain ReLU, until the
    first training step) and ``threshold_updates``. With JumpReLU, ``threshold``
    (``n_latents``,) is trainable, starts at :data:`INITIAL_THRESHOLD`, and is
    kept >= 0.

    **Adapting to the data.** :meth:`adapt` sets ``b_dec`` to the data's
    mean (or geometric median) and stores the data's variance ``v``, the mean
    over examples and inputs of ``(x - mean x)**2``. ``fit`` adapts on its
    training data first if the model was never adapted (a training loop of
    your own must call ``adapt`` itself; until then ``v`` is 1 and the
    reconstruction term is the plain MSE).

    **Unit-norm dictionary.** In the forward pass, ``W_dec`` goes through
    :func:`remove_parallel_gradient`, so the optimizer receives gradients
    orthogonal to each row; ``W_dec`` has a ``UnitNorm(axis=1)`` constraint,
    which Keras's optimizers apply after every update, on every backend. The
    rows have unit norm (to within 1e-6) after every training step. With
    ``unit_norm=False``, neither applies.

    **Loss.** Compile with an optimizer only (``model.compile(optimizer=...)``)
    and fit on the inputs alone (``model.fit(X_train, ...)``); the target is
    always the input, and any ``y`` is ignored. The loss, in training and in
    evaluation alike, is the sum of (see :meth:`loss_terms`):

    - ``normalized_mse``: ``mean((x - x_hat)**2) / v``, the squared error
      averaged over examples *and* inputs, in units of the data's variance
      (Gao et al.'s ``mse_scale * mse``): 1 for a reconstruction no better
      than the mean, ``1 - FVE`` on data of variance ``v``;
    - with ReLU, ``l1_penalty``: ``l1 * mean over examples of sum_j latents[:, j]``
      (times ``|W_dec[j]|`` with ``norm_weighted_l1``). The ℓ1 is summed over
      latents and averaged over examples, and the MSE averaged over both, so
      ``l1`` means something else in a codebase that sums the squared error
      over inputs (multiply by ``n_inputs * v`` to convert) or does not divide
      by the variance;
    - with JumpReLU, ``l0_penalty``: ``l0 * mean over examples of the number of latents on``;
    - with AuxK, ``auxk_loss``: ``auxk_coef * MSE(e_hat, e) / MSE(mean(e), e)``:
      the residual ``e = x - x_hat`` (held constant: no gradient flows into the
      main model through it) is reconstructed *without* ``b_dec`` from the
      ``auxk`` largest ReLU'd pre-activations of the dead latents, and the
      error is divided by the residual's variance over the batch, as Gao et
      al. do. It is 0 while no latent is dead, and 1/32 when the dead latents
      reconstruct nothing of the residual.

    ``fit`` and ``evaluate`` report each term (their mean over the batches),
    ``fve`` (the fraction of variance explained over all the batches),
    and ``dead_fraction``: the share of latents dead at the last batch.
    Metrics given to ``compile`` compare the reconstruction with the input.

    **Where it departs from Gao et al.** ``b_dec`` starts at the mean unless
    ``adapt(x, center="median")``; the encoder is not rescaled after the tied
    initialisation; a latent fires when it is > 0 (theirs: > 0.001); the
    dead-latent counter counts examples (theirs counts batches of a fixed
    size); :func:`train_sae` uses their Adam epsilon, but no EMA of the
    weights and no gradient clipping.

    **Dead latents.** The non-trainable variable ``examples_since_fired``
    counts, for each latent, the training examples seen since the last batch
    in which it fired; it is updated in training only, and saved.

    **Bad input.** ``adapt``, ``fit``, ``evaluate``, ``predict``, ``encode``
    and ``decode`` raise ``ValueError`` on arrays holding NaN or infinite
    values, before anything changes.

    Introduced in chapter 11, *Recovering the features with an SAE*; TopK and
    AuxK in chapter 13, *TopK done properly*; BatchTopK, JumpReLU, Matryoshka
    and the norm-weighted ℓ1 in chapter 14, *The SAE family*.
    """

    def __init__(
        self,
        n_inputs,
        n_latents,
        *,
        activation="relu",
        k=None,
        l1=0.0,
        l0=0.0,
        bandwidth=None,
        prefixes=None,
        auxk=None,
        auxk_coef=AUXK_COEF,
        dead_after=DEAD_AFTER,
        unit_norm=True,
        norm_weighted_l1=None,
        sparse="auto",
        seed=None,
        **kwargs,
    ):
        args = _check_arguments(
            n_inputs,
            n_latents,
            activation,
            k,
            l1,
            l0,
            bandwidth,
            prefixes,
            auxk,
            auxk_coef,
            dead_after,
            unit_norm,
            norm_weighted_l1,
            seed,
        )
        sparse = _check_sparse(sparse, activation, prefixes)
        super().__init__(**kwargs)
        for name, value in args.items():
            setattr(self, name, value)
        self.sparse = sparse
        self.uses_sparse_step = _resolve_sparse(
            sparse, self.n_latents, self.k, self.auxk, self.activation,
            self.prefixes,
        )

        dictionary = _random_unit_rows(
            (self.n_latents, self.n_inputs), self.seed
        )
        self.W_dec = self.add_weight(
            shape=(self.n_latents, self.n_inputs),
            initializer=lambda shape, dtype=None: ops.cast(
                dictionary, dtype
            ),
            constraint=keras.constraints.UnitNorm(axis=1)
            if self.unit_norm
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
        self.variance = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="variance"
        )
        self.adapted = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False,
            name="adapted",
        )
        self.examples_since_fired = self.add_weight(
            shape=(self.n_latents,),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            name="examples_since_fired",
        )
        if self.activation == "batchtopk":
            # 0 until the first training step estimates it.
            self.threshold = self.add_weight(
                shape=(), initializer="zeros", trainable=False,
                name="threshold",
            )
            self.threshold_updates = self.add_weight(
                shape=(), initializer="zeros", dtype="int32",
                trainable=False, name="threshold_updates",
            )
        elif self.activation == "jumprelu":
            self.threshold = self.add_weight(
                shape=(self.n_latents,),
                initializer=keras.initializers.Constant(INITIAL_THRESHOLD),
                constraint=keras.constraints.NonNeg(),
                name="threshold",
            )
        self._term_names = self._loss_term_names()
        self._term_trackers = {
            name: keras.metrics.Mean(name=name) for name in self._term_names
        }
        self._fve_tracker = _VarianceExplained(self.n_inputs, name="fve")
        self._dead_fraction_tracker = _LatestValue(name="dead_fraction")
        self.built = True

    # ---------------------------------------------------- adapting

    def adapt(self, x, center="mean"):
        """Start ``b_dec`` at the data's center and store the data's variance.

        ``x`` is an array ``(n_examples, n_inputs)`` (a sample of the training
        data is enough). ``center="mean"`` (the default) or ``"median"`` (the
        geometric median of up to 32,768 examples, as Gao et al.). The stored
        variance ``v = mean((x - mean(x))**2)`` over examples and inputs is
        the unit of the reconstruction term. Call it before training: it
        overwrites ``b_dec``. Raises ``ValueError`` on non-finite values or on
        data with no variance, before anything changes.
        """
        x = self._as_checked_array("x", x)
        if len(x) < 2:
            raise ValueError(
                f"adapt needs at least 2 examples to measure a variance, got {len(x)}"
            )
        if center not in ("mean", "median"):
            raise ValueError(
                f"center must be 'mean' or 'median', got {center!r}"
            )
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=0)
        variance = float(np.mean(np.square(x64 - mean)))
        if not variance > 0:
            raise ValueError(
                "x has no variance (every example is the same): nothing to "
                "reconstruct"
            )
        start = mean if center == "mean" else geometric_median(x[:32_768])
        self.b_dec.assign(np.asarray(start, dtype=np.float32))
        self.variance.assign(variance)
        self.adapted.assign(1)

    @property
    def is_adapted(self):
        """Whether :meth:`adapt` has run (``fit`` runs it when it has not)."""
        return bool(ops.convert_to_numpy(self.adapted))

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

    def _as_checked_array(self, name, x, width=None):
        """``x`` as a 2-D NumPy array of the right width, all finite."""
        width = f"n_inputs={self.n_inputs}" if width is None else width
        values = np.asarray(
            keras.ops.convert_to_numpy(x) if keras.ops.is_tensor(x) else x
        )
        if values.ndim != 2 or f"={values.shape[1]}" != width[width.index("="):]:
            raise ValueError(
                f"{name} must have shape (n_examples, {width}), got shape "
                f"{values.shape}"
            )
        check_finite_array(name, values)
        return values

    def _checked(self, name, x, width=None):
        """``x`` checked for NaN when its values are known here (not while a
        backend traces a function); returned unchanged."""
        if isinstance(x, (np.ndarray, list, tuple)) or _is_concrete(x):
            self._as_checked_array(name, x, width)
        return x

    def pre_activations(self, x):
        """``(x - b_dec) @ W_enc + b_enc``, shape ``(n_examples, n_latents)`` (a tensor)."""
        x = self._as_inputs(x)
        return ops.matmul(x - self.b_dec, self.W_enc) + self.b_enc

    def _activate(self, pre_activations, training=False):
        """The latents, and BatchTopK's smallest kept value in training (else None)."""
        if self.activation == "relu":
            return ops.relu(pre_activations), None
        if self.activation == "topk":
            return ops.relu(keep_top_k(pre_activations, self.k)), None
        if self.activation == "jumprelu":
            return (
                jump_relu(pre_activations, self.threshold, self.bandwidth),
                None,
            )
        # batchtopk
        positive = ops.relu(pre_activations)
        if training:
            return keep_top_k_of_batch(positive, self.k)
        return (
            positive * ops.cast(positive > self.threshold, positive.dtype),
            None,
        )

    def encode(self, x, training=False):
        """The latents of ``x``, shape ``(n_examples, n_latents)``, all >= 0 (a tensor).

        With TopK, at most ``k`` are non-zero per example. With BatchTopK,
        those above the global ``threshold``, or with ``training=True`` the
        ``k * n_examples`` largest of the batch ``x``, as training selects
        them (nothing is updated). Use ``keras.ops.convert_to_numpy`` for a
        NumPy array.
        """
        x = self._checked("x", x)
        return self._activate(self.pre_activations(x), training)[0]

    def _dictionary(self):
        """``W_dec`` as the forward pass uses it: with ``unit_norm``, its
        gradient has no part along its rows."""
        if not self.unit_norm:
            return self.W_dec
        return remove_parallel_gradient(self.W_dec)

    def decode(self, latents):
        """``latents @ W_dec + b_dec``, shape ``(n_examples, n_inputs)`` (a tensor)."""
        latents = self._checked(
            "latents", latents, width=f"n_latents={self.n_latents}"
        )
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
        """Reconstruct ``inputs``; add the loss terms to ``self.losses``.

        In training, also update ``examples_since_fired`` and, with
        BatchTopK, the ``threshold``.
        """
        x = self._as_inputs(inputs)
        dictionary = self._dictionary()
        if self.uses_sparse_step:
            pre_activations, indices, latents, x_hat = (
                sparse_ops.sparse_topk_forward(
                    x, self.W_enc, self.b_enc, dictionary, self.b_dec, self.k
                )
            )
            if training:
                self._count_examples_since_fired(
                    sparse_ops.fired_latents(indices, latents, self.n_latents),
                    ops.shape(x)[0],
                )
            for term in self.loss_terms(
                x, pre_activations, None, x_hat, dictionary
            ).values():
                self.add_loss(term)
            return x_hat
        pre_activations = self.pre_activations(x)
        latents, smallest = self._activate(pre_activations, training)
        x_hat = ops.matmul(latents, dictionary) + self.b_dec
        if training:
            self._count_examples_since_fired(
                ops.any(latents > 0, axis=0), ops.shape(latents)[0]
            )
            if smallest is not None:
                self._update_threshold(smallest)
        for term in self.loss_terms(
            x, pre_activations, latents, x_hat, dictionary
        ).values():
            self.add_loss(term)
        return x_hat

    def _loss_term_names(self):
        names = ["normalized_mse"]
        if self.activation == "relu" and self.l1 > 0:
            names.append("l1_penalty")
        if self.activation == "jumprelu" and self.l0 > 0:
            names.append("l0_penalty")
        if self.auxk is not None:
            names.append("auxk_loss")
        return tuple(names)

    def loss_terms(self, x, pre_activations, latents, x_hat, dictionary):
        """The terms of the loss, by name, in one place (see the class's docstring).

        Arguments are one batch's inputs and what the forward pass computed
        from them; ``dictionary`` is ``W_dec`` as the forward pass used it.
        """
        terms = {}
        if self.prefixes is None:
            terms["normalized_mse"] = _normalized_error(x, x_hat, self.variance)
        else:
            terms["normalized_mse"] = self._matryoshka_error(
                x, latents, dictionary
            )
        if "l1_penalty" in self._term_names:
            weighted = latents
            if self.norm_weighted_l1:
                norms = ops.sqrt(ops.sum(ops.square(dictionary), axis=1))
                weighted = latents * norms
            terms["l1_penalty"] = self.l1 * ops.mean(ops.sum(weighted, axis=1))
        if "l0_penalty" in self._term_names:
            on = heaviside(pre_activations, self.threshold, self.bandwidth)
            terms["l0_penalty"] = self.l0 * ops.mean(ops.sum(on, axis=1))
        if "auxk_loss" in self._term_names:
            terms["auxk_loss"] = self._auxk_loss(
                x, x_hat, pre_activations, dictionary
            )
        return terms

    def _matryoshka_error(self, x, latents, dictionary):
        """Mean over the prefixes of the normalized MSE of each prefix's reconstruction."""
        x = ops.cast(x, latents.dtype)
        x_hat = self.b_dec
        errors = []
        start = 0
        for end in self.prefixes:
            x_hat = x_hat + ops.matmul(
                latents[:, start:end], dictionary[start:end]
            )
            errors.append(_normalized_error(x, x_hat, self.variance))
            start = end
        return ops.mean(ops.stack(errors))

    def _count_examples_since_fired(self, fired, n_examples):
        """Reset the counter of the latents that ``fired`` (booleans), add
        ``n_examples`` to the others."""
        counts = ops.convert_to_tensor(self.examples_since_fired)
        n = ops.cast(n_examples, counts.dtype)
        saturated = counts + ops.minimum(n, _COUNTER_MAX - counts)
        self.examples_since_fired.assign(
            ops.where(fired, ops.zeros_like(counts), saturated)
        )

    def _update_threshold(self, smallest):
        """BatchTopK: move the inference threshold towards this batch's smallest kept latent."""
        smallest = ops.stop_gradient(ops.cast(smallest, self.threshold.dtype))
        steps = ops.cast(self.threshold_updates, self.threshold.dtype)
        decay = ops.minimum(THRESHOLD_DECAY, (1.0 + steps) / (10.0 + steps))
        self.threshold.assign(
            decay * self.threshold + (1.0 - decay) * smallest
        )
        self.threshold_updates.assign(self.threshold_updates + 1)

    def _auxk_loss(self, x, x_hat, pre_activations, dictionary):
        """AuxK (Gao et al., 2024, section A.2): the dead latents model the residual."""
        dead = ops.cast(self.dead_mask(), pre_activations.dtype)
        residual = ops.stop_gradient(ops.cast(x, x_hat.dtype) - x_hat)
        if self.uses_sparse_step:
            # pre_activations carry no gradient here: the selected ones are
            # computed again from their columns of W_enc.
            indices = sparse_ops.select_top_k(pre_activations * dead, self.auxk)
            aux_latents = ops.relu(
                sparse_ops.encode_selected(
                    ops.cast(x, x_hat.dtype), self.b_dec, self.W_enc,
                    self.b_enc, pre_activations, indices,
                )
                * ops.take(dead, indices, axis=0)
            )
            residual_hat = sparse_ops.decode_selected(
                indices, aux_latents, dictionary
            )  # no bias
        else:
            aux_latents = ops.relu(
                keep_top_k(pre_activations * dead, self.auxk)
            )
            residual_hat = ops.matmul(aux_latents, dictionary)  # no bias
        any_dead = ops.cast(ops.max(dead) > 0, residual.dtype)
        return (
            self.auxk_coef
            * any_dead
            * _auxk_normalized_mse(residual, residual_hat)
        )

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The sum of the loss terms that ``call`` added; also updates the metrics.

        ``y`` is ignored: an autoencoder's target is its input. The terms, the
        FVE and the dead fraction are recorded here (on JAX, this is where the
        counter's updated value is visible).
        """
        if self.loss is not None:
            raise ValueError(
                f"loss={self.loss!r} was given to compile(), but a SparseAutoencoder "
                "brings its own loss (the normalized MSE plus its penalties): "
                "compile it with an optimizer only"
            )
        if sample_weight is not None:
            raise ValueError(
                "sample_weight is not supported by SparseAutoencoder"
            )
        terms = list(self.losses)
        if len(terms) != len(self._term_names):
            raise RuntimeError(
                f"expected the loss terms {self._term_names} from call(), got "
                f"{len(terms)} losses"
            )
        n = ops.shape(x)[0]
        loss = terms[0]
        for name, term in zip(self._term_names, terms):
            self._term_trackers[name].update_state(term, sample_weight=n)
            if name != self._term_names[0]:
                loss = loss + term
        self._fve_tracker.update_state(x, y_pred)
        self._dead_fraction_tracker.update_state(
            ops.mean(ops.cast(self.dead_mask(), "float32"))
        )
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Compiled metrics compare the reconstruction with the input ``x``."""
        return super().compute_metrics(x, x, y_pred, sample_weight)

    def compute_output_shape(self, input_shape):
        return input_shape

    # ------------------------------------------------ checked entry points

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """Keras's ``fit``, after checking the data and adapting if needed.

        Arrays with NaN or infinite values raise ``ValueError`` before any
        weight changes; a model never adapted is adapted on ``x`` first
        (see :meth:`adapt`). ``x`` may also be a Keras ``PyDataset``, such
        as an :class:`~sparse_ae.activation_files.ActivationDataset` of
        activations on disk: a model never adapted is adapted on a sample
        of it (:func:`~sparse_ae.activation_files.adaptation_sample`), and
        an ``ActivationDataset`` checks each batch as it reads it and
        shuffles in its own order (Keras's ``shuffle`` is turned off).
        """
        if validation_data is not None:
            first = (
                validation_data[0]
                if isinstance(validation_data, tuple)
                else validation_data
            )
            if isinstance(first, (np.ndarray, list)):
                self._as_checked_array("validation_data", first)
        if isinstance(x, (np.ndarray, list)) or keras.ops.is_tensor(x):
            x = self._as_checked_array("x", x)
            if not self.is_adapted:
                self.adapt(x)
        elif isinstance(x, keras.utils.PyDataset):
            if isinstance(x, ActivationDataset):
                if x.n_inputs != self.n_inputs:
                    raise ValueError(
                        f"x holds examples of width {x.n_inputs}, but the "
                        f"SparseAutoencoder has n_inputs={self.n_inputs}"
                    )
                kwargs["shuffle"] = False  # the dataset shuffles, from its seed
            if not self.is_adapted:
                self.adapt(adaptation_sample(x))
        elif not self.is_adapted:
            raise ValueError(
                "this SparseAutoencoder was never adapted: call adapt() on a "
                "sample of the data before fitting it on a dataset (a "
                "keras.utils.PyDataset is sampled by fit itself)"
            )
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """Keras's ``evaluate``, after checking that ``x`` is finite."""
        return super().evaluate(self._checked("x", x), y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """Keras's ``predict`` (the reconstructions), after checking that ``x`` is finite."""
        return super().predict(self._checked("x", x), *args, **kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "n_inputs": self.n_inputs,
            "n_latents": self.n_latents,
            "activation": self.activation,
            "k": self.k,
            "l1": self.l1,
            "l0": self.l0,
            "bandwidth": self.bandwidth,
            "prefixes": None if self.prefixes is None else list(self.prefixes),
            "auxk": self.auxk,
            "auxk_coef": self.auxk_coef,
            "dead_after": self.dead_after,
            "unit_norm": self.unit_norm,
            "norm_weighted_l1": self.norm_weighted_l1
            if self.activation == "relu"
            else None,
            "sparse": self.sparse,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _is_concrete(x):
    """Whether ``x`` is a backend tensor whose values are known now (eager)."""
    if not keras.ops.is_tensor(x):
        return False
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly() and not isinstance(
            x, keras.KerasTensor
        )
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    return False


def _random_unit_rows(shape, seed):
    """Rows drawn from a standard normal, then scaled to unit norm: directions
    uniform on the sphere."""
    rows = keras.random.normal(shape, seed=seed)
    return rows / ops.sqrt(ops.sum(ops.square(rows), axis=1, keepdims=True))


# ----------------------------------------------------------------- training


def train_sae(
    sae,
    x_train,
    x_valid,
    *,
    learning_rate=1e-3,
    batch_size=1024,
    max_epochs=200,
    patience=5,
    min_delta=1e-4,
    callbacks=(),
):
    """Train ``sae`` until its validation FVE stops improving; return the ``History``.

    Adapts the SAE on ``x_train`` if it was never adapted, compiles it with
    Adam (``learning_rate``, Gao et al.'s epsilon :data:`ADAM_EPSILON`), and
    fits it in shuffled batches of ``batch_size`` for up to ``max_epochs``
    epochs, stopping once the validation FVE (``val_fve``) has not improved
    by ``min_delta`` for ``patience`` epochs, and restoring the weights of the
    best epoch. ``history.history`` holds every metric per epoch;
    ``history.steps`` is the number of optimizer steps taken and
    ``history.best_epoch`` the epoch (from 1) whose weights were kept: the
    last one that improved the validation FVE by ``min_delta``.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    x_train = sae._as_checked_array("x_train", x_train)
    x_valid = sae._as_checked_array("x_valid", x_valid)
    batch_size = check_positive_int("batch_size", batch_size)
    max_epochs = check_positive_int("max_epochs", max_epochs)
    patience = check_positive_int("patience", patience)
    learning_rate = check_positive_number("learning_rate", learning_rate)
    min_delta = check_non_negative("min_delta", min_delta)
    steps_per_epoch = -(-len(x_train) // batch_size)
    sae.compile(
        optimizer=keras.optimizers.Adam(learning_rate, epsilon=ADAM_EPSILON),
        steps_per_execution=steps_per_epoch,
    )
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_fve",
        mode="max",
        min_delta=min_delta,
        patience=patience,
        restore_best_weights=True,
    )
    history = sae.fit(
        x_train,
        epochs=max_epochs,
        batch_size=batch_size,
        validation_data=(x_valid,),
        callbacks=[stopping, *callbacks],
        verbose=0,
    )
    if stopping.best_weights is not None:  # also when it never stopped
        sae.set_weights(stopping.best_weights)
    epochs = len(history.history["loss"])
    history.steps = epochs * steps_per_epoch
    history.best_epoch = stopping.best_epoch + 1
    return history
