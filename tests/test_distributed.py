"""Tests of sparse_ae.distributed: an SAE trained on two (simulated) devices
gets the weights it gets on one.

JAX shows two CPU devices when XLA_FLAGS asks for them before it starts, so
the training runs in a child process, which leaves the other tests' JAX
alone. It runs in the JAX run of the unit tests (``make unit-jax``).
"""

import json
import os
import subprocess
import sys

import keras
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="Keras distributes training on the JAX backend"
)

CHILD = r"""
import json
import numpy as np
import keras
from sparse_ae.sae import SparseAutoencoder
from sparse_ae.distributed import data_parallel, latent_parallel

assert len(keras.distribution.list_devices()) == 2, keras.distribution.list_devices()
x = np.maximum(np.random.default_rng(0).normal(size=(256, 6)), 0).astype("float32")


def train(sparse):
    model = SparseAutoencoder(6, 32, activation="topk", k=3, auxk=4, dead_after=64, sparse=sparse, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(x, epochs=3, batch_size=64, shuffle=False, verbose=0).history
    weights = {v.path.split("/")[-1]: np.asarray(keras.ops.convert_to_numpy(v)) for v in model.weights}
    specs = {v.path.split("/")[-1]: [a for a in v.value.sharding.spec] if hasattr(v.value.sharding, "spec") else None
             for v in model.weights + model.optimizer.variables}
    return weights, history, specs


result = {}
for sparse in (False, True):
    reference, history, _ = train(sparse)
    assert max(history["auxk_loss"]) > 0, "AuxK must take part"
    for name, distribution in (("data", data_parallel()), ("latents", latent_parallel())):
        with distribution.scope():
            weights, _, specs = train(sparse)
        result[f"{name}, sparse={sparse}"] = {
            "difference": max(float(np.abs(weights[k] - reference[k]).max()) for k in reference),
            "specs": specs,
        }
print("RESULT " + json.dumps(result))
"""


def test_data_and_latent_parallel_training_on_two_devices_match_one_device():
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert len(result) == 4
    for run, r in result.items():
        assert r["difference"] < 1e-5, f"{run}: weights differ from one device's by {r['difference']:.2e}"
        specs = r["specs"]
        if run.startswith("data"):
            assert specs["W_enc"] == [None, None], "data parallel: every device holds all the weights"
        else:
            assert specs["W_enc"] == [None, "model"], "the encoder must be split by latents (columns)"
            assert specs["W_dec"] == ["model", None], "the dictionary must be split by latents (rows)"
            assert specs["b_enc"] == specs["examples_since_fired"] == ["model"]
            assert specs["b_dec"] == [None]
            momentum = next(k for k in specs if k.endswith("W_dec_momentum"))
            assert specs[momentum] == ["model", None], "Adam's moments follow their weight's split"


def test_latent_parallel_refuses_a_bad_split():
    from sparse_ae.distributed import latent_parallel

    n = len(keras.distribution.list_devices())
    with pytest.raises(ValueError, match="n_model must be a positive divisor"):
        latent_parallel(n_model=n + 1)
    with pytest.raises(ValueError, match="n_model must be a positive integer"):
        latent_parallel(n_model=0)
    with pytest.raises(ValueError, match="n_model must be a positive integer"):
        latent_parallel(n_model=True)
