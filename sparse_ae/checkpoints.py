"""The book's published checkpoints: trained models committed with it (chapters 12 and 13).

Interpretability research studies *published* models: TransformerLens,
SAELens and Neuronpedia load the same GPT-2 and the same SAEs for everyone,
which is why their numbers can be compared. Chapters 12 and 13 do the same
with models small enough to commit:

- :func:`classifier`: chapter 12's Fashion-MNIST classifier, trained by
  :func:`sparse_ae.network.train_classifier` with :data:`CLASSIFIER`;
  :func:`activations` gives the activations of its layer :data:`LAYER`;
- :func:`sae`: the sparse autoencoders of chapters 12 and 13, each trained to
  convergence by :func:`sparse_ae.zoo.trained_sae` (the recipe is
  :func:`sparse_ae.zoo.sae_recipe`) and published with its training record
  (the validation curves); :data:`PUBLISHED` lists them. Some runs (those
  of a learning-rate comparison) are published with their record only:
  :func:`record`.

Retraining them takes about an hour of CPU, and on a CPU that rounds
differently a retrained SAE ends as far from these as another seed would
(training amplifies the last bit; chapter 12 measures how far). Published,
they give every reader, and the book's tests, the same numbers.

``python -m sparse_ae.checkpoints --jobs 2`` (``make checkpoints``) retrains
every one with the package's current code and rewrites the files in
``sparse_ae/weights/``; the SAEs go through the model cache
(:mod:`sparse_ae.zoo`), so a second run only rewrites. ``tests/test_checkpoints.py``
checks that the classifier retrains to the published accuracy, that an SAE
retrains to its published quality, and that every published file loads and
reproduces the numbers stored with it.

An SAE's two matrices are stored in float16, which halves the files; the
published model *is* the rounded one (its measured quality, stored with it,
is that of the rounded weights; the rounding moves the validation FVE by
less than 1e-4). The biases, the data's variance and the dead-latent
counters are stored exactly.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import keras
import numpy as np

from .metrics import fraction_variance_explained, l0
from .network import build_classifier, layer_activations, spliced_performance, train_classifier
from .sae import SparseAutoencoder

__all__ = [
    "CLASSIFIER",
    "LAYER",
    "LEARNING_RATES",
    "SEEDS",
    "DEFAULTS",
    "PUBLISHED",
    "WEIGHTS",
    "activations",
    "classifier",
    "data",
    "publish",
    "record",
    "sae",
]

#: Where the published files are.
WEIGHTS = Path(__file__).resolve().parent / "weights"

#: How the published classifier is trained (:func:`sparse_ae.network.train_classifier`).
CLASSIFIER = {"hidden": (128, 64), "epochs": 3, "batch_size": 256, "learning_rate": 2e-3, "seed": 42}

#: The classifier's layer whose activations chapter 12's SAEs reconstruct.
LAYER = "hidden_2"

#: Per data set, the settings a published SAE has unless its entry says
#: otherwise: the number of latents, the learning rate (chosen by the
#: measured comparison of chapters 12 and 13) and the batch size.
DEFAULTS = {
    "activations": {"n_latents": 256, "learning_rate": 3e-3, "batch_size": 1024},
    "pixels": {"n_latents": 300, "learning_rate": 3e-3, "batch_size": 1024},
}

_MATRICES = ("W_enc", "W_dec")


def _runs():
    """Every published SAE run: dicts of ``data``, ``weights`` (whether its
    weights are published, or only its record) and the settings of
    :func:`sparse_ae.zoo.trained_sae`."""
    runs = []

    def add(data, weights=True, **settings):
        runs.append({"data": data, "weights": weights, **DEFAULTS[data], **settings})

    topk8 = {"activation": "topk", "k": 8}
    chosen = DEFAULTS["activations"]["learning_rate"]
    # Chapter 12's table: the TopK family with AuxK, TopK without AuxK, and
    # the ReLU + l1 family (the frontier), seed 42, at the chosen rate
    for k in (4, 8, 16, 32):
        add("activations", activation="topk", k=k, auxk=32)
    for k in (8, 16):
        add("activations", activation="topk", k=k)
    for l1 in RELU_L1["activations"]:
        add("activations", activation="relu", l1=l1)
    # the learning rate, with and without AuxK (seed 42); the runs at the
    # other rates are published with their records only
    for learning_rate in sorted(LEARNING_RATES, reverse=True):
        if learning_rate != chosen:
            for auxk in (32, None):
                add("activations", weights=False, learning_rate=learning_rate,
                    auxk=auxk, **topk8)
        if learning_rate == LEARNING_RATES[-1]:
            # four more seeds at the chosen rate: five for the AuxK comparison
            for seed in SEEDS[1:]:
                for auxk in (32, None):
                    add("activations", seed=seed, auxk=auxk, **topk8)
    return runs


#: The learning rates compared in chapter 12 (the chosen one is in :data:`DEFAULTS`).
LEARNING_RATES = (1e-3, 3e-3, 1e-2)

#: The seeds of chapter 12's AuxK comparison (the first is every other run's).
SEEDS = (42, 0, 1, 2, 3)

#: The ℓ1 coefficients of the published ReLU + ℓ1 SAEs.
RELU_L1 = {"activations": (0.003, 0.01, 0.03)}

PUBLISHED = None  # filled below, after RELU_L1


def _name(run):
    from .zoo import sae_name

    return f"{run['data']}-{sae_name(_settings(run))}"


def _files(run):
    name = _name(run)  # holds dots ("lr0.003"): no with_suffix
    return WEIGHTS / f"{name}.npz", WEIGHTS / f"{name}.json"


def _find(data, settings):
    """The published run of ``data`` with these settings (defaults filled in)."""
    if data not in DEFAULTS:
        raise ValueError(f"data must be one of {sorted(DEFAULTS)}, got {data!r}")
    wanted = {**DEFAULTS[data], "seed": 42, **settings}
    for run in PUBLISHED:
        if run["data"] == data and _settings(run) == _normalised(wanted):
            return run
    raise ValueError(
        f"no published SAE on {data!r} with {wanted}; the published ones are "
        "listed in sparse_ae.checkpoints.PUBLISHED"
    )


def _normalised(settings):
    """Settings compared the way :func:`sparse_ae.zoo.trained_sae` keys them."""
    from .zoo import _sae_run_settings

    return _sae_run_settings(**settings)


def _settings(run):
    return _normalised({k: v for k, v in run.items() if k not in ("data", "weights")})


# ---------------------------------------------------------------- loading


def _classifier_files():
    return WEIGHTS / "classifier.npz", WEIGHTS / "classifier.json"


def classifier():
    """Chapter 12's published classifier: :func:`sparse_ae.network.build_classifier`
    with the published weights (a ``keras.Sequential`` that outputs logits).

    Introduced in chapter 12, *An SAE on a real network*.
    """
    weights, _ = _classifier_files()
    model = build_classifier(CLASSIFIER["hidden"])
    with np.load(weights) as stored:
        for layer in model.layers:
            if layer.weights:
                layer.set_weights([stored[f"{layer.name}/{i}"] for i in range(len(layer.weights))])
    return model


def classifier_record():
    """What is stored with the published classifier: its settings and its
    validation accuracy and cross-entropy when it was published."""
    return json.loads(_classifier_files()[1].read_text())


@functools.lru_cache(maxsize=None)
def _activations(layer):
    from .data import load_fashion_mnist

    (X_train, _), (X_valid, _), _ = load_fashion_mnist()
    model = classifier()
    arrays = tuple(layer_activations(model, layer, X) for X in (X_train, X_valid))
    for a in arrays:
        a.setflags(write=False)
    return arrays


def activations(layer=LAYER):
    """``(A_train, A_valid)``: the published classifier's ``layer`` on the
    55,000 training and 5,000 validation images (read-only arrays, computed
    once per process).

    Introduced in chapter 12, *An SAE on a real network*.
    """
    return _activations(layer)


def data(name):
    """``(x_train, x_valid)`` of a data set the published SAEs train on:
    ``"activations"`` (:func:`activations`) or ``"pixels"`` (the images,
    flattened to 784 numbers)."""
    if name == "activations":
        return activations()
    if name == "pixels":
        from .data import load_fashion_mnist

        (X_train, _), (X_valid, _), _ = load_fashion_mnist()
        return X_train.reshape(len(X_train), -1), X_valid.reshape(len(X_valid), -1)
    raise ValueError(f"data must be 'activations' or 'pixels', got {name!r}")


def record(data, **settings):
    """The training record of a published SAE run: ``history`` (every logged
    metric per epoch), ``steps``, ``best_epoch``, and ``published``, its
    measures when it was published. Settings as for :func:`sae`.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    run = _find(data, settings)
    return json.loads(_files(run)[1].read_text())


