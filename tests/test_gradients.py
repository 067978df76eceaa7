"""The whole-model gradient check of chapter 3, and the derivation it checks."""

import keras
import numpy as np
import pytest

from sparse_ae.gradients import float64, loss_and_gradients, numerical_gradient, training_loss
from sparse_ae.models import build_sparse_kl_autoencoder, build_sparse_l1_autoencoder, build_stacked_autoencoder
from sparse_ae.reproducibility import seed_everything

X = np.random.default_rng(0).uniform(0, 1, (8, 28, 28))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def build64(build, **kwargs):
    seed_everything(3)
    return build(**kwargs)


@pytest.mark.parametrize("build", [build_stacked_autoencoder, build_sparse_l1_autoencoder,
                                   build_sparse_kl_autoencoder])
def test_autodiff_agrees_with_finite_differences(build):
    """Every trainable variable, a few entries each, float64: agreement to 1e-6."""
    with float64():
        encoder, _, autoencoder = build64(build)
        _, grads = loss_and_gradients(autoencoder, X)
        rng = np.random.default_rng(1)
        for variable, grad in zip(autoencoder.trainable_variables, grads):
            indices = [tuple(rng.integers(0, n) for n in variable.shape) for _ in range(3)]
            numeric = numerical_gradient(autoencoder, X, variable, indices)
            analytic = np.array([grad[i] for i in indices])
            np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9, err_msg=variable.path)


def test_loss_is_bce_plus_the_penalty_divided_by_the_batch_size():
    with float64():
        encoder, _, autoencoder = build64(build_sparse_kl_autoencoder, weight=0.3, target=0.1)
        loss = training_loss(autoencoder, X)
        a = np.asarray(keras.ops.convert_to_numpy(encoder(X)))
        y = np.asarray(keras.ops.convert_to_numpy(autoencoder(X)))
    bce = -np.mean(X * np.log(y) + (1 - X) * np.log(1 - y))
    q = a.mean(axis=0)
    kl = np.sum(0.1 * np.log(0.1 / q) + 0.9 * np.log(0.9 / (1 - q)))
    assert loss == pytest.approx(bce + 0.3 * kl / len(X), rel=1e-10)


def coding_layer_pre_activations(encoder, x):
    hidden = encoder.layers[1](encoder.layers[0](x))
    dense = encoder.layers[2]
    return np.asarray(keras.ops.convert_to_numpy(hidden @ dense.kernel + dense.bias))


@pytest.mark.parametrize("kind", ["kl", "l1"])
def test_sparsity_term_of_the_backward_pass(kind):
    """The penalty's gradient on the coding layer's bias, derived by hand:
    KL: (beta / n**2) * KL'(q_j) * sum_i a_ij (1 - a_ij);  l1: (lambda / n) * sum_i a_ij (1 - a_ij).
    It is the full gradient minus that of the same model without the penalty."""
    beta, lam, p, n = 0.5, 0.01, 0.1, len(X)
    with float64():
        if kind == "kl":
            encoder, _, model = build64(build_sparse_kl_autoencoder, weight=beta, target=p)
            _, _, plain = build64(build_sparse_kl_autoencoder, weight=0.0, target=p)
        else:
            encoder, _, model = build64(build_sparse_l1_autoencoder, l1=lam)
            _, _, plain = build64(build_sparse_l1_autoencoder, l1=0.0)
        bias = [v.path for v in model.trainable_variables].index(encoder.layers[2].bias.path)
        penalty_grad = loss_and_gradients(model, X)[1][bias] - loss_and_gradients(plain, X)[1][bias]
        a = sigmoid(coding_layer_pre_activations(encoder, X))
    slope = (a * (1 - a)).sum(axis=0)
    if kind == "kl":
        q = a.mean(axis=0)
        expected = beta / n**2 * (-p / q + (1 - p) / (1 - q)) * slope
    else:
        expected = lam / n * slope
    # rtol 1e-6, not 1e-12: Keras keeps the l1 coefficient as a float32 (0.01 -> 0.0099999998).
    np.testing.assert_allclose(penalty_grad, expected, rtol=1e-6, atol=1e-14)


def test_float64_restores_the_defaults():
    before = (keras.config.floatx(), keras.config.dtype_policy().name)
    with float64():
        assert keras.config.floatx() == "float64"
    assert (keras.config.floatx(), keras.config.dtype_policy().name) == before
    _, _, autoencoder = build_stacked_autoencoder()
    assert autoencoder.trainable_variables[0].dtype == "float32"


def test_numerical_gradient_restores_the_variable():
    with float64():
        encoder, _, autoencoder = build64(build_stacked_autoencoder)
        variable = autoencoder.trainable_variables[0]
        before = np.array(keras.ops.convert_to_numpy(variable.value))
        numerical_gradient(autoencoder, X, variable, [(0, 0), (5, 7)])
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable.value), before)
