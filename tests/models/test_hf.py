"""Tests for ssl_core.models.hf: DINOv2 / ViT-MAE through transformers, with tiny random models.

Every model here is built from a tiny random config, saved with ``save_pretrained`` to a temporary
folder (or laid out as a hub cache) and loaded back through ``load_hf_encoder``, as users load.
No network, no downloaded weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import (
    Dinov2Config,
    Dinov2Model,
    ViTMAEConfig,
    ViTMAEForPreTraining,
    ViTMAEModel,
)

from ssl_core.models.hf import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    KNOWN_MODELS,
    HFEncoder,
    ModelNotAvailableError,
    hf_hub_cache_dir,
    list_local_models,
    load_hf_encoder,
    mae_reconstruct,
    resolve_model_dir,
)

SIZE, PATCH, DIM, HEADS = 28, 7, 32, 2
GRID = SIZE // PATCH
L = GRID * GRID  # 16 patches


def _dinov2_config(**overrides) -> Dinov2Config:
    kwargs = dict(
        hidden_size=DIM,
        num_hidden_layers=2,
        num_attention_heads=HEADS,
        mlp_ratio=2,
        image_size=SIZE,
        patch_size=PATCH,
        attn_implementation="eager",
    )
    kwargs.update(overrides)
    return Dinov2Config(**kwargs)


def _mae_config(**overrides) -> ViTMAEConfig:
    kwargs = dict(
        hidden_size=DIM,
        num_hidden_layers=2,
        num_attention_heads=HEADS,
        intermediate_size=64,
        image_size=SIZE,
        patch_size=PATCH,
        decoder_hidden_size=16,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
        attn_implementation="eager",
    )
    kwargs.update(overrides)
    return ViTMAEConfig(**kwargs)


def _save(model: torch.nn.Module, folder: Path) -> tuple[Path, torch.nn.Module]:
    model.eval().save_pretrained(folder)
    assert (folder / "model.safetensors").is_file()
    return folder, model


@pytest.fixture(scope="module")
def dinov2(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    return _save(Dinov2Model(_dinov2_config()), tmp_path_factory.mktemp("dinov2"))


@pytest.fixture(scope="module")
def mae(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(1)
    return _save(ViTMAEForPreTraining(_mae_config()), tmp_path_factory.mktemp("mae"))


@pytest.fixture(scope="module")
def mae_norm_pix(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(2)
    model = ViTMAEForPreTraining(_mae_config(norm_pix_loss=True))
    return _save(model, tmp_path_factory.mktemp("mae_norm_pix"))


@pytest.fixture(scope="module")
def mae_encoder_only(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(3)
    return _save(ViTMAEModel(_mae_config()), tmp_path_factory.mktemp("mae_encoder"))


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """An empty HF_HOME / HF_HUB_CACHE, so no real cache on this machine can answer."""
    home = tmp_path / "hf_home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return home / "hub"


def _images(batch: int = 2, channels: int = 3, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, size, size, generator=g)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


# ----------------------------------------------------------------------------------------------
# The encoder contract
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["dinov2", "mae", "mae_encoder_only"])
def test_contract_shapes_and_attention_rows(which, request):
    folder, _ = request.getfixturevalue(which)
    enc = load_hf_encoder(folder)
    x = _images()
    assert (enc.embed_dim, enc.patch_size, enc.num_heads) == (DIM, PATCH, HEADS)
    assert enc.grid_size == (GRID, GRID) and enc.num_patches == L
    assert enc.input_grid(x) == (GRID, GRID)
    assert not enc.training
    feats = enc.forward_features(x)
    assert feats.shape == (2, DIM)
    assert torch.equal(enc(x), feats)
    tokens = enc.patch_tokens(x)
    assert tokens.shape == (2, L, DIM)
    attn = enc.get_last_selfattention(x)
    assert attn.shape == (2, HEADS, 1 + L, 1 + L)
    assert torch.all(attn >= 0)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, HEADS, 1 + L))


def test_dinov2_features_match_transformers_with_imagenet_normalisation(dinov2):
    folder, model = dinov2
    enc = load_hf_encoder(folder)
    x = _images()
    with torch.no_grad():
        ref = model(_normalise(x), output_attentions=True)
    torch.testing.assert_close(enc.forward_features(x), ref.pooler_output)
    torch.testing.assert_close(enc.forward_features(x), ref.last_hidden_state[:, 0])
    torch.testing.assert_close(enc.patch_tokens(x), ref.last_hidden_state[:, 1:])
    torch.testing.assert_close(enc.get_last_selfattention(x), ref.attentions[-1])


def test_mae_patch_tokens_are_the_full_image_in_raster_order(mae):
    """Reference: the model's own masking at ratio 0, random noise, unshuffled by ids_restore."""
    folder, model = mae
    enc = load_hf_encoder(folder)
    x = _images()
    noise = torch.rand(2, L, generator=torch.Generator().manual_seed(5))
    model.vit.embeddings.config.mask_ratio = 0.0
    try:
        with torch.no_grad():
            ref = model.vit(_normalise(x), noise=noise)
    finally:
        model.vit.embeddings.config.mask_ratio = 0.75
    assert ref.mask.sum() == 0
    shuffled = ref.last_hidden_state[:, 1:]  # (B, L, D) in argsort(noise) order
    index = ref.ids_restore[..., None].expand(-1, -1, DIM)
    raster = torch.gather(shuffled, 1, index)  # (B, L, D)
    torch.testing.assert_close(enc.patch_tokens(x), raster, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(enc.forward_features(x), ref.last_hidden_state[:, 0])
    # Feature extraction leaves the model's configured ratio alone.
    assert enc.backbone.config.mask_ratio == 0.75


def test_grayscale_input_is_repeated_to_three_channels(dinov2):
    enc = load_hf_encoder(dinov2[0])
    gray = _images(channels=1)
    torch.testing.assert_close(
        enc.forward_features(gray), enc.forward_features(gray.repeat(1, 3, 1, 1))
    )
    assert enc.patch_tokens(gray).shape == (2, L, DIM)


def test_inputs_are_resized_to_image_size(dinov2, mae):
    enc = load_hf_encoder(dinov2[0])
    assert enc.patch_tokens(_images(size=20)).shape == (2, L, DIM)  # upsampled to 28
    big = load_hf_encoder(dinov2[0], image_size=56)
    assert big.grid_size == (8, 8) and big.num_patches == 64
    assert big.patch_tokens(_images()).shape == (2, 64, DIM)
    assert big.get_last_selfattention(_images()).shape == (2, HEADS, 65, 65)
    # ViT-MAE needs position interpolation away from its configured size; the encoder asks for it.
    mae_big = load_hf_encoder(mae[0], image_size=(42, 56))
    assert mae_big.patch_tokens(_images()).shape == (2, 6 * 8, DIM)
    out = mae_reconstruct(mae_big, _images(channels=1), mask_ratio=0.75)
    assert out["reconstruction"].shape == (2, 3, 42, 56)
    assert out["mask"].sum(dim=1).tolist() == [36, 36]  # 48 - int(48 * 0.25)
    # A resize is a resize: the encoder on a pre-resized batch gives the same features.
    x = _images(size=56)
    small = torch.nn.functional.interpolate(x, size=SIZE, mode="bilinear", antialias=True)
    torch.testing.assert_close(enc.forward_features(x), enc.forward_features(small))


def test_bad_inputs_and_sizes_fail_fast(dinov2):
    enc = load_hf_encoder(dinov2[0])
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1 or 3, H, W\)"):
        enc.forward_features(torch.rand(2, 2, SIZE, SIZE))
    with pytest.raises(ValueError, match="expected images of shape"):
        enc.forward_features(torch.rand(3, SIZE, SIZE))
    with pytest.raises(
        ValueError, match="image_size 30 is not a multiple of the patch size 7; use 28"
    ):
        load_hf_encoder(dinov2[0], image_size=30)
    with pytest.raises(ValueError, match="image_mean and image_std need 3 values"):
        HFEncoder(dinov2[1], image_mean=[0.5], image_std=[0.5])
    with pytest.raises(ValueError, match="HFEncoder wraps one of"):
        HFEncoder(torch.nn.Linear(2, 2))


