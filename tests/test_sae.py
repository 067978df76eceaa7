"""Tests of sparse_ae.sae: the SAE of Gao et al. (2024), on either backend.

Every expectation is computed independently in NumPy from the model's weights.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from sparse_ae.sae import (
    AUXK_COEF,
    DEAD_AFTER,
    SparseAutoencoder,
    keep_top_k,
    remove_parallel_gradient,
)

N_INPUTS, N_LATENTS = 6, 24


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def data(n=64, n_inputs=N_INPUTS, seed=0):
    return np.random.default_rng(seed).normal(size=(n, n_inputs)).astype(np.float32)


def weights(model):
    """``W_enc, b_enc, W_dec, b_dec`` as float64 NumPy arrays."""
    return [to_numpy(v).astype(np.float64) for v in (model.W_enc, model.b_enc, model.W_dec, model.b_dec)]


def topk_mask(values, k):
    """1 where ``values`` is among the ``k`` largest of its row, else 0."""
    mask = np.zeros_like(values)
    np.put_along_axis(mask, np.argsort(-values, axis=1)[:, :k], 1.0, axis=1)
    return mask


def forward(model, x):
    """The model's forward pass, in NumPy: ``(pre_activations, latents, x_hat)``."""
    W_enc, b_enc, W_dec, b_dec = weights(model)
    pre = (x - b_dec) @ W_enc + b_enc
    kept = pre * topk_mask(pre, model.k) if model.k is not None else pre
    latents = np.maximum(kept, 0.0)
    return pre, latents, latents @ W_dec + b_dec


def auxk_term(model, x, dead):
    """Gao et al.'s AuxK loss in NumPy, for a boolean mask of dead latents."""
    pre, _, x_hat = forward(model, x)
    _, _, W_dec, _ = weights(model)
    masked = pre * dead
    aux_latents = np.maximum(masked * topk_mask(masked, model.auxk), 0.0)
    residual = x - x_hat
    error = np.mean((residual - aux_latents @ W_dec) ** 2)
    return model.auxk_coef * error / np.mean((residual - residual.mean(axis=0)) ** 2)


def evaluated_loss(model, x):
    """``model.evaluate``'s loss on ``x``, as one batch."""
    return model.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)["loss"]


def training_loss(model, x):
    """The loss of one training step on the batch ``x`` (computed before the update)."""
    return model.train_on_batch(x, return_dict=True)["loss"]


def row_norms(model):
    return np.linalg.norm(model.decoder_weights.astype(np.float64), axis=1)


def compiled(model, learning_rate=0.01, optimizer=None):
    model.compile(optimizer=optimizer or keras.optimizers.SGD(learning_rate))
    return model


# ----------------------------------------------------------- structure


@pytest.mark.parametrize("kwargs", [{"activation": "relu", "l1": 1e-3}, {"activation": "topk", "k": 3}])
def test_shapes_and_forward_pass(kwargs):
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0, **kwargs)
    x = data(10)
    model.b_dec.assign(x.mean(axis=0))  # a non-zero pre-encoder bias
    pre, latents, x_hat = forward(model, x)
    assert to_numpy(model.pre_activations(x)).shape == (10, N_LATENTS)
    got = to_numpy(model.encode(x))
    assert got.shape == (10, N_LATENTS)
    assert (got >= 0).all(), "latents must be >= 0: is the ReLU applied after TopK?"
    np.testing.assert_allclose(to_numpy(model.pre_activations(x)), pre, atol=1e-5)
    np.testing.assert_allclose(got, latents, atol=1e-5)
    np.testing.assert_allclose(to_numpy(model(x)), x_hat, atol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), x_hat, atol=1e-5)
    np.testing.assert_allclose(to_numpy(model.decode(got)), x_hat, atol=1e-5)
    assert isinstance(model.decoder_weights, np.ndarray)
    assert model.decoder_weights.shape == (N_LATENTS, N_INPUTS)


