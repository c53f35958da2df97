"""Watch it learn: press Run and a small SimCLR or MAE trains live on the bundled Fashion-MNIST.

SimCLR map: the 2-D map of 1,000 fixed test images moves as the encoder learns
(``lesson.live.simclr``: PCA, aligned between frames by Procrustes), with the kNN accuracy, the
map's silhouette and the loss; switches for the temperature and the batch size. MAE strip: fixed
masked test images and their reconstructions, with the masked-patch MSE against biharmonic
inpainting (``lesson.live.mae``). A run holds one of the server's training slots
(``app.training``) and stops when the page changes or Stop is pressed.
"""

from __future__ import annotations

import contextlib
from typing import Any

import streamlit as st

from app import presenter, training
from app.glossary import glossary
from app.live import map_figure, mse_figure, simclr_curves, strip_mosaic
from app.state import Param, restore, share
from app.text import public
from lesson.live import mae, simclr

MODES = ("SimCLR map", "MAE strip")
SIMCLR_EVERY, MAE_EVERY = 25, 20  # steps between frames
PARAMS = (
    Param("live_mode", MODES[0], options=MODES),
    Param("live_temperature", simclr.LiveSimCLRConfig.temperature, choices=simclr.TEMPERATURES),
    Param("live_batch", simclr.LiveSimCLRConfig.batch_size, choices=simclr.BATCH_SIZES),
    Param("live_steps", simclr.LIVE_STEPS, lo=10, hi=2000),
    Param("live_time_limit", 60, lo=10, hi=60),
)

restore(PARAMS)
st.title("Watch it learn")
# Presenter mode: Run / Stop, the status line and the two figures first, the settings folded.
figure_slot = presenter.main_figure()
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "Press **Run** and a small model trains here, for at most a minute, on the bundled "
    "Fashion-MNIST. **SimCLR map**: 1,000 test images it never trains on, placed by their "
    "features, and how often an image's nearest neighbours share its class. **MAE strip**: "
    "masked test images and what the model fills in, against a classical fill."
)
settings_box = presenter.controls()
mode = settings_box.radio("What to watch", MODES, key="live_mode", horizontal=True)
c1, c2, c3, c4 = settings_box.columns(4)
if mode == MODES[0]:
    c1.select_slider("Temperature τ", simclr.TEMPERATURES, key="live_temperature",
                     help="InfoNCE's temperature: low τ weighs the hardest negatives most.")
    c2.select_slider("Batch size", simclr.BATCH_SIZES, key="live_batch",
                     help="Each image's negatives are the other 2B − 2 views of the batch; a "
                          "larger batch costs more per step.")
c3.slider("Steps", 10, 2000, step=10, key="live_steps")
c4.slider("Time limit (s)", 10, 60, step=5, key="live_time_limit",
          help="The run stops here even if the steps are not done.")

settings: Any = None
try:
    switches = {"temperature": float(st.session_state["live_temperature"]),
                "batch_size": int(st.session_state["live_batch"])}
    settings = (simclr.LiveSimCLRConfig(**simclr.DEFAULT_RECIPE.to_dict() | switches)
                if mode == MODES[0] else mae.DEFAULT_RECIPE)
except (ValueError, TypeError) as error:
    settings_box.error(f"These settings cannot train: {public(error)}", icon=":material/error:")

with figure_slot:
    b1, b2, _ = st.columns([1, 1, 6])
    run_clicked = b1.button("Run", key="live_run", type="primary",
                            icon=":material/play_arrow:", disabled=settings is None)
    b2.button("Stop", key="live_stop", icon=":material/stop:",
              help="Ends the run (so does leaving the page); what it drew stays.")
    status, left, right = st.empty(), *st.columns(2)
    left_slot, right_slot = left.empty(), right.empty()
steps, limit = int(st.session_state["live_steps"]), float(st.session_state["live_time_limit"])
state_key = "live_simclr" if mode == MODES[0] else "live_mae"