def test_loading_is_deterministic_and_the_same_as_the_in_memory_model(dinov2, mae):
    x = _images()
    for folder, model in (dinov2, mae):
        first, second = load_hf_encoder(folder), load_hf_encoder(folder)
        in_memory = HFEncoder(model)
        for method in ("forward_features", "patch_tokens", "get_last_selfattention"):
            a = getattr(first, method)(x)
            assert torch.equal(a, getattr(second, method)(x))
            assert torch.equal(a, getattr(in_memory, method)(x))


def test_attention_maps_need_eager_attention():
    torch.manual_seed(0)
    model = Dinov2Model(_dinov2_config(attn_implementation="sdpa")).eval()
    enc = HFEncoder(model)
    assert enc.forward_features(_images()).shape == (2, DIM)  # features work with any attention
    with pytest.raises(ValueError, match="attention maps need eager attention"):
        enc.get_last_selfattention(_images())


def test_device_argument_and_buffers_follow_the_model(dinov2):
    enc = load_hf_encoder(dinov2[0], device="cpu")
    assert enc.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in enc.parameters())
    assert enc.forward_features(_images().double()).dtype == torch.float32


def test_half_precision_checkpoint_is_loaded_in_float32(tmp_path):
    torch.manual_seed(0)
    Dinov2Model(_dinov2_config()).half().save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "float16"
    enc = load_hf_encoder(tmp_path)
    assert {p.dtype for p in enc.parameters()} == {torch.float32}
    assert enc.forward_features(_images()).dtype == torch.float32


