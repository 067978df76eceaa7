"""Baselines and ablations for TopK SAEs on pixels (chapter 13).

Chapter 13 asks questions that need more training than a chapter can show:
what the simplest dense code (PCA) and the other sparse recipe (a ReLU SAE
with an ℓ1 penalty, at the same L0) achieve, whether AuxK keeps latents
alive, and which ingredient keeps a TopK autoencoder at ``k = 11`` from
collapsing as chapter 9's did. This module trains those runs with the
package's own code and writes their records (final FVE, L0, dead share,
steps, curves) to :data:`RESULTS`, and the converged seed-42 SAE to
:data:`PUBLISHED`, which the chapter loads. ``make ch13-runs`` retrains them
(``python -m sparse_ae.baselines``, one process, one thread, Keras's JAX
backend); ``tests/test_baselines.py`` checks that a short run reproduces the
committed smoke record, and :func:`pca_fve` against a hand computation.

**Shallow SAEs** (:func:`run`) are described by six switches, :data:`FULL`
(Gao et al.'s recipe) or :data:`CHAPTER_9` (chapter 9's choices, in a
shallow SAE):

- ``after``: ``"relu"`` (Gao et al.: TopK of the pre-activations, then ReLU)
  or ``"sigmoid"`` (chapter 9: TopK of the sigmoid of the pre-activations);
- ``optimizer``: ``"adam"`` (at :data:`LEARNING_RATE`, Gao et al.'s epsilon)
  or ``"sgd"`` (chapter 9's plain SGD at a learning rate of 1.0);
- ``tied``: the encoder starts as the decoder's transpose, or as Keras's
  Glorot-uniform draw (chapter 9's ``Dense`` layers);
- ``unit_norm``: the dictionary rows kept at unit norm, or free;
- ``center``: ``b_dec`` starts at the mean training image, or at 0;
- ``auxk``: the AuxK loss on the 64 largest dead pre-activations, or none.

Every shallow run is trained on the normalized MSE. **Chapter 9's own deep
model** (:func:`run_deep`) is trained as chapter 9 trains it, with one
change of :data:`DEEP_CHANGES` at a time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from ._checks import check_positive_int
from .metrics import fraction_variance_explained, l0, silent_fraction
from .sae import ADAM_EPSILON, SparseAutoencoder, keep_top_k

__all__ = [
    "CHAPTER_9",
    "FULL",
    "INGREDIENTS",
    "K",
    "LEARNING_RATE",
    "N_LATENTS",
    "RESULTS",
    "SEEDS",
    "build",
    "distinct_share",
    "load_results",
    "pca_fve",
    "run",
    "run_deep",
    "run_l1",
]

#: Where ``python -m sparse_ae.baselines`` writes its records.
RESULTS = Path(__file__).parent / "weights" / "ch13_runs.json"

#: The full-recipe SAE of seed 42, trained by ``python -m sparse_ae.baselines``.
PUBLISHED = Path(__file__).parent / "weights" / "ch13_topk.npz"

#: The SAE's width and sparsity: the book's coding layer, the ℓ1 model's L0.
N_LATENTS, K = 300, 11

#: Adam's learning rate, chosen in chapter 13 from :func:`run`'s comparison.
LEARNING_RATE = 3e-3

#: The seeds of every configuration (the book's, :data:`sparse_ae.zoo.SEEDS`).
SEEDS = (42, 0, 1)

#: Gao et al.'s recipe.
FULL = {
    "after": "relu",
    "optimizer": "adam",
    "tied": True,
    "unit_norm": True,
    "center": "mean",
    "auxk": 64,
}

#: Chapter 9's choices, in a shallow SAE.
CHAPTER_9 = {
    "after": "sigmoid",
    "optimizer": "sgd",
    "tied": False,
    "unit_norm": False,
    "center": "zero",
    "auxk": None,
}

#: The six switches, in the order the chapter discusses them.
INGREDIENTS = tuple(FULL)


class _SigmoidTopK(SparseAutoencoder):
    """Chapter 9's activation in the shallow SAE: the ``k`` largest sigmoids."""

    def _activate(self, pre_activations, training=False):
        return keep_top_k(ops.sigmoid(pre_activations), self.k), None