def draw(run: dict[str, Any], *, key: str) -> None:
    """The run's last frame into the two slots and its counts into the status line."""
    frame, rows = run["frame"], run["rows"]
    done = rows[-1]["step"]
    note = "" if run["running"] or done >= run["steps"] else (
        " — stopped by the time limit" if run["finished"] else " — stopped")
    if mode == MODES[0]:
        status.markdown(
            f"**Step {done} / {run['steps']}**{note} · kNN accuracy {frame['knn']:.1%} (started "
            f"at {rows[0]['knn']:.1%}) · silhouette {frame['silhouette']:+.3f} (started at "
            f"{rows[0]['silhouette']:+.3f}) · {frame['elapsed_s']:.0f} s · τ = "
            f"{run['settings']['temperature']:g}, batch {run['settings']['batch_size']}")
        left_slot.plotly_chart(presenter.chart_layout(map_figure(
                                   frame["points"], frame["labels"],
                                   title=f"The map at step {done}")),
                               key=f"{key}_map", config={"displaylogo": False})
        right_slot.plotly_chart(presenter.chart_layout(simclr_curves(rows)),
                                key=f"{key}_curves",
                                config={"displaylogo": False})
    else:
        strip = run["strip"]
        better = "below" if frame["strip_mse"] < frame["baseline_strip_mse"] else "above"
        status.markdown(
            f"**Step {done} / {run['steps']}**{note} · masked-patch MSE {frame['strip_mse']:.4f} "
            f"(started at {rows[0]['strip_mse']:.4f}), {better} biharmonic inpainting's "
            f"{frame['baseline_strip_mse']:.4f} · {frame['elapsed_s']:.0f} s")
        with left_slot.container():
            st.image(strip_mosaic([strip["images"], strip["masked"], strip["baseline"],
                                   frame["reconstructions"]]), clamp=True)
            presenter.caption("Rows: the test image, what the model sees (75 % of patches "
                              "hidden), biharmonic inpainting, the MAE's fill (visible patches "
                              "pasted back).")
        right_slot.plotly_chart(presenter.chart_layout(mse_figure(rows,
                                                                  frame["baseline_strip_mse"])),
                                key=f"{key}_mse", config={"displaylogo": False})


if run_clicked and settings is not None:
    trainer = simclr.live_run if mode == MODES[0] else mae.live_run
    every = SIMCLR_EVERY if mode == MODES[0] else MAE_EVERY
    status.info("Building the model and measuring the start…", icon=":material/hourglass_top:")
    run: dict[str, Any] = {"rows": [], "steps": steps, "settings": settings.to_dict(),
                           "running": True, "finished": False}
    try:
        # a child process at a low priority, one per session and a few per server, ended by a
        # rerun, Stop or a closed tab (app/training.py)
        frames = training.live_training(trainer, settings, seconds=limit, steps=steps,
                                        time_limit_s=limit, every=every)
        with contextlib.closing(frames) as stream:
            for count, frame in enumerate(stream):
                if run["rows"] and run["rows"][-1]["step"] == frame["step"]:
                    run["rows"].pop()  # the final frame may repeat the last one's step
                run["rows"].append({k: frame[k] for k in (
                    "step", "loss", "knn", "silhouette", "strip_mse") if k in frame})
                run["strip"] = frame.get("strip", run.get("strip"))
                run["frame"] = {k: v for k, v in frame.items() if k != "strip"}
                run["finished"] = frame["done"]
                st.session_state[state_key] = run  # kept if Stop or a rerun ends the loop
                draw(run, key=f"{state_key}_{count}")
        run["running"] = False
    except training.SlotsFull as error:
        status.warning(public(error), icon=":material/hourglass_top:")
    except (ValueError, RuntimeError) as error:  # the child's own error, or the child died
        status.error(f"The run stopped: {public(error)}", icon=":material/error:")
    else:
        if run["rows"]:
            draw(run, key=f"{state_key}_final")
elif st.session_state.get(state_key):
    stored = st.session_state[state_key]
    stored["running"] = False
    draw(stored, key=f"{state_key}_stored")
else:
    status.caption("Press Run to train: the figures update every few steps.")

reading = presenter.folded("Read it")
if mode == MODES[0]:
    reading.markdown(
        "**Read it.** The kNN accuracy asks each map image's 20 nearest neighbours in a labelled "
        "bank of 1,000 *training* images (100 per class) for its class; the encoder never sees "
        "a label. The map is PCA of the features to 2-D, turned each frame to match the last "
        "(Procrustes), so points move rather than jump. The silhouette measures how apart the "
        "classes sit on that map (−1 to 1; near 0: overlapping). Try τ = 0.05 against 1.0, and "
        "batch 16 against 256: a larger batch gives each image more negatives but fewer steps "
        "a minute. Within one minute they differ by a few points; runs of hours differ more "
        "(the *InfoNCE and temperature* page has the measured batch 32 vs 512)."
    )
else:
    reading.markdown(
        "**Read it.** The error counts the hidden patches only. Biharmonic inpainting continues "
        "the visible pixels smoothly into each hole; it knows nothing about clothes. The MAE "
        "starts far worse (a random decoder) and has to learn what garments look like to pass "
        "it: on a quiet core it gets there within the minute, on a busy server perhaps not. "
        "The bundled MAE, trained for longer, is on the *Masked autoencoder* page."
    )
glossary("live_learning")
share(PARAMS)
