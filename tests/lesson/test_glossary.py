"""Every page has a glossary, every term it lists is defined, and every page draws it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lesson.glossary import PAGE_TERMS, TERMS, page_glossary

PAGES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "pages").glob("*.py"))


def test_every_page_has_a_glossary():
    assert PAGES and set(PAGE_TERMS) == set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_every_term_of_a_page_is_defined(page):
    missing = [term for term in PAGE_TERMS[page] if term not in TERMS]
    assert not missing, f"pages/{page}.py lists undefined terms {missing}"
    assert len(set(PAGE_TERMS[page])) == len(PAGE_TERMS[page])  # no term twice
    assert all(len(text) > 40 for _, text in page_glossary(page))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_draws_its_own_glossary(page):
    tree = ast.parse((Path(__file__).resolve().parents[2] / "pages" / f"{page}.py").read_text())
    calls = [node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glossary"
             and node.args and isinstance(node.args[0], ast.Constant)]
    assert calls == [page]


def test_the_terms_the_lesson_names_are_defined():
    for term in ("lift", "kNN k=200 T=0.1", "InfoNCE", "τ (temperature)", "centring",
                 "sharpening", "EMA (teacher momentum)", "mask ratio", "linear probe",
                 "fine-tuning"):
        assert term in TERMS


def test_an_unknown_page_is_a_clear_error():
    with pytest.raises(KeyError, match="no glossary for page 'nope'"):
        page_glossary("nope")
