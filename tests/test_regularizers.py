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


# ------------------------------------------------- KLActivityRegularization

from sparse_ae.regularizers import KLActivityRegularization  # noqa: E402


def kl_numpy(p, q):
    q = np.asarray(q, dtype=np.float64)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def layer_loss(layer, a, training, state=None):
    """The penalty the layer adds on the batch ``a``, and its state after
    the call, through ``stateless_call`` (the same on every backend)."""
    if not layer.built:
        layer.build(a.shape)
    state = [v.value for v in layer.non_trainable_variables] if state is None else state
    _, new_state, losses = layer.stateless_call(
        [], state, a, training=training, return_losses=True)
    return float(sum(keras.ops.convert_to_numpy(l) for l in losses)), [
        keras.ops.convert_to_numpy(v) for v in new_state]


@pytest.mark.parametrize("training", [True, False])
def test_layer_with_momentum_zero_is_the_regularizer(training):
    """momentum=0 is the book's penalty: the regularizer's value divided by
    the batch size, as Keras divides an activity regularizer's."""
    a = np.random.default_rng(3).uniform(0.01, 0.99, (32, 20)).astype(np.float32)
    layer = KLActivityRegularization(0.05, 0.1, momentum=0.0)
    got, _ = layer_loss(layer, a, training)
    expected = float(KLDivergenceRegularizer(0.05, 0.1)(a)) / len(a)
    assert got == pytest.approx(expected, rel=1e-5)


def test_the_running_average_and_the_penalty_on_it():
    """q starts at the first batch's mean, then q <- m q + (1 - m) mean;
    the penalty is weight * sum_j KL(p || q_j) / n at that q."""
    rng = np.random.default_rng(4)
    batches = [rng.uniform(0.0, 0.4, (16, 6)).astype(np.float32) for _ in range(4)]
    layer = KLActivityRegularization(0.5, 0.1, momentum=0.9)
    layer.build((None, 6))
    state, q = None, None
    for a in batches:
        loss, state = layer_loss(layer, a, True, state)
        m = a.astype(np.float64).mean(axis=0)
        q = m if q is None else 0.9 * q + 0.1 * m
        np.testing.assert_allclose(state[0], q, rtol=1e-5)
        assert loss == pytest.approx(0.5 * kl_numpy(0.1, q).sum() / 16, rel=1e-4)
    assert state[1] == 4


def test_outside_training_it_adds_the_batch_penalty_and_keeps_its_average():
    a = np.random.default_rng(5).uniform(0.0, 0.5, (8, 4)).astype(np.float32)
    layer = KLActivityRegularization(1.0, 0.2, momentum=0.99)
    layer.build((None, 4))
    before = [keras.ops.convert_to_numpy(v) for v in layer.non_trainable_variables]
    loss, after = layer_loss(layer, a, training=False)
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)
    expected = kl_numpy(0.2, a.astype(np.float64).mean(axis=0)).sum() / 8
    assert loss == pytest.approx(expected, rel=1e-5)


def test_gradient_is_the_batch_formula_at_the_running_average():
    """d loss / d a_ij = weight / n^2 * KL'(q_j) with q_j the running average
    (not the batch mean), KL'(q) = (q - p) / (q (1 - q))."""
    weight, p, m, n = 0.05, 0.1, 0.9, 32
    a = np.random.default_rng(6).uniform(0.05, 0.95, (n, 10)).astype(np.float32)
    layer = KLActivityRegularization(weight, p, momentum=m)
    layer.build(a.shape)
    old = np.linspace(0.02, 0.3, 10).astype(np.float32)
    state = [keras.ops.convert_to_tensor(old), keras.ops.convert_to_tensor(np.float32(5))]

    def loss(v):
        _, _, losses = layer.stateless_call([], state, v, training=True,
                                            return_losses=True)
        return keras.ops.sum(keras.ops.stack(losses))

    grad = autodiff(loss, a)
    q = m * old.astype(np.float64) + (1 - m) * a.astype(np.float64).mean(axis=0)
    analytic = np.broadcast_to(weight / n**2 * (q - p) / (q * (1 - q)), a.shape)
    np.testing.assert_allclose(grad, analytic, rtol=1e-4)


