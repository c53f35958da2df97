"""Tests for ssl_core.losses.mae: masked-only patch MSE with optional per-patch normalisation."""

from __future__ import annotations

import pytest
import torch

from ssl_core.losses.mae import mae_loss, normalize_patches, per_patch_error
from ssl_core.masking import patchify, random_masking


def loop_mae_loss(pred, target, mask, norm_pix: bool, eps: float = 1e-6) -> float:
    """Patch by patch, value by value, in Python floats."""
    batch, length, dim = pred.shape
    total, count = 0.0, 0.0
    for b in range(batch):
        for i in range(length):
            values = [float(v) for v in target[b, i]]
            if norm_pix:
                mean = sum(values) / dim
                var = sum((v - mean) ** 2 for v in values) / (dim - 1)
                values = [(v - mean) / (var + eps) ** 0.5 for v in values]
            err = sum((float(pred[b, i, k]) - values[k]) ** 2 for k in range(dim)) / dim
            total += err * float(mask[b, i])
            count += float(mask[b, i])
    return total / count


def mae_forward_loss(target, pred, mask, norm_pix_loss: bool):
    """facebookresearch/mae models_mae.py forward_loss, after its patchify."""
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1.0e-6) ** 0.5
    loss = (pred - target) ** 2
    loss = loss.mean(dim=-1)
    return (loss * mask).sum() / mask.sum()


@pytest.mark.parametrize("norm_pix", [False, True])
@pytest.mark.parametrize(("batch", "length", "dim", "ratio"), [(2, 4, 3, 0.5), (3, 9, 12, 0.75)])
def test_matches_loop_reference(norm_pix: bool, batch: int, length: int, dim: int, ratio: float):
    gen = torch.Generator().manual_seed(batch * 10 + dim)
    pred = torch.randn(batch, length, dim, generator=gen, dtype=torch.float64)
    target = torch.randn(batch, length, dim, generator=gen, dtype=torch.float64) * 3 + 1
    mask = random_masking(batch, length, ratio, seed=0).mask.double()
    got = mae_loss(pred, target, mask, norm_pix=norm_pix)
    assert got.shape == ()
    assert got.item() == pytest.approx(loop_mae_loss(pred, target, mask, norm_pix), rel=1e-12)


@pytest.mark.parametrize("norm_pix", [False, True])
def test_matches_mae_forward_loss_on_images(norm_pix: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 32, 32, generator=gen)
    target = patchify(images, 8)  # (2, 16, 192)
    pred = torch.randn(2, 16, 192, generator=gen)
    mask = random_masking(2, 16, 0.75, seed=1).mask
    expected = mae_forward_loss(target, pred, mask, norm_pix)
    torch.testing.assert_close(mae_loss(pred, target, mask, norm_pix=norm_pix), expected)


def test_known_values() -> None:
    pred = torch.zeros(1, 4, 5)
    target = torch.ones(1, 4, 5)
    mask = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    assert mae_loss(pred, target, mask).item() == 1.0
    # constant patches normalise to 0, so the loss is the mean square of the prediction
    pred = torch.full((1, 4, 5), 2.0)
    assert mae_loss(pred, target, mask, norm_pix=True).item() == pytest.approx(4.0)
    assert mae_loss(target, target, mask).item() == 0.0


