"""The book's figures. Each function only draws, and returns its ``Figure``.

Computing stays in :mod:`sparse_ae.metrics` and :mod:`sparse_ae.regularizers`.

**Every figure is drawn for the text column and for a phone.** The book shows
an image at most as wide as its text column: 671 CSS px on a 1280 px laptop
screen, 341 px on a 390 px phone (measured in the built book), and never
wider than the image itself. A figure's smallest text must then be at least
9 CSS px tall on the phone and 11 px on the laptop (``MIN_TEXT_PX``). Text
of ``s`` points in a figure ``w`` inches wide, shown ``d`` px wide, is
``s / 72 * d / w`` px tall, whatever the dpi; so the figures here are
:data:`COLUMN_WIDTH` (5.5 inches) wide with text of at least
:data:`MIN_FONT_PT` (11 points): 9.5 px on a phone, 15 px on a laptop (the
notebook saves at 100 dpi, 550 px, shown at its natural size there).
Multi-panel figures are stacked or wrapped, never squeezed side by side.
:func:`figure` starts a figure that follows the rule, :func:`legibility`
measures it, and ``tests/test_plots.py`` checks every function here with it;
the browser test measures the images as the book shows them.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

from .features import top_activating
from .regularizers import bernoulli_kl

__all__ = [
    "COLUMN_WIDTH",
    "MIN_FONT_PT",
    "MIN_TEXT_PX",
    "STYLE",
    "figure",
    "legibility",
    "plot_images",
    "plot_reconstructions",
    "plot_activation_histograms",
    "plot_sparsity_costs",
    "plot_unit_images",
    "plot_top_activating",
    "plot_tradeoff",
    "plot_curves",
    "plot_superposition",
    "plot_feature_directions",
    "plot_dictionary_directions",
    "plot_cosine_similarities",
    "plot_curve_panels",
    "plot_fve_vs_l0",
    "plot_feature_density",
    "plot_sparsity_frontier",
    "plot_purity",
]

#: The width (inches) every figure is drawn at: the book's text column.
COLUMN_WIDTH = 5.5
#: The smallest text (points) a figure may have.
MIN_FONT_PT = 11
#: Font sizes (points) for axis labels, and for everything else (tick
#: labels, legends, titles of small panels).
LABEL = 12
SMALL = MIN_FONT_PT
#: The widest an image is shown (CSS px) at each viewport width of the
#: browser test (the text column: the article's width minus the cell's
#: padding), and the smallest text it may then have (CSS px).
IMAGE_WIDTH_PX = {390: 341, 1280: 671}
MIN_TEXT_PX = {390: 9, 1280: 11}
#: The notebook saves figures with a tight bounding box padded by this much
#: (IPython's inline backend: ``bbox_inches="tight"``, matplotlib's default
#: ``savefig.pad_inches``).
_SAVE_PAD = 0.1

#: matplotlib settings of the book's figures (:func:`figure` applies them).
STYLE = {
    "figure.figsize": (COLUMN_WIDTH, 3.6),
    "font.size": SMALL,
    "axes.labelsize": LABEL,
    "axes.titlesize": LABEL,
    "figure.titlesize": LABEL,
    "xtick.labelsize": SMALL,
    "ytick.labelsize": SMALL,
    "legend.fontsize": SMALL,
    "legend.title_fontsize": SMALL,
}


def figure(nrows=1, ncols=1, *, height=3.6, width=COLUMN_WIDTH, layout="constrained", **kwargs):
    """A new figure at the column's width, in the book's style: ``(fig, axes)``.

    Like ``plt.subplots(nrows, ncols, ...)`` (keyword arguments go to it),
    with ``figsize=(width, height)`` in inches. It also makes :data:`STYLE`
    matplotlib's default for the rest of the session, as d2l's
    ``set_figsize`` does, so that legends, tick labels and text added later
    are legible too (``plt.rcdefaults()`` undoes it).

    The rule for every figure of the book (see this module's docstring):
    at most :data:`COLUMN_WIDTH` wide, no text under :data:`MIN_FONT_PT`
    points, one or two panels across, stacked rather than side by side.
    Check a new figure with :func:`legibility`. Used by every figure of the
    book, from chapter 1 on.
    """
    if width > COLUMN_WIDTH:
        raise ValueError(f"width={width} inches is wider than the text column ({COLUMN_WIDTH})")
    mpl.rcParams.update(STYLE)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), layout=layout, **kwargs)
    for ax in np.ravel(axes):
        ax.tick_params(labelsize=SMALL)
    return fig, axes


def _drawn_texts(fig):
    """``(text, points)`` for every piece of text drawing the figure draws."""
    renderer = fig.canvas.get_renderer()
    drawn = []
    draw_text = renderer.draw_text

    def recording(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if s.strip():
            drawn.append((s, prop.get_size_in_points()))
        return draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = recording
    try:
        fig.draw(renderer)
    finally:
        del renderer.draw_text
    return drawn


def legibility(fig):
    """How large a figure's text is where the book shows it.

    Returns a dict: ``min_font_pt``, the smallest visible text in points, and
    ``its_text``, that text; ``width_in``, the width of the saved image in
    inches (the tight bounding box the notebook saves, padded); and
    ``text_px``, the height in CSS px of the smallest text at each viewport
    width of :data:`IMAGE_WIDTH_PX` (an image is shown as wide as the column,
    or at its own width at 100 dpi if narrower). A figure is legible when
    ``text_px[w] >= MIN_TEXT_PX[w]`` for both widths. Introduced with the
    figures of chapter 1; ``tests/test_plots.py`` checks every figure here.
    """
    text, points = min(_drawn_texts(fig), key=lambda drawn: drawn[1])
    bbox = fig.get_tightbbox(fig.canvas.get_renderer())
    width_in = bbox.width + 2 * _SAVE_PAD
    natural_px = width_in * fig.dpi
    text_px = {w: points / 72 * fig.dpi * min(1.0, shown / natural_px)
               for w, shown in IMAGE_WIDTH_PX.items()}
    return {"min_font_pt": points, "its_text": text, "width_in": width_in,
            "text_px": text_px}


def _legend_below(fig, handles, labels, ncol=None):
    """One legend for the whole figure, under its axes (constrained layout)."""
    ncol = ncol or min(len(labels), 3)
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=SMALL,
                      frameon=False, handlelength=1.6, columnspacing=1.2)


def _columns(titles, most=8):
    """How many images fit across the column with their titles side by side."""
    longest = max((len(str(t)) for t in titles), default=0) if titles is not None else 0
    # An 11-point character is about 0.6 em wide; leave 0.15 in between titles.
    needed = longest * 0.6 * SMALL / 72 + 0.15
    return int(max(2, min(most, COLUMN_WIDTH // needed))) if longest else most


def _image_grid(images, titles, n_cols, title, show):
    images = np.asarray(images)
    if n_cols:
        n_rows = -(-len(images) // n_cols)
    else:
        n_cols = max(1, min(_columns(titles), len(images)))
        n_rows = -(-len(images) // n_cols)
        n_cols = -(-len(images) // n_rows)  # as few as give that many rows
    cell = COLUMN_WIDTH / n_cols
    height = n_rows * (cell + (0.3 if titles is not None else 0.05)) + (0.4 if title else 0.1)
    fig, axes = figure(n_rows, n_cols, height=height, squeeze=False, layout=None)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            show(ax, images[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=SMALL)
    if title:
        fig.suptitle(title, fontsize=LABEL)
    fig.tight_layout(pad=0.3, h_pad=0.3, w_pad=0.2)
    return fig


def plot_images(images, titles=None, n_cols=None):
    """A grid of 28x28 images with optional titles. Introduced in chapter 1.

    ``n_cols=None`` puts as many images across as their titles allow (at
    most 8).
    """
    return _image_grid(images, titles, n_cols, None,
                       lambda ax, image: ax.imshow(image, cmap="binary", vmin=0, vmax=1))


def plot_reconstructions(images, reconstructions, n_images=5, titles=None):
    """Originals on the top row, one row of reconstructions per model below.

    ``reconstructions`` is one array or a list of arrays (one per model), each
    shaped like ``images``. Each row is named above its first image (the
    title of that image's axes, on the left). Introduced in chapter 1.
    """
    images = np.asarray(images)
    if isinstance(reconstructions, np.ndarray) and reconstructions.ndim == images.ndim:
        reconstructions = [reconstructions]
    rows = [images] + [np.asarray(r) for r in reconstructions]
    titles = titles or [""] * len(reconstructions)
    if len(titles) != len(reconstructions):
        raise ValueError("give one title per array of reconstructions")
    n_images = min(n_images, len(images))
    # Fixed geometry (inches): each row is a line of text over a row of
    # square images. A layout engine would widen the first column to make
    # room for the row's name, which reaches over the images beside it.
    pad, gap, name = 0.04, 0.05, 0.3
    cell = min(1.1, (COLUMN_WIDTH - 2 * pad - (n_images - 1) * gap) / n_images)
    width = 2 * pad + n_images * cell + (n_images - 1) * gap
    height = len(rows) * (name + cell) + pad
    mpl.rcParams.update(STYLE)
    fig = plt.figure(figsize=(width, height))
    axes = np.empty((len(rows), n_images), dtype=object)
    for r, (row, label) in enumerate(zip(rows, ["original", *titles])):
        bottom = height - (r + 1) * (name + cell)
        for c in range(n_images):
            left = pad + c * (cell + gap)
            ax = fig.add_axes((left / width, bottom / height, cell / width, cell / height))
            ax.imshow(row[c], cmap="binary", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            axes[r, c] = ax
        axes[r, 0].set_title(label, loc="left", fontsize=SMALL, pad=4)
    return fig


def plot_activation_histograms(codings, title=None, bins=20):
    """Figure 17-11's two panels, one above the other: all activations, and
    each unit's mean activation.

    Introduced in chapter 1; drawn for every model after it.
    """
    codings = np.asarray(codings)
    fig, (ax_all, ax_mean) = figure(2, 1, height=5.2)
    weights = np.full(codings.size, 100.0 / codings.size)
    ax_all.hist(codings.ravel(), bins=bins, range=(0, 1), weights=weights, color="tab:blue")
    ax_all.set_xlabel("activation", fontsize=LABEL)
    ax_all.set_ylabel("% of activations", fontsize=LABEL)
    neuron_means = codings.mean(axis=0)
    weights = np.full(neuron_means.size, 100.0 / neuron_means.size)
    ax_mean.hist(neuron_means, bins=bins, range=(0, 1), weights=weights, color="tab:orange")
    ax_mean.set_xlabel("unit's mean activation", fontsize=LABEL)
    ax_mean.set_ylabel("% of units", fontsize=LABEL)
    if title:
        fig.suptitle(title, fontsize=LABEL)
    return fig


def plot_sparsity_costs(target=0.1, n_points=500):
    """Figure 17-10: KL divergence, MAE and MSE as costs of the mean activation.

    Introduced in chapter 3.
    """
    q = np.linspace(0.001, 0.999, n_points)
    kl = ops.convert_to_numpy(bernoulli_kl(target, q))
    fig, ax = figure(height=3.6)
    ax.plot(q, kl, "b-", label="KL divergence")
    ax.plot(q, np.abs(q - target), "r--", label=r"MAE ($\ell_1$)")
    ax.plot(q, np.square(q - target), "g:", linewidth=2, label=r"MSE ($\ell_2$)")
    ax.axvline(target, color="k", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 0.95)
    ax.set_xlabel("actual sparsity q (mean activation)", fontsize=LABEL)
    ax.set_ylabel("cost", fontsize=LABEL)
    ax.legend(loc="upper left", fontsize=SMALL)
    ax.grid(True, alpha=0.3)
    return fig


def plot_unit_images(images, titles=None, n_cols=None, title=None):
    """Weight-like images (one per coding unit) on a symmetric red-blue scale.

    Red is positive, blue negative, white zero; each image is scaled to its
    own largest absolute value. ``n_cols=None`` puts as many images across
    as their titles allow (at most 8). Introduced in chapter 6.
    """
    def show(ax, image):
        limit = float(np.abs(image).max()) or 1.0
        ax.imshow(image, cmap="bwr", vmin=-limit, vmax=limit)

    return _image_grid(images, titles, n_cols, title, show)


def plot_top_activating(images, codings, units, n=8, labels=None):
    """One row per unit: the ``n`` images that activate it most, with the activation.

    Each row is named by the y label of its first image: ``labels`` (one per
    unit), by default ``"unit <number>"``. Introduced in chapter 6.
    """
    codings = np.asarray(codings)
    labels = labels or [f"unit {unit}" for unit in units]
    if len(labels) != len(units):
        raise ValueError("give one label per unit")
    cell = (COLUMN_WIDTH - 1.0) / n
    fig, axes = figure(len(units), n, height=len(units) * (cell + 0.25) + 0.1,
                       squeeze=False, layout=None)
    for r, unit in enumerate(units):
        for c, i in enumerate(top_activating(codings, unit, n)):
            ax = axes[r, c]
            ax.imshow(images[i], cmap="binary", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{codings[i, unit]:.2f}", fontsize=SMALL, pad=2)
        axes[r, 0].set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=SMALL)
    # tight_layout, not a layout engine: chapter 12 renames the rows and
    # lays the figure out again with fig.tight_layout().
    fig.tight_layout(pad=0.3, h_pad=0.2, w_pad=0.2)
    return fig


def plot_tradeoff(results, front=(), marked=(), labeled=()):
    """Reconstruction loss against mean L0, one colour per family of models.

    ``results`` is a list of dicts with keys ``family``, ``label``, ``l0`` and
    ``loss``. The points whose ``label`` is in ``front`` are joined by a line
    (the trade-off front, computed by :func:`sparse_ae.metrics.pareto_front`);
    those in ``marked`` get a star and a legend entry (the book's
    settings); those in ``labeled`` are named beside the point. The legend
    is under the plot. Introduced in chapter 7.
    """
    fig, ax = figure(height=4.4)
    families = list(dict.fromkeys(r["family"] for r in results))
    colors = dict(zip(families, ["tab:blue", "tab:orange", "tab:green", "tab:red"]))
    for family in families:
        points = [r for r in results if r["family"] == family]
        ax.scatter([r["l0"] for r in points], [r["loss"] for r in points],
                   color=colors[family], label=family, s=40, zorder=2)
    on_front = sorted((r for r in results if r["label"] in front), key=lambda r: r["l0"])
    if on_front:
        ax.plot([r["l0"] for r in on_front], [r["loss"] for r in on_front], "k-",
                linewidth=1, zorder=1, label="front")
    x_max = max(r["l0"] for r in results)
    for r in results:
        if r["label"] in marked:
            ax.scatter([r["l0"]], [r["loss"]], marker="*", s=320, color=colors[r["family"]],
                       edgecolor="k", linewidth=1.0, zorder=3,
                       label=f"book: {r['label']}")
        if r["label"] in labeled:
            # Beside the point, at its height: a name above the highest
            # point would sit on the plot's top edge.
            right = r["l0"] > 0.6 * x_max
            ax.annotate(r["label"], (r["l0"], r["loss"]), fontsize=SMALL,
                        xytext=(-9 if right else 9, 0), textcoords="offset points",
                        ha="right" if right else "left", va="center")
    ax.margins(x=0.06, y=0.08)
    ax.set_xlabel("mean L0: active units per image\n(activation ≥ 0.1)", fontsize=LABEL)
    ax.set_ylabel("validation reconstruction loss", fontsize=LABEL)
    ax.grid(True, alpha=0.3)
    _legend_below(fig, *ax.get_legend_handles_labels(), ncol=2)
    return fig


def plot_curves(x, curves, xlabel, ylabel, logy=False, markers=True):
    """Several named curves over the same ``x``: ``curves`` maps a label to its y values.

    A small line plot for quantities tracked during training (chapters 6 and
    9); the legend is under the plot.
    """
    fig, ax = figure(height=3.4 + 0.25 * (-(-len(curves) // 3)))
    for label, y in curves.items():
        ax.plot(x, y, "o-" if markers else "-", label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.grid(True, alpha=0.3)
    _legend_below(fig, *ax.get_legend_handles_labels())
    return fig


# ---- Part III: an SAE on a real network (chapter 12)


def plot_feature_density(frequencies, lowest=-4.0, bin_width=0.25):
    """Feature-density histograms: ``log10`` of each latent's firing frequency.

    ``frequencies`` maps a panel title to one model's per-latent firing
    frequencies (:func:`sparse_ae.network.firing_frequency`); one panel per
    model, one above the other, sharing the x axis (the y axis is % of the
    model's latents). Latents that never fire on these examples (frequency
    0, whose logarithm does not exist) get their own red bar at the left,
    labelled "silent" (not "dead": a latent silent on a sample may fire
    elsewhere); frequencies below ``10**lowest`` are counted in the first
    bin. After Bricken et al. (2023). Introduced in chapter 12.
    """
    if not frequencies:
        raise ValueError("frequencies must map at least one title to an array")
    bins = np.arange(lowest, bin_width / 2, bin_width)
    dead_x = lowest - 0.6
    fig, axes = figure(len(frequencies), 1, height=0.4 + 2.5 * len(frequencies),
                       sharex=True, sharey=True, squeeze=False)
    for ax, (title, f) in zip(axes[:, 0], frequencies.items()):
        f = np.asarray(f, dtype=np.float64)
        dead = f == 0
        live = np.log10(np.clip(f[~dead], 10.0**lowest, 1.0))
        ax.hist(live, bins=bins, weights=np.full(live.size, 100.0 / f.size), color="tab:blue",
                label="live")
        ax.bar([dead_x], [100.0 * dead.mean()], width=0.45, color="tab:red", label="silent")
        ticks = np.arange(np.ceil(lowest), 0.5)
        ax.set_xticks([dead_x, *ticks], ["silent", *(f"{t:g}" for t in ticks)])
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_title(title, fontsize=LABEL)
        ax.set_ylabel("% of latents", fontsize=LABEL)
        ax.grid(True, axis="y", alpha=0.3)
    axes[-1, 0].set_xlabel("log10 firing frequency", fontsize=LABEL)
    return fig


def plot_sparsity_frontier(results):
    """Fraction of variance explained against L0, one line per family of SAEs.

    ``results`` is a list of dicts with keys ``family``, ``l0`` and ``fve``
    (as for :func:`plot_fve_vs_l0`); the points of a family are joined in
    order of L0, and the x axis is logarithmic (base 2). Introduced in
    chapter 12.
    """
    fig, ax = figure(height=4.0)
    families = list(dict.fromkeys(r["family"] for r in results))
    styles = [("tab:blue", "o-"), ("tab:orange", "s--"), ("tab:green", "^-"), ("tab:red", "d:")]
    for family, (color, style) in zip(families, styles):
        points = sorted((r for r in results if r["family"] == family), key=lambda r: r["l0"])
        ax.plot([r["l0"] for r in points], [r["fve"] for r in points], style, color=color,
                label=family, markersize=7)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("L0: latents firing per image", fontsize=LABEL)
    ax.set_ylabel("fraction of variance\nexplained", fontsize=LABEL)
    ax.grid(True, alpha=0.3)
    _legend_below(fig, *ax.get_legend_handles_labels(), ncol=2)
    return fig


def plot_purity(purities):
    """Box plots of class purity, one row per set of units; the mean is a diamond.

    ``purities`` maps a label to per-unit purities
    (:func:`sparse_ae.network.class_purity`); ``NaN`` entries (units not rated)
    are left out. Introduced in chapter 12.
    """
    if not purities:
        raise ValueError("purities must map at least one label to an array")
    labels = list(purities)
    data = [np.asarray(p, dtype=np.float64) for p in purities.values()]
    data = [p[~np.isnan(p)] for p in data]
    fig, ax = figure(height=0.6 * len(labels) + 1.3)
    positions = np.arange(len(labels), 0, -1)
    ax.boxplot(data, positions=positions, orientation="horizontal", widths=0.55)
    ax.scatter([p.mean() for p in data], positions, marker="D", color="tab:red", zorder=3,
               label="mean")
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("class purity of the 20 top images", fontsize=LABEL)
    ax.grid(True, axis="x", alpha=0.3)
    _legend_below(fig, *ax.get_legend_handles_labels())
    return fig


# ---- Part III: superposition and SAEs (chapters 10-11)


def plot_superposition(W, titles):
    """Elhage et al.'s picture of toy models, one row per instance.

    ``W`` has shape ``(n_instances, n_hidden, n_features)``. Left:
    ``W^T W`` (red positive, blue negative, white 0), whose diagonal holds
    ``|W_i|^2`` and whose off-diagonal entries show which features share
    directions. Right: one bar per feature, its length ``|W_i|``, its
    colour the feature's superposition (:func:`sparse_ae.toy.superposition`,
    dark for a dimension of its own, bright for a shared one, capped at 1).
    Each row is named by its title on the left. Introduced in chapter 10,
    *Superposition in a toy model*.
    """
    from .toy import feature_norms, superposition

    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 3 or len(titles) != len(W):
        raise ValueError("W must be (n_instances, n_hidden, n_features), with one title per instance")
    n_instances, _, n_features = W.shape
    row = 1.45
    fig, axes = figure(n_instances, 2, height=row * n_instances + 1.2, squeeze=False,
                       gridspec_kw={"width_ratios": [1, 1.9]})
    cmap = plt.get_cmap("plasma")
    for k in range(n_instances):
        gram = W[k].T @ W[k]
        left, right = axes[k]
        left.imshow(gram, cmap="RdBu_r", vmin=-1.2, vmax=1.2)
        left.set_xticks([])
        left.set_yticks([])
        left.set_ylabel(titles[k], rotation=0, ha="right", va="center", fontsize=LABEL)
        norms, shared = feature_norms(W[k]), np.clip(superposition(W[k]), 0, 1)
        right.barh(np.arange(n_features), norms, color=cmap(shared * 0.9), height=0.8)
        right.set_ylim(n_features - 0.5, -0.5)
        right.set_xlim(0, 1.3)
        right.set_xticks([0, 1])
        right.set_yticks([0, n_features - 1])
        right.tick_params(labelbottom=k == n_instances - 1)
    axes[0, 0].set_title(r"$W^\top W$", fontsize=LABEL)
    axes[0, 1].set_title(r"$\|W_i\|$ of feature $i$ (rows)", fontsize=LABEL)
    scale = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1 / 0.9))
    colorbar = fig.colorbar(scale, ax=axes[:, 1], location="bottom", ticks=[0, 1],
                            fraction=0.03, aspect=30, pad=0.02)
    colorbar.ax.set_xticklabels(["0", "≥ 1"], fontsize=SMALL)
    colorbar.set_label("superposition (bar colour)", fontsize=SMALL)
    return fig


def plot_feature_directions(W, titles):
    """The columns of 2-D toy models as arrows in the plane, one panel per instance.

    ``W`` has shape ``(n_instances, 2, n_features)``; feature ``i`` gets the
    same colour in every panel. The dashed circle has radius 1. Panels are
    two across; the legend takes a free panel, or goes under the figure.
    Introduced in chapter 10, *Superposition in a toy model*.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 3 or W.shape[1] != 2 or len(titles) != len(W):
        raise ValueError("W must be (n_instances, 2, n_features), with one title per instance")
    n_instances, _, n_features = W.shape
    n_cols = min(2, n_instances)
    n_rows = -(-n_instances // n_cols)
    free = n_rows * n_cols > n_instances
    fig, axes = figure(n_rows, n_cols, height=2.75 * n_rows + (0 if free else 0.6),
                       squeeze=False)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, n_features))
    circle = np.linspace(0, 2 * np.pi, 200)
    for k, ax in enumerate(axes.flat):
        if k >= n_instances:
            ax.axis("off")
            continue
        ax.plot(np.cos(circle), np.sin(circle), "--", color="0.7", linewidth=0.8)
        for i in range(n_features):
            ax.annotate("", xy=W[k, :, i], xytext=(0, 0),
                        arrowprops={"arrowstyle": "-|>", "color": colors[i], "linewidth": 2})
            ax.plot([], [], color=colors[i], linewidth=2, label=f"feature {i}")
        ax.set_xlim(-1.35, 1.35)
        ax.set_ylim(-1.35, 1.35)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles[k], fontsize=LABEL)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if free:
        axes.flat[-1].legend(handles, labels, loc="center", fontsize=SMALL, frameon=False)
    else:
        _legend_below(fig, handles, labels)
    return fig