def test_preprocessor_config_sets_size_mean_and_std(dinov2, tmp_path):
    folder, model = dinov2
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "do_center_crop": True,
                "crop_size": {"height": 42, "width": 42},
                "size": {"shortest_edge": 48},
                "image_mean": mean,
                "image_std": std,
            }
        )
    )
    enc = load_hf_encoder(tmp_path)
    assert enc.image_size == (42, 42) and enc.grid_size == (6, 6)
    x = _images(size=42)
    pixel_values = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = model(pixel_values).pooler_output
    torch.testing.assert_close(enc.forward_features(x), ref)
    assert load_hf_encoder(tmp_path, image_size=SIZE).grid_size == (GRID, GRID)  # override wins


# ----------------------------------------------------------------------------------------------
# Finding weights: local folders, the hub cache, clear and fast failures
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cache_exists", [False, True])
@pytest.mark.parametrize("repo_id", ["facebook/dinov2-small", "facebook/no-such-model-xyz"])
def test_missing_hub_model_fails_fast_with_instructions(repo_id, cache_exists, empty_cache,
                                                        no_network):
    """It fails without trying the network (``no_network``); the time it takes is
    ``benchmarks/bench_fail_fast.py``'s."""
    if cache_exists:
        empty_cache.mkdir(parents=True)
    with pytest.raises(ModelNotAvailableError) as info:
        load_hf_encoder(repo_id)
    message = str(info.value)
    assert repo_id in message
    assert str(empty_cache) in message  # where it looked
    assert f"hf download {repo_id}" in message  # how to get it
    assert "local_only=False" in message
    assert isinstance(info.value, FileNotFoundError)


def test_cache_dir_follows_the_environment_at_call_time(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hf_hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert hf_hub_cache_dir() == tmp_path / "elsewhere"


def test_missing_directory_and_folder_without_config_are_refused(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="no directory './no/such/model'"):
        load_hf_encoder("./no/such/model")
    with pytest.raises(ModelNotAvailableError, match="has no config.json"):
        load_hf_encoder(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotAvailableError, match="no model.safetensors"):
        load_hf_encoder(tmp_path)


def test_pickled_weights_are_refused(dinov2, tmp_path):
    folder, model = dinov2
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(
        ModelNotAvailableError, match="holds only pickled weights.*safetensors only"
    ):
        load_hf_encoder(tmp_path)


def test_truncated_weights_say_so(dinov2, tmp_path):
    folder, _ = dinov2
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    data = (folder / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelNotAvailableError, match="probably truncated.*download the model"):
        load_hf_encoder(tmp_path)


def test_unsupported_model_type_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="is a 'bert' model; load_hf_encoder supports 'dinov2'"):
        load_hf_encoder(tmp_path)


