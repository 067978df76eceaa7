"""Tests of sparse_ae.activation_files: training an SAE on activations read from disk."""

import keras
import numpy as np
import pytest
from keras import ops

from sparse_ae.activation_files import ActivationDataset, adaptation_sample
from sparse_ae.sae import SparseAutoencoder

N_INPUTS, BATCH = 5, 64
N = 1000  # 15 full batches and one of 40: several times the batch, and uneven


def activations(n=N, seed=0):
    """Rows whose first column is the example's number, so that a batch says which examples it holds."""
    x = np.random.default_rng(seed).normal(size=(n, N_INPUTS)).astype(np.float32)
    x[:, 0] = np.arange(n)
    return x


@pytest.fixture
def npy_file(tmp_path):
    x = activations()
    np.save(tmp_path / "activations.npy", x)
    return tmp_path / "activations.npy", x


@pytest.fixture
def shard_dir(tmp_path):
    x = activations()
    folder = tmp_path / "shards"
    folder.mkdir()
    for i, (start, end) in enumerate([(0, 300), (300, 301), (301, N)]):  # uneven, one of a single row
        np.save(folder / f"part-{i:02d}.npy", x[start:end])
    (folder / "notes.txt").write_text("not a shard")
    return folder, x


def epoch_ids(dataset):
    """The example numbers of each batch of the current epoch."""
    return [dataset[i][:, 0].astype(int) for i in range(len(dataset))]


@pytest.mark.parametrize("which", ["npy_file", "shard_dir"])
def test_every_example_once_per_epoch_in_a_seeded_order(which, request):
    source, x = request.getfixturevalue(which)
    dataset = ActivationDataset(source, batch_size=BATCH, seed=7)
    assert (len(dataset), dataset.n_examples, dataset.n_inputs) == (16, N, N_INPUTS)
    assert isinstance(dataset.shards[0], np.memmap), "the files must be memory-mapped, not loaded"
    orders = []
    for _ in range(2):
        dataset.on_epoch_begin()
        batches = epoch_ids(dataset)
        assert [len(b) for b in batches] == [BATCH] * 15 + [40]
        ids = np.concatenate(batches)
        np.testing.assert_array_equal(np.sort(ids), np.arange(N), err_msg="every example exactly once per epoch")
        for batch in batches:  # the rows are the right rows
            np.testing.assert_array_equal(dataset.rows(np.sort(batch)), x[np.sort(batch)])
        orders.append(ids)
        dataset.on_epoch_end()
    assert dataset.epoch == 1
    assert not np.array_equal(orders[0], orders[1]), "each epoch draws a new order"
    again = ActivationDataset(source, batch_size=BATCH, seed=7)
    np.testing.assert_array_equal(np.concatenate(epoch_ids(again)), orders[0], err_msg="the same seed, the same order")
    other = ActivationDataset(source, batch_size=BATCH, seed=8)
    assert not np.array_equal(np.concatenate(epoch_ids(other)), orders[0])
    in_order = ActivationDataset(source, batch_size=BATCH, shuffle=False)
    np.testing.assert_array_equal(np.concatenate(epoch_ids(in_order)), np.arange(N))


