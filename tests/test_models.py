import keras
import numpy as np
import pytest

from sparse_ae.metrics import rounded_accuracy
from sparse_ae.models import (
    build_sparse_kl_autoencoder,
    build_sparse_l1_autoencoder,
    build_stacked_autoencoder,
    build_topk_autoencoder,
)
from sparse_ae.layers import TopKSparsity
from sparse_ae.regularizers import KLDivergenceRegularizer
from sparse_ae.reproducibility import seed_everything


def layer_summary(model):
    return [
        (type(layer).__name__, getattr(layer, "units", None),
         getattr(getattr(layer, "activation", None), "__name__", None))
        for layer in model.layers
    ]


@pytest.mark.parametrize(
    "build,codings,params",
    [
        (build_stacked_autoencoder, 30, 784 * 100 + 100 + 100 * 30 + 30 + 30 * 100 + 100 + 100 * 784 + 784),
        (build_sparse_l1_autoencoder, 300, 218084),
        (build_sparse_kl_autoencoder, 300, 218084),
    ],
)
def test_architecture(build, codings, params):
    encoder, decoder, autoencoder = build()
    assert autoencoder.count_params() == params
    assert encoder.output_shape == (None, codings)
    assert decoder.input_shape == (None, codings)
    assert autoencoder.output_shape == (None, 28, 28)
    assert layer_summary(encoder)[:3] == [
        ("Flatten", None, None), ("Dense", 100, "selu"), ("Dense", codings, "sigmoid")
    ]
    assert layer_summary(decoder) == [
        ("Dense", 100, "selu"), ("Dense", 784, "sigmoid"), ("Reshape", None, None)
    ]
    assert autoencoder.layers == [encoder, decoder]


def test_compiled_as_the_book():
    _, _, ae = build_sparse_kl_autoencoder()
    assert ae.loss == "binary_crossentropy"
    assert isinstance(ae.optimizer, keras.optimizers.SGD)
    assert float(ae.optimizer.learning_rate) == 1.0
    assert rounded_accuracy in ae._compile_config.config["metrics"]


def test_sparsity_layers():
    encoder, _, _ = build_sparse_l1_autoencoder(l1=2e-3)
    reg_layer = encoder.layers[-1]
    assert isinstance(reg_layer, keras.layers.ActivityRegularization) and reg_layer.l1 == 2e-3
    encoder, _, _ = build_sparse_kl_autoencoder(weight=0.3, target=0.2)
    reg = encoder.layers[-1].activity_regularizer
    assert isinstance(reg, KLDivergenceRegularizer) and (reg.weight, reg.target) == (0.3, 0.2)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "30", None])
def test_bad_codings_size(size):
    for build in (build_stacked_autoencoder, build_sparse_l1_autoencoder, build_sparse_kl_autoencoder):
        with pytest.raises(ValueError, match="codings_size must be a positive integer"):
            build(codings_size=size)


@pytest.mark.parametrize("l1", [-1e-3, float("nan"), float("inf")])
def test_bad_l1(l1):
    with pytest.raises(ValueError, match="l1 must be a finite number >= 0"):
        build_sparse_l1_autoencoder(l1=l1)


def test_bad_kl_arguments():
    with pytest.raises(ValueError, match="weight"):
        build_sparse_kl_autoencoder(weight=-1)
    with pytest.raises(ValueError, match="target"):
        build_sparse_kl_autoencoder(target=1.2)


def test_activity_regularization_layer_equals_l1_regularizer():
    """Chapter 2's claim: the layer and the layer argument add the same loss."""
    x = np.random.default_rng(0).uniform(size=(32, 28, 28)).astype(np.float32)
    encoders = {}
    for as_layer in (True, False):
        seed_everything(0)
        encoders[as_layer], _, _ = build_sparse_l1_autoencoder(l1=1e-3, as_layer=as_layer)
    with_layer, with_argument = encoders[True], encoders[False]
    assert isinstance(with_layer.layers[-1], keras.layers.ActivityRegularization)
    assert isinstance(with_argument.layers[-1].activity_regularizer, keras.regularizers.L1)
    for a, b in zip(with_layer.get_weights(), with_argument.get_weights()):
        np.testing.assert_array_equal(a, b)  # same seed, same initial weights
    codings = keras.ops.convert_to_numpy(with_layer(x))
    with_argument(x)
    assert len(with_layer.losses) == len(with_argument.losses) == 1
    np.testing.assert_allclose(float(with_layer.losses[0]), float(with_argument.losses[0]), rtol=1e-6)
    # ...and Keras divides the penalty by the batch size (Keras >= 3.14).
    expected = 1e-3 * np.abs(codings).sum() / len(x)
    np.testing.assert_allclose(float(with_layer.losses[0]), expected, rtol=1e-5)


@pytest.mark.parametrize("build", [build_sparse_kl_autoencoder, build_sparse_l1_autoencoder])
def test_save_and_load_round_trip(build, tmp_path, fashion_mnist):
    (X_train, _), (X_valid, _), _ = fashion_mnist
    seed_everything(0)
    _, _, ae = build()
    ae.fit(X_train[:512], X_train[:512], epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    ae.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(ae.predict(X_valid[:256], verbose=0),
                                  loaded.predict(X_valid[:256], verbose=0))
    assert ae.evaluate(X_valid[:256], X_valid[:256], verbose=0) == \
        loaded.evaluate(X_valid[:256], X_valid[:256], verbose=0)


def test_compiled_without_steps_per_execution():
    """steps_per_execution would make Keras trace the first predict() with
    that many unrolled steps (about 11 s per model on TensorFlow)."""
    for build in (build_stacked_autoencoder, build_sparse_l1_autoencoder,
                  build_sparse_kl_autoencoder):
        _, _, ae = build()
        assert ae.steps_per_execution == 1


def test_topk_autoencoder():
    encoder, decoder, ae = build_topk_autoencoder(k=20)
    assert ae.count_params() == 218084
    assert isinstance(encoder.layers[-1], TopKSparsity) and encoder.layers[-1].k == 20
    codings = encoder.predict(np.random.default_rng(0).uniform(size=(16, 28, 28)), verbose=0)
    assert (np.count_nonzero(codings, axis=1) == 20).all()
    with pytest.raises(ValueError, match="larger than the width"):
        build_topk_autoencoder(k=301)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        build_topk_autoencoder(k=0)


def test_kl_with_momentum_is_a_layer_with_the_same_initial_weights():
    """momentum puts a KLActivityRegularization layer after the coding layer
    instead of the activity_regularizer; from one seed, the same weights."""
    from sparse_ae.regularizers import KLActivityRegularization

    seed_everything(42)
    encoder, _, batch = build_sparse_kl_autoencoder()
    seed_everything(42)
    running_encoder, _, running = build_sparse_kl_autoencoder(momentum=0.99)
    coding, layer = running_encoder.layers[-2:]
    assert isinstance(layer, KLActivityRegularization)
    assert (layer.weight, layer.target, layer.momentum) == (0.05, 0.1, 0.99)
    assert coding.activity_regularizer is None
    assert isinstance(encoder.layers[-1].activity_regularizer, KLDivergenceRegularizer)
    assert len(batch.get_weights()) == len(running.trainable_weights)
    running_weights = [keras.ops.convert_to_numpy(w) for w in running.trainable_weights]
    for a, b in zip(batch.get_weights(), running_weights):
        np.testing.assert_array_equal(a, b)