def test_keep_top_k():
    values = np.random.default_rng(0).normal(size=(16, 30)).astype(np.float32)
    kept = to_numpy(keep_top_k(values, 5))
    np.testing.assert_array_equal(kept, values * topk_mask(values, 5))
    ties = to_numpy(keep_top_k(np.full((3, 6), 0.5, np.float32), 2))
    assert (np.count_nonzero(ties, axis=1) == 2).all(), "exactly k are kept, even with ties"


def test_remove_parallel_gradient_is_the_identity_forward():
    w = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(to_numpy(remove_parallel_gradient(w)), w)


def test_topk_keeps_at_most_k_latents_the_largest():
    k = 4
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=k, seed=0)
    x = data(200)
    latents = to_numpy(model.encode(x))
    pre = to_numpy(model.pre_activations(x))
    counts = np.count_nonzero(latents, axis=1)
    assert counts.max() <= k, "TopK must keep at most k latents per example"
    assert counts.max() == k
    for row_pre, row in zip(pre, latents):
        kept = np.flatnonzero(row)
        assert set(kept) <= set(np.argsort(-row_pre)[:k]), "kept latents must be the largest"
        np.testing.assert_allclose(row[kept], row_pre[kept], rtol=1e-6)


def test_tied_initialisation_with_unit_norm_rows():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=3)
    W_enc, b_enc, W_dec, b_dec = weights(model)
    np.testing.assert_array_equal(W_enc, W_dec.T, err_msg="the encoder must start as W_dec.T")
    np.testing.assert_allclose(row_norms(model), 1.0, atol=1e-6)
    assert not b_enc.any() and not b_dec.any()
    assert not to_numpy(model.examples_since_fired).any()


def test_seeded_initialisation_is_reproducible():
    first, again, other = (SparseAutoencoder(N_INPUTS, N_LATENTS, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(first.decoder_weights, again.decoder_weights)
    assert not np.allclose(first.decoder_weights, other.decoder_weights)
    # Without a seed, Keras's global seed decides (as seed_everything sets it).
    keras.utils.set_random_seed(7)
    a = SparseAutoencoder(N_INPUTS, N_LATENTS).decoder_weights
    keras.utils.set_random_seed(7)
    b = SparseAutoencoder(N_INPUTS, N_LATENTS).decoder_weights
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- loss


def test_loss_is_mse_plus_l1_penalty():
    l1 = 0.01
    model = compiled(SparseAutoencoder(N_INPUTS, N_LATENTS, l1=l1, seed=0))
    x = data(50)
    _, latents, x_hat = forward(model, x)
    mse = np.mean((x - x_hat) ** 2)  # mean over examples and inputs
    expected = mse + l1 * latents.sum(axis=1).mean()
    assert evaluated_loss(model, x) == pytest.approx(expected, rel=1e-5)
    assert training_loss(model, x) == pytest.approx(expected, rel=1e-5)


def test_topk_loss_is_the_mse():
    model = compiled(SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=3, seed=0))
    x = data(50)
    _, _, x_hat = forward(model, x)
    assert evaluated_loss(model, x) == pytest.approx(np.mean((x - x_hat) ** 2), rel=1e-5)


def test_fit_evaluate_predict_with_validation():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=3, auxk=4, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), steps_per_execution=4)
    x, x_valid = data(256), data(64, seed=1)
    history = model.fit(x, epochs=4, batch_size=32, verbose=0, validation_data=(x_valid,))
    assert {"loss", "val_loss", "dead_fraction", "val_dead_fraction"} <= set(history.history)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], "the loss should fall on this easy problem"
    np.testing.assert_allclose(row_norms(model), 1.0, atol=1e-6, err_msg="fit must keep the rows unit-norm")
    history = model.fit(x, epochs=1, verbose=0, validation_data=(x_valid, x_valid))
    assert "val_loss" in history.history
    assert model.evaluate(x_valid, verbose=0, return_dict=True)["loss"] > 0
    assert model.predict(x_valid, verbose=0).shape == x_valid.shape


