import keras
import numpy as np
import pytest

from sparse_ae.metrics import sparsity_report
from sparse_ae.models import build_sparse_kl_autoencoder, build_sparse_l1_autoencoder
from sparse_ae.reproducibility import seed_everything
from sparse_ae.training import EpochLogger, fast_fit, train


def run(fashion_mnist, weight, fast=True, n=5000, epochs=1):
    (X_train, _), (X_valid, _), _ = fashion_mnist
    seed_everything(42)
    encoder, _, ae = build_sparse_kl_autoencoder(weight=weight, target=0.1)
    history = train(ae, X_train[:n], X_valid[:1000], epochs=epochs, fast=fast)
    codings = encoder.predict(X_valid[:1000], verbose=0)
    return sparsity_report(codings)["mean_activation"], history, ae


def test_kl_penalty_pulls_mean_activation_to_target(fashion_mnist):
    """One epoch on 5,000 real images: with the penalty the mean coding
    activation is near the target of 0.1; without it, far from it."""
    with_kl, _, _ = run(fashion_mnist, weight=0.05)
    without, _, _ = run(fashion_mnist, weight=0.0)
    assert abs(with_kl - 0.1) < 0.05
    assert abs(without - 0.1) > 0.2
    assert abs(with_kl - 0.1) < abs(without - 0.1) / 4


def test_fast_training_is_bit_identical_run_to_run(fashion_mnist, capsys):
    """The fast path is deterministic on one machine: the same weights, the
    same history and the same printed log, bit for bit (2 epochs, 4,000 images,
    so that the last batch is a partial one)."""
    _, h1, ae1 = run(fashion_mnist, weight=0.05, n=4010, epochs=2)
    out1 = capsys.readouterr().out
    _, h2, ae2 = run(fashion_mnist, weight=0.05, n=4010, epochs=2)
    out2 = capsys.readouterr().out
    assert h1.history == h2.history
    for a, b in zip(ae1.get_weights(), ae2.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert out1 == out2
    assert out1.startswith("epoch  1/2  loss=0.")
    assert "val_loss=" in out1 and "val_rounded_accuracy=" in out1
    assert h1.seconds > 0


def test_fast_fit_makes_the_same_updates_as_fit(fashion_mnist):
    """From the same weights and seed, fast_fit and Keras's fit agree to float32
    rounding: the same batches in the same order, one update per batch. A
    different order or batch size would move the weights by far more."""
    (X_train, _), (X_valid, _), _ = fashion_mnist
    x, x_valid = X_train[:3010], X_valid[:500]
    results = []
    for fast in (True, False, "other-order"):
        seed_everything(42)
        _, _, ae = build_sparse_l1_autoencoder()
        if fast == "other-order":
            x_run = x[::-1].copy()
        else:
            x_run = x
        history = train(ae, x_run, x_valid, epochs=2, fast=fast is True, log_epochs=False)
        results.append((history.history, ae.get_weights()))
    (h_fast, w_fast), (h_fit, w_fit), (_, w_other) = results
    assert h_fast.keys() == h_fit.keys()
    for key in h_fit:
        np.testing.assert_allclose(h_fast[key], h_fit[key], rtol=0, atol=1e-5, err_msg=key)
    same = max(float(np.abs(a - b).max()) for a, b in zip(w_fast, w_fit))
    other = max(float(np.abs(a - b).max()) for a, b in zip(w_other, w_fit))
    assert same < 1e-5
    assert other > 100 * same, "a different data order should change the weights far more"


def test_fast_fit_calls_callbacks_once_per_epoch(fashion_mnist):
    (X_train, _), (X_valid, _), _ = fashion_mnist
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))

    seed_everything(0)
    _, _, ae = build_sparse_kl_autoencoder()
    history = fast_fit(ae, X_train[:640], epochs=2, validation_data=(X_valid[:64], X_valid[:64]),
                       callbacks=[Spy()])
    assert [e for e, _ in seen] == [0, 1]
    assert seen[0][1] == ["loss", "rounded_accuracy", "val_loss", "val_rounded_accuracy"]
    assert len(history.history["loss"]) == 2


def test_fast_fit_rejects_bad_input():
    _, _, ae = build_sparse_kl_autoencoder()
    with pytest.raises(ValueError, match="same number of examples"):
        fast_fit(ae, np.zeros((10, 28, 28), np.float32), np.zeros((9, 28, 28), np.float32))
    with pytest.raises(ValueError, match="x is empty"):
        fast_fit(ae, np.zeros((0, 28, 28), np.float32))


def test_epoch_logger_prints_one_line_per_epoch():
    lines = []
    logger = EpochLogger(print_fn=lines.append)
    logger.set_params({"epochs": 3})
    logger.on_epoch_end(1, {"loss": 0.123456, "val_loss": 0.2, "other": 5})
    assert lines == ["epoch  2/3  loss=0.1235  val_loss=0.2000"]
