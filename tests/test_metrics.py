import keras
import numpy as np
import pytest

from sparse_ae.metrics import rounded_accuracy, sparsity_report


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
