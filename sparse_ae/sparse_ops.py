"""A TopK SAE's training step at the cost of its encoder (chapter 13).

A TopK SAE needs only one dense computation per step: the encoder's product
``(x - b_dec) @ W_enc``, which scores every latent so that the ``k`` best can
be chosen. Everything after the choice involves ``k`` latents per example,
not all ``n_latents`` of them:

- the decoder adds up ``k`` rows of the dictionary per example
  (:func:`decode_selected`): ``O(batch * k * n_inputs)`` work, where the
  dense product ``latents @ W_dec`` costs ``O(batch * n_latents *
  n_inputs)``, mostly multiplying zeros;
- the encoder's gradient reaches only the selected latents. The choice is
  made on the pre-activations under ``stop_gradient``; the selected values
  are read from them, and a custom gradient (:func:`encode_selected`)
  scatter-adds into the ``k`` selected columns of ``W_enc`` per example,
  instead of the dense product ``x.T @ grad`` of the full
  ``(batch, n_latents)`` gradient.

That is the idea of the sparse kernels of Gao et al.'s reference
implementation (openai/sparse_autoencoder, ``kernels.py``), written here with
``keras.ops`` only (the one custom gradient is ``keras.ops.custom_gradient``),
so that it runs on Keras's TensorFlow and JAX backends.

No ``(batch, n_latents, n_inputs)`` tensor is ever formed: the largest
tensors are the pre-activations, ``(batch, n_latents)``, and the gathered
rows, ``(batch, k, n_inputs)``.

Selecting the ``k`` largest entries is the other cost. XLA's ``top_k`` on
CPU sorts each row partially, in time that grows with ``k`` as well as with
the row's length. :func:`select_top_k` first keeps only the blocks of
entries whose maximum is among the ``k`` largest block maxima: the ``k``
largest entries must lie in those ``k`` blocks, so the result is exact.
"""

from __future__ import annotations

from keras import ops

__all__ = [
    "decode_selected",
    "encode_selected",
    "fired_latents",
    "scatter_selected",
    "select_top_k",
    "sparse_topk_forward",
]

#: :func:`select_top_k` narrows a row to blocks while it is longer than this
#: many times ``k`` (measured in ``benchmarks/bench_sae.py``).
SELECT_STOP = 4

#: Block sizes :func:`select_top_k` tries, in order.
BLOCK_SIZES = (8, 4, 2)


