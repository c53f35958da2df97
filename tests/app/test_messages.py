"""What a user reads: text from a URL shown as itself, never as Markdown; no server path and
no traceback in any message (issue 16, items 4 and 5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import encoders
from app.text import literal, public

ROOT = str(Path(__file__).resolve().parents[2])
# an unescaped Markdown link or image: [text](target) or ![alt](target)
LINK = re.compile(r"(?<!\\)!?\[[^\]]*(?<!\\)\]\(")
AUTOLINK = re.compile(r"(?<![\\/])https?://|www\.")
HOSTILE = {
    "link": "hf:[click here](http://evil.example/x)",
    "image": "ckpt:![x](http://127.0.0.1:9/t.png)",
    "code": "hf:a` **bold** `b<script>",
    "autolink": "raw http://evil.example/y www.evil.example",
}


@pytest.fixture(autouse=True)
def _no_background_warm_up(monkeypatch):
    monkeypatch.setattr(encoders, "start_umap_warm_up", lambda: None)


def _texts(at) -> list[str]:
    """Every string the page shows through Markdown."""
    out = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title",
                 "subheader", "header"):
        out += [str(element.value) for element in getattr(at, kind)]
    return out


def test_literal_leaves_no_markup():
    for value in HOSTILE.values():
        shown = literal(value)
        assert not LINK.search(shown) and not AUTOLINK.search(shown), shown
        assert "`" not in shown.replace("\\`", "")
    assert literal("x" * 300).endswith("…") and len(literal("x" * 300)) == 80
    assert literal("a\nb") == "a b"


def test_public_shortens_absolute_paths_only():
    message = ("cannot read /root/.cache/huggingface/hub/models--facebook--dinov2-small/x.json "
               "(see http://example.org/a/b); 12/16 steps/s; assets/checkpoints/<name>/ "
               f"in {ROOT}/assets/checkpoints/dino")
    shown = public(message)
    assert "/root" not in shown and ROOT not in shown
    assert "…/x.json" in shown and "…/dino" in shown
    assert "http://example.org/a/b" in shown and "12/16 steps/s" in shown
    assert "assets/checkpoints/<name>/" in shown


@pytest.mark.parametrize(("page", "key"), [("embeddings", "emb_enc"), ("retrieval", "ret_enc"),
                                           ("attention", "att_encoder")])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_url_values_render_as_text(page, key, case, tiny_checkpoints, open_page, clean):
    at = open_page(page, {key: HOSTILE[case], "emb_n": "50", "emb_method": "pca",
                          "ret_n": "50"})
    clean(at)
    texts = _texts(at)
    said = [t for t in texts if "not" in t and ("available" in t or "offered" in t
                                                 or "known" in t)]
    assert said, "the page says the linked encoder is not offered"
    for text in texts:
        assert not LINK.search(text), text
        assert not AUTOLINK.search(text), text
    assert not any("<script>" in t for t in texts)


def test_messages_name_no_server_path(tiny_checkpoints, tmp_path, open_page, clean,
                                      monkeypatch):
    at = open_page("embeddings", {"emb_enc": "hf:facebook/dinov2-small", "emb_n": "50",
                                  "emb_method": "pca"})
    clean(at)
    texts = _texts(at)
    assert any("Hugging Face cache" in t for t in texts)
    for text in texts:
        assert ROOT not in text and str(tmp_path) not in text, text
        assert not re.search(r"(?<![\w:/.])/(root|home|usr|tmp|work)/", text), text