def _put_in_cache(cache: Path, repo_id: str, source: Path, files: tuple[str, ...]) -> Path:
    """Lay ``files`` out as huggingface_hub does: refs/main -> snapshots/<commit>/."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in files:
        (snapshot / name).write_bytes((source / name).read_bytes())
    return snapshot


def test_list_local_models_on_an_empty_cache(empty_cache):
    assert list_local_models() == []
    empty_cache.mkdir(parents=True)
    assert list_local_models() == []


def test_hub_id_loads_from_the_cache_offline(dinov2, empty_cache):
    folder, model = dinov2
    snapshot = _put_in_cache(
        empty_cache, "facebook/dinov2-small", folder, ("config.json", "model.safetensors")
    )
    assert list_local_models() == ["facebook/dinov2-small"]
    assert list_local_models(cache_dir=empty_cache) == ["facebook/dinov2-small"]
    assert resolve_model_dir("facebook/dinov2-small") == snapshot
    enc = load_hf_encoder("facebook/dinov2-small")
    assert enc.source == "facebook/dinov2-small"
    x = _images()
    assert torch.equal(enc.forward_features(x), HFEncoder(model).forward_features(x))
    assert set(list_local_models()) <= set(KNOWN_MODELS)


def test_cached_model_with_only_pickled_weights_is_refused_and_not_listed(dinov2, tmp_path):
    folder, model = dinov2
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    cache = tmp_path / "cache"
    _put_in_cache(cache, "facebook/dinov2-base", tmp_path, ("config.json", "pytorch_model.bin"))
    assert list_local_models(cache_dir=cache) == []
    with pytest.raises(ModelNotAvailableError, match="facebook/dinov2-base.*only pickled weights"):
        load_hf_encoder("facebook/dinov2-base", cache_dir=cache)


# ----------------------------------------------------------------------------------------------
# ViT-MAE reconstruction
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "masked"),
    [(0.75, 12), (0.5, 8), (0.3, 5), (0.9, 15)],  # the model keeps int(L * (1 - ratio))
)
def test_mae_reconstruct_shapes_and_mask_count(mae, ratio, masked):
    enc = load_hf_encoder(mae[0])
    out = mae_reconstruct(enc, _images(batch=3), mask_ratio=ratio, seed=0)
    for key in ("masked_input", "reconstruction", "reconstruction_with_visible"):
        assert out[key].shape == (3, 3, SIZE, SIZE)
        assert out[key].min() >= 0 and out[key].max() <= 1
    assert out["mask"].shape == (3, L) and out["mask"].dtype == torch.bool
    assert out["per_patch_error"].shape == (3, L)
    assert out["mask"].sum(dim=1).tolist() == [masked] * 3
    assert masked == L - int(L * (1 - ratio))
    # The configured ratio is back after the call.
    assert enc.backbone.config.mask_ratio == 0.75


def _patch_pixels(image: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, C*p*p), patches in raster order (test-side reference)."""
    b, c = image.shape[:2]
    x = image.reshape(b, c, GRID, PATCH, GRID, PATCH).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, L, c * PATCH * PATCH)


def test_mae_reconstruct_images_follow_the_mask(mae):
    x = _images()
    out = mae_reconstruct(load_hf_encoder(mae[0]), x, mask_ratio=0.75, seed=3)
    mask = out["mask"]
    masked_input = _patch_pixels(out["masked_input"])
    original = _patch_pixels(x)
    pasted = _patch_pixels(out["reconstruction_with_visible"])
    recon = _patch_pixels(out["reconstruction"])
    assert torch.equal(masked_input[~mask], original[~mask])
    assert torch.all(masked_input[mask] == 0.5)
    torch.testing.assert_close(pasted[~mask], original[~mask])
    torch.testing.assert_close(pasted[mask], recon[mask])


def test_mae_reconstruct_is_deterministic_per_seed(mae):
    enc, x = load_hf_encoder(mae[0]), _images()
    a = mae_reconstruct(enc, x, seed=7)
    b = mae_reconstruct(enc, x, seed=7)
    c = mae_reconstruct(enc, x, seed=8)
    for key in a:
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["mask"], c["mask"])
    # The per-sample masks differ inside a batch (a mask per image, like training).
    assert not torch.equal(a["mask"][0], a["mask"][1])


