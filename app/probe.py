"""The linear-probe page's measured tables, each with the verdict computed from its numbers:
the probe table (frozen encoders vs raw pixels and random init), fine-tuning vs linear probe
(``outputs/probe-full``), the hard exercise (predict first, then the table), and the skill file
that says how to run a probe yourself.
"""

from __future__ import annotations

import streamlit as st

from app.measured import measured, verdict
from app.predict import exercise
from app.text import public
from lesson.experiments.hard_exercise import HardExerciseResult
from lesson.experiments.probe_table import ProbeTableResult
from lesson.figures.probe import full_protocol_rows, hard_caption, hard_rows
from lesson.probe_report import FULL_PROBE_COMMAND, ProbeReport, load_all
from lesson.verdicts import (
    finetune_verdict,
    full_protocol_verdict,
    hard_exercise_verdict,
    probe_columns,
    probe_table_verdict,
)
from ssl_core import paths

__all__ = ["show_full_protocol", "show_hard_exercise", "show_probe_table", "show_skill"]

SKILL = ("outputs", "skill-linear-probe-runner.md")


def show_probe_table() -> None:
    """The ``probe_table`` result: every bundled encoder frozen, beside raw pixels and random
    init, with the verdict (including where raw pixels win)."""
    st.subheader("Frozen encoders against raw pixels and random init (measured)")
    result = measured(ProbeTableResult, missing="The probe table is not here yet: {error}",
                      unreadable="The probe table is not here yet: {error}",
                      problems_as_info=True)
    if result is None:
        return
    columns = probe_columns(result)
    rows = [{"encoder": row.label, "kind": row.kind}
            | {heading: (f"{row.column(key):.1%}" if row.column(key) is not None else "")
               for key, heading in columns.items()} for row in result.rows]
    st.dataframe(rows, hide_index=True, key="lp_probe_table")
    st.caption(f"{result.protocol.get('summary', '')}. Made by `python3 -m "
               "lesson.experiments.probe_table`.")
    verdict(lambda: probe_table_verdict(result))


def show_full_protocol() -> None:
    """The full-protocol reports (``outputs/probe-full``, read once): every bundled encoder on
    60,000 labelled train images and 10,000 test images with the verdict against raw pixels,
    then the bundled SimCLR's fine-tuning against its linear probe."""
    st.subheader("The full Fashion-MNIST protocol (measured)")
    reports, problems = load_all()
    for problem in problems:
        st.info(f"A full-protocol report could not be read: {public(problem)}",
                icon=":material/info:")
    if not reports:
        if not problems:
            st.info(f"Not measured yet: the reports are written by `{FULL_PROBE_COMMAND}`.",
                    icon=":material/info:")
        return
    st.dataframe(full_protocol_rows(reports), hide_index=True, key="lp_full_protocol")
    data = reports[0].evaluation.get("data", "")
    st.caption(f"{data}. kNN and linear probes on frozen features; the end-to-end column is the "
               "encoder fine-tuned on the labels (its random-init row: the same recipe from "
               f"scratch). Made by `{FULL_PROBE_COMMAND}` (outputs/probe-full/); the table "
               "above this one uses the app's 20,000-image subset.")
    verdict(lambda: full_protocol_verdict(reports))
    simclr = next((r for r in reports if r.name == "simclr"), None)
    if simclr is not None:
        _show_finetune(simclr)


def _show_finetune(report: ProbeReport) -> None:
    """Fine-tuning on 1,000 labels vs from scratch vs the frozen probe, from one report."""
    st.subheader("Fine-tuning against a linear probe (measured, full Fashion-MNIST)")
    ft = report.finetune
    rows = []
    for row in report.rows:
        few = next((c for k, c in row.results.items()
                    if k.startswith("linear_") and k != "linear_all"), None)
        if few is not None:
            rows.append({"encoder": row.encoder, "how": "linear probe on frozen features",
                         "test accuracy": f"{few.value:.1%}"})
    if ft is not None:
        rows += [{"encoder": f"{report.backbone}, pretrained ({report.method})",
                  "how": "fine-tuned end to end", "test accuracy":
                  f"{ft.fine_tuned.accuracy:.1%}"},
                 {"encoder": f"{report.backbone}, random init", "how": "trained from scratch",
                  "test accuracy": f"{ft.scratch.accuracy:.1%}"}]
    st.dataframe(rows, hide_index=True, key="lp_finetune")
    labels = f"{ft.n_labels:,} labels" if ft is not None else "the same labels"
    st.caption(f"Every row uses {labels}; {report.evaluation.get('data', '')}. Made by "
               f"`{FULL_PROBE_COMMAND}` (outputs/probe-full/).")
    verdict(lambda: finetune_verdict(report))


def show_hard_exercise() -> None:
    """The hard exercise: predict first, then (once revealed) the measured table and its
    verdict."""
    st.subheader("Hard exercise: MAE pretraining against supervised training (measured)")
    hard = measured(HardExerciseResult,
                    missing="The hard exercise's table is not here yet: {error}",
                    unreadable="The hard exercise's table is not here yet: {error}",
                    problems_as_info=True)
    if hard is None:
        return
    if not exercise("hard", key="lp_predict", result=hard):
        st.caption("The measured table appears once you reveal the answer.")
        return
    st.dataframe(hard_rows(hard), hide_index=True, key="lp_hard")
    st.caption(hard_caption(hard))
    verdict(lambda: hard_exercise_verdict(hard))


def show_skill() -> None:
    """outputs/skill-linear-probe-runner.md: how to run a linear probe on your own encoder."""
    root = paths.checkout_root()
    path = root.joinpath(*SKILL) if root else None
    with st.expander("Run a linear probe on your own encoder: " + "/".join(SKILL),
                     icon=":material/terminal:"):
        try:
            text = path.read_text(encoding="utf-8") if path else None
        except (OSError, UnicodeDecodeError):
            text = None
        if text is None:
            st.info("The skill file is not in this installation; it ships with the project's "
                    "repository as " + "/".join(SKILL) + ".", icon=":material/info:")
            return
        st.download_button("Download the skill (Markdown)", text, file_name=SKILL[-1],
                           mime="text/markdown", key="lp_skill", on_click="ignore",
                           icon=":material/download:")
        st.markdown(text.split("---", 2)[-1] if text.startswith("---") else text)
