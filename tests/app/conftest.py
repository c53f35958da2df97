"""Helpers for the app tests: open a page of the real router with AppTest, check it is clean."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ssl_core import paths

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
# No background UMAP compile in every AppTest process (tests that need UMAP warm it themselves).
os.environ["SSL_EXPLORER_WARM_UMAP"] = "0"


def open_app_page(page: str, query: Mapping[str, str] | None = None) -> AppTest:
    """Run the router once (Home), then switch to ``pages/<page>.py`` with ``query`` in the URL."""
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.query_params.update(query or {})
    at.run()
    return at.switch_page(f"../pages/{page}.py").run()


def assert_clean(at: AppTest) -> None:
    """No exception element anywhere on the page (a user never sees a traceback)."""
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def open_page() -> Callable[..., AppTest]:
    return open_app_page


@pytest.fixture
def clean() -> Callable[[AppTest], None]:
    return assert_clean


def save_tiny_encoder(directory: Path, method: str, *,
                      data_name: str = "Fashion-MNIST, test") -> None:
    """A tiny seeded SimCLR (ResNet) or DINO (ViT) checkpoint whose config names ``data_name``."""
    import torch

    from ssl_core.checkpoints import save_checkpoint
    from ssl_core.methods import build_method, method_spec

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        if method == "simclr":
            model = build_method("simclr", backbone="cnn_small_28",
                                 backbone_kwargs={"widths": (8, 16)})
        else:
            model = build_method("dino", backbone="vit_tiny_p4_28",
                                 backbone_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2},
                                 config={"out_dim": 64, "head_hidden_dim": 32,
                                         "head_bottleneck_dim": 16})
    save_checkpoint(directory, state_dict=model.state_dict(),
                    config=method_spec(model) | {"data": {"name": data_name}})


@pytest.fixture
def tiny_checkpoints(tmp_path, monkeypatch) -> Path:
    """A checkpoints folder with a tiny "simclr" and "dino", used by the app instead of the
    bundled one; an empty Hugging Face cache, so no DINOv2 is offered."""

    root = tmp_path / "checkpoints"
    save_tiny_encoder(root / "simclr", "simclr")
    save_tiny_encoder(root / "dino", "dino")
    monkeypatch.setattr(paths, "checkpoints_dir", lambda: root)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no_hf"))
    return root
