"""Tests of sparse_ae.sparse_ops and of the SAE's sparse TopK step, on either backend.

The sparse step must be the dense step computed another way: the same
forward pass, the same loss terms, the same gradient for every weight, and
the same weights after a short training run, to float32 rounding.
"""

import keras
import numpy as np
import pytest
from keras import ops

from sparse_ae import sparse_ops
from sparse_ae.gradients import gradient, loss_and_gradients
from sparse_ae.sae import SPARSE_CROSSOVER, SparseAutoencoder

# Distinct sizes, so that a tensor's shape tells which dimensions it has.
N_INPUTS, N_LATENTS, K, AUXK = 7, 96, 3, 5


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(size=(n, N_INPUTS)), 0).astype(np.float32) + 0.1


# ------------------------------------------------------------- the kernels


@pytest.mark.parametrize("n, k", [(96, 3), (96, 12), (96, 30), (97, 4), (1024, 5), (16, 16), (8, 1)])
def test_select_top_k_finds_the_k_largest_of_each_row(n, k):
    """Exact, through the block pre-selection (n = 96, 1024) and without it
    (a prime n, k close to n): the same set as a full sort."""
    values = np.random.default_rng(n + k).normal(size=(33, n)).astype(np.float32)
    got = np.sort(to_numpy(sparse_ops.select_top_k(values, k)), axis=1)
    expected = np.sort(np.argsort(-values, axis=1)[:, :k], axis=1)
    np.testing.assert_array_equal(got, expected)


def test_select_top_k_finds_large_entries_hidden_in_one_block():
    """All of a row's largest entries in one block of 8: the block rule must
    still find every one (a rule that took one entry per block would not)."""
    values = np.random.default_rng(1).uniform(size=(4, 96)).astype(np.float32)
    values[:, 40:48] += 10.0
    got = np.sort(to_numpy(sparse_ops.select_top_k(values, 6)), axis=1)
    np.testing.assert_array_equal(got, np.sort(np.argsort(-values, axis=1)[:, :6], axis=1))


def test_encode_selected_is_the_dense_product_at_the_selection_and_so_is_its_gradient():
    """Value and gradient with respect to x, b_dec, W_enc and b_enc, against
    the dense product gathered at the selection (differentiated by the backend)."""
    rng = np.random.default_rng(2)
    x, b_dec = rng.normal(size=(10, N_INPUTS)).astype(np.float32), rng.normal(size=N_INPUTS).astype(np.float32)
    W_enc = rng.normal(size=(N_INPUTS, N_LATENTS)).astype(np.float32)
    b_enc = rng.normal(size=N_LATENTS).astype(np.float32)
    indices = np.stack([rng.choice(N_LATENTS, K, replace=False) for _ in range(10)]).astype(np.int32)
    indices[0, 1] = indices[1, 2]  # a latent selected by two examples sums both
    weights = rng.normal(size=(10, K)).astype(np.float32)
    pre = (x - b_dec) @ W_enc + b_enc
    np.testing.assert_array_equal(
        to_numpy(sparse_ops.encode_selected(x, b_dec, W_enc, b_enc, pre, indices)),
        np.take_along_axis(pre, indices, axis=1),
    )
    arguments = {"x": x, "b_dec": b_dec, "W_enc": W_enc, "b_enc": b_enc}

    def loss(sparse, name):
        def f(value):
            a = {**arguments, name: value}
            dense = ops.matmul(a["x"] - a["b_dec"], a["W_enc"]) + a["b_enc"]
            if sparse:
                selected = sparse_ops.encode_selected(a["x"], a["b_dec"], a["W_enc"], a["b_enc"], dense, indices)
            else:
                selected = ops.take_along_axis(dense, indices, axis=1)
            return ops.sum(selected * weights)
        return f

    for name, value in arguments.items():
        np.testing.assert_allclose(
            gradient(loss(True, name), value), gradient(loss(False, name), value), rtol=1e-5, atol=1e-5,
            err_msg=f"the gradient with respect to {name}",
        )


