from __future__ import annotations

import re

import pytest

from lesson.picker import PickerInputs, recommend
from ssl_core.paths import checkout_root

REPO_ROOT = checkout_root()

PAGE = "picker"
KEYS = ("pick_unlabelled", "pick_labelled", "pick_compute", "pick_hours", "pick_task",
        "pick_backbone", "pick_pretrained", "pick_domain")


@pytest.fixture(scope="module")
def presets():
    """The page's PRESETS, read from the script's definitions (before it draws anything)."""
    source = (REPO_ROOT / "pages" / "picker.py").read_text()
    head = source.split("\nrestore(PARAMS)")[0]
    namespace: dict = {}
    exec(compile(head, "pages/picker.py", "exec"), namespace)
    return namespace["PRESETS"]


def _inputs(values) -> PickerInputs:
    return PickerInputs(
        n_unlabelled=values["pick_unlabelled"], n_labelled=values["pick_labelled"],
        compute=values["pick_compute"], hours=values["pick_hours"], task=values["pick_task"],
        backbone=values["pick_backbone"], pretrained_allowed=values["pick_pretrained"],
        image_domain=values["pick_domain"],
    )


def _first(at) -> str:
    return next(s.value for s in at.subheader if s.value.startswith("First choice"))


def _expanders(at) -> list[str]:
    """The recommendations' expanders (not the rule book, not the page's glossary)."""
    return [e.label for e in at.expander
            if e.label != "The rule book" and not e.label.startswith("Glossary")]


def test_defaults(open_page, clean):
    at = open_page(PAGE)
    clean(at)
    assert not at.error
    recs = recommend(PickerInputs(100_000, 1_000))
    assert _first(at) == f"First choice: {recs[0].label} ({recs[0].score:+g})"
    assert _expanders(at) == [f"{r.rank}. {r.label}: {r.score:+g}" for r in recs]
    assert len(at.get("plotly_chart")) == 1
    codes = [c.value for c in at.code]
    assert any(c.startswith("python3 -m ssl_core.pretrain") for c in codes)
    assert any(b.label.startswith("Download the prompt") for b in at.get("download_button"))
    assert at.query_params == {}


def test_presets_are_the_prompts_worked_examples(presets):
    prompt = (REPO_ROOT / "outputs" / "prompt-ssl-pretraining-picker.md").read_text()
    table = prompt.split("<!-- examples:begin -->")[1].split("<!-- examples:end -->")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in table.strip().splitlines()[2:]]
    assert len(rows) == len(presets)
    for row, values in zip(rows, presets.values(), strict=True):
        expected = (int(row[1].replace(",", "")), int(row[2].replace(",", "")), row[3],
                    float(row[4]), row[5], row[6], row[7] == "yes", row[8])
        assert tuple(values[k] for k in KEYS) == expected, row


@pytest.mark.slow
def test_each_preset(open_page, clean, presets):
    at = open_page(PAGE)
    for index, (name, values) in enumerate(presets.items()):
        at.button(key=f"pick_preset_{index}").click().run()
        clean(at)
        assert not at.error, name
        recs = recommend(_inputs(values))
        assert _first(at) == f"First choice: {recs[0].label} ({recs[0].score:+g})", name
        assert len(_expanders(at)) == len(recs), name
        for key, value in values.items():
            assert at.session_state[key] == value, (name, key)
    # the URL now spells the last preset: reopening it gives the same answer
    again = open_page(PAGE, dict(at.query_params))
    clean(again)
    assert _first(again) == _first(at)


def test_no_images_is_an_error_not_a_traceback(open_page, clean):
    at = open_page(PAGE, {"pick_unlabelled": "0", "pick_labelled": "0"})
    clean(at)
    assert any("no images" in e.value for e in at.error)
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("query", [
    {"pick_unlabelled": "10000000000", "pick_labelled": "10000000000", "pick_hours": "10000",
     "pick_compute": "many_gpus"},
    {"pick_unlabelled": "1", "pick_labelled": "0", "pick_hours": "0.1", "pick_compute": "cpu",
     "pick_pretrained": "false"},
])
def test_extremes(open_page, clean, query):
    at = open_page(PAGE, query)
    clean(at)
    assert not at.error
    assert at.query_params == query


def test_exclusions_are_listed_and_url_round_trip(open_page, clean):
    query = {"pick_unlabelled": "5000", "pick_labelled": "0", "pick_compute": "cpu",
             "pick_hours": "8", "pick_task": "retrieval", "pick_backbone": "cnn",
             "pick_pretrained": "false", "pick_domain": "other"}
    at = open_page(PAGE, query)
    clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "`dinov2_linear`" in text and "`finetune`" in text
    assert not any("DINOv2 off the shelf" in label for label in _expanders(at))
    assert at.query_params == query
    assert at.selectbox(key="pick_task").value == "retrieval"
    assert at.toggle(key="pick_pretrained").value is False
    at.selectbox(key="pick_task").set_value("classification").run()
    assert "pick_task" not in at.query_params
    assert re.search(r"label at least ~10 images per class", " ".join(m.value
                                                                      for m in at.markdown))
