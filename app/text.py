"""Text from outside (a URL value, an upload's file name, a folder name) shown as itself.

Streamlit renders the strings of ``st.markdown``, ``st.info``, ``st.error``, ``st.caption`` and
the like as Markdown, so ``[click here](http://evil.example/x)`` from a link would become a link
and ``![x](http://host/t.png)`` an image every viewer's browser fetches. :func:`literal` escapes
the characters of Markdown's inline syntax with CommonMark's backslash escapes, and ``:`` and
``www.`` so that bare URLs are not autolinked (``http\\://``): the text reads as typed and
nothing in it is markup.
:func:`public` shortens the server's absolute paths in an error message to their last part.
"""

from __future__ import annotations

import re

__all__ = ["MAX_SHOWN", "literal", "public"]

MAX_SHOWN = 80  # characters of an outside value shown at most
# Markdown's inline syntax (emphasis, code, links, images, HTML, LaTeX, tables, strikethrough),
# and ":" so that no bare URL becomes an autolink; "www." is broken up for the same reason.
_MARKUP = re.compile(r"([\\`*_{}\[\]()<>#!|~$:])")


def literal(text: object, *, max_chars: int = MAX_SHOWN) -> str:
    """``text`` as Markdown that renders exactly as it reads (shortened to ``max_chars`` with
    an ellipsis; line breaks become spaces)."""
    value = " ".join(str(text).split())
    if len(value) > max_chars:
        value = value[: max_chars - 1] + "…"
    return _MARKUP.sub(r"\\\1", value).replace("www.", "www\\.")


# An absolute path: a "/" not inside a word, a URL or a relative path, then path characters.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~\\])/(?=[\w.~-])[^\s'\"`,;()\[\]<>]*")


def _short(match: re.Match[str]) -> str:
    path = match.group(0).rstrip("/.")
    name = path.rsplit("/", 1)[-1]
    return f"…/{name}" if name else "…"


def public(error: object) -> str:
    """An error's message fit for any user: every absolute path of the server (a checkpoint,
    the Hugging Face cache, the repository, a file of the library) shortened to its last part,
    so a message names what went wrong without mapping the server's disk."""
    return _ABSOLUTE_PATH.sub(_short, str(error))
