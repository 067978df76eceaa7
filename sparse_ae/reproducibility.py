"""One call that makes a training run repeatable (used in every chapter)."""

from __future__ import annotations

import keras

__all__ = ["seed_everything"]

_determinism_enabled = False


def seed_everything(seed=42):
    """Seed Python, NumPy, TensorFlow and Keras, and enable op determinism.

    Call it at the top of every training cell: the same code on the same
    machine then prints the same numbers, run after run.
    """
    global _determinism_enabled
    keras.utils.set_random_seed(seed)
    if not _determinism_enabled and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        _determinism_enabled = True