class SeenCount(keras.metrics.Metric):
    """How many times the training step saw each example (by the number in its first column)."""

    def __init__(self, n, **kwargs):
        super().__init__(name="seen", **kwargs)
        self.n = n
        self.counts = self.add_variable(shape=(n,), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ids = ops.cast(ops.round(y_true[:, 0]), "int32")
        self.counts.assign_add(ops.scatter(ops.expand_dims(ids, 1), ops.ones_like(ids, "float32"), (self.n,)))

    def result(self):
        return ops.max(self.counts)


def test_fit_from_shards_adapts_on_a_sample_and_sees_every_example_once_per_epoch(shard_dir):
    folder, x = shard_dir
    dataset = ActivationDataset(folder, batch_size=BATCH, seed=3)
    model = SparseAutoencoder(N_INPUTS, 12, activation="topk", k=2, seed=0)
    seen = SeenCount(N)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=[seen], steps_per_execution=4)
    assert not model.is_adapted
    first = model.fit(dataset, epochs=1, verbose=0).history["loss"][0]
    assert model.is_adapted, "fit must adapt a model never adapted, on a sample of the dataset"
    variance = np.mean((x.astype(np.float64) - x.mean(axis=0)) ** 2)
    assert float(ops.convert_to_numpy(model.variance)) == pytest.approx(variance, rel=1e-6), (
        "fewer than 32,768 examples: the sample adapt measures is all of them"
    )
    # Keras resets the metric at each epoch: after fit, it holds the last epoch's counts.
    counts = ops.convert_to_numpy(seen.counts)
    np.testing.assert_array_equal(counts, np.ones(N), err_msg="epoch 1: each example exactly once")
    model.fit(dataset, epochs=2, verbose=0)
    counts = ops.convert_to_numpy(seen.counts)
    np.testing.assert_array_equal(counts, np.ones(N), err_msg="epoch 3: each example exactly once")
    # (On JAX, Keras also begins an epoch to read one batch before the first.)
    assert dataset.epoch >= 2, "each epoch Keras begins draws a new order"
    last = model.evaluate(x, verbose=0, return_dict=True)["loss"]
    assert last < first, "training from the files should lower the loss"


def test_a_nan_in_a_shard_is_named_with_its_file_and_row(tmp_path):
    x = activations()
    x[613, 2] = np.nan
    folder = tmp_path / "bad"
    folder.mkdir()
    np.save(folder / "a.npy", x[:500])
    np.save(folder / "b.npy", x[500:])
    dataset = ActivationDataset(folder, batch_size=BATCH, seed=0)
    model = SparseAutoencoder(N_INPUTS, 12, activation="topk", k=2, seed=0)
    model.compile(optimizer="adam")
    model.adapt(activations(200, seed=1))
    with pytest.raises(Exception, match=r"b\.npy holds NaN or infinite values in 1 row\(s\) of this batch, the first at row 113"):
        model.fit(dataset, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="the first at row 113"):
        dataset.check_finite()


def test_adaptation_sample_of_any_py_dataset():
    x = activations()

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return (x[i * 100 : (i + 1) * 100],)

    sample = adaptation_sample(Batches(), n=250)
    assert sample.shape == (250, N_INPUTS)
    assert len(np.unique(sample[:, 0])) == 250
    model = SparseAutoencoder(N_INPUTS, 12, seed=0)
    model.compile(optimizer="adam")
    model.fit(Batches(), epochs=1, verbose=0)
    assert model.is_adapted
    dataset = ActivationDataset(x, batch_size=BATCH, seed=0)
    sample = dataset.sample(300)
    assert len(np.unique(sample[:, 0])) == 300
    np.testing.assert_array_equal(sample, dataset.sample(300), err_msg="the sample is drawn from the seed")


def test_bad_sources_and_arguments(tmp_path):
    with pytest.raises(ValueError, match="neither a .npy file nor a directory"):
        ActivationDataset(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="no .npy files in the directory"):
        ActivationDataset(tmp_path)
    np.save(tmp_path / "a.npy", activations(10))
    np.save(tmp_path / "b.npy", np.zeros((10, N_INPUTS + 1), np.float32))
    with pytest.raises(ValueError, match=r"same width n_inputs, got widths \[5, 6\]"):
        ActivationDataset(tmp_path)
    with pytest.raises(ValueError, match="non-empty 2-D array"):
        ActivationDataset(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="floating-point"):
        ActivationDataset(np.zeros((5, 2), np.int64))
    with pytest.raises(ValueError, match="batch_size"):
        ActivationDataset(activations(10), batch_size=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        ActivationDataset(activations(10), seed=None)
    model = SparseAutoencoder(N_INPUTS + 2, 12, seed=0)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="width 5, but the SparseAutoencoder has n_inputs=7"):
        model.fit(ActivationDataset(activations(10)), verbose=0)
