"""Training speed of the book's KL autoencoder: the plain port against the fast paths.

Trains the book's KL sparse autoencoder (weight 0.05, target 0.1, batch 32,
full training set, validation every epoch) several ways, each from the same
initial weights and with the same shuffled order:

TensorFlow backend, in this process:
- ``plain``:       the book's listing ported to Keras 3, compiled as the book
                   compiles it, trained with ``fit``;
- ``spe100``:      the same with ``steps_per_execution=100``;
- ``xla+spe100``:  the same with ``jit_compile=True`` as well (Keras switches
                   XLA off under TF op determinism, so this run does not
                   enable it);
- ``fast``:        ``sparse_ae.training.fast_fit``: one XLA computation per
                   epoch (what the chapters use).

JAX backend, in a child process (the backend is fixed per process; its
initial weights differ from TensorFlow's, so compare its rows with each
other): ``plain`` (``fit``, which Keras compiles with XLA on JAX; this is
``sparse_ae.training.fast_fit`` on JAX), ``spe100`` and ``spe-epoch``
(``steps_per_execution`` of 100 steps, and of one epoch).

For each run it prints seconds per epoch (the best epoch after the first,
which includes compilation), the speed-up over ``plain`` and the largest
difference of its per-epoch losses from ``plain``'s. Then the roofline: the
floating-point work of one epoch divided by the speed of a large matrix
product on this machine, which no training step of this model can beat.

    python benchmarks/bench_fit.py [--epochs 3] [--no-jax]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import sparse_ae  # noqa: F401  (quiets TensorFlow's start-up messages)
import keras

from sparse_ae.data import load_fashion_mnist
from sparse_ae.metrics import rounded_accuracy
from sparse_ae.regularizers import KLDivergenceRegularizer
from sparse_ae.training import fast_fit

BATCH = 32


def book_kl_autoencoder(**compile_kwargs):
    """The book's listing, with only the Keras 3 renames (keras.Input, learning_rate=)."""
    kld_reg = KLDivergenceRegularizer(weight=0.05, target=0.1)
    sparse_kl_encoder = keras.models.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="selu"),
        keras.layers.Dense(300, activation="sigmoid", activity_regularizer=kld_reg),
    ])
    sparse_kl_decoder = keras.models.Sequential([
        keras.Input(shape=(300,)),
        keras.layers.Dense(100, activation="selu"),
        keras.layers.Dense(28 * 28, activation="sigmoid"),
        keras.layers.Reshape([28, 28]),
    ])
    sparse_kl_ae = keras.models.Sequential([sparse_kl_encoder, sparse_kl_decoder])
    sparse_kl_ae.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1.0),
                         metrics=[rounded_accuracy], **compile_kwargs)
    return sparse_kl_ae


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def flops_per_epoch(model, n_train, n_valid):
    """Floating-point operations of one epoch: training steps plus validation.

    Counts the matrix products of the Dense layers (two operations per
    multiply-add): forward 2*m*n per example, backward 2*m*n for the weight
    gradient plus 2*m*n for the input gradient (not needed by the first
    layer). Elementwise work (activations, loss, updates) is ignored; it is
    small next to the products.
    """
    dense = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dense)]
    forward = sum(2 * layer.kernel.shape[0] * layer.kernel.shape[1] for layer in dense)
    backward = 2 * forward - 2 * dense[0].kernel.shape[0] * dense[0].kernel.shape[1]
    return n_train * (forward + backward) + n_valid * forward


def matmul_gflops(size=2048, repeats=10):
    """Best speed of a float32 square matrix product on this backend, in GFLOP/s."""
    a = keras.random.normal((size, size), seed=1)
    b = keras.random.normal((size, size), seed=2)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def run(variant, X_train, X_valid, initial_weights, epochs):
    """Train one variant from ``initial_weights``; return seconds per epoch and losses."""
    n_batches = -(-len(X_train) // BATCH)
    compile_kwargs = {
        "plain": {}, "spe100": {"steps_per_execution": 100},
        "spe-epoch": {"steps_per_execution": n_batches},
        "xla+spe100": {"steps_per_execution": 100, "jit_compile": True},
        "fast": {},
    }[variant]
    keras.utils.set_random_seed(42)
    model = book_kl_autoencoder(**compile_kwargs)
    model.set_weights(initial_weights)
    timer = EpochTimer()
    if variant == "fast":
        history = fast_fit(model, X_train, epochs=epochs, batch_size=BATCH,
                           validation_data=(X_valid, X_valid), callbacks=[timer])
    else:
        history = model.fit(X_train, X_train, epochs=epochs, batch_size=BATCH, verbose=0,
                            validation_data=(X_valid, X_valid), callbacks=[timer])
    return {"seconds": min(timer.seconds[1:] or timer.seconds), "first": timer.seconds[0],
            "loss": history.history["loss"], "val_loss": history.history["val_loss"], "model": model}


def measure(variants, epochs):
    (X_train, _), (X_valid, _), _ = load_fashion_mnist()
    keras.utils.set_random_seed(42)
    initial_weights = book_kl_autoencoder().get_weights()
    results = {name: run(name, X_train, X_valid, initial_weights, epochs) for name in variants}
    model = results[variants[0]].pop("model")
    for r in results.values():
        r.pop("model", None)
    return {
        "backend": keras.backend.backend(),
        "results": results,
        "flops": flops_per_epoch(model, len(X_train), len(X_valid)),
        "gflops": matmul_gflops(),
    }


def report(measured):
    backend, results = measured["backend"], measured["results"]
    plain = results["plain"]
    roofline = measured["flops"] / (measured["gflops"] * 1e9)
    print(f"\n{backend}: {measured['flops'] / 1e9:.1f} GFLOP per epoch; a {2048}x{2048} matmul runs at "
          f"{measured['gflops']:.0f} GFLOP/s, so the roofline is {roofline:.2f} s/epoch")
    print(f"{'run':<12}{'s/epoch':>9}{'speed-up':>10}{'x roofline':>12}{'max |loss - plain|':>20}  final loss / val_loss")
    for name, r in results.items():
        diff = max(abs(a - b) for key in ("loss", "val_loss") for a, b in zip(r[key], plain[key]))
        print(f"{name:<12}{r['seconds']:>9.2f}{plain['seconds'] / r['seconds']:>9.2f}x{r['seconds'] / roofline:>11.1f}x"
              f"{diff:>20.2e}  {r['loss'][-1]:.6f} / {r['val_loss'][-1]:.6f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX backend")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:  # the JAX run, in a child process: print JSON for the parent
        measured = measure(["plain", "spe100", "spe-epoch"], args.epochs)
        print("RESULT " + json.dumps(measured))
        return

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"Keras {keras.__version__}; batch {BATCH}; {args.epochs} epochs per run")
    report(measure(["plain", "spe100", "xla+spe100", "fast"], args.epochs))
    if not args.no_jax:
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        out = subprocess.run([sys.executable, __file__, "--child", "--epochs", str(args.epochs)],
                             env=env, capture_output=True, text=True, check=True).stdout
        report(json.loads(out.split("RESULT ", 1)[1]))


if __name__ == "__main__":
    main()
