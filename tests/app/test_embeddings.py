from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from app import encoders, resources
from ssl_core import paths

PAGE = "embeddings"
KNN = "kNN accuracy (k=20, leave-one-out)"


@pytest.fixture
def tiny(tiny_checkpoints):
    return tiny_checkpoints


@pytest.fixture(autouse=True)
def _no_background_warm_up(monkeypatch):
    """The page starts the projection worker, which compiles UMAP, on its first visit; tests
    that project with PCA or t-SNE need not pay for it (the UMAP test compiles it while it
    waits)."""
    monkeypatch.setattr(encoders, "start_umap_warm_up", lambda: None)


def _knn(at) -> list[float]:
    return [float(m.value.rstrip("%")) / 100 for m in at.metric if m.label == KNN]


def _charts(at) -> list:
    return at.get("plotly_chart")


@pytest.mark.slow
def test_defaults_with_pca_show_one_map_and_its_knn(tiny, open_page, clean):
    at = open_page(PAGE, {"emb_n": "250", "emb_method": "pca"})
    clean(at)
    assert not at.error
    assert at.selectbox(key="emb_enc").value == "ckpt:simclr"
    assert len(_charts(at)) == 1
    (accuracy,) = _knn(at)
    assert 0.0 <= accuracy <= 1.0
    spec = json.loads(_charts(at)[0].proto.spec)  # Plotly may escape "·" as \u00b7
    assert "Trouser" in {trace["name"] for trace in spec["data"]}  # a trace per class
    assert spec["layout"]["title"]["text"] == "PCA · SimCLR"  # a plain name, not the key
    assert any("250 points, 16-D features -> 2-D by PCA" in c.value for c in at.caption)
    assert at.query_params == {"emb_n": "250", "emb_method": "pca"}


def test_settings_off_the_grid_snap_to_the_nearest_choice(tiny, open_page, clean):
    """An old link (any value of the former fine sliders) opens the nearest map on the grid."""
    at = open_page(PAGE, {"emb_n": "180", "emb_neighbors": "17", "emb_min_dist": "0.3",
                          "emb_method": "pca"})
    clean(at)
    assert not at.error
    assert at.select_slider(key="emb_n").value == 250
    assert at.session_state["emb_neighbors"] == 15
    assert at.session_state["emb_min_dist"] == 0.25
    assert any("250 points" in c.value for c in at.caption)


@pytest.mark.slow
def test_umap_side_by_side_with_raw_pixels(tiny, open_page, clean):
    at = open_page(PAGE, {"emb_n": "100", "emb_compare": "true", "emb_enc2": "raw",
                          "emb_neighbors": "10"})
    clean(at)
    assert not at.error
    assert len(_charts(at)) == 2
    raw = _knn(at)[1]
    assert len(_knn(at)) == 2 and raw > 0.4  # raw pixels already separate trousers from bags
    assert any("by UMAP" in c.value for c in at.caption)
    # the same inputs again: everything comes from the caches
    before = [c.value for c in at.caption if "by UMAP" in c.value]
    at.run()
    assert [c.value for c in at.caption if "by UMAP" in c.value] == before


def test_folders_are_off_unless_the_operator_names_roots(tiny, tmp_path, open_page, clean,
                                                         monkeypatch):
    monkeypatch.delenv("SSL_EXPLORER_FOLDER_ROOTS", raising=False)
    at = open_page(PAGE, {"emb_data": "folder", "emb_folder": str(tmp_path)})
    clean(at)
    assert any("switched off" in e.value for e in at.error)
    assert not _charts(at)
    assert not at.get("text_input"), "no free-text folder path any more"


def test_unlabelled_folder_has_no_knn(tiny, tmp_path, open_page, clean, monkeypatch):
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(
            tmp_path / f"img{i}.png")
    monkeypatch.setenv("SSL_EXPLORER_FOLDER_ROOTS", str(tmp_path))
    at = open_page(PAGE, {"emb_data": "folder", "emb_folder": tmp_path.name, "emb_method": "pca",
                          "emb_enc": "ckpt:dino"})
    clean(at)
    assert not at.error and len(_charts(at)) == 1
    assert not _knn(at)
    assert any("no classes" in c.value for c in at.caption)


@pytest.mark.slow
def test_photo_crops_and_tsne(tiny, open_page, clean):
    at = open_page(PAGE, {"emb_data": "photos", "emb_n": "50", "emb_method": "tsne",
                          "emb_perplexity": "10", "emb_enc": "raw"})
    clean(at)
    assert not at.error
    assert any("16 class(es)" in c.value for c in at.caption)
    assert 0.0 <= _knn(at)[0] <= 1.0


@pytest.mark.slow
def test_impossible_projection_setting_is_an_error_not_a_crash(tiny, open_page, clean):
    at = open_page(PAGE, {"emb_n": "50", "emb_method": "tsne", "emb_perplexity": "80"})
    clean(at)
    assert any("perplexity" in e.value for e in at.error)


def test_without_checkpoints_raw_pixels_remain(tmp_path, monkeypatch, open_page, clean):
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no_hf"))
    at = open_page(PAGE, {"emb_n": "100", "emb_method": "pca", "emb_enc": "ckpt:simclr"})
    clean(at)
    assert at.selectbox(key="emb_enc").value == "raw"  # an unknown encoder in the URL is ignored
    assert len(_charts(at)) == 1
    infos = [i.value for i in at.info]
    assert any("checkpoint simclr is not on this server" in i and "showing Raw pixels" in i
               for i in infos)
    assert any(i.startswith("No bundled checkpoint") for i in infos)


def test_a_link_to_dinov2_where_it_is_not_cached(tiny, open_page, clean):
    at = open_page(PAGE, {"emb_enc": "hf:facebook/dinov2-small", "emb_method": "pca",
                          "emb_n": "100"})
    clean(at)
    assert at.selectbox(key="emb_enc").value == "ckpt:simclr"
    (info,) = at.info
    assert "DINOv2 ViT-S/14 (facebook/dinov2-small) is not in this server's" in info.value
    at.run()
    assert not at.info  # the URL now names what is shown


def test_a_truncated_dinov2_is_an_error_message(tiny, tiny_dinov2_cache, tmp_path, monkeypatch,
                                                open_page, clean):
    import shutil

    cache = tmp_path / "hub"
    shutil.copytree(tiny_dinov2_cache, cache)
    (weights,) = cache.glob("models--facebook--dinov2-small/snapshots/*/model.safetensors")
    weights.write_bytes(weights.read_bytes()[:200])
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    at = open_page(PAGE, {"emb_enc": "hf:facebook/dinov2-small", "emb_method": "pca",
                          "emb_n": "100"})
    clean(at)
    assert any("could not be loaded" in e.value and "truncated" in e.value for e in at.error)


@pytest.mark.slow
def test_bundled_checkpoints_when_present(open_page, clean):
    present = [name for name in ("simclr", "dino", "mae") if resources.bundled_checkpoint(name)]
    at = open_page(PAGE, {"emb_n": "100", "emb_method": "pca"})
    clean(at)
    options = at.selectbox(key="emb_enc").options
    assert len(options) >= 1 + 2 * len(present) - (len(present) > 1)  # raw, each, random twins
    assert not at.error and len(_charts(at)) == 1
