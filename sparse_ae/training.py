"""Training with stable, compact output (every chapter that trains)."""

from __future__ import annotations

import time

import keras

__all__ = ["EpochLogger", "train"]


class EpochLogger(keras.callbacks.Callback):
    """Print one line per epoch: the losses and metrics at 4 decimals.

    Unlike Keras's progress bar it prints no timings, so its output is the
    same on every run and nbval can compare it. Elapsed time is available in
    ``logger.seconds`` after training.
    """

    def __init__(self, keys=("loss", "val_loss", "val_rounded_accuracy"), precision=4, print_fn=print):
        super().__init__()
        self.keys = tuple(keys)
        self.precision = precision
        self.print_fn = print_fn
        self.seconds = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = "  ".join(f"{k}={logs[k]:.{self.precision}f}" for k in self.keys if k in logs)
        total = self.params.get("epochs", "?")
        self.print_fn(f"epoch {epoch + 1:>2}/{total}  {shown}")

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._start


def train(autoencoder, X_train, X_valid, epochs=10, batch_size=32, logger=None, log_epochs=True):
    """Fit ``autoencoder`` to reconstruct its inputs, as the book trains it.

    Prints one line per epoch (see :class:`EpochLogger`; ``log_epochs=False``
    prints nothing) and returns the Keras ``History``; the wall time is in
    ``history.seconds``.
    """
    if logger is None:
        logger = EpochLogger() if log_epochs else EpochLogger(print_fn=lambda line: None)
    history = autoencoder.fit(
        X_train,
        X_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(X_valid, X_valid),
        verbose=0,
        callbacks=[logger],
    )
    history.seconds = logger.seconds
    return history
