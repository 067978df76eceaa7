"""Tests of sparse_ae.toy: the toy model of superposition, on either backend.

Expectations are computed independently in NumPy from the model's weights.
"""

import keras
import numpy as np
import pytest

from sparse_ae.toy import (
    ToyModel,
    cosine_similarities,
    feature_norms,
    geometric_importance,
    max_cosine_similarity,
    neighbour_angles,
    superposition,
    toy_features,
)

N_FEATURES, N_HIDDEN, N_INSTANCES = 6, 3, 4


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def model_and_data(n_examples=50, importance=None, seed=0):
    model = ToyModel(N_FEATURES, N_HIDDEN, n_instances=N_INSTANCES, importance=importance, seed=seed)
    model.b.assign(np.random.default_rng(seed).normal(size=(N_INSTANCES, N_FEATURES)) * 0.1)
    x = toy_features(n_examples, N_FEATURES, [0.0, 0.3, 0.6, 0.9], seed=seed)
    return model, x


def forward(model, x):
    """``(h, x_hat)`` in NumPy, one instance at a time."""
    W = to_numpy(model.W).astype(np.float64)
    b = to_numpy(model.b).astype(np.float64)
    h = np.stack([x[:, k] @ W[k].T for k in range(len(W))], axis=1)
    x_hat = np.stack([np.maximum(h[:, k] @ W[k] + b[k], 0) for k in range(len(W))], axis=1)
    return h, x_hat


def expected_instance_losses(model, x, importance):
    _, x_hat = forward(model, x)
    return (importance * (x - x_hat) ** 2).sum(axis=2).mean(axis=0)


# ------------------------------------------------------------------ data


def test_toy_features_shapes_and_reproducibility():
    single = toy_features(100, 7, 0.5, seed=1)
    assert single.shape == (100, 7) and single.dtype == np.float32
    several = toy_features(100, 7, [0.1, 0.5, 0.9], seed=1)
    assert several.shape == (100, 3, 7)
    np.testing.assert_array_equal(toy_features(100, 7, [0.1, 0.5], seed=1), toy_features(100, 7, [0.1, 0.5], seed=1))
    assert not np.array_equal(toy_features(100, 7, 0.5, seed=1), toy_features(100, 7, 0.5, seed=2))


def test_toy_features_sparsity_and_range():
    sparsities = np.array([0.0, 0.5, 0.9, 0.99])
    n = 20_000
    x = toy_features(n, 10, sparsities, seed=0)
    assert x.min() >= 0.0 and x.max() <= 1.0, "features lie in [0, 1]"
    zero_share = (x == 0).mean(axis=(0, 2))
    # Binomial standard error of a share measured on n * 10 draws: < 0.004.
    np.testing.assert_allclose(zero_share, sparsities, atol=0.01,
                               err_msg="a feature must be 0 with probability `sparsity`")
    present = x[:, 0][x[:, 0] > 0]
    assert present.mean() == pytest.approx(0.5, abs=0.01), "present features are uniform on [0, 1]"
    assert np.quantile(present, 0.9) == pytest.approx(0.9, abs=0.01)
    assert (x[:, 0] > 0).all(), "sparsity 0: every feature is present"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_examples": 0}, "n_examples"),
        ({"n_examples": 2.5}, "n_examples"),
        ({"n_features": -1}, "n_features"),
        ({"sparsity": 1.0}, "sparsity"),
        ({"sparsity": -0.1}, "sparsity"),
        ({"sparsity": float("nan")}, "sparsity"),
        ({"sparsity": [[0.1, 0.2]]}, "sparsity"),
        ({"sparsity": []}, "sparsity"),
        ({"sparsity": "dense"}, "sparsity"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_toy_features_bad_arguments(kwargs, name):
    args = {"n_examples": 10, "n_features": 5, "sparsity": 0.5, **kwargs}
    with pytest.raises(ValueError, match=f"^{name}"):
        toy_features(**args)


def test_geometric_importance():
    np.testing.assert_allclose(geometric_importance(4, 0.7), [1.0, 0.7, 0.49, 0.343])
    np.testing.assert_array_equal(geometric_importance(3, 1), [1.0, 1.0, 1.0])
    for bad in (0, 1.5, -0.5, "x"):
        with pytest.raises(ValueError, match="^ratio"):
            geometric_importance(4, bad)
    with pytest.raises(ValueError, match="^n_features"):
        geometric_importance(0, 0.5)


# ----------------------------------------------------------------- model


def test_shapes_and_forward_pass():
    model, x = model_and_data()
    assert model.weight_matrix.shape == (N_INSTANCES, N_HIDDEN, N_FEATURES)
    h, x_hat = forward(model, x)
    got_h = to_numpy(model.hidden(x))
    assert got_h.shape == (len(x), N_INSTANCES, N_HIDDEN)
    np.testing.assert_allclose(got_h, h, atol=1e-5, err_msg="h must be W x, per instance")
    got = to_numpy(model(x))
    assert got.shape == x.shape
    np.testing.assert_allclose(got, x_hat, atol=1e-5, err_msg="x_hat must be ReLU(W^T h + b)")
    assert (got >= 0).all()
    np.testing.assert_allclose(model.predict(x, verbose=0), x_hat, atol=1e-5)


def test_loss_is_the_importance_weighted_squared_error():
    importance = geometric_importance(N_FEATURES, 0.7)
    model, x = model_and_data(importance=importance)
    model.compile(optimizer="sgd")
    expected = expected_instance_losses(model, x, importance)
    np.testing.assert_allclose(model.instance_losses(x), expected, rtol=1e-5)
    evaluated = model.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)["loss"]
    assert evaluated == pytest.approx(expected.sum(), rel=1e-5), (
        "the loss is the sum over instances of mean_examples sum_i I_i (x_i - x_hat_i)^2"
    )
    unweighted = expected_instance_losses(model, x, np.ones(N_FEATURES))
    assert not np.allclose(unweighted, expected), "the test must tell weighted from unweighted"


