"""A classifier to look inside, and how to judge an SAE spliced into it.

Chapter 12, *An SAE on a real network*, trains a small Fashion-MNIST
classifier, reads the activations of one of its hidden layers, and trains
sparse autoencoders (:class:`sparse_ae.sae.SparseAutoencoder`) on them.
This module holds what that needs besides the SAE itself:

- the classifier: :func:`build_classifier` and :func:`train_classifier`;
- the network cut after a layer: :func:`layer_activations` (what comes out
  of the layer) and :func:`run_from_layer` (the rest of the network, fed
  with any activations);
- :func:`spliced_performance`: the classifier's cross-entropy and accuracy
  with the layer's activations replaced, e.g. by an SAE's reconstruction of
  them, or by zeros;
- two ways to look at a code's units: :func:`firing_frequency` (how often
  each fires) and :func:`class_purity` (how much its top examples share a
  class).

The classifier outputs *logits* (no softmax), so that the cross-entropy is
computed from them stably.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np

from ._checks import check_positive_int
from .reproducibility import seed_everything

__all__ = [
    "build_classifier",
    "train_classifier",
    "layer_activations",
    "run_from_layer",
    "spliced_performance",
    "firing_frequency",
    "class_purity",
]




def build_classifier(hidden=(128, 64), n_classes=10, input_shape=(28, 28)):
    """A multilayer perceptron that outputs logits, uncompiled.

    ``Flatten``, then one ``Dense(width, relu)`` per entry of ``hidden``,
    named ``hidden_1``, ``hidden_2``, ..., then ``Dense(n_classes)``
    named ``logits``.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    if isinstance(hidden, numbers.Integral):
        hidden = (hidden,)
    widths = [check_positive_int("hidden", w) for w in tuple(hidden)]
    if not widths:
        raise ValueError("hidden must list at least one layer width")
    n_classes = check_positive_int("n_classes", n_classes)
    layers = [keras.Input(shape=tuple(input_shape)),
              keras.layers.Flatten()]
    for i, width in enumerate(widths, start=1):
        layers.append(keras.layers.Dense(width, activation="relu",
                                         name=f"hidden_{i}"))
    layers.append(keras.layers.Dense(n_classes, name="logits"))
    return keras.Sequential(layers, name="classifier")


def train_classifier(X_train, y_train, hidden=(128, 64), epochs=3,
                     batch_size=256, learning_rate=2e-3, seed=42):
    """:func:`build_classifier`, compiled and trained, seeded; returns it.

    ``seed_everything(seed)`` first, then Adam on the sparse categorical
    cross-entropy of the logits, with an ``accuracy`` metric, trained
    silently. ``y_train`` holds class ids 0, 1, ...; the number of classes
    is the largest plus one.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    X_train = _as_examples("X_train", X_train)
    y_train = np.asarray(y_train)
    if y_train.shape != (len(X_train),):
        raise ValueError(
            f"y_train must hold one label per example of X_train, "
            f"got shape {y_train.shape} for {len(X_train)} examples"
        )
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    seed_everything(seed)
    model = build_classifier(hidden, n_classes=int(y_train.max()) + 1,
                             input_shape=X_train.shape[1:])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=50,
    )
    model.fit(X_train, y_train, epochs=epochs, batch_size=batch_size,
              verbose=0)
    return model


def _as_examples(name, x):
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(
            f"{name} must be a non-empty array of examples, "
            f"got shape {x.shape}"
        )
    return x


def _layer_index(model, layer_name):
    """The position of ``layer_name`` in a Sequential ``model``."""
    if not isinstance(model, keras.Sequential):
        raise ValueError(
            "model must be a keras.Sequential (a stack of layers to cut "
            f"in two), got {type(model).__name__}"
        )
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(
            f"layer_name={layer_name!r} is not a layer of the model; "
            f"its layers are {names}"
        )
    index = names.index(layer_name)
    if index == len(names) - 1:
        raise ValueError(
            f"layer_name={layer_name!r} is the model's output layer: "
            "nothing runs after it"
        )
    return index


def _run_layers(layers, x, batch_size):
    """``x`` through ``layers`` in order, called directly, batch by batch.

    Calling the layers, rather than ``predict`` on a new model, spares the
    tracing of a new function for every cut of the network.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    outputs = []
    for start in range(0, len(x), batch_size):
        out = x[start:start + batch_size]
        for layer in layers:
            out = layer(out)
        outputs.append(keras.ops.convert_to_numpy(out))
    return np.concatenate(outputs)


def layer_activations(model, layer_name, X, batch_size=1000):
    """What comes out of the layer ``layer_name`` on the inputs ``X``.

    A NumPy array of shape ``(n_examples, width)``. ``model`` is a
    ``keras.Sequential`` (like :func:`build_classifier`'s), cut after the
    named layer.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    index = _layer_index(model, layer_name)
    X = _as_examples("X", X)
    return _run_layers(model.layers[:index + 1], X, batch_size)


def run_from_layer(model, layer_name, activations, batch_size=1000):
    """The model's output when ``layer_name`` outputs ``activations``.

    Runs only the layers after ``layer_name``, on ``activations`` of shape
    ``(n_examples, width)``. Fed the layer's own activations (from
    :func:`layer_activations`), it gives back what ``model`` outputs.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    index = _layer_index(model, layer_name)
    activations = _as_examples("activations", activations)
    width = model.layers[index].output.shape[-1]
    if activations.ndim != 2 or activations.shape[1] != width:
        raise ValueError(
            f"activations must have shape (n_examples, {width}) for layer "
            f"{layer_name!r}, got {activations.shape}"
        )
    return _run_layers(model.layers[index + 1:], activations, batch_size)


