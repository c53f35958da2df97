"""Hostile uploads in a real browser, on every page with an upload widget.

Each file of the bad-input corpus (tests/bad_inputs.py) is uploaded in turn on one tab: an invalid
file must bring a clear message (an st.error that says what is wrong, or the uploader's own
refusal of a file type it does not take), a valid one a rendered result; never a traceback. After
the whole corpus a slider must still change a figure.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif", ".pdf": "application/pdf",
        ".txt": "text/plain"}


def _bad_inputs() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bad_inputs", Path(__file__).resolve().parents[1] / "bad_inputs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BAD = _bad_inputs()


def upload_cases() -> list[tuple[str, str, bytes, str, str]]:
    """(case, file name, bytes, MIME type, "ok"|"error") for the corpus, plus the non-images
    renamed .png so that they get past the uploader's type filter to the server's decoder."""
    corpus = BAD.corpus()
    cases = [(name, f"{name}{BAD.SUFFIX[name]}", data, MIME[BAD.SUFFIX[name]], BAD.EXPECT[name])
             for name, data in corpus.items()]
    for name, suffix in BAD.SUFFIX.items():
        if suffix in (".txt", ".pdf"):
            cases.append((name, f"{name}_renamed.png", corpus[name], "image/png", "error"))
    return cases


def test_the_corpus_covers_the_non_images_behind_an_image_name() -> None:
    cases = upload_cases()
    assert {case[4] for case in cases} == {"ok", "error"}
    assert len(cases) == len(BAD.EXPECT) + 2  # text and pdf_header, renamed .png
    assert {case[1] for case in cases} >= {"text_renamed.png", "pdf_header_renamed.png"}


def _upload_problem(app: Any, *, case: str, file_name: str, expect: str, before: str
                    ) -> str | None:
    """None when the page shows what it should after uploading ``file_name``; else what is
    wrong. ``before``: the figures' fingerprint before the upload."""
    if app.exceptions():
        return f"exception {app.exceptions()}"
    refusal, errors = app.uploader_refusal(file_name), app.errors()
    if expect == "error":
        match = BAD.ERROR_MATCH[case]
        if refusal is None and not any(re.search(match, e, re.DOTALL) for e in errors):
            return f"no st.error matching /{match}/; errors {errors}"
    elif refusal is not None:
        return f"a valid image refused by the uploader: {refusal}"
    elif errors:
        return f"a valid image brought st.error {errors}"
    elif not app.figure_count() or app.figure_fingerprint() == before:
        return "no figure changed (the upload was not rendered)"
    return None


def test_every_bad_input_is_refused_clearly_and_every_good_one_renders(
    app: Any, upload_route: Any
) -> None:
    app.open(upload_route.path)
    assert app.reveal_file_input(), (
        f"{upload_route.stem}: its source draws an upload widget but the page shows no file input"
        " (nor a radio option 'Upload' that shows one)"
    )
    app.assert_clean(f"{upload_route.stem} with the upload widget shown")

    problems: list[str] = []
    for case, file_name, data, mime, expect in upload_cases():
        before = app.figure_fingerprint()
        app.upload(file_name, data, mime)

        # A page may rerun more than once after an upload (the old file removed, then the new
        # one): give it a few seconds to reach the expected state, unless the uploader has
        # refused the file (final).
        check = functools.partial(_upload_problem, app, case=case, file_name=file_name,
                                  expect=expect, before=before)
        refused = app.uploader_refusal(file_name) is not None
        problem = check() if refused else app.eventually(check, timeout=8.0)
        if problem is not None:
            problems.append(f"{file_name} ({len(data):,} bytes, expected {expect}): {problem}")
    assert not problems, f"{upload_route.stem}:\n" + "\n".join(problems)

    # The last case was refused and its error stays while that file sits in the uploader (the
    # page shows the previous image, the last valid one). Another valid upload (the first, so
    # that the figure changes) clears it and the page is clean again.
    case, file_name, data, mime, _ = next(c for c in upload_cases() if c[4] == "ok")
    before = app.figure_fingerprint()
    app.upload(file_name, data, mime)
    problem = app.eventually(functools.partial(_upload_problem, app, case=case,
                                               file_name=file_name, expect="ok", before=before),
                             timeout=8.0)
    assert problem is None, f"{upload_route.stem}: re-uploading {file_name}: {problem}"

    before = app.figure_fingerprint()
    moved = app.move_sliders_until(lambda: app.figure_fingerprint() != before)
    moved = moved or app.click_other_radio_option()
    assert moved is not None, f"{upload_route.stem}: no slider or radio to move after the uploads"
    app.assert_clean(f"{upload_route.stem} after the uploads and moving {moved}")
    assert app.figure_fingerprint() != before, (
        f"{upload_route.stem}: no figure changed after the uploads and moving {moved}"
    )