def test_compiled_metrics_compare_with_the_input():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0)
    model.compile(optimizer="sgd", metrics=["mse"])
    x = data(40)
    logs = model.evaluate(x, batch_size=40, verbose=0, return_dict=True)
    _, _, x_hat = forward(model, x)
    assert logs["mse"] == pytest.approx(np.mean((x - x_hat) ** 2), rel=1e-5)


def test_a_compiled_loss_is_refused():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="optimizer only"):
        model.fit(data(8), verbose=0)


# ------------------------------------------------------ unit-norm dictionary


def test_decoder_rows_have_unit_norm_after_every_step():
    model = compiled(SparseAutoencoder(N_INPUTS, N_LATENTS, l1=1e-3, seed=0),
                     optimizer=keras.optimizers.Adam(0.05))
    x = data(32) * 5.0
    for step in range(5):
        model.train_on_batch(x)
        np.testing.assert_allclose(
            row_norms(model), 1.0, atol=1e-6,
            err_msg=f"decoder rows must have unit norm after step {step + 1}: did the constraint run?",
        )
    initial = SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0).decoder_weights
    assert not np.allclose(model.decoder_weights, initial), "the dictionary should have moved"


def test_the_update_uses_the_gradient_without_its_parallel_part():
    """One SGD step: W_dec <- normalise(W_dec - lr * g_perp), where g_perp is the
    MSE's gradient with each row's component along that row removed."""
    lr = 2.0
    model = compiled(SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0), lr)
    x = data(32) * 3.0
    _, latents, x_hat = forward(model, x)
    _, _, W_dec, _ = weights(model)
    gradient = 2.0 * latents.T @ (x_hat - x) / x.size  # d mean((x_hat - x)^2) / d W_dec
    parallel = np.sum(gradient * W_dec, axis=1, keepdims=True) * W_dec
    unit = lambda w: w / np.linalg.norm(w, axis=1, keepdims=True)  # noqa: E731
    projected = unit(W_dec - lr * (gradient - parallel))
    unprojected = unit(W_dec - lr * gradient)
    assert np.abs(projected - unprojected).max() > 1e-2, "the test must tell the two apart"
    model.train_on_batch(x)
    got = model.decoder_weights
    np.testing.assert_allclose(
        got, projected, atol=2e-5,
        err_msg="the optimizer must see the gradient without its part along each row",
    )


def test_a_pure_rescaling_gradient_leaves_rows_unchanged():
    """Each example lies along one dictionary row and is reconstructed twice too
    long, so the MSE's gradient only asks the rows to shrink, by more than their
    length at this learning rate: unprojected, SGD would flip them."""
    model = compiled(SparseAutoencoder(3, 3, seed=0), learning_rate=10.0)
    model.W_dec.assign(np.eye(3, dtype=np.float32))
    model.W_enc.assign(2 * np.eye(3, dtype=np.float32))
    model.train_on_batch(np.diag([1.0, 2.0, 3.0]).astype(np.float32))
    np.testing.assert_allclose(model.decoder_weights, np.eye(3), atol=1e-6)


def test_without_unit_norm_the_update_is_plain_sgd():
    """unit_norm=False: one SGD step is W_dec <- W_dec - lr * g, the full
    gradient, with no projection and no renormalisation."""
    lr = 2.0
    model = compiled(SparseAutoencoder(N_INPUTS, N_LATENTS, unit_norm=False, seed=0), lr)
    assert model.W_dec.constraint is None
    x = data(32) * 3.0
    _, latents, x_hat = forward(model, x)
    _, _, W_dec, _ = weights(model)
    gradient = 2.0 * latents.T @ (x_hat - x) / x.size
    model.train_on_batch(x)
    np.testing.assert_allclose(
        model.decoder_weights, W_dec - lr * gradient, atol=2e-5,
        err_msg="with unit_norm=False the optimizer must see the whole gradient",
    )
    assert np.abs(row_norms(model) - 1.0).max() > 1e-3, "the rows must be free to change length"


