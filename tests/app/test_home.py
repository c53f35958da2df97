from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


def test_home_renders_without_exceptions():
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "SSL Explorer"
    assert any("Device:" in c.value for c in at.sidebar.caption)
    assert [s.value for s in at.subheader] == ["Contrastive", "Teacher-student",
                                              "Masked reconstruction", "A tour of the pages"]


def test_home_tour_links_to_the_pages():
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    assert not at.exception
    links = at.get("page_link")
    assert [link.proto.page for link in links] == ["augmentations", "infonce", "mae"]
