"""A model's training loss and its gradients, on any backend, and a finite-difference check (chapter 3).

``fit`` minimises one number per batch: the compiled loss (binary
cross-entropy for the book's models) plus every penalty the layers add
(Keras divides activity penalties by the batch size). The functions here
compute exactly that number, as ``fit`` does, so that its gradient can be
checked against a derivation or against finite differences: the standard way
to check an implementation of a new penalty.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

__all__ = [
    "float64",
    "gradient",
    "training_loss",
    "loss_and_gradients",
    "numerical_gradient",
]


@contextlib.contextmanager
def float64():
    """Build models in float64 inside the block (for gradient checks).

    In float32, a central difference with step h has a rounding error of
    about 1e-7 / h, too large to check a gradient to many digits. Build the
    model *and* compute its losses inside the block: Keras creates a compiled
    loss's function on first use, in the precision in force then.
    """
    saved_policy, saved_floatx = (
        keras.config.dtype_policy(),
        keras.config.floatx(),
    )
    with contextlib.ExitStack() as stack:
        if keras.backend.backend() == "jax":
            stack.enter_context(_jax_float64())
        keras.config.set_floatx("float64")
        keras.config.set_dtype_policy("float64")
        stack.callback(keras.config.set_floatx, saved_floatx)
        stack.callback(keras.config.set_dtype_policy, saved_policy)
        yield


@contextlib.contextmanager
def _jax_float64():
    """JAX in float64: enable x64, and make ``keras.ops.mean`` reduce in float64.

    JAX computes in float32 unless ``jax_enable_x64`` is on. And Keras 3.15's
    JAX ``mean`` reduces in ``result_type(x.dtype, "float32")``, which Keras's
    type promotion makes float32 even for float64 input, so a float64 loss
    would carry float32 rounding (1e-7 relative). Inside this block ``mean``
    reduces in the input's own precision.
    """
    import jax
    import jax.numpy as jnp
    from keras.src.backend.jax import numpy as jax_numpy

    saved_x64, saved_mean = jax.config.jax_enable_x64, jax_numpy.mean

    def mean(x, axis=None, keepdims=False):
        x = jax_numpy.convert_to_tensor(x)
        if jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.mean(x, axis=axis, keepdims=keepdims)
        return saved_mean(x, axis=axis, keepdims=keepdims)

    jax.config.update("jax_enable_x64", True)
    jax_numpy.mean = mean
    try:
        yield
    finally:
        jax_numpy.mean = saved_mean
        jax.config.update("jax_enable_x64", saved_x64)


def gradient(f, x):
    """The gradient of the scalar ``f(x)`` with respect to the array ``x``, as NumPy.

    ``f`` is written with ``keras.ops``; the gradient comes from the backend's
    automatic differentiation (``tf.GradientTape`` or ``jax.grad``).
    Introduced in chapter 2.
    """
    x = np.asarray(x)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: f(v))(jax.numpy.asarray(x)))
    if backend == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = f(v)
        return tape.gradient(value, v).numpy()
    raise NotImplementedError(
        f"gradient supports TensorFlow and JAX, not {backend}"
    )


def _as_batch(model, x, y):
    dtype = model.trainable_variables[0].dtype
    x = keras.ops.convert_to_tensor(np.asarray(x), dtype=dtype)
    y = (
        x
        if y is None
        else keras.ops.convert_to_tensor(np.asarray(y), dtype=dtype)
    )
    return x, y


def _jax_loss_function(model, x, y):
    """loss(trainable values) for the JAX backend, via Keras's stateless API."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    non_trainable = [v.value for v in model.non_trainable_variables]
    metrics = [v.value for v in model.metrics_variables]
    optimizer = [v.value for v in model.optimizer.variables]

    def loss(trainable):
        value, _ = model.compute_loss_and_updates(
            trainable,
            non_trainable,
            metrics,
            x,
            y,
            None,
            training=True,
            optimizer_variables=optimizer,
        )
        return value

    return loss


def training_loss(model, x, y=None):
    """The loss ``fit`` minimises on a batch ``x`` (targets ``y`` or ``x``).

    The compiled loss plus the layers' penalties, computed in training mode,
    as one float. The model must be compiled. Introduced in chapter 3.
    """
    x, y = _as_batch(model, x, y)
    if keras.backend.backend() == "jax":
        return float(
            _jax_loss_function(model, x, y)(
                [v.value for v in model.trainable_variables]
            )
        )
    y_pred = model(x, training=True)
    return float(model.compute_loss(x=x, y=y, y_pred=y_pred, training=True))


def loss_and_gradients(model, x, y=None):
    """``(loss, gradients)``: :func:`training_loss` and its gradient with respect
    to each of ``model.trainable_variables``, as NumPy arrays, by automatic
    differentiation (``tf.GradientTape`` on TensorFlow, ``jax.grad`` on JAX).

    Introduced in chapter 3.
    """
    x, y = _as_batch(model, x, y)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        values = [v.value for v in model.trainable_variables]
        loss, grads = jax.value_and_grad(_jax_loss_function(model, x, y))(
            values
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        grads = tape.gradient(loss, model.trainable_variables)
    else:
        raise NotImplementedError(
            f"loss_and_gradients supports TensorFlow and JAX, not {backend}"
        )
    return float(loss), [
        np.asarray(keras.ops.convert_to_numpy(g)) for g in grads
    ]


def numerical_gradient(model, x, variable, indices, y=None, step=1e-5):
    """Central differences of :func:`training_loss` with respect to some entries of ``variable``.

    ``indices`` is a list of index tuples into ``variable`` (one of the
    model's trainable variables). Returns one derivative per index, as a
    NumPy array. The variable is restored afterwards. Use a float64 model
    (see :func:`float64`) for a precise check. Introduced in chapter 3.
    """
    original = np.array(keras.ops.convert_to_numpy(variable.value))
    derivatives = []
    try:
        for index in indices:
            values = []
            for sign in (1, -1):
                shifted = original.copy()
                shifted[tuple(index)] += sign * step
                variable.assign(shifted)
                values.append(training_loss(model, x, y))
            derivatives.append((values[0] - values[1]) / (2 * step))
    finally:
        variable.assign(original)
    return np.array(derivatives)
