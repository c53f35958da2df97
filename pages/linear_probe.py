"""Linear probe: how much a frozen encoder's features are worth with few labels.

Inputs: an encoder (``app.encoders``; the transformers models are left out: 22,000 images at
224 px take many minutes on a CPU) and the labels per class (1 ... all 2,000 of the bundled
Fashion-MNIST training subset). ``ssl_core.eval.budget_probe`` trains the frozen probe
(``ssl_core.eval.linear_probe``) on the drawn labels, three draws averaged, and scores it on
2,000 test items; features are computed only for the drawn images, in chunks. The fit runs as a
background job (``app.shell.BackgroundJobs``, shared by sessions asking for the same probe) whose
progress a ``run_every`` fragment shows, so the page answers at once. Beside it: the measured
label-efficiency curves of every bundled encoder (``LabelEfficiencyResult``), the measured
tables with their verdicts (probe table, fine-tuning, the hard exercise after a prediction:
``app.probe``) and the published ImageNet figures the lesson quotes (``lesson.figures.probe``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from app import encoders, figures, presenter, probe
from app.glossary import glossary
from app.measured import measured
from app.resources import fashion_mnist
from app.shell import BackgroundJobs, Job
from app.state import Param, restore, share
from app.text import public
from lesson.experiments.label_efficiency import LabelEfficiencyResult
from lesson.figures.probe import IMAGENET_LINEAR_PROBE, labels_per_class, live_records
from lesson.figures.tables import records_to_csv
from ssl_core.checkpoints import CheckpointError
from ssl_core.data import DataError
from ssl_core.eval import budget_probe

LABEL_CHOICES = ("1", "2", "5", "10", "20", "50", "100", "200", "500", "1000", "all")
TEST_ITEMS = 2000  # test items the live probe is scored on (drawn with seed 0)
SEEDS = (0, 1, 2)
CHUNK = 2000  # images per feature-extraction step (one progress-bar step each)
ERRORS = (CheckpointError, DataError, ValueError)

OPTIONS = [o for o in encoders.encoder_options() if o.kind != "foundation"]
PARAMS = (
    encoders.encoder_param("lp_enc", OPTIONS, ("ckpt:simclr", "ckpt:dino", "raw")),
    Param("lp_labels", "10", options=LABEL_CHOICES),
)


@st.cache_resource(show_spinner=False)
def _probe_jobs() -> BackgroundJobs:
    """Probe fits of this process, keyed by (encoder, weights, labels, test items): run off the
    script thread, shared by every session asking for the same one (30 students on this page
    with 11 label choices ask for the same probes again and again)."""
    return BackgroundJobs(workers=2, max_entries=256)


@st.fragment(run_every=0.5)
def show_progress(job: Job) -> None:
    """The running probe's progress, polled; the whole page reruns when it is done."""
    if job.done:
        st.rerun()
    st.progress(job.fraction, text=job.text)
    st.caption("The page stays usable while the probe runs: change a setting at any time.")


def _fit_probe(option: encoders.EncoderOption, labels: str,
               progress: Callable[[float, str], None]) -> dict:
    test_spec = encoders.DatasetSpec("fashion", TEST_ITEMS)
    test_points = encoders.points(test_spec)
    progress(0.0, "Features of the test images…")
    test_feats = encoders.features(option, test_spec)
    train = fashion_mnist()
    n_seeds = 1 if labels == "all" else len(SEEDS)
    state = {"seed": 0}

    def features_of(idx: np.ndarray) -> np.ndarray:
        chunks = []
        for start in range(0, len(idx), CHUNK):
            done = (state["seed"] + start / len(idx)) / n_seeds
            progress(done, f"Draw {state['seed'] + 1} of {n_seeds}: features of "
                           f"{start:,} / {len(idx):,} labelled images…")
            chunks.append(encoders.embed(option, test_points,
                                         np.array(train.images[idx[start : start + CHUNK]])))
        progress((state["seed"] + 0.9) / n_seeds,
                 f"Draw {state['seed'] + 1} of {n_seeds}: fitting the probe…")
        return np.concatenate(chunks)

    def on_seed(done: int, total: int) -> None:
        state["seed"] = done

    row = budget_probe(features_of, train.labels, test_feats, test_points.labels,
                       n_per_class=labels if labels == "all" else int(labels), seeds=SEEDS,
                       progress=on_seed)
    return row


