import keras
import numpy as np
import pytest

from sparse_ae.layers import TopKSparsity

from conftest import autodiff


def test_keeps_the_k_largest_per_example():
    x = np.random.default_rng(0).normal(size=(16, 50)).astype(np.float32)
    y = keras.ops.convert_to_numpy(TopKSparsity(5)(x))
    for row_in, row_out in zip(x, y):
        kept = np.flatnonzero(row_out)
        assert len(kept) == 5
        assert set(kept) == set(np.argsort(-row_in)[:5])
        np.testing.assert_array_equal(row_out[kept], row_in[kept])


def test_exactly_k_kept_with_ties():
    y = keras.ops.convert_to_numpy(TopKSparsity(2)(np.full((3, 6), 0.5, np.float32)))
    assert (np.count_nonzero(y, axis=1) == 2).all()


def test_gradient_flows_only_through_kept_units():
    x = np.array([[0.1, 0.5, 0.3, 0.9], [0.4, 0.2, 0.8, 0.1]], np.float32)
    weights = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], np.float32)
    grad = autodiff(lambda v: keras.ops.sum(TopKSparsity(2)(v) * weights), x)
    np.testing.assert_array_equal(grad, [[0, 2, 0, 4], [5, 0, 7, 0]])


def test_k_equal_to_width_is_identity():
    x = np.random.default_rng(1).uniform(size=(4, 7)).astype(np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(TopKSparsity(7)(x)), x)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3", None])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        TopKSparsity(k)


def test_k_larger_than_width():
    with pytest.raises(ValueError, match=r"k=8 is larger than the width of the layer's input \(5\)"):
        keras.Sequential([keras.Input((5,)), TopKSparsity(8)])


def test_serializes_in_a_model(tmp_path):
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(20), TopKSparsity(3)])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[-1].k == 3
    x = np.random.default_rng(2).normal(size=(5, 10)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
