from __future__ import annotations

import pytest

from app import resources

PAGE = "retrieval"


@pytest.fixture
def tiny(tiny_checkpoints):
    return tiny_checkpoints


def _results(at) -> list[str]:
    return [c for image in at.get("image") for c in image.captions if c.startswith("#")]


def _scores(at) -> list[float]:
    return [float(c.split(" · ")[1]) for c in _results(at)]


def test_vit_encoder_gives_neighbours_and_a_patch_heat_map(tiny, open_page, clean):
    at = open_page(PAGE, {"ret_n": "200", "ret_enc": "ckpt:dino", "ret_k": "5"})
    clean(at)
    assert not at.error
    assert at.radio(key="ret_source").value == "fashion"  # the query defaults to a dataset item
    # the query itself is shown above its neighbours: one image captioned "Query"
    assert [c for image in at.get("image") for c in image.captions if c == "Query"] == ["Query"]
    results = _results(at)
    assert len(results) == 5 and results[0].startswith("#1 · ")
    scores = _scores(at)
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    (same,) = [m for m in at.metric if m.label.startswith("Neighbours of the query's class")]
    assert 0 <= int(same.value.split(" of ")[0]) <= 5
    (heat,) = at.get("plotly_chart")
    assert '"type":"heatmap"' in heat.proto.spec.replace(" ", "")
    assert any("7 x 7 patch tokens" in c.value for c in at.caption)
    at.number_input(key="ret_match").set_value(3).run()
    clean(at)
    assert "match #3" in at.get("plotly_chart")[0].proto.spec


def test_cnn_encoder_explains_why_there_is_no_heat_map(tiny, open_page, clean):
    at = open_page(PAGE, {"ret_n": "100", "ret_enc": "ckpt:simclr"})
    clean(at)
    assert len(_results(at)) == 8
    assert any("need a ViT encoder" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_two_encoders_side_by_side_on_photo_crops(tiny, open_page, clean):
    at = open_page(PAGE, {"ret_data": "photos", "ret_n": "64", "ret_source": "photo",
                          "ret_photo": "coffee", "ret_compare": "true", "ret_enc": "raw",
                          "ret_enc2": "random:dino", "ret_k": "4"})
    clean(at)
    assert not at.error
    assert len(_results(at)) == 8  # 4 neighbours for each encoder
    assert [s.value for s in at.subheader][:2] == [
        "Raw pixels (no learning)", "Random init · vit_tiny_p4_28 (as dino)"]
    assert len(at.get("plotly_chart")) == 1  # only the ViT has patch tokens


def test_bad_gallery_folder_is_an_error_message(tiny, tmp_path, open_page, clean, monkeypatch):
    monkeypatch.setenv("SSL_EXPLORER_FOLDER_ROOTS", str(tmp_path))
    at = open_page(PAGE, {"ret_data": "folder", "ret_folder": str(tmp_path / "nope")})
    clean(at)
    assert any("not one this server offers" in w.value for w in at.warning)
    assert any("no images found" in e.value for e in at.error)
    assert not any(str(tmp_path) in m.value for m in [*at.error, *at.warning, *at.caption])
    assert not _results(at)


def test_query_params_round_trip(tiny, open_page, clean):
    query = {"ret_n": "150", "ret_enc": "ckpt:simclr", "ret_k": "3", "ret_item": "42"}
    at = open_page(PAGE, query)
    clean(at)
    assert at.slider(key="ret_k").value == 3 and at.number_input(key="ret_item").value == 42
    assert at.query_params == query


@pytest.mark.slow
@pytest.mark.skipif(resources.bundled_checkpoint("simclr") is None, reason="no bundled SimCLR")
def test_bundled_simclr_retrieves_neighbours(open_page, clean):
    at = open_page(PAGE, {"ret_n": "500", "ret_enc": "ckpt:simclr", "ret_k": "8"})
    clean(at)
    assert not at.error
    assert len(_results(at)) == 8
    scores = _scores(at)
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert any("need a ViT encoder" in i.value for i in at.info)  # a CNN: no patch heat map
