"""Helpers for the executable book *Sparse autoencoders in Keras 3*.

Every definition the chapters use lives here, once, with tests:

- :mod:`sparse_ae.data`: Fashion-MNIST, verified and split as in the book;
- :mod:`sparse_ae.regularizers`: the KL-divergence sparsity regularizer;
- :mod:`sparse_ae.models`: the baseline, l1 and KL autoencoders;
- :mod:`sparse_ae.metrics`: rounded accuracy and sparsity measures;
- :mod:`sparse_ae.plots`: the book's figures;
- :mod:`sparse_ae.training`: quiet, repeatable and fast training;
- :mod:`sparse_ae.reproducibility`: one call to seed everything.

The package runs on Keras's TensorFlow backend (the book's) and on its JAX
backend (``KERAS_BACKEND=jax``). Importing it registers every custom Keras
object it defines, so ``keras.models.load_model`` can load a saved model
after a plain ``import sparse_ae``.
"""

import logging as _logging
import os as _os

from ._quiet import quiet_stderr as _quiet_stderr

# TensorFlow's C++ start-up messages (oneDNN's notice, "Could not find cuda
# drivers", absl's warning) are written to the process's stderr while Keras
# imports TensorFlow, before TF_CPP_MIN_LOG_LEVEL takes effect. An explicit
# TF_CPP_MIN_LOG_LEVEL set by the user wins; import errors are still raised.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
with _quiet_stderr():
    import keras as _keras

if _keras.backend.backend() == "tensorflow":
    import tensorflow as _tf

    # In an interactive session TensorFlow sets its own logger to INFO the
    # first time it creates it, and warns about retracing when a chapter
    # builds several models.
    _tf.get_logger().setLevel(_logging.ERROR)
    # TensorFlow looks for GPUs the first time it lists its devices, and on a
    # machine without CUDA it writes "failed call to cuInit" to stderr. When
    # Keras was imported before sparse_ae, TF_CPP_MIN_LOG_LEVEL above came too
    # late for that message; looking for devices here, quietly, keeps it off
    # stderr whatever the order of the imports. (TensorFlow's own start-up
    # lines, written while Keras imports it, cannot be taken back: set
    # TF_CPP_MIN_LOG_LEVEL=3 before Python starts to silence them too.)
    # Thread settings can still be changed afterwards.
    with _quiet_stderr():
        _tf.config.list_physical_devices()

# Register the custom objects (metrics, regularizers, layers, models).
from . import layers, metrics, regularizers, sae, toy  # noqa: E402,F401

__version__ = "0.2.0"
