"""Training an SAE on more than one device, with Keras's distribution API (chapter 13).

Keras 3 distributes a model's training over devices on the JAX backend
(``keras.distribution``): a *mesh* names the axes of a grid of devices, and
a *distribution* says which axis the batch is split along and how each
weight is split. The SAE's code does not change; only the scope in which
it is built and trained does::

    with data_parallel().scope():
        sae = SparseAutoencoder(...)
        sae.compile(...)
        sae.fit(...)

- :func:`data_parallel`: every device holds all the weights and a slice of
  each batch; the gradients are summed over devices.
- :func:`latent_parallel`: the dictionary is split over latents, as Gao et
  al.'s reference implementation splits it across GPUs: each device along
  the ``"model"`` axis holds the columns of ``W_enc``, the rows of
  ``W_dec`` and the entries of ``b_enc`` and of the dead-latent counter of
  its share of the latents (:func:`latent_layout_map`). XLA inserts the
  communication (GSPMD).

On one machine, ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
makes JAX show two CPU devices, which is how the tests run both layouts.
"""

from __future__ import annotations

import keras

from ._checks import check_positive_int

__all__ = ["data_parallel", "latent_layout_map", "latent_parallel"]


def _devices(devices):
    return list(devices) if devices is not None else keras.distribution.list_devices()


def data_parallel(devices=None):
    """``keras.distribution.DataParallel`` over ``devices`` (default: all of them).

    Introduced in chapter 13, *TopK done properly*.
    """
    return keras.distribution.DataParallel(devices=_devices(devices))


def latent_layout_map(mesh, axis="model"):
    """A ``LayoutMap`` that splits an SAE's latents over the mesh's ``axis``.

    ``W_enc`` (n_inputs, n_latents) by columns, ``W_dec`` (n_latents,
    n_inputs) by rows, ``b_enc`` and ``examples_since_fired`` (n_latents,);
    ``b_dec`` and the scalars are copied to every device. ``n_latents`` must
    be divisible by the size of ``axis``.

    Introduced in chapter 13, *TopK done properly*.
    """
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[r"(.*/)?W_enc"] = (None, axis)
    layout_map[r"(.*/)?W_dec"] = (axis, None)
    layout_map[r"(.*/)?b_enc"] = (axis,)
    layout_map[r"(.*/)?examples_since_fired"] = (axis,)
    return layout_map


def latent_parallel(n_model=None, devices=None):
    """``keras.distribution.ModelParallel`` with the latents split over ``n_model`` devices.

    The devices form a mesh of shape ``(len(devices) // n_model, n_model)``
    with axes ``("batch", "model")``: the batch is split along the first and
    the latents along the second (:func:`latent_layout_map`). ``n_model``
    defaults to all the devices (no data parallelism).

    Introduced in chapter 13, *TopK done properly*.
    """
    devices = _devices(devices)
    n_model = len(devices) if n_model is None else check_positive_int("n_model", n_model)
    if len(devices) % n_model:
        raise ValueError(
            f"n_model must be a positive divisor of the number of devices ({len(devices)}), got {n_model!r}"
        )
    mesh = keras.distribution.DeviceMesh(
        shape=(len(devices) // n_model, n_model),
        axis_names=("batch", "model"),
        devices=devices,
    )
    return keras.distribution.ModelParallel(
        layout_map=latent_layout_map(mesh), batch_dim_name="batch"
    )
