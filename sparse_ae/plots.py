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
]


def plot_images(images, titles=None, n_cols=8):
    """A grid of 28x28 images with optional titles. Introduced in chapter 1."""
    images = np.asarray(images)
    n_rows = -(-len(images) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.3 * n_cols, 1.5 * n_rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="binary", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
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
        len(rows), n_images, figsize=(1.5 * n_images, 1.6 * len(rows)), squeeze=False
    )
    for r, (row, label) in enumerate(zip(rows, ["original", *titles])):
        for c in range(n_images):
            ax = axes[r, c]
            ax.imshow(row[c], cmap="binary", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def plot_activation_histograms(codings, title=None, bins=20):
    """Figure 17-11's two panels: all activations, and each unit's mean activation.

    Introduced in chapter 1; drawn for every model after it.
    """
    codings = np.asarray(codings)
    fig, (ax_all, ax_mean) = plt.subplots(1, 2, figsize=(9, 3.2))
    weights = np.full(codings.size, 100.0 / codings.size)
    ax_all.hist(codings.ravel(), bins=bins, range=(0, 1), weights=weights, color="tab:blue")
    ax_all.set_xlabel("activation")
    ax_all.set_ylabel("% of activations")
    neuron_means = codings.mean(axis=0)
    weights = np.full(neuron_means.size, 100.0 / neuron_means.size)
    ax_mean.hist(neuron_means, bins=bins, range=(0, 1), weights=weights, color="tab:orange")
    ax_mean.set_xlabel("neuron mean activation")
    ax_mean.set_ylabel("% of neurons")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_sparsity_costs(target=0.1, n_points=500):
    """Figure 17-10: KL divergence, MAE and MSE as costs of the mean activation.

    Introduced in chapter 3.
    """
    q = np.linspace(0.001, 0.999, n_points)
    kl = ops.convert_to_numpy(bernoulli_kl(target, q))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(q, kl, "b-", label="KL divergence")
    ax.plot(q, np.abs(q - target), "r--", label="MAE ($\\ell_1$)")
    ax.plot(q, np.square(q - target), "g:", linewidth=2, label="MSE ($\\ell_2$)")
    ax.axvline(target, color="k", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 0.95)
    ax.set_xlabel("actual sparsity (mean activation)")
    ax.set_ylabel("cost")
    ax.legend(loc="upper left")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_unit_images(images, titles=None, n_cols=10, title=None):
    """Weight-like images (one per coding unit) on a symmetric red-blue scale.

    Red is positive, blue negative, white zero; each image is scaled to its
    own largest absolute value. Introduced in chapter 6.
    """
    images = np.asarray(images)
    n_rows = -(-len(images) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.1 * n_cols, 1.2 * n_rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            limit = float(np.abs(images[i]).max()) or 1.0
            ax.imshow(images[i], cmap="bwr", vmin=-limit, vmax=limit)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_top_activating(images, codings, units, n=8):
    """One row per unit: the ``n`` images that activate it most, with the activation.

    Introduced in chapter 6.
    """
    codings = np.asarray(codings)
    fig, axes = plt.subplots(len(units), n, figsize=(1.1 * n, 1.25 * len(units)), squeeze=False)
    for r, unit in enumerate(units):
        for c, i in enumerate(top_activating(codings, unit, n)):
            ax = axes[r, c]
            ax.imshow(images[i], cmap="binary", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{codings[i, unit]:.2f}", fontsize=8)
        axes[r, 0].set_ylabel(f"unit {unit}", rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def plot_tradeoff(results, marked=()):
    """Reconstruction loss against mean L0, one colour per family of models.

    ``results`` is a list of dicts with keys ``family``, ``label``, ``l0`` and
    ``loss``; points whose ``label`` is in ``marked`` get a star. Introduced
    in chapter 7.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2))
    families = list(dict.fromkeys(r["family"] for r in results))
    for family, color in zip(families, ["tab:blue", "tab:orange", "tab:green", "tab:red"]):
        points = [r for r in results if r["family"] == family]
        ax.scatter([r["l0"] for r in points], [r["loss"] for r in points], color=color, label=family, zorder=2)
        for r in points:
            ax.annotate(r["label"], (r["l0"], r["loss"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
    for r in results:
        if r["label"] in marked:
            ax.scatter([r["l0"]], [r["loss"]], marker="*", s=260, facecolor="none",
                       edgecolor="k", linewidth=1.2, zorder=3)
    ax.set_xlabel("mean L0: active units per image (activation ≥ 0.1)")
    ax.set_ylabel("validation reconstruction loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