def test_a_models_gradient_matches_finite_differences_at_momentum_zero():
    """With momentum 0 the penalty is a function of the weights, so the
    whole model's gradient can be checked by finite differences (float64)."""
    from sparse_ae.gradients import float64, loss_and_gradients, numerical_gradient
    from sparse_ae.reproducibility import seed_everything

    x = np.random.default_rng(7).uniform(0, 1, (8, 6))
    with float64():
        seed_everything(0)
        model = keras.Sequential([keras.Input((6,)),
                                  keras.layers.Dense(5, activation="sigmoid"),
                                  KLActivityRegularization(0.5, 0.1, momentum=0.0),
                                  keras.layers.Dense(6, activation="sigmoid")])
        model.compile(loss="binary_crossentropy", optimizer="sgd")
        _, grads = loss_and_gradients(model, x)
        for variable, grad in zip(model.trainable_variables, grads):
            indices = [tuple(0 for _ in variable.shape),
                       tuple(s - 1 for s in variable.shape)]
            numeric = numerical_gradient(model, x, variable, indices)
            exact = np.array([grad[i] for i in indices])
            np.testing.assert_allclose(numeric, exact, rtol=1e-6, atol=1e-9)


def test_fit_updates_the_average_towards_the_codings_mean():
    """Trained with fit (on either backend), the running average follows the
    codings' mean; predict and evaluate leave it alone."""
    from sparse_ae.reproducibility import seed_everything

    seed_everything(1)
    x = np.random.default_rng(8).uniform(0, 1, (512, 8)).astype(np.float32)
    coding = keras.layers.Dense(6, activation="sigmoid")
    layer = KLActivityRegularization(0.1, 0.2, momentum=0.5)
    model = keras.Sequential([keras.Input((8,)), coding, layer,
                              keras.layers.Dense(8)])
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.01))
    model.fit(x, x, batch_size=64, epochs=2, shuffle=False, verbose=0)
    running = keras.ops.convert_to_numpy(layer.running_mean)
    assert float(keras.ops.convert_to_numpy(layer.steps)) == 512 / 64 * 2
    codings = keras.ops.convert_to_numpy(coding(x))
    np.testing.assert_allclose(running, codings.mean(axis=0), atol=0.02)
    model.predict(x, verbose=0)
    model.evaluate(x, x, verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.running_mean), running)


def test_layer_saves_and_loads_with_its_average(tmp_path):
    model = keras.Sequential([keras.Input((5,)),
                              keras.layers.Dense(4, activation="sigmoid"),
                              KLActivityRegularization(0.2, 0.05, momentum=0.95)])
    model.layers[-1].running_mean.assign(np.array([0.1, 0.2, 0.3, 0.4], np.float32))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.layers[-1]
    assert isinstance(layer, KLActivityRegularization)
    assert (layer.weight, layer.target, layer.momentum) == (0.2, 0.05, 0.95)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.running_mean),
                               [0.1, 0.2, 0.3, 0.4])
    config = KLActivityRegularization(0.3, 0.2, momentum=0.5).get_config()
    again = KLActivityRegularization.from_config(config)
    assert (again.weight, again.target, again.momentum) == (0.3, 0.2, 0.5)


@pytest.mark.parametrize("momentum", [1, 1.0, -0.1, 2, float("nan"), float("inf"), None, "a", "0.5", True])
def test_layer_rejects_a_bad_momentum(momentum):
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\)"):
        KLActivityRegularization(0.05, 0.1, momentum=momentum)


@pytest.mark.parametrize("kwargs,message", [
    (dict(weight=float("nan")), "weight must be a finite number >= 0"),
    (dict(weight=-1.0), "weight must be a finite number >= 0"),
    (dict(target=float("nan")), "target must be a number strictly between 0 and 1"),
    (dict(target=1.0), "target must be a number strictly between 0 and 1"),
])
def test_layer_rejects_a_bad_weight_or_target(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KLActivityRegularization(**kwargs)


def test_layer_rejects_codings_that_are_not_a_matrix():
    with pytest.raises(ValueError, match=r"codings of shape \(batch, units\)"):
        keras.Sequential([keras.Input((4, 5)), KLActivityRegularization()])