def test_decode_selected_is_the_dense_product_of_the_scattered_latents():
    rng = np.random.default_rng(3)
    W_dec = rng.normal(size=(N_LATENTS, N_INPUTS)).astype(np.float32)
    indices = np.stack([rng.choice(N_LATENTS, K, replace=False) for _ in range(10)]).astype(np.int32)
    values = rng.uniform(size=(10, K)).astype(np.float32)
    dense = np.zeros((10, N_LATENTS), np.float32)
    np.put_along_axis(dense, indices, values, axis=1)
    np.testing.assert_array_equal(to_numpy(sparse_ops.scatter_selected(indices, values, N_LATENTS)), dense)
    np.testing.assert_allclose(
        to_numpy(sparse_ops.decode_selected(indices, values, W_dec)), dense @ W_dec, rtol=1e-5, atol=1e-5
    )
    fired = to_numpy(sparse_ops.fired_latents(indices, values - 0.5, N_LATENTS))
    np.testing.assert_array_equal(fired, (dense - 0.5 * (dense != 0) > 0).any(axis=0))


# -------------------------------------------------- the SAE's sparse step


def pair(**kwargs):
    """The same SAE (same seed, same adapted state) with the dense and the sparse step."""
    models = {}
    for sparse in (False, True):
        model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=K, seed=3, sparse=sparse, **kwargs)
        model.compile(optimizer=keras.optimizers.Adam(0.01))
        model.adapt(data(200, seed=9))
        assert model.uses_sparse_step is sparse
        models[sparse] = model
    return models[False], models[True]


def make_dead(model, x):
    """Mark as dead the latents that do not fire on x (they exist: 40 x 3 < 96)."""
    silent = ~(to_numpy(model.encode(x)) > 0).any(axis=0)
    assert silent.sum() > AUXK
    model.examples_since_fired.assign(np.where(silent, model.dead_after, 0).astype(np.int32))


def test_sparse_step_forward_pass_and_loss_terms_equal_the_dense_ones():
    dense, sparse = pair(auxk=AUXK)
    x = data()
    for model in (dense, sparse):
        make_dead(model, x)
    np.testing.assert_allclose(to_numpy(sparse(x)), to_numpy(dense(x)), rtol=1e-5, atol=1e-6)
    logs = {m: m.evaluate(x, batch_size=len(x), verbose=0, return_dict=True) for m in (dense, sparse)}
    assert logs[dense]["auxk_loss"] > 1e-4, "the test needs a non-zero AuxK term"
    for name in ("loss", "normalized_mse", "auxk_loss", "fve"):
        assert logs[sparse][name] == pytest.approx(logs[dense][name], rel=1e-5), name


@pytest.mark.parametrize("auxk", [None, AUXK])
def test_sparse_step_gradients_of_every_weight_equal_the_dense_ones(auxk):
    dense, sparse = pair(auxk=auxk)
    x = data()
    for model in (dense, sparse):
        make_dead(model, x)
    loss_dense, grads_dense = loss_and_gradients(dense, x)
    loss_sparse, grads_sparse = loss_and_gradients(sparse, x)
    assert loss_sparse == pytest.approx(loss_dense, rel=1e-5)
    names = [v.path.split("/")[-1] for v in dense.trainable_variables]
    assert names == ["W_dec", "W_enc", "b_enc", "b_dec"]
    for name, g_dense, g_sparse in zip(names, grads_dense, grads_sparse):
        assert np.abs(g_dense).max() > 1e-4, f"{name}: the test needs a non-zero gradient"
        np.testing.assert_allclose(
            g_sparse, g_dense, rtol=1e-4, atol=1e-6 * np.abs(g_dense).max(),
            err_msg=f"the sparse step's gradient of {name} differs from the dense step's",
        )
    touched = np.abs(grads_sparse[1]).max(axis=0) > 0
    selected = (to_numpy(sparse.encode(x)) != 0).any(axis=0)
    if auxk is None:
        np.testing.assert_array_equal(touched, selected, err_msg="only selected latents get an encoder gradient")


