from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from lesson import results
from ssl_core import paths
from ssl_core.checkpoints import save_checkpoint
from ssl_core.methods import build_method, method_spec

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


def _home() -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """Empty checkpoint and result folders in place of the bundled ones."""
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: tmp_path / "checkpoints")
    monkeypatch.setattr(paths, "results_dir", lambda: tmp_path / "results")
    return tmp_path


def test_home_renders_the_families_and_the_diagram():
    at = _home()
    assert at.title[0].value == "SSL Explorer"
    assert any("Device:" in c.value for c in at.sidebar.caption)
    assert [s.value for s in at.subheader] == ["Contrastive", "Teacher-student",
                                              "Masked reconstruction",
                                              "The lesson, step by step", "A tour of the pages",
                                              "What is bundled"]
    diagram = at.get("graphviz_chart")[0].proto.spec
    for family in ("contrastive", "teacher-student", "masked reconstruction"):
        assert family in diagram


def test_the_tour_links_every_page_of_the_router():
    routed = re.findall(r'"pages" / "(\w+)\.py"', MAIN.read_text())
    assert len(routed) == 11
    # The default page (home) has the empty URL path.
    links = [link.proto.page or "home" for link in _home().get("page_link")]
    assert sorted(links) == sorted(routed) and len(links) == len(set(links))


def test_without_bundled_files_home_says_so(bundled):
    at = _home()
    infos = " ".join(i.value for i in at.info)
    assert "No checkpoints are bundled" in infos and "No measured results yet" in infos
    assert not at.dataframe


def test_bundled_checkpoints_and_results_are_read_from_disk(bundled):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = build_method("simclr", backbone="cnn_small_28",
                              backbone_kwargs={"widths": [4, 8, 8, 8]})
    save_checkpoint(bundled / "checkpoints" / "tiny", state_dict=method.state_dict(),
                    config=method_spec(method) | {"step": 7})
    (bundled / "checkpoints" / "tiny" / "metrics.jsonl").write_text(
        '{"step": 1, "loss": 9.0}\n{"step": 7, "loss": 2.5, "elapsed_s": 120}\n')
    (bundled / "checkpoints" / "broken").mkdir()
    (bundled / "checkpoints" / "broken" / "model.safetensors").write_bytes(b"x")
    (bundled / "checkpoints" / "empty").mkdir()  # no weights: not listed
    results.save_result("some_result", {"x": 1}, command="python3 -m some.module")
    at = _home()
    checkpoints = at.dataframe[0].value
    assert list(checkpoints["checkpoint"]) == ["broken", "tiny"]
    tiny = checkpoints.set_index("checkpoint").loc["tiny"]
    assert (tiny["method"], tiny["backbone"], tiny["steps"]) == ("simclr", "cnn_small_28", 7)
    assert tiny["final training loss"] == 2.5 and tiny["training time (min)"] == 2.0
    assert checkpoints.set_index("checkpoint").loc["broken", "method"] == "unreadable"
    measured = at.dataframe[1].value
    assert list(measured["result"]) == ["some_result"]
    assert measured["command"][0] == "python3 -m some.module"


def test_the_lesson_path_offers_every_step_in_order():
    from app.tour import STEPS

    at = _home()
    keys = [b.key for b in at.button if b.key and b.key.startswith("home_tour_")]
    assert keys == ["home_tour_start", *(f"home_tour_{i}" for i in range(len(STEPS)))]
    assert [b.label for b in at.button][1:len(STEPS) + 1] == [
        f"{i + 1}. {step.title}" for i, step in enumerate(STEPS)]
