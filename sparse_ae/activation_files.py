"""Activations larger than memory: training batches read from ``.npy`` files (chapter 13).

An SAE for a language model trains on hundreds of millions of activation
vectors, far more than fit in memory. They are saved to disk once, as one
``.npy`` file or a directory of ``.npy`` shards, and read back a batch at a
time. :class:`ActivationDataset` is a Keras ``PyDataset`` over such files:
it maps them into memory (``np.load(..., mmap_mode="r")``), so that only
the rows of the current batches are read, and ``fit`` takes it in place of
an array::

    data = ActivationDataset("activations/", batch_size=1024, seed=0)
    sae.fit(data, epochs=10)   # adapts on data.sample() first if needed

Each epoch visits every example exactly once, in an order drawn from
``seed`` and the epoch's number, so that a run can be repeated.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from ._checks import check_positive_int, check_seed

__all__ = ["ADAPT_EXAMPLES", "ActivationDataset", "adaptation_sample"]

#: How many examples :func:`adaptation_sample` draws for ``adapt``: the size
#: of Gao et al.'s sample for the geometric median.
ADAPT_EXAMPLES = 32_768


def _open(source):
    """``(arrays, names)``: the shards of ``source``, memory-mapped."""
    if isinstance(source, np.ndarray):
        return [source], ["the array"]
    path = Path(os.fspath(source))
    if path.is_dir():
        files = sorted(path.glob("*.npy"))
        if not files:
            raise ValueError(f"no .npy files in the directory {path}")
    elif path.is_file():
        files = [path]
    else:
        raise ValueError(f"{path} is neither a .npy file nor a directory of them")
    return [np.load(f, mmap_mode="r") for f in files], [str(f) for f in files]


class ActivationDataset(keras.utils.PyDataset):
    """Batches of rows from a ``.npy`` file, a directory of ``.npy`` shards, or an array.

    - ``source``: a path to one ``.npy`` file of shape ``(n_examples,
      n_inputs)``; a directory whose ``*.npy`` files (in name order) are
      shards of that shape with the same ``n_inputs``; or an array (a
      ``np.memmap`` too), which is used as it is;
    - ``batch_size``: examples per batch; the last batch of an epoch holds
      the rest, so that every example is seen once per epoch;
    - ``shuffle``: draw a new order of the examples each epoch (the
      default); ``False`` reads them in file order;
    - ``seed``: the order of epoch ``e`` is a permutation drawn from
      ``(seed, e)``: the same in every run with the same seed, another in
      every epoch;
    - ``workers``, ``use_multiprocessing``, ``max_queue_size``: as for any
      Keras ``PyDataset`` (threads reading ahead).

    A batch holds the rows of a random set of examples, read in file order
    (sorted indices, which is faster on disk). Every batch is checked as it
    is read: a NaN or an infinity raises ``ValueError`` naming the file and
    the row, before the batch reaches the model. ``fit`` cannot refuse it
    before *any* weight changes, as it does for an array, without reading
    the whole data first: :meth:`check_finite` does that, once.

    Keras's own ``shuffle`` does not apply (``SparseAutoencoder.fit`` turns
    it off for this dataset): the order is the dataset's.

    Introduced in chapter 13, *TopK done properly*.
    """

    def __init__(self, source, batch_size=1024, *, shuffle=True, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = check_positive_int("batch_size", batch_size)
        if not isinstance(shuffle, bool):
            raise ValueError(f"shuffle must be True or False, got {shuffle!r}")
        self.shuffle = shuffle
        self.seed = check_seed(seed)
        if self.seed is None or self.seed < 0:
            raise ValueError(
                f"seed must be an integer >= 0 (the order of every epoch is drawn from it), got {seed!r}"
            )
        self.shards, self.names = _open(source)
        widths = set()
        for shard, name in zip(self.shards, self.names):
            if shard.ndim != 2 or len(shard) == 0:
                raise ValueError(
                    f"{name} must hold a non-empty 2-D array (n_examples, n_inputs), got shape {shard.shape}"
                )
            if not np.issubdtype(shard.dtype, np.floating):
                raise ValueError(f"{name} must hold floating-point values, got dtype {shard.dtype}")
            widths.add(shard.shape[1])
        if len(widths) != 1:
            raise ValueError(f"every shard must have the same width n_inputs, got widths {sorted(widths)}")
        self.n_inputs = widths.pop()
        self.starts = np.cumsum([0] + [len(s) for s in self.shards])
        self.n_examples = int(self.starts[-1])
        self.epoch = 0  # the epoch being read (from 0)
        self._begun = 0  # epochs begun: on_epoch_begin moves to the next one
        self._order = self.order(0)

    def __len__(self):
        return -(-self.n_examples // self.batch_size)

    def order(self, epoch):
        """The order of the examples in ``epoch`` (from 0): a permutation, or ``arange``."""
        if not self.shuffle:
            return np.arange(self.n_examples)
        return self._rng(0, epoch).permutation(self.n_examples)

    def _rng(self, *stream, seed=None):
        """A generator drawn from the seed, one independent stream per ``stream`` key."""
        seed = self.seed if seed is None else seed
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=stream))

    def on_epoch_begin(self):
        """Keras calls it as each epoch begins: draw that epoch's order.

        Keras may also begin an epoch only to read one batch (on JAX, before
        the first epoch of a model's first ``fit``), and may read batches
        before any ``on_epoch_begin``, which are those of epoch 0. So
        ``epoch`` counts the epochs Keras begins; the orders are the same
        in every run of the same program.
        """
        self.epoch = self._begun
        self._begun += 1
        self._order = self.order(self.epoch)

    def batch_indices(self, index):
        """The (global, sorted) example indices of batch ``index`` of the current epoch."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of an epoch of {len(self)} batches")
        chosen = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        return np.sort(chosen)

    def rows(self, indices):
        """The rows at the sorted global ``indices``, as a float32 array, checked to be finite."""
        shard_of = np.searchsorted(self.starts, indices, side="right") - 1
        parts = []
        for s in np.unique(shard_of):
            local = indices[shard_of == s] - self.starts[s]
            part = np.asarray(self.shards[s][local], dtype=np.float32)
            bad = ~np.isfinite(part).all(axis=1)
            if bad.any():
                rows = local[bad]
                raise ValueError(
                    f"{self.names[s]} holds NaN or infinite values in {len(rows)} row(s) of this batch, "
                    f"the first at row {rows[0]}: remove or fix those examples before training"
                )
            parts.append(part)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def __getitem__(self, index):
        return self.rows(self.batch_indices(index))

    def sample(self, n=ADAPT_EXAMPLES, seed=None):
        """``n`` distinct examples (all of them if there are fewer), drawn from ``seed``
        (default: the dataset's), as a float32 array: for ``adapt``."""
        n = min(check_positive_int("n", n), self.n_examples)
        chosen = self._rng(1, seed=seed).choice(self.n_examples, n, replace=False)
        return self.rows(np.sort(chosen))

    def check_finite(self, chunk=65_536):
        """Read every row once; raise ``ValueError`` at the first NaN or infinity."""
        for start in range(0, self.n_examples, chunk):
            self.rows(np.arange(start, min(start + chunk, self.n_examples)))


def adaptation_sample(dataset, n=ADAPT_EXAMPLES):
    """About ``n`` examples of a Keras ``PyDataset``, to ``adapt`` an SAE on.

    An :class:`ActivationDataset` draws a random sample of ``n`` examples;
    another ``PyDataset`` gives whole batches, evenly spaced through one
    epoch, until there are ``n`` examples or no batches left (its inputs
    only: the first element of a tuple).

    Introduced in chapter 13, *TopK done properly*.
    """
    if isinstance(dataset, ActivationDataset):
        return dataset.sample(n)
    n_batches = dataset.num_batches
    if n_batches is None:
        raise ValueError(
            "cannot draw a sample from an endless PyDataset: call adapt() on a sample of the data first"
        )
    batches, total = [], 0
    for i in np.unique(np.linspace(0, n_batches - 1, min(n_batches, 64)).round().astype(int)):
        batch = dataset[int(i)]
        batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        batches.append(np.asarray(keras.ops.convert_to_numpy(batch) if keras.ops.is_tensor(batch) else batch))
        total += len(batches[-1])
        if total >= n:
            break
    return np.concatenate(batches)[:n]
