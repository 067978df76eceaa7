import math

import keras
import numpy as np
import pytest

from sparse_ae.regularizers import KLDivergenceRegularizer, bernoulli_kl

from conftest import autodiff


def numpy_penalty(a, weight, target):
    """The book's formula, written independently with NumPy (float64)."""
    q = np.asarray(a, dtype=np.float64).mean(axis=0)
    p = target
    return weight * np.sum(p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q)))


@pytest.mark.parametrize("weight,target", [(0.05, 0.1), (1.0, 0.3), (0.2, 0.9)])
def test_matches_numpy_formula(weight, target):
    a = np.random.default_rng(1).uniform(0.01, 0.99, (64, 300)).astype(np.float32)
    got = float(KLDivergenceRegularizer(weight, target)(a))
    assert got == pytest.approx(numpy_penalty(a, weight, target), rel=1e-5)


def test_zero_at_the_target_and_positive_elsewhere():
    reg = KLDivergenceRegularizer(1.0, 0.1)
    assert float(reg(np.full((8, 5), 0.1, np.float32))) == pytest.approx(0.0, abs=1e-6)
    assert float(reg(np.full((8, 5), 0.5, np.float32))) > 0.1


def test_gradient_matches_analytic():
    """d/da_ij = weight / n * ((1 - p) / (1 - q_j) - p / q_j)."""
    weight, p = 0.05, 0.1
    a = np.random.default_rng(2).uniform(0.05, 0.95, (32, 10)).astype(np.float32)
    grad = autodiff(KLDivergenceRegularizer(weight, p), a)
    q = a.astype(np.float64).mean(axis=0)
    analytic = np.broadcast_to(weight / a.shape[0] * ((1 - p) / (1 - q) - p / q), a.shape)
    np.testing.assert_allclose(grad, analytic, rtol=1e-4)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_extreme_activations_are_finite(value):
    a = np.full((16, 30), value, np.float32)
    a[:, :3] = 1.0 - value  # mix both extremes
    reg = KLDivergenceRegularizer(0.05, 0.1)
    loss, grad = float(reg(a)), autodiff(reg, a)
    assert math.isfinite(loss) and loss > 0
    assert np.all(np.isfinite(grad))


def test_clipping_gives_no_gradient_below_epsilon():
    """Chapter 3's point: bernoulli_kl clips q at epsilon, so a unit whose mean
    activation is below epsilon gets exactly zero gradient from the penalty,
    however far it is from the target."""
    eps = keras.config.epsilon()
    q = np.array([eps / 10, eps * 10, 0.05], np.float32)
    grad = autodiff(lambda v: keras.ops.sum(bernoulli_kl(0.1, v)), q)
    assert grad[0] == 0.0
    assert grad[1] < -1e4 and grad[2] < 0


def test_bernoulli_kl_accepts_python_numbers():
    assert float(bernoulli_kl(0.1, 0.2)) == pytest.approx(0.1 * math.log(0.5) + 0.9 * math.log(0.9 / 0.8))
    assert float(bernoulli_kl(0.1, 0.1)) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("target", [0, 1, -0.5, 2, float("nan"), "a", None])
def test_bernoulli_kl_rejects_a_bad_target(target):
    with pytest.raises(ValueError, match="target must be a number strictly between 0 and 1"):
        bernoulli_kl(target, 0.5)


def test_bernoulli_kl_works_on_numpy():
    q = np.array([0.05, 0.1, 0.5])
    out = keras.ops.convert_to_numpy(bernoulli_kl(0.1, q))
    expected = 0.1 * np.log(0.1 / q) + 0.9 * np.log(0.9 / (1 - q))
    np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.parametrize("target", [0, 1, 0.0, 1.0, -0.1, 1.5, float("nan"), float("inf"), None, "a"])
def test_bad_target(target):
    with pytest.raises(ValueError, match="target must be a number strictly between 0 and 1"):
        KLDivergenceRegularizer(weight=0.05, target=target)


@pytest.mark.parametrize("weight", [-0.01, float("nan"), float("inf"), -float("inf"), None, "x"])
def test_bad_weight(weight):
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        KLDivergenceRegularizer(weight=weight, target=0.1)


def test_config_round_trip():
    reg = KLDivergenceRegularizer(0.2, 0.05)
    again = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert isinstance(again, KLDivergenceRegularizer)
    assert again.get_config() == {"weight": 0.2, "target": 0.05}
