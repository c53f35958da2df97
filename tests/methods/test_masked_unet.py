"""Tests for ssl_core.methods.masked_unet: blanked input, masked-only loss, reconstruct()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_core.data import load_fashion_mnist
from ssl_core.losses.mae import mae_loss
from ssl_core.masking import MaskResult, make_mask, num_visible, patchify
from ssl_core.methods import Method, UNetMAE, UNetMAEConfig, build_method, method_spec
from ssl_core.methods.masked import Reconstruction
from ssl_core.models.registry import build_backbone

TINY_UNET = {"widths": (8, 16, 32)}
L = 49  # 7 x 7 patches of 4 px on 28 px images


def fashion(n: int) -> torch.Tensor:
    """The first n bundled Fashion-MNIST training images, (n, 1, 28, 28) float in [0, 1]."""
    images = load_fashion_mnist("train").images[:n]  # (n, 28, 28) uint8
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def tiny_unet_mae(seed: int = 0, **config: object) -> UNetMAE:
    torch.manual_seed(seed)
    return UNetMAE(build_backbone("unet_tiny_28", **TINY_UNET), UNetMAEConfig(**config))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"mask_ratio": 1.0}, r"mask_ratio must be in \(0, 1\)"),
        ({"patch_size": 0}, "patch_size must be a positive int"),
        ({"patch_size": 2.0}, "patch_size must be a positive int"),
    ],
)
def test_config_rejects_bad_values(fields: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        UNetMAEConfig(**fields)  # type: ignore[arg-type]


def test_needs_a_conv_encoder_decoder() -> None:
    with pytest.raises(ValueError, match="unet_mae needs a conv encoder-decoder"):
        UNetMAE(build_backbone("vit_tiny_p4_28", embed_dim=32, depth=1, num_heads=2))


def test_build_method_and_spec() -> None:
    method = build_method(
        "unet_mae", backbone="unet_tiny_28", backbone_kwargs=TINY_UNET, config={"patch_size": 7}
    )
    assert isinstance(method, UNetMAE) and method.patch_size == 7
    spec = method_spec(method)
    assert spec["method"] == "unet_mae" and spec["backbone_kwargs"]["widths"] == [8, 16, 32]


def test_image_size_must_be_a_multiple_of_the_patch_size() -> None:
    with pytest.raises(ValueError, match="H and W multiples of 4; got"):
        tiny_unet_mae().training_step(torch.rand(2, 1, 30, 28))
    with pytest.raises(ValueError, match=r"a UNet-MAE batch is a float image tensor"):
        tiny_unet_mae().training_step([torch.rand(2, 1, 28, 28)] * 3)


def test_protocol_hooks() -> None:
    method = tiny_unet_mae()
    assert isinstance(method, Method)
    assert method.encoder is method.backbone and method.name == "unet_mae"
    assert method.encoder.forward_features(torch.rand(2, 1, 28, 28)).shape == (2, 32)
    assert method.on_train_step_end(0, 1) == {}
    method.set_epoch(0.5)
    assert {id(p) for p in method.trainable_parameters()} == {id(p) for p in method.parameters()}


def test_blank_zeroes_exactly_the_masked_patches() -> None:
    method = tiny_unet_mae()
    images = torch.rand(2, 1, 28, 28) + 0.1  # no zero pixel anywhere
    mask = torch.zeros(2, L)
    mask[0, [0, 8, 48]] = 1
    mask[1, [3, 4]] = 1
    blanked = method.blank(images, mask)
    patches_in, patches_out = patchify(images, 4), patchify(blanked, 4)  # (2, L, 16)
    for b in range(2):
        for i in range(L):
            if mask[b, i]:
                assert torch.all(patches_out[b, i] == 0)
            else:
                assert torch.equal(patches_out[b, i], patches_in[b, i])


def test_training_blanks_the_input_and_scores_masked_patches_only() -> None:
    method = tiny_unet_mae()
    images = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) + 0.1
    seen = {}
    hook = method.backbone.register_forward_hook(
        lambda module, args, output: seen.update(inputs=args[0], outputs=output)
    )
    try:
        loss, metrics = method.training_step((images, torch.zeros(4)))
    finally:
        hook.remove()
    blanked = patchify(seen["inputs"], 4)  # (B, L, 16)
    hidden = blanked.eq(0).all(dim=-1)  # (B, L): the blanked patches
    n_mask = L - num_visible(L, 0.75)
    assert hidden.sum(dim=1).tolist() == [n_mask] * 4
    assert len({tuple(row.tolist()) for row in hidden}) > 1  # a fresh mask per sample
    expected = mae_loss(patchify(seen["outputs"], 4), patchify(images, 4), hidden)
    assert torch.allclose(loss, expected)
    assert metrics == {"loss": pytest.approx(loss.item())}


@pytest.mark.slow
def test_loss_falls_within_a_few_dozen_steps() -> None:
    method = tiny_unet_mae()
    images = fashion(32)
    opt = torch.optim.AdamW(method.trainable_parameters(), lr=1e-3)
    torch.manual_seed(0)
    losses = []
    for step in range(20):
        loss, _ = method.training_step(images)
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.on_train_step_end(step, 20)
        losses.append(loss.item())
    # Measured: 10.3 -> 1.3. Most of the early fall is the output scale: TinyUNet's 1x1 output
    # conv starts with outputs of a few units, far from [0, 1] pixels.
    assert np.mean(losses[-5:]) < 0.5 * losses[0]


def test_reconstruct_matches_the_mae_api() -> None:
    method = tiny_unet_mae().eval()
    images = fashion(3)
    rec = method.reconstruct(images, mask_ratio=0.75, seed=0, mask_kind="block")
    assert isinstance(rec, Reconstruction)
    assert rec.reconstruction.shape == rec.masked_input.shape == (3, 1, 28, 28)
    assert rec.mask.shape == rec.per_patch_error.shape == (3, L)
    assert rec.masked_mse.shape == (3,)
    expected_mask = torch.from_numpy(make_mask("block", 7, 7, 0.75, seed=0)).expand(3, L)
    assert torch.equal(rec.mask, expected_mask)
    # The network saw exactly the masked input, and the reconstruction is its output.
    out = method.backbone(rec.masked_input)
    assert torch.allclose(rec.reconstruction, out, atol=1e-6)
    pixel_mask = rec.mask_image().unsqueeze(1)  # (B, 1, H, W)
    assert torch.allclose(rec.reconstruction_pasted, torch.where(pixel_mask, out, images))
    error = ((patchify(out, 4) - patchify(images, 4)) ** 2).mean(-1)  # (B, L)
    assert torch.allclose(rec.per_patch_error, error, atol=1e-6)
    assert torch.allclose(rec.masked_mse, (error * rec.mask).sum(1) / rec.mask.sum(1), atol=1e-6)
    again = method.reconstruct(images, mask_ratio=0.75, seed=0, mask_kind="block")
    assert torch.equal(again.reconstruction, rec.reconstruction)


def test_reconstruct_norm_pix_denormalises_with_true_statistics() -> None:
    method = tiny_unet_mae(norm_pix=True).eval()
    images = fashion(2) * 0.5 + 0.25
    rec = method.reconstruct(images, mask_ratio=0.5, seed=1, mask_kind="grid")
    pred = method.predict(images, MaskResult.from_bool(rec.mask))  # (B, L, 16), normalised
    target = patchify(images, 4)
    mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
    assert torch.allclose(patchify(rec.reconstruction, 4), pred * (var + 1e-6).sqrt() + mean)
