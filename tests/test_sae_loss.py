"""Tests of the SAE's reference loss (Gao et al.'s normalised MSE), adapt,
its logged metrics, bad input, and train_sae; on either backend.

Expectations are computed in NumPy from the model's weights and the data.
"""

import keras
import numpy as np
import pytest

from sparse_ae.metrics import fraction_variance_explained
from sparse_ae.sae import (
    ADAM_EPSILON,
    SparseAutoencoder,
    geometric_median,
    train_sae,
)

N_INPUTS, N_LATENTS = 6, 24


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def data(n=64, seed=0, scale=3.0, shift=2.0):
    """Data far from unit variance and zero mean, so that forgetting the
    normalisation or the centre changes every number."""
    rng = np.random.default_rng(seed)
    return (shift + scale * rng.normal(size=(n, N_INPUTS))).astype(np.float32)


def forward(model, x):
    W_enc, b_enc, W_dec, b_dec = (
        to_numpy(v).astype(np.float64) for v in (model.W_enc, model.b_enc, model.W_dec, model.b_dec)
    )
    pre = (x - b_dec) @ W_enc + b_enc
    latents = np.maximum(pre, 0.0)
    return latents, latents @ W_dec + b_dec


def all_weights(model):
    return [np.array(to_numpy(v)) for v in model.weights]


# ---------------------------------------------------------------- adapt


def test_adapt_sets_b_dec_to_the_mean_and_stores_the_variance():
    x = data(200)
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0)
    assert not model.is_adapted
    model.adapt(x)
    assert model.is_adapted
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(to_numpy(model.b_dec), x64.mean(axis=0), rtol=1e-6)
    # the mean over examples AND inputs of the squared deviation from the mean example
    expected = np.mean((x64 - x64.mean(axis=0)) ** 2)
    assert float(to_numpy(model.variance)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(9.0, rel=0.15), "the data were drawn with variance 9"


def test_adapt_can_start_at_the_geometric_median():
    x = data(300)
    x[:10] += 1000.0  # outliers drag the mean, not the median
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0)
    model.adapt(x, center="median")
    median = geometric_median(x)
    np.testing.assert_allclose(to_numpy(model.b_dec), median, rtol=1e-6)
    assert np.linalg.norm(median - 2.0) < 1.0 < np.linalg.norm(x.mean(axis=0) - 2.0)


def test_geometric_median_minimises_the_sum_of_distances():
    # three points on a line: the median is the middle one
    line = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
    np.testing.assert_allclose(geometric_median(line), [1.0, 0.0], atol=1e-4)
    x = np.random.default_rng(1).normal(size=(100, 3))
    m = geometric_median(x).astype(np.float64)
    total = np.linalg.norm(x - m, axis=1).sum()
    for step in np.eye(3) * 1e-2:
        for sign in (1, -1):
            assert np.linalg.norm(x - (m + sign * step), axis=1).sum() > total


def test_adapt_refuses_bad_data_before_changing_anything():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0)
    before = all_weights(model)
    bad = data(10)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite values \(in example 3\)"):
        model.adapt(bad)
    with pytest.raises(ValueError, match="no variance"):
        model.adapt(np.ones((5, N_INPUTS), np.float32))
    with pytest.raises(ValueError, match="at least 2 examples"):
        model.adapt(data(1))
    with pytest.raises(ValueError, match=r"shape \(n_examples, n_inputs=6\)"):
        model.adapt(np.ones((5, 7), np.float32))
    with pytest.raises(ValueError, match="center"):
        model.adapt(data(10), center="median of medians")
    for a, b in zip(before, all_weights(model)):
        np.testing.assert_array_equal(a, b)
    assert not model.is_adapted


# ---------------------------------------------------------------- the loss


def test_the_loss_is_the_mse_divided_by_the_data_variance():
    """Gao et al.'s mse_scale * mse, with mse_scale = 1 / mean((x - mean x)^2)."""
    x = data(200)
    l1 = 0.01
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, l1=l1, seed=0)
    model.compile(optimizer="sgd")
    model.adapt(x)
    batch = x[:50]
    latents, x_hat = forward(model, batch)
    x64 = x.astype(np.float64)
    variance = np.mean((x64 - x64.mean(axis=0)) ** 2)
    nmse = np.mean((batch - x_hat) ** 2) / variance
    penalty = l1 * latents.sum(axis=1).mean()
    logs = model.evaluate(batch, batch_size=50, verbose=0, return_dict=True)
    assert logs["normalized_mse"] == pytest.approx(nmse, rel=1e-5)
    assert logs["l1_penalty"] == pytest.approx(penalty, rel=1e-5)
    assert logs["loss"] == pytest.approx(nmse + penalty, rel=1e-5)
    assert model.train_on_batch(batch, return_dict=True)["loss"] == pytest.approx(nmse + penalty, rel=1e-5)


def test_the_reconstruction_term_does_not_depend_on_the_data_scale():
    """Scaling the data and the SAE's weights together scales the error and the
    variance alike: the normalised term is unchanged (the raw MSE would grow 100x)."""
    x = data(100)
    values = {}
    for scale in (1.0, 10.0):
        model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=2, seed=0)
        model.compile(optimizer="sgd")
        model.adapt(x * scale)
        model.b_enc.assign(to_numpy(model.b_enc) * scale)
        values[scale] = model.evaluate(x * scale, batch_size=100, verbose=0, return_dict=True)["normalized_mse"]
    assert values[10.0] == pytest.approx(values[1.0], rel=1e-4)