def build(settings, seed, x_train):
    """A TopK SAE (784 -> :data:`N_LATENTS`, ``k =`` :data:`K`) with ``settings``, adapted.

    ``settings`` has the keys of :data:`FULL`. The model is adapted on
    ``x_train`` (its variance is the loss's unit in every configuration);
    with ``center="zero"``, ``b_dec`` is then reset to 0.
    """
    unknown = set(settings) ^ set(FULL)
    if unknown:
        raise ValueError(f"settings must have exactly the keys {sorted(FULL)}, got {sorted(settings)}")
    cls = SparseAutoencoder if settings["after"] == "relu" else _SigmoidTopK
    keras.utils.set_random_seed(seed)
    # sparse=False: the dense training step, which calls _activate (the
    # sparse step of sparse_ae.sparse_ops would skip the sigmoid), for every
    # configuration alike
    sae = cls(x_train.shape[1], N_LATENTS, activation="topk", k=K,
              auxk=settings["auxk"], unit_norm=settings["unit_norm"], seed=seed,
              sparse=False)
    sae.adapt(x_train)
    if settings["center"] == "zero":
        sae.b_dec.assign(np.zeros(x_train.shape[1], np.float32))
    if not settings["tied"]:
        init = keras.initializers.GlorotUniform(seed=seed)
        sae.W_enc.assign(init(sae.W_enc.shape))
    return sae


def distinct_share(latents):
    """Distinct sets of firing latents, per example: 1/n for a collapsed code."""
    latents = np.asarray(latents)
    return len({tuple(np.flatnonzero(row)) for row in latents}) / len(latents)


def _fit(sae, optimizer, x_train, x_valid, batch_size, max_epochs, patience, min_delta):
    """Fit until the validation FVE stops improving; return the record of the run."""
    max_epochs = check_positive_int("max_epochs", max_epochs)
    steps_per_epoch = -(-len(x_train) // batch_size)
    sae.compile(optimizer=optimizer, steps_per_execution=steps_per_epoch)
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_fve", mode="max", min_delta=min_delta,
        patience=patience, restore_best_weights=True)
    start = time.perf_counter()
    history = sae.fit(x_train, epochs=max_epochs, batch_size=batch_size,
                      validation_data=(x_valid,), callbacks=[stopping],
                      verbose=0).history
    seconds = time.perf_counter() - start
    if stopping.best_weights is not None:
        sae.set_weights(stopping.best_weights)
    latents = ops.convert_to_numpy(sae.encode(x_valid))
    x_hat = ops.convert_to_numpy(sae.predict(x_valid, verbose=0, batch_size=5000))
    finite = bool(np.all(np.isfinite(x_hat)))
    fve_curve = [float(v) for v in history["val_fve"]]
    return {
        "fve": fraction_variance_explained(x_valid, x_hat) if finite else float("nan"),
        "l0": l0(latents) if finite else float("nan"),
        "dead": float(np.mean(sae.dead_latents)),
        "silent": silent_fraction(latents) if finite else float("nan"),
        "distinct": distinct_share(latents) if finite else float("nan"),
        "steps": len(fve_curve) * steps_per_epoch,
        "best_epoch": int(stopping.best_epoch) + 1,
        "seconds": round(seconds, 1),
        "val_fve": fve_curve,
        "dead_fraction": [float(v) for v in history["dead_fraction"]],
        "normalized_mse": [float(v) for v in history["normalized_mse"]],
        "auxk_loss": [float(v) for v in history.get("auxk_loss", [])],
    }


def run(settings, seed, x_train, x_valid, *, learning_rate=LEARNING_RATE,
        batch_size=1024, max_epochs=200, patience=5, min_delta=1e-4,
        save_to=None):
    """Train one configuration until its validation FVE stops improving; return its record.

    The same stopping rule as :func:`sparse_ae.sae.train_sae` (which always
    uses Adam; this takes chapter 9's SGD too): at most ``max_epochs``, stop
    after ``patience`` epochs without a gain of ``min_delta`` in ``val_fve``,
    keep the best epoch's weights. The record holds the settings, the seed,
    the final validation ``fve``, ``l0``, ``dead`` (share dead by the
    training counter), ``silent`` (share never firing on ``x_valid``),
    ``distinct`` (:func:`distinct_share` on ``x_valid``), ``steps``,
    ``best_epoch``, ``seconds``, and the per-epoch curves ``val_fve``,
    ``dead_fraction``, ``normalized_mse`` and ``auxk_loss`` (training
    means). ``save_to``: also save the trained weights there (:func:`save`).
    """
    sae = build(settings, seed, x_train)
    optimizer = (keras.optimizers.SGD(1.0) if settings["optimizer"] == "sgd"
                 else keras.optimizers.Adam(learning_rate, epsilon=ADAM_EPSILON))
    record = _fit(sae, optimizer, x_train, x_valid, batch_size, max_epochs, patience, min_delta)
    if save_to is not None:
        save(sae, save_to)
    return {"settings": dict(settings), "seed": seed,
            "learning_rate": learning_rate if settings["optimizer"] == "adam" else 1.0,
            **record}