def spliced_performance(model, layer_name, X, y, replace=None,
                        batch_size=1000):
    """Cross-entropy and accuracy with a layer's output replaced.

    The activations of ``layer_name`` on ``X`` go through ``replace``, a
    function from an array ``(n_examples, width)`` to one of the same
    shape, before the rest of the network runs on them:

    - ``replace=None`` leaves them as they are (the original network);
    - ``replace=np.zeros_like`` is *zero-ablation*: the layer switched off;
    - ``replace=sae.predict`` splices in an SAE's reconstruction.

    Returns ``{"cross_entropy": ..., "accuracy": ...}`` on ``(X, y)``: the
    mean cross-entropy in nats (from the logits, in float64) and the share
    of examples classified right.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    y = np.asarray(y)
    activations = layer_activations(model, layer_name, X, batch_size)
    if y.shape != (len(activations),):
        raise ValueError(
            f"y must hold one label per example of X, got shape {y.shape} "
            f"for {len(activations)} examples"
        )
    if replace is not None:
        if not callable(replace):
            raise ValueError(
                "replace must be None or a function of the activations, "
                f"got {replace!r}"
            )
        replaced = np.asarray(replace(activations))
        if replaced.shape != activations.shape:
            raise ValueError(
                "replace must return an array shaped like the "
                f"activations, {activations.shape}; got {replaced.shape}"
            )
        activations = replaced
    logits = run_from_layer(model, layer_name, activations, batch_size)
    logits = logits.astype(np.float64)
    # cross-entropy = log-sum-exp of the logits - the label's logit
    top = logits.max(axis=1)
    log_sum_exp = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    label_logit = logits[np.arange(len(y)), y.astype(np.int64)]
    return {
        "cross_entropy": float(np.mean(log_sum_exp - label_logit)),
        "accuracy": float(np.mean(logits.argmax(axis=1) == y)),
    }


def _as_codings(name, codings):
    try:
        a = np.asarray(codings, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name} must be an array of numbers: {error}"
        ) from None
    if a.ndim != 2 or a.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array (n_examples, n_units), "
            f"got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def firing_frequency(latents):
    """Per latent: the share of examples on which it is non-zero (*fires*).

    ``latents`` has shape ``(n_examples, n_latents)``. A latent that never
    fires has frequency 0: it is silent on these examples (as in
    :func:`sparse_ae.metrics.silent_fraction`), and the frequencies add up to
    the mean L0 (:func:`sparse_ae.metrics.l0`). An SAE's *feature density*
    histogram is the histogram of their ``log10`` (Bricken et al., 2023).

    Introduced in chapter 12, *An SAE on a real network*.
    """
    return np.mean(_as_codings("latents", latents) != 0, axis=0)


def class_purity(codings, labels, n_top=20, quantile=0.0):
    """Per unit: how much its ``n_top`` top examples share one class.

    For unit ``j``, take the ``n_top`` examples with the largest
    ``codings[:, j]``; its purity is the share of them in their most common
    class. 1 means all of one class; with ten balanced classes, a unit
    blind to the class scores about 0.22 (for ``n_top=20``). A unit that is
    positive on fewer than ``n_top`` examples gets ``NaN``: it is not
    rated.

    ``quantile`` (in [0, 1]) moves the window of ``n_top`` examples down
    the unit's positive activations, ranked from the largest: 0 (the
    default) takes the top ones, 1 the weakest positive ones, 0.5 those
    in the middle. Top activations tend to overstate how selective a unit
    is (Bricken et al., 2023); a window lower down checks that.

    ``codings`` has shape ``(n_examples, n_units)``; ``labels`` holds one
    class id (0, 1, ...) per example.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    codings = _as_codings("codings", codings)
    labels = np.asarray(labels)
    if labels.shape != (len(codings),):
        raise ValueError(
            f"labels must hold one class per example, shape "
            f"({len(codings)},); got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("labels must be class ids: integers >= 0")
    n_top = check_positive_int("n_top", n_top)
    if n_top > len(codings):
        raise ValueError(
            f"n_top={n_top} is more than the {len(codings)} examples"
        )
    if (isinstance(quantile, bool) or not isinstance(quantile, numbers.Real)
            or not 0 <= quantile <= 1):
        raise ValueError(
            f"quantile must be a number in [0, 1], got {quantile!r}"
        )
    order = np.argsort(-codings, axis=0, kind="stable")
    n_positive = np.sum(codings > 0, axis=0)
    # first rank of each unit's window: 0 for the top n_top examples
    first = np.floor(quantile * np.maximum(n_positive - n_top, 0))
    ranks = first.astype(np.int64)[None, :] + np.arange(n_top)[:, None]
    top = np.take_along_axis(order, ranks, axis=0)
    top_labels = labels[top]  # (n_top, n_units)
    n_classes = int(labels.max()) + 1
    counts = np.stack([np.bincount(top_labels[:, j], minlength=n_classes)
                       for j in range(codings.shape[1])])
    purity = counts.max(axis=1) / n_top
    rated = np.sum(codings > 0, axis=0) >= n_top
    return np.where(rated, purity, np.nan)