def sae(data, **settings):
    """``(sae, record)``: a published :class:`~sparse_ae.sae.SparseAutoencoder` and its training record.

    ``data`` is ``"activations"`` (chapter 12) or ``"pixels"`` (chapter 13);
    ``settings`` are those of :func:`sparse_ae.zoo.trained_sae` (``seed``,
    ``learning_rate``, and the SAE's own, such as ``activation``, ``k``,
    ``auxk`` or ``l1``); the rest come from :data:`DEFAULTS`. Raises
    ``ValueError`` for settings that were not published.

    Introduced in chapter 12, *An SAE on a real network*.
    """
    run = _find(data, settings)
    if not run["weights"]:
        raise ValueError(
            f"{_name(run)} is published with its training record only: use record()"
        )
    weights, log = _files(run)
    return _load(run, weights), json.loads(log.read_text())


def _model(run):
    settings = _settings(run)
    for key in ("learning_rate", "batch_size"):
        settings.pop(key)
    n_inputs = {"activations": CLASSIFIER["hidden"][-1], "pixels": 784}[run["data"]]
    return SparseAutoencoder(n_inputs, settings.pop("n_latents"), **settings)


def _load(run, path):
    model = _model(run)
    with np.load(path) as stored:
        for variable in model.weights:
            name = variable.path.split("/")[-1]
            variable.assign(stored[name].astype(variable.dtype))
    return model