def test_fit_adapts_a_model_that_was_never_adapted_and_only_then():
    x = data(128)
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # nothing trains: b_dec is adapt's
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    assert model.is_adapted
    np.testing.assert_allclose(to_numpy(model.b_dec), x.mean(axis=0), rtol=1e-5)
    # a second fit, on other data, keeps the first adaptation
    model.fit(x + 100.0, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_allclose(to_numpy(model.b_dec), x.mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_inputs_raise_before_any_weight_changes(bad_value):
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=2, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.1))
    bad = data(64)
    bad[5, 0] = bad_value
    before = all_weights(model)
    calls = {
        "fit": lambda: model.fit(bad, epochs=1, verbose=0),
        "fit's validation data": lambda: model.fit(data(64), validation_data=(bad,), epochs=1, verbose=0),
        "evaluate": lambda: model.evaluate(bad, verbose=0),
        "predict": lambda: model.predict(bad, verbose=0),
        "encode": lambda: model.encode(bad),
        "encode a tensor": lambda: model.encode(keras.ops.convert_to_tensor(bad)),
        "decode": lambda: model.decode(np.full((2, N_LATENTS), bad_value, np.float32)),
    }
    for what, call in calls.items():
        with pytest.raises(ValueError, match="NaN or infinite"):
            call()
        for a, b in zip(before, all_weights(model)):
            np.testing.assert_array_equal(a, b, err_msg=f"{what} changed a weight before refusing")


def test_a_nan_in_training_data_is_named_not_learned():
    """Without the check, one NaN gives 'loss: nan' and a W_dec full of NaN."""
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0)
    model.compile(optimizer="adam")
    bad = data(64)
    bad[40, 3] = np.nan
    with pytest.raises(ValueError, match=r"example 40\b"):
        model.fit(bad, verbose=0)
    assert np.all(np.isfinite(model.decoder_weights))


# --------------------------------------------------------------- metrics


def test_fit_logs_each_term_the_fve_and_the_dead_fraction():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=3, auxk=4, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    x, x_valid = data(256), data(64, seed=1)
    history = model.fit(x, epochs=3, batch_size=32, verbose=0, validation_data=(x_valid,)).history
    expected = {"loss", "normalized_mse", "auxk_loss", "fve", "dead_fraction"}
    assert expected | {f"val_{name}" for name in expected} <= set(history)
    assert "l1_penalty" not in history, "TopK has no l1 penalty to log"
    for epoch in range(3):
        total = history["normalized_mse"][epoch] + history["auxk_loss"][epoch]
        assert history["loss"][epoch] == pytest.approx(total, rel=1e-5)


def test_the_logged_fve_is_the_fve_over_the_whole_set():
    """The streamed FVE over several batches equals metrics.fraction_variance_explained."""
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=3, seed=0)
    model.compile(optimizer="sgd")
    x = data(300)
    model.adapt(x)
    logs = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)  # 5 batches, the last short
    x_hat = to_numpy(model.predict(x, verbose=0))
    assert logs["fve"] == pytest.approx(fraction_variance_explained(x, x_hat), abs=1e-5)


# -------------------------------------------------------------- train_sae


def test_train_sae_stops_when_the_validation_fve_stops_improving():
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(12, N_INPUTS))
    codes = rng.exponential(size=(2048, 12)) * (rng.uniform(size=(2048, 12)) < 0.2)
    x = (codes @ directions + 0.05 * rng.normal(size=(2048, N_INPUTS))).astype(np.float32)
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=3, seed=0)
    history = train_sae(model, x[:1536], x[1536:], learning_rate=1e-2, batch_size=128,
                        max_epochs=300, patience=4, min_delta=1e-3)
    curve = history.history["val_fve"]
    epochs = len(curve)
    assert epochs < 300, "it should stop long before max_epochs on this easy problem"
    assert history.steps == epochs * 12
    best = history.best_epoch - 1
    # Keras's EarlyStopping counts an epoch as an improvement when it beats the
    # best value *recorded so far* by min_delta (epochs that improved by less
    # are not recorded), and keeps the last such epoch.
    recorded, improvements = -np.inf, []
    for epoch, value in enumerate(curve):
        if value > recorded + 1e-3:
            recorded = value
            improvements.append(epoch)
    assert best == improvements[-1], "the kept epoch is the last that beat the recorded best by min_delta"
    assert max(curve[best + 1:], default=-1) < curve[best] + 1e-3, "no later epoch improved by min_delta"
    assert epochs - (best + 1) >= 4, "it waits `patience` epochs after the best"
    # the weights of the best epoch were kept
    fve = fraction_variance_explained(x[1536:], to_numpy(model.predict(x[1536:], verbose=0)))
    assert fve == pytest.approx(curve[best], abs=1e-4)
    assert curve[best] > 0.8
    assert model.optimizer.epsilon == ADAM_EPSILON


def test_train_sae_bad_arguments():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0)
    x = data(64)
    for kwargs, name in [
        ({"learning_rate": 0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_epochs": 1.5}, "max_epochs"),
        ({"patience": -1}, "patience"),
        ({"min_delta": float("nan")}, "min_delta"),
    ]:
        with pytest.raises(ValueError, match=name):
            train_sae(model, x, x, **kwargs)
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="x_valid contains 1 NaN"):
        train_sae(model, x, bad)
