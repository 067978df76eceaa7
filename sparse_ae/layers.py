"""The TopK sparsity layer (chapter 9)."""

from __future__ import annotations

import numbers

import keras
from keras import ops

__all__ = ["TopKSparsity"]


@keras.saving.register_keras_serializable(package="sparse_ae")
class TopKSparsity(keras.layers.Layer):
    """Keep the ``k`` largest values of the last axis; zero the rest.

    This is the k-sparse autoencoder's activation (Makhzani & Frey, 2013),
    used at scale in TopK sparse autoencoders (Gao et al., 2024). The
    sparsity is exact: every example has at most ``k`` non-zero codings,
    with no penalty to tune. Gradients flow only through the kept units.
    Ties at the k-th value are broken by position, so exactly ``k`` units
    are kept.

    Introduced in chapter 9, *TopK sparse autoencoders*.
    """

    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(k, bool)
            or not isinstance(k, numbers.Integral)
            or k < 1
        ):
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)

    def build(self, input_shape):
        width = input_shape[-1]
        if width is not None and self.k > width:
            raise ValueError(
                f"k={self.k} is larger than the width of the layer's "
                f"input ({width})"
            )

    def call(self, inputs):
        _, indices = ops.top_k(inputs, self.k, sorted=False)
        # mask[..., j] = 1 for the k kept units: built from integer indices,
        # so no gradient flows through it; the gradient is the mask.
        mask = ops.sum(
            ops.one_hot(indices, ops.shape(inputs)[-1], dtype=inputs.dtype),
            axis=-2,
        )
        return inputs * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "k": self.k}
