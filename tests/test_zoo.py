import json

import keras
import numpy as np
import pytest

from sparse_ae import zoo


@pytest.fixture
def small_data(fashion_mnist):
    (X_train, _), (X_valid, _), _ = fashion_mnist
    return X_train[:2000], X_valid[:500]


def test_trained_model_is_cached_and_identical(small_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path))
    X_train, X_valid = small_data

    _, _, trained = zoo.trained_autoencoder("kl", X_train, X_valid, epochs=1, log="epochs")
    log_trained = capsys.readouterr().out
    assert log_trained.startswith("epoch  1/1  loss=")
    assert len(list((tmp_path / "models").glob("kl-seed42-*.weights.h5"))) == 1
    history = trained.history.history
    assert set(history) >= {"loss", "val_loss", "val_dead_fraction", "val_mean_activation"}

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the model is cached")

    with monkeypatch.context() as m:
        m.setattr(zoo, "train", no_training)
        _, _, loaded = zoo.trained_autoencoder("kl", X_train, X_valid, epochs=1, log="epochs")
        assert capsys.readouterr().out == log_trained     # the same log, replayed
        _, _, again = zoo.trained_autoencoder("kl", X_train, X_valid, epochs=1, log="summary")
    summary = capsys.readouterr().out
    assert summary.count("\n") == 2 and summary.startswith("kl: chapter 4's model, seed 42, 1 epochs")
    assert f"val_loss={history['val_loss'][-1]:.4f}" in summary
    assert loaded.history.history == history
    for a, b in zip(trained.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)

    # Training again without the cache gives the very same weights, and the
    # summary line is the same whether the model was cached or not.
    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path / "other"))
    _, _, fresh = zoo.trained_autoencoder("kl", X_train, X_valid, epochs=1, log="summary")
    assert capsys.readouterr().out == summary
    for a, b in zip(trained.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_seeds_are_cached_separately(small_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path))
    X_train, X_valid = small_data[0][:640], small_data[1][:64]
    _, _, a = zoo.trained_autoencoder("baseline", X_train, X_valid, epochs=1, seed=0)
    _, _, b = zoo.trained_autoencoder("baseline", X_train, X_valid, epochs=1, seed=1)
    assert "seed 0" in capsys.readouterr().out
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])
    assert len(list((tmp_path / "models").glob("baseline-seed*.log.json"))) == 2
    record = json.loads(next((tmp_path / "models").glob("baseline-seed0-*.log.json")).read_text())
    assert record["lines"][0].startswith("epoch  1/1")


def test_recipe_is_the_training_code():
    source = zoo.recipe().data
    assert "seed_everything(seed)" in source and "train(" in source


def test_every_used_model_is_known():
    assert set(zoo.USED) <= set(zoo.BOOK_MODELS)
    assert zoo.SEEDS[0] == 42


@pytest.mark.parametrize("name,log,message", [("topk", "summary", "unknown model 'topk'"),
                                              ("kl", "all", "log must be 'epochs' or 'summary'")])
def test_bad_arguments(name, log, message):
    with pytest.raises(ValueError, match=message):
        zoo.trained_autoencoder(name, np.zeros((1, 28, 28)), np.zeros((1, 28, 28)), log=log)


def test_cache_key_follows_settings_source_seed_and_data(tmp_path, monkeypatch):
    """A change to a model's settings, to the training code, to the seed or
    to the data trains anew: each gives another cache file."""
    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path))
    X_train, X_valid = np.zeros((4, 28, 28), np.float32), np.zeros((2, 28, 28), np.float32)

    def path(**changes):
        return zoo._cache_paths(changes.get("name", "kl"), changes.get("X_train", X_train),
                                X_valid, 10, changes.get("seed", 42))[0]

    before = path()
    assert before == path()                       # the same inputs, the same file
    assert before.parent == tmp_path / "models"
    build, kwargs, chapter = zoo.BOOK_MODELS["kl"]
    monkeypatch.setitem(zoo.BOOK_MODELS, "kl", (build, {**kwargs, "target": 0.2}, chapter))
    assert path() != before
    monkeypatch.setitem(zoo.BOOK_MODELS, "kl", (build, kwargs, chapter))
    assert path() == before
    with monkeypatch.context() as m:
        m.setattr(zoo, "_source_digest", lambda: "changed")
        assert path() != before
    assert path(seed=0) != before
    assert path(X_train=X_train + 1) != before
    assert path(name="l1") != before


def test_a_model_is_taken_when_cached_or_locked(small_data, tmp_path, monkeypatch):
    """What the processes of `warm(jobs > 1)` skip: a cached model, and one
    whose lock another process holds (it is training it)."""
    import fcntl

    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path))
    X_train, X_valid = small_data[0][:64], small_data[1][:32]
    assert not zoo._taken("baseline", X_train, X_valid, seed=42, epochs=1)
    weights, log = zoo._cache_paths("baseline", X_train, X_valid, 1, 42)
    with open(str(weights) + ".lock", "w") as lock:  # as trained_autoencoder holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert zoo._taken("baseline", X_train, X_valid, seed=42, epochs=1)
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert not zoo._taken("baseline", X_train, X_valid, seed=42, epochs=1)
    zoo.trained_autoencoder("baseline", X_train, X_valid, epochs=1, print_fn=lambda line: None)
    assert weights.is_file() and log.is_file()
    assert zoo._taken("baseline", X_train, X_valid, seed=42, epochs=1)


def test_warm_with_several_jobs_trains_the_chapters_models_only():
    with pytest.raises(ValueError, match="used is for jobs=1"):
        zoo.warm(jobs=2, used={"kl": (42,)})


def test_warm_trains_in_this_process_only_before_tensorflow_starts():
    """A process whose TensorFlow has started keeps its number of threads, so
    warm(jobs > 1) leaves its share to a child with one thread. (Measured:
    a model trained after _one_thread_here() has the very weights of one
    trained under TF_NUM_INTRAOP_THREADS=1; with two threads they differ.)"""
    keras.ops.convert_to_numpy(keras.ops.ones(2) + 1)  # TensorFlow has started
    assert zoo._one_thread_here() is (keras.backend.backend() != "tensorflow")


def test_trained_sae_is_cached_and_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSE_AE_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2_400, 8)).astype("float32") * np.linspace(0.5, 2, 8)
    x_train, x_valid = x[:2_000], x[2_000:]
    sae, record = zoo.trained_sae(x_train, x_valid, 16, activation="topk", k=2,
                                  batch_size=256, learning_rate=1e-2)
    assert record["steps"] == 8 * len(record["history"]["val_fve"])
    assert 1 <= record["best_epoch"] <= len(record["history"]["val_fve"])
    assert set(record["history"]) >= {"loss", "val_fve", "val_l0", "dead_fraction"}
    assert record["history"]["val_l0"][-1] <= 2
    assert sae.is_adapted
    assert len(list((tmp_path / "models").glob("sae-topk-k2-lr0.01-seed42-*.weights.h5"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the SAE is cached")

    monkeypatch.setattr(zoo, "train_sae", no_training)
    again, record_again = zoo.trained_sae(x_train, x_valid, 16, activation="topk", k=2,
                                          batch_size=256, learning_rate=1e-2)
    assert record_again == record
    for a, b in zip(sae.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    # other settings are another model
    with pytest.raises(AssertionError, match="cached"):
        zoo.trained_sae(x_train, x_valid, 16, activation="topk", k=3,
                        batch_size=256, learning_rate=1e-2)
