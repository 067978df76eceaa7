"""Plain Keras 3 port of the book's KL autoencoder vs sparse_ae's fast path.

Trains the book's KL sparse autoencoder (weight 0.05, target 0.1, batch 32)
for two epochs on the full 55,000 training images, both ways, in one process
and from the same seed:

- plain: the book's code ported to Keras 3 and compiled as the book compiles it;
- fast:  ``sparse_ae.models.build_sparse_kl_autoencoder()``, whose compile adds
  XLA and ``steps_per_execution`` (``sparse_ae.models.FAST_PATH``).

It prints seconds per epoch for each, their ratio and both runs' losses. The
fast path must not change a single update, so the losses must match.

    python benchmarks/bench_fit.py [--epochs 2] [--repeats 1]
"""

import argparse
import time

import sparse_ae  # noqa: F401  (quiets TensorFlow before it loads)
import keras

from sparse_ae.data import load_fashion_mnist
from sparse_ae.metrics import rounded_accuracy
from sparse_ae.models import FAST_PATH, build_sparse_kl_autoencoder
from sparse_ae.regularizers import KLDivergenceRegularizer
from sparse_ae.reproducibility import seed_everything


def book_kl_autoencoder():
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
                         metrics=[rounded_accuracy])
    return sparse_kl_ae


def timed_fit(build, X_train, X_valid, epochs):
    seed_everything(42)
    model = build()
    start = time.perf_counter()
    history = model.fit(X_train, X_train, epochs=epochs, batch_size=32,
                        validation_data=(X_valid, X_valid), verbose=0)
    seconds = time.perf_counter() - start
    return seconds / epochs, history.history


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="alternate the two runs this many times")
    args = parser.parse_args()

    (X_train, _), (X_valid, _), _ = load_fashion_mnist()
    runs = {"plain": book_kl_autoencoder, "fast": lambda: build_sparse_kl_autoencoder()[2]}
    times = {name: [] for name in runs}
    histories = {}
    for _ in range(args.repeats):
        for name, build in runs.items():
            seconds, histories[name] = timed_fit(build, X_train, X_valid, args.epochs)
            times[name].append(seconds)

    print(f"fast path: {FAST_PATH}")
    print(f"{'run':<6} {'s/epoch (best)':>15}  losses per epoch (train / valid)")
    for name in runs:
        h = histories[name]
        losses = "  ".join(f"{a:.6f}/{b:.6f}" for a, b in zip(h["loss"], h["val_loss"]))
        print(f"{name:<6} {min(times[name]):>15.2f}  {losses}")
    ratio = min(times["plain"]) / min(times["fast"])
    print(f"speed-up: {ratio:.2f}x")
    diff = max(
        abs(a - b)
        for key in ("loss", "val_loss")
        for a, b in zip(histories["plain"][key], histories["fast"][key])
    )
    print(f"largest loss difference: {diff:.3g}")
    if diff != 0.0:
        raise SystemExit("the fast path changed the training: losses differ")


if __name__ == "__main__":
    main()
