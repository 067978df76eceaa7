"""Tests of sparse_ae.network: the classifier of chapter 12, cut at a layer.

Every expectation is computed independently, in NumPy, from the model's
weights or from its own output.
"""

import keras
import numpy as np
import pytest

from sparse_ae.network import (
    build_classifier,
    class_purity,
    firing_frequency,
    layer_activations,
    run_from_layer,
    spliced_performance,
    train_classifier,
)
from sparse_ae.reproducibility import seed_everything


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def model():
    """An untrained classifier of 6x6 "images": 36 -> 5 -> 4 -> 3 logits."""
    seed_everything(0)
    m = build_classifier(hidden=(5, 4), n_classes=3, input_shape=(6, 6))
    # Non-zero biases, so that zero-ablation differs from a zero input.
    for layer in m.layers[1:]:
        layer.bias.assign(np.linspace(-0.5, 0.5, layer.bias.shape[0]))
    return m


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(23, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=23)
    return X, y


def weights(model, name):
    layer = model.get_layer(name)
    return to_numpy(layer.kernel).astype(np.float64), to_numpy(layer.bias)


def numpy_forward(model, X):
    """(hidden_1, hidden_2, logits) of ``model`` on ``X``, in NumPy."""
    h = X.reshape(len(X), -1).astype(np.float64)
    outputs = []
    for name, relu in [("hidden_1", True), ("hidden_2", True),
                       ("logits", False)]:
        W, b = weights(model, name)
        h = h @ W + b
        if relu:
            h = np.maximum(h, 0.0)
        outputs.append(h)
    return outputs


def cross_entropy_and_accuracy(logits, y):
    """Mean cross-entropy from logits, and accuracy, in plain NumPy."""
    logits = np.asarray(logits, dtype=np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    ce = -np.mean(np.log(p[np.arange(len(y)), y]))
    return ce, np.mean(logits.argmax(axis=1) == y)


# ------------------------------------------------------------- the model


def test_build_classifier_names_its_layers_and_outputs_logits(model):
    assert isinstance(model.layers[0], keras.layers.Flatten)
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["hidden_1", "hidden_2", "logits"]
    assert model.output_shape == (None, 3)
    assert model.get_layer("logits").activation is keras.activations.linear, (
        "the output layer must give logits (no softmax): the cross-entropy "
        "is computed from them"
    )
    assert model.get_layer("hidden_1").activation is keras.activations.relu


def test_layer_activations_are_the_layer_outputs(model, data):
    X, _ = data
    h1, h2, _ = numpy_forward(model, X)
    np.testing.assert_allclose(layer_activations(model, "hidden_1", X), h1,
                               rtol=1e-5, atol=1e-6)
    # batches that do not divide the examples evenly give the same result
    np.testing.assert_allclose(
        layer_activations(model, "hidden_2", X, batch_size=5), h2,
        rtol=1e-5, atol=1e-6)


def test_running_from_a_layer_on_its_own_activations_gives_the_output(
        model, data):
    X, _ = data
    expected = to_numpy(model(X))
    for name in (model.layers[0].name, "hidden_1", "hidden_2"):
        activations = layer_activations(model, name, X)
        np.testing.assert_allclose(
            run_from_layer(model, name, activations, batch_size=7), expected,
            rtol=1e-5, atol=1e-6,
            err_msg=f"cut after {name}: the two halves must compose to the "
                    "whole model")


def test_spliced_performance_unchanged_is_the_original_model(model, data):
    X, y = data
    ce, accuracy = cross_entropy_and_accuracy(to_numpy(model(X)), y)
    for replace in (None, lambda a: a):
        result = spliced_performance(model, "hidden_2", X, y, replace=replace)
        assert result["cross_entropy"] == pytest.approx(ce, rel=1e-5)
        assert result["accuracy"] == pytest.approx(accuracy)
    keras_ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert float(keras_ce(y, model(X))) == pytest.approx(ce, rel=1e-5)


def test_zero_ablation_is_a_layer_that_outputs_zeros(model, data):
    """Zero-ablating hidden_2 equals a copy of the model whose hidden_2 has
    zero weights and biases (so that its ReLU outputs exact zeros)."""
    X, y = data
    ablated = keras.models.clone_model(model)
    ablated.set_weights(model.get_weights())
    layer = ablated.get_layer("hidden_2")
    layer.kernel.assign(np.zeros(layer.kernel.shape))
    layer.bias.assign(np.zeros(layer.bias.shape))
    logits = to_numpy(ablated(X))
    # every image gets the output layer's bias, and nothing else
    np.testing.assert_allclose(logits, np.broadcast_to(
        weights(model, "logits")[1], logits.shape), rtol=1e-6)
    ce, accuracy = cross_entropy_and_accuracy(logits, y)
    result = spliced_performance(model, "hidden_2", X, y,
                                 replace=np.zeros_like)
    assert result["cross_entropy"] == pytest.approx(ce, rel=1e-6)
    assert result["accuracy"] == pytest.approx(accuracy)


def test_replace_receives_the_layer_activations(model, data):
    X, y = data
    seen = []

    def replace(a):
        seen.append(a.copy())
        return 2.0 * a

    result = spliced_performance(model, "hidden_1", X, y, replace=replace)
    np.testing.assert_allclose(seen[0], numpy_forward(model, X)[0],
                               rtol=1e-5, atol=1e-6)
    logits = run_from_layer(model, "hidden_1", 2.0 * seen[0])
    ce, _ = cross_entropy_and_accuracy(logits, y)
    assert result["cross_entropy"] == pytest.approx(ce, rel=1e-5)


def test_train_classifier_learns_a_separable_task():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=400)
    X = rng.normal(scale=0.3, size=(400, 3, 3)).astype(np.float32)
    X[:, 1, 1] += np.where(y == 1, 2.0, -2.0)  # the label is in one pixel
    model = train_classifier(X, y, hidden=(8,), epochs=5, batch_size=32)
    assert model.output_shape == (None, 2)
    result = spliced_performance(model, "hidden_1", X, y)
    assert result["accuracy"] > 0.95
    # seeded: the same call trains the same weights
    again = train_classifier(X, y, hidden=(8,), epochs=5, batch_size=32)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------ units' statistics


