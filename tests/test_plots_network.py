"""Tests of chapter 12's figures in sparse_ae.plots: they draw what they are given."""

import matplotlib
import numpy as np
import pytest

from sparse_ae.plots import plot_feature_density, plot_purity, plot_sparsity_frontier

matplotlib.use("agg")


def test_feature_density_counts_dead_latents_in_their_own_bar():
    # 10 latents: 4 dead, 6 firing at 10**-2 .. 10**-0.5
    frequencies = np.array([0, 0, 0, 0, 0.01, 0.01, 0.03, 0.1, 0.2, 0.3])
    fig = plot_feature_density({"a": frequencies, "b": np.full(5, 0.5)})
    ax_a, ax_b = fig.axes
    *live_a, dead_a = ax_a.patches  # the histogram's bars, then the dead bar
    assert dead_a.get_height() == pytest.approx(40.0)
    assert sum(p.get_height() for p in live_a) == pytest.approx(60.0)
    *live_b, dead_b = ax_b.patches
    assert dead_b.get_height() == 0.0
    assert sum(p.get_height() for p in live_b) == pytest.approx(100.0)
    assert ax_a.get_xticklabels()[0].get_text() == "silent"
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="frequencies"):
        plot_feature_density({})


def test_sparsity_frontier_joins_each_family_in_order_of_l0():
    results = [
        {"family": "TopK", "l0": 16, "fve": 0.9},
        {"family": "TopK", "l0": 4, "fve": 0.7},
        {"family": "ReLU", "l0": 8, "fve": 0.6},
        {"family": "TopK", "l0": 8, "fve": 0.8},
    ]
    fig = plot_sparsity_frontier(results)
    (ax,) = fig.axes
    topk, relu = ax.lines
    assert list(topk.get_xdata()) == [4, 8, 16]
    assert list(topk.get_ydata()) == [0.7, 0.8, 0.9]
    assert list(relu.get_xdata()) == [8]
    (legend,) = fig.legends  # one legend, under the plot
    assert [t.get_text() for t in legend.get_texts()] == ["TopK", "ReLU"]
    assert ax.get_xscale() == "log"


def test_purity_leaves_out_units_not_rated():
    purities = {"neurons": np.array([0.5, np.nan, 1.0]),
                "latents": np.array([0.25, 0.75])}
    fig = plot_purity(purities)
    (ax,) = fig.axes
    means = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(means[:, 0], [0.75, 0.5])  # NaN left out
    assert [t.get_text() for t in ax.get_yticklabels()] == ["neurons", "latents"]
    with pytest.raises(ValueError, match="purities"):
        plot_purity({})
