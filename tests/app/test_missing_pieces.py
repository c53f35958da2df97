"""Missing pieces in the running app: every page that loads a model, with the model's files
absent, truncated, replaced by a malicious pickle, or (DINOv2) broken in the local cache.

For each page and the URL that makes it load a model, the page must: raise no exception (no
traceback), show a message that says what is missing or broken, answer a rerun within 2 s, and
leave the rest of the app working (the same session can open another page). The malicious
pickle's ``__reduce__`` would create a marker file: it never appears.

The bundled checkpoints are never touched: ``app.paths.checkpoints_dir()`` points at a tmp
folder per test (monkeypatch) and ``HF_HUB_CACHE`` at a tmp cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ssl_core import paths
from ssl_core.checkpoints import CONFIG_FILE, WEIGHTS_FILE, save_checkpoint
from ssl_core.methods import build_method, method_spec

pytestmark = pytest.mark.timeout(300)

# page -> URL query that makes it load (or offer) a bundled model
MODEL_PAGES: dict[str, dict[str, str]] = {
    "mae": {"mae_source": "fashion"},
    "infonce": {"nce_mode": "real"},
    "embeddings": {"emb_enc": "ckpt:simclr"},
    "retrieval": {"ret_enc": "ckpt:simclr"},
    "attention": {"att_encoder": "dino"},
    "linear_probe": {"lp_enc": "ckpt:simclr"},
}
# pages whose live part builds its own model (no bundled checkpoint): they must simply keep
# working, clean and fast, whatever state the checkpoints are in
OWN_MODEL_PAGES: dict[str, dict[str, str]] = {"dino_collapse": {}}

# the bundled checkpoints and a tiny model of the same method and backbone family
BUNDLED = {
    "simclr": ("simclr", "cnn_small_28", {}),
    "dino": ("dino", "vit_tiny_p4_28", {"depth": 1}),
    "mae": ("mae", "vit_tiny_p4_28", {"depth": 1}),
}


def _tiny(method: str, backbone: str, kwargs: dict) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        config = {"decoder_depth": 1, "decoder_dim": 32} if method == "mae" else {}
        return build_method(method, backbone=backbone, backbone_kwargs=kwargs, config=config)


def _write_checkpoints(root: Path, damage: str, evil: bytes) -> None:
    """Each bundled name with a valid config.json and weights damaged as ``damage`` says."""
    for name, spec in BUNDLED.items():
        model = _tiny(*spec)
        directory = save_checkpoint(root / name, state_dict=model.state_dict(),
                                    config=method_spec(model))
        weights = directory / WEIGHTS_FILE
        if damage == "truncated":
            data = weights.read_bytes()
            weights.write_bytes(data[: len(data) // 2])
        elif damage == "pickle":
            weights.write_bytes(evil)
        assert json.loads((directory / CONFIG_FILE).read_text())["method"] == spec[0]


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _texts(at) -> list[str]:
    return [e.value for kind in ("info", "warning", "error") for e in getattr(at, kind)]


def _check(at, clean, *, patterns: tuple[str, ...], page: str) -> None:
    """No traceback, a message matching one of ``patterns``, a clean rerun (how long it takes is
    ``benchmarks/bench_fail_fast.py``'s), the app still works."""
    clean(at)
    text = "\n".join(_texts(at)).lower()  # st.info / st.warning / st.error, not small print
    assert any(p.lower() in text for p in patterns), (page, _texts(at))
    at.run()
    clean(at)
    # the rest of the app keeps working in the same session
    at.switch_page("../pages/augmentations.py").run()
    clean(at)
    assert at.title and at.image, "augmentations did not render after the failure"


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(MODEL_PAGES))
def test_no_bundled_checkpoint(page, tmp_path, monkeypatch, empty_hf_cache, open_page, clean):
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path / "checkpoints")
    at = open_page(page, MODEL_PAGES[page])
    _check(at, clean, page=page,
           patterns=("assets/checkpoints", "checkpoint", "not here yet", "not measured yet"))


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "pickle"])
@pytest.mark.parametrize("page", sorted(MODEL_PAGES))
def test_damaged_checkpoint(page, damage, tmp_path, monkeypatch, empty_hf_cache, evil,
                            open_page, clean):
    root = tmp_path / "checkpoints"
    _write_checkpoints(root, damage, evil)
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: root)
    at = open_page(page, MODEL_PAGES[page])
    _check(at, clean, page=page,
           patterns=("truncated", "not a safetensors file", "could not be read"))


