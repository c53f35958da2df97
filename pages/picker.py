"""Method picker: which self-supervised method to use for a project, ranked, with reasons.

Inputs: image counts (unlabelled, labelled), compute and hours, downstream task, backbone
preference, whether a public pretrained checkpoint may be used, and the image domain. One call,
``lesson.picker.recommend``, ranks the options; the page shows each with its reasons, caveats
and the ssl_core command that runs it, the scores as a chart, the rule book, and the prompt
deliverable that gives the same answer in a chat with an LLM.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from app import figures, presenter
from app.glossary import glossary
from app.state import Param, restore, share, stop_page
from app.text import public
from app.widgets import preset_buttons
from lesson.figures.tables import records_to_csv
from lesson.picker import (
    BACKBONES,
    COMPUTES,
    DOMAINS,
    GPUS_FOR_MANY,
    TASKS,
    PickerInputs,
    exclusions,
    recommend,
    rules_markdown,
)
from ssl_core.paths import checkout_root

PROMPT = "outputs/prompt-ssl-pretraining-picker.md"
MAX_IMAGES = 10_000_000_000
COMPUTE_LABELS = {"cpu": "CPU only", "one_gpu": "One GPU",
                  "many_gpus": f"Many GPUs (a node of {GPUS_FOR_MANY})"}
TASK_LABELS = {"classification": "Classification", "retrieval": "Retrieval",
               "dense": "Detection / segmentation", "correspondence": "Dense correspondence"}
BACKBONE_LABELS = {"vit": "ViT", "cnn": "CNN (ResNet)", "any": "No preference"}
DOMAIN_LABELS = {"natural": "Natural photos",
                 "other": "Other (medical, satellite, microscopy, documents…)"}

PARAMS = (
    Param("pick_unlabelled", 100_000, lo=0, hi=MAX_IMAGES),
    Param("pick_labelled", 1_000, lo=0, hi=MAX_IMAGES),
    Param("pick_compute", "one_gpu", options=COMPUTES),
    Param("pick_hours", 24.0, lo=0.1, hi=10_000.0),
    Param("pick_task", "classification", options=TASKS),
    Param("pick_backbone", "any", options=BACKBONES),
    Param("pick_pretrained", True),
    Param("pick_domain", "natural", options=DOMAINS),
)


def _preset(unlabelled: int, labelled: int, compute: str, hours: float, task: str,
            backbone: str, pretrained: bool, domain: str) -> dict[str, object]:
    return {"pick_unlabelled": unlabelled, "pick_labelled": labelled, "pick_compute": compute,
            "pick_hours": float(hours), "pick_task": task, "pick_backbone": backbone,
            "pick_pretrained": pretrained, "pick_domain": domain}


# The worked examples of the prompt deliverable, in its order (a test keeps them equal).
PRESETS = {
    "Photos, 1 GPU": _preset(1_000_000, 10_000, "one_gpu", 24, "classification", "any", True,
                             "natural"),
    "Retrieval on a laptop": _preset(50_000, 0, "cpu", 2, "retrieval", "any", True, "natural"),
    "Small CNN on CPU": _preset(5_000, 500, "cpu", 8, "classification", "cnn", False,
                                "natural"),
    "CPU ViT, other domain": _preset(20_000, 2_000, "cpu", 4, "classification", "vit", False,
                                     "other"),
    "ImageNet scale": _preset(1_200_000, 13_000, "many_gpus", 72, "classification", "vit",
                              False, "natural"),
    "ImageNet scale, dense": _preset(1_200_000, 13_000, "many_gpus", 72, "dense", "vit", False,
                                     "natural"),
    "1 GPU, CNN": _preset(200_000, 2_000, "one_gpu", 24, "classification", "cnn", False,
                          "natural"),
    "Medical, checkpoint OK": _preset(300_000, 1_000, "one_gpu", 48, "classification", "any",
                                      True, "other"),
    "Satellite, millions": _preset(2_000_000, 20_000, "many_gpus", 200, "dense", "vit", True,
                                   "other"),
    "All labelled": _preset(0, 100_000, "one_gpu", 24, "classification", "cnn", False,
                            "natural"),
    "Correspondence": _preset(1_000, 0, "cpu", 1, "correspondence", "any", True, "natural"),
}


def score_chart(recs: list) -> go.Figure:
    labels = [f"{r.rank}. {r.label}" for r in recs][::-1]
    scores = [r.score for r in recs][::-1]
    return figures.figure(
        [go.Bar(x=scores, y=labels, orientation="h",
                marker_color=[figures.POSITIVE if s > 0 else figures.MUTED for s in scores],
                text=[f"{s:+g}" for s in scores], textposition="auto",
                hovertemplate="%{y}: %{x:+g} points<extra></extra>")],
        height=60 + 42 * len(recs),
        xaxis=dict(title="score (sum of the rules' points)", zeroline=True),
        yaxis=dict(automargin=True),
    )


restore(PARAMS)
st.title("Which self-supervised method?")
figure_slot = presenter.main_figure()  # the first choice and the scores
presenter.folded().markdown(  # the intro: folded away in presenter mode
    "Describe the project; a transparent rule book (`lesson.picker`) ranks six options: "
    "DINOv2 off the shelf, supervised fine-tuning, MAE, DINO, SimCLR and MoCo. Every point of a "
    "score comes from a rule that cites a published number (the papers' ImageNet results, not "
    "ours), and each option comes with the command that runs it with ssl_core."
)

settings = presenter.controls("Your project")
with settings:
    preset_buttons(PRESETS, key="pick_preset", label="Worked examples (from the prompt)")
data_col, compute_col, goal_col = settings.columns(3, gap="large")
with data_col:
    n_unlabelled = st.number_input("Unlabelled images", min_value=0, max_value=MAX_IMAGES,
                                   step=1_000, key="pick_unlabelled")
    n_labelled = st.number_input("Labelled images", min_value=0, max_value=MAX_IMAGES,
                                 step=100, key="pick_labelled",
                                 help="They can be used for pretraining too (labels ignored).")
    domain = st.radio("Images", DOMAINS, key="pick_domain", format_func=DOMAIN_LABELS.get)
with compute_col:
    compute = st.radio("Compute", COMPUTES, key="pick_compute", format_func=COMPUTE_LABELS.get)
    hours = st.number_input("Hours of it", min_value=0.1, max_value=10_000.0, step=1.0,
                            format="%.1f", key="pick_hours")
with goal_col:
    task = st.selectbox("Downstream task", TASKS, key="pick_task", format_func=TASK_LABELS.get)
    backbone = st.radio("Backbone", BACKBONES, key="pick_backbone", horizontal=True,
                        format_func=BACKBONE_LABELS.get)
    pretrained = st.toggle("A public pretrained checkpoint (DINOv2) may be used",
                           key="pick_pretrained")

try:
    inputs = PickerInputs(
        n_unlabelled=int(n_unlabelled), n_labelled=int(n_labelled), compute=compute,
        hours=float(hours), task=task, backbone=backbone, pretrained_allowed=bool(pretrained),
        image_domain=domain,
    )
    recs = recommend(inputs)
except ValueError as error:
    stop_page(PARAMS, f"These inputs cannot be scored: {public(error)}.")

# --- the answer ----------------------------------------------------------------------------------
best = recs[0]
answer_box = figure_slot.container()
answer_box.subheader(f"First choice: {best.label} ({best.score:+g})")
chart_col, excluded_col = answer_box.columns([3, 2], gap="large")
with chart_col:
    figures.show(score_chart(recs), key="pick_fig_scores", filename="picker_scores",
                 caption="Each option's score: the sum of the points the rules below gave it. "
                         "Equal scores keep the fixed order DINOv2, fine-tuning, MAE, DINO, "
                         "SimCLR, MoCo.")
with excluded_col:
    excluded = exclusions(inputs)
    if excluded:
        st.markdown("**Not offered**")
        for method, why in excluded.items():
            st.markdown(f"- `{method}`: {why}")
    st.markdown(f"**Pretraining set**: {inputs.n_total:,} images "
                f"({100 * inputs.labelled_fraction:.1f} % labelled)")

for rec in recs:
    with st.expander(f"{rec.rank}. {rec.label}: {rec.score:+g}", expanded=rec.rank == 1):
        st.markdown("**Why**\n" + "\n".join(f"- {reason}" for reason in rec.reasons))
        if rec.caveats:
            st.markdown("**Watch out**\n" + "\n".join(f"- {c}" for c in rec.caveats))
        if rec.command is not None:
            st.code(rec.command, language="bash" if rec.command_kind == "pretrain" else "python",
                    wrap_lines=True)
        st.caption(rec.command_note)

figures.csv_button(
    "Scoring trail (CSV)",
    records_to_csv([{"rank": r.rank, "option": r.method, "rule": a.rule, "points": a.points,
                     "why": a.why} for r in recs for a in r.adjustments]),
    key="pick_csv", filename="picker_scores.csv",
)

with st.expander("The rule book"):
    st.markdown(rules_markdown())

st.subheader("The same answer in a chat")
prompt_path = (checkout_root() or Path.cwd()) / PROMPT
if prompt_path.is_file():
    text = prompt_path.read_text(encoding="utf-8")
    st.markdown(
        f"The prompt deliverable `{PROMPT}` holds this rule book, the published "
        "numbers and worked examples (the presets above): pasted into an LLM chat, it asks for "
        "these facts and gives this answer (a test keeps it equal to the library)."
    )
    st.download_button("Download the prompt (Markdown)", text, file_name=prompt_path.name,
                       mime="text/markdown", key="pick_prompt", on_click="ignore",
                       icon=":material/download:")
else:
    st.info(f"The prompt deliverable {PROMPT} is not in this copy of the project.",
            icon=":material/info:")
glossary("picker")
st.caption("The URL holds every input above: copy it to share this recommendation.")
share(PARAMS)
