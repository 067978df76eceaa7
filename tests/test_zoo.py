import numpy as np
import pytest

from sparse_ae import zoo


def test_trained_model_is_cached_and_identical(fashion_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path))
    (X_train, _), (X_valid, _), _ = fashion_mnist
    X_train, X_valid = X_train[:2000], X_valid[:500]

    _, _, trained = zoo.trained_autoencoder("kl", X_train, X_valid, epochs=1)
    log_trained = capsys.readouterr().out
    assert log_trained.startswith("epoch  1/1  loss=")
    assert len(list((tmp_path / "models").glob("kl-*.weights.h5"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the model is cached")

    with monkeypatch.context() as m:
        m.setattr(zoo, "train", no_training)
        _, _, loaded = zoo.trained_autoencoder("kl", X_train, X_valid, epochs=1)
    assert capsys.readouterr().out == log_trained
    for a, b in zip(trained.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)

    # Training again without the cache gives the very same weights: the cache
    # changes nothing but the time.
    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path / "other"))
    _, _, again = zoo.trained_autoencoder("kl", X_train, X_valid, epochs=1)
    assert capsys.readouterr().out == log_trained
    for a, b in zip(trained.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'topk'"):
        zoo.trained_autoencoder("topk", np.zeros((1, 28, 28)), np.zeros((1, 28, 28)))
