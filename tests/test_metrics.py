import keras
import numpy as np
import pytest

from sparse_ae.metrics import (
    fraction_variance_explained,
    l0,
    loss_recovered,
    normalized_mse,
    silent_fraction,
    rounded_accuracy,
    sparsity_report,
)


def test_rounded_accuracy():
    y_true = np.array([[0.0, 0.2, 0.9, 1.0]], np.float32)
    y_pred = np.array([[0.4, 0.6, 0.7, 0.1]], np.float32)
    # rounded: true 0 0 1 1, pred 0 1 1 0 -> 2 of 4 agree
    acc = keras.ops.convert_to_numpy(rounded_accuracy(y_true, y_pred))
    assert float(np.mean(acc)) == pytest.approx(0.5)


def test_sparsity_report_by_hand():
    codings = np.array([
        [0.0, 0.5, 0.05, 0.0],
        [0.2, 0.9, 0.05, 0.0],
        [0.0, 0.1, 0.09, 0.0],
    ])
    r = sparsity_report(codings, threshold=0.1)
    assert r["mean_activation"] == pytest.approx(codings.mean())
    # active (>= 0.1): 0.5, 0.2, 0.9, 0.1 -> 4 of 12
    assert r["fraction_inactive"] == pytest.approx(8 / 12)
    assert r["mean_active_units"] == pytest.approx(4 / 3)
    # units 2 and 3 never reach 0.1
    assert r["fraction_dead"] == pytest.approx(0.5)
    np.testing.assert_allclose(r["neuron_mean_activations"], codings.mean(axis=0))
    assert (r["n_examples"], r["n_units"], r["threshold"]) == (3, 4, 0.1)


def test_threshold_changes_the_counts():
    codings = np.array([[0.3, 0.6], [0.4, 0.7]])
    assert sparsity_report(codings, 0.5)["fraction_dead"] == 0.5
    assert sparsity_report(codings, 0.2)["fraction_dead"] == 0.0


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 3)), np.zeros((2, 3, 4)), np.array([[np.nan, 0.1]])])
def test_sparsity_report_rejects_bad_codings(bad):
    with pytest.raises(ValueError, match="codings"):
        sparsity_report(bad)


@pytest.mark.parametrize("threshold", [float("nan"), "a", None])
def test_sparsity_report_rejects_bad_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        sparsity_report(np.zeros((2, 2)), threshold)


# ------------------------------------------------------------ SAE metrics (chapter 12)


def _images():
    return np.random.default_rng(0).uniform(size=(12, 4, 5))


def test_perfect_reconstruction():
    x = _images()
    assert fraction_variance_explained(x, x) == 1.0
    assert normalized_mse(x, x) == 0.0


def test_predicting_the_mean_explains_no_variance():
    x = _images()
    mean = np.broadcast_to(x.mean(axis=0), x.shape)
    assert fraction_variance_explained(x, mean) == pytest.approx(0.0, abs=1e-12)
    assert normalized_mse(x, mean) == pytest.approx(1.0)
    # Predicting zeros, far from the data's mean, is worse than the mean.
    assert fraction_variance_explained(x, np.zeros_like(x)) < 0
    assert normalized_mse(x, np.zeros_like(x)) > 1


def test_fve_and_nmse_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    x_hat = np.array([[1.0, 3.0], [3.0, 3.0]])
    # squared error 0 + 1 + 0 + 1 = 2; about the mean (2, 3): 1 + 1 + 1 + 1 = 4
    assert fraction_variance_explained(x, x_hat) == pytest.approx(1 - 2 / 4)
    # Gao et al.'s normalized MSE: the error over the error of the mean
    assert normalized_mse(x, x_hat) == pytest.approx(2 / 4)
    assert isinstance(fraction_variance_explained(x, x_hat), float)


