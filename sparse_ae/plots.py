"""The book's figures. Each function only draws, and returns its ``Figure``.

Computing stays in :mod:`sparse_ae.metrics` and :mod:`sparse_ae.regularizers`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from keras import ops

from .features import top_activating
from .regularizers import bernoulli_kl

__all__ = [
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

#: Font sizes (points) for labels and for tick labels, titles of small panels
#: and legends: legible at the width of the book's text column (chapter 1 on).
LABEL = 12
SMALL = 11


def plot_images(images, titles=None, n_cols=8):
    """A grid of 28x28 images with optional titles. Introduced in chapter 1."""
    images = np.asarray(images)
    n_rows = -(-len(images) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.0 * n_cols, 1.3 * n_rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="binary", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=SMALL)
    fig.tight_layout()
    return fig


def plot_reconstructions(images, reconstructions, n_images=5, titles=None):
    """Originals on the top row, one row of reconstructions per model below.

    ``reconstructions`` is one array or a list of arrays (one per model), each
    shaped like ``images``. Introduced in chapter 1.
    """
    images = np.asarray(images)
    if isinstance(reconstructions, np.ndarray) and reconstructions.ndim == images.ndim:
        reconstructions = [reconstructions]
    rows = [images] + [np.asarray(r) for r in reconstructions]
    titles = titles or [""] * len(reconstructions)
    if len(titles) != len(reconstructions):
        raise ValueError("give one title per array of reconstructions")
    n_images = min(n_images, len(images))
    fig, axes = plt.subplots(
        len(rows), n_images, figsize=(0.95 * n_images + 1.3, 1.0 * len(rows) + 0.2), squeeze=False
    )
    for r, (row, label) in enumerate(zip(rows, ["original", *titles])):
        for c in range(n_images):
            ax = axes[r, c]
            ax.imshow(row[c], cmap="binary", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=LABEL)
    fig.tight_layout()
    return fig


def plot_activation_histograms(codings, title=None, bins=20):
    """Figure 17-11's two panels: all activations, and each unit's mean activation.

    Introduced in chapter 1; drawn for every model after it.
    """
    codings = np.asarray(codings)
    fig, (ax_all, ax_mean) = plt.subplots(1, 2, figsize=(8, 3.4))
    weights = np.full(codings.size, 100.0 / codings.size)
    ax_all.hist(codings.ravel(), bins=bins, range=(0, 1), weights=weights, color="tab:blue")
    ax_all.set_xlabel("activation", fontsize=LABEL)
    ax_all.set_ylabel("% of activations", fontsize=LABEL)
    neuron_means = codings.mean(axis=0)
    weights = np.full(neuron_means.size, 100.0 / neuron_means.size)
    ax_mean.hist(neuron_means, bins=bins, range=(0, 1), weights=weights, color="tab:orange")
    ax_mean.set_xlabel("unit's mean activation", fontsize=LABEL)
    ax_mean.set_ylabel("% of units", fontsize=LABEL)
    for ax in (ax_all, ax_mean):
        ax.tick_params(labelsize=SMALL)
    if title:
        fig.suptitle(title, fontsize=LABEL)
    fig.tight_layout()
    return fig


def plot_sparsity_costs(target=0.1, n_points=500):
    """Figure 17-10: KL divergence, MAE and MSE as costs of the mean activation.

    Introduced in chapter 3.
    """
    q = np.linspace(0.001, 0.999, n_points)
    kl = ops.convert_to_numpy(bernoulli_kl(target, q))
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(q, kl, "b-", label="KL divergence")
    ax.plot(q, np.abs(q - target), "r--", label=r"MAE ($\ell_1$)")
    ax.plot(q, np.square(q - target), "g:", linewidth=2, label=r"MSE ($\ell_2$)")
    ax.axvline(target, color="k", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 0.95)
    ax.set_xlabel("actual sparsity q (mean activation)", fontsize=LABEL)
    ax.set_ylabel("cost", fontsize=LABEL)
    ax.tick_params(labelsize=SMALL)
    ax.legend(loc="upper left", fontsize=SMALL)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_unit_images(images, titles=None, n_cols=8, title=None):
    """Weight-like images (one per coding unit) on a symmetric red-blue scale.

    Red is positive, blue negative, white zero; each image is scaled to its
    own largest absolute value. Introduced in chapter 6.
    """
    images = np.asarray(images)
    n_rows = -(-len(images) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(0.95 * n_cols, 1.2 * n_rows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            limit = float(np.abs(images[i]).max()) or 1.0
            ax.imshow(images[i], cmap="bwr", vmin=-limit, vmax=limit)
            if titles is not None:
                ax.set_title(titles[i], fontsize=SMALL)
    if title:
        fig.suptitle(title, fontsize=LABEL)
    fig.tight_layout()
    return fig


def plot_top_activating(images, codings, units, n=8):
    """One row per unit: the ``n`` images that activate it most, with the activation.

    Introduced in chapter 6.
    """
    codings = np.asarray(codings)
    fig, axes = plt.subplots(len(units), n, figsize=(0.95 * n + 1.2, 1.2 * len(units)), squeeze=False)
    for r, unit in enumerate(units):
        for c, i in enumerate(top_activating(codings, unit, n)):
            ax = axes[r, c]
            ax.imshow(images[i], cmap="binary", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{codings[i, unit]:.2f}", fontsize=SMALL)
        axes[r, 0].set_ylabel(f"unit {unit}", rotation=0, ha="right", va="center", fontsize=LABEL)
    fig.tight_layout()
    return fig


def plot_tradeoff(results, front=(), marked=(), labeled=()):
    """Reconstruction loss against mean L0, one colour per family of models.

    ``results`` is a list of dicts with keys ``family``, ``label``, ``l0`` and
    ``loss``. The points whose ``label`` is in ``front`` are joined by a line
    (the trade-off front, computed by :func:`sparse_ae.metrics.pareto_front`);
    those in ``marked`` get a star and a legend entry (the book's
    settings); those in ``labeled`` are named beside the point. Introduced
    in chapter 7.
    """
    fig, ax = plt.subplots(figsize=(7, 4.4))
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
            right = r["l0"] > 0.6 * x_max
            ax.annotate(r["label"], (r["l0"], r["loss"]), fontsize=SMALL,
                        xytext=(-8 if right else 8, 6), textcoords="offset points",
                        ha="right" if right else "left")
    ax.set_xlabel("mean L0: active units per image (activation ≥ 0.1)", fontsize=LABEL)
    ax.set_ylabel("validation reconstruction loss", fontsize=LABEL)
    ax.tick_params(labelsize=SMALL)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=SMALL)
    fig.tight_layout()
    return fig


def plot_curves(x, curves, xlabel, ylabel, logy=False, markers=True):
    """Several named curves over the same ``x``: ``curves`` maps a label to its y values.

    A small line plot for quantities tracked during training (chapters 6 and 9).
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for label, y in curves.items():
        ax.plot(x, y, "o-" if markers else "-", label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.tick_params(labelsize=SMALL)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=SMALL)
    fig.tight_layout()
    return fig