def test_without_unit_norm_l1_grows_the_rows_and_shrinks_the_latents():
    """The dodge of chapter 11: a plain l1 penalty on free rows makes the rows
    longer and the latents smaller, so the penalty falls while the number of
    active latents does not; with unit_norm it cannot (and with the
    norm-weighted penalty it gains nothing: tests/test_sae_variants.py)."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(8, N_INPUTS))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    codes = rng.uniform(size=(512, 8)) * (rng.uniform(size=(512, 8)) < 0.2)
    x = (codes @ features).astype(np.float32)  # sparse sums of 8 unit directions
    results = {}
    for unit_norm in (True, False):
        keras.utils.set_random_seed(0)
        model = compiled(
            SparseAutoencoder(N_INPUTS, 12, l1=0.7, unit_norm=unit_norm,
                              norm_weighted_l1=False, seed=0),
            optimizer=keras.optimizers.Adam(0.01),
        )
        model.fit(x, epochs=40, batch_size=64, verbose=0)
        latents = to_numpy(model.encode(x))
        alive = latents.max(axis=0) > 0
        results[unit_norm] = (
            row_norms(model)[alive].mean(),
            latents.sum(axis=1).mean(),
            np.count_nonzero(latents, axis=1).mean(),
        )
    (norm_free, l1_free, l0_free), (norm_fixed, l1_fixed, l0_fixed) = results[False], results[True]
    assert norm_fixed == pytest.approx(1.0, abs=1e-6)
    assert norm_free > 1.5, f"free rows should grow under the l1 penalty, mean norm {norm_free:.3f}"
    assert l1_free < 0.8 * l1_fixed, "the latents' l1 should fall when the rows may grow"
    assert l0_free > 0.8 * l0_fixed, "shrinking the latents is not making them sparser"


# ----------------------------------------------------------- dead latents and AuxK


def test_dead_latents_are_counted_in_training_examples():
    """Latents 0 and 1 never fire, the others always do; SGD with learning rate 0
    keeps it so. 40 examples an epoch, dead after 50."""
    model = compiled(SparseAutoencoder(N_INPUTS, 8, dead_after=50, seed=0), learning_rate=0.0)
    model.b_enc.assign(np.array([-100, -100] + [100] * 6, np.float32))
    x = data(40)
    history = model.fit(x, epochs=2, batch_size=10, verbose=0, shuffle=False)
    np.testing.assert_array_equal(to_numpy(model.examples_since_fired), [80, 80, 0, 0, 0, 0, 0, 0])
    assert history.history["dead_fraction"] == pytest.approx([0.0, 0.25]), (
        "after 40 examples no latent is dead yet; after 80, two of eight are"
    )
    np.testing.assert_array_equal(model.dead_latents, [True, True] + [False] * 6)
    # Evaluation and prediction do not count.
    assert model.evaluate(x, verbose=0, return_dict=True)["dead_fraction"] == pytest.approx(0.25)
    model.predict(x, verbose=0)
    model(x)
    assert to_numpy(model.examples_since_fired)[0] == 80
    # A latent that fires is alive again; an uneven batch counts its size.
    model.b_enc.assign(np.array([100, -100] + [100] * 6, np.float32))
    model.train_on_batch(x[:7])
    np.testing.assert_array_equal(to_numpy(model.examples_since_fired)[:3], [0, 87, 0])


def _silent_latents(model, x):
    silent = ~(to_numpy(model.encode(x)) > 0).any(axis=0)
    assert silent.sum() >= 4, "the test needs latents that do not fire on x"
    return silent


def _force_dead(model, dead):
    model.examples_since_fired.assign(np.where(dead, model.dead_after, 0).astype(np.int32))


def test_auxk_loss_value():
    model = compiled(SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=2, auxk=6, seed=0))
    x = data(8)  # 8 examples, 2 latents each: at least 8 of the 24 latents are silent
    model.b_dec.assign(np.full(N_INPUTS, 0.5, np.float32))  # AuxK decodes without it
    dead = _silent_latents(model, x)
    _, _, x_hat = forward(model, x)
    mse = np.mean((x - x_hat) ** 2)
    # No dead latent: no AuxK term.
    assert evaluated_loss(model, x) == pytest.approx(mse, rel=1e-5)
    _force_dead(model, dead)
    expected = mse + auxk_term(model, x, dead)
    assert expected > mse * 1.01
    assert evaluated_loss(model, x) == pytest.approx(expected, rel=1e-5)
    assert training_loss(model, x) == pytest.approx(expected, rel=1e-5)


def test_auxk_gradient_reaches_the_dead_latents():
    """An auxiliary loss that is computed but not backpropagated is a known bug
    in public SAE code. With the same dead latents, one SGD step with AuxK must
    move their encoder columns and dictionary rows; without AuxK, TopK gives
    them no gradient at all. The live latents' columns move the same either way."""
    x = data(8)
    after = {}
    for auxk in (None, 6):  # the same seed: the same initial weights and dead latents
        model = compiled(
            SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=2, auxk=auxk, seed=0), 0.5
        )
        dead = _silent_latents(model, x)
        _force_dead(model, dead)
        before = weights(model)
        model.train_on_batch(x)
        after[auxk] = weights(model)
    W_enc, b_enc, W_dec, _ = before
    # Without AuxK: exactly no change to the dead latents' encoder.
    np.testing.assert_array_equal(after[None][0][:, dead], W_enc[:, dead],
                                  err_msg="TopK alone must give unselected latents no gradient")
    np.testing.assert_array_equal(after[None][1][dead], b_enc[dead])
    np.testing.assert_allclose(after[None][2][dead], W_dec[dead], atol=1e-6)
    # With AuxK: the dead latents learn.
    moved = np.abs(after[6][0][:, dead] - W_enc[:, dead]).max(axis=0)
    assert (moved > 1e-4).sum() >= 2, (
        "AuxK must move the dead latents' encoder columns: is its loss added to the total?"
    )
    assert np.abs(after[6][2][dead] - W_dec[dead]).max() > 1e-4, "AuxK must move the dead latents' rows"
    # The residual is a constant target: AuxK does not touch the live latents' encoder.
    np.testing.assert_allclose(after[6][0][:, ~dead], after[None][0][:, ~dead], atol=1e-6)


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_inputs": 0}, "n_inputs"),
        ({"n_inputs": 2.5}, "n_inputs"),
        ({"n_latents": -3}, "n_latents"),
        ({"n_latents": True}, "n_latents"),
        ({"activation": "sigmoid"}, "activation"),
        ({"activation": "topk"}, "k must be given"),
        ({"activation": "topk", "k": N_LATENTS + 1}, "k=25 is larger than n_latents"),
        ({"activation": "topk", "k": 0}, "k must be a positive integer"),
        ({"activation": "topk", "k": 2.0}, "k must be a positive integer"),
        ({"k": 3}, "k is only used with activation='topk'"),
        ({"l1": -0.1}, "l1"),
        ({"l1": float("nan")}, "l1"),
        ({"l1": "a"}, "l1"),
        ({"activation": "topk", "k": 3, "l1": 0.1}, "l1 is only used with activation='relu'.*TopK already fixes"),
        ({"l1": True}, "l1 must be a finite number"),
        ({"l1": "0.1"}, "l1 must be a finite number"),
        ({"auxk": 4}, "auxk needs activation='topk'"),
        ({"activation": "topk", "k": 3, "auxk": 0}, "auxk must be a positive integer"),
        ({"activation": "topk", "k": 3, "auxk": N_LATENTS + 1}, "auxk=25 is larger than n_latents"),
        ({"activation": "topk", "k": 3, "auxk": 4, "auxk_coef": -1}, "auxk_coef"),
        ({"dead_after": 0}, "dead_after"),
        ({"dead_after": 1.5}, "dead_after"),
        ({"seed": "x"}, "seed"),
        ({"unit_norm": 1}, "unit_norm"),
        ({"unit_norm": None}, "unit_norm"),
    ],
)
def test_bad_arguments(kwargs, name):
    args = {"n_inputs": N_INPUTS, "n_latents": N_LATENTS, **kwargs}
    with pytest.raises(ValueError, match=name):
        SparseAutoencoder(args.pop("n_inputs"), args.pop("n_latents"), **args)


