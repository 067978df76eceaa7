"""Training speed of a TopK SAE: the dense step against the sparse step, on TensorFlow and JAX.

For each size (d_model / latents / k / batch, optionally with AuxK) it trains
a ``SparseAutoencoder(activation="topk")`` with Adam and ``fit``, on random
ReLU'd Gaussian inputs, once with dense products (``sparse=False``, the step
as it was before the sparse one) and once with the sparse step
(``sparse=True``), and prints:

- ms/step and examples/s: the best epoch after the first (which compiles),
  with ``steps_per_execution`` of one epoch, as ``train_sae`` trains;
- ``encoder``: one dense encoder product ``(x - b_dec) @ W_enc + b_enc`` at
  the same size, compiled with XLA: the only dense work a TopK step needs,
  so the limit; and the step's ratio to it;
- ``top_k``: the backend's ``top_k`` alone on the pre-activations, and
  ``select``: :func:`sparse_ae.sparse_ops.select_top_k`, the exact
  selection the sparse step uses.

Each backend runs in its own child process (the backend is fixed per
process). ``--memory`` measures the peak memory of training at the largest
size instead, each path in a fresh process: the growth of the peak resident
set during ``fit`` over the resident set before it (model, data and
compiled program included), and on JAX the temporary memory XLA reports for
one compiled step.

    python benchmarks/bench_sae.py [--sizes small|large|all] [--backends tensorflow,jax] [--memory]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

SIZES = {
    # name: (d_model, n_latents, k, batch, auxk)
    "64/256/8/512": (64, 256, 8, 512, None),
    "64/256/8/1024+auxk32": (64, 256, 8, 1024, 32),
    "784/300/11/1024": (784, 300, 11, 1024, None),
    "512/4096/32/1024": (512, 4096, 32, 1024, None),
    "512/16384/32/1024": (512, 16384, 32, 1024, None),
}
SMALL = ["64/256/8/512", "64/256/8/1024+auxk32", "784/300/11/1024"]
LARGE = ["512/4096/32/1024", "512/16384/32/1024"]


def steps_per_epoch(n_latents):
    return 50 if n_latents <= 1024 else 6


# ---------------------------------------------------------------- worker


def _timed(function, repeats):
    """Best wall time of ``function()`` (which blocks until done) over ``repeats`` calls, after one warm-up."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _compiled(function):
    """``function`` compiled with XLA on this backend; the result is a NumPy-blocking call."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        f = jax.jit(function)
        return lambda *args: jax.block_until_ready(f(*args))
    import tensorflow as tf

    f = tf.function(function, jit_compile=True)
    return lambda *args: tf.nest.map_structure(lambda t: t.numpy(), f(*args))


def kernel_times(d_model, n_latents, k, batch):
    """Seconds: the dense encoder product, ``top_k`` and ``select_top_k``, each compiled with XLA."""
    import keras
    import numpy as np
    from keras import ops

    from sparse_ae.sparse_ops import select_top_k

    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(np.maximum(rng.normal(size=(batch, d_model)), 0).astype("float32"))
    W_enc = ops.convert_to_tensor((rng.normal(size=(d_model, n_latents)) / np.sqrt(d_model)).astype("float32"))
    b_enc = ops.zeros((n_latents,))
    b_dec = ops.zeros((d_model,))
    pre = ops.matmul(x, W_enc)
    encoder = _compiled(lambda x, W, b, c: ops.matmul(x - c, W) + b)
    top_k = _compiled(lambda p: ops.top_k(p, k, sorted=False)[1])
    select = _compiled(lambda p: select_top_k(p, k))
    repeats = 20
    return {
        "encoder": _timed(lambda: encoder(x, W_enc, b_enc, b_dec), repeats),
        "top_k": _timed(lambda: top_k(pre), repeats),
        "select": _timed(lambda: select(pre), repeats),
        "backend": keras.backend.backend(),
    }


def fit_time(d_model, n_latents, k, batch, auxk, sparse, epochs=4):
    """Best seconds per training step of ``fit`` over ``epochs - 1`` epochs (the first compiles)."""
    import keras
    import numpy as np

    from sparse_ae.sae import ADAM_EPSILON, SparseAutoencoder

    class Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    steps = steps_per_epoch(n_latents)
    x = np.maximum(np.random.default_rng(1).normal(size=(steps * batch, d_model)), 0).astype("float32")
    model = SparseAutoencoder(d_model, n_latents, activation="topk", k=k, auxk=auxk, sparse=sparse,
                              dead_after=batch, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=ADAM_EPSILON), steps_per_execution=steps)
    if auxk is not None:
        # Make half the latents dead, so that AuxK does its work in every step.
        model.b_enc.assign(np.where(np.arange(n_latents) % 2 == 0, -1e3, 0.0).astype("float32"))
    timer = Timer()
    history = model.fit(x, epochs=epochs, batch_size=batch, shuffle=False, verbose=0, callbacks=[timer])
    return {"step": min(timer.seconds[1:]) / steps, "first_epoch": timer.seconds[0],
            "loss": history.history["loss"][-1],
            "auxk_loss": history.history.get("auxk_loss", [None])[-1]}


def worker(names):
    import keras

    for name in names:
        d_model, n_latents, k, batch, auxk = SIZES[name]
        result = {"size": name, "backend": keras.backend.backend(),
                  **kernel_times(d_model, n_latents, k, batch)}
        for sparse in (False, True):
            result["sparse" if sparse else "dense"] = fit_time(d_model, n_latents, k, batch, auxk, sparse)
        print("RESULT " + json.dumps(result), flush=True)


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def memory_worker(name, sparse):
    """Peak memory of training at ``name`` with the dense or sparse step."""
    import keras
    import numpy as np

    from sparse_ae.sae import SparseAutoencoder

    d_model, n_latents, k, batch, auxk = SIZES[name]
    steps = 4
    x = np.maximum(np.random.default_rng(1).normal(size=(steps * batch, d_model)), 0).astype("float32")
    model = SparseAutoencoder(d_model, n_latents, activation="topk", k=k, auxk=auxk, sparse=sparse, seed=0)
    model.compile(optimizer="adam", steps_per_execution=steps)
    model.adapt(x)
    result = {"size": name, "backend": keras.backend.backend(), "sparse": sparse}
    if keras.backend.backend() == "jax":
        result["xla_temp_bytes"] = _jax_step_temp_bytes(model, x[:batch])
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set (VmHWM) to the current one
    before = _rss_kib("VmRSS")
    model.fit(x, epochs=2, batch_size=batch, verbose=0)
    result["rss_before_mib"] = before / 1024
    result["peak_growth_mib"] = (_rss_kib("VmHWM") - before) / 1024
    result["weights_mib"] = sum(int(np.prod(v.shape)) * 4 for v in model.weights) / 2**20
    print("RESULT " + json.dumps(result), flush=True)


def _jax_step_temp_bytes(model, x):
    """The temporary memory XLA allocates for one training step (loss, gradients, Adam update)."""
    import jax

    model.optimizer.build(model.trainable_variables)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    optimizer_vars = [v.value for v in model.optimizer.variables]
    metrics = [v.value for v in model.metrics_variables]

    def step(trainable, non_trainable, optimizer_vars, x):
        def loss(trainable):
            value, _ = model.compute_loss_and_updates(
                trainable, non_trainable, metrics, x, x, None, training=True,
                optimizer_variables=optimizer_vars)
            return value
        grads = jax.grad(loss)(trainable)
        return model.optimizer.stateless_apply(optimizer_vars, grads, trainable)

    compiled = jax.jit(step).lower(trainable, non_trainable, optimizer_vars, x).compile()
    return compiled.memory_analysis().temp_size_in_bytes


# ---------------------------------------------------------------- parent


def child(backend, *args):
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{backend} child failed:\n{done.stderr[-3000:]}")
    return [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]


def report(results):
    print(f"{'size (d/latents/k/batch)':<22}{'backend':<11}{'path':<7}{'ms/step':>9}{'examples/s':>12}"
          f"{'encoder ms':>11}{'step/enc':>9}{'top_k ms':>9}{'select ms':>10}{'speed-up':>9}")
    for r in results:
        for path in ("dense", "sparse"):
            step = r[path]["step"]
            speedup = f"{r['dense']['step'] / step:>8.2f}x" if path == "sparse" else ""
            print(f"{r['size']:<22}{r['backend']:<11}{path:<7}{step * 1e3:>9.2f}{r['size'] and int(SIZES[r['size']][3] / step):>12,}"
                  f"{r['encoder'] * 1e3:>11.2f}{step / r['encoder']:>8.1f}x{r['top_k'] * 1e3:>9.2f}{r['select'] * 1e3:>10.2f}{speedup}")


def load_average():
    return os.getloadavg()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="all", help="small, large, all, or names separated by commas")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--memory", action="store_true", help="peak memory at the largest size instead")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    parser.add_argument("--sparse", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker.split(","))
        return
    if args.memory_worker:
        memory_worker(args.memory_worker, bool(args.sparse))
        return

    import keras

    names = {"small": SMALL, "large": LARGE, "all": SMALL + LARGE}.get(args.sizes) or args.sizes.split(",")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Keras {keras.__version__}; "
          f"load average before: {load_average()[0]:.2f}")
    if args.memory:
        name = LARGE[-1]
        for backend in args.backends.split(","):
            for sparse in (0, 1):
                for r in child(backend, "--memory-worker", name, "--sparse", str(sparse)):
                    xla = f", XLA temporaries of one step {r['xla_temp_bytes'] / 2**20:,.0f} MiB" if "xla_temp_bytes" in r else ""
                    print(f"{name} {backend} {'sparse' if sparse else 'dense'}: peak resident set grew by "
                          f"{r['peak_growth_mib']:,.0f} MiB during fit (from {r['rss_before_mib']:,.0f} MiB; "
                          f"weights {r['weights_mib']:,.0f} MiB){xla}")
        return
    results = []
    for backend in args.backends.split(","):
        results += child(backend, "--worker", ",".join(names))
    report(results)
    print(f"load average after: {load_average()[0]:.2f}")


if __name__ == "__main__":
    main()