def run_l1(l1, seed, x_train, x_valid, *, learning_rate=LEARNING_RATE,
           batch_size=1024, max_epochs=200, patience=5, min_delta=1e-4):
    """Like :func:`run`, for a ReLU SAE with an ℓ1 penalty of weight ``l1``
    (Gao et al.'s other choices: Adam, tied, unit-norm, ``b_dec`` at the mean)."""
    keras.utils.set_random_seed(seed)
    sae = SparseAutoencoder(x_train.shape[1], N_LATENTS, activation="relu", l1=l1, seed=seed)
    sae.adapt(x_train)
    optimizer = keras.optimizers.Adam(learning_rate, epsilon=ADAM_EPSILON)
    record = _fit(sae, optimizer, x_train, x_valid, batch_size, max_epochs, patience, min_delta)
    return {"l1": l1, "seed": seed, "learning_rate": learning_rate, **record}


def match_l0(target, l1, seed, x_train, x_valid, *, tolerance=0.5, max_runs=5, **kwargs):
    """Search the ℓ1 weight whose ReLU SAE (:func:`run_l1`) has validation L0 ``target``.

    Starts at ``l1`` and moves it by a secant step on log L0 against log l1
    (the first step assumes L0 proportional to 1/l1), until the L0 is within
    ``tolerance`` of ``target`` or after ``max_runs`` runs; returns every run's
    record, the last one the closest found.
    """
    records = []
    for _ in range(max_runs):
        record = run_l1(l1, seed, x_train, x_valid, **kwargs)
        records.append(record)
        if abs(record["l0"] - target) <= tolerance:
            break
        if len(records) == 1:
            slope = -1.0
        else:
            a, b = records[-2], records[-1]
            slope = ((np.log(b["l0"]) - np.log(a["l0"]))
                     / (np.log(b["l1"]) - np.log(a["l1"])))
            slope = min(slope, -0.2)  # L0 falls as l1 grows
        l1 = float(l1 * np.exp((np.log(target) - np.log(record["l0"])) / slope))
    records.sort(key=lambda r: abs(r["l0"] - target))
    return records


#: The arrays a published SAE is saved with, and their dtypes.
_SAVED = {"W_enc": np.float16, "W_dec": np.float16, "b_enc": np.float32,
          "b_dec": np.float32, "variance": np.float32,
          "examples_since_fired": np.int32}


def save(sae, path):
    """Save a TopK SAE's weights (matrices in float16) and its config to ``path`` (.npz)."""
    arrays = {name: ops.convert_to_numpy(getattr(sae, name)).astype(dtype)
              for name, dtype in _SAVED.items()}
    config = {key: sae.get_config()[key] for key in ("n_inputs", "n_latents", "k", "auxk", "seed")}
    np.savez_compressed(path, config=json.dumps(config), **arrays)


def load(path=None):
    """The SAE saved by :func:`save` (default: the published full-recipe SAE, seed 42),
    compiled as :func:`run` compiles it, so that ``evaluate`` gives its loss terms."""
    data = np.load(PUBLISHED if path is None else path)
    config = json.loads(str(data["config"]))
    sae = SparseAutoencoder(config["n_inputs"], config["n_latents"], activation="topk",
                            k=config["k"], auxk=config["auxk"], seed=config["seed"],
                            sparse=False)
    for name in _SAVED:
        getattr(sae, name).assign(data[name].astype(getattr(sae, name).dtype))
    sae.adapted.assign(1)
    sae.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE, epsilon=ADAM_EPSILON))
    return sae