def test_wrong_input_width():
    model = compiled(SparseAutoencoder(N_INPUTS, N_LATENTS, seed=0))
    bad = data(4, n_inputs=N_INPUTS + 1)
    for use in (model, model.encode, model.pre_activations):
        with pytest.raises(ValueError, match=r"n_inputs=6\), got shape \(4, 7\)"):
            use(bad)
    with pytest.raises(ValueError, match="n_inputs=6"):
        model.fit(bad, verbose=0)


def test_defaults():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS)
    assert (model.activation, model.k, model.l1, model.auxk) == ("relu", None, 0.0, None)
    assert (model.auxk_coef, model.dead_after) == (AUXK_COEF, DEAD_AFTER) == (1 / 32, 10_000)
    assert model.unit_norm is True


# ------------------------------------------------------------------ saving


def _trained_topk_model():
    model = compiled(
        SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=3, auxk=5, dead_after=100, seed=4),
        optimizer=keras.optimizers.Adam(0.01),
    )
    model.fit(data(128), epochs=2, batch_size=32, verbose=0)
    return model


def test_config_round_trip():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=3, auxk=5, dead_after=77, seed=4)
    config = model.get_config()
    clone = SparseAutoencoder.from_config(config)
    assert clone.get_config() == config
    np.testing.assert_array_equal(clone.decoder_weights, model.decoder_weights)
    assert config["unit_norm"] is True


