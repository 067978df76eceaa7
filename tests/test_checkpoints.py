"""The published checkpoints of chapter 12 (sparse_ae.checkpoints)."""

import json

import numpy as np
import pytest

from sparse_ae import checkpoints, zoo
from sparse_ae.metrics import fraction_variance_explained

#: How far a retrained classifier's validation accuracy may land from the
#: published one: three epochs of Adam end within a few tenths of a percent
#: of each other when only the CPU's rounding changes; 1% leaves room for a
#: different CPU without letting a broken training pass (an untrained
#: network scores 0.10, a one-epoch one about 0.84).
ACCURACY_TOLERANCE = 0.01


def test_retraining_the_classifier_reaches_its_published_accuracy(fashion_mnist):
    from sparse_ae.network import spliced_performance, train_classifier

    (X_train, y_train), (X_valid, y_valid), _ = fashion_mnist
    model = train_classifier(X_train, y_train, **checkpoints.CLASSIFIER)
    retrained = spliced_performance(model, checkpoints.LAYER, X_valid, y_valid)
    published = checkpoints.classifier_record()["valid"]
    assert abs(retrained["accuracy"] - published["accuracy"]) <= ACCURACY_TOLERANCE, (
        f"retraining with CLASSIFIER gave accuracy {retrained['accuracy']:.4f}, the "
        f"published classifier {published['accuracy']:.4f}: did train_classifier change?"
    )


def test_the_published_classifier_scores_what_is_stored_with_it(fashion_mnist):
    from sparse_ae.network import spliced_performance

    _, (X_valid, y_valid), _ = fashion_mnist
    performance = spliced_performance(checkpoints.classifier(), checkpoints.LAYER, X_valid, y_valid)
    stored = checkpoints.classifier_record()["valid"]
    assert performance["accuracy"] == pytest.approx(stored["accuracy"], abs=1e-3)
    assert performance["cross_entropy"] == pytest.approx(stored["cross_entropy"], abs=1e-3)


def test_every_published_sae_loads_and_reproduces_its_stored_measures(fashion_mnist):
    import keras

    A_train, A_valid = checkpoints.activations()
    assert A_train.shape == (55_000, 64) and A_valid.shape == (5_000, 64)
    published = [run for run in checkpoints.PUBLISHED if run["data"] == "activations"]
    assert published
    for run in published:
        settings = {k: v for k, v in run.items() if k not in ("data", "weights")}
        record = checkpoints.record("activations", **settings)
        assert record["steps"] > 0 and 1 <= record["best_epoch"] <= len(record["history"]["val_fve"])
        if not run["weights"]:
            with pytest.raises(ValueError, match="record only"):
                checkpoints.sae("activations", **settings)
            continue
        sae, record_ = checkpoints.sae("activations", **settings)
        assert record_ == record
        x_hat = keras.ops.convert_to_numpy(sae(A_valid))
        fve = fraction_variance_explained(A_valid, x_hat)
        assert fve == pytest.approx(record["published"]["fve"], abs=1e-4), checkpoints._name(run)
        best = record["history"]["val_fve"][record["best_epoch"] - 1]
        # the published weights are the best epoch's, rounded to float16
        assert fve == pytest.approx(best, abs=1e-3), checkpoints._name(run)


def test_unpublished_settings_raise_value_error():
    with pytest.raises(ValueError, match="no published SAE"):
        checkpoints.record("activations", activation="topk", k=5)
    with pytest.raises(ValueError, match="data must be one of"):
        checkpoints.record("tokens", activation="topk", k=8)


def test_published_files_are_small_and_listed():
    files = {p.name for p in checkpoints.WEIGHTS.iterdir()}
    expected = {"classifier.npz", "classifier.json"}
    for run in checkpoints.PUBLISHED:
        if run["data"] != "activations":
            continue
        weights, log = checkpoints._files(run)
        expected.add(log.name)
        if run["weights"]:
            expected.add(weights.name)
    assert expected <= files, sorted(expected - files)
    total = sum(p.stat().st_size for p in checkpoints.WEIGHTS.iterdir())
    assert total < 3_000_000, f"the published files take {total} bytes"
    json.loads((checkpoints.WEIGHTS / "classifier.json").read_text())


def test_sae_names_are_short_and_distinct():
    runs = [checkpoints._settings(run) for run in checkpoints.PUBLISHED]
    names = [zoo.sae_name(run) for run in runs]
    assert len(set(names)) == len(names)
    assert zoo.sae_name(zoo._sae_run_settings(n_latents=256, activation="topk", k=8, auxk=32,
                                              learning_rate=3e-3)) == "topk-k8-auxk32-lr0.003-seed42"