def _save(model, path):
    arrays = {}
    for variable in model.weights:
        name = variable.path.split("/")[-1]
        value = keras.ops.convert_to_numpy(variable)
        arrays[name] = value.astype(np.float16) if name in _MATRICES else value
    np.savez_compressed(path, **arrays)


# ------------------------------------------------------------- publishing


def _measures(model, x_valid):
    """What is stored with a published SAE: its quality on the validation data."""
    latents = keras.ops.convert_to_numpy(model.encode(x_valid))
    reconstruction = keras.ops.convert_to_numpy(model(x_valid))
    return {
        "fve": fraction_variance_explained(x_valid, reconstruction),
        "l0": l0(latents),
        "dead_fraction": float(np.mean(model.dead_latents)),
    }


def _publish_classifier():
    from .data import load_fashion_mnist

    (X_train, y_train), (X_valid, y_valid), _ = load_fashion_mnist()
    model = train_classifier(X_train, y_train, **CLASSIFIER)
    weights, log = _classifier_files()
    WEIGHTS.mkdir(exist_ok=True)
    np.savez_compressed(weights, **{  # the weights only, not the optimizer's state
        f"{layer.name}/{i}": keras.ops.convert_to_numpy(w)
        for layer in model.layers for i, w in enumerate(layer.weights)
    })
    stored = classifier()
    log.write_text(json.dumps({
        "settings": {**CLASSIFIER, "hidden": list(CLASSIFIER["hidden"])},
        "valid": spliced_performance(stored, LAYER, X_valid, y_valid),
        "versions": _versions(),
    }, indent=1) + "\n")
    _activations.cache_clear()


def _versions():
    from .zoo import _library_versions

    return _library_versions()


def _train(run):
    from .zoo import trained_sae

    x_train, x_valid = data(run["data"])
    settings = {k: v for k, v in run.items() if k not in ("data", "weights")}
    return trained_sae(x_train, x_valid, **settings)


def _publish_child(start):
    """One process of ``publish(jobs)``: from ``start``, train the runs nobody has."""
    from .zoo import _sae_taken, _sae_run_settings

    runs = PUBLISHED[start:] + PUBLISHED[:start]
    for run in runs:
        x_train, x_valid = data(run["data"])
        settings = {k: v for k, v in run.items() if k not in ("data", "weights")}
        if not _sae_taken(x_train, x_valid, _sae_run_settings(**settings)):
            _train(run)


def publish(jobs=1, classifier=True):
    """Retrain every published model and rewrite ``sparse_ae/weights/``.

    The classifier first (unless ``classifier=False``), then the SAEs of
    :data:`PUBLISHED`, ``jobs`` at a time, through the model cache.
    """
    from .zoo import in_processes

    if classifier:
        _publish_classifier()
    if jobs > 1:
        in_processes("sparse_ae.checkpoints", jobs, _publish_child)
    for run in PUBLISHED:
        model, record_ = _train(run)
        weights, log = _files(run)
        x_valid = data(run["data"])[1]
        if run["weights"]:
            _save(model, weights)
            model = _load(run, weights)
        elif weights.exists():
            weights.unlink()
        log.write_text(json.dumps({
            "settings": _settings(run),
            **record_,
            "published": _measures(model, x_valid),
            "versions": _versions(),
        }) + "\n")
        print(f"published {_name(run)}: {record_['steps']} steps", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Retrain and rewrite the published checkpoints.")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--keep-classifier", action="store_true",
                        help="keep the published classifier (and so the activations)")
    parser.add_argument("--start", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.start is not None:
        _publish_child(args.start)
    else:
        publish(args.jobs, classifier=not args.keep_classifier)


PUBLISHED = _runs()

if __name__ == "__main__":
    main()