def test_instances_train_independently():
    """One SGD step on all instances moves instance 2 exactly as training a
    one-instance model on instance 2's data alone would."""
    model, x = model_and_data(seed=3)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    single = ToyModel(N_FEATURES, N_HIDDEN, n_instances=1)
    single.W.assign(to_numpy(model.W)[2:3])
    single.b.assign(to_numpy(model.b)[2:3])
    single.compile(optimizer=keras.optimizers.SGD(0.1))
    model.train_on_batch(x)
    single.train_on_batch(x[:, 2:3])
    np.testing.assert_allclose(model.weight_matrix[2], single.weight_matrix[0], atol=1e-6)
    np.testing.assert_allclose(to_numpy(model.b)[2], to_numpy(single.b)[0], atol=1e-6)


def test_best_instances_picks_the_lowest_loss_in_each_group():
    model, x = model_and_data()  # 4 instances: 2 settings of 2 starts
    losses = model.instance_losses(x)
    expected = [int(np.argmin(losses[:2])), 2 + int(np.argmin(losses[2:]))]
    np.testing.assert_array_equal(model.best_instances(x, 2), expected)
    assert model.best_instances(x, 1).tolist() == [int(np.argmin(losses))]
    with pytest.raises(ValueError, match="n_settings=3 does not divide"):
        model.best_instances(x, 3)
    with pytest.raises(ValueError, match="^n_settings"):
        model.best_instances(x, 0)
    with pytest.raises(ValueError, match="^tolerance"):
        model.best_instances(x, 2, tolerance=-0.01)
    with pytest.raises(ValueError, match="^tolerance"):
        model.best_instances(x, 2, tolerance=float("nan"))


def test_best_instances_prefers_the_first_start_within_the_tolerance():
    """A start whose loss is within ``tolerance`` of the lowest wins if it
    comes first: a tiny change of the losses (another CPU's rounding) must
    not flip the pick between two nearly equal starts."""
    model = ToyModel(N_FEATURES, N_HIDDEN, n_instances=3, seed=0)
    model.W.assign(np.zeros((3, N_HIDDEN, N_FEATURES)))
    # with W = 0, x_hat = ReLU(b): the bias alone sets each loss
    model.b.assign(np.array([[0.47], [0.5], [0.9]]) * np.ones((3, N_FEATURES)))
    one = toy_features(2000, N_FEATURES, 0.0, seed=0)
    x = np.repeat(one[:, None, :], 3, axis=1)  # the same data for all three
    losses = model.instance_losses(x)
    assert np.argmin(losses) == 1 and losses[0] > losses[1], "instance 1 should be best (b = mean of x)"
    excess = losses[0] / losses[1] - 1
    assert 0 < excess < 0.02 < losses[2] / losses[1] - 1
    assert model.best_instances(x, 1).tolist() == [0], "the default 2% admits start 0, which comes first"
    assert model.best_instances(x, 1, tolerance=0).tolist() == [1], "tolerance 0 is the argmin"
    assert model.best_instances(x, 1, tolerance=excess / 2).tolist() == [1]
    assert model.best_instances(x, 1, tolerance=10.0).tolist() == [0]


