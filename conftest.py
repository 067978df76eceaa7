"""pytest configuration shared by the unit tests and nbval.

It lives at the top of the repository so that both ``pytest --nbval`` and
``pytest --nbval book`` load it.
"""

import os

# Set before TensorFlow loads, here and in every notebook kernel nbval starts
# (kernels inherit this process's environment): TensorFlow's C++ start-up
# messages would otherwise go to stderr.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_collectstart(collector):
    """Do not compare stderr in notebooks: TensorFlow and absl write log lines
    there that depend on the machine, not on the chapter's results."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
