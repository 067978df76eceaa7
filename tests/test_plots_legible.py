"""Every figure of sparse_ae.plots is legible in the book's column, on a phone
and on a laptop (the rule is in sparse_ae/plots.py's docstring).

Each public ``plot_*`` function draws sample data shaped like its
chapters' (the longest labels and the most panels they use); the test
walks the text of the drawn figure and measures the image the notebook
would save. The browser test measures the images as the book shows them.
"""

import matplotlib
import numpy as np
import pytest

from sparse_ae import plots

matplotlib.use("agg")

rng = np.random.default_rng(0)
IMAGES = rng.uniform(size=(16, 28, 28))
CODINGS = rng.uniform(size=(200, 300))
W_TOY = rng.normal(size=(6, 5, 20)) / 3
W_PLANE = rng.normal(size=(3, 2, 5))
FAMILIES = ["KL", "ℓ1"]
TRADEOFF = [{"family": FAMILIES[i % 2], "label": f"β={b}, p={p}", "l0": l0, "loss": loss}
            for i, (b, p, l0, loss) in enumerate([(0.5, 0.02, 12, 0.445), (0.005, 0.3, 285, 0.366),
                                                  (0.05, 0.1, 118, 0.366), (0.01, 0.1, 230, 0.339)])]

# name -> (args, kwargs): the longest titles, labels and most panels the
# chapters use.
SAMPLES = {
    "plot_images": ((IMAGES, ["T-shirt/top", "Ankle boot"] * 8), {}),
    "plot_reconstructions": ((IMAGES[:8], [IMAGES[:8]] * 4),
                             {"n_images": 8, "titles": ["β=0.005, p=0.3", "β=0.05, p=0.1",
                                                        "β=0.5, p=0.02", "ℓ1=0.01"]}),
    "plot_activation_histograms": ((CODINGS,), {"title": "KL: 300 sigmoid codings, weight 0.05, target 0.1"}),
    "plot_sparsity_costs": ((), {"target": 0.1}),
    "plot_unit_images": ((IMAGES - 0.5,), {"titles": [f"latent {700 + i}" for i in range(16)],
                                           "title": "TopK SAE, k=16: dictionary rows"}),
    "plot_top_activating": ((IMAGES, CODINGS[:16], [1, 22, 133, 144, 255, 299]), {"n": 8}),
    "plot_tradeoff": ((TRADEOFF,), {"front": ["β=0.5, p=0.02", "β=0.01, p=0.1"],
                                    "marked": ["β=0.05, p=0.1", "β=0.01, p=0.1"],
                                    "labeled": ["β=0.5, p=0.02", "β=0.005, p=0.3"]}),
    "plot_curves": ((range(1, 11), {f"{f}, seed {s}": rng.uniform(size=10)
                                    for f in FAMILIES for s in (42, 0, 1)},
                     "training step (batch)", "distinct sets on 500 images"), {"logy": True}),
    "plot_superposition": ((W_TOY, ["S = 0.0", "S = 0.7", "S = 0.9", "S = 0.97", "S = 0.99",
                                    "S = 0.997"]), {}),
    "plot_feature_directions": ((W_PLANE, ["S = 0.0", "S = 0.8", "S = 0.9"]), {}),
    "plot_dictionary_directions": ((W_PLANE[0].T, rng.normal(size=(12, 2))), {}),
    "plot_cosine_similarities": ((rng.uniform(-1, 1, size=(20, 40)),), {}),
    "plot_curve_panels": ((np.arange(1, 31), {name: {"unit norm": rng.uniform(size=30),
                                                     "free": rng.uniform(size=30)}
                                              for name in ["mean row norm", "ℓ1 term of the loss", "L0"]},
                           "epoch"), {}),
    "plot_fve_vs_l0": (([{"family": fam, "l0": rng.uniform(1, 5), "fve": rng.uniform()}
                         for fam in ["ReLU + ℓ1 sweep (seed 42)", "ReLU + ℓ1, λ = 0.03", "TopK, k = 2"]
                         for _ in range(3)],), {}),
    "plot_feature_density": (({"TopK k=8": rng.uniform(0, 0.1, 512) * (rng.uniform(size=512) > 0.3),
                               "TopK k=8 + AuxK": rng.uniform(0, 0.1, 512)},), {}),
    "plot_sparsity_frontier": (([{"family": fam, "l0": l0, "fve": rng.uniform()}
                                 for fam in ["TopK", "TopK + AuxK", "ReLU + ℓ1"] for l0 in (4, 8, 16, 32)],), {}),
    "plot_purity": (({"neurons": rng.uniform(size=64), "random directions": rng.uniform(size=64),
                      **{f"SAE latents, seed {s}": rng.uniform(size=64) for s in (42, 0, 1)}},), {}),
}

PLOT_FUNCTIONS = sorted(name for name in plots.__all__ if name.startswith("plot_"))


def test_every_plotting_function_has_sample_data():
    assert sorted(SAMPLES) == PLOT_FUNCTIONS, "add sample data for every new plot_* function"


@pytest.mark.parametrize("name", PLOT_FUNCTIONS)
def test_figure_text_is_legible_in_the_column(name):
    args, kwargs = SAMPLES[name]
    fig = getattr(plots, name)(*args, **kwargs)
    try:
        measured = plots.legibility(fig)
    finally:
        matplotlib.pyplot.close(fig)
    assert measured["min_font_pt"] >= plots.MIN_FONT_PT, (
        f"{name}: {measured['its_text']!r} is {measured['min_font_pt']} pt; the book's figures "
        f"use at least {plots.MIN_FONT_PT} pt (fontsize=plots.SMALL)")
    assert measured["width_in"] <= plots.COLUMN_WIDTH + 2 * plots._SAVE_PAD + 0.05, (
        f"{name}: the saved image is {measured['width_in']:.2f} inches wide; the column is "
        f"{plots.COLUMN_WIDTH} (something sticks out of the figure, or it is drawn too wide)")
    for width, px in measured["text_px"].items():
        assert px >= plots.MIN_TEXT_PX[width], (
            f"{name}: at a {width} px screen its smallest text ({measured['its_text']!r}) "
            f"is {px:.1f} CSS px tall, under {plots.MIN_TEXT_PX[width]}")


def test_legibility_measures_what_the_browser_shows():
    """A figure twice the column's width with 11-point text: on a phone its
    text is half of 9.5 px."""
    fig, ax = plots.figure(width=plots.COLUMN_WIDTH)
    fig.set_size_inches(2 * plots.COLUMN_WIDTH, 3)
    ax.set_title("wide", fontsize=11)
    measured = plots.legibility(fig)
    matplotlib.pyplot.close(fig)
    assert measured["min_font_pt"] == 11
    # 11 pt at 100 dpi is 15.3 px; the image is about 1120 px wide, shown at 341.
    assert measured["text_px"][390] == pytest.approx(11 / 72 * 341 / measured["width_in"])
    assert measured["text_px"][390] < 5
    # Shown at 671 px on a laptop: still too small there.
    assert measured["text_px"][1280] < plots.MIN_TEXT_PX[1280]


def test_figure_refuses_a_width_wider_than_the_column():
    with pytest.raises(ValueError, match="wider than the text column"):
        plots.figure(width=plots.COLUMN_WIDTH + 1)


def test_small_text_is_found():
    fig, ax = plots.figure()
    ax.text(0.5, 0.5, "tiny", fontsize=6)
    measured = plots.legibility(fig)
    matplotlib.pyplot.close(fig)
    assert (measured["min_font_pt"], measured["its_text"]) == (6, "tiny")
