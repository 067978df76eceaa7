import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from sparse_ae.plots import plot_activation_histograms, plot_images, plot_reconstructions, plot_sparsity_costs

matplotlib.use("agg")


def test_reconstructions_grid():
    images = np.random.default_rng(0).uniform(size=(7, 28, 28))
    fig = plot_reconstructions(images, [images * 0.5, images * 0.2], n_images=4, titles=["a", "b"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 4
    # each row is named above its first image
    assert [fig.axes[i].get_title(loc="left") for i in (0, 4, 8)] == ["original", "a", "b"]
    np.testing.assert_allclose(fig.axes[4].images[0].get_array(), images[0] * 0.5)
    with pytest.raises(ValueError, match="one title per"):
        plot_reconstructions(images, [images], titles=["a", "b"])


def test_activation_histograms_are_percentages():
    codings = np.random.default_rng(0).uniform(size=(100, 30))
    fig = plot_activation_histograms(codings, title="x")
    ax_all, ax_mean = fig.axes
    heights_all = [p.get_height() for p in ax_all.patches]
    heights_mean = [p.get_height() for p in ax_mean.patches]
    assert sum(heights_all) == pytest.approx(100.0)
    assert sum(heights_mean) == pytest.approx(100.0)
    # neuron means of uniform codings sit near 0.5: all in the middle bins
    assert sum(heights_mean[8:12]) == pytest.approx(100.0)


def test_sparsity_costs_curves():
    fig = plot_sparsity_costs(target=0.1)
    (ax,) = fig.axes
    kl, mae, mse = ax.lines[:3]
    q = kl.get_xdata()
    i = np.argmin(np.abs(q - 0.1))
    assert kl.get_ydata()[i] == pytest.approx(0.0, abs=1e-3)
    # KL rises much faster than MAE and MSE near q = 0
    assert kl.get_ydata()[0] > 3 * mae.get_ydata()[0] > 3 * mse.get_ydata()[0]
    assert [l.get_label() for l in (kl, mae, mse)] == ["KL divergence", "MAE ($\\ell_1$)", "MSE ($\\ell_2$)"]


def test_image_grid():
    images = np.random.default_rng(0).uniform(size=(10, 28, 28))
    fig = plot_images(images, titles=[str(i) for i in range(10)], n_cols=4)
    assert len(fig.axes) == 12
    assert [ax.get_title() for ax in fig.axes[:10]] == [str(i) for i in range(10)]
    assert len(fig.axes[10].images) == 0


def test_unit_images_use_a_symmetric_scale():
    from sparse_ae.plots import plot_unit_images

    images = np.random.default_rng(0).normal(size=(12, 28, 28))
    fig = plot_unit_images(images, titles=[f"u{i}" for i in range(12)], n_cols=5)
    assert len(fig.axes) == 15
    shown = fig.axes[3].images[0]
    assert shown.norm.vmin == -shown.norm.vmax == -np.abs(images[3]).max()
    assert fig.axes[3].get_title() == "u3"


def test_top_activating_rows():
    from sparse_ae.plots import plot_top_activating

    images = np.random.default_rng(0).uniform(size=(20, 28, 28))
    codings = np.random.default_rng(1).uniform(size=(20, 5))
    fig = plot_top_activating(images, codings, units=[1, 4], n=3)
    assert len(fig.axes) == 6
    best = int(np.argmax(codings[:, 4]))
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), images[best])
    assert fig.axes[3].get_title() == f"{codings[best, 4]:.2f}"


def test_tradeoff_marks_points():
    from sparse_ae.plots import plot_tradeoff

    results = [
        {"family": "KL", "label": "a", "l0": 10, "loss": 0.31},
        {"family": "KL", "label": "b", "l0": 50, "loss": 0.30},
        {"family": "ℓ1", "label": "c", "l0": 5, "loss": 0.33},
    ]
    fig = plot_tradeoff(results, marked=["b"])
    (ax,) = fig.axes
    # two families, plus one star
    assert len(ax.collections) == 3
    np.testing.assert_array_equal(ax.collections[2].get_offsets(), [[50, 0.30]])