@pytest.mark.parametrize("fixture", ["mae", "mae_norm_pix"])
def test_mae_reconstruct_matches_the_model_and_its_loss(fixture, request):
    """Reference: the raw transformers forward with the same noise, de-normalised by hand."""
    folder, model = request.getfixturevalue(fixture)
    x, ratio, seed = _images(), 0.5, 4
    out = mae_reconstruct(load_hf_encoder(folder), x, mask_ratio=ratio, seed=seed)
    noise = torch.rand(2, L, generator=torch.Generator().manual_seed(seed))
    pixel_values = _normalise(x)
    model.vit.embeddings.config.mask_ratio = ratio
    try:
        with torch.no_grad():
            ref = model(pixel_values, noise=noise)
    finally:
        model.vit.embeddings.config.mask_ratio = 0.75
    assert torch.equal(out["mask"], ref.mask.bool())
    torch.testing.assert_close(out["loss"], ref.loss)
    masked_mean = (out["per_patch_error"] * out["mask"]).sum() / out["mask"].sum()
    torch.testing.assert_close(masked_mean, ref.loss)

    # Explicit per-patch loop: prediction (B, L, p*p*C), channels last inside a patch.
    expected = torch.empty(2, L)
    pixels = torch.empty(2, L, PATCH * PATCH * 3)
    for b in range(2):
        for i in range(L):
            row, col = divmod(i, GRID)
            rows, cols = (
                slice(row * PATCH, (row + 1) * PATCH),
                slice(col * PATCH, (col + 1) * PATCH),
            )
            patch = pixel_values[b, :, rows, cols]  # (C, p, p)
            target = patch.permute(1, 2, 0).reshape(-1)  # (p*p*C,)
            pred = ref.logits[b, i]
            if model.config.norm_pix_loss:
                mu, sd = target.mean(), (target.var() + 1e-6) ** 0.5
                expected[b, i] = ((pred - (target - mu) / sd) ** 2).mean()
                pixels[b, i] = pred * sd + mu
            else:
                expected[b, i] = ((pred - target) ** 2).mean()
                pixels[b, i] = pred
    torch.testing.assert_close(out["per_patch_error"], expected)
    image = model.unpatchify(pixels)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    torch.testing.assert_close(out["reconstruction"], (image * std + mean).clamp(0, 1))


def test_mae_reconstruct_accepts_the_raw_model_and_grayscale(mae):
    _, model = mae
    gray = _images(channels=1)
    a = mae_reconstruct(model, gray, seed=1)
    b = mae_reconstruct(load_hf_encoder(mae[0]), gray.repeat(1, 3, 1, 1), seed=1)
    assert a["reconstruction"].shape == (2, 3, SIZE, SIZE)
    torch.testing.assert_close(a["reconstruction"], b["reconstruction"])


@pytest.mark.parametrize(
    ("ratio", "match"),
    [
        (0.0, r"mask_ratio must be in \(0, 1\); got 0.0"),
        (1.0, r"mask_ratio must be in \(0, 1\); got 1.0"),
        (-0.2, r"mask_ratio must be in \(0, 1\)"),
        (1.5, r"mask_ratio must be in \(0, 1\)"),
        (0.97, "must leave at least one visible patch; got 0.97 for 16 patches"),
        (1e-17, "mask_ratio 1e-17 masks no patch of 16; use at least 0.0625"),
    ],
)
def test_mae_reconstruct_rejects_bad_ratios(mae, ratio, match):
    with pytest.raises(ValueError, match=match):
        mae_reconstruct(load_hf_encoder(mae[0]), _images(), mask_ratio=ratio)


def test_mae_reconstruct_needs_the_decoder(mae_encoder_only, dinov2):
    with pytest.raises(ValueError, match="needs a ViT-MAE saved with its decoder.*ViTMAEModel"):
        mae_reconstruct(load_hf_encoder(mae_encoder_only[0]), _images())
    with pytest.raises(ValueError, match="needs a ViT-MAE saved with its decoder.*Dinov2Model"):
        mae_reconstruct(load_hf_encoder(dinov2[0]), _images())