def test_firing_frequency_by_hand():
    latents = np.array([[0.0, 2.0, 0.0], [0.0, 0.5, 1.0],
                        [0.0, 0.0, 3.0], [0.0, 1.0, 4.0]])
    np.testing.assert_allclose(firing_frequency(latents), [0.0, 0.75, 0.75])


def test_class_purity_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2])
    codings = np.array([
        # unit 0: top 2 are examples 0 and 1 (class 0, 0) -> 1.0
        # unit 1: top 2 are examples 2 and 4 (class 1, 2) -> 0.5
        # unit 2: positive on one example only -> not rated
        [9.0, 0.0, 0.0],
        [8.0, 0.1, 0.0],
        [0.0, 5.0, 0.0],
        [0.0, 0.0, 0.0],
        [0.0, 4.0, 7.0],
        [1.0, 0.2, 0.0],
    ])
    purity = class_purity(codings, labels, n_top=2)
    np.testing.assert_allclose(purity[:2], [1.0, 0.5])
    assert np.isnan(purity[2]), "a unit with fewer than n_top positive " \
                                "examples has no top examples to rate"
    # purity of all six examples: the most common class holds 2 of 6
    np.testing.assert_allclose(class_purity(codings[:, :1] + 1, labels,
                                            n_top=6), [2 / 6])


