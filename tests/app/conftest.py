"""Helpers for the app tests: open a page of the real router with AppTest, check it is clean."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

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
