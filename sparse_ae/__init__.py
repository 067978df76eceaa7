"""Helpers for the executable book *Sparse autoencoders in Keras 3*.

Every definition the chapters use lives here, once, with tests:

- :mod:`sparse_ae.data`: Fashion-MNIST, verified and split as in the book;
- :mod:`sparse_ae.regularizers`: the KL-divergence sparsity regularizer;
- :mod:`sparse_ae.models`: the baseline, l1 and KL autoencoders;
- :mod:`sparse_ae.metrics`: rounded accuracy and a sparsity report;
- :mod:`sparse_ae.plots`: the book's figures;
- :mod:`sparse_ae.training`: quiet, repeatable training;
- :mod:`sparse_ae.reproducibility`: one call to seed everything.
"""

import logging as _logging
import os as _os

# TensorFlow's C++ logging goes to stderr as soon as it loads, and its Python
# logger warns about retracing when a chapter builds several models in one
# session. Keep the chapters' output to what they print; an explicit
# TF_CPP_MIN_LOG_LEVEL set by the user wins.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as _tf  # noqa: E402  (after the variable above)

# After the import: in an interactive session TensorFlow sets its own logger
# to INFO the first time it creates it.
_tf.get_logger().setLevel(_logging.ERROR)

__version__ = "0.1.0"