def test_class_purity_quantile_moves_the_window_down():
    """quantile=0 is the top window; 1 the weakest positive examples; 0.5
    the middle of a unit's positive activations."""
    labels = np.array([0, 0, 1, 1, 2, 2, 0])
    # one unit, ranked from the largest: examples 0, 1 | 2, 3 | 4, 5;
    # example 6 is 0 and never enters a window
    codings = np.array([[6.0], [5.0], [4.0], [3.0], [2.0], [1.0], [0.0]])
    top = class_purity(codings, labels, n_top=2)
    np.testing.assert_allclose(top, [1.0])
    np.testing.assert_allclose(class_purity(codings, labels, n_top=2,
                                            quantile=0.0), top)
    # 6 positive examples, windows of 2: first ranks 0, 2 and 4
    mixed = np.array([[6.0], [5.0], [4.0], [3.0], [2.0], [1.0], [0.0]])
    labels_mixed = np.array([0, 0, 1, 2, 3, 3, 0])
    np.testing.assert_allclose(
        class_purity(mixed, labels_mixed, n_top=2, quantile=0.5), [0.5],
        err_msg="the middle window holds examples 2 and 3 (classes 1, 2)")
    np.testing.assert_allclose(
        class_purity(mixed, labels_mixed, n_top=2, quantile=1.0), [1.0],
        err_msg="the last window holds examples 4 and 5 (class 3, 3): "
                "zeros must not enter it")
    with pytest.raises(ValueError, match="quantile"):
        class_purity(codings, labels, n_top=2, quantile=1.5)
    with pytest.raises(ValueError, match="quantile"):
        class_purity(codings, labels, n_top=2, quantile=None)


# ----------------------------------------------------------- bad arguments


@pytest.mark.parametrize("call, name", [
    (lambda m, X, y: layer_activations(m, "nope", X), "layer_name"),
    (lambda m, X, y: layer_activations(m, "logits", X), "layer_name"),
    (lambda m, X, y: layer_activations(keras.Model(m.inputs, m.outputs),
                                       "hidden_1", X), "model"),
    (lambda m, X, y: layer_activations(m, "hidden_1", X, batch_size=0),
     "batch_size"),
    (lambda m, X, y: layer_activations(m, "hidden_1", X[:0]), "X"),
    (lambda m, X, y: run_from_layer(m, "hidden_1", np.zeros((3, 4))),
     "activations"),
    (lambda m, X, y: spliced_performance(m, "hidden_1", X, y[:-1]), "y"),
    (lambda m, X, y: spliced_performance(m, "hidden_1", X, y, replace=3),
     "replace"),
    (lambda m, X, y: spliced_performance(m, "hidden_1", X, y,
                                         replace=lambda a: a[:, :2]),
     "replace"),
])
def test_bad_arguments_raise_value_errors_naming_them(model, data, call,
                                                      name):
    X, y = data
    with pytest.raises(ValueError, match=name):
        call(model, X, y)


@pytest.mark.parametrize("kwargs, name", [
    ({"hidden": ()}, "hidden"),
    ({"hidden": (4, 0)}, "hidden"),
    ({"n_classes": 0}, "n_classes"),
])
def test_build_classifier_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        build_classifier(**kwargs)


def test_train_classifier_bad_arguments():
    X, y = np.zeros((4, 2, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="y_train"):
        train_classifier(X, y[:3])
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(X, y, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        train_classifier(X, y, batch_size=1.5)


@pytest.mark.parametrize("codings, labels, n_top, name", [
    (np.ones((4, 2)), np.array([0, 1, 0]), 2, "labels"),
    (np.ones((4, 2)), np.array([0, 1, 0, -1]), 2, "labels"),
    (np.ones((4, 2)), np.array([0.0, 1.0, 0.0, 1.0]), 2, "labels"),
    (np.ones((4, 2)), np.array([0, 1, 0, 1]), 5, "n_top"),
    (np.ones((4, 2)), np.array([0, 1, 0, 1]), 0, "n_top"),
    (np.ones(4), np.array([0, 1, 0, 1]), 2, "codings"),
    (np.full((4, 2), np.nan), np.array([0, 1, 0, 1]), 2, "codings"),
])
def test_class_purity_bad_arguments(codings, labels, n_top, name):
    with pytest.raises(ValueError, match=name):
        class_purity(codings, labels, n_top=n_top)


def test_firing_frequency_bad_arguments():
    with pytest.raises(ValueError, match="latents"):
        firing_frequency(np.ones(3))