def select_top_k(values, k):
    """The column indices of the ``k`` largest entries of each row of ``values``.

    ``values`` is ``(n_rows, n)``; the result is an int32 tensor ``(n_rows,
    k)``, in no particular order, with no gradient. Exact: the same set as
    ``ops.top_k(values, k)`` whenever a row has no ties.

    A row is cut into blocks of ``g`` entries. The ``k`` largest entries lie
    in the ``k`` blocks with the largest maxima: an entry in any other block
    is at most its block's maximum, which is at most each of those ``k``
    maxima, so it can be replaced by one of them. The function selects those
    blocks (by the same rule, on the row of block maxima, ``g`` times shorter),
    then the ``k`` largest of their ``k * g`` entries.

    Introduced in chapter 13, *TopK done properly*.
    """
    values = ops.stop_gradient(values)
    n_rows, n = values.shape
    g = next(
        (g for g in BLOCK_SIZES if n % g == 0 and n // g >= k),
        None,
    )
    if g is None or n <= SELECT_STOP * k:
        return ops.cast(ops.top_k(values, k, sorted=False)[1], "int32")
    blocks = ops.reshape(values, (-1, n // g, g))
    chosen = select_top_k(ops.max(blocks, axis=-1), k)  # (n_rows, k) blocks
    candidates = ops.reshape(
        ops.take_along_axis(blocks, ops.expand_dims(chosen, -1), axis=1),
        (-1, k * g),
    )
    best = ops.cast(ops.top_k(candidates, k, sorted=False)[1], "int32")
    block = ops.take_along_axis(chosen, best // g, axis=1)
    return block * g + best % g


def _gather(table, indices):
    """``table[indices]`` along the first axis, with a dense gradient.

    On TensorFlow the gradient of a gather is a list of rows
    (``IndexedSlices``), and Keras's optimizers apply such a gradient
    lazily: Adam would update the moments of the gathered rows only, a
    different optimizer from the dense step's. The reshape, a no-op
    forward, turns the gradient into a dense tensor.
    """
    return ops.take(ops.reshape(table, ops.shape(table)), indices, axis=0)


def encode_selected(x, b_dec, W_enc, b_enc, pre_activations, indices):
    """The selected pre-activations, ``(n_rows, k)``, with a gradient that touches only them.

    The value is ``pre_activations`` at ``indices`` (the dense encoder
    product already computed them). The gradient is that of
    ``(x - b_dec) @ W_enc[:, indices] + b_enc[indices]``, computed without
    ever forming the dense ``(n_rows, n_latents)`` gradient:

    - ``W_enc``: a scatter-add of ``upstream[i, j] * (x[i] - b_dec)`` into
      column ``indices[i, j]``, ``k`` columns per example;
    - ``b_enc``: a scatter-add of the upstream gradient, ``s``, ``(n_latents,)``;
    - ``b_dec``: ``-W_enc @ s``, one matrix-vector product (Gao et al. sum
      over the batch first in the same way);
    - ``x``: ``sum_j upstream[i, j] * W_enc[:, indices[i, j]]`` (which a
      training step does not use, and XLA leaves out).

    Introduced in chapter 13, *TopK done properly*.
    """
    n_latents = W_enc.shape[1]
    value = ops.take_along_axis(ops.stop_gradient(pre_activations), indices, axis=1)
    at = ops.reshape(indices, (-1, 1))

    @ops.custom_gradient
    def selected(x, b_dec, W_enc, b_enc):
        def gradient(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            centered = x - b_dec
            updates = ops.expand_dims(upstream, -1) * ops.expand_dims(centered, 1)
            W_enc_t = ops.scatter(at, ops.reshape(updates, (-1, centered.shape[-1])), (n_latents, centered.shape[-1]))
            per_latent = ops.scatter(at, ops.reshape(upstream, (-1,)), (n_latents,))
            columns = ops.take(ops.transpose(W_enc), indices, axis=0)
            x_gradient = ops.sum(ops.expand_dims(upstream, -1) * columns, axis=1)
            return x_gradient, -ops.matmul(W_enc, per_latent), ops.transpose(W_enc_t), per_latent

        return value, gradient

    return selected(x, b_dec, W_enc, b_enc)


def decode_selected(indices, values, dictionary):
    """``sum_j values[:, j] * dictionary[indices[:, j]]``, shape ``(n_rows, n_inputs)``.

    The product of the sparse latents with the dictionary, reading ``k`` rows
    per example; its gradient is a scatter-add into those rows.

    Introduced in chapter 13, *TopK done properly*.
    """
    rows = _gather(dictionary, indices)  # (n, k, d)
    return ops.sum(ops.expand_dims(values, -1) * rows, axis=1)


def sparse_topk_forward(x, W_enc, b_enc, dictionary, b_dec, k):
    """A TopK SAE's forward pass: ``(pre_activations, indices, values, x_hat)``.

    Only the encoder's product is dense, and it carries no gradient; the
    ``k`` latents kept per example (``values``, ReLU'd, at ``indices``) and
    the reconstruction are computed from ``k`` columns of ``W_enc`` and ``k``
    rows of the ``dictionary``, so the backward pass touches only those.

    Introduced in chapter 13, *TopK done properly*.
    """
    pre_activations = ops.stop_gradient(ops.matmul(x - b_dec, W_enc) + b_enc)
    indices = select_top_k(pre_activations, k)
    values = ops.relu(
        encode_selected(x, b_dec, W_enc, b_enc, pre_activations, indices)
    )
    x_hat = decode_selected(indices, values, dictionary) + b_dec
    return pre_activations, indices, values, x_hat


def scatter_selected(indices, values, n):
    """The dense ``(n_rows, n)`` matrix with ``values`` at ``indices``, zeros elsewhere."""
    n_rows, k = indices.shape[0], indices.shape[1]
    rows = ops.broadcast_to(
        ops.expand_dims(ops.arange(n_rows, dtype=indices.dtype), 1),
        (n_rows, k),
    )
    coordinates = ops.reshape(ops.stack([rows, indices], axis=-1), (-1, 2))
    return ops.scatter(coordinates, ops.reshape(values, (-1,)), (n_rows, n))


def fired_latents(indices, values, n):
    """Booleans ``(n,)``: which latents are > 0 in at least one row."""
    counts = ops.scatter(
        ops.reshape(indices, (-1, 1)),
        ops.reshape(ops.cast(values > 0, "int32"), (-1,)),
        (n,),
    )
    return counts > 0