@pytest.mark.parametrize("unit_norm", [True, False])
def test_sparse_step_trains_to_the_same_weights(unit_norm):
    """Adam, 12 steps, AuxK on after the second: the same losses and weights.
    (On TensorFlow a gathered weight's gradient must reach the optimizer
    dense: given rows, Keras's Adam would update only their moments.)"""
    free = {} if unit_norm else {"unit_norm": False, "norm_weighted_l1": False}
    dense, sparse = pair(auxk=AUXK, dead_after=60, **free)
    x = data(160, seed=4)
    initial = [to_numpy(v).copy() for v in dense.weights]
    histories = {
        m: m.fit(x, epochs=3, batch_size=40, shuffle=False, verbose=0).history for m in (dense, sparse)
    }
    assert max(histories[dense]["auxk_loss"]) > 0, "AuxK must have been active"
    np.testing.assert_allclose(histories[sparse]["loss"], histories[dense]["loss"], rtol=1e-4)
    # Twelve Adam steps can amplify float rounding (sums in another order) to
    # a fraction of a percent of how far a weight moved (0.45% seen in one
    # make test, depending on what ran before in the process); a wrong or
    # missing gradient leaves a gap as large as the movement itself. So the
    # gap is measured against the movement.
    for v0, v_dense, v_sparse in zip(initial, dense.weights, sparse.weights):
        moved = float(np.abs(to_numpy(v_dense) - v0).max())
        gap = float(np.abs(to_numpy(v_sparse) - to_numpy(v_dense)).max())
        assert gap <= max(0.05 * moved, 1e-5), (
            f"{v_dense.path} differs after training by {gap:.2e}, against a "
            f"movement of {moved:.2e}: the sparse step's gradient is not the dense one's"
        )


def test_auto_chooses_the_sparse_step_above_the_crossover():
    from sparse_ae.sae import _resolve_sparse

    def uses(n_latents, k, auxk=None, activation="topk", prefixes=None, sparse="auto"):
        return _resolve_sparse(sparse, n_latents, k, auxk, activation, prefixes)

    k = 2
    assert uses(SPARSE_CROSSOVER * k, k)
    assert not uses(SPARSE_CROSSOVER * k - 1, k)
    assert not uses(SPARSE_CROSSOVER * k, k, auxk=k + 1), "AuxK's selection counts too"
    assert not uses(SPARSE_CROSSOVER * k, k, prefixes=(4, SPARSE_CROSSOVER * k))
    assert not uses(512, None, activation="relu")
    assert uses(4, k, sparse=True) and not uses(512, k, sparse=False)
    model = SparseAutoencoder(N_INPUTS, SPARSE_CROSSOVER * k, activation="topk", k=k)
    assert model.sparse == "auto" and model.uses_sparse_step


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sparse": "yes"}, "sparse must be 'auto', True or False"),
        ({"sparse": 1}, "sparse must be 'auto', True or False"),
        ({"sparse": None}, "sparse must be 'auto', True or False"),
        ({"activation": "relu", "sparse": True}, "sparse=True needs activation='topk'"),
        ({"activation": "batchtopk", "k": 2, "sparse": True}, "sparse=True needs activation='topk'"),
        ({"activation": "topk", "k": 2, "prefixes": [4], "sparse": True}, "with prefixes"),
    ],
)
def test_bad_sparse_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparseAutoencoder(N_INPUTS, N_LATENTS, **kwargs)


def test_sparse_is_saved_in_the_config():
    model = SparseAutoencoder(N_INPUTS, N_LATENTS, activation="topk", k=K, sparse=True, seed=0)
    clone = SparseAutoencoder.from_config(model.get_config())
    assert clone.sparse is True and clone.uses_sparse_step


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="reads the JAX program of the step")
def test_the_sparse_step_forms_no_batch_by_latents_by_inputs_tensor():
    """Every intermediate of a training step's loss and gradients, read from
    its jaxpr: none has batch x latents x inputs entries (the dense step has
    none either; the point is that the gathers stay at batch x k x inputs)."""
    import jax

    _, sparse = pair(auxk=AUXK)
    x = data()
    make_dead(sparse, x)
    from sparse_ae.gradients import _as_batch, _jax_loss_function

    xb, yb = _as_batch(sparse, x, None)
    loss = _jax_loss_function(sparse, xb, yb)
    jaxpr = jax.make_jaxpr(jax.value_and_grad(loss))([v.value for v in sparse.trainable_variables])
    sizes = set()

    def visit(j):
        for eqn in j.eqns:
            for var in eqn.outvars:
                sizes.add(int(np.prod(var.aval.shape)))
            for param in eqn.params.values():
                inner = getattr(param, "jaxpr", None)
                if inner is not None:
                    visit(getattr(inner, "jaxpr", inner))

    visit(jaxpr.jaxpr)
    batch = len(x)
    assert batch * AUXK * N_INPUTS in sizes, "the test must see the gathered rows"
    assert max(sizes) < batch * N_LATENTS * N_INPUTS
