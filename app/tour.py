"""The lesson path: the pages in the lesson's order, each opened with the preset that makes its
point, and one sentence of what to notice.

:data:`STEPS` is the whole tour as data: a step's ``query`` is what its page reads from the URL
(its ``app.state.Param`` s; ``tests/app/test_tour.py`` checks that every page keeps every value
it is given). Home lists the steps (:func:`step_button`); a page opened from the tour carries
``?tour=<step, from 1>`` and shows :func:`tour_bar` above its title: the step, what to notice,
and Next / Back. Opening a step starts its page fresh (``app.state.start_fresh``): the
preset and the defaults, not what the session last had there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import streamlit as st

from app import presenter
from app.state import start_fresh

TOUR_KEY = "tour"  # the step's number, from 1, in the URL (one of app.state.SHELL_KEYS)


@dataclass(frozen=True)
class Step:
    """One stop of the tour: ``pages/<page>.py`` opened with ``query``; ``notice``: one sentence
    for the class."""

    page: str
    title: str
    notice: str
    query: Mapping[str, str] = field(default_factory=dict)


STEPS: tuple[Step, ...] = (
    Step("augmentations", "Views",
         "Two crops of one photo can share almost no pixels, yet the encoder must map both to "
         "nearby points: that is what it learns to ignore.",
         {"aug_scale": "0.08,1", "aug_pairs": "3"}),
    Step("infonce", "InfoNCE",
         "The positives are the two bright stripes N off the diagonal: each anchor's positive "
         "takes most of its softmax weight, and the loss sits below log(2N−1).",
         {"nce_noise": "0.3"}),
    Step("infonce", "Temperature",
         "At a cold τ the negatives' weight piles onto the few most similar ones: move τ up to "
         "0.5 and watch the bars flatten.",
         {"nce_tau": "0.05", "nce_negonly": "true"}),
    Step("dino_collapse", "DINO collapse",
         "Without centring one output dimension takes everything: its share climbs to 1 and "
         "the teacher's entropy falls to 0.",
         {"dino_centering": "false", "dino_shown": "no_centering"}),
    Step("mae", "Masked autoencoder",
         "With 90 % of the patches hidden interpolation can only blur the holes while the MAE "
         "still draws a garment; then read the error curves: at which ratio is its lead largest?",
         {"mae_ratio": "0.9"}),
    Step("linear_probe", "Linear probe",
         "Read the curves at 1 to 10 labels per class: how far above raw pixels does each "
         "pretrained encoder start, and where do they meet?",
         {"lp_labels": "5"}),
    Step("picker", "Method picker",
         "A photo project on one GPU: see what it recommends when a public checkpoint may be "
         "used, then switch that off and see what is worth pretraining yourself.",
         {"pick_unlabelled": "1000000", "pick_labelled": "10000"}),
)


def current_step(query: Mapping[str, str], page: str) -> int | None:
    """The tour step (0-based) ``query`` names, if it is a step of ``page``; else None."""
    raw = query.get(TOUR_KEY, "")
    if not raw.strip().isdigit():
        return None
    index = int(raw) - 1
    return index if 0 <= index < len(STEPS) and STEPS[index].page == page else None


def step_query(index: int, *, presenting: bool = False) -> dict[str, str]:
    """The URL query that opens step ``index`` (0-based)."""
    query = {**STEPS[index].query, TOUR_KEY: str(index + 1)}
    if presenting:
        query[presenter.PRESENTER.key] = presenter.PRESENTER.encode(True)
    return query


def page_path(page: str) -> str:
    """``pages/<page>.py`` as st.switch_page names it (relative to app/main.py)."""
    return f"../pages/{page}.py"


ARRIVED_KEY = "_tour_arrived"  # session flag: the next tour page scrolls to its top once
# The browser keeps the main area's scroll offset across st.switch_page: a click on "Start the
# tour" low on Home opened step 1 scrolled down by the same amount, its figure half off a
# projector. Run once on arrival (not on the page's later reruns, which must keep the place).
SCROLL_TO_TOP = """<script>
for (const delay of [0, 100, 400]) setTimeout(() => {
  window.scrollTo(0, 0);
  const main = '[data-testid="stMain"], [data-testid="stAppViewContainer"]';
  for (const el of document.querySelectorAll(main)) el.scrollTop = 0;
}, delay);
</script>"""


def go(index: int) -> None:
    """Open step ``index`` (0-based): its page, fresh, with its preset in the URL."""
    start_fresh()
    st.session_state[ARRIVED_KEY] = True
    st.switch_page(page_path(STEPS[index].page),
                   query_params=step_query(index, presenting=presenter.on()))


def step_button(index: int, *, label: str | None = None, key: str) -> None:
    """A button that opens step ``index``."""
    step = STEPS[index]
    if st.button(label or f"{index + 1}. {step.title}", key=key,
                 icon=":material/arrow_forward:" if label else None):
        go(index)


def tour_bar(page: str) -> None:
    """On a page opened from the tour: the step, what to notice, Next and Back."""
    index = current_step(st.query_params, page)
    if index is None:
        return
    step = STEPS[index]
    with st.container(key="tour_bar"):
        text_col, button_col = st.columns([5, 1], vertical_alignment="center", gap="small")
        text_col.markdown(f"**{index + 1}/{len(STEPS)} {step.title}:** {step.notice}")
        with button_col:
            if index + 1 < len(STEPS):
                if st.button("Next", key="tour_next", icon=":material/arrow_forward:",
                             type="primary"):
                    go(index + 1)
            elif st.button("Home", key="tour_home", icon=":material/home:", type="primary"):
                st.switch_page("../pages/home.py")
            if st.button("Back", key="tour_previous", icon=":material/arrow_back:",
                         disabled=index == 0, type="tertiary"):
                go(index - 1)
        if st.session_state.pop(ARRIVED_KEY, False):
            st.sidebar.html(SCROLL_TO_TOP, unsafe_allow_javascript=True)  # no gap in the page
