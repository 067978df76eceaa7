"""Training with compact output, at the machine's pace (chapters that train).

:func:`train` is what the chapters call. It makes the updates of Keras's
``fit(X, X, batch_size=32, shuffle=True)``: the same batches in the same
order, one SGD update per batch, the same reported losses and metrics, equal
up to float32 rounding. Only the machinery around the updates changes,
because for the book's small models on a CPU that machinery costs more than
the arithmetic:

* On **TensorFlow** (the book's backend), :func:`fast_fit` compiles a whole
  epoch of training steps into one XLA computation: the data are gathered in
  Keras's own shuffled order, and a loop inside the compiled function calls
  the model's ``train_step`` once per batch. ``fit`` instead feeds each batch
  through ``tf.data`` and returns to Python between steps (or every
  ``steps_per_execution`` steps).
* On **JAX**, Keras's ``fit`` is already compiled with XLA, and
  :func:`fast_fit` calls it.

``benchmarks/bench_fit.py`` measures both paths against the book's plain
``fit``, from the same initial weights, and prints the losses of each.
"""

from __future__ import annotations

import time

import keras
import numpy as np

__all__ = ["EpochLogger", "fast_fit", "train"]


class EpochLogger(keras.callbacks.Callback):
    """Print one line per epoch: the losses and metrics at 4 decimals.

    Unlike Keras's progress bar it prints no timings, so its output is the
    same on every run and nbval can compare it. Elapsed time is available in
    ``logger.seconds`` after training.
    """

    def __init__(
        self,
        keys=("loss", "val_loss", "val_rounded_accuracy"),
        precision=4,
        print_fn=print,
    ):
        super().__init__()
        self.keys = tuple(keys)
        self.precision = precision
        self.print_fn = print_fn
        self.seconds = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = "  ".join(
            f"{k}={logs[k]:.{self.precision}f}"
            for k in self.keys
            if k in logs
        )
        total = self.params.get("epochs", "?")
        self.print_fn(f"epoch {epoch + 1:>2}/{total}  {shown}")

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._start


def _shuffled_order(n_examples, batch_size):
    """A function that returns, each time it is called, the next epoch's order
    of example indices, as Keras's ``fit`` draws it on the TensorFlow backend.

    It runs Keras's own array data adapter on the indices ``0..n-1`` (the
    permutation depends only on the number of examples and the random seed,
    not on the data), so the order is Keras's, whatever its version does.
    """
    from keras.src.trainers.data_adapters.array_data_adapter import (
        ArrayDataAdapter,
    )

    adapter = ArrayDataAdapter(
        np.arange(n_examples), batch_size=batch_size, shuffle=True
    )
    # One element per epoch: all of its batches of indices, concatenated.
    dataset = adapter.get_tf_dataset().unbatch().batch(n_examples)

    def next_epoch():
        (order,) = list(dataset)
        return order

    return next_epoch


def _tf_loops(model):
    """XLA-compiled loops over the batches of one epoch.

    ``train(x, y, batches)`` calls ``model.train_step`` on ``x[batch]`` for
    each row of ``batches`` (example indices, one batch per row), in order;
    ``evaluate(x, y, batches)`` calls ``model.test_step`` likewise. Each is
    one XLA computation: nothing returns to Python between the steps.
    """
    import tensorflow as tf

    def loop(step):
        @tf.function(jit_compile=True, reduce_retracing=True)
        def run(x, y, batches):
            for i in tf.range(tf.shape(batches)[0]):
                step((tf.gather(x, batches[i]), tf.gather(y, batches[i])))

        return run

    return loop(model.train_step), loop(model.test_step)


def _batches(order, batch_size):
    """``order`` split into a stack of full batches and the remainder (maybe empty)."""
    n_full = len(order) // batch_size
    full = order[: n_full * batch_size].reshape(n_full, batch_size)
    return full, order[n_full * batch_size :].reshape(1, -1)


def fast_fit(
    model,
    x,
    y=None,
    *,
    epochs=1,
    batch_size=32,
    validation_data=None,
    callbacks=(),
):
    """``model.fit(x, y, epochs=..., batch_size=..., validation_data=..., verbose=0)``, faster.

    The same updates as ``fit`` (see the module docstring): Keras's shuffled
    order, one optimizer step per batch of ``batch_size`` (the last batch may
    be smaller), the same ``History`` and callback calls at the epoch level
    (there are no per-batch callbacks), and validation as ``evaluate`` does
    it, batch by batch. ``y`` defaults to ``x``, as an autoencoder needs.
    On the JAX backend this *is* ``model.fit``.
    """
    x = np.asarray(x)
    y = x if y is None else np.asarray(y)
    if len(x) != len(y):
        raise ValueError(
            f"x and y must have the same number of examples, got {len(x)} and {len(y)}"
        )
    if len(x) == 0:
        raise ValueError("x is empty")
    if keras.backend.backend() != "tensorflow":
        return model.fit(
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=validation_data,
            verbose=0,
            callbacks=list(callbacks),
        )
    import tensorflow as tf

    if not (model.built and model.optimizer.built):
        # Create the optimizer's and metrics' variables before tracing (fit
        # creates them while tracing its first step; an XLA loop cannot).
        model._symbolic_build(data_batch=(x[:batch_size], y[:batch_size]))
    train_loop, evaluate_loop = _tf_loops(model)
    next_order = _shuffled_order(len(x), batch_size)
    x, y = tf.constant(x), tf.constant(y)
    if validation_data is not None:
        x_val, y_val = (tf.constant(np.asarray(v)) for v in validation_data)
        val_batches = _batches(np.arange(len(x_val)), batch_size)

    callbacks = keras.callbacks.CallbackList(
        list(callbacks),
        add_history=True,
        model=model,
        verbose=0,
        epochs=epochs,
        steps=-(-len(x) // batch_size),
    )
    model.stop_training = False
    callbacks.on_train_begin()
    logs = {}
    for epoch in range(epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for batches in _batches(next_order().numpy(), batch_size):
            if batches.size:
                train_loop(x, y, batches)
        logs = {
            name: float(value)
            for name, value in model.get_metrics_result().items()
        }
        if validation_data is not None:
            model.reset_metrics()
            for batches in val_batches:
                if batches.size:
                    evaluate_loop(x_val, y_val, batches)
            val_logs = model.get_metrics_result()
            logs.update(
                {
                    f"val_{name}": float(value)
                    for name, value in val_logs.items()
                }
            )
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end(logs)
    return model.history


def train(
    autoencoder,
    X_train,
    X_valid,
    epochs=10,
    batch_size=32,
    logger=None,
    log_epochs=True,
    callbacks=(),
    fast=True,
):
    """Fit ``autoencoder`` to reconstruct its inputs, as the book trains it.

    Prints one line per epoch (see :class:`EpochLogger`; ``log_epochs=False``
    prints nothing) and returns the Keras ``History``; the wall time is in
    ``history.seconds``. ``fast=True`` trains with :func:`fast_fit`,
    ``fast=False`` with Keras's ``fit``: the same updates either way.
    """
    if logger is None:
        logger = (
            EpochLogger()
            if log_epochs
            else EpochLogger(print_fn=lambda line: None)
        )
    callbacks = [logger, *callbacks]
    if fast:
        history = fast_fit(
            autoencoder,
            X_train,
            X_train,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=(X_valid, X_valid),
            callbacks=callbacks,
        )
    else:
        history = autoencoder.fit(
            X_train,
            X_train,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=(X_valid, X_valid),
            verbose=0,
            callbacks=callbacks,
        )
    history.seconds = logger.seconds
    return history
