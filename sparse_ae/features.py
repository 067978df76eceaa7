"""What coding units respond to and what their codes are good for (chapters 6 and 8)."""

from __future__ import annotations

import keras
import numpy as np


__all__ = [
    "decoder_unit_images",
    "encoder_unit_images",
    "top_activating",
    "linear_probe",
    "softmax_probe",
]


def decoder_unit_images(decoder, base=None, delta=1.0):
    """What raising each coding unit does to the reconstruction, shape (units, 28, 28).

    Image ``j`` is ``decoder(base + delta_j * e_j) - decoder(base)``: unit ``j``
    raised by ``delta_j`` (a number, or one per unit) from the code ``base``
    (default: all zeros), every other unit held fixed. The decoder is
    non-linear, so this is the unit's effect at that point, not a fixed
    template; the chapters use the average code and each unit's range.
    Introduced in chapter 6.
    """
    n_units = decoder.input_shape[-1]
    base = (
        np.zeros(n_units)
        if base is None
        else np.asarray(base, dtype=np.float64)
    )
    if base.shape != (n_units,):
        raise ValueError(
            f"base must have shape ({n_units},), got {base.shape}"
        )
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), (n_units,))
    codes = np.vstack([base, base + np.diag(delta)]).astype(np.float32)
    images = decoder.predict(codes, verbose=0)
    return images[1:] - images[:1]


def encoder_unit_images(encoder):
    """For each coding unit, the input direction that drives it, shape (units, 28, 28).

    The encoder is ``Dense(100, selu)`` then the coding layer; ignoring the
    SELU, unit ``j``'s pre-activation is linear in the pixels with weights
    ``W1 @ W2[:, j]``. Introduced in chapter 6.
    """
    dense = [
        layer
        for layer in encoder.layers
        if isinstance(layer, keras.layers.Dense)
    ]
    if len(dense) != 2:
        raise ValueError(
            f"expected an encoder with two Dense layers, found {len(dense)}"
        )
    w1 = keras.ops.convert_to_numpy(dense[0].kernel)
    w2 = keras.ops.convert_to_numpy(dense[1].kernel)
    return (w1 @ w2).T.reshape(-1, 28, 28)


def top_activating(codings, unit, n=8):
    """Indices of the ``n`` examples on which ``unit`` is most active, most active first."""
    codings = np.asarray(codings)
    if not 0 <= unit < codings.shape[1]:
        raise ValueError(
            f"unit must be in [0, {codings.shape[1]}), got {unit}"
        )
    return np.argsort(-codings[:, unit], kind="stable")[:n]


def _standardised(features_train, features_test):
    """Both sets scaled with the training set's mean and standard deviation
    (a constant feature is left at 0), as 2-D float arrays."""
    f_train = np.asarray(features_train, dtype=np.float64)
    f_train = f_train.reshape(len(f_train), -1)
    f_test = np.asarray(features_test, dtype=np.float64)
    f_test = f_test.reshape(len(f_test), -1)
    if f_train.shape[1] != f_test.shape[1]:
        raise ValueError(
            "features_train and features_test must have the same number "
            f"of features, got {f_train.shape[1]} and {f_test.shape[1]}"
        )
    mean, std = f_train.mean(axis=0), f_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (f_train - mean) / std, (f_test - mean) / std


def linear_probe(features_train, y_train, features_test, y_test, alpha=1.0):
    """Test accuracy of a linear classifier fitted to frozen features.

    Ridge regression from the standardised features (plus a constant) to
    one-hot labels, solved in closed form, then the class with the largest
    output: one linear map, no training loop, no random seed. Introduced
    in chapter 8, *Sparse codes as features*.
    """
    f_train, f_test = _standardised(features_train, features_test)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(f_train) != len(y_train) or len(f_test) != len(y_test):
        raise ValueError("give one label per example of each set")
    a = np.hstack([f_train, np.ones((len(f_train), 1))])
    targets = np.eye(int(y_train.max()) + 1)[y_train]
    gram = a.T @ a + alpha * np.eye(a.shape[1])
    weights = np.linalg.solve(gram, a.T @ targets)
    scores = np.hstack([f_test, np.ones((len(f_test), 1))]) @ weights
    return float(np.mean(scores.argmax(axis=1) == y_test))


def softmax_probe(
    features_train, y_train, features_test, y_test, epochs=5, seed=42
):
    """Test accuracy of a softmax layer trained on frozen features.

    The same standardisation as :func:`linear_probe`, then one
    ``Dense(10, softmax)`` layer trained with Adam (learning rate 2e-3,
    batches of 256) on the cross-entropy: the usual probe of deep learning,
    against :func:`linear_probe`'s least squares. Seeded. Introduced in
    chapter 8, *Sparse codes as features*.
    """
    from .reproducibility import seed_everything

    f_train, f_test = (f.astype(np.float32) for f in
                       _standardised(features_train, features_test))
    seed_everything(seed)
    model = keras.Sequential([
        keras.Input(shape=(f_train.shape[1],)),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(2e-3),
                  metrics=["accuracy"], steps_per_execution=100)
    model.fit(f_train, y_train, epochs=epochs, batch_size=256, verbose=0)
    return float(model.evaluate(f_test, y_test, verbose=0)[1])