def test_trailing_axes_are_flattened():
    x = _images()
    x_hat = x + np.random.default_rng(1).normal(scale=0.1, size=x.shape)
    flat = x.reshape(len(x), -1), x_hat.reshape(len(x), -1)
    assert fraction_variance_explained(x, x_hat) == pytest.approx(fraction_variance_explained(*flat))
    assert normalized_mse(x, x_hat) == pytest.approx(normalized_mse(*flat))


@pytest.mark.parametrize("metric", [fraction_variance_explained, normalized_mse])
def test_reconstruction_metrics_reject_bad_input(metric):
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"same shape.*\(3, 4\) and \(3, 5\)"):
        metric(x, np.ones((3, 5)))
    with pytest.raises(ValueError, match="x must be a non-empty array"):
        metric(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="x_hat contains NaN"):
        metric(x, np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="x must be an array of numbers"):
        metric([["a"]], [["b"]])


def test_undefined_denominators():
    with pytest.raises(ValueError, match="no variance"):
        fraction_variance_explained(np.ones((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="no variance"):
        normalized_mse(np.zeros((3, 2)), np.ones((3, 2)))


def test_l0_and_silent_fraction_by_hand():
    latents = np.array([
        [0.0, 2.0, 0.0, 1e-9, 0.0],
        [0.0, 0.5, 3.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ], np.float32)
    # non-zero per example: 2, 2, 0 (a tiny 1e-9 counts: no threshold)
    assert l0(latents) == pytest.approx(4 / 3)
    # latents 0 and 4 never fire
    assert silent_fraction(latents) == pytest.approx(2 / 5)


@pytest.mark.parametrize("metric", [l0, silent_fraction])
@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 3)), np.zeros((2, 3, 4)), [[np.inf, 0.0]]])
def test_latent_metrics_reject_bad_latents(metric, bad):
    with pytest.raises(ValueError, match="latents"):
        metric(bad)


def test_loss_recovered_by_hand():
    # gap 2.3 - 0.3 = 2.0, of which the reconstruction closes 2.3 - 0.4 = 1.9
    assert loss_recovered(0.3, 0.4, 2.3) == pytest.approx(0.95)
    assert loss_recovered(0.3, 0.3, 2.3) == pytest.approx(1.0)
    assert loss_recovered(0.3, 2.3, 2.3) == pytest.approx(0.0)
    # worse than ablating: negative
    assert loss_recovered(0.3, 3.3, 2.3) == pytest.approx(-0.5)


def test_loss_recovered_works_on_accuracies_and_error_rates_alike():
    original, reconstructed, ablated = 0.90, 0.85, 0.10
    from_accuracy = loss_recovered(original, reconstructed, ablated)
    from_error = loss_recovered(1 - original, 1 - reconstructed, 1 - ablated)
    assert from_accuracy == pytest.approx(from_error)
    assert from_accuracy == pytest.approx(0.75 / 0.80)


@pytest.mark.parametrize(
    "args, name",
    [
        ((0.3, 0.4, 0.3), "ablated_loss equals original_loss"),
        ((float("nan"), 0.4, 2.3), "original_loss"),
        ((0.3, None, 2.3), "reconstructed_loss"),
        ((0.3, 0.4, float("inf")), "ablated_loss"),
        ((0.3, 0.4, "a"), "ablated_loss"),
    ],
)
def test_loss_recovered_rejects_bad_input(args, name):
    with pytest.raises(ValueError, match=name):
        loss_recovered(*args)


def test_pareto_front():
    from sparse_ae.metrics import pareto_front

    points = [(10, 0.40), (20, 0.35), (15, 0.45), (30, 0.30), (30, 0.36), (5, 0.50)]
    # (15, 0.45) is beaten by (10, 0.40); (30, 0.36) by (30, 0.30).
    assert pareto_front(points) == [5, 0, 1, 3]
    assert pareto_front([(1, 1)]) == [0]
    assert pareto_front([(1, 1), (1, 1)]) == [0, 1]  # ties beat nobody
    with pytest.raises(ValueError, match="pairs"):
        pareto_front([1, 2, 3])
