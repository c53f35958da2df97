"""DINO collapse: switch centring and sharpening off and watch the teacher collapse.

Inputs: centring on/off, sharpening on/off, the teacher and student temperatures, the centre
momentum, the teacher's EMA momentum, steps and a time limit. "Run" trains a small DINO of this
session's own on the bundled Fashion-MNIST (``lesson.live.dino.live_run``,
through the real trainer) and redraws the charts every few steps; the verdict is
``ssl_core.losses.dino_collapse.collapse_verdict``. The presets show the measured runs of the
``dino_collapse`` result at once (drawn by ``app.dino``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import streamlit as st

from app import figures, presenter, training, workers
from app.dino import draw_panels, profile_figure, show_measured_runs
from app.glossary import glossary
from app.predict import exercise
from app.state import Param, restore, share
from app.text import public
from app.widgets import preset_buttons
from lesson.figures.tables import records_to_csv
from lesson.live.dino import (
    DEFAULT_RECIPE,
    LIVE_STEPS,
    VARIANTS,
    LiveDINOConfig,
    curve_records,
    live_run,
)

RECIPE = DEFAULT_RECIPE  # the live recipe (tests patch the module's DEFAULT_RECIPE: a tiny one)
REPORT_EVERY = 5  # redraw the live charts every this many steps
PARAMS = (
    Param("dino_centering", RECIPE.centering),
    Param("dino_sharpening", RECIPE.sharpening),
    Param("dino_teacher_temp", RECIPE.teacher_temp, lo=0.0, hi=0.3),
    Param("dino_student_temp", RECIPE.student_temp, lo=0.0, hi=0.5),
    Param("dino_center_momentum", RECIPE.center_momentum, lo=0.0, hi=1.0),
    Param("dino_ema", RECIPE.momentum_base, lo=0.8, hi=1.0),
    Param("dino_steps", LIVE_STEPS, lo=10, hi=1000),
    Param("dino_time_limit", 30, lo=5, hi=60),
    Param("dino_shown", "healthy", options=tuple(VARIANTS)),
)
_SWITCHES = dict(dino_teacher_temp=RECIPE.teacher_temp, dino_student_temp=RECIPE.student_temp,
                 dino_center_momentum=RECIPE.center_momentum, dino_ema=RECIPE.momentum_base)
PRESETS = {
    "Healthy": _SWITCHES | dict(dino_centering=True, dino_sharpening=True, dino_shown="healthy"),
    "No centring → collapse to one dimension": _SWITCHES | dict(
        dino_centering=False, dino_sharpening=True, dino_shown="no_centering"),
    "No sharpening → collapse to uniform": _SWITCHES | dict(
        dino_centering=True, dino_sharpening=False, dino_shown="no_sharpening"),
    "Neither": _SWITCHES | dict(dino_centering=False, dino_sharpening=False, dino_shown="neither"),
}


def live_settings() -> LiveDINOConfig:
    """The recipe with the page's switches (raises ValueError with the library's message)."""
    return LiveDINOConfig(**{
        **RECIPE.to_dict(),
        "centering": bool(st.session_state["dino_centering"]),
        "sharpening": bool(st.session_state["dino_sharpening"]),
        "teacher_temp": float(st.session_state["dino_teacher_temp"]),
        "student_temp": float(st.session_state["dino_student_temp"]),
        "center_momentum": float(st.session_state["dino_center_momentum"]),
        "momentum_base": float(st.session_state["dino_ema"]),
    })


restore(PARAMS)
st.title("DINO collapse")
figure_slot = presenter.main_figure()  # the measured runs' four panels
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "DINO trains a student to predict, from any crop of an image, the output distribution of an "
    "EMA **teacher** over K dimensions. Nothing forbids the trivial answer, the same output for "
    "every image; two operations on the teacher's output prevent it. **Centring** subtracts a "
    "running mean of the teacher's logits; **sharpening** divides them by a low teacher "
    "temperature. Switch them off and watch the teacher collapse."
)

# --- presets and controls -------------------------------------------------------------------------
settings = presenter.controls()
with settings:
    preset_buttons(PRESETS, key="dino_preset",
                   label="Presets: set the switches and show the measured run at once")


@st.fragment
def controls() -> None:
    """The switches and sliders of the live run. They drive nothing else on the page until Run
    is pressed, so they are a fragment: moving one reruns only the controls (and says at once
    whether the settings can train)."""
    c1, c2, c3, c4 = st.columns(4)
    centering = c1.toggle("Centring", key="dino_centering",
                          help="Subtract a running mean of the teacher's logits.")
    sharpening = c1.toggle("Sharpening", key="dino_sharpening",
                           help="Off: the teacher's temperature equals the student's.")
    c2.slider("Teacher temperature", 0.0, 0.3, step=0.005, key="dino_teacher_temp",
              format="%.3f", disabled=not sharpening,
              help="Lower = sharper teacher targets. DINO: 0.04-0.07.")
    c2.slider("Student temperature", 0.0, 0.5, step=0.01, key="dino_student_temp", format="%.2f")
    c3.slider("Centre momentum", 0.0, 1.0, step=0.01, key="dino_center_momentum",
              disabled=not centering,
              help="The centre's EMA: higher = slower centre. 1.0 freezes it at zero.")
    c3.slider("Teacher EMA momentum", 0.8, 1.0, step=0.001, key="dino_ema", format="%.3f",
              help="Start of the cosine schedule to 1.0. 1.0 freezes the teacher.")
    c4.slider("Steps", 10, 1000, step=10, key="dino_steps")
    c4.slider("Time limit (s)", 5, 60, step=5, key="dino_time_limit",
              help="The run stops here even if the steps are not done.")
    if not sharpening:
        st.caption(f"Sharpening off: the teacher uses the student's temperature, "
                   f"{st.session_state['dino_student_temp']:g}.")

    try:
        live_settings()
    except ValueError as error:
        st.error(f"These settings cannot train: {public(error)}", icon=":material/error:")
    share(PARAMS)  # a fragment rerun: keep the URL in step with the switches


with settings:
    controls()
try:
    settings: LiveDINOConfig | None = live_settings()
except ValueError:
    settings = None  # the controls say why

exercise("centring", key="dino_predict")

# --- the live run ---------------------------------------------------------------------------------
st.subheader("Train it live")
st.caption(
    f"A fresh model for this session: a {RECIPE.depth}-block ViT (D = {RECIPE.embed_dim}) with a "
    f"K = {RECIPE.out_dim} head, {RECIPE.batch_size} images x (2 global + {RECIPE.n_local} local "
    "crops) per step, on the bundled Fashion-MNIST. The diagnostics are those of each training "
    "step; the profile is measured on fixed test images. It trains in a process of its own at "
    "a low priority: on a server shared by a whole class it makes fewer steps in its time "
    "limit, and everyone's sliders stay quick."
)
run_clicked = st.button("Run", key="dino_run", type="primary", icon=":material/play_arrow:",
                        disabled=settings is None)
if run_clicked and settings is not None:
    steps = int(st.session_state["dino_steps"])
    limit = float(st.session_state["dino_time_limit"])
    progress = st.progress(0.0, text="Building the model…")
    verdict_slot = st.empty()
    top, bottom = st.columns(2), st.columns(2)
    slots = [c.empty() for c in (*top, *bottom)]
    profile_slot = st.empty()
    rows: list[dict[str, float]] = []
    report: dict[str, Any] = {}
    try:
        # in a child process at a lower priority: other sessions' sliders go first and the
        # server's GIL stays free for them (app/workers.py); one per session, a few per server,
        # stopped by a rerun or a closed tab (app/training.py)
        run_reports = training.live_training(live_run, settings, seconds=limit, steps=steps,
                                             time_limit_s=limit, every=REPORT_EVERY)
        with contextlib.closing(run_reports) as reports:
            for report in reports:
                step = report["row"]["step"]
                if rows and rows[-1]["step"] == step:  # the final report may repeat the last step
                    continue
                rows.append(report["row"])
                progress.progress(min(step / steps, 1.0),
                                  text=f"step {step} / {steps} · {report['steps_per_s']:.1f} "
                                       f"steps/s · {report['elapsed_s']:.0f} s")
                verdict_slot.markdown(f"**Verdict so far:** {report['verdict']}")
                draw_panels({"live": ("this run", rows)}, key=f"dino_live_{step}", highlight=None,
                            slots=slots, static=False)
                with profile_slot:
                    st.plotly_chart(profile_figure(report["teacher_histogram"],
                                                   report["teacher_row_profile"],
                                                   title=f"Teacher output at step {step}"),
                                    key=f"dino_live_profile_{step}")
    except training.SlotsFull as error:
        progress.empty()
        st.warning(public(error), icon=":material/hourglass_top:")
        report = {}
    except (ValueError, workers.WorkerError) as error:
        st.error(f"The run stopped: {public(error)}", icon=":material/error:")
    else:
        progress.empty()
        verdict_slot.empty()
        for slot in (*slots, profile_slot):
            slot.empty()
        if report:
            st.session_state["dino_live"] = dict(
                rows=rows, verdict=report["verdict"], histogram=report["teacher_histogram"],
                row_profile=report["teacher_row_profile"], steps_per_s=report["steps_per_s"],
                elapsed_s=report["elapsed_s"], steps=steps, settings=settings.to_dict())

live = st.session_state.get("dino_live")
if live:
    done = live["rows"][-1]["step"]
    stopped = "" if done >= live["steps"] else " (stopped by the time limit)"
    st.markdown(f"**Verdict:** {live['verdict']}")
    ran = live["settings"]
    st.caption(f"{done} / {live['steps']} steps in {live['elapsed_s']:.1f} s "
               f"({live['steps_per_s']:.1f} steps/s){stopped}. Settings: centring "
               f"{'on' if ran['centering'] else 'off'}, "
               f"sharpening {'on' if ran['sharpening'] else 'off'}, teacher temperature "
               f"{ran['teacher_temp']:g}, student {ran['student_temp']:g}, centre momentum "
               f"{ran['center_momentum']:g}, EMA {ran['momentum_base']:g}.")
    draw_panels({"live": ("this run", live["rows"])}, key="dino_fig_live", highlight=None)
    figures.show(profile_figure(live["histogram"], live["row_profile"],
                                title=f"Teacher output at step {done}"),
                 key="dino_fig_live_profile", filename="dino_live_teacher_output",
                 caption="Bars: the teacher's probability per output dimension, averaged over "
                         "256 test images, most used first. Line: one image's own distribution, "
                         "sorted (mean over images). Dashed: 1/K.")
    figures.csv_button("Live run (CSV)", records_to_csv(curve_records(live["rows"])),
                       key="dino_csv_live", filename="dino_live_run.csv")
else:
    st.caption("Press Run to train: the charts update every few steps.")

# --- the measured runs ----------------------------------------------------------------------------
st.subheader("Measured: the four variants, same recipe and seed")
show_measured_runs(figure_slot)

# --- why ------------------------------------------------------------------------------------------
st.subheader("Why two operations, pulling opposite ways")
st.markdown(
    "- **Without centring**, sharpening alone rewards the teacher for piling its mass on whichever "
    "dimension is slightly ahead for every image: the student copies it, the EMA teacher follows "
    "the student, and one dimension takes everything (*collapse to one dimension*; the dominant "
    "share climbs to 1 and the entropy falls to 0). Centring subtracts each dimension's running "
    "mean, so a dimension used by every image is pushed back down.\n"
    "- **Without sharpening**, centring alone flattens: after subtracting the mean, the logits "
    "differ little between dimensions, and a temperature as warm as the student's turns them "
    "into a near-uniform target. Matching a uniform target is easiest with an output that "
    "ignores the input (*collapse to uniform*: entropy at log K, output std near 0). A low "
    "teacher temperature stretches the small differences into a confident target.\n"
    "- **Together** they balance: centring stops any one dimension from winning, sharpening stops "
    "the teacher from giving up on all of them, and the KL between teacher and student stays "
    "above 0 — the student keeps having something to learn. In both collapses the KL goes to 0.\n"
    "- **Neither**: without either force the output also stops depending on the input (the "
    "output std and the KL fall towards 0), even though the teacher ends neither one-hot nor "
    "uniform: a third kind of collapse, to a constant output."
)
glossary("dino_collapse")
share(PARAMS)