# ---- Part III: an SAE on a real network (chapter 12)


def plot_feature_density(frequencies, lowest=-4.0, bin_width=0.25):
    """Feature-density histograms: ``log10`` of each latent's firing frequency.

    ``frequencies`` maps a panel title to one model's per-latent firing
    frequencies (:func:`sparse_ae.network.firing_frequency`); one panel per
    model, side by side, sharing the y axis (% of the model's latents).
    Latents that never fire on these examples (frequency 0, whose logarithm
    does not exist) get their own red bar at the left, labelled "silent"
    (not "dead": a latent silent on a sample may fire elsewhere);
    frequencies below ``10**lowest`` are
    counted in the first bin. After Bricken et al. (2023). Introduced in
    chapter 12.
    """
    if not frequencies:
        raise ValueError("frequencies must map at least one title to an array")
    bins = np.arange(lowest, bin_width / 2, bin_width)
    dead_x = lowest - 0.6
    fig, axes = plt.subplots(1, len(frequencies), figsize=(4.2 * len(frequencies), 3.6),
                             sharey=True, squeeze=False)
    for ax, (title, f) in zip(axes[0], frequencies.items()):
        f = np.asarray(f, dtype=np.float64)
        dead = f == 0
        live = np.log10(np.clip(f[~dead], 10.0**lowest, 1.0))
        ax.hist(live, bins=bins, weights=np.full(live.size, 100.0 / f.size), color="tab:blue",
                label="live")
        ax.bar([dead_x], [100.0 * dead.mean()], width=0.45, color="tab:red", label="silent")
        ticks = np.arange(np.ceil(lowest), 0.5)
        ax.set_xticks([dead_x, *ticks], ["silent", *(f"{t:g}" for t in ticks)])
        ax.set_title(title, fontsize=LABEL)
        ax.set_xlabel("log10 firing frequency", fontsize=LABEL)
        ax.tick_params(labelsize=SMALL)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("% of latents", fontsize=LABEL)
    fig.tight_layout()
    return fig