def pca_fve(x_train, x_valid, n_components):
    """Validation FVE of PCA with ``n_components``, fitted on ``x_train``.

    The principal directions are the top eigenvectors of ``x_train``'s
    covariance; each validation example is reconstructed as the training
    mean plus its projection on them. The best reconstruction by any
    ``n_components``-dimensional linear code, dense: every component is on
    for every example.
    """
    n_components = check_positive_int("n_components", n_components)
    x_train = np.asarray(x_train, np.float64)
    x_valid = np.asarray(x_valid, np.float64)
    if n_components > x_train.shape[1]:
        raise ValueError(f"n_components={n_components} exceeds the {x_train.shape[1]} inputs")
    mean = x_train.mean(axis=0)
    centred = x_train - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)
    top = vectors[:, ::-1][:, :n_components]
    x_hat = mean + (x_valid - mean) @ top @ top.T
    return fraction_variance_explained(x_valid, x_hat)


def configurations():
    """The shallow runs of :data:`RESULTS`: name -> settings. Chapter 9's
    choices all together, Gao et al.'s recipe, and the recipe without AuxK."""
    return {"chapter 9": dict(CHAPTER_9), "full": dict(FULL),
            "full - auxk": {**FULL, "auxk": None}}


def load_results(path=RESULTS):
    """The records written by ``python -m sparse_ae.baselines``, as a dict."""
    return json.loads(Path(path).read_text())


def _images():
    from .data import load_fashion_mnist

    return load_fashion_mnist()


def _data():
    (X_train, _), (X_valid, _), _ = _images()
    return X_train.reshape(len(X_train), -1), X_valid.reshape(len(X_valid), -1)


#: Single changes to chapter 9's own (deep) TopK autoencoder, trained as the
#: book trains (batches of 32): name -> (coding activation, loss, optimizer).
DEEP_CHANGES = {
    "chapter 9": ("sigmoid", "binary_crossentropy", ("sgd", 1.0)),
    "Adam (0.001)": ("sigmoid", "binary_crossentropy", ("adam", 1e-3)),
    "SGD at 0.1": ("sigmoid", "binary_crossentropy", ("sgd", 0.1)),
    "squared error": ("sigmoid", "mse", ("sgd", 1.0)),
    "ReLU codings": ("relu", "binary_crossentropy", ("sgd", 1.0)),
}


