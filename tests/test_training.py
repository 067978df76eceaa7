from sparse_ae.metrics import sparsity_report
from sparse_ae.models import build_sparse_kl_autoencoder
from sparse_ae.reproducibility import seed_everything
from sparse_ae.training import train


def run(fashion_mnist, weight):
    (X_train, _), (X_valid, _), _ = fashion_mnist
    seed_everything(42)
    encoder, _, ae = build_sparse_kl_autoencoder(weight=weight, target=0.1)
    history = train(ae, X_train[:5000], X_valid[:1000], epochs=1)
    codings = encoder.predict(X_valid[:1000], verbose=0)
    return sparsity_report(codings)["mean_activation"], history


def test_kl_penalty_pulls_mean_activation_to_target(fashion_mnist):
    """One epoch on 5,000 real images: with the penalty the mean coding
    activation is near the target of 0.1; without it, far from it."""
    with_kl, _ = run(fashion_mnist, weight=0.05)
    without, _ = run(fashion_mnist, weight=0.0)
    assert abs(with_kl - 0.1) < 0.05
    assert abs(without - 0.1) > 0.2
    assert abs(with_kl - 0.1) < abs(without - 0.1) / 4


def test_training_is_repeatable_and_logged(fashion_mnist, capsys):
    first, h1 = run(fashion_mnist, weight=0.05)
    out1 = capsys.readouterr().out
    second, h2 = run(fashion_mnist, weight=0.05)
    out2 = capsys.readouterr().out
    assert first == second and h1.history == h2.history
    assert out1 == out2
    assert out1.startswith("epoch  1/1  loss=0.")
    assert "val_loss=" in out1 and "val_rounded_accuracy=" in out1
    assert h1.seconds > 0