@pytest.mark.parametrize("damage", ["absent", "truncated", "pickle"])
@pytest.mark.parametrize("page", sorted(OWN_MODEL_PAGES))
def test_pages_with_their_own_model_ignore_the_checkpoints(page, damage, tmp_path, monkeypatch,
                                                           empty_hf_cache, evil, open_page,
                                                           clean):
    root = tmp_path / "checkpoints"
    if damage != "absent":
        _write_checkpoints(root, damage, evil)
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: root)
    at = open_page(page, OWN_MODEL_PAGES[page])
    clean(at)
    assert at.button(key="dino_run").label == "Run"
    at.run()
    clean(at)
    assert at.button(key="dino_run").label == "Run"


# pages that offer DINOv2 when the local Hugging Face cache holds it
HF_PAGES: dict[str, dict[str, str]] = {
    "attention": {"att_encoder": "hf:facebook/dinov2-small"},
    "embeddings": {"emb_enc": "hf:facebook/dinov2-small"},
    "retrieval": {"ret_enc": "hf:facebook/dinov2-small"},
}


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(HF_PAGES))
def test_dinov2_not_in_the_local_cache(page, empty_hf_cache, open_page, clean):
    """A link made where DINOv2 was cached, opened where it is not (bundled checkpoints as they
    are): the page says DINOv2 is not available here and works with what it has."""
    at = open_page(page, HF_PAGES[page])
    clean(at)
    key = next(iter(HF_PAGES[page]))
    boxes = [s for s in at.selectbox if s.key == key]
    assert all("hf:facebook/dinov2-small" not in s.options for s in boxes), (
        "DINOv2 is offered although the cache is empty")
    _check(at, clean, page=page, patterns=("dinov2",))


@pytest.fixture
def broken_dinov2_cache(tiny_dinov2_cache, tmp_path, monkeypatch) -> Path:
    """A copy of the tiny DINOv2 cache whose model.safetensors is cut in half."""
    import shutil

    cache = tmp_path / "hub"
    shutil.copytree(tiny_dinov2_cache, cache)
    (weights,) = cache.glob("models--facebook--dinov2-small/snapshots/*/model.safetensors")
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.mark.parametrize("page", [  # the embeddings page warms UMAP up: seconds
    pytest.param(page, marks=pytest.mark.slow) if page == "embeddings" else page
    for page in sorted(HF_PAGES)])
def test_truncated_dinov2_in_the_local_cache(page, tmp_path, monkeypatch, broken_dinov2_cache,
                                             open_page, clean):
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path / "checkpoints")
    at = open_page(page, HF_PAGES[page])
    _check(at, clean, page=page,
           patterns=("dinov2", "safetensors", "truncated", "could not"))


# ----------------------------------------------------------------------------------------------
# the bad-input corpus through the app's upload decoder (the widget itself: tests/browser/)
# ----------------------------------------------------------------------------------------------


def _bad_inputs():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bad_inputs.py"
    spec = importlib.util.spec_from_file_location("bad_inputs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BAD_INPUTS = _bad_inputs()


@pytest.mark.parametrize("name", sorted(BAD_INPUTS.EXPECT))
def test_every_corpus_case_through_the_upload_decoder(name):
    from app.widgets import MAX_SIDE, decode_upload
    from ssl_core.data import DataError

    data = BAD_INPUTS.corpus()[name]
    if BAD_INPUTS.EXPECT[name] == "error":
        with pytest.raises(DataError, match=BAD_INPUTS.ERROR_MATCH[name]):
            decode_upload(data)
        return
    image = decode_upload(data)
    expected = BAD_INPUTS.SHAPE[name]
    assert image.dtype.name == "uint8" and image.ndim == len(expected)
    assert max(image.shape[:2]) == min(max(expected[:2]), MAX_SIDE)
    assert image.shape[2:] == expected[2:]