@pytest.mark.parametrize("norm_pix", [False, True])
def test_only_masked_patches_count(norm_pix: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    pred = torch.randn(2, 16, 6, generator=gen)
    target = torch.randn(2, 16, 6, generator=gen)
    mask = random_masking(2, 16, 0.75, seed=3).mask
    base = mae_loss(pred, target, mask, norm_pix=norm_pix)
    visible = ~mask.bool()
    changed = pred.clone()
    changed[visible] += 100.0
    assert torch.equal(mae_loss(changed, target, mask, norm_pix=norm_pix), base)
    changed = pred.clone()
    changed[mask.bool()] += 1.0
    assert mae_loss(changed, target, mask, norm_pix=norm_pix) > base + 0.1


def test_norm_pix_equals_manually_normalised_target() -> None:
    gen = torch.Generator().manual_seed(4)
    pred = torch.randn(2, 8, 10, generator=gen, dtype=torch.float64)
    target = torch.rand(2, 8, 10, generator=gen, dtype=torch.float64) * 5 - 2
    mask = random_masking(2, 8, 0.5, seed=4).mask.double()
    mean = target.sum(dim=-1, keepdim=True) / 10
    var = ((target - mean) ** 2).sum(dim=-1, keepdim=True) / 9
    manual = (target - mean) / torch.sqrt(var + 1e-6)
    torch.testing.assert_close(normalize_patches(target), manual)
    torch.testing.assert_close(
        mae_loss(pred, target, mask, norm_pix=True), mae_loss(pred, manual, mask)
    )
    # the normalised target has zero mean and unit (unbiased) variance, up to eps
    normed = normalize_patches(target)
    zeros = torch.zeros(2, 8, dtype=torch.float64)
    torch.testing.assert_close(normed.mean(dim=-1), zeros, atol=1e-12, rtol=0)
    torch.testing.assert_close(normed.var(dim=-1), zeros + 1, atol=1e-4, rtol=0)


def test_loss_is_the_masked_mean_of_per_patch_error() -> None:
    gen = torch.Generator().manual_seed(5)
    pred = torch.randn(3, 9, 4, generator=gen)
    target = torch.randn(3, 9, 4, generator=gen)
    error = per_patch_error(pred, target)
    assert error.shape == (3, 9)
    torch.testing.assert_close(error[1, 2], ((pred[1, 2] - target[1, 2]) ** 2).mean())
    mask = random_masking(3, 9, 0.67, seed=5).mask
    torch.testing.assert_close(mae_loss(pred, target, mask), error[mask.bool()].mean())
    normed = per_patch_error(pred, target, norm_pix=True)
    torch.testing.assert_close(normed, per_patch_error(pred, normalize_patches(target)))


def test_bool_mask_equals_float_mask() -> None:
    pred, target = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    mask = random_masking(2, 4, 0.5, seed=0).mask
    assert torch.equal(mae_loss(pred, target, mask.bool()), mae_loss(pred, target, mask))


def test_empty_mask_raises_instead_of_nan() -> None:
    with pytest.raises(ValueError, match=r"no masked patch \(mask.sum\(\) == 0\)"):
        mae_loss(torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.zeros(2, 4))


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"both have shape \(B, L, P\)"):
        mae_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 5), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"both have shape \(B, L, P\)"):
        per_patch_error(torch.zeros(4, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"mask must have shape \(B, L\) = \(2, 4\)"):
        mae_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.ones(2, 5))
    with pytest.raises(ValueError, match="at least 2 values per patch"):
        mae_loss(torch.zeros(2, 4, 1), torch.zeros(2, 4, 1), torch.ones(2, 4), norm_pix=True)


@pytest.mark.parametrize("norm_pix", [False, True])
def test_gradients_finite_and_zero_on_visible_patches(norm_pix: bool) -> None:
    target = torch.rand(2, 16, 12)
    target[0, :4] = 0.5  # constant patches: variance 0, kept finite by eps
    pred = torch.randn(2, 16, 12, requires_grad=True)
    mask = random_masking(2, 16, 0.75, seed=6).mask
    mae_loss(pred, target, mask, norm_pix=norm_pix).backward()
    assert torch.isfinite(pred.grad).all()
    assert torch.all(pred.grad[~mask.bool()] == 0)
    assert torch.all(pred.grad[mask.bool()].abs().sum(dim=-1) > 0)


def test_loss_falls_when_fitting_masked_patches() -> None:
    gen = torch.Generator().manual_seed(7)
    target = torch.rand(2, 16, 12, generator=gen)
    pred = torch.zeros(2, 16, 12, requires_grad=True)
    mask = random_masking(2, 16, 0.75, seed=7).mask
    optimiser = torch.optim.SGD([pred], lr=50.0)
    losses = []
    for _ in range(5):
        optimiser.zero_grad()
        loss = mae_loss(pred, target, mask, norm_pix=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
