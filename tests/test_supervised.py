"""Supervised training from scratch (ssl_core.supervised) on tiny toy data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_core.supervised import SupervisedConfig, train_supervised

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_UNET = {"widths": (4, 8)}  # a few hundred parameters: fast on one thread


def stripes(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Trivially separable: class 0 = horizontal stripes, class 1 = vertical, plus noise.

    Crops and horizontal flips keep the orientation, so augmentation does not blur the classes.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    rows = (np.arange(28) // 2 % 2).astype(np.float64)  # 0 0 1 1 0 0 ...
    images = np.empty((n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        pattern = np.repeat(rows[:, None], 28, axis=1) if label == 0 else np.repeat(
            rows[None, :], 28, axis=0)  # (28, 28) in {0, 1}
        noisy = 200 * pattern + 30 + rng.normal(0, 15, size=(28, 28))
        images[i] = np.clip(noisy, 0, 255).astype(np.uint8)
    return images, labels


def fit(**overrides):
    config = SupervisedConfig(**({"epochs": 12, "batch_size": 8, "base_lr": 0.1,
                                  "crop_scale": (0.5, 1.0)} | overrides))
    return train_supervised("unet_tiny_28", train=stripes(32, seed=0), test=stripes(40, seed=1),
                            backbone_kwargs=TINY_UNET, config=config)


def test_learns_a_separable_toy_set():
    result = fit()
    assert result.accuracy >= 0.9
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert [h["epoch"] for h in result.history] == list(range(1, 13))
    assert result.n_train == 32 and result.n_test == 40
    assert "12 epochs" in result.protocol and "40 test images" in result.protocol
    assert not result.model.training


def test_chance_without_training_signal():
    """Shuffled train labels carry no information: the test accuracy stays near chance."""
    images, labels = stripes(32, seed=0)
    shuffled = np.random.default_rng(3).permutation(labels)
    result = train_supervised("unet_tiny_28", train=(images, shuffled), test=stripes(40, seed=1),
                              backbone_kwargs=TINY_UNET,
                              config=SupervisedConfig(epochs=3, batch_size=8, base_lr=0.1))
    assert result.accuracy <= 0.8


def test_deterministic_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = fit(epochs=2)
    assert torch.equal(state, torch.get_rng_state())
    b = fit(epochs=2)
    c = fit(epochs=2, seed=1)
    assert a.accuracy == b.accuracy
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert [h["loss"] for h in a.history] != [h["loss"] for h in c.history]


def test_learning_rate_follows_the_scaling_rule_and_cosine():
    result = fit(epochs=4, batch_size=16, base_lr=0.256)  # peak 0.016, 8 steps, 0 warm-up
    assert SupervisedConfig(batch_size=16, base_lr=0.256).lr == pytest.approx(0.016)
    lrs = [h["lr"] for h in result.history]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.1 * 0.016


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"epochs": 0}, "epochs must be an int >= 1"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"base_lr": 0.0}, "base_lr must be > 0"),
        ({"warmup_fraction": 1.0}, r"warmup_fraction must be in \[0, 1\)"),
        ({"seed": -1}, "seed must be an int >= 0"),
    ],
)
def test_bad_config(overrides, match):
    with pytest.raises(ValueError, match=match):
        SupervisedConfig(**overrides)


def test_bad_data():
    images, labels = stripes(8, seed=0)
    test = stripes(4, seed=1)
    run = dict(backbone_kwargs=TINY_UNET, config=SupervisedConfig(epochs=1))
    with pytest.raises(ValueError, match=r"labels must have shape \(8,\)"):
        train_supervised("unet_tiny_28", train=(images, labels[:5]), test=test, **run)
    with pytest.raises(ValueError, match="must be uint8"):
        train_supervised("unet_tiny_28", train=(images / 255.0, labels), test=test, **run)
    with pytest.raises(ValueError, match="set is empty"):
        train_supervised("unet_tiny_28", train=(images[:0], labels[:0]), test=test, **run)
    with pytest.raises(ValueError, match="must be >= 0"):
        train_supervised("unet_tiny_28", train=(images, labels - 1), test=test, **run)
    rgb = np.repeat(images[:, None], 3, axis=1)  # (8, 3, 28, 28)
    with pytest.raises(ValueError, match="differ in shape"):
        train_supervised("unet_tiny_28", train=(rgb, labels), test=test, **run)
    rgb_test = np.repeat(test[0][:, None], 3, axis=1)
    with pytest.raises(ValueError, match="takes 1-channel images but the data has 3"):
        train_supervised("unet_tiny_28", train=(rgb, labels), test=(rgb_test, test[1]), **run)
    with pytest.raises(ValueError, match="unknown backbone"):
        train_supervised("no_such_net", train=(images, labels), test=test,
                         config=SupervisedConfig(epochs=1))
    with pytest.raises(ValueError, match="num_classes=1"):
        train_supervised("unet_tiny_28", train=(images, labels), test=test, num_classes=1, **run)


def test_init_starts_from_the_given_weights_and_leaves_them_alone():
    from ssl_core.models.registry import build_backbone

    torch.manual_seed(123)
    pretrained = build_backbone("unet_tiny_28", **TINY_UNET)
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    config = SupervisedConfig(epochs=1, batch_size=8, base_lr=1e-9, augment=False)
    kwargs = dict(train=stripes(16, seed=0), test=stripes(8, seed=1),
                  backbone_kwargs=TINY_UNET, config=config)
    tuned = train_supervised("unet_tiny_28", init=pretrained, **kwargs)
    scratch = train_supervised("unet_tiny_28", **kwargs)
    for key, value in before.items():
        assert torch.equal(pretrained.state_dict()[key], value)  # init itself is not trained
        if value.is_floating_point():  # a near-zero lr: the tuned backbone is still the init
            torch.testing.assert_close(tuned.model.backbone.state_dict()[key], value,
                                       atol=1e-6, rtol=0)
    assert any(not torch.allclose(scratch.model.backbone.state_dict()[k], v)
               for k, v in before.items() if v.is_floating_point())  # scratch is a fresh draw
    assert tuned.protocol.startswith("fine-tuned end to end from pretrained weights")
    assert scratch.protocol.startswith("supervised from scratch")


def test_init_of_another_architecture_is_refused():
    from ssl_core.models.registry import build_backbone

    other = build_backbone("unet_tiny_28", widths=(8, 16))
    with pytest.raises(ValueError, match="init does not fit backbone 'unet_tiny_28'"):
        train_supervised("unet_tiny_28", train=stripes(8, seed=0), test=stripes(8, seed=1),
                         backbone_kwargs=TINY_UNET, init=other,
                         config=SupervisedConfig(epochs=1, batch_size=8))