def plot_dictionary_directions(features, dictionary):
    """True feature directions and an SAE's dictionary rows, as unit arrows in the plane.

    ``features`` ``(n, 2)`` (a 2-D toy model's columns, ``W.T``) and
    ``dictionary`` ``(k, 2)`` (the decoder rows to show) are both scaled to
    unit length. Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    features = np.asarray(features, dtype=np.float64)
    dictionary = np.asarray(dictionary, dtype=np.float64)
    if features.ndim != 2 or dictionary.ndim != 2 or features.shape[1] != 2 or dictionary.shape[1] != 2:
        raise ValueError("features and dictionary must both have shape (n, 2)")
    fig, ax = figure(width=4.6, height=4.6)
    circle = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(circle), np.sin(circle), "--", color="0.75", linewidth=0.8)
    for rows, color, width, label in [
        (features, "tab:orange", 7, "true feature"),
        (dictionary, "k", 1.6, "dictionary row"),
    ]:
        for row in rows / np.linalg.norm(rows, axis=1, keepdims=True):
            ax.annotate("", xy=row, xytext=(0, 0),
                        arrowprops={"arrowstyle": "-", "color": color, "linewidth": width, "alpha": 0.85})
        ax.plot([], [], color=color, linewidth=width, label=label)
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper right", fontsize=SMALL, framealpha=0.9)
    return fig


def plot_cosine_similarities(cosines):
    """A heatmap of cosine similarities, true features (rows) by dictionary rows (columns).

    ``cosines`` is :func:`sparse_ae.toy.cosine_similarities`'s ``(n, k)``
    matrix. Columns are reordered so that each feature's best-matching row
    comes first, in feature order, then the rows that match no feature best.
    Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    cosines = np.asarray(cosines, dtype=np.float64)
    if cosines.ndim != 2:
        raise ValueError(f"cosines must be a 2-D array, got shape {cosines.shape}")
    best = list(dict.fromkeys(int(j) for j in cosines.argmax(axis=1)))
    order = best + [j for j in np.argsort(-cosines.max(axis=0), kind="stable") if j not in best]
    n, k = cosines.shape
    fig, ax = figure(height=min(6.0, 1.4 + 0.15 * n))
    image = ax.imshow(cosines[:, order], cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xlabel("dictionary row\n(sorted by the feature it matches)", fontsize=LABEL)
    ax.set_ylabel("true feature", fontsize=LABEL)
    ax.set_xticks([])
    ax.set_yticks([0, n - 1])
    colorbar = fig.colorbar(image, ax=ax, ticks=[-1, 0, 1], fraction=0.05, pad=0.02)
    colorbar.ax.tick_params(labelsize=SMALL)
    colorbar.set_label("cosine", fontsize=SMALL)
    return fig


def plot_curve_panels(x, panels, xlabel):
    """Line plots over the same ``x``, one above the other, with one shared legend.

    ``panels`` maps each panel's y label to ``{curve label: y values}``; a
    curve label gets the same colour in every panel. Introduced in chapter 11,
    *Recovering the features with an SAE*.
    """
    fig, axes = figure(len(panels), 1, height=0.7 + 1.9 * len(panels), sharex=True,
                       squeeze=False)
    colors = {}
    for ax, (ylabel, curves) in zip(axes[:, 0], panels.items()):
        for label, y in curves.items():
            color = colors.setdefault(label, f"C{len(colors)}")
            ax.plot(x, y, "-", color=color, linewidth=2, label=label)
        ax.set_ylabel(ylabel, fontsize=LABEL)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel(xlabel, fontsize=LABEL)
    handles = {label: plt.Line2D([], [], color=color, linewidth=2) for label, color in colors.items()}
    _legend_below(fig, list(handles.values()), list(handles.keys()))
    return fig


def plot_fve_vs_l0(runs):
    """Fraction of variance explained against L0, one colour and marker per family of SAEs.

    ``runs`` is a list of dicts with keys ``family``, ``l0`` and ``fve``; the
    legend is under the plot. Introduced in chapter 11, *Recovering the
    features with an SAE*.
    """
    fig, ax = figure(height=4.2)
    families = list(dict.fromkeys(r["family"] for r in runs))
    for n, family in enumerate(families):
        points = [r for r in runs if r["family"] == family]
        ax.scatter([r["l0"] for r in points], [r["fve"] for r in points], s=55, color=f"C{n}",
                   marker="osD^v"[n % 5], label=family, alpha=0.85, zorder=2)
    ax.set_xlabel("L0: latents active per example", fontsize=LABEL)
    ax.set_ylabel("fraction of variance\nexplained", fontsize=LABEL)
    ax.grid(True, alpha=0.3)
    _legend_below(fig, *ax.get_legend_handles_labels(), ncol=1)
    return fig