def test_dense_features_keep_the_most_important_ones():
    """Elhage et al.'s dense regime: with 0% sparsity, a trained model stores
    the m most important features in orthogonal directions and drops the rest."""
    keras.utils.set_random_seed(0)
    model = ToyModel(4, 2, importance=geometric_importance(4, 0.5), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    x = toy_features(4096, 4, [0.0], seed=0)
    model.fit(x, epochs=60, batch_size=512, verbose=0)
    W = model.weight_matrix[0]
    norms = feature_norms(W)
    np.testing.assert_allclose(norms[:2], 1.0, atol=0.05)
    assert (norms[2:] < 0.1).all(), f"the less important features should be dropped: {norms}"
    assert superposition(W)[:2] == pytest.approx([0, 0], abs=0.01), "and the kept ones are orthogonal"


def test_seeded_initialisation_is_reproducible():
    a, b, c = (ToyModel(N_FEATURES, N_HIDDEN, seed=s).weight_matrix for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.std(ToyModel(200, 100, seed=0).weight_matrix) == pytest.approx(np.sqrt(2 / 300), rel=0.05)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_features": 0}, "n_features"),
        ({"n_hidden": 1.5}, "n_hidden"),
        ({"n_instances": 0}, "n_instances"),
        ({"n_instances": True}, "n_instances"),
        ({"importance": [1.0, 0.5]}, "importance"),
        ({"importance": [1.0, 0.5, 0.2, 0.1, 0.0, 0.1]}, "importance"),
        ({"importance": "high"}, "importance"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_arguments(kwargs, name):
    args = {"n_features": N_FEATURES, "n_hidden": N_HIDDEN, **kwargs}
    with pytest.raises(ValueError, match=f"^{name}"):
        ToyModel(args.pop("n_features"), args.pop("n_hidden"), **args)


def test_wrong_input_shape_and_compiled_loss():
    model, x = model_and_data()
    with pytest.raises(ValueError, match="n_instances=4"):
        model(x[:, :2])
    with pytest.raises(ValueError, match="n_instances=4"):
        model.hidden(x[:, 0])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="optimizer only"):
        model.fit(x, verbose=0)


def test_config_round_trip_and_save(tmp_path):
    importance = geometric_importance(N_FEATURES, 0.9)
    model, x = model_and_data(importance=importance)
    config = model.get_config()
    assert config["importance"] == pytest.approx(list(importance))
    clone = ToyModel.from_config(config)
    assert clone.get_config() == config
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, verbose=0)
    model.save(tmp_path / "toy.keras")
    loaded = keras.models.load_model(tmp_path / "toy.keras")
    assert isinstance(loaded, ToyModel)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert keras.saving.get_registered_object("sparse_ae>ToyModel") is ToyModel


# ---------------------------------------------------------------- measures


def test_feature_norms_and_superposition():
    W = np.array([[1.0, 0.0, -1.0, 0.0], [0.0, 2.0, 0.0, 0.0]])  # 4 features in 2 dims
    np.testing.assert_allclose(feature_norms(W), [1, 2, 1, 0])
    # Feature 0 and 2 are antipodal: each sees the other fully; feature 1 is
    # orthogonal to both; feature 3 has no direction and scores 0.
    np.testing.assert_allclose(superposition(W), [1, 0, 1, 0])
    # Half-way between: (W_0_hat . W_1)^2 = (2 cos 45)^2 = 2.
    W = np.array([[1.0, np.sqrt(2)], [0.0, np.sqrt(2)]])
    np.testing.assert_allclose(superposition(W), [2, 0.5])
    stacked = np.stack([W, 2 * W])
    np.testing.assert_allclose(superposition(stacked), [[2, 0.5], [8, 2]])
    assert feature_norms(stacked).shape == (2, 2)
    with pytest.raises(ValueError, match="^W"):
        superposition(np.ones(3))
    with pytest.raises(ValueError, match="^W"):
        feature_norms([[np.nan, 1.0]])


def test_neighbour_angles():
    angles = np.radians(np.array([0, 72, 144, 216, 288]) + 10)
    pentagon = np.stack([np.cos(angles), np.sin(angles)], axis=1) * [[1], [2], [1], [3], [1]]
    np.testing.assert_allclose(neighbour_angles(pentagon[::-1]), 72.0)
    square_and_gap = np.array([[1, 0], [0, 1], [-1, 0]])
    np.testing.assert_allclose(neighbour_angles(square_and_gap), [90, 90, 180])
    with pytest.raises(ValueError, match="^vectors"):
        neighbour_angles(np.ones((4, 3)))


def test_max_cosine_similarity():
    directions = np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    dictionary = np.array([[2.0, 0.0], [0.0, -1.0], [0.6, 0.8]])
    np.testing.assert_allclose(
        max_cosine_similarity(directions, dictionary), [1.0, 0.8, np.sqrt(2) * 0.7]
    )
    cosines = cosine_similarities(directions, dictionary)
    assert cosines.shape == (3, 3)
    np.testing.assert_allclose(cosines[1], [0.0, -1.0, 0.8], atol=1e-12)
    with pytest.raises(ValueError, match="same width"):
        max_cosine_similarity(directions, np.ones((3, 3)))
    with pytest.raises(ValueError, match="zero rows"):
        max_cosine_similarity(directions, np.zeros((1, 2)))


# ------------------------------------------- figures of chapters 10 and 11


def test_plot_superposition():
    import matplotlib

    matplotlib.use("agg")
    from sparse_ae.plots import plot_superposition

    W = np.zeros((2, 2, 3))
    W[0, :, :2] = np.eye(2)  # instance 0: features 0 and 1 orthogonal
    W[1, 0] = [1.0, -1.0, 0.5]  # instance 1: an antipodal pair
    fig = plot_superposition(W, ["a", "b"])
    # one row per instance: W^T W on the left (named by its y label), the
    # bars of |W_i| on the right
    grams, bars = fig.axes[0:4:2], fig.axes[1:4:2]
    assert [ax.get_ylabel() for ax in grams] == ["a", "b"]
    np.testing.assert_allclose(grams[1].images[0].get_array(), W[1].T @ W[1])
    widths = [p.get_width() for p in bars[1].patches]
    np.testing.assert_allclose(widths, feature_norms(W[1]))
    with pytest.raises(ValueError, match="one title per instance"):
        plot_superposition(W, ["a"])


def test_plot_feature_directions_and_dictionary():
    import matplotlib

    matplotlib.use("agg")
    from sparse_ae.plots import plot_dictionary_directions, plot_feature_directions

    W = np.random.default_rng(0).normal(size=(3, 2, 5))
    fig = plot_feature_directions(W, ["x", "y", "z"])
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 3
    arrows = [t for t in panels[2].texts if hasattr(t, "arrow_patch")]
    assert len(arrows) == 5
    np.testing.assert_allclose([a.xy for a in arrows], W[2].T)
    with pytest.raises(ValueError, match="n_instances, 2, n_features"):
        plot_feature_directions(np.ones((2, 3, 5)), ["a", "b"])
    fig = plot_dictionary_directions(W[0].T, 3 * np.eye(2))
    (ax,) = fig.axes
    ends = [t.xy for t in ax.texts]
    assert len(ends) == 7
    np.testing.assert_allclose(np.linalg.norm(ends, axis=1), 1.0)


def test_plot_cosine_similarities_puts_best_matches_first():
    import matplotlib

    matplotlib.use("agg")
    from sparse_ae.plots import plot_cosine_similarities

    cosines = np.array([[0.1, 0.2, 0.9], [0.95, 0.0, 0.3]])
    fig = plot_cosine_similarities(cosines)
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, cosines[:, [2, 0, 1]])


def test_plot_curve_panels_and_fve_vs_l0():
    import matplotlib

    matplotlib.use("agg")
    from sparse_ae.plots import plot_curve_panels, plot_fve_vs_l0

    x = np.arange(1, 4)
    fig = plot_curve_panels(x, {"p": {"a": [1, 2, 3], "b": [3, 2, 1]},
                                "q": {"a": [0, 0, 1]}}, "epoch")
    assert [ax.get_ylabel() for ax in fig.axes] == ["p", "q"]
    (a_in_p, _), (a_in_q,) = fig.axes[0].lines, fig.axes[1].lines
    assert a_in_p.get_color() == a_in_q.get_color(), "one colour per curve label"
    runs = [{"family": "f", "l0": 1.0, "fve": 0.5},
            {"family": "g", "l0": 2.0, "fve": 0.7},
            {"family": "f", "l0": 3.0, "fve": 0.9}]
    fig = plot_fve_vs_l0(runs)
    offsets = [c.get_offsets() for c in fig.axes[0].collections]
    np.testing.assert_allclose(offsets[0], [[1.0, 0.5], [3.0, 0.9]])
    np.testing.assert_allclose(offsets[1], [[2.0, 0.7]])