def probe_row(option: encoders.EncoderOption, labels: str) -> dict | None:
    """The probe's row once its job is done (its progress until then, or the error)."""
    try:
        encoders.load_encoder(option)  # a missing or damaged model says so at once, not in a job
    except ERRORS as error:
        st.error(f"{option.label}: {public(error)}", icon=":material/error:")
        return None
    job = _probe_jobs().submit((option.key, option.stamp, labels, TEST_ITEMS),
                               lambda report: _fit_probe(option, labels, report))
    if not job.done:
        show_progress(job)
        return None
    if isinstance(job.error, ERRORS):
        st.error(f"{option.label}: {job.error}", icon=":material/error:")
        return None
    if job.error is not None:
        raise job.error
    return job.result


restore(PARAMS)
st.title("Linear probe")
figure_slot = presenter.main_figure()  # the label-efficiency curves
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "The standard test of a pretrained encoder: **freeze it**, and train only a linear "
    "classifier on its features with a few labels. The fewer labels it needs, the more the "
    "pretraining did. Here: Fashion-MNIST, 10 classes, 1 to 2,000 labels per class."
)

# --- the live probe ----------------------------------------------------------------------------
input_col, result_col = presenter.controls().columns([1, 1], gap="large")
with input_col:
    option = encoders.encoder_picker(key="lp_enc", options=OPTIONS)
    labels = st.select_slider("Labels per class", LABEL_CHOICES, key="lp_labels")
    st.caption("DINOv2 / ViT-MAE are not offered here: 22,000 images at 224 px take many minutes "
               "on a CPU. `python3 -m ssl_core.probe` measures them offline.")
with result_col:
    row = probe_row(option, labels)
    if row is not None:
        spread = f"{row['std_accuracy']:.1%}" if len(row["accuracies"]) > 1 else ""
        st.metric(f"Test accuracy, {labels} label(s) per class", f"{row['mean_accuracy']:.1%}",
                  help="Fraction of the test items the probe classifies correctly.")
        st.caption(
            f"{option.label}: multinomial logistic regression (scikit-learn, C = 1, standardised "
            f"features) on {row['n_train']:,} labelled training images"
            + (f", mean over {len(row['seeds'])} random draws (std {spread})"
               if spread else "") + f"; scored on {TEST_ITEMS:,} Fashion-MNIST test images. "
            "Chance is 10 %."
        )

# --- measured curves ---------------------------------------------------------------------------
curve_box = figure_slot.container()
curve_box.subheader("Label efficiency of every encoder (measured)")
traces = []
efficiency = measured(LabelEfficiencyResult, missing="The measured curves are not here yet: "
                      "{error}", unreadable="The measured curves are not here yet: {error}",
                      problems_as_info=True)
if efficiency is not None:
    x = [int(v) for v in efficiency.labels_per_class]
    for i, curve in enumerate(efficiency.curves):
        traces.append(go.Scatter(
            x=x, y=curve.accuracy, name=curve.label or curve.name,
            mode="lines+markers", error_y=dict(array=curve.std, thickness=1),
            line=dict(color=qualitative.Plotly[i % len(qualitative.Plotly)])))
    caption = ("Lines: `python3 -m lesson.experiments.label_efficiency` (provenance in "
               "assets/results/label_efficiency.json; its test set may differ from the live "
               "probe's 2,000 items).")
else:
    caption = "Only your live measurement is shown until the curves are measured."
if row is not None:
    traces.append(go.Scatter(
        x=[labels_per_class(labels)], y=[row["mean_accuracy"]], name=f"live: {option.label}",
        mode="markers", marker=dict(symbol="star", size=16, color="black"),
        error_y=dict(array=[row["std_accuracy"]], thickness=1)))
curve_fig = figures.figure(
    traces, height=400, xaxis=dict(title="labels per class", type="log"),
    yaxis=dict(title="test accuracy", tickformat=".0%", rangemode="tozero"),
)
with curve_box:
    figures.show(curve_fig, key="lp_fig_curves", filename="label_efficiency",
                 caption=caption + " The black star is the probe you just ran.")
if row is not None:
    figures.csv_button(
        "Live probe (CSV)",
        records_to_csv(live_records(option.key, labels, row)),
        key="lp_csv", filename=f"linear_probe_{option.key.replace(':', '_')}_{labels}.csv",
    )

# --- measured tables, each with its verdict; the hard exercise asks for a prediction first ------
probe.show_probe_table()
probe.show_full_protocol()  # every encoder, then SimCLR's fine-tuning
probe.show_hard_exercise()

# --- published reference -----------------------------------------------------------------------
st.subheader("For scale: published ImageNet figures (not ours)")
st.dataframe(IMAGENET_LINEAR_PROBE, hide_index=True, key="lp_imagenet")
st.caption("Linear-probe top-1 accuracy on ImageNet-1k (1.28 M images, 1,000 classes) as "
           "reported in each paper, rounded. They are quoted, not measured by this app, and are "
           "not comparable with the Fashion-MNIST numbers above.")
probe.show_skill()
glossary("linear_probe")

share(PARAMS)