def plot_sparsity_frontier(results):
    """Fraction of variance explained against L0, one line per family of SAEs.

    ``results`` is a list of dicts with keys ``family``, ``l0`` and ``fve``
    (as for :func:`plot_fve_vs_l0`); the points of a family are joined in
    order of L0, and the x axis is logarithmic (base 2). Introduced in
    chapter 12.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2))
    families = list(dict.fromkeys(r["family"] for r in results))
    styles = [("tab:blue", "o-"), ("tab:orange", "s--"), ("tab:green", "^-"), ("tab:red", "d:")]
    for family, (color, style) in zip(families, styles):
        points = sorted((r for r in results if r["family"] == family), key=lambda r: r["l0"])
        ax.plot([r["l0"] for r in points], [r["fve"] for r in points], style, color=color,
                label=family, markersize=7)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("L0: latents firing per image", fontsize=LABEL)
    ax.set_ylabel("fraction of variance explained", fontsize=LABEL)
    ax.tick_params(labelsize=SMALL)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=SMALL)
    fig.tight_layout()
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
    fig, ax = plt.subplots(figsize=(7, 0.7 * len(labels) + 1.3))
    positions = np.arange(len(labels), 0, -1)
    ax.boxplot(data, positions=positions, orientation="horizontal", widths=0.55)
    ax.scatter([p.mean() for p in data], positions, marker="D", color="tab:red", zorder=3,
               label="mean")
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("class purity of the 20 top images", fontsize=LABEL)
    ax.tick_params(labelsize=SMALL)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=SMALL, loc="lower left")
    fig.tight_layout()
    return fig


# ---- Part III: superposition and SAEs (chapters 10-11)


def plot_superposition(W, titles):
    """Elhage et al.'s picture of toy models, one column per instance.

    ``W`` has shape ``(n_instances, n_hidden, n_features)``. Top row:
    ``W^T W`` (red positive, blue negative, white 0), whose diagonal holds
    ``|W_i|^2`` and whose off-diagonal entries show which features share
    directions. Bottom row: one bar per feature, its length ``|W_i|``, its
    colour the feature's superposition (:func:`sparse_ae.toy.superposition`,
    dark for a dimension of its own, bright for a shared one, capped at 1).
    Introduced in chapter 10, *Superposition in a toy model*.
    """
    from .toy import feature_norms, superposition

    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 3 or len(titles) != len(W):
        raise ValueError("W must be (n_instances, n_hidden, n_features), with one title per instance")
    n_instances, _, n_features = W.shape
    fig, axes = plt.subplots(
        2, n_instances, figsize=(min(9.0, 1.5 * n_instances + 0.9), 5.0), squeeze=False,
        gridspec_kw={"height_ratios": [1, 1.25]},
    )
    cmap = plt.get_cmap("plasma")
    for k in range(n_instances):
        gram = W[k].T @ W[k]
        top, bottom = axes[0, k], axes[1, k]
        top.imshow(gram, cmap="RdBu_r", vmin=-1.2, vmax=1.2)
        top.set_xticks([])
        top.set_yticks([])
        top.set_title(titles[k], fontsize=SMALL)
        norms, shared = feature_norms(W[k]), np.clip(superposition(W[k]), 0, 1)
        bottom.barh(np.arange(n_features), norms, color=cmap(shared * 0.9), height=0.8)
        bottom.set_ylim(n_features - 0.5, -0.5)
        bottom.set_xlim(0, 1.3)
        bottom.set_xticks([0, 1])
        bottom.set_yticks([] if k else [0, n_features - 1])
        bottom.tick_params(labelsize=SMALL)
        bottom.set_xlabel(r"$\|W_i\|$", fontsize=SMALL)
    axes[0, 0].set_ylabel(r"$W^\top W$", fontsize=LABEL)
    axes[1, 0].set_ylabel("feature $i$", fontsize=LABEL)
    fig.tight_layout()
    fig.subplots_adjust(right=0.86)
    bar = fig.add_axes([0.89, 0.1, 0.02, 0.38])
    scale = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1 / 0.9))
    colorbar = fig.colorbar(scale, cax=bar, ticks=[0, 1])
    colorbar.ax.set_yticklabels(["0", "≥ 1"], fontsize=SMALL)
    colorbar.set_label("superposition", fontsize=SMALL)
    return fig


def plot_feature_directions(W, titles):
    """The columns of 2-D toy models as arrows in the plane, one panel per instance.

    ``W`` has shape ``(n_instances, 2, n_features)``; feature ``i`` gets the
    same colour in every panel. The dashed circle has radius 1. Introduced in
    chapter 10, *Superposition in a toy model*.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 3 or W.shape[1] != 2 or len(titles) != len(W):
        raise ValueError("W must be (n_instances, 2, n_features), with one title per instance")
    n_instances, _, n_features = W.shape
    size = min(3.0, 9.0 / n_instances)
    fig, axes = plt.subplots(1, n_instances, figsize=(size * n_instances, size + 0.9), squeeze=False)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, n_features))
    circle = np.linspace(0, 2 * np.pi, 200)
    for k, ax in enumerate(axes[0]):
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
        ax.set_title(titles[k], fontsize=SMALL)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=min(n_features, 5),
               fontsize=SMALL, frameon=False, handlelength=1.2, columnspacing=1.0)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
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
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
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
    fig.tight_layout()
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
    fig, ax = plt.subplots(figsize=(min(9.0, 2.0 + 0.17 * k), 1.6 + 0.17 * n))
    image = ax.imshow(cosines[:, order], cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xlabel("dictionary row (sorted by the feature it matches)", fontsize=LABEL)
    ax.set_ylabel("true feature", fontsize=LABEL)
    ax.set_xticks([])
    ax.set_yticks([0, n - 1])
    ax.tick_params(labelsize=SMALL)
    colorbar = fig.colorbar(image, ax=ax, ticks=[-1, 0, 1], fraction=0.04, pad=0.02)
    colorbar.ax.tick_params(labelsize=SMALL)
    colorbar.set_label("cosine", fontsize=SMALL)
    fig.tight_layout()
    return fig


def plot_curve_panels(x, panels, xlabel):
    """Side-by-side line plots over the same ``x``, with one shared legend.

    ``panels`` maps each panel's y label to ``{curve label: y values}``; a
    curve label gets the same colour in every panel. Introduced in chapter 11,
    *Recovering the features with an SAE*.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(min(9.0, 3.0 * len(panels)), 3.4), squeeze=False)
    colors = {}
    for ax, (ylabel, curves) in zip(axes[0], panels.items()):
        for label, y in curves.items():
            color = colors.setdefault(label, f"C{len(colors)}")
            ax.plot(x, y, "-", color=color, linewidth=2, label=label)
        ax.set_xlabel(xlabel, fontsize=LABEL)
        ax.set_ylabel(ylabel, fontsize=LABEL)
        ax.tick_params(labelsize=SMALL)
        ax.grid(True, alpha=0.3)
    handles = {label: plt.Line2D([], [], color=color, linewidth=2) for label, color in colors.items()}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles),
               fontsize=SMALL, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def plot_fve_vs_l0(runs):
    """Fraction of variance explained against L0, one colour and marker per family of SAEs.

    ``runs`` is a list of dicts with keys ``family``, ``l0`` and ``fve``.
    Introduced in chapter 11, *Recovering the features with an SAE*.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    families = list(dict.fromkeys(r["family"] for r in runs))
    for n, family in enumerate(families):
        points = [r for r in runs if r["family"] == family]
        ax.scatter([r["l0"] for r in points], [r["fve"] for r in points], s=55, color=f"C{n}",
                   marker="osD^v"[n % 5], label=family, alpha=0.85, zorder=2)
    ax.set_xlabel("L0: latents active per example", fontsize=LABEL)
    ax.set_ylabel("fraction of variance explained", fontsize=LABEL)
    ax.tick_params(labelsize=SMALL)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=SMALL)
    fig.tight_layout()
    return fig
