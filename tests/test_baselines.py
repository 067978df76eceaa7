"""Tests of sparse_ae.baselines: PCA, the ablation switches, and that the
committed results file is what the module's code produces."""

import numpy as np
import pytest


def test_pca_fve_matches_a_hand_computation():
    from sparse_ae.baselines import pca_fve

    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    x_valid = rng.normal(size=(50, 6)) @ rng.normal(size=(6, 6))
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    top = vt[:2].T
    x_hat = mean + (x_valid - mean) @ top @ top.T
    expected = 1 - np.sum((x_valid - x_hat) ** 2) / np.sum(
        (x_valid - x_valid.mean(axis=0)) ** 2)
    assert pca_fve(x_train, x_valid, 2) == pytest.approx(expected, abs=1e-10), (
        "PCA must project the centred validation data on the training data's "
        "top principal directions")
    # all the components reconstruct any data exactly
    assert pca_fve(x_train, x_valid, 6) == pytest.approx(1.0, abs=1e-10)


def test_pca_fve_refuses_bad_sizes():
    from sparse_ae.baselines import pca_fve

    x = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match="n_components"):
        pca_fve(x, x, 5)
    with pytest.raises(ValueError, match="n_components"):
        pca_fve(x, x, 0)


def test_build_applies_each_switch():
    from sparse_ae.baselines import CHAPTER_9, FULL, build

    x = np.random.default_rng(0).uniform(size=(64, 30)).astype("float32")
    full = build(FULL, 0, x)
    np.testing.assert_allclose(full.b_dec.numpy() if hasattr(full.b_dec, "numpy")
                               else np.asarray(full.b_dec), x.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(np.asarray(full.W_enc), np.asarray(full.W_dec).T,
                               atol=1e-6, err_msg="tied: W_enc starts as W_dec's transpose")
    old = build(CHAPTER_9, 0, x)
    assert not old.unit_norm and old.auxk is None
    assert np.all(np.asarray(old.b_dec) == 0), "center='zero' must leave b_dec at 0"
    assert not np.allclose(np.asarray(old.W_enc), np.asarray(old.W_dec).T), (
        "tied=False must draw the encoder independently")
    latents = np.asarray(old.encode(x))
    assert np.all((latents > 0).sum(axis=1) == 11)
    assert np.all(latents[latents > 0] < 1), "sigmoid TopK: kept values in (0, 1)"
    with pytest.raises(ValueError, match="keys"):
        build({**FULL, "extra": 1}, 0, x)


def test_distinct_share():
    from sparse_ae.baselines import distinct_share

    assert distinct_share(np.array([[1, 0], [2, 0], [0, 1]])) == pytest.approx(2 / 3)


def test_the_committed_results_come_from_this_code(fashion_mnist):
    """One short run of the script reproduces the committed smoke row."""
    from sparse_ae.baselines import load_results, smoke

    (X_train, _), (X_valid, _), _ = fashion_mnist
    committed = load_results()["smoke"]
    record = smoke(X_train.reshape(len(X_train), -1),
                   X_valid.reshape(len(X_valid), -1))
    assert set(record) == set(committed), "the record's fields changed: rerun make ch13-runs"
    assert record["settings"] == committed["settings"]
    assert record["steps"] == committed["steps"]
    assert record["l0"] == committed["l0"] == 11
    # another backend or CPU rounds differently: two epochs move the FVE
    # by less than 0.01 (measured: TF and JAX differ by ~1e-3)
    assert record["fve"] == pytest.approx(committed["fve"], abs=0.01), (
        "the smoke run no longer reproduces the committed results: the "
        "training code changed since sparse_ae/weights/ch13_runs.json was written")
    np.testing.assert_allclose(record["val_fve"], committed["val_fve"], atol=0.01)


def test_the_published_sae_loads_with_its_recorded_quality(fashion_mnist):
    from sparse_ae.baselines import load, load_results
    from sparse_ae.metrics import fraction_variance_explained

    (_, _), (X_valid, _), _ = fashion_mnist
    x_valid = X_valid.reshape(len(X_valid), -1)
    sae = load()
    x_hat = np.asarray(sae.predict(x_valid, verbose=0))
    recorded = load_results()["published"]["fve"]
    # the matrices are stored in float16
    assert fraction_variance_explained(x_valid, x_hat) == pytest.approx(recorded, abs=2e-3)
