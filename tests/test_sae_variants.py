"""Tests of the SAE family (chapter 14): BatchTopK, JumpReLU and its
straight-through estimators, Matryoshka prefixes, and the decoder-norm-weighted
l1 on free rows; on either backend.

Each variant's defining property is checked against NumPy, from the model's
own weights.
"""

import keras
import numpy as np
import pytest

from sparse_ae.gradients import float64, gradient
from sparse_ae.metrics import fraction_variance_explained
from sparse_ae.sae import (
    BANDWIDTH,
    INITIAL_THRESHOLD,
    THRESHOLD_DECAY,
    SparseAutoencoder,
    heaviside,
    jump_relu,
    train_sae,
)

N_INPUTS, N_LATENTS = 6, 24


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def data(n=64, seed=0):
    return (1.0 + np.random.default_rng(seed).normal(size=(n, N_INPUTS))).astype(np.float32)


def sparse_data(n=4096, n_features=16, seed=0, p=0.15):
    """Sparse non-negative sums of random unit directions: data an SAE can learn."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(n_features, N_INPUTS))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    codes = rng.exponential(size=(n, n_features)) * (rng.uniform(size=(n, n_features)) < p)
    return (codes @ directions).astype(np.float32)


def pre_activations(model, x):
    W_enc, b_enc, b_dec = (to_numpy(v).astype(np.float64) for v in (model.W_enc, model.b_enc, model.b_dec))
    return (x - b_dec) @ W_enc + b_enc


def numpy_weights(model):
    return {v.path.split("/")[-1]: to_numpy(v).copy() for v in model.weights}


# ---------------------------------------------------------------- BatchTopK


def test_batchtopk_keeps_exactly_k_times_batch_latents_over_the_batch():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="batchtopk", k=3, seed=0)
    x = data(40)
    latents = to_numpy(model.encode(x, training=True))
    assert np.count_nonzero(latents) == 3 * 40
    per_example = np.count_nonzero(latents, axis=1)
    assert per_example.min() < 3 < per_example.max(), "examples keep different numbers of latents"
    # the kept ones are the largest ReLU'd pre-activations of the whole batch
    positive = np.maximum(pre_activations(model, x), 0)
    cut = np.sort(positive.ravel())[-3 * 40]
    np.testing.assert_allclose(latents, np.where(positive >= cut, positive, 0), rtol=1e-5, atol=1e-6)


def test_batchtopk_threshold_is_a_moving_average_of_the_smallest_kept_latent():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="batchtopk", k=3, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # the weights stay put
    model.adapt(data(200, seed=9))
    assert float(to_numpy(model.threshold)) == 0, "no estimate before training"
    batches = [data(32, seed=s) for s in range(1, 4)]
    smallest = [np.sort(np.maximum(pre_activations(model, x), 0).ravel())[-3 * 32] for x in batches]
    expected = 0.0
    for t, (x, m) in enumerate(zip(batches, smallest)):
        model.train_on_batch(x)
        decay = min(THRESHOLD_DECAY, (1 + t) / (10 + t))  # 0.1, 0.18, 0.25: early steps forgotten fast
        expected = decay * expected + (1 - decay) * m
        assert float(to_numpy(model.threshold)) == pytest.approx(expected, rel=1e-5)
    assert int(to_numpy(model.threshold_updates)) == 3
    x1, x2 = batches[:2]
    # evaluation and prediction do not move it
    model.evaluate(x1, verbose=0)
    model.predict(x2, verbose=0)
    assert float(to_numpy(model.threshold)) == pytest.approx(expected, rel=1e-5)


def test_batchtopk_inference_fires_above_the_global_threshold():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="batchtopk", k=3, seed=0)
    model.threshold.assign(0.8)
    x = data(50)
    positive = np.maximum(pre_activations(model, x), 0)
    latents = to_numpy(model.encode(x))
    np.testing.assert_allclose(latents, np.where(positive > 0.8, positive, 0), rtol=1e-5, atol=1e-6)


def test_batchtopk_after_training_infers_about_k_latents_per_example():
    x = sparse_data(4096)
    model = SparseAutoencoder(N_INPUTS, 32, activation="batchtopk", k=4, seed=0)
    train_sae(model, x[:3584], x[3584:], learning_rate=3e-3, batch_size=256, max_epochs=15, patience=15)
    inferred = np.count_nonzero(to_numpy(model.encode(x[3584:])), axis=1).mean()
    assert inferred == pytest.approx(4, rel=0.2), f"mean L0 at inference {inferred:.2f}, k = 4"


# ----------------------------------------------------------------- JumpReLU


def test_jumprelu_latents_are_zero_or_at_least_their_threshold():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="jumprelu", l0=0.1, seed=0)
    np.testing.assert_allclose(to_numpy(model.threshold), INITIAL_THRESHOLD)
    thresholds = np.linspace(0.0, 1.5, N_LATENTS).astype(np.float32)
    model.threshold.assign(thresholds)
    x = data(100)
    pre = pre_activations(model, x)
    latents = to_numpy(model.encode(x))
    np.testing.assert_allclose(latents, np.where(pre > thresholds, pre, 0), rtol=1e-5, atol=1e-6)
    on = latents > 0
    assert np.all(latents[on] >= np.broadcast_to(thresholds, latents.shape)[on])
    assert on.any() and (~on).any()


def _ramp(u):
    return np.clip(u + 0.5, 0.0, 1.0)


def _smoothed_step(z, threshold, bandwidth):
    """E over u ~ U(-1/2, 1/2) of H(z + bandwidth * u - threshold)."""
    return _ramp((z - threshold) / bandwidth)


def _smoothed_jump_relu(z, threshold, bandwidth):
    """E over u ~ U(-1/2, 1/2) of JumpReLU(z + bandwidth * u): the integral of
    (z + bandwidth * u) over the u for which it exceeds the threshold."""
    u0 = np.clip((threshold - z) / bandwidth, -0.5, 0.5)
    return z * (0.5 - u0) + bandwidth / 2 * (0.25 - u0**2)


@pytest.mark.parametrize(
    "function, smoothed", [(heaviside, _smoothed_step), (jump_relu, _smoothed_jump_relu)], ids=["step", "jumprelu"]
)
def test_straight_through_gradient_is_the_derivative_of_the_kernel_smoothed_function(function, smoothed):
    """The pseudo-derivatives of Rajamanoharan et al. (2024) are the exact
    derivatives, with respect to the threshold, of the function averaged over
    a rectangle kernel of width ε around each pre-activation; checked against
    central finite differences of that average, in float64."""
    rng = np.random.default_rng(0)
    eps = 0.05
    threshold = rng.uniform(0.5, 1.5, size=8)
    z = threshold + rng.uniform(-1.5 * eps, 1.5 * eps, size=(30, 8))  # many within the window
    z[np.abs(np.abs(z - threshold) - eps / 2) < 1e-3] += 2e-3  # none at a window's edge
    c = rng.normal(size=z.shape)  # a linear read-out of the outputs

    def total(theta):
        return keras.ops.sum(c * function(keras.ops.convert_to_tensor(z), theta, eps))

    with float64():
        estimated = gradient(total, threshold)
    h = 1e-7
    numerical = np.array([
        (np.sum(c * smoothed(z, threshold + h * e, eps)) - np.sum(c * smoothed(z, threshold - h * e, eps))) / (2 * h)
        for e in np.eye(8)
    ])
    assert np.abs(numerical).min() > 0, "every threshold must have pre-activations in its window"
    np.testing.assert_allclose(estimated, numerical, rtol=1e-6, atol=1e-8)


def test_step_passes_no_gradient_to_the_pre_activations_and_jumprelu_the_ordinary_one():
    z = np.array([[0.5, 1.0, 1.02, 2.0]])
    theta = np.full(4, 1.01)
    with float64():
        # "+ 0 * sum(v)": TensorFlow returns no gradient at all for an input
        # that nothing depends on; count that as zero
        g_step = gradient(lambda v: keras.ops.sum(heaviside(v, theta, 0.1)) + 0 * keras.ops.sum(v), z)
        g_jump = gradient(lambda v: keras.ops.sum(jump_relu(v, theta, 0.1)), z)
    np.testing.assert_array_equal(g_step, 0.0)
    np.testing.assert_array_equal(g_jump, [[0.0, 0.0, 1.0, 1.0]])


def test_the_sae_sends_the_estimators_gradient_to_its_thresholds():
    """The model's threshold gradient is sum_b dL/dz (-θ/ε) K + l0/B sum_b (-1/ε) K,
    with dL/dz from the normalized MSE: the estimators are wired into the loss."""
    x = data(40).astype(np.float64)
    eps, l0 = 0.2, 0.05
    with float64():
        model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="jumprelu", l0=l0, bandwidth=eps, seed=0)
        model.compile(optimizer="sgd")
        model.adapt(x)
        pre = pre_activations(model, x)
        theta = np.quantile(pre, 0.6, axis=0)  # many pre-activations near each threshold
        model.threshold.assign(theta)
        from sparse_ae.gradients import loss_and_gradients

        _, grads = loss_and_gradients(model, x)
    g_theta = grads[[v.path.split("/")[-1] for v in model.trainable_variables].index("threshold")]
    W_dec, b_dec = to_numpy(model.W_dec), to_numpy(model.b_dec)
    latents = np.where(pre > theta, pre, 0)
    x_hat = latents @ W_dec + b_dec
    v = float(to_numpy(model.variance))
    dL_dz = (2 * (x_hat - x) / x.size / v) @ W_dec.T
    K = (np.abs((pre - theta) / eps) < 0.5).astype(float)
    expected = np.sum(dL_dz * (-theta / eps) * K, axis=0) + l0 / len(x) * np.sum(-K / eps, axis=0)
    assert np.abs(expected).min() > 0
    np.testing.assert_allclose(g_theta, expected, rtol=1e-7, atol=1e-12)


def test_a_larger_l0_penalty_gives_sparser_latents():
    x = sparse_data(4096, seed=1)
    l0s = {}
    for penalty in (0.003, 0.03):
        model = SparseAutoencoder(N_INPUTS, 32, activation="jumprelu", l0=penalty, bandwidth=0.05, seed=0)
        train_sae(model, x[:3584], x[3584:], learning_rate=1e-2, batch_size=512, max_epochs=6, patience=6)
        l0s[penalty] = np.count_nonzero(to_numpy(model.encode(x[3584:])), axis=1).mean()
        assert np.all(to_numpy(model.threshold) >= 0), "thresholds are kept non-negative"
    assert l0s[0.03] < 0.8 * l0s[0.003], l0s


# ---------------------------------------------------------------- Matryoshka


def test_matryoshka_loss_is_the_mean_of_the_prefixes_normalized_errors():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=5, prefixes=(4, 12), seed=0)
    assert model.prefixes == (4, 12, N_LATENTS)
    model.compile(optimizer="sgd")
    x = data(200)
    model.adapt(x)
    batch = x[:50]
    pre = pre_activations(model, batch)
    kept = np.argsort(-pre, axis=1)[:, :5]
    latents = np.zeros_like(pre)
    np.put_along_axis(latents, kept, np.take_along_axis(pre, kept, axis=1), axis=1)
    latents = np.maximum(latents, 0)
    W_dec, b_dec = to_numpy(model.W_dec).astype(np.float64), to_numpy(model.b_dec).astype(np.float64)
    v = float(to_numpy(model.variance))
    errors = [np.mean((batch - (latents[:, :m] @ W_dec[:m] + b_dec)) ** 2) / v for m in (4, 12, N_LATENTS)]
    assert min(abs(errors[0] - errors[2]), abs(errors[1] - errors[2])) > 0.01, "the test must tell them apart"
    logs = model.evaluate(batch, batch_size=50, verbose=0, return_dict=True)
    assert logs["normalized_mse"] == pytest.approx(np.mean(errors), rel=1e-5)
    # the model's output is the full reconstruction
    np.testing.assert_allclose(to_numpy(model.predict(batch, verbose=0)), latents @ W_dec + b_dec, rtol=1e-4, atol=1e-5)


def test_a_matryoshka_prefix_reconstructs_on_its_own_better_than_a_plain_sae_prefix():
    x = sparse_data(4096, seed=2)
    fves = {}
    for prefixes in (None, (8,)):
        model = SparseAutoencoder(N_INPUTS, 32, activation="batchtopk", k=3, prefixes=prefixes, seed=0)
        train_sae(model, x[:3584], x[3584:], learning_rate=1e-2, batch_size=512, max_epochs=6, patience=6)
        latents = to_numpy(model.encode(x[3584:]))
        first = latents[:, :8] @ model.decoder_weights[:8] + to_numpy(model.b_dec)
        fves[prefixes] = fraction_variance_explained(x[3584:], first)
    assert fves[(8,)] > fves[None] + 0.05, fves


# ---------------------------------------------------- norm-weighted l1, free rows


def test_norm_weighted_l1_weighs_each_latent_by_its_row_norm():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, l1=0.1, unit_norm=False, seed=0)
    assert model.norm_weighted_l1 is True, "free rows get the weighted penalty by default"
    model.compile(optimizer="sgd")
    x = data(100)
    model.adapt(x)
    scales = np.linspace(0.5, 3.0, N_LATENTS)
    model.W_dec.assign((model.decoder_weights * scales[:, None]).astype(np.float32))
    latents = np.maximum(pre_activations(model, x), 0)
    expected = 0.1 * (latents * np.linalg.norm(model.decoder_weights, axis=1)).sum(axis=1).mean()
    logs = model.evaluate(x, batch_size=100, verbose=0, return_dict=True)
    assert logs["l1_penalty"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("weighted", [True, False])
def test_rescaling_a_latent_against_its_row_fools_only_the_plain_l1(weighted):
    """Multiply row j by c and divide latent j (its encoder column and bias)
    by c: the reconstruction is unchanged. The norm-weighted penalty is too;
    the plain l1 falls by the factor c: the loophole."""
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, l1=0.1, unit_norm=False, norm_weighted_l1=weighted, seed=0)
    model.compile(optimizer="sgd")
    x = data(100)
    model.adapt(x)
    before = model.evaluate(x, batch_size=100, verbose=0, return_dict=True)
    c = np.ones(N_LATENTS, np.float32)
    c[::2] = 4.0
    model.W_dec.assign(model.decoder_weights * c[:, None])
    model.W_enc.assign(to_numpy(model.W_enc) / c)
    model.b_enc.assign(to_numpy(model.b_enc) / c)
    after = model.evaluate(x, batch_size=100, verbose=0, return_dict=True)
    assert after["normalized_mse"] == pytest.approx(before["normalized_mse"], rel=1e-4)
    if weighted:
        assert after["l1_penalty"] == pytest.approx(before["l1_penalty"], rel=1e-4)
    else:
        assert after["l1_penalty"] < 0.7 * before["l1_penalty"]


# ------------------------------------------------------------- AuxK with BatchTopK


def test_auxk_works_with_batchtopk():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="batchtopk", k=2, auxk=6, seed=0)
    model.compile(optimizer="sgd")
    x = data(8)
    model.adapt(data(100))
    silent = ~(to_numpy(model.encode(x, training=True)) > 0).any(axis=0)
    model.examples_since_fired.assign(np.where(silent, model.dead_after, 0).astype(np.int32))
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert logs["auxk_loss"] > 0


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"activation": "topk", "k": 2, "l0": 0.1}, "l0 is only used with activation='jumprelu'"),
        ({"activation": "jumprelu", "l0": -1}, "l0 must be a finite number >= 0"),
        ({"activation": "jumprelu", "bandwidth": 0}, "bandwidth must be a finite number > 0"),
        ({"activation": "jumprelu", "bandwidth": -0.1}, "bandwidth must be a finite number > 0"),
        ({"activation": "jumprelu", "bandwidth": float("inf")}, "bandwidth must be a finite number > 0"),
        ({"bandwidth": 0.1}, "bandwidth is only used with activation='jumprelu'"),
        ({"activation": "jumprelu", "k": 3}, "k is only used with activation='topk' or 'batchtopk'"),
        ({"activation": "jumprelu", "l1": 0.1}, "l1 is only used with activation='relu'"),
        ({"activation": "jumprelu", "auxk": 4}, "auxk needs activation='topk' or 'batchtopk'"),
        ({"activation": "batchtopk"}, "k must be given with activation='batchtopk'"),
        ({"prefixes": (4, 8)}, "prefixes .* need activation='topk' or 'batchtopk'"),
        ({"activation": "topk", "k": 2, "prefixes": (8, 4)}, "prefixes must be a non-empty sequence of increasing"),
        ({"activation": "topk", "k": 2, "prefixes": ()}, "prefixes must be a non-empty sequence of increasing"),
        ({"activation": "topk", "k": 2, "prefixes": (4, 30)}, "prefixes end at 30, beyond n_latents=24"),
        ({"activation": "topk", "k": 2, "prefixes": (0, 4)}, "prefixes must be a positive integer"),
        ({"activation": "topk", "k": 2, "prefixes": 8}, "prefixes must be a sequence"),
        ({"activation": "topk", "k": 2, "norm_weighted_l1": True}, "norm_weighted_l1 .* needs activation='relu'"),
        ({"norm_weighted_l1": 1}, "norm_weighted_l1 must be None, True or False"),
    ],
)
def test_bad_variant_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparseAutoencoder(N_INPUTS, N_LATENTS, **kwargs)


def test_defaults_of_the_variants():
    jump = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="jumprelu", l0=0.1)
    assert jump.bandwidth == BANDWIDTH == 1e-3
    assert tuple(jump.threshold.shape) == (N_LATENTS,) and jump.threshold.trainable
    batch = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="batchtopk", k=3)
    assert tuple(batch.threshold.shape) == () and not batch.threshold.trainable
    assert SparseAutoencoder(N_INPUTS, N_LATENTS).norm_weighted_l1 is False


@pytest.mark.parametrize("activation", ["topk", "batchtopk"])
def test_free_rows_without_an_l1_penalty_need_no_weighting(activation):
    # The default weighting applies to the l1 penalty only: a TopK SAE with
    # free rows (chapter 13's ablation) is built, not refused.
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation=activation, k=2,
                              unit_norm=False)
    assert model.norm_weighted_l1 is False and not model.unit_norm


# ------------------------------------------------------------------- saving


@pytest.mark.parametrize(
    "kwargs",
    [
        {"activation": "batchtopk", "k": 3, "auxk": 4},
        {"activation": "jumprelu", "l0": 0.01, "bandwidth": 0.05},
        {"activation": "topk", "k": 3, "prefixes": [4, 12]},
        {"activation": "relu", "l1": 0.01, "unit_norm": False},
    ],
    ids=["batchtopk", "jumprelu", "matryoshka", "norm-weighted"],
)
def test_every_variant_saves_and_loads(tmp_path, kwargs):
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=3, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(data(128), epochs=2, batch_size=32, verbose=0)
    path = tmp_path / "sae.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config() == model.get_config()
    saved, back = numpy_weights(model), numpy_weights(loaded)
    assert saved.keys() == back.keys() >= {"variance", "adapted", "W_dec"}
    for name in saved:
        np.testing.assert_array_equal(back[name], saved[name], err_msg=name)
    x = data(20, seed=5)
    np.testing.assert_array_equal(to_numpy(loaded.encode(x)), to_numpy(model.encode(x)))