def test_config_round_trip_without_unit_norm():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, l1=0.1, unit_norm=False, seed=4)
    config = model.get_config()
    assert config["unit_norm"] is False
    clone = SparseAutoencoder.from_config(config)
    assert clone.unit_norm is False and clone.W_dec.constraint is None


def test_save_and_load(tmp_path):
    model = _trained_topk_model()
    path = tmp_path / "sae.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, SparseAutoencoder)
    assert loaded.get_config() == model.get_config()
    x = data(20, seed=5)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for name in ("W_enc", "b_enc", "W_dec", "b_dec", "examples_since_fired"):
        np.testing.assert_array_equal(to_numpy(getattr(loaded, name)), to_numpy(getattr(model, name)))
    loaded.fit(x, verbose=0)  # the optimizer came back too


def test_load_in_a_fresh_process_after_importing_only_sparse_ae(tmp_path):
    model = _trained_topk_model()
    path, x_path, out_path = tmp_path / "sae.keras", tmp_path / "x.npy", tmp_path / "out.npy"
    model.save(path)
    x = data(20, seed=6)
    np.save(x_path, x)
    code = (
        "import json, numpy as np, sparse_ae, keras\n"
        f"model = keras.models.load_model({str(path)!r})\n"
        f"np.save({str(out_path)!r}, model.predict(np.load({str(x_path)!r}), verbose=0))\n"
        "print(json.dumps([type(model).__name__, keras.backend.backend()]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    class_name, backend = json.loads(result.stdout.strip().splitlines()[-1])
    assert (class_name, backend) == ("SparseAutoencoder", keras.backend.backend())
    np.testing.assert_array_equal(np.load(out_path), model.predict(x, verbose=0))
