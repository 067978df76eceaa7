import keras
import numpy as np
import pytest

from sparse_ae.features import decoder_unit_images, encoder_unit_images, linear_probe, top_activating
from sparse_ae.metrics import lifetime_sparsity, population_sparsity, reconstruction_loss
from sparse_ae.models import build_sparse_kl_autoencoder, build_stacked_autoencoder


def test_lifetime_and_population_sparsity_by_hand():
    codings = np.array([[0.0, 0.5, 0.2], [0.0, 0.05, 0.3]])
    np.testing.assert_array_equal(lifetime_sparsity(codings, 0.1), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(population_sparsity(codings, 0.1), [2, 1])
    with pytest.raises(ValueError, match="codings"):
        lifetime_sparsity(np.zeros(3))


def test_decoder_unit_images_is_what_one_unit_adds():
    _, decoder, _ = build_stacked_autoencoder(codings_size=4)
    images = decoder_unit_images(decoder)
    assert images.shape == (4, 28, 28)
    e2 = np.zeros((1, 4), np.float32)
    e2[0, 2] = 1.0
    expected = decoder.predict(e2, verbose=0)[0] - decoder.predict(np.zeros((1, 4), np.float32), verbose=0)[0]
    np.testing.assert_allclose(images[2], expected, atol=1e-6)


def test_encoder_unit_images_is_the_linearised_encoder():
    encoder, _, _ = build_stacked_autoencoder(codings_size=3)
    images = encoder_unit_images(encoder)
    assert images.shape == (3, 28, 28)
    w1 = keras.ops.convert_to_numpy(encoder.layers[1].kernel)
    w2 = keras.ops.convert_to_numpy(encoder.layers[2].kernel)
    np.testing.assert_allclose(images[1].ravel(), w1 @ w2[:, 1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="two Dense layers"):
        encoder_unit_images(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_top_activating():
    codings = np.array([[0.1, 0.9], [0.7, 0.2], [0.4, 0.95]])
    assert top_activating(codings, 0, n=2).tolist() == [1, 2]
    assert top_activating(codings, 1, n=3).tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match="unit"):
        top_activating(codings, 2)


def test_linear_probe_learns_real_labels(fashion_mnist):
    (X_train, y_train), _, (X_test, y_test) = fashion_mnist
    accuracy = linear_probe(X_train[:5000], y_train[:5000], X_test[:2000], y_test[:2000])
    assert 0.7 < accuracy < 0.95  # far above chance (0.1) on raw pixels
    shuffled = np.random.default_rng(0).permutation(y_train[:5000])
    assert linear_probe(X_train[:5000], shuffled, X_test[:2000], y_test[:2000]) < 0.2


def test_linear_probe_is_deterministic_and_ignores_constant_features(fashion_mnist):
    (X_train, y_train), _, (X_test, y_test) = fashion_mnist
    f_train = X_train[:2000].reshape(2000, -1)
    f_test = X_test[:500].reshape(500, -1)
    a = linear_probe(f_train, y_train[:2000], f_test, y_test[:500])
    assert a == linear_probe(f_train, y_train[:2000], f_test, y_test[:500])
    padded = [np.hstack([f, np.zeros((len(f), 3))]) for f in (f_train, f_test)]
    assert linear_probe(padded[0], y_train[:2000], padded[1], y_test[:500]) == a


def test_linear_probe_rejects_mismatched_features():
    with pytest.raises(ValueError, match="same number of features"):
        linear_probe(np.zeros((4, 3)), [0, 1, 0, 1], np.zeros((2, 2)), [0, 1])


def test_reconstruction_loss_leaves_out_the_penalty(fashion_mnist):
    _, (X_valid, _), _ = fashion_mnist
    _, _, ae = build_sparse_kl_autoencoder(weight=1.0)
    recon = reconstruction_loss(ae, X_valid[:500])
    total = ae.evaluate(X_valid[:500], X_valid[:500], verbose=0, batch_size=500)[0]
    assert total > recon + 0.1  # an untrained model pays a large KL penalty
    reconstructions = ae.predict(X_valid[:500], verbose=0)
    bce = -np.mean(X_valid[:500] * np.log(np.clip(reconstructions, 1e-7, 1))
                   + (1 - X_valid[:500]) * np.log(np.clip(1 - reconstructions, 1e-7, 1)))
    assert recon == pytest.approx(bce, rel=1e-4)


def test_decoder_unit_images_from_a_base_code():
    _, decoder, _ = build_stacked_autoencoder(codings_size=4)
    base = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    delta = np.array([0.5, 0.0, 0.2, 0.1], np.float32)
    images = decoder_unit_images(decoder, base=base, delta=delta)
    raised = base.copy()
    raised[2] += 0.2
    expected = decoder.predict(raised[None], verbose=0)[0] - decoder.predict(base[None], verbose=0)[0]
    np.testing.assert_allclose(images[2], expected, atol=1e-6)
    np.testing.assert_allclose(images[1], 0.0, atol=1e-7)  # a zero step changes nothing
    with pytest.raises(ValueError, match=r"base must have shape \(4,\)"):
        decoder_unit_images(decoder, base=np.zeros(3))


def test_softmax_probe_learns_real_labels_and_is_seeded(fashion_mnist):
    from sparse_ae.features import softmax_probe

    (X_train, y_train), _, (X_test, y_test) = fashion_mnist
    args = (X_train[:3000], y_train[:3000], X_test[:1000], y_test[:1000])
    accuracy = softmax_probe(*args, epochs=3)
    assert 0.7 < accuracy < 0.95
    assert softmax_probe(*args, epochs=3) == accuracy