def run_deep(change, seed, X_train, X_valid, *, epochs=2, batch_size=32):
    """Chapter 9's deep TopK autoencoder (``k =`` :data:`K`) with one change of
    :data:`DEEP_CHANGES`, trained for ``epochs``; return its record.

    The record holds ``fve`` (of the validation reconstructions), ``distinct``
    (of the codings' sets of winners), ``silent`` (codings never among the
    winners on the validation images), ``val_loss`` and ``steps``.
    """
    from .layers import TopKSparsity
    from .models import _build

    activation, loss, (optimizer, rate) = DEEP_CHANGES[change]
    keras.utils.set_random_seed(seed)
    encoder, _, autoencoder = _build(
        lambda: [keras.layers.Dense(N_LATENTS, activation=activation), TopKSparsity(K)],
        N_LATENTS)
    autoencoder.compile(
        loss=loss,
        optimizer=keras.optimizers.SGD(rate) if optimizer == "sgd" else keras.optimizers.Adam(rate))
    start = time.perf_counter()
    history = autoencoder.fit(X_train, X_train, epochs=epochs, batch_size=batch_size,
                              validation_data=(X_valid, X_valid), verbose=0).history
    codings = np.asarray(encoder.predict(X_valid, verbose=0))
    x_hat = np.asarray(autoencoder.predict(X_valid, verbose=0)).reshape(len(X_valid), -1)
    finite = bool(np.all(np.isfinite(x_hat)))
    return {
        "change": change, "seed": seed,
        "fve": fraction_variance_explained(X_valid.reshape(len(X_valid), -1), x_hat)
        if finite else float("nan"),
        "distinct": distinct_share(codings),
        "silent": silent_fraction(codings),
        "val_loss": [float(v) for v in history["val_loss"]],
        "steps": epochs * -(-len(X_train) // batch_size),
        "seconds": round(time.perf_counter() - start, 1),
    }


#: The smoke run that ``tests/test_baselines.py`` repeats: the full recipe,
#: seed 42, on the first 5,000 training and 1,000 validation images, 2 epochs.
SMOKE = {"n_train": 5000, "n_valid": 1000, "max_epochs": 2}


def smoke(x_train, x_valid):
    """The record of :data:`SMOKE`'s run (its curves are short enough to compare)."""
    return run(FULL, SEEDS[0], x_train[:SMOKE["n_train"]], x_valid[:SMOKE["n_valid"]],
               max_epochs=SMOKE["max_epochs"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", help="configuration names to (re)run")
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    parser.add_argument("--learning-rates", type=float, nargs="*", default=[])
    parser.add_argument("--l1", type=float, nargs="*", default=[],
                        help="l1 weights of ReLU SAEs to train (one seed each)")
    parser.add_argument("--l1-target", type=float, default=None,
                        help="search the l1 weight whose ReLU SAE has this L0 (seed 42)")
    parser.add_argument("--l1-start", type=float, default=0.03)
    parser.add_argument("--l1-seeds", type=int, nargs="*", default=[SEEDS[0]])
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--min-delta", type=float, default=1e-4)
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1024,
                        help="of the configurations' runs (recorded as "
                             "'NAME, batches of N' when not 1024)")
    parser.add_argument("--deep", action="store_true",
                        help="train chapter 9's deep model with each single change")
    parser.add_argument("--publish", action="store_true",
                        help="train the full recipe, seed 42, into PUBLISHED")
    args = parser.parse_args(argv)
    x_train, x_valid = _data()
    results = load_results(args.out) if args.out.exists() else {}
    for key in ("runs", "learning_rates", "l1"):
        results.setdefault(key, {})
    results["pca"] = {str(n): pca_fve(x_train, x_valid, n) for n in (11, 20, 30, 50, 96)}
    results["backend"] = keras.backend.backend()
    stopping = {"patience": args.patience, "min_delta": args.min_delta,
                "max_epochs": args.max_epochs}

    def save_results():
        args.out.write_text(json.dumps(results, indent=1) + "\n")

    results["smoke"] = smoke(x_train, x_valid)
    save_results()
    if args.publish:
        record = run(FULL, SEEDS[0], x_train, x_valid, save_to=PUBLISHED)
        results["published"] = record
        print(f"published: fve {record['fve']:.4f} in {record['steps']} steps", flush=True)
        save_results()
    for lr in args.learning_rates:
        chosen = lr == LEARNING_RATE
        record = run(FULL, SEEDS[0], x_train, x_valid, learning_rate=lr,
                     save_to=PUBLISHED if chosen else None)
        results["learning_rates"][f"{lr:g}"] = record
        if chosen:
            results["published"] = record
        print(f"lr {lr:g}: fve {record['fve']:.4f} in {record['steps']} steps, "
              f"{record['seconds']} s", flush=True)
        save_results()
    if args.l1_target is not None:
        results["l1_search"] = match_l0(args.l1_target, args.l1_start, SEEDS[0], x_train, x_valid,
                                        **stopping)
        for record in results["l1_search"]:
            print(f"l1 {record['l1']:.4g}: L0 {record['l0']:.2f}, fve {record['fve']:.4f}", flush=True)
        save_results()
        args.l1 = [results["l1_search"][0]["l1"]]  # the other seeds at the matched weight
        args.l1_seeds = list(SEEDS[1:])
    for l1 in args.l1:
        for seed in args.l1_seeds:
            record = run_l1(l1, seed, x_train, x_valid, **stopping)
            results["l1"].setdefault(repr(l1), {})[str(seed)] = record
            print(f"l1 {l1:g}, seed {seed}: fve {record['fve']:.4f}, L0 {record['l0']:.2f}, "
                  f"{record['steps']} steps", flush=True)
            save_results()
    if args.deep:
        (X_train, _), (X_valid, _), _ = _images()
        results.setdefault("deep", {})
        for change in DEEP_CHANGES:
            for seed in args.seeds:
                record = run_deep(change, seed, X_train, X_valid)
                results["deep"].setdefault(change, {})[str(seed)] = record
                print(f"deep, {change}, seed {seed}: fve {record['fve']:.4f}, distinct "
                      f"{record['distinct']:.4f}, {record['seconds']} s", flush=True)
                save_results()
    names = args.only if args.only is not None else list(configurations())
    for name in names:
        settings = configurations()[name]
        for seed in args.seeds:
            record = run(settings, seed, x_train, x_valid, batch_size=args.batch_size,
                         **stopping)
            key = name if args.batch_size == 1024 else f"{name}, batches of {args.batch_size}"
            results["runs"].setdefault(key, {})[str(seed)] = record
            print(f"{name}, seed {seed}: fve {record['fve']:.4f}, distinct "
                  f"{record['distinct']:.3f}, dead {record['dead']:.1%}, "
                  f"{record['steps']} steps, {record['seconds']} s", flush=True)
            save_results()


if __name__ == "__main__":
    main()
