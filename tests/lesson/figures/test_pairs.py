from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lesson.figures.pairs import (
    checkpoint_view_config,
    loss_against_tau,
    real_pairs,
    simclr_view_config,
    trace_pair,
)
from ssl_core.augment import ViewConfig, sample_views
from ssl_core.losses.infonce import info_nce
from ssl_core.methods import build_method
from ssl_core.train import view_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_simclr() -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method("simclr", backbone="cnn_small_28",
                              backbone_kwargs={"widths": [4, 8, 8, 8]},
                              config={"proj_hidden_dim": 16, "proj_out_dim": 8})
    return method.eval()


def images(count: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def test_view_config_draws_the_pixels_the_trainer_draws():
    image = images(1)[0]
    for size, overrides in ((28, {}), (28, {"scale": (0.5, 1.0), "jitter_p": 1.0}), (64, {})):
        picture = np.array(image) if size == 28 else np.kron(image, np.ones((3, 3), np.uint8))
        ours = sample_views(picture, simclr_view_config(size, overrides), seed=7)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            theirs = view_pipeline("simclr", size=size, overrides=overrides)(picture)
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b)
    assert simclr_view_config(64).blur_p == 0.5 and simclr_view_config(28).blur_p == 0.0


def test_view_config_from_a_checkpoint_config():
    config = {"backbone_kwargs": {"img_size": [28, 28]}, "train": {"augment": {"hflip_p": 0.0}}}
    assert checkpoint_view_config(config) == ViewConfig(size=28, hflip_p=0.0)
    assert checkpoint_view_config({"backbone_kwargs": {"img_size": 32}}).size == 32
    with pytest.raises(ValueError, match="no backbone_kwargs.img_size"):
        checkpoint_view_config({"backbone_kwargs": {}})
    with pytest.raises(ValueError, match="augment overrides must be ViewConfig fields"):
        simclr_view_config(28, {"no_such_field": 1})


def test_real_pairs_shapes_determinism_and_the_model_output():
    method, data = tiny_simclr(), images()
    config = simclr_view_config(28)
    pairs = real_pairs(method, data, n=6, seed=3, config=config)
    assert pairs.n == 6 and len(set(pairs.indices.tolist())) == 6
    assert pairs.view1.shape == pairs.view2.shape == (6, 1, 28, 28)
    assert pairs.h1.shape == (6, 8) and pairs.z1.shape == pairs.z2.shape == (6, 8)
    assert not torch.equal(pairs.view1, pairs.view2)  # two independent draws
    # The embeddings are the method's own projection of the views, whatever the chunking.
    z1, z2 = method.project(pairs.view1, pairs.view2)
    torch.testing.assert_close(pairs.z1, z1)
    torch.testing.assert_close(pairs.z2, z2)
    again = real_pairs(method, data, n=6, seed=3, config=config, chunk=5)
    assert np.array_equal(again.indices, pairs.indices)
    torch.testing.assert_close(again.z1, pairs.z1)
    other = real_pairs(method, data, n=6, seed=4, config=config)
    assert not np.array_equal(other.indices, pairs.indices)
    assert pairs.embeddings("backbone")[0] is pairs.h1
    with pytest.raises(ValueError, match="'projection' \\(z\\) or 'backbone' \\(h\\)"):
        pairs.embeddings("z")


def test_trace_pair_redraws_the_same_pixels_with_parameters():
    method, data = tiny_simclr(), images()
    pairs = real_pairs(method, data, n=4, seed=1, config=simclr_view_config(28))
    for j in range(4):
        first, second = trace_pair(data, pairs, j)
        assert torch.equal(first.image, pairs.view1[j])
        assert torch.equal(second.image, pairs.view2[j])
        assert first.params["crop"] is not None
    with pytest.raises(ValueError, match=r"j must be a pair index in \[0, 4\)"):
        trace_pair(data, pairs, 4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 1}, r"n \(pairs in the batch\) must be an int in \[2, 40\]"),
        ({"n": 41}, r"must be an int in \[2, 40\]"),
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"images": np.zeros((4, 28, 28), np.float32)}, "images must be a uint8 array"),
        ({"method": torch.nn.Linear(2, 2)}, "real_pairs needs a SimCLR method"),
    ],
)
def test_real_pairs_rejects_bad_arguments(kwargs, match):
    arguments = {"method": tiny_simclr(), "images": images(), "n": 4, "seed": 0} | kwargs
    method, data = arguments.pop("method"), arguments.pop("images")
    with pytest.raises(ValueError, match=match):
        real_pairs(method, data, config=simclr_view_config(28), **arguments)


def test_loss_against_tau_is_info_nce_at_each_tau():
    z1, z2 = torch.randn(8, 5), torch.randn(8, 5)
    taus = (0.05, 0.3, 2.0)
    losses = loss_against_tau(z1, z2, taus)
    assert losses == tuple(info_nce(z1, z2, t).item() for t in taus)
    assert all(math.isfinite(v) for v in losses)
