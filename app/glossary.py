"""A page's glossary: the terms it shows (``lesson.glossary``) in a collapsed expander."""

from __future__ import annotations

import streamlit as st

from lesson.glossary import page_glossary

__all__ = ["glossary"]


def glossary(page: str) -> None:
    """Draw the glossary of ``page`` (its script's name under ``pages/``) as an expander."""
    with st.expander("Glossary: the terms on this page", icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{term}**: {text}" for term, text in page_glossary(page)))
